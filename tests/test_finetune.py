"""One's own image folders and fine-tuning: the folder source, frozen layers that stay bit-identical (BatchNormalization
included), the new classifier, and the acceptance runs of issue 12 on the scikit-learn digits written as JPEGs."""

import io
import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_resnet import data
from keras_resnet import cli
from keras_resnet.models import heads
from keras_resnet.applications import registry
from keras_resnet.weights import records as weight_records
from keras_resnet.support.choices import parse_freeze
from keras_resnet.data import folder
from keras_resnet.training import TrainConfig, train
from keras_resnet.training import finetune, two_phase
from keras_resnet.training.schedule import cosine_schedule
from keras_resnet.training.trainer import Run, preprocessing_record

QUICK = dict(model="resnet8", batch_size=64, verbose=0, seed=0)


def write_image(path, image, format):
    """Writes uint8 ``image`` (H, W, 3) as ``format`` (JPEG, PNG, BMP, or GIF with a second frame)."""
    buffer = io.BytesIO()
    picture = Image.fromarray(image)
    if format == "GIF":
        picture.save(buffer, "GIF", save_all=True, append_images=[Image.fromarray(255 - image)])
    else:
        picture.save(buffer, format, **({"quality": 100} if format == "JPEG" else {}))
    with open(path, "wb") as file:
        file.write(buffer.getvalue())


def write_digits_tree(root):
    """The scikit-learn digits as the digits loader serves them (32x32 RGB, its stratified 1,437 / 360 split) written
    as JPEG files in ``root/train/<digit>/`` and ``root/val/<digit>/``."""
    source = data.load("digits")
    for split, dataset in (("train", source.train), ("val", source.test)):
        for index, (image, label) in enumerate(dataset.as_numpy_iterator()):
            os.makedirs(os.path.join(root, split, str(label)), exist_ok=True)
            write_image(os.path.join(root, split, str(label), f"{index:04d}.jpg"), image, "JPEG")
    return str(root)


def write_mixed_tree(root, per_class=5, seed=0):
    """``root/<class>/`` of images of several sizes in every supported format, plus a file that is not an image."""
    rng = np.random.default_rng(seed)
    formats = ("JPEG", "PNG", "BMP", "GIF")
    for label, name in enumerate(("cat", "dog", "fox")):
        os.makedirs(os.path.join(root, name))
        for index in range(per_class):
            image = rng.integers(0, 256, (40 + 7 * index, 50, 3), dtype=np.uint8)
            image[..., label] = 255
            format = formats[index % len(formats)]
            write_image(os.path.join(root, name, f"{index}.{format.lower()}"), image, format)
    (root / "cat" / "notes.txt").write_text("not an image")
    return str(root)


def test_folder_without_val_is_split_stratified_and_reads_every_format(tmp_path):
    root = write_mixed_tree(tmp_path / "pets")
    source = folder.load(root, image_size=32, val_fraction=0.4, seed=3)
    assert source.class_names == ["cat", "dog", "fox"]
    assert (source.num_train, source.num_test) == (9, 6)  # 2 of the 5 images of every class held out
    images, labels = zip(*source.test.as_numpy_iterator())
    assert sorted(labels) == [0, 0, 1, 1, 2, 2]
    assert all(image.shape == (32, 32, 3) and image.dtype == np.uint8 for image in images)
    for image, label in zip(images, labels):  # the class colour survives every format (GIF: its first frame)
        assert image[..., label].mean() > 200
    assert source.mean.shape == (32, 32, 3) and source.augmentation == "cifar"
    again = folder.load(root, image_size=32, val_fraction=0.4, seed=3)
    assert [label for _, label in again.test.as_numpy_iterator()] == list(labels)
    # Export and prediction transform a file as the run's evaluation saw it (antialiased resize, 8-bit levels).
    val_paths = folder._splits(root, 0.4, 3)[2]
    transform = data.eval_transform(source)
    for path, image in zip(val_paths, images):
        np.testing.assert_array_equal(data.apply_eval_transform(tf.io.read_file(path), transform).numpy(), image)
    large = folder.load(root, image_size=96, val_fraction=0.4)
    assert large.augmentation == "imagenet" and large.encoded and large.mean.shape == (3,)
    views, _ = next(iter(data.train_dataset(large, 4, 1)))
    assert views.shape == (4, 96, 96, 3)


