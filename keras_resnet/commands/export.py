"""``keras-resnet export``: a SavedModel for TF Serving, or TFLite/LiteRT files with a parity report."""

from keras_resnet.choices import EXPORT_FORMATS, EXPORT_PRECISIONS, PREPROCESSING, TFLITE_VARIANTS
from keras_resnet.tables import format_percent
from keras_resnet.validation import positive_int

HELP = "SavedModel for TF Serving, or TFLite/LiteRT with a parity report"


# The options of one format only, with their defaults: declared without one, so that a given option is seen and an
# option of the other format is refused (check) instead of being silently ignored.
FORMAT_OPTIONS = {
    "saved_model": {"version": None, "top_k": 5, "preprocessing": "auto", "labels": None, "precision": "float32"},
    "tflite": {"variants": list(TFLITE_VARIANTS), "calibration_steps": 100, "repeats": 50},
}
FORMAT_NAMES = {"saved_model": "SavedModel", "tflite": "TFLite"}


def add_arguments(parser):
    parser.add_argument("model", help="a .keras model file (e.g. runs/<run>/model.keras) or hf://owner/name")
    parser.add_argument("--to", required=True, choices=EXPORT_FORMATS, help="export format")
    parser.add_argument("--output-dir", "--output", dest="output_dir", required=True,
                        help="SavedModel: the model's base folder (versions go in DIR/<version>/); TFLite: folder "
                             "for the .tflite files")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a SavedModel version or .tflite files that exist")
    parser.add_argument("--dataset", help="TFLite: dataset for int8 calibration; TFLite and bfloat16: the parity "
                                          "report's (default: the run's, from preprocessing.json)")
    parser.add_argument("--data-dir", help="where that dataset is (as for train)")
    parser.add_argument("--eval-images", type=positive_int, default=200,
                        help="parity report images (default 200)")

    saved_model = parser.add_argument_group("SavedModel options (--to saved_model only)")
    saved_model.add_argument("--version", type=positive_int,
                             help="SavedModel version (default: the next free integer)")
    saved_model.add_argument("--top-k", type=positive_int, help="classes returned per image (default 5)")
    saved_model.add_argument("--preprocessing", choices=PREPROCESSING,
                             help="preprocessing put into the graph (auto: none for trained models, the weights' "
                                  "keras.applications mode for pretrained ImageNet models)")
    saved_model.add_argument("--labels", help="text file with one class name per line")
    saved_model.add_argument("--precision", choices=EXPORT_PRECISIONS,
                             help="SavedModel: float32, or bfloat16 (mixed precision, float32 outputs) with a parity "
                                  "report against float32 in DIR/parity-<version>.json")

    tflite = parser.add_argument_group("TFLite options (--to tflite only)")
    tflite.add_argument("--variants", nargs="+", choices=TFLITE_VARIANTS,
                        help="TFLite conversions (default: all four)")
    tflite.add_argument("--calibration-steps", type=positive_int, help="int8 calibration images (default 100)")
    tflite.add_argument("--repeats", type=positive_int, help="latency runs per variant (median)")


def check(args):
    """Refuses an option of the other format (one line naming it and its format), then sets the defaults of the
    chosen format's options that were not given."""
    for export_format, options in FORMAT_OPTIONS.items():
        for name, default in options.items():
            if getattr(args, name) is None:
                setattr(args, name, default)
            elif export_format != args.to:
                raise ValueError(f"--{name.replace('_', '-')} is a {FORMAT_NAMES[export_format]} option: "
                                 f"--to {args.to} does not take it (leave it out, or export --to {export_format}).")


def run(args):
    from keras_resnet import export

    if args.to == "saved_model":
        path, info = export.export_saved_model(args.model, args.output_dir, args.version, args.overwrite, args.top_k,
                                               args.preprocessing, args.labels, args.precision, args.dataset,
                                               args.data_dir, args.eval_images)
        print(f"SavedModel version {info['version']} in {path} ({info['precision']}; signatures serving_default: "
              f"uint8 images, predict_jpeg: encoded JPEG/PNG; preprocessing {info['preprocessing']}, top "
              f"{info['top_k']} of {info['classes']} classes).\nServe it with:\n  {info['docker']}")
        if "parity" in info:
            print(_parity_line(info))
    else:
        report = export.export_tflite(args.model, args.output_dir, args.variants, args.dataset, args.data_dir,
                                      args.calibration_steps, args.eval_images, args.repeats, args.overwrite)
        print(export.format_report(report))
        print(f"\nWrote {len(set(args.variants))} .tflite files and parity.json to {args.output_dir}")
    return 0


def _parity_line(info):
    """The bfloat16 SavedModel's parity report against float32, in one line."""
    parity = info["parity"]
    return (f"bfloat16 vs float32 on {parity['eval_images']} images"
            f"{' of ' + parity['dataset'] if parity['dataset'] else ' (random: no dataset)'}: top-1 agreement "
            f"{100 * parity['top1_agreement']:.1f} %, max |dp| {parity['max_abs_prob_diff']:.2e}, accuracy "
            f"{format_percent(parity['accuracy'])} (float32 {format_percent(parity['accuracy_float32'])}), "
            f"batch-1 latency {parity['latency_ms']:.2f} ms (float32 {parity['latency_ms_float32']:.2f} ms); "
            f"{info['parity_path']}")
