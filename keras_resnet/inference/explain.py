"""Pictures of what a classifier looks at: Grad-CAM heat maps on the last stage, overlaid on the image.

Grad-CAM (Selvaraju et al., ICCV 2017): for class ``c`` with pre-softmax score ``y_c`` and the last stage's maps
``A_k`` (``backbone.stage_outputs``: C5 of an ImageNet net, after the final BN-ReLU of pre-activation nets), the
weights are ``alpha_k = mean_ij d y_c / d A_k(i, j)`` and the map is ``ReLU(sum_k alpha_k A_k)``. With the global
average pooling and linear classifier of [He16] this is exactly the class activation map of Zhou et al. (CVPR 2016),
``ReLU(sum_k W_kc A_k)`` up to scale; the tests check it against that closed form.

``explain_image`` sees the image as ``predict`` does, through the model's inference contract (its view and
normalisation), so it explains the classes that ``predict`` gives; the map is upsampled (bilinear) to the window of
the image the model saw (all of it for a ``resize`` view, the centre crop's window otherwise; zero outside) and
scaled to ``[0, 1]`` by its maximum (the usual Grad-CAM display; divide by its sum for a distribution over pixels).
``write_overlays`` writes one PNG per class, ``<image file name>.gradcam-<rank>-<class>.png``
(``photo.jpg.gradcam-1-tabby.png``: the extension stays, so ``photo.jpg`` and ``photo.png`` get different maps),
exactly the size of the input image: the image with the map in a matplotlib colour map over it. ``check_outputs``
refuses, before any work, two images with the same file name (from different folders: their maps would share names)
and an image whose maps exist unless ``overwrite``.

TensorFlow (``tf.GradientTape``) computes the gradients.
"""

import dataclasses
import os
import re

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.support import files
from keras_resnet.inference import predict as predict_lib
from keras_resnet.applications.backbone import stage_outputs
from keras_resnet.support.validation import check_positive_int

COLORMAP = "jet"
ALPHA = 0.45  # weight of the heat map over the image


@dataclasses.dataclass
class Explanation:
    """Grad-CAM of one image.

    Attributes:
        path: the image file.
        image: uint8 ``(H, W, 3)``, as decoded.
        top: ``[(class index, name, score)]`` of the classes explained, best first.
        heatmaps: float32 ``(len(top), H, W)`` in ``[0, 1]``, maximum 1 (all zeros where the class has no evidence).
    """

    path: str
    image: np.ndarray
    top: list
    heatmaps: np.ndarray


def _class_scores(model):
    """The tensor whose entries are the class scores before the softmax, and how to get them from it.

    ``(tensor, fn)``: ``fn(tensor)`` are the logits. A ``Dense`` classifier with a softmax gives its input and its
    affine map; a separate softmax ``Activation`` its input; any other output is taken as the scores.
    """
    head = model.layers[-1]
    activation = head.get_config().get("activation")
    if isinstance(head, keras.layers.Dense) and activation == "softmax":
        def logits(features):
            scores = keras.ops.matmul(features, head.kernel)
            return scores + head.bias if head.use_bias else scores
        return head.input, logits
    if isinstance(head, keras.layers.Activation) and activation == "softmax":
        return head.input, lambda scores: scores
    return model.output, lambda scores: scores


def _normalize(maps):
    """Each map divided by its maximum (maps without positive evidence stay 0)."""
    maps = np.asarray(maps, "float32")
    peak = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)


def grad_cam(model, images, classes):
    """Grad-CAM maps of ``classes`` for one preprocessed image, on the grid of the last stage.

    Args:
        model: a Keras classifier built by ``keras_resnet`` (any family, either data format).
        images: ``(1, H, W, 3)`` (or channels first) float input, preprocessed as the model expects.
        classes: class indices to explain.

    Returns:
        float32 ``(len(classes), h, w)`` in ``[0, 1]``, maximum 1 per map; ``h, w`` = the last stage's size
        (``H / 32`` for ImageNet nets, ``H / 4`` for CIFAR nets).
    """
    if not classes:
        raise ValueError("classes must name at least one class to explain")
    maps = stage_outputs(model)
    features = maps[list(maps)[-1]]
    scores_input, logits = _class_scores(model)
    probe = keras.Model(model.inputs, [features, scores_input])
    channels_first = predict_lib.channels_first(model)
    with tf.GradientTape(persistent=True) as tape:
        activations, before = probe(tf.convert_to_tensor(images), training=False)
        scores = logits(before)
        targets = [scores[0, index] for index in classes]
    spatial = (1, 2) if channels_first else (0, 1)
    equation = "khw,k->hw" if channels_first else "hwk,k->hw"
    cams = []
    for target in targets:
        weights = tf.reduce_mean(tape.gradient(target, activations)[0], axis=spatial)  # alpha_k
        cams.append(tf.nn.relu(tf.einsum(equation, activations[0], weights)).numpy())
    del tape
    return _normalize(np.stack(cams))


def upsample(maps, size):
    """``(n, h, w)`` maps -> ``(n, H, W)`` (bilinear), each scaled to a maximum of 1 again."""
    resized = tf.image.resize(maps[..., None], size, method="bilinear")[..., 0]
    return _normalize(np.clip(resized.numpy(), 0.0, None))