def test_folder_with_train_and_val_and_bad_folders(tmp_path):
    root = write_digits_tree(tmp_path / "digits")
    source = data.load("folder", root, image_size=32)
    assert (source.num_train, source.num_test, source.class_names) == (1437, 360, [str(d) for d in range(10)])
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(ValueError, match="at least two classes"):
        data.load("folder", str(tmp_path / "one"))
    with pytest.raises(ValueError, match="--data-dir"):
        data.load("folder", None)
    with pytest.raises(ValueError, match="--val-fraction"):
        TrainConfig(dataset="folder", val_fraction=1.0)


def test_tiny_folder_fits_the_batch_to_the_training_images(tmp_path, capsys):
    root = write_mixed_tree(tmp_path / "pets", per_class=3)
    with Run(TrainConfig(model="resnet8", dataset="folder", data_dir=root, output_dir=str(tmp_path / "run"))) as run:
        assert run.plan.source.image_size == 32  # a CIFAR network's input
        assert (run.plan.batch, run.plan.steps) == (6, 1)  # 2 of 3 images per class train; the paper's batch is 128
    assert "larger than the 6 training images of folder: training with batch 6" in capsys.readouterr().out


def test_freeze_modes_name_the_right_layers():
    model = registry.build("resnet8", classes=3, input_shape=(32, 32, 3))
    frozen = heads.freeze(model, "stages 1")
    assert "conv1_conv" in frozen and "conv2_block1_1_bn" in frozen
    assert not any(name.startswith(("conv3_", "conv4_")) or name == "predictions" for name in frozen)
    model = registry.build("resnet8", classes=3, input_shape=(32, 32, 3))
    heads.freeze(model, "all")
    assert [weight.path for weight in model.trainable_weights] == ["predictions/kernel", "predictions/bias"]
    for bad in ("some", "stages 0", "stages x", 3):
        with pytest.raises(ValueError, match="--freeze must be"):
            parse_freeze(bad)
    with pytest.raises(ValueError, match="has 3 stages"):
        heads.freeze(model, "stages 4")
    with pytest.raises(ValueError, match="pass --weights"):
        TrainConfig(freeze="all")


def test_frozen_batchnorm_runs_in_inference_mode(rng):
    """Keras 3: a BatchNormalization layer with trainable=False normalises with its moving statistics even when
    called with training=True, and leaves them alone."""
    layer = keras.layers.BatchNormalization(momentum=0.5)
    batch = rng.normal(3.0, 2.0, (16, 4)).astype("float32")
    layer(batch)
    layer.moving_mean.assign(np.full(4, 1.0, "float32"))
    layer.moving_variance.assign(np.full(4, 4.0, "float32"))
    layer.trainable = False
    output = keras.ops.convert_to_numpy(layer(batch, training=True))
    np.testing.assert_allclose(output, (batch - 1.0) / np.sqrt(4.0 + layer.epsilon), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_mean), np.full(4, 1.0, "float32"))
    layer.trainable = True
    layer(batch, training=True)
    assert not np.allclose(keras.ops.convert_to_numpy(layer.moving_mean), 1.0)


