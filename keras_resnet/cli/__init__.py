"""The ``keras-resnet`` console command.

    keras-resnet train --dataset digits --model resnet20 --epochs 15     # the paper's recipe, any dataset
    keras-resnet finetune --data-dir ~/photos --model resnet50 --weights imagenet --output-dir runs/photos
    keras-resnet export runs/x/model.keras --to saved_model --output-dir saved_models/resnet20
    keras-resnet export runs/x/model.keras --to tflite --output-dir exports/resnet20-tflite
    keras-resnet experiment degradation --dataset digits --depths 20 56 --epochs 15 --output-dir figures
    keras-resnet experiment lesion runs/x/model.keras --output-dir figures
    keras-resnet tune --dataset digits --depths 8 14 20 --shortcut none A --max-trials 6 --epochs 1 --output-dir t
    keras-resnet convert resnet50-11ad3fa6.pth --model resnet50 --weights-tag imagenet-v2 --output resnet50.keras
    keras-resnet evaluate resnet50 --weights imagenet-v2 --data-dir ~/data/imagenet    # top-1/top-5 vs claimed
    keras-resnet predict runs/x/model.keras photos/ --top-k 3       # top-k classes of images and folders
    keras-resnet explain runs/x/model.keras photo.jpg --output-dir maps   # Grad-CAM heat maps as PNGs
    keras-resnet summary                 # every registered network: parameters, FLOPs, weights tags
    keras-resnet summary resnet50 resnet110 --input-size 224
"""

import argparse
import os
import sys

import keras_resnet
from keras_resnet.cli import (convert, evaluate, experiment, explain, export, finetune, predict, summary, train,
                              tune)
from keras_resnet.training.config import EXPERIMENTS, add_arguments, parse_args

# The sub-commands in the order of the help; each module holds its help, its arguments and its run.
COMMANDS = {"summary": summary, "train": train, "finetune": finetune, "export": export, "experiment": experiment,
            "tune": tune, "predict": predict, "explain": explain, "convert": convert, "evaluate": evaluate}

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the tables


class OneLineErrors(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit 2) that points to ``--help``, not the whole usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    description, examples = __doc__.split("\n", 1)
    parser = OneLineErrors(prog="keras-resnet", description=description, epilog="examples:\n" + examples,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    parser.subcommands = commands.choices  # name -> parser, aliases included (the tests walk them)
    for name, module in COMMANDS.items():
        module.add_arguments(_add_command(commands, name, module))
    return parser


def _add_command(commands, name, module):
    """One sub-command: its help (the module's ``HELP``), its example (this module's docstring's first line for it)
    in its own ``--help``, and the functions that check its arguments and run it."""
    help = module.HELP
    example = next(line.split("  #")[0].strip() for line in __doc__.splitlines()
                   if line.strip().startswith(f"keras-resnet {name} "))
    parser = commands.add_parser(name, help=help, description=f"{help[0].upper()}{help[1:]}, e.g. {example}",
                                 aliases=getattr(module, "ALIASES", []))
    parser.set_defaults(run=module.run, check=getattr(module, "check", None))
    return parser


def _run(command, run, args, check=None):
    """Checks a command's arguments (``check``, before TensorFlow is imported), loads the package and runs it; bad
    input and runs that could not finish end with their message in one line, not a traceback."""
    try:
        if check is not None:
            check(args)
    except ValueError as error:  # bad input: the message names the fix
        return _error(command, error, 2)
    keras_resnet.load_all()  # lazy under the keras-resnet command: the layers registered before a model is loaded
    from keras_resnet import data
    from keras_resnet.training import TrainingError

    try:
        with data.naming_unreadable_images():  # an undecodable image is named, as bad input
            return run(args)
    except ValueError as error:
        return _error(command, error, 2)
    except TrainingError as error:  # a diverged run: what was kept and how to go on
        return _error(command, error, 1)


def _error(command, error, code):
    print(f"keras-resnet {command}: error: {error}", file=sys.stderr)
    return code


def main(argv=None):
    parser = build_parser()
    args, _ = parser.parse_known_args(argv)
    if args.command in ("train", "finetune") and args.experiment:  # a named run's values become the defaults
        parser.subcommands[args.command].set_defaults(**EXPERIMENTS[args.experiment])
    args = parser.parse_args(argv)
    return _run(args.command, args.run, args, args.check)


def tune_main(argv=None, dataset="cifar10", description=None):
    """The search recipe's entry point: ``keras-resnet tune`` with its own defaults and help text."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    tune.add_arguments(parser, dataset)
    return _run("tune", tune.run, parser.parse_args(argv), tune.check)


def train_main(argv=None, experiment="cifar10_resnet20", description=None):
    """The training recipes' entry point: ``keras-resnet train`` with a named experiment's defaults and help text."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    return _run("train", train.run, parse_args(add_arguments(parser, experiment), argv), train.check)


def finetune_main(argv=None, description=None):
    """The fine-tuning recipe's entry point: ``keras-resnet finetune`` with its own help text."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    finetune.add_arguments(parser)
    return _run("finetune", finetune.run, parse_args(parser, argv), finetune.check)

