"""Conversion of PyTorch checkpoints, checked against NumPy forward passes of the PyTorch networks.

Checkpoints are written by the tests in each real format (safetensors, torch's zip and legacy layouts) from random
weights and BN statistics; reading them needs neither torch nor running any code from the file.
"""

import os
import pickle
import zipfile

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

import keras_resnet
from keras_resnet.weights import checkpoints
from keras_resnet.applications.convert import convert, convert_checkpoint
from torch_files import (cifar_reference_forward, cifar_reference_state, save_legacy, save_zip,
                               torchvision_forward, torchvision_state)

SAVERS = {
    "safetensors": lambda state, path, **_: save_file(
        {key: np.ascontiguousarray(value) for key, value in state.items()}, str(path)),
    "zip": save_zip,
    "legacy": save_legacy,
}
SUFFIXES = {"safetensors": ".safetensors", "zip": ".pth", "legacy": ".th"}


def _logits(model, x_nhwc):
    return np.asarray(model(x_nhwc, training=False))


@pytest.mark.parametrize("depth, size, file_format", [(18, 64, "zip"), (18, 64, "safetensors"), (50, 64, "legacy")])
def test_torchvision_resnet_converts_exactly(tmp_path, rng, depth, size, file_format):
    state = torchvision_state(depth, rng, classes=20)
    path = tmp_path / f"resnet{depth}{SUFFIXES[file_format]}"
    SAVERS[file_format](state, path)
    model = convert(str(path), f"resnet{depth}", input_shape=(size, size, 3), classifier_activation=None)
    x = rng.normal(size=(2, size, size, 3)).astype(np.float32)
    expected = torchvision_forward(state, x.transpose(0, 3, 1, 2).astype(np.float64), depth)
    assert model.output.shape == (None, 20)
    assert model.get_layer("conv1_bn").epsilon == 1e-5 and not model.get_layer("conv1_conv").use_bias
    if depth == 50:  # v1.5: the stride is on the 3x3
        assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert np.abs(expected).max() > 0.5  # the comparison is not between near-zero logits
    np.testing.assert_allclose(_logits(model, x), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("file_format", ["legacy", "zip", "safetensors"])
def test_cifar_reference_resnet20_converts_exactly(tmp_path, rng, file_format):
    state = cifar_reference_state(20, rng)
    path = tmp_path / f"resnet20{SUFFIXES[file_format]}"
    # The reference's checkpoints: {"state_dict": ..., "best_prec1": ...} saved from DataParallel ("module.").
    prefixed = {f"module.{key}": value for key, value in state.items()}
    if file_format == "safetensors":
        SAVERS[file_format](prefixed, path)
    else:
        SAVERS[file_format](prefixed, path, wrap=lambda sd: {"state_dict": sd, "best_prec1": 91.73, "epoch": 200})
    model = convert(str(path), "resnet20", classifier_activation=None)
    assert model.get_layer("conv3_block1_0_pad").pad == "both"
    x = rng.normal(size=(3, 32, 32, 3)).astype(np.float32)
    expected = cifar_reference_forward(state, x.transpose(0, 3, 1, 2).astype(np.float64), 20)
    np.testing.assert_allclose(_logits(model, x), expected, atol=1e-4, rtol=0)


def test_zero_pad_shortcut_pads_both_sides_and_round_trips():
    layer = keras_resnet.ZeroPadShortcut(32, 2, pad="both")
    x = np.arange(2 * 4 * 4 * 16, dtype=np.float32).reshape(2, 4, 4, 16) + 1
    y = np.asarray(layer(x))
    assert y.shape == (2, 2, 2, 32)
    np.testing.assert_array_equal(y[..., 8:24], x[:, ::2, ::2, :])
    assert not y[..., :8].any() and not y[..., 24:].any()
    assert keras_resnet.ZeroPadShortcut.from_config(layer.get_config()).pad == "both"
    with pytest.raises(ValueError, match="pad must be one of"):
        keras_resnet.ZeroPadShortcut(32, 2, pad="before")


def test_reader_handles_shared_offset_and_strided_storages(tmp_path, rng):
    state = {"a": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=(5,)).astype(np.float32),
             "c": rng.normal(size=(6, 2)).astype(np.float32), "n": np.array(7, dtype=np.int64),
             "h": rng.normal(size=(2, 3)).astype(np.float16)}
    for save in (save_zip, save_legacy):
        path = tmp_path / f"{save.__name__}.pth"
        save(state, path, share=True, wrap=lambda sd: {"model": sd, "optimizer": None})
        loaded = checkpoints.read_state_dict(path)
        assert set(loaded) == set(state)
        for key, value in state.items():
            assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
            np.testing.assert_array_equal(loaded[key], value)


