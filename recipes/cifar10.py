"""Train a CIFAR network with the recipe of [He16] Sec. 4.2 (or [He16b] for pre-activation nets).

    python recipes/cifar10.py                                   # ResNet-20, CIFAR-10, 64k iterations
    python recipes/cifar10.py --model resnet110 --data-dir ~/data/cifar-10-batches-py
    python recipes/cifar10.py --dataset digits --model resnet20 --epochs 15     # no download needed

Defaults: batch 128, SGD momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 at 50 % and 75 % of the run
(32k and 48k of 64k iterations), 0.01 warm-up for depth >= 110, augmentation pad 4 / crop 32 / flip. Every GPU of
the machine is used (MirroredStrategy); with TF_CONFIG set, every worker (MultiWorkerMirroredStrategy). Rerun the
same command with the same --output-dir to resume after an interruption.
"""

import sys

from keras_resnet.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(experiment="cifar10_resnet20", description=__doc__))
