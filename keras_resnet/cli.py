"""The ``keras-resnet`` console command.

    keras-resnet train --dataset digits --model resnet20 --epochs 15     # the paper's recipe, any dataset
    keras-resnet export runs/x/model.keras --to saved_model --output-dir saved_models/resnet20
    keras-resnet export runs/x/model.keras --to tflite --output-dir exports/resnet20-tflite
    keras-resnet experiment degradation --dataset digits --depths 20 56 --epochs 15 --output-dir figures
    keras-resnet experiment lesion runs/x/model.keras --output-dir figures
    keras-resnet tune --dataset digits --depths 8 14 20 --shortcut none A --max-trials 6 --epochs 1 --output-dir t
    keras-resnet convert resnet50-11ad3fa6.pth --model resnet50 --weights-tag imagenet-v2 --output resnet50.keras
    keras-resnet evaluate resnet50 --weights imagenet-v2 --data-dir ~/data/imagenet    # top-1/top-5 vs claimed
    keras-resnet predict runs/x/model.keras photos/ --top-k 3       # top-k classes of images and folders
    keras-resnet explain runs/x/model.keras photo.jpg --output-dir maps   # Grad-CAM heat maps as PNGs
    keras-resnet summary                 # every registered network: parameters, FLOPs, weights tags
    keras-resnet summary resnet50 resnet110 --input-size 224
"""

import argparse
import functools
import os
import sys

from keras_resnet.choices import (DATASETS, EXPORT_FORMATS, EXPORT_PRECISIONS, JIT_COMPILE, PRECISIONS, PREPROCESSING,
                                  STRATEGIES, TFLITE_VARIANTS, TRANSFORMS, TUNERS)
from keras_resnet.tables import format_percent, format_table
from keras_resnet.validation import non_negative_float, positive_float, positive_int

COMMANDS = {  # sub-command: its one-line help; its example is the module docstring's line for it
    "summary": "parameters and FLOPs of registered networks",
    "train": "train a network with the paper's recipe (tf.distribute, resumable)",
    "export": "SavedModel for TF Serving, or TFLite/LiteRT with a parity report",
    "experiment": "the seeds' experiments: degradation, lesion study, path lengths; transfer, fine-tuning recipe",
    "tune": "keras-tuner search over depth, shortcuts and optimisation",
    "predict": "top-k classes of images or folders of images",
    "explain": "Grad-CAM heat maps (last stage) of the top-k classes over an image, one PNG per class the size of "
               "the image",
    "convert": "convert a PyTorch ResNet checkpoint (torchvision/timm, CIFAR reference) to a Keras model, exactly, "
               "read without torch and without running code from it",
    "evaluate": "top-1/top-5 of a model on a validation folder or TFDS split, with the weights' own evaluation "
                "transform, beside the claimed numbers",
}

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the tables


def summary_rows(names, input_size=None):
    """One row per network: family, depth, block, shortcut, pre-activation, parameters, FLOPs, weights tags."""
    from keras_resnet.architectures import FAMILIES
    from keras_resnet.registry import build, spec
    from keras_resnet.stats import model_stats
    from keras_resnet.weight_records import tags

    rows = []
    for name in names:
        arch = spec(name)
        size = input_size or FAMILIES[arch.family].input_size
        stats = model_stats(build(name, input_shape=(size, size, 3)))
        rows.append({
            "name": name, "family": arch.family, "depth": arch.depth, "block": arch.block,
            "shortcut": arch.shortcut, "preact": "yes" if arch.preact else "no",
            "input": f"{size}x{size}", "params": f"{stats['params']:,}",
            "params (M)": f"{stats['trainable_params'] / 1e6:.2f}", "GFLOPs": f"{stats['flops'] / 1e9:.3f}",
            "weights": " ".join(tags(name)) or "-",
        })
    return rows


def _summary(args):
    from keras_resnet.registry import list_models

    names = args.names or list_models()
    columns = ["name", "family", "depth", "block", "shortcut", "preact", "input", "params", "params (M)", "GFLOPs",
               "weights"]
    print(format_table(summary_rows(names, args.input_size), columns))
    print("\nparams: all weights (BN statistics included); params (M): trainable, as [He16] counts; "
          "GFLOPs: multiply-adds of one image.")
    return 0