def test_zip_archive_name_is_free(tmp_path, rng):
    state = {"w": rng.normal(size=(2, 2)).astype(np.float32)}
    save_zip(state, tmp_path / "resnet18-f37072fd.pth", archive="resnet18-f37072fd")
    np.testing.assert_array_equal(checkpoints.read_state_dict(tmp_path / "resnet18-f37072fd.pth")["w"], state["w"])


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("layout", ["legacy", "zip"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, layout):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"state_dict": {"w": _Exploit(marker)}}, protocol=2)
    path = tmp_path / "evil.pth"
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as file:
            file.writestr("archive/data.pkl", payload)
    else:
        path.write_bytes(payload)
    with pytest.raises(ValueError, match=r"refusing to load .*evil\.pth: the checkpoint asks for (os|posix)\.system; "
                                         r"keras-resnet never runs code from a checkpoint"):
        checkpoints.read_state_dict(path)
    with pytest.raises(ValueError, match="never runs code"):
        convert(str(path), "resnet20")
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        checkpoints.read_state_dict(path)
    with pytest.raises(ValueError, match="Checkpoint not found"):
        checkpoints.read_state_dict(tmp_path / "missing.pth")


def test_wrong_architecture_is_refused(rng):
    state = cifar_reference_state(20, rng)
    with pytest.raises(ValueError, match=r"no 'layer1.3.conv1.weight'.*model name and depth"):
        convert(state, "resnet32")
    extra = {**state, "layer4.0.conv1.weight": np.zeros((1, 1, 1, 1), np.float32)}
    with pytest.raises(ValueError, match=r"1 parameters the model has no place for \(layer4.0.conv1.weight\)"):
        convert(extra, "resnet20")
    with pytest.raises(ValueError, match=r"fixes stride_on='3x3'"):
        convert(torchvision_state(18, rng), "resnet18", stride_on="1x1")


def test_convert_checkpoint_writes_a_model_that_loads_safely(tmp_path, rng):
    state = cifar_reference_state(20, rng)
    save_legacy(state, tmp_path / "resnet20.th", wrap=lambda sd: {"state_dict": sd})
    output = convert_checkpoint(tmp_path / "resnet20.th", "resnet20", tmp_path / "out" / "resnet20.keras",
                                classifier_activation=None)
    model = keras.saving.load_model(output, safe_mode=True)
    x = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(_logits(model, x), cifar_reference_forward(state, x.transpose(0, 3, 1, 2), 20),
                               atol=1e-4, rtol=0)
    assert sorted(os.listdir(tmp_path / "out")) == ["resnet20.keras"]  # no temporary left behind
    weights = convert_checkpoint(tmp_path / "resnet20.th", "resnet20", tmp_path / "resnet20.weights.h5")
    rebuilt = keras_resnet.build("resnet20", weights=weights, bn_epsilon=1e-5, shortcut_pad="both",
                                 classifier_activation=None)
    np.testing.assert_allclose(_logits(rebuilt, x), _logits(model, x), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"must end in \.keras .* or \.weights\.h5"):
        convert_checkpoint(tmp_path / "resnet20.th", "resnet20", tmp_path / "resnet20.h5")


def test_networks_without_a_pytorch_layout_are_refused(rng):
    with pytest.raises(ValueError, match=r"'resnet50v2' has no PyTorch layout"):
        convert(torchvision_state(18, rng), "resnet50v2")


