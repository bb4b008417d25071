"""Refuses a ``keras_resnet`` folder that mixes this package with the older package of the same import name.

The name ``keras-resnet`` on PyPI belongs to an abandoned Keras 2 package (last release 2019) that also installs as
``keras_resnet``. Installing one over the other leaves a folder where its ``blocks/`` and ``layers/`` packages shadow
our ``blocks.py`` and ``layers.py``, and imports fail far from the cause. ``import keras_resnet`` checks for that
package's files first and fails at once with how to repair the installation; it also tells whether the process only
asks for help or is the ``keras-resnet`` command (then the package loads lazily), and whether an optional extra
(``pip install -e ".[onnx]"``) is installed (``check_extra``). Standard library only.
"""

import importlib.util
import os
import sys

from keras_resnet.support.choices import EXPORT_EXTRAS

# Files of the Keras 2 package (keras_resnet 0.1/0.2) that this package never has.
FOREIGN_FILES = (
    "blocks/__init__.py", "blocks/_2d.py", "layers/__init__.py", "layers/_batch_normalization.py",
    "models/_2d.py", "classifiers/__init__.py", "benchmarks/__init__.py",
)


def foreign_files(folder):
    """The files of the other package present in the package folder ``folder``."""
    return [name for name in FOREIGN_FILES if os.path.isfile(os.path.join(folder, name))]


def check_installation(folder=None):
    """Raises ``ImportError`` when ``folder`` (default: this package's folder) holds the other package's files."""
    folder = folder or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = foreign_files(folder)
    if found:
        raise ImportError(
            f"The keras_resnet folder {folder} also holds files of a different package, the Keras 2 'keras-resnet' "
            f"from PyPI ({', '.join(found)}), so neither works. Remove both and reinstall this one: run "
            f"'pip uninstall -y keras-resnet' until pip says it is not installed, delete {folder} if it is still "
            "there, then run 'pip install .' in this project's source folder (this package is not the one on PyPI).")


def help_requested(argv):
    """Whether the process was started to print a command's help (``-h`` or ``--help`` among its arguments)."""
    return any(argument in ("-h", "--help") for argument in argv[1:])


def command_started(argv, orig_argv=None):
    """Whether the process is the ``keras-resnet`` command: its console script (``argv[0]``), or ``python -m
    keras_resnet.cli`` (``orig_argv``, default ``sys.orig_argv``: the interpreter's own arguments). The command checks
    its arguments before it loads the package's modules, so that a bad argument answers without TensorFlow."""
    script = os.path.splitext(argv[0].replace("\\", "/").rsplit("/", 1)[-1]) if argv else ("", "")  # any OS's path
    if script[0] in ("keras-resnet", "keras-resnet-script") and script[1] in ("", ".exe", ".py"):
        return True
    orig_argv = list(getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv)
    return any(orig_argv[i:i + 2] == ["-m", "keras_resnet.cli"] for i in range(len(orig_argv))) or (
        "-mkeras_resnet.cli" in orig_argv)


def check_extra(export_format):
    """Refuses, in one line naming the extra to install, an export format whose modules (``choices.EXPORT_EXTRAS``)
    are not all installed; looks them up without importing them (no TensorFlow, no runtime started)."""
    missing = [name for name in EXPORT_EXTRAS.get(export_format, ()) if importlib.util.find_spec(name) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ValueError(f"--to {export_format} needs {', '.join(missing)}, which {verb} not installed: "
                         f"pip install -e '.[{export_format}]'")
