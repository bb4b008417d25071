"""Path lengths and effective paths of [Veit16] Sec. 5 (Fig. 6).

A network of ``n`` residual blocks is a collection of ``2^n`` paths; a path of length ``k`` goes through ``k``
residual branches and ``n - k`` shortcuts, so path lengths follow Binomial(n, 1/2). The gradient that reaches the
input along paths of length ``k`` is measured as Veit et al. do: a full forward pass, then a backward pass that goes
through the residual branch of ``k`` randomly chosen blocks and through the shortcut of all others.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.analysis.lesion import labelled_arrays
from keras_resnet.analysis.segments import Network


def path_length_counts(n):
    """Number of paths of each length ``0..n`` through ``n`` blocks, counted block by block: ``(1 + z)^n``."""
    counts = [1]
    for _ in range(n):  # each block adds one more choice: its shortcut (length +0) or its branch (+1)
        counts = [a + b for a, b in zip(counts + [0], [0] + counts)]
    return counts


def residual_blocks(model):
    network = Network(model)
    if not network.residual:
        raise ValueError(f"'{model.name}' is a plain network: it has one path, no path-length distribution.")
    return network


def path_length_distribution(model):
    """``{"n", "counts", "binomial"}`` for the residual blocks of ``model``; ``binomial`` = C(n, k) / 2^n."""
    n = len(residual_blocks(model).segments)
    counts = path_length_counts(n)
    return {"n": n, "counts": counts, "binomial": [math.comb(n, k) / 2 ** n for k in range(n + 1)]}


def _gradient_norm(network, images, labels, through_branch):
    """Mean per-image L2 norm of d loss / d (first block's input), backward through the chosen branches only."""
    x0 = network.stem(images, training=False)
    with tf.GradientTape() as tape:
        tape.watch(x0)
        x = x0
        for segment, branch in zip(network.segments, through_branch):
            shortcut = x if segment.shortcut is None else segment.shortcut(x, training=False)
            residual = segment.residual(x, training=False)
            x = (tf.stop_gradient(shortcut) + residual) if branch else (shortcut + tf.stop_gradient(residual))
            if segment.post_activation:
                x = tf.nn.relu(x)
        scores = network.head(x, training=False)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, scores))
    gradient = tape.gradient(loss, x0)
    return float(tf.reduce_mean(tf.norm(tf.reshape(gradient, (tf.shape(gradient)[0], -1)), axis=-1)))


def gradient_by_path_length(model, data, lengths=None, samples=3, images=32, seed=0):
    """Gradient magnitude at the input per path length, and the total gradient per length ([Veit16] Fig. 6).

    Args:
        model: a trained residual keras_resnet network.
        data: ``(images, labels)`` or a tf.data.Dataset of such batches; the first ``images`` are used.
        lengths: path lengths to sample (default: every length ``1..n``).
        samples: random paths per length (magnitudes are averaged).

    Returns:
        dict: ``n``, ``lengths``, ``magnitude`` (one finite number per sampled length), ``counts``, ``total``
        (``magnitude x number of paths`` of each sampled length) and ``effective_range``: the shortest range of
        lengths that carries 90 % of the total gradient.
    """
    network = residual_blocks(model)
    n = len(network.segments)
    lengths = list(range(1, n + 1)) if lengths is None else [int(k) for k in lengths]
    if any(k < 0 or k > n for k in lengths):
        raise ValueError(f"Path lengths must be between 0 and the {n} residual blocks of '{model.name}', "
                         f"got {lengths}.")
    x, y = labelled_arrays(data, limit=images)
    rng = np.random.default_rng(seed)
    magnitude = []
    for k in lengths:
        norms = []
        for _ in range(samples):
            chosen = np.zeros(n, bool)
            chosen[rng.choice(n, k, replace=False)] = True
            norms.append(_gradient_norm(network, x, y, chosen))
        magnitude.append(float(np.mean(norms)))
    counts = path_length_counts(n)
    total = [magnitude[i] * counts[k] for i, k in enumerate(lengths)]
    return {"n": n, "lengths": lengths, "magnitude": magnitude, "counts": counts, "total": total,
            "effective_range": effective_range(lengths, total)}


def effective_range(lengths, total, share=0.9):
    """The shortest ``[first, last]`` range of sampled lengths whose total gradient is ``share`` of the whole."""
    order = np.argsort(lengths)
    lengths, total = np.asarray(lengths)[order], np.asarray(total, "float64")[order]
    whole, best = total.sum(), (int(lengths[0]), int(lengths[-1]))
    for start in range(len(lengths)):
        for stop in range(start, len(lengths)):
            if total[start:stop + 1].sum() >= share * whole:
                if lengths[stop] - lengths[start] < best[1] - best[0]:
                    best = (int(lengths[start]), int(lengths[stop]))
                break
    return list(best)
