"""The lesion study of [Veit16] Sec. 4 (Fig. 3-5) on any keras_resnet network.

Delete each residual block in turn at test time (its residual branch goes, its shortcut stays: the identity, or the
projection / option-A shortcut of a downsampling block), or each layer of a plain net; then delete ``k`` random
blocks, and reorder the network by swapping ``k`` pairs of blocks of the same shape.
"""

import numpy as np
import tensorflow as tf

from keras_resnet.analysis.segments import Network


def labelled_arrays(data, limit=None):
    """``(images, labels)`` arrays from a tuple of arrays or a tf.data.Dataset of ``(images, labels)`` batches."""
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            raise ValueError("The lesion study and the gradient measurement need labels: pass a dataset of "
                             f"(images, labels) batches, got elements {spec}.")
        images, labels = [], []
        for batch in data:
            images.append(np.asarray(batch[0]))
            labels.append(np.asarray(batch[1]))
            if limit and sum(map(len, images)) >= limit:
                break
        data = (np.concatenate(images), np.concatenate(labels))
    if not isinstance(data, (tuple, list)) or len(data) != 2 or data[1] is None:
        raise ValueError("The lesion study and the gradient measurement need labels: pass (images, labels).")
    images, labels = np.asarray(data[0], "float32"), np.asarray(data[1])
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def error_rate(model, images, labels, batch_size=256):
    """Top-1 error of ``model`` on ``images`` (inference mode)."""
    wrong = 0
    for start in range(0, len(images), batch_size):
        scores = model(images[start:start + batch_size], training=False)
        wrong += int(np.sum(np.argmax(np.asarray(scores), -1) != labels[start:start + batch_size]))
    return wrong / len(images)


def _swappable_pairs(network, candidates):
    shapes = {i: (tuple(network.segments[i].body.input.shape), tuple(network.segments[i].body.output.shape))
              for i in candidates}
    return [(a, b) for a in candidates for b in candidates if a < b and shapes[a] == shapes[b]]


def lesion_study(model, data, max_k=None, draws=5, seed=0):
    """Errors of ``model`` with blocks (or plain layers) deleted or reordered.

    Args:
        model: a keras_resnet network (residual or plain), e.g. a trained ``model.keras``.
        data: ``(images, labels)`` or a tf.data.Dataset of such batches.
        max_k: largest number of deleted blocks / swapped pairs (default: up to 10, at most the number of
            non-downsampling blocks).
        draws: random draws per ``k``.
        seed: seed of the draws.

    Returns:
        dict: ``base_error``; ``single`` (per block: name, index, downsampling, error); ``deleted`` and ``swapped``
        (per ``k``: mean and std of the error over the draws); ``residual`` (residual net or plain net).
    """
    network = Network(model)
    images, labels = labelled_arrays(data)
    candidates = network.deletable
    if not candidates:
        raise ValueError(f"'{model.name}' has no block that can be deleted without changing a shape.")
    max_k = min(len(candidates), 10) if max_k is None else max_k
    if not isinstance(max_k, int) or max_k < 1 or max_k > len(candidates):
        raise ValueError(f"k must be between 1 and the {len(candidates)} deletable (non-downsampling) "
                         f"{'blocks' if network.residual else 'layers'} of '{model.name}', got {max_k}.")
    rng = np.random.default_rng(seed)
    results = {"model": model.name, "residual": network.residual, "images": len(images),
               "base_error": error_rate(model, images, labels), "single": [], "deleted": [], "swapped": []}
    for index, segment in enumerate(network.segments):
        if segment.deletable:
            results["single"].append({"index": index, "name": segment.name, "downsampling": segment.downsampling,
                                      "error": error_rate(network.compose({index}), images, labels)})
    pairs = _swappable_pairs(network, candidates)
    for k in range(1, max_k + 1):
        errors = [error_rate(network.compose(set(rng.choice(candidates, k, replace=False).tolist())), images,
                             labels) for _ in range(draws)]
        results["deleted"].append({"k": k, "mean": float(np.mean(errors)), "std": float(np.std(errors))})
        if k <= len(pairs):  # k distinct pairs of blocks of the same shape
            errors = []
            for _ in range(draws):
                order = list(range(len(network.segments)))
                for pick in rng.choice(len(pairs), k, replace=False):
                    a, b = pairs[pick]
                    order[a], order[b] = order[b], order[a]
                errors.append(error_rate(network.compose(order=order), images, labels))
            results["swapped"].append({"k": k, "mean": float(np.mean(errors)), "std": float(np.std(errors))})
    return results
