"""SavedModel export for TF Serving: versioned folders, raw-image signatures, preprocessing inside the graph.

Layout (what TF Serving's ``--model_base_path`` expects)::

    DIR/1/saved_model.pb, DIR/1/variables/ ...     DIR/2/ ...     DIR/models.config

Signatures (clients send raw data; decoding, resizing and preprocessing run inside the graph):

- ``serving_default``: ``images`` uint8 ``(batch, height, width, channels)`` of any size; 1 (grey), 3 (RGB) or 4
  (RGBA, alpha dropped) channels.
- ``predict_jpeg``: ``image_bytes`` string ``(batch,)`` of encoded JPEG or PNG images (REST: ``{"b64": ...}``).

Every image goes through the model's inference contract (``contract.InferenceContract``, stored in the model: the
view its run or its weights' publisher evaluates with, then its normalisation), so a served image gives exactly the
probabilities that ``predict`` and evaluation give. Both return ``probabilities`` float32 ``(batch, classes)``,
``classes`` int32 ``(batch, k)``, ``scores`` float32 ``(batch, k)`` and ``labels`` string ``(batch, k)``: the top-k
classes, best first.
"""

import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from keras_resnet import data
from keras_resnet.support import files
from keras_resnet.inference import model_file
from keras_resnet.support.choices import EXPORT_PRECISIONS
from keras_resnet.export.parity import agreement, keras_latency, parity_images, top1_accuracy
from keras_resnet.training.precision import with_dtype_policy
from keras_resnet.support.validation import check_positive_int

SERVING_PORT_REST = 8501
# Magic numbers of the formats the JPEG signature accepts.
IMAGE_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG": "PNG"}


def next_version(base_dir):
    """1 + the largest integer version folder in ``base_dir`` (1 when there is none)."""
    versions = [int(name) for name in os.listdir(base_dir) if name.isdigit()] if os.path.isdir(base_dir) else []
    return max(versions, default=0) + 1


def _is_image(image_bytes):
    return tf.reduce_any([tf.strings.substr(image_bytes, 0, len(magic)) == magic for magic in IMAGE_SIGNATURES])


def _rgb(images):
    """uint8 ``(batch, H, W, C)`` with C in 1, 3, 4 -> ``(batch, H, W, 3)``; anything else is refused."""
    channels = tf.shape(images)[-1]
    tf.debugging.Assert(tf.reduce_any(tf.equal(channels, [1, 3, 4])),
                        ["serving_default takes uint8 images with 1, 3 or 4 channels; got", channels])
    tf.debugging.Assert(tf.logical_or(tf.equal(tf.shape(images)[0], 0), tf.reduce_min(tf.shape(images)[1:3]) > 0),
                        ["serving_default got empty images of shape", tf.shape(images)])
    return tf.case([(tf.equal(channels, 1), lambda: tf.image.grayscale_to_rgb(images[..., :1]))],
                   default=lambda: images[..., :3])


def serving_functions(model, class_names, top_k, transform):
    """The two signature functions over ``model`` (see the module docstring): ``model`` takes raw ``[0, 255]``
    pixels (``model_file.raw_pixel_model``), ``transform`` is its contract's view (``data.apply_eval_transform``)."""
    height, width = model_file.input_size(model)
    labels = tf.constant(class_names)
    top_k = min(top_k, len(class_names))
    image_spec = tf.TensorSpec((height, width, 3), tf.float32)

    def predict(images):
        # An empty batch is a valid request: it gets empty answers without running the network on zero images.
        scores = tf.cond(tf.shape(images)[0] > 0,
                         lambda: tf.cast(model(images, training=False), tf.float32),
                         lambda: tf.zeros((0, len(class_names)), tf.float32))
        top_scores, top_classes = tf.math.top_k(scores, k=top_k)
        return {"probabilities": scores, "classes": top_classes, "scores": top_scores,
                "labels": tf.gather(labels, top_classes)}

    def serve_images(images):
        return predict(tf.map_fn(lambda image: data.apply_eval_transform(image, transform), _rgb(images),
                                 fn_output_signature=image_spec))

    def decode(image_bytes):
        is_image = tf.debugging.Assert(_is_image(image_bytes),
                                       ["predict_jpeg takes JPEG or PNG encoded images; got bytes starting with",
                                        tf.strings.substr(image_bytes, 0, 8)])
        with tf.control_dependencies([is_image]):  # checked before any decoder sees the bytes
            return data.apply_eval_transform(tf.identity(image_bytes), transform)

    def serve_encoded(image_bytes):
        return predict(tf.map_fn(decode, image_bytes, fn_output_signature=image_spec))

    return serve_images, serve_encoded


def models_config(name, base_path):
    """A TF Serving ``models.config`` for one model."""
    return ("model_config_list {\n  config {\n"
            f"    name: '{name}'\n    base_path: '{base_path}'\n    model_platform: 'tensorflow'\n  }}\n}}\n")