def _train(args):
    from keras_resnet.training import format_summary, from_args, train

    print(format_summary(train(from_args(args))))
    return 0


def _export(args):
    from keras_resnet import export

    if args.to == "saved_model":
        path, info = export.export_saved_model(args.model, args.output_dir, args.version, args.overwrite, args.top_k,
                                               args.preprocessing, args.labels, args.precision, args.dataset,
                                               args.data_dir, args.eval_images)
        print(f"SavedModel version {info['version']} in {path} ({info['precision']}; signatures serving_default: "
              f"uint8 images, predict_jpeg: encoded JPEG/PNG; preprocessing {info['preprocessing']}, top "
              f"{info['top_k']} of {info['classes']} classes).\nServe it with:\n  {info['docker']}")
        if "parity" in info:
            parity = info["parity"]
            print(f"bfloat16 vs float32 on {parity['eval_images']} images"
                  f"{' of ' + parity['dataset'] if parity['dataset'] else ' (random: no dataset)'}: top-1 agreement "
                  f"{100 * parity['top1_agreement']:.1f} %, max |dp| {parity['max_abs_prob_diff']:.2e}, accuracy "
                  f"{format_percent(parity['accuracy'])} (float32 "
                  f"{format_percent(parity['accuracy_float32'])}), batch-1 latency {parity['latency_ms']:.2f} ms "
                  f"(float32 {parity['latency_ms_float32']:.2f} ms); {info['parity_path']}")
    else:
        report = export.export_tflite(args.model, args.output_dir, args.variants, args.dataset, args.data_dir,
                                      args.calibration_steps, args.eval_images, args.repeats, args.overwrite)
        print(export.format_report(report))
        print(f"\nWrote {len(set(args.variants))} .tflite files and parity.json to {args.output_dir}")
    return 0


def _experiment_data(args, model):
    """Batches of the test split of the experiment's dataset (default: the run's), at the model's input size and
    with the evaluation transform it was trained with."""
    from keras_resnet import data, model_file

    dataset = args.dataset or model_file.run_metadata(args.model).get("dataset")
    if dataset is None:
        raise ValueError("Which data? Pass --dataset (the model has no preprocessing.json from training beside it).")
    size = model_file.input_size(model)[0]
    return data.eval_dataset(data.load(dataset, args.data_dir, image_size=None if size == 32 else size),
                             batch_size=256)


def _experiment(args):
    from keras_resnet import files

    with files.FolderLock(args.output_dir, "experiment folder"):
        return _run_experiment(args)


def _run_experiment(args):
    from keras_resnet import analysis, files, model_file

    if args.experiment == "transfer":
        results = analysis.run_transfer(args.output_dir, shots=args.shots)
        figure = analysis.plot_transfer(results, os.path.join(args.output_dir, "transfer.png"))
        lines = [f"k = {row['k']}: from scratch {100 * row['scratch']:.1f} %, "
                 f"fine-tuned {100 * row['fine_tuned']:.1f} %"
                 for row in results["rows"]]
    elif args.experiment == "recipe":
        results = analysis.recipe_sweep(args.output_dir, shots=args.shots)
        results["best"] = analysis.best_setting(results)
        figure = analysis.plot_recipe(results, os.path.join(args.output_dir, "recipe.png"))
        lines = [f"k = {row['k']}: {row['head_epochs']} head epochs, phase 2 at {row['full_lr_factor']:g} x the rate "
                 f"for {row['full_epochs']} epochs: {100 * row['fine_tuned']:.1f} %" for row in results["rows"]]
        best = results["best"]
        lines.append(f"best on average: --head-epochs {best['head_epochs']} --full-lr-factor "
                     f"{best['full_lr_factor']:g} --epochs {best['full_epochs']} ({100 * best['mean_accuracy']:.1f} %)")
    elif args.experiment == "degradation":
        results = analysis.run_degradation(args.output_dir, args.dataset, args.depths, args.epochs,
                                           args.data_dir, batch_size=args.batch_size, learning_rate=args.lr)
        figure = analysis.plot_degradation(results, os.path.join(args.output_dir, "degradation.png"))
        lines = [f"{name}: final test error {100 * run['final_test_error']:.2f} %"
                 for name, run in results["runs"].items()]
    else:
        model = model_file.load_model(args.model)
        if args.experiment == "lesion":
            results = analysis.lesion_study(model, _experiment_data(args, model), args.max_k, args.draws)
            figure = analysis.plot_lesion(results, os.path.join(args.output_dir, "lesion.png"))
            singles = [row["error"] for row in results["single"] if not row["downsampling"]]
            lines = [f"{model.name}: error {100 * results['base_error']:.2f} %, mean error with one "
                     f"{'block' if results['residual'] else 'layer'} deleted {100 * sum(singles) / len(singles):.2f} %"]
        else:
            distribution = analysis.path_length_distribution(model)
            gradients = analysis.gradient_by_path_length(model, _experiment_data(args, model), args.lengths,
                                                         args.samples, args.images)
            results = {"distribution": distribution, "gradients": gradients}
            figure = analysis.plot_paths(distribution, gradients, os.path.join(args.output_dir, "paths.png"))
            first, last = gradients["effective_range"]
            lines = [f"{model.name}: n = {distribution['n']} blocks; 90 % of the gradient comes from paths of "
                     f"length {first}-{last}"]
    path = os.path.join(args.output_dir, f"{args.experiment}.json")
    files.write_json(path, results)
    print("\n".join(lines) + f"\nWrote {figure} and {path}")
    return 0


