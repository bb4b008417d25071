"""Fine-tune a pretrained ResNet on a folder of your own images, one sub-folder per class, in two phases (the same as
``keras-resnet finetune``).

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

import sys

from keras_resnet.cli import finetune_main


def main(argv=None):
    """``keras-resnet finetune`` with this recipe's description as its help."""
    return finetune_main(argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
