"""Every family saves as .keras and loads with safe_mode=True, giving identical outputs."""

import keras
import numpy as np
import pytest

import keras_resnet
from conftest import randomize_batchnorm

FAMILIES = {
    "cifar-A": ("resnet20", {}),
    "cifar-B": ("resnet20", {"shortcut": "B"}),
    "cifar-C": ("resnet20", {"shortcut": "C"}),
    "cifar-plain": ("plain20", {}),
    "cifar-preact-bottleneck": ("resnet29v2", {"block": "bottleneck", "shortcut": "B"}),
    "imagenet-basic": ("resnet18", {"input_shape": (64, 64, 3)}),
    "imagenet-bottleneck": ("resnet50", {"input_shape": (64, 64, 3), "shortcut": "A"}),
    "imagenet-v1.5": ("resnet50", {"input_shape": (64, 64, 3), "stride_on": "3x3"}),
    "imagenet-v2": ("resnet50v2", {"input_shape": (64, 64, 3)}),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_with_safe_mode(family, tmp_path, rng):
    name, options = FAMILIES[family]
    model = keras_resnet.build(name, **options)
    randomize_batchnorm(model, rng)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    images = rng.normal(size=(2, *model.input.shape[1:])).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(images)),
                                  keras.ops.convert_to_numpy(loaded(images)))
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in loaded.layers)


def test_models_saved_before_specs_still_load_and_are_studied():
    """Files written by keras-resnet before ArchSpec (plain functional models, speech layers in layers.py) load with
    safe_mode, give the outputs they gave then, and the lesion study still finds their blocks."""
    from pathlib import Path

    from keras_resnet.analysis import Network

    folder = Path(__file__).parent / "data"
    saved = np.load(folder / "before-specs-outputs.npz")
    model = keras.saving.load_model(folder / "resnet8-before-specs.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(model(saved["x"])), saved["y"], atol=1e-6)
    assert len(Network(model).segments) == 3
    wrbn = keras.saving.load_model(folder / "wrbn-before-specs.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(wrbn(saved["f"])), saved["wy"], atol=1e-6)


def test_files_written_before_the_package_moved_into_folders_still_load():
    """``tests/data/*-380d81e.keras`` were written by 380d81e's code, when the modules sat side by side in the package
    root: option A's ZeroPadShortcut, a ResNetModel with its contract (class names) compiled with TopKError, and a
    serving-style graph (PixelNormalization -> pre-activation bottleneck net -> TopK). Keras finds the classes by
    their registered names, wherever the modules now live: the files load with safe_mode and answer as then."""
    from pathlib import Path

    folder = Path(__file__).parent / "data"
    saved = np.load(folder / "outputs-380d81e.npz")
    model = keras.saving.load_model(folder / "resnet8-380d81e.keras", safe_mode=True)
    assert type(model).__name__ == "ResNetModel" and model.spec.name == "resnet8"
    assert keras_resnet.contract_of(model).class_names == ("ant", "bee", "cat", "dog")
    logits = np.asarray(model(saved["x"]))
    np.testing.assert_allclose(logits, saved["resnet8"], rtol=1e-5, atol=1e-5 * np.ptp(saved["resnet8"]))
    serving = keras.saving.load_model(folder / "serving-380d81e.keras", safe_mode=True)
    assert [type(layer).__name__ for layer in serving.layers] == [
        "InputLayer", "PixelNormalization", "ResNetModel", "TopK"]
    probabilities, scores, classes = (np.asarray(t) for t in serving(saved["x"]))
    np.testing.assert_allclose(probabilities, saved["probabilities"], atol=1e-6)
    np.testing.assert_array_equal(classes, saved["classes"])