def _tune(args):
    from keras_resnet import files, tuning

    depths = tuning.SearchSpace.depth_range(*args.depth_range) if args.depth_range else args.depths
    space = tuning.SearchSpace(depths=tuple(depths), shortcuts=tuple(args.shortcut),
                               preact=tuple(value == "yes" for value in args.preact), widths=tuple(args.widths),
                               learning_rates=tuple(args.lr or [None]), weight_decays=tuple(args.weight_decay),
                               batch_sizes=tuple(args.batch_size or [None]))
    output_dir = args.output_dir or os.path.join("runs", "tune")
    with files.FolderLock(output_dir, "search folder"):
        return _search(args, space, output_dir)


def _search(args, space, output_dir):
    from keras_resnet import tuning
    from keras_resnet.training import TrainConfig
    from keras_resnet.training.distribute import make_strategy

    base = TrainConfig(dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
                       steps_per_epoch=args.steps_per_epoch, seed=args.seed, precision=args.precision,
                       jit_compile=args.jit_compile, verbose=0)
    strategy = make_strategy(args.strategy)
    hypermodel = tuning.ResNetHyperModel(space, base, output_dir, strategy)
    tuner = tuning.make_tuner(args.tuner, hypermodel, output_dir, args.max_trials, args.executions_per_trial,
                              args.epochs, args.overwrite, strategy, args.seed)
    tuner.search()
    rows = tuning.trial_rows(tuner, hypermodel)
    figure = tuning.write_results(rows, output_dir)
    columns = ["trial", "depth", "shortcut", "preact", "width", "params", "GFLOPs", "val error", "seconds"]
    table = [{**row, "GFLOPs": f"{row['flops'] / 1e9:.3f}", "params": f"{row['params']:,}",
              "val error": f"{100 * row['val_error']:.2f} %", "preact": "yes" if row["preact"] else "no",
              "seconds": f"{row['seconds']:.0f}" if row["seconds"] is not None else "-"} for row in rows]
    print(format_table(table, columns))
    print(f"\nBest: {rows[0]['model']} ({rows[0]['shortcut']}), {rows[0]['model_file']}\nWrote "
          f"{os.path.join(output_dir, 'trials.csv')}, trials.json and {figure}; TensorBoard HParams: "
          f"tensorboard --logdir {os.path.join(output_dir, 'runs')}")
    return 0


def _predict(args):
    from keras_resnet import files, predict

    if args.output_dir:
        files.check_writable_folder(args.output_dir)
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


