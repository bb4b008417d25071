"""``import keras_resnet`` refuses a folder mixed with the Keras 2 package of the same name on PyPI."""

import os
import shutil
import subprocess
import sys

import keras_resnet
from keras_resnet.support.package_check import check_installation, foreign_files


def _copy_package(tmp_path):
    source = os.path.dirname(keras_resnet.__file__)
    target = tmp_path / "site-packages" / "keras_resnet"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _import_from(folder):
    env = {**os.environ, "PYTHONPATH": str(folder), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", "import keras_resnet; print(keras_resnet.__file__)"], env=env,
                          cwd=folder,  # python -c puts the working directory first on sys.path
                          capture_output=True, text=True, timeout=300)


def test_a_mixed_installation_fails_with_how_to_repair_it(tmp_path):
    package = _copy_package(tmp_path)
    (package / "layers").mkdir()  # what pip leaves when the PyPI package is installed over ours
    (package / "layers" / "__init__.py").write_text("from ._batch_normalization import BatchNormalization\n")
    (package / "layers" / "_batch_normalization.py").write_text("import keras\n")
    result = _import_from(package.parent)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: The keras_resnet folder") and "layers/_batch_normalization.py" in last
    assert "pip uninstall -y keras-resnet" in last and "pip install ." in last
    assert "Traceback" in result.stderr and "keras_resnet/applications" not in result.stderr  # fails first thing


def test_a_clean_copy_imports(tmp_path):
    package = _copy_package(tmp_path)
    assert foreign_files(package) == []
    check_installation(str(package))
    result = _import_from(package.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(package / "__init__.py")


def test_the_keras_resnet_command_is_recognised_so_that_the_package_loads_lazily():
    from keras_resnet.support.package_check import command_started

    assert command_started(["/venv/bin/keras-resnet", "train"], [])
    assert command_started(["C:\\venv\\Scripts\\keras-resnet.exe", "train"], [])
    assert command_started(["-m", "train"], ["python", "-X", "importtime", "-m", "keras_resnet.cli", "train"])
    assert not command_started(["recipes/cifar10.py"], ["python", "recipes/cifar10.py", "-m", "keras_resnet.cli"][:2])
    assert not command_started(["-c"], ["python", "-c", "import keras_resnet"])
    assert not command_started(["-m"], ["python", "-m", "pytest", "tests"])
