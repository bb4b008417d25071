"""``keras-resnet evaluate``: top-1/top-5 of a model on a validation folder or TFDS split, beside the claims."""

import os
import sys

from keras_resnet.support import files
from keras_resnet.cli.common import add_overwrite_argument, exactly_one
from keras_resnet.support.tables import format_table
from keras_resnet.support.validation import positive_int

HELP = ("top-1/top-5 of a model on a validation folder or TFDS split, with the weights' own evaluation transform, "
        "beside the claimed numbers")


def add_arguments(parser):
    add = parser.add_argument
    add("model", help="a registry name with --weights, or a .keras file (or hf://owner/name)")
    add("--weights", help="for a registry name: a weights tag (keras-resnet summary lists them) or a weights file")
    add("--data-dir", help="a folder with val/<class>/ (or validation/) or <class>/ image sub-folders; the i-th "
                           "sorted class folder is class i")
    add("--tfds", metavar="NAME", help="or a prepared TFDS dataset (e.g. imagenet2012)")
    add("--split", default="validation", help="the TFDS split (default validation)")
    add("--tfds-data-dir", help="the TFDS data dir (default ~/tensorflow_datasets)")
    add("--ten-crop", action="store_true", help="average the 10-crop views ([He16] Sec. 3.4)")
    add("--batch-size", type=positive_int, default=64, help="images per batch (default 64)")
    add("--quiet", action="store_true", help="no progress bar")
    add("--output-dir", help="also write evaluation.json (measured and claimed accuracies) here")
    add_overwrite_argument(parser, "the evaluation.json in --output-dir")


def check(args):
    exactly_one(args.data_dir, args.tfds, "Which images? Pass --data-dir (a folder with val/<class>/ or <class>/ "
                "sub-folders) or --tfds NAME (a prepared TFDS dataset, with --split).")
    if args.output_dir:
        files.check_writable_folder(args.output_dir)
        files.refuse_existing([os.path.join(args.output_dir, "evaluation.json")], args.overwrite)


def run(args):
    from keras_resnet.inference import evaluate

    model, metadata = evaluate.load_model(args.model, args.weights)
    images = (evaluate.folder_images(args.data_dir, evaluate.run_split(args.model, metadata)) if args.tfds is None
              else evaluate.tfds_images(args.tfds, args.split, args.tfds_data_dir))
    if images.note:
        print(f"keras-resnet evaluate: note: {images.note}", file=sys.stderr)
    result = evaluate.evaluate(model, images, args.ten_crop, args.batch_size, progress=not args.quiet)
    record, claims = evaluate.claimed(model)
    weights = f" ({record.tag} weights)" if record is not None else ""
    print(f"{model.name}{weights} on {images.description}: {'10 crops' if result.ten_crop else 'one view'}, "
          f"{evaluate.describe_transform(result.transform, result.preprocessing)}")
    print(format_table(evaluate.report_rows(result, claims), ["metric", "measured", "claimed"]))
    if record is not None:
        print(f"claimed: {record.metrics_source}")
    if args.output_dir:
        path = os.path.join(args.output_dir, "evaluation.json")
        os.makedirs(args.output_dir, exist_ok=True)
        files.write_json(path, {
            "model": model.name, "weights": record.tag if record is not None else None,
            "data": images.description, "note": images.note or None, "images": result.images,
            "ten_crop": result.ten_crop,
            "transform": result.transform, "preprocessing": result.preprocessing,
            "accuracy": {f"top-{k}": value for k, value in result.accuracy.items()},
            "claimed": {f"top-{k}": None if value is None else value / 100 for k, value in claims.items()},
            "claimed_source": record.metrics_source if record is not None else None})
        print(f"Wrote {path}")
    return 0