def _explain(args):
    from keras_resnet import explain, files, predict

    files.check_writable_folder(args.output_dir)
    explain.check_outputs(args.images, args.output_dir, args.overwrite)
    classifier = predict.load_classifier(args.model, args.weights, args.labels, args.preprocessing)
    for image in args.images:
        explanation = explain.explain_image(classifier, image, args.top_k)
        written = explain.write_overlays(explanation, args.output_dir, args.overwrite)
        for (_, name, score), path in zip(explanation.top, written):
            print(f"{image}: {name} ({score:.3f}) -> {path}")
    return 0


def _exactly_one(first, second, message):
    """Refuses two options that exclude each other when both or neither are given."""
    if (first is None) == (second is None):
        raise ValueError(message)


def _convert(args):
    from keras_resnet import files
    from keras_resnet.convert import convert_checkpoint

    _exactly_one(args.output, args.output_dir, "Where should the converted model go? Pass --output FILE (.keras or "
                 ".weights.h5) or --output-dir DIR (writes DIR/<model>.keras).")
    if args.output_dir:
        files.check_writable_folder(args.output_dir)
    output = args.output or os.path.join(args.output_dir, f"{args.model.lower()}.keras")
    options = {"classifier_activation": None} if args.logits else {}
    if args.weights_tag:
        options["weights_tag"] = args.weights_tag
    path = convert_checkpoint(args.checkpoint, args.model, output, **options)
    print(f"Converted {args.checkpoint} to {args.model}{f' ({args.weights_tag} weights)' if args.weights_tag else ''}"
          f": {path}")
    return 0


def _evaluate(args):
    from keras_resnet import evaluate, files

    _exactly_one(args.data_dir, args.tfds, "Which images? Pass --data-dir (a folder with val/<class>/ or <class>/ "
                 "sub-folders) or --tfds NAME (a prepared TFDS dataset, with --split).")
    if args.output_dir:
        files.check_writable_folder(args.output_dir)
    model, metadata = evaluate.load_model(args.model, args.weights)
    images = (evaluate.folder_images(args.data_dir, evaluate.run_split(args.model, metadata)) if args.tfds is None
              else evaluate.tfds_images(args.tfds, args.split, args.tfds_data_dir))
    if images.note:
        print(f"keras-resnet evaluate: note: {images.note}", file=sys.stderr)
    result = evaluate.evaluate(model, images, metadata, args.ten_crop, args.batch_size, progress=not args.quiet)
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


