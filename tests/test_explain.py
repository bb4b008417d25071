"""Grad-CAM on the last stage: heat maps over real photographs, per class, written as PNGs the size of the image."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_resnet
from conftest import channels_first_twin, needs_channels_first, randomize_batchnorm
from datasets import write_sample_photos
from keras_resnet import cli
from keras_resnet.inference import explain
from keras_resnet.inference import predict


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_sample_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def small_resnet(tmp_path_factory):
    """A random-weight CIFAR ResNet-8 (8x8 last stage at 32x32), with non-trivial BN statistics."""
    keras.utils.set_random_seed(1)
    model = keras_resnet.build("resnet8")
    randomize_batchnorm(model, np.random.default_rng(1))
    path = tmp_path_factory.mktemp("model") / "resnet8.keras"
    model.save(path)
    return str(path)


def test_maps_are_normalised_image_sized_and_differ_between_classes(photos, small_resnet):
    classifier = predict.load_classifier(small_resnet)
    for path in photos:
        result = explain.explain_image(classifier, path, top_k=2)
        height, width = result.image.shape[:2]
        assert result.heatmaps.shape == (2, height, width)
        assert result.heatmaps.min() >= 0.0 and result.heatmaps.max(axis=(1, 2)) == pytest.approx([1.0, 1.0])
        assert np.abs(result.heatmaps[0] - result.heatmaps[1]).mean() > 0.01
        assert [index for index, _, _ in result.top] != [] and result.top[0][2] >= result.top[1][2]


@pytest.mark.parametrize("name,side", [("resnet8", 32), ("resnet18", 64), ("resnet20v2", 32)])
def test_grad_cam_is_the_class_activation_map(name, side, rng):
    """With global average pooling and a linear classifier, Grad-CAM is ReLU(sum_k W_kc A_k) (Zhou et al. 2016)."""
    model = keras_resnet.build(name, input_shape=(side, side, 3), classes=5)
    randomize_batchnorm(model, rng)
    images = rng.uniform(0, 1, (1, side, side, 3)).astype("float32")
    maps = keras_resnet.stage_outputs(model)
    features = keras.Model(model.input, maps[list(maps)[-1]])(images)[0].numpy()
    kernel = model.get_layer("predictions").kernel.numpy()
    expected = np.maximum(np.einsum("hwk,kc->chw", features, kernel), 0)[[3, 1]]
    expected /= expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(explain.grad_cam(model, images, [3, 1]), expected, atol=1e-5)


@needs_channels_first
def test_channels_first_gives_the_same_map(rng):
    images = rng.uniform(0, 1, (1, 32, 32, 3)).astype("float32")
    model, transposed = channels_first_twin()
    np.testing.assert_allclose(explain.grad_cam(transposed, tf.transpose(images, (0, 3, 1, 2)), [0, 2]),
                               explain.grad_cam(model, images, [0, 2]), atol=1e-5)


def test_cli_writes_one_png_per_class_the_size_of_the_image(photos, small_resnet, tmp_path, capsys):
    output = tmp_path / "cams"
    assert cli.main(["explain", small_resnet, photos[0], "--top-k", "2", "--output-dir", str(output)]) == 0
    written = sorted(output.iterdir())
    assert len(written) == 2 and all(path.suffix == ".png" for path in written)
    with Image.open(photos[0]) as original:
        size = original.size
    for path in written:
        with Image.open(path) as picture:
            assert picture.size == size
            pixels = np.asarray(picture.convert("RGB"))
        assert pixels.std() > 0
    assert capsys.readouterr().out.count(" -> ") == 2


def test_bad_input_is_one_clear_line(photos, small_resnet, tmp_path, capsys):
    assert cli.main(["explain", "resnet8", photos[0], "--output-dir", str(tmp_path)]) == 2
    assert "--weights" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert cli.main(["explain", small_resnet, photos[0], "--output-dir", str(tmp_path / "file")]) == 2
    assert "is a file: pass a folder" in capsys.readouterr().err
    assert cli.main(["explain", small_resnet, str(tmp_path / "file"), "--output-dir", str(tmp_path)]) == 2
    assert "not a decodable image" in capsys.readouterr().err


def _same_stem(folder, rng):
    """``a/x.png`` and ``b/x.jpg``: different images whose names differ only in the extension."""
    paths = []
    for sub, extension in (("a", "png"), ("b", "jpg")):
        (folder / sub).mkdir()
        paths.append(str(folder / sub / f"x.{extension}"))
        Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def test_images_whose_names_differ_in_the_extension_keep_both_maps(small_resnet, tmp_path, rng, capsys):
    """`explain M a/x.png b/x.jpg` wrote both maps to x.gradcam-1-<class>.png: one was lost."""
    images = _same_stem(tmp_path, rng)
    output = tmp_path / "maps"
    assert cli.main(["explain", small_resnet, *images, "--top-k", "1", "--output-dir", str(output)]) == 0
    written = sorted(path.name for path in output.iterdir())
    assert len(written) == 2 and written[0].startswith("x.jpg.gradcam-1-") and written[1].startswith("x.png.gradcam-1-")
    assert capsys.readouterr().out.count(" -> ") == 2


def test_images_with_the_same_file_name_are_refused_before_any_work(small_resnet, tmp_path, rng, capsys):
    images = _same_stem(tmp_path, rng)
    same = tmp_path / "b" / "x.png"
    same.write_bytes(open(images[0], "rb").read())
    assert cli.main(["explain", small_resnet, images[0], str(same), "--output-dir", str(tmp_path / "maps")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "have the same file name" in err and str(same) in err
    assert not (tmp_path / "maps").exists()


def test_existing_maps_are_replaced_only_with_overwrite(small_resnet, tmp_path, rng, capsys):
    image = _same_stem(tmp_path, rng)[0]
    output = tmp_path / "maps"
    command = ["explain", small_resnet, image, "--output-dir", str(output)]
    assert cli.main([*command, "--top-k", "2"]) == 0
    before = {path: path.read_bytes() for path in output.iterdir()}
    (output / "other.png.gradcam-1-0.png").write_bytes(b"another image's map")
    capsys.readouterr()
    assert cli.main([*command, "--top-k", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err and "x.png.gradcam-1-" in err
    assert {path: path.read_bytes() for path in before} == before
    # With --overwrite the image's maps are replaced: the rank-2 map of the first run goes too.
    assert cli.main([*command, "--top-k", "1", "--overwrite"]) == 0
    assert sorted(path.name for path in output.iterdir()) == ["other.png.gradcam-1-0.png",
                                                              min(path.name for path in before)]


def test_maps_of_a_centre_crop_cover_its_window_only():
    maps = np.ones((2, 4, 4), "float32")
    placed = explain.in_image(maps, (100, 300), {"method": "center_crop", "resize": 73, "size": 64})
    window = round(64 * 100 / 73)  # the crop's side in the image's pixels
    left = (300 - window) // 2
    assert placed.shape == (2, 100, 300) and placed[:, :, :left].max() == 0 and placed[:, :, left + window:].max() == 0
    assert placed[:, 50, 150].min() == 1.0
    np.testing.assert_allclose(explain.in_image(maps, (100, 300), {"method": "resize", "size": 64}), 1.0)
