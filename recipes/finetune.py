"""Fine-tune a pretrained ResNet on a folder of your own images, one sub-folder per class, in two phases.

    python recipes/finetune.py --data-dir ~/photos --model resnet50 --weights imagenet --output-dir runs/photos
    python recipes/finetune.py --data-dir ~/scans --model resnet20 --weights runs/digits/model.keras --epochs 20

1. ``head/``: a new classifier for the folder's classes learns on the frozen network (``--head-epochs``, default
   15) at the learning rate of --lr (default 0.1 at batch 128, scaled with the batch), cosine decay;
2. ``full/``: the whole network, from phase 1's model, for --epochs (default 30) at --full-lr-factor (default 0.3) of
   that learning rate, with a linear warm-up over the first tenth of the run and cosine decay. Frozen parts keep
   their BatchNormalization in inference mode; --freeze "stages N" keeps the stem and the first N stages frozen in
   phase 2 as well.

The folder is split into training and validation images (--val-fraction) unless it has train/ and val/ sub-folders;
tiny folders train with a batch of all their images. The fine-tuned model is OUTPUT_DIR/full/model.keras, its class
names in OUTPUT_DIR/full/preprocessing.json. Every option of ``keras-resnet train`` applies to both phases;
rerunning the command resumes an interrupted fine-tuning. The defaults are the best of 12 settings measured with
``keras-resnet experiment recipe`` (docs/finetune-recipe.json, README "Fine-tuning"): a long phase 1, then phase 2
three times longer at 0.3 of the rate; ``keras-resnet experiment transfer`` compares the recipe with training from
scratch.
"""

import argparse
import sys

from keras_resnet.cli import _run
from keras_resnet.training import two_phase
from keras_resnet.training.config import add_arguments, from_args, parse_args
from keras_resnet.validation import positive_float, positive_int


def _fine_tune(args):
    summaries = two_phase.two_phase(from_args(args), args.head_epochs, args.full_lr_factor)
    for phase, summary in summaries.items():
        print(f"{phase}: test accuracy {100 * summary['test_accuracy']:.2f} % after {summary['epochs']} epochs "
              f"({summary['output_dir']})")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(dataset="folder")
    parser.add_argument("--head-epochs", type=positive_int, default=two_phase.HEAD_EPOCHS,
                        help=f"phase 1: epochs of the new classifier alone (default {two_phase.HEAD_EPOCHS})")
    parser.add_argument("--full-lr-factor", type=positive_float, default=two_phase.FULL_LR_FACTOR,
                        help=f"phase 2: learning rate as a share of phase 1's (default {two_phase.FULL_LR_FACTOR})")
    return _run("finetune", _fine_tune, parse_args(parser, argv))


if __name__ == "__main__":
    sys.exit(main())
