"""The run folder is a small database: reruns change nothing, two runs never mix, bad values write nothing, best
checkpoints and plateau counters survive resumes."""

import json
import os
import shutil
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from datasets import write_jpeg_tree
from keras_resnet import cli
from keras_resnet.support import files
from keras_resnet.applications import registry
from keras_resnet.training import TrainConfig
from keras_resnet.training import callbacks as callbacks_lib
from keras_resnet.training.plan import resolve
from keras_resnet.training.run_folder import (IDENTITY, TRAINING, RunFolder, check_finished, check_identity,
                                              differences)

QUICK = ["train", "--dataset", "digits", "--model", "resnet8", "--batch-size", "64", "--steps-per-epoch", "3",
         "--verbose", "0"]


def test_a_finished_run_rerun_changes_nothing_and_prints_its_summary(tmp_path, capsys):
    folder = tmp_path / "R"
    assert cli.main([*QUICK, "--epochs", "2", "--output-dir", str(folder)]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    snapshot = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file() and path.name != ".lock"}
    assert cli.main([*QUICK, "--epochs", "2", "--output-dir", str(folder)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == first  # the first run's summary
    now = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file() and path.name != ".lock"}
    assert now == snapshot  # byte-identical: model.keras, summary.json, checkpoints, logs, ...


def test_more_epochs_continue_from_the_backup(tmp_path, capsys):
    folder = tmp_path / "R"
    assert cli.main([*QUICK, "--epochs", "1", "--output-dir", str(folder)]) == 0
    assert "1 epoch in" in capsys.readouterr().out
    first = json.loads((folder / "backup" / "state.json").read_text())["train_seconds"]
    assert cli.main([*QUICK, "--epochs", "2", "--output-dir", str(folder)]) == 0
    assert "resuming after epoch 1" in capsys.readouterr().out
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["epochs"] == 2
    # The time of both processes' epochs, not only the last process's.
    both = json.loads((folder / "backup" / "state.json").read_text())["train_seconds"]
    assert 0 < first < both <= summary["train_seconds"]
    assert [row["epoch"] for row in callbacks_lib.read_history(folder / "history.csv")] == ["0", "1"]
    assert cli.main([*QUICK, "--epochs", "1", "--output-dir", str(folder)]) == 2
    assert "holds a finished run (epochs 2 -> 1)" in capsys.readouterr().err


def test_history_holds_exactly_the_epochs_whose_weights_were_kept(tmp_path, capsys):
    """A run killed after writing its third epoch's history row, before that epoch's backup, resumed with --epochs 2:
    the row of the lost third epoch goes, so history.csv, summary.json and model.keras speak of the same 2 epochs."""
    folder = tmp_path / "R"
    runner = os.path.join(os.path.dirname(__file__), "fault_runner.py")
    killed = subprocess.run([sys.executable, runner, "replace:state.json:3", "--", *QUICK, "--epochs", "3",
                             "--output-dir", str(folder)], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert json.loads((folder / "backup" / "state.json").read_text())["epoch"] == 2
    assert len(callbacks_lib.read_history(folder / "history.csv")) == 3  # the third epoch's row, not its weights
    assert cli.main([*QUICK, "--epochs", "2", "--output-dir", str(folder)]) == 0
    assert "resuming after epoch 2" in capsys.readouterr().out
    assert json.loads((folder / "summary.json").read_text())["epochs"] == 2
    assert [row["epoch"] for row in callbacks_lib.read_history(folder / "history.csv")] == ["0", "1"]
    assert (folder / "history.csv").read_text().count("\n") == 3  # the header and two rows


def test_a_rerun_of_another_network_is_refused_before_anything_is_built(tmp_path, capsys):
    """The folder's run.json against the command's resolved plan: refused in one line, nothing written (no training
    here: the identity check itself is unit-tested below)."""
    folder = tmp_path / "R"
    folder.mkdir()
    recorded = resolve(TrainConfig(model="resnet8", dataset="digits", batch_size=64, steps_per_epoch=3)).settings
    files.write_json(folder / "run.json", {"settings": recorded, "epochs": 1, "changes": []})
    def contents():  # the lock files aside: they name the last holder
        names = sorted(name for name in os.listdir(folder) if not name.startswith(".lock"))
        return names, (folder / "run.json").read_bytes()

    before = contents()
    assert cli.main([*QUICK, "--epochs", "1", "--model", "resnet14", "--output-dir", str(folder)]) == 2
    assert "holds another run (model 'resnet8' -> 'resnet14'):" in capsys.readouterr().err
    assert cli.main([*QUICK, "--epochs", "1", "--width", "2", "--output-dir", str(folder)]) == 2
    assert "holds another run (width 1 -> 2):" in capsys.readouterr().err
    assert contents() == before


def folder_run(data, epochs, run):
    return ["train", "--dataset", "folder", "--data-dir", str(data), "--model", "resnet8", "--image-size", "16",
            "--batch-size", "4", "--epochs", str(epochs), "--verbose", "0", "--output-dir", str(run)]


def test_another_image_folder_is_refused_and_a_failed_attempt_keeps_the_record(tmp_path, capsys, monkeypatch):
    """A run on one folder of images is not continued on another, and an attempt that fails before training starts
    leaves ``run.json`` as it was, so the run still resumes."""
    run = tmp_path / "R"
    write_jpeg_tree(tmp_path / "a", per_class=6, sizes=((20, 24),))
    write_jpeg_tree(tmp_path / "four", classes=("n01", "n02", "n03", "n04"), per_class=6, sizes=((20, 24),))
    assert cli.main(folder_run(tmp_path / "a" / "train", 1, run)) == 0
    record = (run / "run.json").read_bytes()
    assert cli.main(folder_run(tmp_path / "four" / "train", 2, run)) == 2
    assert "holds another run (classes: 1 added ('n04'); train_images 15 -> 20):" in capsys.readouterr().err
    assert (run / "run.json").read_bytes() == record

    def broken(self):
        raise RuntimeError("no model today")
    with monkeypatch.context() as patch:
        patch.setattr("keras_resnet.training.trainer.Run.build_model", broken)
        with pytest.raises(RuntimeError, match="no model today"):
            cli.main([*folder_run(tmp_path / "a" / "train", 3, run), "--lr", "0.01"])
    assert (run / "run.json").read_bytes() == record  # not "3 epochs, lr changed": nothing trained
    assert cli.main(folder_run(tmp_path / "a" / "train", 2, run)) == 0
    assert "resuming after epoch 1" in capsys.readouterr().out
    assert json.loads((run / "run.json").read_text())["epochs"] == 2


def folder_settings(data):
    """``run.json``'s settings of a resnet8 run on the folder of images ``data`` (resolved, nothing trained)."""
    return resolve(TrainConfig(model="resnet8", dataset="folder", data_dir=str(data), image_size=16, batch_size=4,
                               epochs=2)).settings


def test_other_image_folders_are_told_apart_by_their_data(tmp_path):
    """Other images, other classes, or the same classes and number of images in other files (renamed, or moved to
    another class, in the training or the validation split) are not the run's data; the same files in another place
    are."""
    original = write_jpeg_tree(tmp_path / "a", per_class=6, sizes=((20, 24),))
    write_jpeg_tree(tmp_path / "more", per_class=7, sizes=((20, 24),), seed=1)
    write_jpeg_tree(tmp_path / "four", classes=("n01", "n02", "n03", "n04"), per_class=6, sizes=((20, 24),))
    for name in ("renamed", "moved", "validation renamed", "copy"):
        shutil.copytree(original, tmp_path / name)
    os.rename(tmp_path / "renamed" / "train" / "n02" / "img0.JPEG", tmp_path / "renamed" / "train" / "n02" / "x.JPEG")
    os.rename(tmp_path / "moved" / "train" / "n01" / "img0.JPEG", tmp_path / "moved" / "train" / "n02" / "x.JPEG")
    os.rename(tmp_path / "moved" / "train" / "n02" / "img1.JPEG", tmp_path / "moved" / "train" / "n01" / "y.JPEG")
    os.rename(tmp_path / "validation renamed" / "val" / "n03" / "img2.JPEG",
              tmp_path / "validation renamed" / "val" / "n03" / "x.JPEG")
    recorded = folder_settings(original / "train")
    with pytest.raises(ValueError, match=r"^The run folder 'R' holds another run \(train_images 15 -> 18\): rerun"):
        check_identity(recorded, folder_settings(tmp_path / "more" / "train"), "R")
    with pytest.raises(ValueError, match=r"holds another run \(classes: 1 added \('n04'\); train_images 15 -> 20\)"):
        check_identity(recorded, folder_settings(tmp_path / "four" / "train"), "R")
    recorded = folder_settings(original)
    for other in ("renamed", "moved", "validation renamed"):
        with pytest.raises(ValueError, match=r"holds another run \(other image files: names or classes differ"):
            check_identity(recorded, folder_settings(tmp_path / other), "R")
    check_identity(recorded, folder_settings(tmp_path / "copy"), "R")


def test_two_runs_started_together_one_is_refused_at_once(tmp_path):
    folder = tmp_path / "R"
    # Epochs enough that the first run still trains when the second has started (a few seconds of imports).
    argv = [sys.executable, "-m", "keras_resnet.cli", *QUICK, "--epochs", "40", "--output-dir", str(folder)]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and first.poll() is None:  # the first run holds the lock once it names itself
        if (folder / ".lock").exists() and f"process {first.pid}" in (folder / ".lock").read_text():
            break
        time.sleep(0.05)
    second = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    assert second.returncode == 2
    message = [line for line in second.stderr.splitlines() if line.startswith("keras-resnet")]
    assert len(message) == 1 and f"in use by process {first.pid}" in message[0]
    assert "Traceback" not in second.stderr
    assert sum(line.startswith("epoch") for line in (folder / "history.csv").read_text().splitlines()) == 1
    assert subprocess.run(argv, capture_output=True, timeout=120).returncode == 0  # the folder resumes afterwards


def test_a_lock_is_released_when_its_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from keras_resnet.support.files import FolderLock; "
                               f"lock = FolderLock({str(tmp_path)!r}); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(files.FolderInUseError, match=rf"in use by process {holder.pid}"):
        files.FolderLock(tmp_path)
    holder.kill()
    holder.wait()
    files.FolderLock(tmp_path).release()  # a stale lock file never blocks


def test_stale_temporaries_are_removed_except_in_another_holders_folder(tmp_path):
    """A resumed run removes what killed writers left in its folder, but a multi-worker run's worker folders (inside
    the chief's, each with its own lock) may hold a write in flight: removing that file made the worker's rename
    fail (``FileNotFoundError`` on ``run.json``, about one run in three on 2 cores)."""
    (tmp_path / "backup").mkdir()
    (tmp_path / "workers" / "worker-1").mkdir(parents=True)
    stale = [tmp_path / f"{files.TEMP_PREFIX}run.json", tmp_path / "backup" / f"{files.TEMP_PREFIX}weights.h5"]
    in_flight = tmp_path / "workers" / "worker-1" / f"{files.TEMP_PREFIX}run.json"
    kept = [tmp_path / "run.json", tmp_path / "workers" / "worker-1" / files.LOCK_FILE, in_flight]
    for path in stale + kept:
        path.write_text("{}")
    files.remove_stale_temporaries(tmp_path)
    assert [path.exists() for path in stale] == [False, False]
    assert all(path.exists() for path in kept)


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--batch-size", "0"], ["--lr", "0"], ["--image-size", "0"],
                                  ["--epochs", "-1"], ["--lr", "-0.1"], ["--steps-per-epoch", "-3"],
                                  ["--width", "0"], ["--weight-decay", "-1"], ["--lr", "nan"]])
