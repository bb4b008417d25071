"""Published weights through keras.utils.get_file with their hash, tested offline on files the tests write."""

import hashlib

import pytest

import keras_resnet
from keras_h5 import write_legacy_h5_weights
from keras_resnet.weights import pretrained as weights_lib


@pytest.fixture
def local_origin(tmp_path, monkeypatch):
    """Serves 'published' files from a local folder and caches downloads in another."""
    origin = tmp_path / "origin"
    origin.mkdir()
    monkeypatch.setattr(weights_lib, "BASE_WEIGHTS_PATH", origin.as_uri() + "/")
    monkeypatch.setattr(weights_lib, "CACHE_DIR", str(tmp_path / "cache"))
    return origin


def _publish(origin, monkeypatch, name, model=None, content=None):
    """Writes the file under its published name and registers its md5 (keras' published hashes are md5)."""
    file_name, _, _ = weights_lib.weights_file(name, include_top=False)
    path = origin / file_name
    if model is not None:  # the published files are in Keras' legacy HDF5 weights format
        write_legacy_h5_weights(path, model)
    else:
        path.write_bytes(content)
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setitem(weights_lib.WEIGHTS_HASHES, name, ("0" * 32, digest))
    return path


def test_our_hashes_match_the_copy_inside_keras():
    """keras-resnet owns the published names and hashes; keras keeps its copy in a private module, checked while it
    exists."""
    resnet = pytest.importorskip("keras.src.applications.resnet")
    for name in weights_lib.published_names():
        assert weights_lib.WEIGHTS_HASHES[name] == resnet.WEIGHTS_HASHES[name]
    assert set(weights_lib.published_names()) == {"resnet50", "resnet101", "resnet152",
                                                 "resnet50v2", "resnet101v2", "resnet152v2"}
    assert weights_lib.weights_file("resnet50", True)[1] == \
        resnet.BASE_WEIGHTS_PATH + "resnet50_weights_tf_dim_ordering_tf_kernels.h5"


def test_imagenet_weights_download_and_load(local_origin, monkeypatch):
    source = keras_resnet.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    for weight in source.weights:
        weight.assign(weight + 0.5)
    _publish(local_origin, monkeypatch, "resnet50", model=source)
    model = keras_resnet.ResNet50(weights="imagenet", include_top=False, input_shape=(64, 64, 3))
    assert all((a.numpy() == b.numpy()).all() for a, b in zip(model.weights, source.weights))
    cached = local_origin.parent / "cache" / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert cached.exists()


def test_corrupted_download_fails_and_is_not_used(local_origin, monkeypatch):
    path = _publish(local_origin, monkeypatch, "resnet50", content=b"not the weights")
    path.write_bytes(b"corrupted in transit")  # the origin no longer matches the published hash
    with pytest.raises(ValueError, match=r"do not match the published hash.*not used"):
        keras_resnet.ResNet50(weights="imagenet", include_top=False)


def test_no_published_weights_lists_the_names():
    with pytest.raises(ValueError,
                       match=r"No published weights tagged 'imagenet' for 'plain18'.*resnet50.*weights=None"):
        keras_resnet.Plain18(weights="imagenet")
    with pytest.raises(ValueError, match=r"No published weights tagged 'imagenet-v3' for 'resnet50': its tags are "
                                         r"'imagenet', 'imagenet-v1', 'imagenet-v2'"):
        keras_resnet.ResNet50(weights="imagenet-v3")


def test_published_weights_need_the_published_architecture():
    with pytest.raises(ValueError, match=r"remove the options shortcut='C' \(published: 'B'\) or use weights=None"):
        keras_resnet.ResNet50(weights="imagenet", shortcut="C")


def test_missing_weights_path():
    with pytest.raises(ValueError, match=r"Weights file not found: '/nonexistent/w.weights.h5'.*weights=None"):
        keras_resnet.build("resnet20", weights="/nonexistent/w.weights.h5")


def test_weights_of_another_architecture(tmp_path):
    path = tmp_path / "resnet32.weights.h5"
    keras_resnet.build("resnet32").save_weights(path)
    with pytest.raises(ValueError, match=r"holds another architecture"):
        keras_resnet.build("resnet20", weights=str(path))
    with pytest.raises(ValueError, match=r"holds another architecture"):
        keras_resnet.build("resnet32", weights=str(path), classes=100)


def test_not_a_weights_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"not a Keras weights file"):
        keras_resnet.build("resnet20", weights=str(path))
    keras_resnet.build("resnet20").save(tmp_path / "model.keras")
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes((tmp_path / "model.keras").read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"damaged.keras' is not a Keras model file.*damaged or truncated"):
        keras_resnet.build("resnet20", weights=str(damaged))
