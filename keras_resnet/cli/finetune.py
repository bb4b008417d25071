"""``keras-resnet finetune``: pretrained weights fine-tuned on one's own images in two phases, a new classifier on the
frozen network, then the whole network (``training/two_phase.py``); every option of ``train`` applies
to both phases."""

from keras_resnet.training import config
from keras_resnet.support.validation import positive_float, positive_int

HELP = "fine-tune pretrained weights on your own images: a new classifier first, then the whole network"


def add_arguments(parser):
    config.add_arguments(parser)
    parser.set_defaults(dataset="folder")
    phases = parser.add_argument_group("the two phases")
    phases.add_argument("--head-epochs", type=positive_int, default=config.HEAD_EPOCHS,
                        help=f"phase 1: epochs of the new classifier alone (default {config.HEAD_EPOCHS})")
    phases.add_argument("--full-lr-factor", type=positive_float, default=config.FULL_LR_FACTOR,
                        help=f"phase 2: learning rate as a share of phase 1's (default {config.FULL_LR_FACTOR})")


def check(args):
    """The run configuration, checked without TensorFlow."""
    config.from_args(args)


def run(args):
    from keras_resnet.training import two_phase

    summaries = two_phase.two_phase(config.from_args(args), args.head_epochs, args.full_lr_factor)
    for phase, summary in summaries.items():
        print(f"{phase}: test accuracy {100 * summary['test_accuracy']:.2f} % after {summary['epochs']} epochs "
              f"({summary['output_dir']})")
    return 0
