"""Weight records: their numbers against the built models, and weights="<tag>" end to end on local files."""

import dataclasses
import hashlib

import keras
import numpy as np
import pytest
from torch_files import cifar_reference_forward, cifar_reference_state, save_legacy, save_zip, torchvision_forward
from torch_files import torchvision_state

import keras_resnet
from keras_resnet.weights import records as weight_records
from keras_resnet.weights import pretrained as weights_lib
from keras_resnet.models.stats import model_stats

_ARCHITECTURES = sorted({(r.name, r.architecture, r.input_size, r.classes) for r in weight_records.list_weights()})


@pytest.mark.parametrize("name, architecture, input_size, classes", [
    pytest.param(*key, marks=pytest.mark.slow) if int(key[0][6:].rstrip("v2") or 0) >= 101 else key
    for key in _ARCHITECTURES])
def test_record_params_and_flops_match_the_built_model(name, architecture, input_size, classes):
    model = keras_resnet.build(name, **dict(architecture), input_shape=(input_size, input_size, 3), classes=classes)
    stats = model_stats(model)
    for record in weight_records.list_weights(name):
        if record.architecture == architecture:
            assert (record.params, record.flops) == (stats["trainable_params"], stats["flops"]), record.tag


def test_a_records_spec_is_the_registered_network_with_its_options():
    """weight_records builds a record's spec from the paper's tables, below the registry (which reads the records
    for its ImageNet specs): it is the registry's spec of that name with the record's options."""
    from keras_resnet.applications import registry

    for record in weight_records.list_weights():
        assert record.spec == registry.spec(record.name).replace(**record.options), (record.name, record.tag)