def test_zero_and_negative_values_are_refused_and_write_nothing(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--dataset", "digits", *argv, "--output-dir", str(tmp_path / "R")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert argv[0] in err and len(err.strip().splitlines()) == 1, err  # one line, not argparse's whole usage
    assert not (tmp_path / "R").exists()


@pytest.mark.parametrize("field, value", [("epochs", 0), ("batch_size", 0), ("learning_rate", 0.0),
                                          ("image_size", 0), ("epochs", -1), ("learning_rate", -0.1),
                                          ("steps_per_epoch", -3), ("epochs", True)])
def test_the_library_refuses_them_too(field, value):
    with pytest.raises(ValueError, match=rf"--{field.replace('_', '-')} must be positive"):
        TrainConfig(dataset="digits", **{field: value})


def test_a_run_that_cannot_start_leaves_no_folder(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "missing"),
                     "--output-dir", str(tmp_path / "R")]) == 2
    assert not (tmp_path / "R").exists()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("not a run")
    assert cli.main([*QUICK, "--output-dir", str(tmp_path / "notes")]) == 2
    assert "is not empty and holds no keras-resnet run" in capsys.readouterr().err
    assert os.listdir(tmp_path / "notes") == ["mine.txt"]


def test_best_checkpoint_keeps_the_best_over_the_resumed_run(tmp_path):
    """After a resume, an epoch worse than an earlier one never replaces best.keras."""
    from keras_resnet import data
    from keras_resnet.training.trainer import Run

    folder = tmp_path / "R"
    folder.mkdir()
    (folder / "run.json").write_text("{}")
    (folder / "history.csv").write_text("epoch,loss,val_top1_error\n0,1.0,0.10\n1,1.0,0.30\n")
    config = TrainConfig(model="resnet8", dataset="digits", batch_size=64, epochs=4, output_dir=str(folder))
    with Run(config, source=data.load("digits")) as run:
        best = [c for c in run.callbacks(start_epoch=2)
                if isinstance(c, callbacks_lib.Checkpoint) and c.monitor][0]
        assert best.best == pytest.approx(0.10)
        best.set_model(run.build_model())
        best.on_epoch_end(2, {"val_top1_error": 0.2})
        assert not (folder / "checkpoints" / "best.keras").exists()
        best.on_epoch_end(3, {"val_top1_error": 0.05})
        assert (folder / "checkpoints" / "best.keras").exists()


