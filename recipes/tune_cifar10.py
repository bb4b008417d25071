"""Search depth x shortcut (and, on request, pre-activation, width, lr, weight decay, batch) with keras-tuner.

    python recipes/tune_cifar10.py --depths 20 32 44 56 --shortcut none A --max-trials 8
    python recipes/tune_cifar10.py --dataset digits --depths 8 14 20 --shortcut none A --max-trials 6 --epochs 1
    python recipes/tune_cifar10.py --tuner hyperband --epochs 30 --depth-range 20 110

Every trial trains with the CIFAR recipe of [He16] Sec. 4.2 (recipes/cifar10.py) in DIR/runs/<trial>. Results:
DIR/trials.csv and trials.json (one row per trial, best first), DIR/depth.png (error against depth, plain vs
residual) and the HParams dashboard (tensorboard --logdir DIR/runs). Rerun the same command to resume.
"""

import sys

from keras_resnet.cli import tune_main

if __name__ == "__main__":
    sys.exit(tune_main(dataset="cifar10", description=__doc__))