def export_saved_model(model_path, output_dir, version=None, overwrite=False, top_k=5, preprocessing="auto",
                       labels_file=None, precision="float32", dataset=None, data_dir=None, eval_images=200):
    """Writes ``model_path`` as SavedModel version ``version`` (default: the next) under ``output_dir``.

    The version folder appears whole or not at all (written beside it, then renamed). Returns ``(version folder,
    info dict)``. A version that exists is never replaced unless ``overwrite``.

    ``precision="bfloat16"`` serves the model's mixed-bfloat16 twin (``precision.with_dtype_policy``: 16-bit
    compute, float32 weights and outputs) and writes ``parity-<version>.json`` beside the versions: its top-1
    agreement with the float32 model, largest probability difference, accuracies and batch-1 latencies on
    ``eval_images`` test images of ``dataset`` (default: the run's; random images when there is none).
    """
    check_positive_int(top_k, "top_k")
    if version is not None:
        check_positive_int(version, "--version", " (TF Serving loads versions 1, 2, ...)")
    if precision not in EXPORT_PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(EXPORT_PRECISIONS)}, got {precision!r}")
    check_positive_int(eval_images, "--eval-images")  # before anything is written
    if labels_file is not None:
        files.existing(labels_file, "file", ValueError, f"--labels file not found: {os.fspath(labels_file)!r}")
    files.check_writable_folder(output_dir)
    with files.export_folder(output_dir):
        model = model_file.load_model(model_path)
        contract = model_file.contract(model, preprocessing)
        names = model_file.class_names(model, labels_file)
        transform, mode = contract.transform, contract.normalization
        version = next_version(output_dir) if version is None else version
        target = os.path.join(output_dir, str(version))
        if os.path.exists(target) and not overwrite:
            raise ValueError(f"Version {version} already exists in {output_dir!r}: TF Serving may be serving it. "
                             "Export as a new version (leave out --version) or pass --overwrite.")

        served = model if precision == "float32" else with_dtype_policy(model, "mixed_bfloat16")
        serve_images, serve_encoded = serving_functions(model_file.raw_pixel_model(served, contract), names, top_k,
                                                        transform)
        # The endpoints alone track the variables they use. ``archive.track(model)`` would add the Keras wrappers of the
        # same variables, which the checkpoint stores a second time (keras-team/keras#23553): twice the size on disk
        # and in TF Serving's memory.
        archive = keras.export.ExportArchive()
        archive.add_endpoint("serving_default", serve_images,
                             input_signature=[tf.TensorSpec((None, None, None, None), tf.uint8, name="images")])
        archive.add_endpoint("predict_jpeg", serve_encoded,
                             input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")])
        _write_version(archive, output_dir, version, target)

        name = os.path.basename(os.path.normpath(output_dir))
        config_path = os.path.join(output_dir, "models.config")
        if not os.path.exists(config_path):
            files.write_text(config_path, models_config(name, f"/models/{name}"))
        info = {"name": name, "version": version, "path": target, "preprocessing": mode, "classes": len(names),
                "top_k": min(top_k, len(names)), "transform": transform, "precision": precision,
                "docker": docker_command(output_dir, name)}
        if served is not model:
            dataset = dataset or model_file.run_metadata(model_path).get("dataset")
            info["parity"] = parity_report(model, served, contract, dataset, data_dir, eval_images)
            info["parity_path"] = os.path.join(output_dir, f"parity-{version}.json")
            files.write_json(info["parity_path"], info["parity"])
        return target, info


def _write_version(archive, output_dir, version, target):
    """Writes ``archive`` to the version folder ``target`` whole or not at all: beside it first, then renamed (an
    existing version, under ``--overwrite``, leaves only once the new one is complete)."""
    os.makedirs(output_dir, exist_ok=True)
    staging = os.path.join(output_dir, f"{files.TEMP_PREFIX}{version}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        archive.write_out(staging, verbose=False)
        if os.path.exists(target):
            replaced = f"{staging}-replaced"
            os.replace(target, replaced)
            os.replace(staging, target)
            shutil.rmtree(replaced)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def parity_report(model, twin, contract, dataset=None, data_dir=None, eval_images=200, repeats=20):
    """How the reduced-precision ``twin`` of ``model`` answers on ``eval_images`` images of ``dataset``'s test split
    (random images without a dataset): top-1 agreement, largest probability difference, the accuracy of each, and
    their median batch-1 latencies in this process."""
    check_positive_int(eval_images, "--eval-images")
    images, labels = parity_images(model, dataset, eval_images, data_dir)
    images = np.asarray(contract.preprocess_input(images))
    reference = np.asarray(model.predict(images, batch_size=64, verbose=0))
    reduced = np.asarray(twin.predict(images, batch_size=64, verbose=0), dtype="float32")
    float32_ms, reduced_ms = (1000 * keras_latency(net, images[0], repeats) for net in (model, twin))
    return {"dataset": dataset, "eval_images": len(images), "precision": str(twin.layers[1].dtype_policy.name),
            **agreement(reduced, reference, labels), "accuracy_float32": top1_accuracy(reference, labels),
            "latency_ms_float32": float32_ms, "latency_ms": reduced_ms, "speedup": float32_ms / reduced_ms}


def docker_command(output_dir, name):
    """The command that serves ``output_dir`` with the TF Serving image over REST on port 8501."""
    return (f"docker run -p {SERVING_PORT_REST}:8501 --mount type=bind,source={os.path.abspath(output_dir)},"
            f"target=/models/{name} -e MODEL_NAME={name} -t tensorflow/serving")
