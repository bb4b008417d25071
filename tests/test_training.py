"""The training recipe: it learns, logs to TensorBoard, saves what loads, resumes exactly, and fails clearly."""

import json
import os

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from keras_resnet import data
from keras_resnet import cli
from keras_resnet.training import TrainConfig, build_model, train
from keras_resnet.training.distribute import global_batch_size
from keras_resnet.training.schedule import RECIPES, step_schedule

QUICK = ["--dataset", "digits", "--model", "resnet8", "--batch-size", "64", "--verbose", "0"]


def _tags(folder):
    accumulator = event_accumulator.EventAccumulator(str(folder))
    accumulator.Reload()
    return set(accumulator.Tags()["tensors"])


def test_short_digits_run_learns_logs_and_saves(tmp_path):
    summary = train(TrainConfig(model="resnet8", dataset="digits", epochs=3, batch_size=64, output_dir=str(tmp_path),
                                verbose=0))
    assert summary["test_accuracy"] > 0.5  # chance is 0.1
    assert summary["best_test_accuracy"] >= summary["test_accuracy"] - 1e-6
    saved = json.loads((tmp_path / "summary.json").read_text())
    for key in ("test_accuracy", "best_test_accuracy", "epochs", "images_per_second"):
        assert saved[key] == pytest.approx(summary[key])
    assert saved["epochs"] == 3 and saved["images_per_second"] > 0
    assert {"epoch_loss", "epoch_top1_error", "epoch_learning_rate",
            "augmented_training_images"} <= _tags(tmp_path / "logs" / "train")
    assert {"epoch_loss", "epoch_top1_error"} <= _tags(tmp_path / "logs" / "validation")
    assert "_hparams_/session_start_info" in _tags(tmp_path / "logs")
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    images, labels = next(iter(data.eval_dataset(data.load("digits"), 360)))
    accuracy = np.mean(np.argmax(model.predict(images, verbose=0), -1) == labels.numpy())
    assert accuracy == pytest.approx(summary["test_accuracy"], abs=1e-6)
    preprocessing = json.loads((tmp_path / "preprocessing.json").read_text())
    assert np.shape(preprocessing["mean"]) == (32, 32, 3) and preprocessing["class_names"][9] == "9"
    assert (tmp_path / "checkpoints" / "best.keras").exists() and (tmp_path / "history.csv").exists()


def test_model_subtracts_the_training_mean():
    source = data.load("digits")
    model = build_model("resnet8", source)
    images, _ = next(iter(source.train.batch(source.num_train)))
    centred = keras.Model(model.input, model.get_layer("mean_subtraction").output)(np.asarray(images, "float32"))
    assert np.abs(np.mean(keras.ops.convert_to_numpy(centred), axis=0)).max() < 1e-4
    assert model.count_params() == keras.Model(model.input, model.output).count_params()


def test_paper_schedule_with_warmup():
    """[He16] Sec. 4.2: 0.01 for 400 iterations (ResNet-110), 0.1, /10 at 32k and 48k of 64k."""
    schedule = step_schedule(RECIPES["cifar"], 0.1, 64_000, warmup=True)
    lr = {step: float(schedule(step)) for step in (0, 400, 401, 32_000, 32_001, 48_001, 63_999)}
    assert lr == pytest.approx({0: 0.01, 400: 0.01, 401: 0.1, 32_000: 0.1, 32_001: 0.01, 48_001: 0.001,
                                63_999: 0.001})
    short = step_schedule(RECIPES["cifar"], 0.1, 160)  # a 160-step run drops at steps 80 and 120
    assert [float(short(s)) for s in (80, 81, 121)] == pytest.approx([0.1, 0.01, 0.001])
    warm = step_schedule(RECIPES["cifar"], 0.1, 160, warmup=True)  # warm-up: 400 steps, at most a tenth
    assert [float(warm(s)) for s in (16, 17, 80, 81)] == pytest.approx([0.01, 0.1, 0.1, 0.01])


def test_global_batch_rule():
    class TwoReplicas:
        num_replicas_in_sync = 2

    assert global_batch_size(TwoReplicas()) == 128
    assert global_batch_size(TwoReplicas(), batch_per_replica=64) == 128
    with pytest.raises(ValueError, match=r"--batch-size 127 is the global batch.*multiple of the 2 replicas.*126"):
        global_batch_size(TwoReplicas(), batch_size=127)


def _weights(path):
    return [keras.ops.convert_to_numpy(w) for w in keras.saving.load_model(path, safe_mode=True).weights]