def test_cosine_schedule_warms_up_then_decays():
    schedule = cosine_schedule(0.01, 100, warmup=True)
    lr = [float(schedule(step)) for step in (0, 5, 10, 55, 100)]
    assert lr == pytest.approx([0.0, 0.005, 0.01, 0.005, 0.0], abs=1e-6)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A short digits run of resnet8: its summary (``output_dir`` holds model.keras)."""
    return train(TrainConfig(dataset="digits", epochs=1, steps_per_epoch=3,
                             output_dir=str(tmp_path_factory.mktemp("pre") / "run"), **QUICK))


def test_fine_tuning_with_freeze_all_keeps_every_frozen_weight_bit_identical(tmp_path, pretrained):
    saved = keras.saving.load_model(os.path.join(pretrained["output_dir"], "model.keras"), safe_mode=True)
    root = write_mixed_tree(tmp_path / "pets", per_class=6)
    code = cli.main(["train", "--dataset", "folder", "--data-dir", root, "--model", "resnet8", "--epochs", "2",
                     "--weights", os.path.join(pretrained["output_dir"], "model.keras"), "--freeze", "all",
                     "--output-dir", str(tmp_path / "tuned"), "--verbose", "0"])
    assert code == 0
    tuned = keras.saving.load_model(tmp_path / "tuned" / "model.keras", safe_mode=True)
    assert tuned.output.shape[-1] == 3 and tuned.spec == saved.spec
    before = {weight.path: keras.ops.convert_to_numpy(weight) for weight in saved.weights}
    after = {weight.path: keras.ops.convert_to_numpy(weight) for weight in tuned.weights}
    frozen = [path for path in after if not path.startswith("predictions/")]
    assert len(frozen) == len(before) - 2 and any("moving_mean" in path for path in frozen)
    for path in frozen:  # kernels, BN scales and offsets, moving means and variances, the input mean
        np.testing.assert_array_equal(after[path], before[path], err_msg=path)
    assert after["predictions/kernel"].shape == (64, 3)
    with pytest.raises(ValueError, match="holds a resnet8 with other options|pass --model resnet8"):
        finetune.check_weights(os.path.join(pretrained["output_dir"], "model.keras"), registry.spec("resnet14"))
    with pytest.raises(ValueError, match="neither a weights tag"):
        finetune.check_weights("imagenet", registry.spec("resnet8"))


def features(model, images):
    """``model``'s pooled features of ``images`` (raw pixels in: its input normalisation included)."""
    return keras.ops.convert_to_numpy(keras.Model(model.input, model.get_layer("avg_pool").output)(images))


def test_fine_tuning_keeps_the_input_normalisation_of_the_source_model(tmp_path, pretrained, rng):
    """The source run's features were learned on digits centred by the digits' mean: the model fine-tuned on a
    folder of other colours subtracts that mean, not the folder's, and its preprocessing.json says so (issue 23)."""
    weights = os.path.join(pretrained["output_dir"], "model.keras")
    saved = keras.saving.load_model(weights, safe_mode=True)
    source = saved.get_layer("mean_subtraction").get_config()
    root = write_mixed_tree(tmp_path / "pets", per_class=6)
    assert abs(np.mean(folder.load(root, image_size=32).mean) - np.mean(source["mean"])) > 20  # another mean
    assert cli.main(["train", "--dataset", "folder", "--data-dir", root, "--model", "resnet8", "--epochs", "1",
                     "--weights", weights, "--freeze", "all", "--output-dir", str(tmp_path / "tuned"),
                     "--verbose", "0"]) == 0
    tuned = keras.saving.load_model(tmp_path / "tuned" / "model.keras", safe_mode=True)
    kept = tuned.get_layer("mean_subtraction").get_config()
    np.testing.assert_array_equal(np.asarray(kept["mean"]), np.asarray(source["mean"]))
    np.testing.assert_array_equal(np.asarray(kept["variance"]), np.asarray(source["variance"]))
    images = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(features(tuned, images), features(saved, images))  # frozen: the same features
    record = json.loads((tmp_path / "tuned" / "preprocessing.json").read_text())
    assert record["normalization_from"] == weights and record["scale"] == pytest.approx(1 / 255)
    np.testing.assert_array_equal(np.asarray(record["mean"]), np.asarray(source["mean"]))
    assert record["class_names"] == ["cat", "dog", "fox"]
    # At another input size, the per-pixel mean is resized to it.
    small = finetune.input_normalization(weights, tuned.spec, (16, 16, 3))
    assert np.shape(small["mean"]) == (16, 16, 3) and np.shape(small["variance"]) == (16, 16, 3)
    assert np.mean(small["mean"]) == pytest.approx(np.mean(source["mean"]), abs=0.5)