def explain_image(classifier, path, top_k=3):
    """Grad-CAM of the ``top_k`` classes of the image at ``path`` (see the module).

    Args:
        classifier: a ``predict.KerasClassifier`` (``predict.load_classifier`` of a ``.keras`` file or registry
            name; SavedModels hold no gradients).
        path: an image file (JPEG, PNG, BMP, GIF).
        top_k: classes to explain, best first.

    Returns:
        ``Explanation`` with ``heatmaps`` of shape ``(top_k, H, W)``, the image's size.
    """
    if not isinstance(classifier, predict_lib.KerasClassifier):
        raise ValueError("explain needs the Keras model (gradients): pass the .keras file or a registry name with "
                         "--weights, not a SavedModel.")
    check_positive_int(top_k, "top_k")
    try:
        image, _ = predict_lib.decode(path)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    batch = classifier.inputs([classifier.prepare(image)])
    top = predict_lib.top_k(np.asarray(classifier.model(batch, training=False))[0], top_k, classifier.name)
    maps = grad_cam(classifier.model, batch, [index for index, _, _ in top])
    return Explanation(os.fspath(path), image.numpy(), top, in_image(maps, image.shape[:2], classifier.transform))


def in_image(maps, size, transform):
    """Maps of the model's view (``transform``: the contract's) -> ``(n, H, W)`` maps of the ``size`` image: the
    whole image for a ``resize`` view, the window of a centre crop (zero outside it)."""
    height, width = size
    if transform["method"] != "center_crop":
        return upsample(maps, size)
    shorter = min(height, width)
    window = min(shorter, round(int(transform["size"]) * shorter / int(transform["resize"])))
    top, left = (height - window) // 2, (width - window) // 2
    placed = np.zeros((len(maps), height, width), "float32")
    placed[:, top:top + window, left:left + window] = upsample(maps, (window, window))
    return placed


def overlay(image, heatmap, alpha=ALPHA, colormap=COLORMAP):
    """uint8 ``(H, W, 3)`` image with the ``(H, W)`` map in ``colormap`` blended over it -> uint8 ``(H, W, 3)``."""
    import matplotlib

    colours = matplotlib.colormaps[colormap](heatmap)[..., :3]
    blended = (1.0 - alpha) * image.astype("float32") / 255.0 + alpha * colours
    return np.round(255.0 * np.clip(blended, 0.0, 1.0)).astype("uint8")


def _file_part(name):
    return re.sub(r"[^\w.-]+", "_", str(name)).strip("_") or "class"


def _map_prefix(image_path):
    """``"photos/cat.jpg"`` -> ``"cat.jpg.gradcam-"``: the start of the names of that image's maps."""
    return f"{os.path.basename(os.fspath(image_path))}.gradcam-"


def existing_maps(image_path, output_dir):
    """The heat maps of ``image_path`` already in ``output_dir`` (any rank and class), sorted."""
    if not os.path.isdir(output_dir):
        return []
    prefix = _map_prefix(image_path)
    return sorted(os.path.join(output_dir, name) for name in os.listdir(output_dir)
                  if name.startswith(prefix) and name.endswith(".png"))


def _refuse_existing(image_path, found):
    raise ValueError(f"{found[0]} exists: pass --overwrite to replace the heat maps of {image_path}, or choose "
                     "another --output-dir.")


def check_outputs(image_paths, output_dir, overwrite=False):
    """Refuses, before any work, images whose maps would share names (the same file name in two folders) and, unless
    ``overwrite``, images whose maps are already in ``output_dir``."""
    seen = {}
    for path in image_paths:
        name = os.path.basename(os.fspath(path))
        if name in seen:
            raise ValueError(f"{seen[name]} and {path} have the same file name, so their heat maps would have the "
                             "same names: explain them in separate runs with different --output-dir.")
        seen[name] = path
        found = existing_maps(path, output_dir)
        if found and not overwrite:
            _refuse_existing(path, found)


def write_overlays(explanation, output_dir, overwrite=False):
    """One PNG per explained class in ``output_dir``, the size of the input image; returns their paths.

    The image's maps that exist are refused (``ValueError``), or with ``overwrite`` replaced: those of ranks and
    classes not written again are removed, so the folder holds this explanation's maps only.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    earlier = existing_maps(explanation.path, output_dir)
    if earlier and not overwrite:
        _refuse_existing(explanation.path, earlier)
    prefix = _map_prefix(explanation.path)
    paths = []
    for rank, ((index, name, _), heatmap) in enumerate(zip(explanation.top, explanation.heatmaps), 1):
        path = os.path.join(output_dir, f"{prefix}{rank}-{_file_part(name)}.png")
        with files.atomic_path(path) as temporary:
            pyplot.imsave(temporary, overlay(explanation.image, heatmap))
        paths.append(path)
    for path in set(earlier) - set(paths):
        os.remove(path)
    return paths


__all__ = ["Explanation", "check_outputs", "existing_maps", "explain_image", "grad_cam", "in_image", "overlay",
           "upsample", "write_overlays"]
