"""A torch training loop of CIFAR ResNet-20 (option A), the PyTorch row of ``recipe.py``.

    python benchmarks/torch_resnet20.py --batch-size 128 --steps 20     # prints images/s as its last word

Run by ``recipe.py`` in a process of its own, without TensorFlow beside it.
"""

import argparse
import time

import torch


def torch_resnet20(classes=10):
    """CIFAR ResNet-20 ([He16] Sec. 4.2) in torch: 3 stages of 3 basic blocks, 16/32/64 filters, option A
    shortcuts (stride-2 subsampling, zero-padded channels)."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, inputs, filters, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inputs, filters, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(filters)
            self.conv2 = nn.Conv2d(filters, filters, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(filters)
            self.stride, self.pad = stride, filters - inputs

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
            if self.pad:
                shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
            return torch.relu(out + shortcut)

    layers, inputs = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            layers.append(Block(inputs, filters, 2 if stage and not block else 1))
            inputs = filters
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes))


def torch_loop(batch, steps):
    """``measure() -> images/s`` of ``steps`` torch training steps of ResNet-20 on one random batch (one step
    first, untimed)."""
    torch.manual_seed(0)
    model = torch_resnet20()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    images, labels = torch.rand(batch, 3, 32, 32) * 255, torch.randint(0, 10, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model((images - 128.0) / 255.0), labels)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def measure():
        model.train()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return steps * batch / (time.perf_counter() - start)
    step()
    return measure


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.steps < 1:
        parser.error("--batch-size and --steps must be positive")
    print(f"images/s {torch_loop(args.batch_size, args.steps)():.3f}")


if __name__ == "__main__":
    main()
