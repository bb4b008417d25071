"""Writes PyTorch's reference checkpoints and logits for tests/test_convert_torch.py (run in its own process).

``python tests/torch_reference.py OUT`` saves, with torch itself, torchvision's ResNet-18/50 (random weights and BN
statistics, 30 classes) as ``.pth`` (zip), legacy ``.pth`` and ``.safetensors``, a CIFAR ResNet-20 in the reference
re-implementation's layout saved from ``DataParallel`` inside ``{"state_dict": ...}`` (zip and legacy), and
``reference.npz`` with the inputs and torch's logits. TensorFlow is never imported here: torchvision and TensorFlow
do not load into one process.
"""

import sys

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file


def _randomize(model, seed):
    """Random weights and BN statistics (not only the initial ones); last BN of each block damped."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                damp = 0.3 if name.endswith(("bn2", "bn3")) and "layer" in name else 1.0
                channels = module.num_features
                module.weight.copy_(damp * (0.5 + torch.rand(channels, generator=generator)))
                module.bias.copy_(0.1 * torch.randn(channels, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(channels, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(channels, generator=generator))
            elif isinstance(module, torch.nn.Linear):
                module.weight.copy_(0.05 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
    return model.eval()


def _torch_logits(model, x_nhwc):
    with torch.no_grad():
        return model(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy())).numpy()


class _OptionA(torch.nn.Module):
    """The reference's option A: subsample, then planes // 4 zero channels on both sides."""

    def __init__(self, planes):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return torch.nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class _BasicBlock(torch.nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.shortcut = _OptionA(planes) if stride != 1 or in_planes != planes else torch.nn.Sequential()

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class _CifarResNet(torch.nn.Module):
    """The reference CIFAR ResNet layout (conv1, bn1, layer1..3, linear), 6n+2 layers."""

    def __init__(self, depth, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(16)
        in_planes, layers = 16, []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for b in range(n):
                blocks.append(_BasicBlock(in_planes, planes, stride if b == 0 else 1))
                in_planes = planes
            layers.append(torch.nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = torch.nn.Linear(64, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(torch.nn.functional.avg_pool2d(x, x.shape[3]).flatten(1))


def _logits(model, x_nhwc):
    with torch.no_grad():
        return model(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy())).numpy()


def main(out):
    arrays = {}
    for depth in (18, 50):
        model = _randomize(getattr(torchvision.models, f"resnet{depth}")(num_classes=30), seed=depth)
        torch.save(model.state_dict(), f"{out}/resnet{depth}.pth")
        torch.save(model.state_dict(), f"{out}/resnet{depth}-legacy.pth", _use_new_zipfile_serialization=False)
        save_file({key: value.contiguous() for key, value in model.state_dict().items()},
                  f"{out}/resnet{depth}.safetensors")
        x = np.random.default_rng(depth).normal(size=(2, 64, 64, 3)).astype(np.float32)
        arrays[f"x{depth}"], arrays[f"logits{depth}"] = x, _logits(model, x)
    model = _randomize(_CifarResNet(20), seed=20)
    wrapped = torch.nn.DataParallel(model)  # the reference trains under DataParallel: keys start with "module."
    for suffix, zip_format in (("", True), ("-legacy", False)):
        torch.save({"state_dict": wrapped.state_dict(), "best_prec1": 91.73, "epoch": 200},
                   f"{out}/resnet20{suffix}.th", _use_new_zipfile_serialization=zip_format)
    x = np.random.default_rng(20).normal(size=(3, 32, 32, 3)).astype(np.float32)
    arrays["x20"], arrays["logits20"] = x, _logits(model, x)
    np.savez(f"{out}/reference.npz", **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