def test_plateau_counters_resume(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    path = tmp_path / "plateau.json"
    values = [0.5, 0.4, 0.45, 0.46, 0.47, 0.48]

    def plateau(start):
        callback = callbacks_lib.ResumablePlateau(path, start, monitor="val", mode="min", patience=2, factor=0.5)
        callback.set_model(model)
        callback.on_train_begin()
        return callback

    whole = plateau(0)
    states = []
    for epoch, value in enumerate(values):
        whole.on_epoch_end(epoch, {"val": value})
        states.append((whole.best, whole.wait, whole.cooldown_counter))
    assert states[3][1] == 0 and states[2][1] == 1  # it reduced the rate after epoch 3
    resumed = plateau(3)  # a run resumed after 3 epochs continues with the counters of epoch 3
    assert (resumed.best, resumed.wait, resumed.cooldown_counter) == states[2]
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.025)  # 2 cuts


def test_histograms_leave_the_model_alone(tmp_path):
    from keras_resnet import data
    from keras_resnet.training import build_model

    source = data.load("digits")
    model = build_model("resnet8", source)
    images, labels = next(iter(data.train_dataset(source, 16, 1, steps=1)))
    extras = callbacks_lib.TensorBoardExtras(str(tmp_path), images[:4], {}, (images, labels))
    extras.set_model(model)
    before = [np.array(v) for v in model.non_trainable_variables]
    extras.on_epoch_end(0)
    for old, new in zip(before, model.non_trainable_variables):
        np.testing.assert_array_equal(old, np.array(new))  # BN moving statistics untouched
    assert any(path.name.startswith("events") for path in (tmp_path / "train").iterdir())