def test_a_converted_checkpoint_fine_tunes_with_the_architecture_it_records(tmp_path, rng, capsys):
    """keras-resnet convert, then train --weights on the converted file: the model takes the checkpoint's
    architecture (the CIFAR reference's BN epsilon 1e-5 and zero padding on both sides), its weights and its
    publisher's normalisation; the classifier is the folder's (issue 23)."""
    from torch_files import cifar_reference_state, save_legacy

    save_legacy(cifar_reference_state(20, rng), tmp_path / "r20.th", wrap=lambda state: {"state_dict": state})
    converted = str(tmp_path / "r20.keras")
    assert cli.main(["convert", str(tmp_path / "r20.th"), "--model", "resnet20", "--output", converted]) == 0
    original = keras.saving.load_model(converted, safe_mode=True)
    root = write_mixed_tree(tmp_path / "pets", per_class=3)
    train_args = ["train", "--dataset", "folder", "--data-dir", root, "--model", "resnet20", "--weights", converted,
                  "--freeze", "all", "--epochs", "1", "--verbose", "0"]
    assert cli.main([*train_args, "--output-dir", str(tmp_path / "tuned")]) == 0
    tuned = keras.saving.load_model(tmp_path / "tuned" / "model.keras", safe_mode=True)
    assert tuned.spec == original.spec and (tuned.spec.bn_epsilon, tuned.spec.shortcut_pad) == (1e-5, "both")
    assert tuned.output.shape[-1] == 3
    for layer in ("conv1_conv", "conv4_block3_2_conv", "conv4_block3_2_bn"):
        for ours, theirs in zip(tuned.get_layer(layer).weights, original.get_layer(layer).weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))
    # The reference's inputs were normalised with torchvision's mean and std: the model does that itself now.
    record = weight_records.find("resnet20", "cifar10")
    assert tuned.get_layer("preprocessing").get_config()["mean"] == pytest.approx(list(record.transform.mean))
    images = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    published = (images - np.asarray(record.transform.mean, "float32")) / np.asarray(record.transform.std, "float32")
    np.testing.assert_allclose(features(tuned, images), features(original, published), rtol=1e-5, atol=1e-5)
    preprocessing = json.loads((tmp_path / "tuned" / "preprocessing.json").read_text())
    assert preprocessing["std"] == pytest.approx(list(record.transform.std))
    assert preprocessing["normalization_from"] == converted
    capsys.readouterr()
    # Architecture options that contradict the file are refused, before anything is trained.
    assert cli.main([*train_args, "--shortcut", "B", "--output-dir", str(tmp_path / "other")]) == 2
    assert "with other options (shortcut 'A' (here 'B'))" in capsys.readouterr().err
    assert cli.main([*train_args[:6], "resnet32", *train_args[7:], "--output-dir", str(tmp_path / "other")]) == 2
    assert "holds a resnet20, not a resnet32: pass --model resnet20" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


@pytest.mark.slow  # two training phases
def test_two_phase_recipe_trains_the_head_then_everything(tmp_path, pretrained, capsys):
    import runpy

    recipe = runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "recipes", "finetune.py"))
    root = write_mixed_tree(tmp_path / "pets", per_class=6)
    weights = os.path.join(pretrained["output_dir"], "model.keras")
    argv = ["--data-dir", root, "--model", "resnet8", "--weights", weights, "--head-epochs", "1", "--epochs", "2",
            "--output-dir", str(tmp_path / "tuned"), "--verbose", "0"]
    assert recipe["main"](argv) == 0
    assert "head: test accuracy" in capsys.readouterr().out
    head = keras.saving.load_model(tmp_path / "tuned" / "head" / "model.keras", safe_mode=True)
    full = keras.saving.load_model(tmp_path / "tuned" / "full" / "model.keras", safe_mode=True)
    saved = keras.saving.load_model(weights, safe_mode=True)
    conv = {name: keras.ops.convert_to_numpy(model.get_layer("conv1_conv").kernel)
            for name, model in (("saved", saved), ("head", head), ("full", full))}
    np.testing.assert_array_equal(conv["head"], conv["saved"])  # phase 1: frozen
    assert not np.array_equal(conv["full"], conv["saved"])  # phase 2: trained
    run = json.loads((tmp_path / "tuned" / "full" / "run.json").read_text())["settings"]
    assert run["schedule"] == "cosine" and run["warmup"] and run["freeze"] == "none"
    assert recipe["main"](argv[:-2] + ["--weights", "imagenet"]) == 2  # resnet8 has no imagenet weights