def test_records_are_complete_and_consistent():
    records = weight_records.list_weights()
    assert {(r.name, r.tag) for r in records} >= {
        ("resnet18", "imagenet"), ("resnet34", "imagenet"), ("resnet50", "imagenet"), ("resnet50", "imagenet-v1"),
        ("resnet50", "imagenet-v2"), ("resnet152v2", "imagenet"), ("resnet20", "cifar10"), ("resnet1202", "cifar10")}
    for record in records:
        assert record.origin.endswith(record.file_name)
        if record.sha256_prefix:  # torch.hub's convention: name-<first hex digits of the SHA-256>.ext
            assert record.file_name.rsplit("-", 1)[1].startswith(record.sha256_prefix)
            assert record.file_hash is None or record.file_hash.startswith(record.sha256_prefix)
        assert 0 < record.top1 < 100 and record.license and record.metrics_source
        assert len(record.transform.mean) == len(record.transform.std) == 3
    assert weight_records.weights_info("resnet50", "imagenet-v2").top1 == 80.858
    assert weight_records.weights_info("resnet18", "imagenet").origin == \
        "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert keras_resnet.weights_info("resnet50", "imagenet").layout == "keras"
    assert [r.tag for r in keras_resnet.list_weights("resnet50")] == ["imagenet", "imagenet-v1", "imagenet-v2"]
    with pytest.raises(ValueError, match=r"No published weights tagged 'imagenet' for 'resnet20'; its tags are "
                                         r"'cifar10'"):
        keras_resnet.weights_info("resnet20", "imagenet")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(weights_lib, "CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def _publish(monkeypatch, name, tag, path):
    """Serves ``path`` as the record's origin, under a name carrying its SHA-256 prefix."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    file_name = f"{name}-{digest[:8]}{path.suffix}"
    published = path.with_name(file_name)
    path.rename(published)
    record = dataclasses.replace(weight_records.find(name, tag), origin=published.as_uri(), file_name=file_name,
                                 file_hash=None, sha256_prefix=digest[:8])
    monkeypatch.setitem(weight_records.RECORDS, (name, tag), record)
    return published


def test_offline_download_fails_with_one_clear_line(cache, monkeypatch, tmp_path):
    record = dataclasses.replace(weight_records.find("resnet18", "imagenet"),
                                 origin=(tmp_path / "offline" / "resnet18-f37072fd.pth").as_uri())
    monkeypatch.setitem(weight_records.RECORDS, ("resnet18", "imagenet"), record)
    with pytest.raises(OSError, match=r"Could not download the imagenet weights for 'resnet18' from .*Check the "
                                      r"network, or download resnet18-f37072fd.pth by hand") as error:
        keras_resnet.ResNet18(weights="imagenet")
    assert "\n" not in str(error.value)


def test_imagenet_tag_downloads_converts_caches_and_loads(cache, monkeypatch, tmp_path, rng):
    state = torchvision_state(18, rng)
    save_zip(state, tmp_path / "resnet18.pth")
    published = _publish(monkeypatch, "resnet18", "imagenet", tmp_path / "resnet18.pth")
    model = keras_resnet.ResNet18(weights="imagenet", classifier_activation=None)  # 224 x 224, as keras requires
    x = rng.normal(size=(1, 224, 224, 3)).astype(np.float32)
    expected = torchvision_forward(state, x.transpose(0, 3, 1, 2).astype(np.float64), 18)
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-4, rtol=0)
    assert model.get_layer("conv1_bn").epsilon == 1e-5  # the record's architecture was built
    cached = cache / published.name.replace(".pth", ".weights.h5")
    assert cached.exists()

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted twice")

    monkeypatch.setattr("keras_resnet.applications.convert.convert", no_conversion)
    again = keras_resnet.ResNet18(weights="imagenet", classifier_activation=None)
    np.testing.assert_allclose(np.asarray(again(x)), expected, atol=1e-4, rtol=0)


def test_cifar10_tag_converts_the_reference_checkpoint(cache, monkeypatch, tmp_path, rng):
    state = cifar_reference_state(20, rng)
    save_legacy({f"module.{key}": value for key, value in state.items()}, tmp_path / "resnet20.th",
                wrap=lambda sd: {"state_dict": sd, "best_prec1": 91.73})
    _publish(monkeypatch, "resnet20", "cifar10", tmp_path / "resnet20.th")
    model = keras_resnet.ResNet20(weights="cifar10", classifier_activation=None)
    x = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x)), cifar_reference_forward(state, x.transpose(0, 3, 1, 2), 20),
                               atol=1e-4, rtol=0)
    features = keras_resnet.ResNet20(weights="cifar10", include_top=False, pooling="avg")
    assert features.output.shape == (None, 64)
    assert sorted(path.name for path in cache.iterdir() if path.name.endswith(".weights.h5")) == [
        f"{weight_records.find('resnet20', 'cifar10').file_name[:-3]}{suffix}.weights.h5"
        for suffix in ("", "_notop")]


def test_checkpoint_that_does_not_match_its_name_is_deleted(cache, monkeypatch, tmp_path, rng):
    save_zip(torchvision_state(18, rng), tmp_path / "resnet18.pth")
    published = _publish(monkeypatch, "resnet18", "imagenet", tmp_path / "resnet18.pth")
    published.write_bytes(published.read_bytes() + b"tampered")
    with pytest.raises(ValueError, match=r"does not match the SHA-256 prefix .* deleted"):
        keras_resnet.ResNet18(weights="imagenet")
    assert not (cache / published.name).exists()


def test_published_architecture_is_enforced():
    with pytest.raises(ValueError, match=r"imagenet-v2 weights of 'resnet50' .* remove the options "
                                         r"use_bias=True \(published: False\)"):
        keras_resnet.ResNet50(weights="imagenet-v2", use_bias=True)
    with pytest.raises(ValueError, match=r"cifar10 weights of 'resnet20' .* remove the options shortcut='B' "
                                         r"\(published: 'A'\)"):
        keras_resnet.ResNet20(weights="cifar10", shortcut="B")
    with pytest.raises(ValueError, match=r"has 10 classes, got classes=100"):
        keras_resnet.ResNet20(weights="cifar10", classes=100)


def test_include_preprocessing_takes_raw_pixels(cache, monkeypatch, tmp_path, rng):
    state = cifar_reference_state(20, rng)
    save_legacy(state, tmp_path / "resnet20.th", wrap=lambda sd: {"state_dict": sd})
    _publish(monkeypatch, "resnet20", "cifar10", tmp_path / "resnet20.th")
    model = keras_resnet.ResNet20(weights="cifar10", include_preprocessing=True, classifier_activation=None)
    pixels = rng.uniform(0, 255, size=(2, 32, 32, 3)).astype(np.float32)
    transform = weight_records.find("resnet20", "cifar10").transform
    normalized = (pixels - np.array(transform.mean)) / np.array(transform.std)
    expected = cifar_reference_forward(state, normalized.transpose(0, 3, 1, 2), 20)
    np.testing.assert_allclose(np.asarray(model(pixels)), expected, atol=1e-4, rtol=0)
    path = tmp_path / "with_preprocessing.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(pixels)), expected, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"include_preprocessing=True .* pass weights='<tag>'"):
        keras_resnet.ResNet20(include_preprocessing=True)


@pytest.mark.parametrize("tag_name, reference", [("resnet50", keras.applications.resnet.preprocess_input),
                                                 ("resnet50v2", keras.applications.resnet_v2.preprocess_input)])
def test_keras_records_normalise_as_keras_applications(rng, tag_name, reference):
    transform = weight_records.find(tag_name, "imagenet").transform
    layer = keras_resnet.models.layers.PixelNormalization(transform.mean, transform.std, transform.channel_order)
    pixels = rng.uniform(0, 255, size=(2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(pixels)), reference(pixels.copy()), atol=1e-4, rtol=1e-6)


def test_torchvision_records_normalise_as_their_constructor(rng):
    transform = weight_records.find("resnet18", "imagenet").transform
    layer = keras_resnet.models.layers.PixelNormalization(transform.mean, transform.std, transform.channel_order)
    pixels = rng.uniform(0, 255, size=(2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(pixels)), keras_resnet.ResNet18.preprocess_input(pixels.copy()),
                               atol=1e-5, rtol=1e-6)


def test_models_remember_their_weights_and_are_preprocessed_as_published(cache, monkeypatch, tmp_path, rng):
    from keras_resnet.inference import model_file
    from keras_resnet.models.contract import contract_of

    state = cifar_reference_state(20, rng)
    save_legacy(state, tmp_path / "resnet20.th", wrap=lambda sd: {"state_dict": sd})
    _publish(monkeypatch, "resnet20", "cifar10", tmp_path / "resnet20.th")
    model = keras_resnet.ResNet20(weights="cifar10")
    assert model.weights_tag == "cifar10" and keras_resnet.ResNet20().weights_tag is None
    model.save(tmp_path / "resnet20.keras")
    loaded = keras.saving.load_model(tmp_path / "resnet20.keras", safe_mode=True)
    assert loaded.weights_tag == "cifar10" and contract_of(loaded) == contract_of(model)
    assert model_file.weights_record(loaded) == weight_records.find("resnet20", "cifar10")
    assert contract_of(loaded).normalization == "torch"
    assert contract_of(loaded).transform == {"method": "resize", "size": 32}
    pixels = rng.uniform(0, 255, size=(2, 32, 32, 3)).astype(np.float32)
    normalized = (pixels / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(np.asarray(loaded.preprocess_input(pixels.copy())), normalized, atol=1e-5)
    inside = keras_resnet.ResNet20(weights="cifar10", include_preprocessing=True)
    assert contract_of(inside).normalization == "none"  # the normalisation is in the model
    np.testing.assert_array_equal(np.asarray(inside.preprocess_input(pixels)), pixels)
    # Models without published weights normalise nothing: nothing is guessed from their name or architecture.
    assert contract_of(keras_resnet.ResNet20()).normalization == "none"
    assert contract_of(keras_resnet.ResNet50(weights=None, input_shape=(64, 64, 3))).normalization == "none"
    assert model_file.weights_record(keras_resnet.ResNet50(weights=None, input_shape=(64, 64, 3))) is None
    # A converted checkpoint without a tag: its layout's normalisation (torchvision's), and no record claimed.
    from keras_resnet.applications.convert import convert

    untagged = convert(torchvision_state(18, rng), "resnet18", input_shape=(64, 64, 3))
    assert contract_of(untagged).normalization == "torch" and model_file.weights_record(untagged) is None


@pytest.mark.slow
def test_converted_torchvision_resnet50_is_served_with_torchvision_preprocessing(tmp_path, rng):
    """A torchvision ResNet-50 converted as IMAGENET1K_V2 and exported: the SavedModel resizes the shorter side to
    232, crops 224 and normalises with torchvision's mean and std inside its graph."""
    import tensorflow as tf

    from keras_resnet import data
    from keras_resnet.applications.convert import convert_checkpoint
    from keras_resnet.export import export_saved_model

    save_zip(torchvision_state(50, rng), tmp_path / "resnet50.pth")
    path = convert_checkpoint(tmp_path / "resnet50.pth", "resnet50", tmp_path / "resnet50.keras",
                              weights_tag="imagenet-v2")
    target, info = export_saved_model(path, tmp_path / "served", top_k=3)
    assert info["preprocessing"] == "torch"
    assert info["transform"] == {"method": "center_crop", "resize": 232, "size": 224}
    model = keras.saving.load_model(path, safe_mode=True)
    images = rng.integers(0, 256, (2, 300, 260, 3), dtype=np.uint8)
    views = np.stack([data.apply_eval_transform(image, info["transform"]).numpy() for image in images])
    expected = np.asarray(model((views / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])))
    served = tf.saved_model.load(target).signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)