# The run folder's identity check, unit-tested on settings dicts: nothing is trained or even built.
RECORDED = {"model": "resnet8", "spec": registry.spec("resnet8").to_config(), "dataset": "folder",
            "classes": ["cat", "dog", "fox"], "train_images": 15, "files": "3f2a", "image_size": 16,
            "global_batch_size": 4, "steps_per_epoch": 3, "learning_rate": 0.003125, "momentum": 0.9,
            "weight_decay": 1e-4, "schedule": "step", "warmup": False, "sync_bn": False, "seed": 0, "replicas": 1,
            "precision": "float32", "jit_compile": False, "weights": None, "freeze": "none"}


def now(**changes):
    return {**RECORDED, **changes}


def test_a_plans_settings_are_what_the_identity_check_reads():
    settings = resolve(TrainConfig(model="resnet8", dataset="digits", batch_size=64, steps_per_epoch=3)).settings
    assert set(settings) == set(IDENTITY + TRAINING) == set(RECORDED)
    check_identity(settings, dict(settings), "R")


@pytest.mark.parametrize("changes, said", [
    ({"model": "resnet14", "spec": registry.spec("resnet14").to_config()}, "model 'resnet8' -> 'resnet14'"),
    ({"spec": registry.spec("resnet8").replace(width=2).to_config()}, "width 1 -> 2"),
    ({"spec": registry.spec("resnet8").replace(shortcut="B", bn_momentum=0.99).to_config()},
     "shortcut 'A' -> 'B'; bn_momentum 0.9 -> 0.99"),
    ({"dataset": "digits"}, "dataset 'folder' -> 'digits'"),
    ({"classes": ["cat", "dog", "fox", "owl"]}, "classes: 1 added ('owl')"),
    ({"classes": ["cat", "dog"]}, "classes: 1 removed ('fox')"),
    ({"classes": ["cat", "dog", "a", "b", "c", "d", "e", "f"]},
     "classes: 6 added ('a', 'b', 'c', 'd', 'e', ...); 1 removed ('fox')"),
    ({"classes": ["dog", "cat", "fox"]}, "classes: the same 3 names in another order"),
    ({"train_images": 18, "files": "77aa"}, "train_images 15 -> 18"),  # the count says it: not the files too
    ({"files": "77aa"}, "other image files: names or classes differ in the training or validation split; files "
                        "renamed or moved, or another split by --seed or --val-fraction"),
    ({"image_size": 32}, "image_size 16 -> 32"),
    ({"sync_bn": True}, "sync_bn False -> True"),
    ({"weights": "imagenet"}, "weights None -> 'imagenet'"),
    ({"freeze": "all"}, "freeze 'none' -> 'all'"),
    ({"dataset": "digits", "image_size": 32}, "dataset 'folder' -> 'digits'; image_size 16 -> 32"),
])
def test_another_network_or_other_data_is_refused_in_one_line(changes, said):
    with pytest.raises(ValueError) as error:
        check_identity(RECORDED, now(**changes), "runs/R")
    assert str(error.value) == (f"The run folder 'runs/R' holds another run ({said}): rerun with the same options to "
                                "resume it, or choose another --output-dir.")


