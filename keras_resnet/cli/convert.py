"""``keras-resnet convert``: a PyTorch ResNet checkpoint to a Keras model, exactly."""

import os

from keras_resnet.support import files
from keras_resnet.cli.common import add_overwrite_argument, exactly_one

HELP = ("convert a PyTorch ResNet checkpoint (torchvision/timm, CIFAR reference) to a Keras model, exactly, read "
        "without torch and without running code from it")


def add_arguments(parser):
    parser.add_argument("checkpoint", help="a .pth / .pt / .th (torch zip or legacy format) or .safetensors file")
    parser.add_argument("--model", required=True, help="registry name: resnet18 .. resnet152 (torchvision/timm), "
                                                       "resnet20 .. resnet1202 (CIFAR reference)")
    parser.add_argument("--output", help="the file to write: .keras (whole model) or .weights.h5 (weights)")
    parser.add_argument("--output-dir", help="or a folder: writes <model>.keras there")
    parser.add_argument("--weights-tag", help="the published weights the checkpoint is (e.g. imagenet-v2): the model "
                                              "remembers them, so evaluate/export/predict use their preprocessing")
    parser.add_argument("--logits", action="store_true", help="no softmax on the classifier (logits out)")
    add_overwrite_argument(parser, "the output file")


def check(args):
    exactly_one(args.output, args.output_dir, "Where should the converted model go? Pass --output FILE (.keras or "
                ".weights.h5) or --output-dir DIR (writes DIR/<model>.keras).")
    if args.output_dir:
        files.check_writable_folder(args.output_dir)
    files.refuse_existing([_output(args)], args.overwrite, "--output" if args.output else "--output-dir")


def _output(args):
    return args.output or os.path.join(args.output_dir, f"{args.model.lower()}.keras")


def run(args):
    from keras_resnet.applications.convert import convert_checkpoint

    output = _output(args)
    options = {"classifier_activation": None} if args.logits else {}
    if args.weights_tag:
        options["weights_tag"] = args.weights_tag
    path = convert_checkpoint(args.checkpoint, args.model, output, **options)
    print(f"Converted {args.checkpoint} to {args.model}{f' ({args.weights_tag} weights)' if args.weights_tag else ''}"
          f": {path}")
    return 0
