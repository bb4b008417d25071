"""The ``keras-resnet`` console command."""

import pytest

from keras_resnet import cli


def test_summary_prints_parameters_and_flops(capsys):
    assert cli.main(["summary", "resnet20", "resnet18"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("resnet")}
    assert lines["resnet20"][-3:] == ["0.27", "0.041", "cifar10"]  # [He16] Table 6: 0.27M; 41M multiply-adds
    assert lines["resnet18"][-3:] == ["11.69", "1.814", "imagenet"]  # [He16] Table 1: 1.8e9 FLOPs; weights tag


def test_summary_bad_name_is_a_clear_error(capsys):
    assert cli.main(["summary", "resnt20"]) == 2
    err = capsys.readouterr().err
    assert "Unknown architecture 'resnt20'" in err and "'resnet20'" in err


def _commands(parser):
    """Every sub-command's argv prefix, nested ones too (``experiment lesion``), aliases left out."""
    found, seen = [], set()
    for name, sub in getattr(parser, "subcommands", {}).items():
        if id(sub) not in seen:
            seen.add(id(sub))
            found += [[name]] + [[name, *rest] for rest in _commands(sub)]
    return found


HELP_WITHOUT_TENSORFLOW = """
import contextlib, io, json, sys
sys.argv = ["keras-resnet", "--help"]  # as the console script starts when asked for help
from keras_resnet import cli
helps = {}
for argv in json.loads(sys.stdin.read()):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            cli.main([*argv, "--help"])
        except SystemExit as exit:
            code = exit.code
    helps[" ".join(argv)] = [code, out.getvalue()]
print(json.dumps({"helps": helps, "imported": sorted(m for m in ("tensorflow", "keras", "jax") if m in sys.modules)}))
"""


def test_help_of_every_command_prints_without_starting_tensorflow():
    import json
    import subprocess
    import sys

    commands = [[]] + _commands(cli.build_parser())
    assert ["experiment", "lesion"] in commands and ["predict"] in commands
    result = subprocess.run([sys.executable, "-c", HELP_WITHOUT_TENSORFLOW], input=json.dumps(commands),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["imported"] == []
    for argv, (code, text) in report["helps"].items():
        assert code == 0 and "usage: keras-resnet" in text, argv
    top = report["helps"][""][1]
    for argv in commands:  # one example per sub-command in the top-level help
        if len(argv) == 1:
            assert f"keras-resnet {argv[0]} " in top, argv


def test_model_files_are_positional_and_model_is_a_registry_name(capsys, tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args(["experiment", "lesion", "runs/x/model.keras", "--output-dir", "f"])
    assert args.model == "runs/x/model.keras"
    for argv in (["experiment", "lesion", "--output-dir", "f"], ["experiment", "paths", "--model", "m.keras",
                                                                   "--output-dir", "f"]):
        try:
            parser.parse_args(argv)
        except SystemExit as exit:
            assert exit.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
    assert "MODEL_FILE" in capsys.readouterr().err
    # A model file that is not there is named, with what to pass instead, and nothing is written.
    assert cli.main(["experiment", "lesion", str(tmp_path / "missing.keras"), "--output-dir",
                     str(tmp_path / "out")]) == 2
    assert "Model file not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # a failed start leaves no folder


@pytest.mark.parametrize("to, option, owner", [
    ("saved_model", ["--variants", "int8"], "TFLite"), ("saved_model", ["--calibration-steps", "10"], "TFLite"),
    ("saved_model", ["--repeats", "3"], "TFLite / ONNX / OpenVINO"), ("tflite", ["--version", "2"], "SavedModel"),
    ("tflite", ["--top-k", "3"], "SavedModel / ONNX / OpenVINO"),
    ("tflite", ["--preprocessing", "none"], "SavedModel / ONNX / OpenVINO"),
    ("tflite", ["--labels", "labels.txt"], "SavedModel / ONNX / OpenVINO"),
    ("tflite", ["--precision", "bfloat16"], "SavedModel"), ("onnx", ["--variants", "int8"], "TFLite"),
    ("openvino", ["--version", "2"], "SavedModel"),
])
def test_export_refuses_an_option_of_the_other_format(to, option, owner, tmp_path, capsys):
    """An option of the other format is refused in one line naming it and its format, not silently ignored (the
    model file is not even read)."""
    argv = ["export", str(tmp_path / "model.keras"), "--to", to, *option, "--output-dir", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"{option[0]} is a {owner} option: --to {to} does not take it" in err
    assert not (tmp_path / "out").exists()


def test_export_options_take_their_formats_defaults(monkeypatch):
    from keras_resnet.support import choices
    from keras_resnet.cli import export

    monkeypatch.setitem(choices.EXPORT_EXTRAS, "onnx", ())  # the defaults, with or without the onnx extra installed

    parser = cli.build_parser()
    saved_model = parser.parse_args(["export", "m.keras", "--to", "saved_model", "--output-dir", "o", "--top-k", "3"])
    export.check(saved_model)
    assert (saved_model.top_k, saved_model.preprocessing, saved_model.precision, saved_model.version) == (
        3, "auto", "float32", None)
    tflite = parser.parse_args(["export", "m.keras", "--to", "tflite", "--output-dir", "o", "--repeats", "7"])
    export.check(tflite)
    assert (tflite.variants, tflite.calibration_steps, tflite.repeats, tflite.eval_images) == (
        ["float32", "float16", "dynamic_int8", "int8"], 100, 7, 200)
    onnx = parser.parse_args(["export", "m.keras", "--to", "onnx", "--output-dir", "o", "--labels", "l.txt"])
    export.check(onnx)
    assert (onnx.top_k, onnx.preprocessing, onnx.labels, onnx.repeats) == (5, "auto", "l.txt", 50)


def _run_option_argv(field):
    """A command line that sets the ``TrainConfig`` field ``field`` to a value other than its default."""
    from keras_resnet.support.validation import positive_int

    meta, flag = field.metadata, (field.metadata["flags"] or (f"--{field.name.replace('_', '-')}",))[0]
    if meta["action"] == "store_true":
        return [flag]
    if meta["action"] is not None:  # --flip / --no-flip
        return [f"--no-{flag[2:]}"]
    if meta["choices"]:
        return [flag, "digits" if field.name == "dataset" else meta["choices"][1]]
    return [flag, {"freeze": "all"}.get(field.name, "3" if meta["type"] in (int, positive_int) else "0.5")]


def test_tune_takes_the_run_options_of_train_but_those_it_searches():
    """tune's run options are generated from TrainConfig as train's are: every option of train is tune's too, with
    the same value, but those a search sets itself (SEARCHED: the network and optimisation searched, the trials'
    folders and verbosity)."""
    import dataclasses

    from keras_resnet.cli import tune
    from keras_resnet.training.config import TrainConfig, from_args

    parser = cli.build_parser()
    fields = [field for field in dataclasses.fields(TrainConfig) if field.name not in tune.SEARCHED]
    assert {field.name for field in fields} >= {"image_size", "flip", "momentum", "schedule", "deterministic"}
    argv = [word for field in fields for word in _run_option_argv(field)] + ["--weights", "w.keras"]
    trained = parser.parse_args(["train", *argv])
    tuned = parser.parse_args(["tune", *argv])
    for field in fields:
        assert getattr(tuned, field.name) == getattr(trained, field.name) != field.default, field.name
    assert tune.run_config(tuned) == dataclasses.replace(from_args(trained), verbose=0)
    assert tuned.shortcut == ["none", "A"] and tuned.output_dir is None  # the search's own options


def test_finetune_is_a_sub_command(tmp_path, capsys):
    """keras-resnet finetune: train's options, a folder of images by default, and the two phases' own options."""
    parser = cli.build_parser()
    args = parser.parse_args(["finetune", "--data-dir", "photos", "--weights", "imagenet", "--model", "resnet50"])
    assert (args.dataset, args.weights, args.head_epochs, args.full_lr_factor) == ("folder", "imagenet", 15, 0.3)
    args = parser.parse_args(["finetune", "--weights", "w.keras", "--head-epochs", "2", "--lr", "0.01"])
    assert (args.head_epochs, args.learning_rate) == (2, 0.01)
    assert cli.main(["finetune", "--data-dir", str(tmp_path), "--model", "resnet8",
                     "--output-dir", str(tmp_path / "run")]) == 2
    assert "Fine-tuning starts from pretrained weights: pass --weights" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_recipes_call_the_public_api():
    """The recipes are thin scripts over public names: nothing private imported from keras_resnet."""
    import ast
    from pathlib import Path

    for path in sorted((Path(__file__).parents[1] / "recipes").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_resnet"):
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


ERRORS_WITHOUT_TENSORFLOW = """
import contextlib, io, json, sys
sys.argv = ["/usr/bin/keras-resnet"]  # as the console script starts
from keras_resnet import cli
results = []
for argv in json.loads(sys.stdin.read()):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit:
            code = exit.code
    results.append([code, err.getvalue()])
print(json.dumps({"results": results, "imported": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
"""
BAD_ARGUMENTS = [  # argparse types, choices, and the commands' own checks (check(args))
    (["train", "--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["train", "--dataset", "digits", "--freeze", "all"], "--freeze all freezes pretrained layers: pass --weights"),
    (["predict", "m.keras", "photo.jpg", "--top-k", "-1"], "argument --top-k: must be a positive integer"),
    (["tune", "--tuner", "grid"], "argument --tuner: invalid choice: 'grid'"),
    (["tune", "--max-trials", "0"], "--max-trials must be a positive integer"),
    (["export", "m.keras", "--to", "tflite", "--labels", "l.txt", "--output-dir", "o"], "--labels is a SavedModel"),
    (["export", "m.keras", "--to", "onnx", "--variants", "int8", "--output-dir", "o"], "--variants is a TFLite option"),
    (["convert", "x.pth", "--model", "resnet20"], "Where should the converted model go?"),
    (["evaluate", "resnet50", "--weights", "imagenet"], "Which images? Pass --data-dir"),
    (["finetune", "--weights", "imagenet", "--head-epochs", "0"], "argument --head-epochs: must be a positive"),
]


def test_bad_arguments_are_refused_in_one_line_without_starting_tensorflow():
    """Arguments are checked before TensorFlow is imported: a bad one answers at once (exit 2, one line), in the
    console script's process as under ``python -m keras_resnet.cli``."""
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", ERRORS_WITHOUT_TENSORFLOW], capture_output=True, text=True,
                            input=json.dumps([argv for argv, _ in BAD_ARGUMENTS]), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    for (argv, message), (code, err) in zip(BAD_ARGUMENTS, report["results"]):
        assert code == 2 and len(err.splitlines()) == 1 and message in err, (argv, err)
    assert report["imported"] == []

    module = subprocess.run([sys.executable, "-X", "importtime", "-m", "keras_resnet.cli", "train", "--epochs", "0"],
                            capture_output=True, text=True, timeout=120)
    lines = module.stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in lines if line.startswith("import time:")}
    errors = [line for line in lines if not line.startswith("import time:")]
    assert module.returncode == 2 and errors == ["keras-resnet train: error: argument --epochs: must be a positive "
                                                 "integer, got 0 (see 'keras-resnet train --help')"]
    assert "keras_resnet" in imported and not imported & {"tensorflow", "keras"}