@pytest.mark.parametrize("recorded", [{}, RECORDED, {"model": "resnet8", "dataset": "folder"}],
                         ids=["new folder", "same run", "older record"])
def test_the_same_run_new_folders_and_older_records_pass(recorded):
    check_identity(recorded, now(), "R")


def test_training_settings_may_change_when_resuming():
    changed = now(learning_rate=0.001, global_batch_size=8, seed=1, precision="mixed_bfloat16")
    check_identity(RECORDED, changed, "R")  # an interrupted run resumes with them
    assert differences(RECORDED, changed, TRAINING) == [
        "global_batch_size 4 -> 8", "learning_rate 0.003125 -> 0.001", "seed 0 -> 1",
        "precision 'float32' -> 'mixed_bfloat16'"]


def test_a_finished_run_is_returned_continued_or_refused():
    summary = {"epochs": 2}
    assert check_finished(None, 1, ["learning_rate 0.1 -> 0.01"], "R") is False  # nothing finished yet
    assert check_finished(summary, 2, [], "R") is True  # the same run: its summary, nothing trained
    assert check_finished(summary, 3, ["learning_rate 0.1 -> 0.01"], "R") is False  # more epochs continue it
    with pytest.raises(ValueError, match=r"^The run folder 'R' holds a finished run \(epochs 2 -> 1\): rerun it with "
                                         r"the same options \(more --epochs continue it\), or choose another "
                                         r"--output-dir\.$"):
        check_finished(summary, 1, [], "R")
    with pytest.raises(ValueError, match=r"holds a finished run \(learning_rate 0\.1 -> 0\.01\)"):
        check_finished(summary, 2, ["learning_rate 0.1 -> 0.01"], "R")


def test_a_resume_with_other_settings_is_recorded_when_training_starts(tmp_path, capsys):
    """The folder object on its own: other training settings are printed and, once ``record()`` is called (when
    training starts), appended to run.json's changes with the epoch they apply after."""
    folder = tmp_path / "R"
    (folder / "backup").mkdir(parents=True)
    (folder / "backup" / "state.json").write_text(json.dumps({"epoch": 3}))
    files.write_json(folder / "run.json", {"settings": RECORDED, "epochs": 5, "changes": []})
    run_folder = RunFolder(str(folder))
    try:
        assert run_folder.open(now(learning_rate=0.001), 5) is None
        assert f"Resuming {folder} with other settings: learning_rate 0.003125 -> 0.001" in capsys.readouterr().out
        assert json.loads((folder / "run.json").read_text())["settings"] == RECORDED  # not before training starts
        run_folder.record()
        record = json.loads((folder / "run.json").read_text())
        assert record["changes"] == [{"after_epoch": 3, "changed": ["learning_rate 0.003125 -> 0.001"]}]
        assert record["settings"]["learning_rate"] == 0.001
        with pytest.raises(files.FolderInUseError):
            RunFolder(str(folder))
    finally:
        run_folder.close()
    files.write_json(folder / "summary.json", {"epochs": 5})
    with RunFolder(str(folder)) as again:
        assert again.open(now(learning_rate=0.001), 5) == {"epochs": 5}
