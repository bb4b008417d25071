"""``keras-resnet export``: a SavedModel for TF Serving, or TFLite/LiteRT, ONNX or OpenVINO files with a parity
report."""

from keras_resnet.support.choices import EXPORT_FORMATS, EXPORT_PRECISIONS, PREPROCESSING, TFLITE_VARIANTS
from keras_resnet.support.package_check import check_extra
from keras_resnet.support.tables import format_percent
from keras_resnet.support.validation import positive_int

PORTABLE = ("onnx", "openvino")  # through Keras' own exporters: export.onnx_openvino
HELP = "SavedModel for TF Serving, TFLite/LiteRT, ONNX or OpenVINO, with a parity report"


# The options each format takes, with their defaults: declared without one, so that a given option is seen and an
# option no format of --to takes is refused (check) instead of being silently ignored.
_SERVING = {"top_k": 5, "preprocessing": "auto", "labels": None}
_PORTABLE = {**_SERVING, "repeats": 50}
FORMAT_OPTIONS = {
    "saved_model": {"version": None, **_SERVING, "precision": "float32"},
    "tflite": {"variants": list(TFLITE_VARIANTS), "calibration_steps": 100, "repeats": 50},
    "onnx": _PORTABLE,
    "openvino": _PORTABLE,
}
FORMAT_NAMES = {"saved_model": "SavedModel", "tflite": "TFLite", "onnx": "ONNX", "openvino": "OpenVINO"}


def add_arguments(parser):
    parser.add_argument("model", help="a .keras model file (e.g. runs/<run>/model.keras) or hf://owner/name")
    parser.add_argument("--to", required=True, choices=EXPORT_FORMATS, help="export format")
    parser.add_argument("--output-dir", "--output", dest="output_dir", required=True,
                        help="SavedModel: the model's base folder (versions go in DIR/<version>/); TFLite, ONNX, "
                             "OpenVINO: folder for the files (<model>_<variant>.tflite, <model>.onnx, <model>.xml + "
                             ".bin, each with its card <file>.json) and parity.json")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a SavedModel version or exported files that exist")
    parser.add_argument("--dataset", help="TFLite: dataset for int8 calibration; TFLite, ONNX, OpenVINO and bfloat16: "
                                          "the parity report's (default: the run's, from preprocessing.json)")
    parser.add_argument("--data-dir", help="where that dataset is (as for train)")
    parser.add_argument("--eval-images", type=positive_int, default=200,
                        help="parity report images (default 200)")

    serving = parser.add_argument_group("SavedModel, ONNX and OpenVINO options")
    serving.add_argument("--top-k", type=positive_int, help="classes returned per image (default 5)")
    serving.add_argument("--preprocessing", choices=PREPROCESSING,
                         help="preprocessing put into the graph (auto: none for trained models, the weights' "
                              "keras.applications mode for pretrained ImageNet models)")
    serving.add_argument("--labels", help="text file with one class name per line")

    saved_model = parser.add_argument_group("SavedModel options (--to saved_model only)")
    saved_model.add_argument("--version", type=positive_int,
                             help="SavedModel version (default: the next free integer)")
    saved_model.add_argument("--precision", choices=EXPORT_PRECISIONS,
                             help="SavedModel: float32, or bfloat16 (mixed precision, float32 outputs) with a parity "
                                  "report against float32 in DIR/parity-<version>.json")

    tflite = parser.add_argument_group("TFLite options (--to tflite only)")
    tflite.add_argument("--variants", nargs="+", choices=TFLITE_VARIANTS,
                        help="TFLite conversions (default: all four)")
    tflite.add_argument("--calibration-steps", type=positive_int, help="int8 calibration images (default 100)")
    parser.add_argument("--repeats", type=positive_int,
                        help="TFLite, ONNX, OpenVINO: batch-1 latency runs per artifact (median; default 50)")


def check(args):
    """Refuses an option that ``--to``'s format does not take (one line naming the formats that do), then sets the
    defaults of the options that were not given; ONNX/OpenVINO: refuses a missing extra, before TensorFlow."""
    taken = FORMAT_OPTIONS[args.to]
    for name in dict.fromkeys(option for options in FORMAT_OPTIONS.values() for option in options):
        if getattr(args, name) is None:
            setattr(args, name, taken.get(name, _default(name)))
        elif name not in taken:
            formats = [export_format for export_format, options in FORMAT_OPTIONS.items() if name in options]
            raise ValueError(f"--{name.replace('_', '-')} is a {' / '.join(FORMAT_NAMES[f] for f in formats)} "
                             f"option: --to {args.to} does not take it (leave it out, or export --to "
                             f"{formats[0]}).")
    check_extra(args.to)


def _default(name):
    return next(options[name] for options in FORMAT_OPTIONS.values() if name in options)


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
    elif args.to in PORTABLE:
        path, card, report = export.export_portable(args.model, args.output_dir, args.to, args.top_k,
                                                    args.preprocessing, args.labels, args.dataset, args.data_dir,
                                                    args.eval_images, args.repeats, args.overwrite)
        print(export.format_report(report))
        print(f"\nWrote {path} ({FORMAT_NAMES[args.to]}: {card['input']['dtype']} images {card['input']['shape']} "
              f"in, {', '.join(card['outputs'])} out; in the graph: {card['in_graph']}), its card {path}.json "
              f"(before the graph, {card['beside_graph']}) and parity.json to {args.output_dir}")
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