class OneLineErrors(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit 2) that points to ``--help``, not the whole usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    description, examples = __doc__.split("\n", 1)
    parser = OneLineErrors(prog="keras-resnet", description=description, epilog="examples:\n" + examples,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    parser.subcommands = commands.choices  # name -> parser, aliases included (the tests walk them)
    command = functools.partial(_add_command, commands)
    summary = command("summary", _summary)
    summary.add_argument("names", nargs="*", help="registry names (default: every registered network)")
    summary.add_argument("--input-size", type=positive_int, default=None,
                         help="input side in pixels (default: 224 ImageNet, 32 CIFAR)")

    from keras_resnet.training.config import add_arguments

    train = command("train", _train)
    add_arguments(train)
    parser.train_parser = train  # main() sets a named experiment's values as its defaults

    export = command("export", _export)
    export.add_argument("model", help="a .keras model file (e.g. runs/<run>/model.keras)")
    export.add_argument("--to", required=True, choices=EXPORT_FORMATS, help="export format")
    export.add_argument("--output-dir", "--output", dest="output_dir", required=True,
                        help="SavedModel: the model's base folder (versions go in "
                                                        "DIR/<version>/); TFLite: folder for the .tflite files")
    export.add_argument("--version", type=positive_int, help="SavedModel version (default: the next free integer)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace a SavedModel version or .tflite files that exist")
    export.add_argument("--top-k", type=positive_int, default=5, help="classes returned per image (default 5)")
    export.add_argument("--preprocessing", default="auto", choices=PREPROCESSING,
                        help="preprocessing put into the graph (auto: none for trained models, the weights' "
                             "keras.applications mode for pretrained ImageNet models)")
    export.add_argument("--labels", help="text file with one class name per line")
    export.add_argument("--variants", nargs="+", default=list(TFLITE_VARIANTS), choices=TFLITE_VARIANTS,
                        help="TFLite conversions (default: all four)")
    export.add_argument("--precision", default="float32", choices=EXPORT_PRECISIONS,
                        help="SavedModel: float32, or bfloat16 (mixed precision, float32 outputs) with a parity "
                             "report against float32 in DIR/parity-<version>.json")
    export.add_argument("--dataset", help="TFLite: dataset for int8 calibration; TFLite and bfloat16: the parity "
                                          "report's (default: the run's, from preprocessing.json)")
    export.add_argument("--data-dir", help="where that dataset is (as for train)")
    export.add_argument("--calibration-steps", type=positive_int, default=100,
                        help="int8 calibration images (default 100)")
    export.add_argument("--eval-images", type=positive_int, default=200,
                        help="parity report images (default 200)")
    export.add_argument("--repeats", type=positive_int, default=50, help="latency runs per variant (median)")

    add_experiment_parsers(command("experiment", _experiment, aliases=["experiments"]))

    add_tune_arguments(command("tune", _tune))

    predict = command("predict", _predict)
    _add_classifier_arguments(predict, "inputs", "IMAGE|FOLDER", "image files and folders of images",
                              models="a .keras file, a SavedModel folder")
    predict.add_argument("--batch-size", type=positive_int, default=32, help="images per batch (default 32)")
    predict.add_argument("--transform", default="auto", choices=TRANSFORMS,
                         help="how images become inputs (default: the run's evaluation transform; without a run, "
                              "center_crop for ImageNet-style networks: shorter side to 256/224 of the input, then "
                              "the central crop; resize for small networks)")
    formats = predict.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    formats.add_argument("--csv", action="store_true", help="print CSV (image, rank, class, name, score)")
    predict.add_argument("--output-dir", help="also write predictions.json and predictions.csv here")

    explain = command("explain", _explain)
    _add_classifier_arguments(explain, "images", "IMAGE", "image files", models="a .keras file", default_k=3)
    explain.add_argument("--output-dir", required=True, help="where <image file name>.gradcam-<rank>-<class>.png go "
                                                              "(photo.jpg.gradcam-1-tabby.png)")
    explain.add_argument("--overwrite", action="store_true", help="replace the maps of images explained before")

    convert = command("convert", _convert)
    convert.add_argument("checkpoint", help="a .pth / .pt / .th (torch zip or legacy format) or .safetensors file")
    convert.add_argument("--model", required=True, help="registry name: resnet18 .. resnet152 (torchvision/timm), "
                                                        "resnet20 .. resnet1202 (CIFAR reference)")
    convert.add_argument("--output", help="the file to write: .keras (whole model) or .weights.h5 (weights)")
    convert.add_argument("--output-dir", help="or a folder: writes <model>.keras there")
    convert.add_argument("--weights-tag", help="the published weights the checkpoint is (e.g. imagenet-v2): the model "
                                               "remembers them, so evaluate/export/predict use their preprocessing")
    convert.add_argument("--logits", action="store_true", help="no softmax on the classifier (logits out)")

    evaluate = command("evaluate", _evaluate)
    evaluate.add_argument("model", help="a registry name with --weights, or a .keras file")
    evaluate.add_argument("--weights", help="for a registry name: a weights tag (keras-resnet summary lists them) "
                                            "or a weights file")
    evaluate.add_argument("--data-dir", help="a folder with val/<class>/ (or validation/) or <class>/ image "
                                             "sub-folders; the i-th sorted class folder is class i")
    evaluate.add_argument("--tfds", metavar="NAME", help="or a prepared TFDS dataset (e.g. imagenet2012)")
    evaluate.add_argument("--split", default="validation", help="the TFDS split (default validation)")
    evaluate.add_argument("--tfds-data-dir", help="the TFDS data dir (default ~/tensorflow_datasets)")
    evaluate.add_argument("--ten-crop", action="store_true", help="average the 10-crop views ([He16] Sec. 3.4)")
    evaluate.add_argument("--batch-size", type=positive_int, default=64, help="images per batch (default 64)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.add_argument("--output-dir", help="also write evaluation.json (measured and claimed accuracies) here")
    return parser


def _add_command(commands, name, run, **options):
    """One sub-command: its help (``COMMANDS``), its example (the module docstring's first line for it) in its own
    ``--help``, and the function that runs it."""
    help = COMMANDS[name]
    example = next(line.split("  #")[0].strip() for line in __doc__.splitlines()
                   if line.strip().startswith(f"keras-resnet {name} "))
    parser = commands.add_parser(name, help=help, description=f"{help[0].upper()}{help[1:]}, e.g. {example}",
                                 **options)
    parser.set_defaults(run=run)
    return parser


def add_experiment_parsers(experiment):
    """``keras-resnet experiment degradation|lesion|paths|transfer``: one sub-command each, with its own options."""
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--output-dir", required=True, help="where <experiment>.png and .json go")
    shared.add_argument("--data-dir", help="where the dataset is (as for train)")
    image_datasets = [name for name in DATASETS if name != "folder"]
    kinds = experiment.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    experiment.subcommands = kinds.choices

    degradation = kinds.add_parser("degradation", parents=[shared], help="plain vs residual nets of growing depth "
                                                                         "([He16] Fig. 6)")
    degradation.add_argument("--dataset", choices=image_datasets, default="digits", help="default digits")
    degradation.add_argument("--depths", type=positive_int, nargs="+", default=[20, 32, 44, 56],
                             help="CIFAR depths (default 20 32 44 56)")
    degradation.add_argument("--epochs", type=positive_int, help="epochs per run (default: the paper's)")
    degradation.add_argument("--batch-size", type=positive_int, help="global batch (default the paper's)")
    degradation.add_argument("--lr", type=positive_float, help="learning rate of every run (default the paper's 0.1)")

    studies = argparse.ArgumentParser(add_help=False, parents=[shared])
    studies.add_argument("model", metavar="MODEL_FILE", help="a trained model.keras (e.g. runs/<run>/model.keras)")
    studies.add_argument("--dataset", choices=image_datasets,
                         help="evaluation data (default: the model's, from its run)")
    lesion = kinds.add_parser("lesion", parents=[studies], help="delete or swap blocks of a trained network "
                                                                "(Veit et al. 2016)")
    lesion.add_argument("--max-k", type=positive_int, help="most blocks deleted / pairs swapped (default 10)")
    lesion.add_argument("--draws", type=positive_int, default=5, help="random draws per k (default 5)")
    paths = kinds.add_parser("paths", parents=[studies], help="path lengths and the gradient each length carries "
                                                              "(Veit et al. 2016)")
    paths.add_argument("--lengths", type=positive_int, nargs="+", help="path lengths to sample (default all)")
    paths.add_argument("--samples", type=positive_int, default=3, help="sampled paths per length (default 3)")
    paths.add_argument("--images", type=positive_int, default=32, help="images in the gradient batch (default 32)")

    transfer = kinds.add_parser("transfer", parents=[shared], help="fine-tuned vs from scratch with k labelled images "
                                                                   "per class (digits)")
    transfer.add_argument("--shots", type=positive_int, nargs="+", default=[1, 5, 10, 50],
                          help="labelled images per class of the new task (default 1 5 10 50)")
    recipe = kinds.add_parser("recipe", parents=[shared], help="the fine-tuning recipe's settings measured on the "
                                                               "transfer task (its defaults come from here)")
    recipe.add_argument("--shots", type=positive_int, nargs="+", default=[10, 50],
                        help="labelled images per class of the new task (default 10 50)")


def _add_classifier_arguments(parser, inputs, metavar, inputs_help, models, default_k=5):
    """The arguments ``predict`` and ``explain`` share: the model (a file, or a registry name with ``--weights``),
    the images (``inputs``), and how to read the model's classes and preprocessing."""
    parser.add_argument("model", help=f"{models}, or a registry name with --weights")
    parser.add_argument(inputs, nargs="+", metavar=metavar, help=inputs_help)
    parser.add_argument("--weights", help="for a registry name: imagenet, or a weights file")
    parser.add_argument("--top-k", type=positive_int, default=default_k,
                        help=f"classes per image (default {default_k})")
    parser.add_argument("--labels", help="text file with one class name per line (default: the run's "
                                         "preprocessing.json)")
    parser.add_argument("--preprocessing", default="auto", choices=PREPROCESSING,
                        help="auto: the model's own (trained models), the weights' keras.applications mode "
                             "(pretrained ImageNet models)")


def add_tune_arguments(parser, dataset="cifar10"):
    """The options of ``keras-resnet tune`` (and ``recipes/tune_cifar10.py``)."""
    add = parser.add_argument
    add("--dataset", default=dataset, choices=("digits", "cifar10", "cifar100"), help=f"default {dataset}")
    add("--data-dir", help="where the dataset is (as for train)")
    add("--depths", type=positive_int, nargs="+", default=[20, 32, 44, 56], help="CIFAR depths 6n+2 to try")
    add("--depth-range", type=int, nargs=2, metavar=("MIN", "MAX"), help="every depth 6n+2 in [MIN, MAX]")
    add("--shortcut", nargs="+", default=["none", "A"], help="none (plain twin), A, B, C (default: none A)")
    add("--preact", nargs="+", default=["no"], choices=("no", "yes"), help="pre-activation blocks: no, yes")
    add("--widths", type=positive_int, nargs="+", default=[1], help="widening factors (default 1)")
    add("--lr", type=positive_float, nargs="+", help="learning rates (default: the paper's 0.1)")
    add("--weight-decay", type=non_negative_float, nargs="+", default=[1e-4], help="weight decays (default 1e-4)")
    add("--batch-size", type=positive_int, nargs="+", help="global batch sizes (default: the paper's 128)")
    add("--tuner", default="random", choices=TUNERS, help="default random")
    add("--max-trials", type=int, default=10, help="trials of random/bayesian search (hyperband: set by --epochs)")
    add("--executions-per-trial", type=positive_int, default=1)
    add("--epochs", type=positive_int, help="epochs per trial (hyperband: the most; default: the paper's schedule)")
    add("--steps-per-epoch", type=positive_int, help="cap on training steps per epoch (quick searches)")
    add("--strategy", default="auto", choices=STRATEGIES, help="tf.distribute strategy of every trial (as for train)")
    add("--output-dir", help="search folder (default runs/tune); rerun to resume an interrupted search")
    add("--overwrite", action="store_true", help="start the search afresh instead of resuming it")
    add("--precision", default="auto", choices=PRECISIONS, help="numeric precision of every trial (as for train)")
    add("--jit-compile", default="auto", choices=JIT_COMPILE, help="XLA compilation of every trial (as for train)")
    add("--seed", type=int, default=0)
    return parser


def _run(command, run, args):
    """Runs a command; bad input and runs that could not finish end with their message, not a traceback."""
    from keras_resnet.training import TrainingError

    from keras_resnet import data

    try:
        with data.naming_unreadable_images():  # an undecodable image is named, as bad input
            return run(args)
    except ValueError as error:  # bad input: the message names the fix
        print(f"keras-resnet {command}: error: {error}", file=sys.stderr)
        return 2
    except TrainingError as error:  # a diverged run: what was kept and how to go on
        print(f"keras-resnet {command}: error: {error}", file=sys.stderr)
        return 1


def main(argv=None):
    parser = build_parser()
    args, _ = parser.parse_known_args(argv)
    if getattr(args, "experiment", None) and args.command == "train":
        from keras_resnet.training.config import EXPERIMENTS

        parser.train_parser.set_defaults(**EXPERIMENTS[args.experiment])
    args = parser.parse_args(argv)
    return _run(args.command, args.run, args)


def tune_main(argv=None, dataset="cifar10", description=None):
    """The search recipe's entry point: ``keras-resnet tune`` with its own defaults and help text."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    args = add_tune_arguments(parser, dataset).parse_args(argv)
    return _run("tune", _tune, args)


def train_main(argv=None, experiment="cifar10_resnet20", description=None):
    """The training recipes' entry point: ``keras-resnet train`` with a named experiment's defaults and help text."""
    from keras_resnet.training.config import add_arguments, parse_args

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    return _run("train", _train, parse_args(add_arguments(parser, experiment), argv))


if __name__ == "__main__":
    sys.exit(main())
