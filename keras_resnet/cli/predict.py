"""``keras-resnet predict``: the top-k classes of images and folders of images, as a table, JSON or CSV."""

import os
import sys

from keras_resnet.support import files
from keras_resnet.support.choices import PREDICTION_REPORTS, TRANSFORMS
from keras_resnet.cli.common import add_classifier_arguments, add_overwrite_argument
from keras_resnet.support.tables import format_table
from keras_resnet.support.validation import positive_int

HELP = "top-k classes of images or folders of images"


def add_arguments(parser):
    add_classifier_arguments(parser, "inputs", "IMAGE|FOLDER", "image files and folders of images",
                             models="a .keras file (or hf://owner/name), a SavedModel folder, an exported .onnx, "
                                    "OpenVINO .xml or .tflite file (its card <file>.json beside it)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="images per batch (default 32)")
    parser.add_argument("--transform", default="auto", choices=TRANSFORMS,
                        help="how images become inputs (default: the run's evaluation transform; without a run, "
                             "center_crop for ImageNet-style networks: shorter side to 256/224 of the input, then "
                             "the central crop; resize for small networks; exported models apply their own)")
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    formats.add_argument("--csv", action="store_true", help="print CSV (image, rank, class, name, score)")
    parser.add_argument("--output-dir", help="also write predictions.json and predictions.csv here")
    add_overwrite_argument(parser, "the predictions.json and predictions.csv in --output-dir")


def check(args):
    if args.output_dir:
        files.check_writable_folder(args.output_dir)
        files.refuse_existing([os.path.join(args.output_dir, name) for name in PREDICTION_REPORTS], args.overwrite)


def run(args):
    from keras_resnet.inference import predict

    classifier = predict.load_classifier(args.model, args.weights, args.labels, args.preprocessing, args.transform)
    paths, ignored = predict.list_images(args.inputs)
    if not paths:
        raise ValueError(f"No images in {' '.join(args.inputs)}: folders are searched for "
                         f"{', '.join(predict.IMAGE_EXTENSIONS)} files.")
    folders = any(os.path.isdir(item) for item in args.inputs)
    results, skipped = predict.predict_files(classifier, paths, args.top_k, args.batch_size, progress=folders)
    summary = predict.skipped_summary(skipped, ignored)
    if not results:
        raise ValueError(f"None of the {len(paths)} files could be read as an image ({skipped[0].path}: "
                         f"{skipped[0].reason}).")
    classes = len(results[0].top)  # top_k lists every class when k is more
    if classes < args.top_k:
        print(f"keras-resnet predict: note: --top-k {args.top_k} is more than the model's {classes} classes: all "
              f"{classes} are listed.", file=sys.stderr)
    machine = args.json or args.csv
    if args.json:
        print(predict.to_json(results, skipped))
    elif args.csv:
        print(predict.to_csv(results), end="")
    else:
        k = max(len(result.top) for result in results)
        print(classifier.description)
        print(format_table(predict.as_table_rows(results, k), ["image", *(f"top-{r}" for r in range(1, k + 1))]))
    if summary:
        print("\n".join(summary), file=sys.stderr if machine else sys.stdout)
    if args.output_dir:
        written = predict.write_reports(args.output_dir, results, skipped)
        print(f"Wrote {' and '.join(written)}", file=sys.stderr if machine else sys.stdout)
    return 0