def test_nan_loss_stops_clearly_and_keeps_the_last_good_state(tmp_path, capsys):
    assert cli.main(["train", *QUICK, "--epochs", "1", "--steps-per-epoch", "3", "--output-dir", str(tmp_path)]) == 0
    good = _weights(tmp_path / "checkpoints" / "last.keras")
    code = cli.main(["train", *QUICK, "--epochs", "2", "--steps-per-epoch", "3", "--lr", "1e30",
                     "--output-dir", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "training loss became nan at epoch 2" in err.lower() and "end of epoch 1" in err and "--lr" in err
    for kept, before in zip(_weights(tmp_path / "checkpoints" / "last.keras"), good):
        np.testing.assert_array_equal(kept, before)
    assert json.loads((tmp_path / "backup" / "state.json").read_text())["epoch"] == 1


@pytest.mark.parametrize("epochs_before", [0, 1])
def test_an_error_mid_epoch_starts_a_line_of_its_own(tmp_path, capfd, epochs_before):
    """Keras' progress bar rewrites its line with a carriage return after each batch and ends it only at the
    epoch's end (to a file too): a run that stops mid-epoch must end that line, or the error continues it. Both
    streams go to one file here, as in ``keras-resnet train ... > log 2>&1``."""
    if epochs_before:
        assert cli.main(["train", *QUICK, "--epochs", "1", "--steps-per-epoch", "3", "--output-dir",
                         str(tmp_path)]) == 0
    code = cli.main(["train", *QUICK, "--epochs", "2", "--steps-per-epoch", "3", "--lr", "1e30", "--verbose", "1",
                     "--output-dir", str(tmp_path)])
    assert code == 1
    out, err = capfd.readouterr()
    assert "\r" in out and "step" in out.splitlines()[-1]  # the bar printed, and its line was ended
    assert out.endswith("\n") and err.startswith("keras-resnet train: error: The training loss became nan")
    if not epochs_before:
        assert "No epoch had finished, so no weights were saved" in err


def test_auto_verbosity_writes_one_line_per_epoch_to_a_log_file(tmp_path, capfd):
    """Keras draws its progress bar with carriage returns on any POSIX stdout, so a log file would get every redraw;
    ``--verbose auto`` (the default) writes one line per epoch there, and keeps the bar on terminals and notebooks."""
    argv = [arg for arg in QUICK if arg not in ("--verbose", "0")]
    assert cli.main(["train", *argv, "--epochs", "2", "--steps-per-epoch", "3", "--output-dir", str(tmp_path)]) == 0
    out = capfd.readouterr().out
    assert "\r" not in out and sum(line.startswith("3/3 - ") for line in out.splitlines()) == 2, out


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "cifar10", "--data-dir", "/nonexistent/cifar"], r"does not exist.*tfds build cifar10"),
    (["--dataset", "digits", "--model", "resnt20"], r"Unknown architecture 'resnt20'.*'resnet20'"),
    (["--dataset", "digits", "--model", "resnet21"], r"6n\+2.*got 21"),
    (["--dataset", "digits", "--shortcut", "D"], r"shortcut must be 'A', 'B' or 'C'"),
])
def test_bad_input_is_one_clear_line(argv, message, tmp_path, capsys):
    assert cli.main(["train", *argv, "--output-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-resnet train: error:") and "Traceback" not in err
    assert __import__("re").search(message, err)


def test_unknown_dataset_and_unwritable_output_dir(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--dataset", "mnist"])
    assert "invalid choice: 'mnist'" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnist'"):
        train(TrainConfig(dataset="mnist", output_dir=str(tmp_path)))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["train", *QUICK, "--output-dir", str(blocker / "run")]) == 2
    assert "Cannot write to" in capsys.readouterr().err


def _tiny_compiled_model():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8)(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    return model


class _HalveLearningRate(keras.callbacks.Callback):
    """Changes the optimizer state between the checkpoints and the backup, as the plateau schedule does."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.optimizer.learning_rate.assign(self.model.optimizer.learning_rate * 0.5)


@pytest.mark.parametrize("change_between", [False, True])
def test_an_epoch_end_saves_the_model_once_and_the_backup_restores_its_exact_state(tmp_path, monkeypatch,
                                                                                   change_between):
    """last.keras, best.keras and the backup of one epoch's end are one Keras save and copies of it, unless a
    callback changed the state in between (then the backup is saved anew); the backup restores weights and
    optimizer state bitwise."""
    from keras_resnet.training import callbacks as callbacks_lib

    saves = []
    original_save = keras.Model.save
    monkeypatch.setattr(keras.Model, "save", lambda self, path, *a, **k: saves.append(path) or
                        original_save(self, path, *a, **k))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32)
    model = _tiny_compiled_model()
    callbacks = [callbacks_lib.Checkpoint(str(tmp_path / "last.keras")),
                 callbacks_lib.Checkpoint(str(tmp_path / "best.keras"), monitor="loss")]
    callbacks += [_HalveLearningRate()] if change_between else []
    callbacks.append(callbacks_lib.RunBackup(str(tmp_path / "backup")))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks, shuffle=False)

    assert len(saves) == 2  # one Keras save per epoch: best.keras (and the backup) are copies
    backup = sorted(os.listdir(tmp_path / "backup"))
    assert backup == (["epoch-00002.weights.h5", "state.json"] if change_between else
                      ["epoch-00002.keras", "state.json"])
    restored = _tiny_compiled_model()
    assert callbacks_lib.restore_backup(restored, str(tmp_path / "backup"))["epoch"] == 2
    for mine, theirs in [(model.variables, restored.variables),
                         (model.optimizer.variables, restored.optimizer.variables)]:
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
