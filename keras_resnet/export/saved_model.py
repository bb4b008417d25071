"""SavedModel export for TF Serving: versioned folders, raw-image signatures, preprocessing inside the graph.

Layout (what TF Serving's ``--model_base_path`` expects)::

    DIR/1/saved_model.pb, DIR/1/variables/ ...     DIR/2/ ...     DIR/models.config

Signatures (clients send raw data; resizing, decoding and preprocessing run inside the graph):

- ``serving_default``: ``images`` uint8 ``(batch, height, width, 3)`` of any size, resized to the model's input.
- ``predict_jpeg``: ``image_bytes`` string ``(batch,)`` of encoded JPEG or PNG images (REST: ``{"b64": ...}``).

Both return ``probabilities`` float32 ``(batch, classes)``, ``classes`` int32 ``(batch, k)``, ``scores`` float32
``(batch, k)`` and ``labels`` string ``(batch, k)``: the top-k classes, best first.
"""

import os
import shutil

import keras
import tensorflow as tf

from keras_resnet import model_file

SERVING_PORT_REST = 8501
# Magic numbers of the formats the JPEG signature accepts.
IMAGE_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG": "PNG"}


def next_version(base_dir):
    """1 + the largest integer version folder in ``base_dir`` (1 when there is none)."""
    versions = [int(name) for name in os.listdir(base_dir) if name.isdigit()] if os.path.isdir(base_dir) else []
    return max(versions, default=0) + 1


def _is_image(image_bytes):
    return tf.reduce_any([tf.strings.substr(image_bytes, 0, len(magic)) == magic for magic in IMAGE_SIGNATURES])


def serving_functions(model, preprocessing, class_names, top_k):
    """The two signature functions over ``model`` (see the module docstring)."""
    height, width = model_file.input_size(model)
    labels = tf.constant(class_names)
    top_k = min(top_k, len(class_names))

    def predict(images):
        scores = model(model_file.preprocess(images, preprocessing), training=False)
        top_scores, top_classes = tf.math.top_k(scores, k=top_k)
        return {"probabilities": scores, "classes": top_classes, "scores": top_scores,
                "labels": tf.gather(labels, top_classes)}

    def serve_images(images):
        return predict(tf.image.resize(tf.cast(images, tf.float32), (height, width)))

    def decode(image_bytes):
        tf.debugging.Assert(_is_image(image_bytes),
                            ["predict_jpeg takes JPEG or PNG encoded images; got bytes starting with",
                             tf.strings.substr(image_bytes, 0, 8)])
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        return tf.image.resize(tf.cast(image, tf.float32), (height, width))

    def serve_encoded(image_bytes):
        return predict(tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec((height, width, 3))))

    return serve_images, serve_encoded


def models_config(name, base_path):
    """A TF Serving ``models.config`` for one model."""
    return ("model_config_list {\n  config {\n"
            f"    name: '{name}'\n    base_path: '{base_path}'\n    model_platform: 'tensorflow'\n  }}\n}}\n")


def export_saved_model(model_path, output_dir, version=None, overwrite=False, top_k=5, preprocessing="auto",
                       labels_file=None):
    """Writes ``model_path`` as SavedModel version ``version`` (default: the next) under ``output_dir``.

    Returns ``(version folder, info dict)``. A version that exists is never replaced unless ``overwrite``.
    """
    model = model_file.load_model(model_path)
    mode = model_file.resolve_preprocessing(model, preprocessing)
    names = model_file.class_names(model, model_file.run_metadata(model_path), labels_file)
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    version = next_version(output_dir) if version is None else int(version)
    target = os.path.join(output_dir, str(version))
    if os.path.exists(target):
        if not overwrite:
            raise ValueError(f"Version {version} already exists in {output_dir!r}: TF Serving may be serving it. "
                             "Export as a new version (leave out --version) or pass --overwrite.")
        shutil.rmtree(target)

    serve_images, serve_encoded = serving_functions(model, mode, names, top_k)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve_images,
                         input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8, name="images")])
    archive.add_endpoint("predict_jpeg", serve_encoded,
                         input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")])
    archive.write_out(target, verbose=False)

    name = os.path.basename(os.path.normpath(output_dir))
    config_path = os.path.join(output_dir, "models.config")
    if not os.path.exists(config_path):
        with open(config_path, "w") as file:
            file.write(models_config(name, f"/models/{name}"))
    info = {"name": name, "version": version, "path": target, "preprocessing": mode, "classes": len(names),
            "top_k": min(top_k, len(names)), "docker": docker_command(output_dir, name)}
    return target, info


def docker_command(output_dir, name):
    """The command that serves ``output_dir`` with the TF Serving image over REST on port 8501."""
    return (f"docker run -p {SERVING_PORT_REST}:8501 --mount type=bind,source={os.path.abspath(output_dir)},"
            f"target=/models/{name} -e MODEL_NAME={name} -t tensorflow/serving")