@pytest.mark.parametrize("save", [save_zip, save_legacy])
def test_truncated_checkpoint_is_a_clear_error(tmp_path, rng, save):
    path = tmp_path / "resnet20.pth"
    save(cifar_reference_state(20, rng), path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(ValueError, match=r"resnet20\.pth (is|holds|lacks|declares)|truncated|corrupted"):
        checkpoints.read_state_dict(path)


def test_bfloat16_and_big_endian_storages(tmp_path):
    values = np.array([[1.5, -2.25, 3.0]], dtype=np.float32)  # exactly representable in bfloat16
    state = {"bf16": (values.view(np.uint32) >> 16).astype(np.uint16), "f32": values}
    save_zip(state, tmp_path / "big.pth", byteorder="big")
    loaded = checkpoints.read_state_dict(tmp_path / "big.pth")
    assert loaded["bf16"].dtype == np.float32
    np.testing.assert_array_equal(loaded["bf16"], values)
    np.testing.assert_array_equal(loaded["f32"], values)


def test_convert_command_writes_the_model_with_its_weights_tag(tmp_path, rng, capsys):
    from keras_resnet import cli

    state = cifar_reference_state(20, rng)
    save_legacy({f"module.{key}": value for key, value in state.items()}, tmp_path / "resnet20.th",
                wrap=lambda sd: {"state_dict": sd, "best_prec1": 91.73})
    output = tmp_path / "out" / "converted.keras"
    assert cli.main(["convert", str(tmp_path / "resnet20.th"), "--model", "resnet20", "--weights-tag", "cifar10",
                     "--logits", "--output", str(output)]) == 0
    assert str(output) in capsys.readouterr().out
    model = keras.saving.load_model(output, safe_mode=True)
    assert model.weights_tag == "cifar10"
    x = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(_logits(model, x), cifar_reference_forward(state, x.transpose(0, 3, 1, 2), 20),
                               atol=1e-4, rtol=0)
    assert sorted(os.listdir(tmp_path / "out")) == ["converted.keras"]

    assert cli.main(["convert", str(tmp_path / "resnet20.th"), "--model", "resnet20",
                     "--output-dir", str(tmp_path / "folder")]) == 0
    softmax = keras.saving.load_model(tmp_path / "folder" / "resnet20.keras", safe_mode=True)
    assert softmax.weights_tag is None
    np.testing.assert_allclose(np.asarray(softmax(x)).sum(axis=1), 1.0, atol=1e-5)

    # a converted file is not replaced without --overwrite (refused before converting: the file is left as it was)
    capsys.readouterr()
    before = output.read_bytes()
    assert cli.main(["convert", str(tmp_path / "resnet20.th"), "--model", "resnet20", "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{output} exists: pass --overwrite to replace it, or choose another --output." in err
    assert output.read_bytes() == before
    assert cli.main(["convert", str(tmp_path / "resnet20.th"), "--model", "resnet20", "--output", str(output),
                     "--overwrite"]) == 0
    assert keras.saving.load_model(output, safe_mode=True).weights_tag is None  # the new conversion, untagged


@pytest.mark.parametrize("arguments, message", [
    ([], "Pass --output FILE"),
    (["--output", "x.h5"], "must end in .keras"),
    (["--output", "x.keras", "--weights-tag", "imagenet"], "No published weights tagged 'imagenet' for 'resnet20'"),
])
def test_convert_command_bad_input_is_one_line(tmp_path, rng, capsys, arguments, message):
    from keras_resnet import cli

    save_legacy(cifar_reference_state(20, rng), tmp_path / "resnet20.th", wrap=lambda sd: {"state_dict": sd})
    arguments = [arg if arg != "x.keras" and arg != "x.h5" else str(tmp_path / arg) for arg in arguments]
    assert cli.main(["convert", str(tmp_path / "resnet20.th"), "--model", "resnet20", *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_weights_tag_of_another_layout_is_refused(rng):
    with pytest.raises(ValueError, match=r"The imagenet weights of 'resnet50' are not in this checkpoint's layout"):
        convert(torchvision_state(50, rng), "resnet50", weights_tag="imagenet")


def _destinations(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    cases = [(["--output-dir", str(tmp_path / "a-file")], "is a file"),
             (["--output", str(tmp_path / "a-file" / "m.keras")], "is a file")]
    if os.path.isdir("/proc/self"):  # a folder that cannot be created, even by root
        cases += [(["--output-dir", "/proc/keras-resnet-test"], "cannot be created"),
                  (["--output", "/proc/keras-resnet-test/m.keras"], "cannot be created")]
    if os.name == "posix" and os.geteuid() != 0:  # a read-only folder (root writes anyway)
        (tmp_path / "read-only").mkdir(mode=0o555)
        cases.append((["--output", str(tmp_path / "read-only" / "m.keras")], "is not writable"))
    return cases


def test_convert_command_checks_its_destination_before_converting(tmp_path, rng, capsys):
    """An --output-dir that is a file gave FileExistsError, a folder that cannot be written an OSError, each
    after the conversion."""
    from keras_resnet import cli

    save_legacy(cifar_reference_state(20, rng), tmp_path / "resnet20.th", wrap=lambda sd: {"state_dict": sd})
    for arguments, message in _destinations(tmp_path):
        assert cli.main(["convert", str(tmp_path / "resnet20.th"), "--model", "resnet20", *arguments]) == 2, arguments
        err = capsys.readouterr().err
        assert message in err and arguments[1].split("/m.keras")[0] in err and err.count("\n") == 1, err
    assert not list(tmp_path.rglob("*.keras"))
