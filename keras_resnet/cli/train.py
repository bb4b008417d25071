"""``keras-resnet train``: one run of the paper's recipe; its options are ``training/config.py``'s fields."""

from keras_resnet.training import config

HELP = "train a network with the paper's recipe (tf.distribute, resumable)"


def add_arguments(parser):
    config.add_arguments(parser)


def check(args):
    """The run configuration, checked without TensorFlow."""
    config.from_args(args)


def run(args):
    from keras_resnet.training import format_summary, train

    print(format_summary(train(config.from_args(args))))
    return 0