@pytest.mark.slow
def test_digit_jpegs_in_a_folder_train_as_the_digits(tmp_path):
    """Acceptance (issue 12): the digits written as JPEG class folders train to the accuracy of --dataset digits."""
    root = write_digits_tree(tmp_path / "digits")
    reference = train(TrainConfig(dataset="digits", epochs=20, output_dir=str(tmp_path / "d"), **QUICK))
    mine = train(TrainConfig(dataset="folder", data_dir=root, flip=False, epochs=20, output_dir=str(tmp_path / "f"),
                             **QUICK))
    assert reference["test_accuracy"] > 0.9
    assert abs(mine["test_accuracy"] - reference["test_accuracy"]) <= 0.01


def test_bad_fine_tuning_options_are_one_clear_line(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "digits", "--freeze", "all", "--output-dir", str(tmp_path / "r")]) == 2
    assert "pass --weights too" in capsys.readouterr().err
    assert cli.main(["train", "--dataset", "digits", "--model", "resnet8", "--weights", str(tmp_path / "x.keras"),
                     "--output-dir", str(tmp_path / "r")]) == 2
    assert "--weights file not found" in capsys.readouterr().err


def test_k_shot_sets_are_stratified_and_nested():
    from keras_resnet.analysis.transfer import k_shot_indices

    labels = np.repeat(np.arange(5), 20)
    small, large = k_shot_indices(labels, 2, seed=1), k_shot_indices(labels, 5, seed=1)
    assert np.bincount(labels[small]).tolist() == [2] * 5 and np.bincount(labels[large]).tolist() == [5] * 5
    assert set(small) <= set(large)
    with pytest.raises(ValueError, match="k = 21"):
        k_shot_indices(labels, 21)


@pytest.mark.slow
def test_transfer_experiment_writes_a_table_and_a_plot(tmp_path):
    from keras_resnet.analysis import plot_transfer, run_transfer

    results = run_transfer(str(tmp_path), shots=(1, 5), pretrain_epochs=1, head_epochs=1, epochs=1)
    assert [(row["k"], row["train_images"]) for row in results["rows"]] == [(1, 5), (5, 25)]
    assert results["test_images"] == 180 and results["epochs"]["scratch"] == 2
    for row in results["rows"]:
        assert all(0.0 <= row[arm] <= 1.0 for arm in ("scratch", "head", "fine_tuned"))
    assert (tmp_path / "k5" / "finetune" / "full" / "model.keras").exists()
    path = plot_transfer(results, str(tmp_path / "transfer.png"))
    assert Image.open(path).size == (600, 400)


