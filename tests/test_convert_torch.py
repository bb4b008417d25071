"""Conversion checked against PyTorch itself: torchvision's ResNets and the CIFAR reference layout, saved by torch.

Skipped where torch/torchvision are not installed (they stay out of the default install; CI's slow step installs
them). ``tests/torch_reference.py`` writes the checkpoints with ``torch.save`` and ``safetensors.torch`` and torch's
logits in a process of its own (torchvision and TensorFlow do not load into one process); this process reads the
files without torch and compares.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_resnet.applications.convert import convert

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (importlib.util.find_spec("torch") and importlib.util.find_spec("torchvision")),
                                 reason="torch and torchvision are not installed")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("torch")
    script = os.path.join(os.path.dirname(__file__), "torch_reference.py")
    subprocess.run([sys.executable, script, str(out)], check=True, timeout=600)
    return out, dict(np.load(out / "reference.npz"))


@pytest.mark.parametrize("depth", [18, 50])
@pytest.mark.parametrize("file_name", ["resnet{}.pth", "resnet{}-legacy.pth", "resnet{}.safetensors"])
def test_torchvision_resnets(reference, depth, file_name):
    out, arrays = reference
    ours = convert(str(out / file_name.format(depth)), f"resnet{depth}", input_shape=(64, 64, 3),
                   classifier_activation=None)
    x = arrays[f"x{depth}"]
    np.testing.assert_allclose(np.asarray(ours(x)), arrays[f"logits{depth}"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("file_name", ["resnet20.th", "resnet20-legacy.th"])
def test_cifar_reference_resnet20(reference, file_name):
    out, arrays = reference
    ours = convert(str(out / file_name), "resnet20", classifier_activation=None)
    np.testing.assert_allclose(np.asarray(ours(arrays["x20"])), arrays["logits20"], atol=1e-4, rtol=0)