@pytest.mark.slow  # a pretraining and two fine-tunings
def test_recipe_sweep_measures_every_setting_and_the_command_names_the_best(tmp_path, capsys, monkeypatch):
    import keras_resnet.analysis as analysis
    from keras_resnet.analysis.transfer import recipe_sweep

    small_grid = {"head_epochs": (1,), "full_lr_factors": (0.1, 1.0), "full_epochs": (1,), "pretrain_epochs": 1}
    monkeypatch.setattr(analysis, "recipe_sweep", lambda output_dir, shots: recipe_sweep(output_dir, shots,
                                                                                          **small_grid))
    assert cli.main(["experiment", "recipe", "--shots", "1", "--output-dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "recipe.json").read_text())
    assert [(row["k"], row["full_lr_factor"]) for row in results["rows"]] == [(1, 0.1), (1, 1.0)]
    assert (tmp_path / "sweep" / "k1-h1-f0.1-e1" / "full" / "model.keras").exists()
    best = max(results["rows"], key=lambda row: row["fine_tuned"])
    assert results["best"]["mean_accuracy"] == best["fine_tuned"]
    assert "best on average: --head-epochs 1" in capsys.readouterr().out
    assert Image.open(tmp_path / "recipe.png").size == (500, 400)


def test_the_recipe_defaults_are_the_measured_best():
    """finetune's defaults are the best setting of the committed measurement (keras-resnet experiment recipe)."""
    from keras_resnet.analysis.transfer import best_setting

    measured = json.loads((Path(__file__).parents[1] / "docs" / "finetune-recipe.json").read_text())
    best = best_setting(measured)
    assert measured["best"] == best
    assert (two_phase.HEAD_EPOCHS, two_phase.FULL_LR_FACTOR, two_phase.FULL_EPOCHS) == (
        best["head_epochs"], best["full_lr_factor"], best["full_epochs"])
    assert {row["k"] for row in measured["rows"]} == {10, 50} and len(measured["rows"]) == 24  # the whole grid


def test_weights_tag_brings_its_architecture_normalisation_and_a_new_head(tmp_path, monkeypatch):
    """--weights cifar10 on resnet20: the reference layout, its normalisation in the model, the published features
    (a stand-in file here: nothing is downloaded) and a classifier for the folder's three classes."""
    from keras_resnet.weights import records as weight_records
    from keras_resnet.weights import pretrained as weights_lib
    from keras_resnet.applications.builder import ResNet

    record = weight_records.find("resnet20", "cifar10")
    donor = ResNet(record.spec, include_top=False, pooling="avg", input_shape=(32, 32, 3))
    for weight in donor.weights:
        weight.assign(np.random.default_rng(1).normal(size=weight.shape).astype("float32"))
    donor.save_weights(tmp_path / "published_notop.weights.h5")
    monkeypatch.setattr(weights_lib, "converted_weights", lambda record, include_top: str(
        tmp_path / "published_notop.weights.h5"))
    root = write_mixed_tree(tmp_path / "pets", per_class=3)
    config = TrainConfig(model="resnet20", dataset="folder", data_dir=root, weights="cifar10", freeze="stages 2",
                         output_dir=str(tmp_path / "run"))
    with Run(config) as run:
        assert run.plan.spec == record.spec  # option A with the reference's zero padding, BN epsilon 1e-5
        model = run.build_model()
    assert model.get_layer("preprocessing").get_config()["mean"] == pytest.approx(list(record.transform.mean))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("conv3_block3_2_conv").kernel),
                                  keras.ops.convert_to_numpy(donor.get_layer("conv3_block3_2_conv").kernel))
    assert model.output.shape[-1] == 3
    trainable = {weight.path.split("/")[0] for weight in model.trainable_weights}
    assert "predictions" in trainable and "conv4_block1_1_conv" in trainable
    assert not any(name.startswith(("conv1_", "conv2_", "conv3_")) for name in trainable)
    # Fine-tuned again from that model's file, on another folder: the published normalisation stays.
    model.save(tmp_path / "tuned.keras")
    other = write_mixed_tree(tmp_path / "other", per_class=3, seed=1)
    again = TrainConfig(model="resnet20", dataset="folder", data_dir=other, weights=str(tmp_path / "tuned.keras"),
                        output_dir=str(tmp_path / "again"))
    with Run(again) as run:
        assert run.plan.spec == record.spec
        rebuilt = run.build_model()
    layer = rebuilt.get_layer("preprocessing").get_config()
    assert (layer["mean"], layer["std"]) == (pytest.approx(list(record.transform.mean)),
                                             pytest.approx(list(record.transform.std)))
    assert preprocessing_record(run.plan.source, run.plan.normalization, again.weights)["std"] == pytest.approx(
        list(record.transform.std))
