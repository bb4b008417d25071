"""``keras-resnet experiment degradation|lesion|paths|transfer|recipe``: the seeds' experiments, figure and JSON."""

import argparse
import os

from keras_resnet.support.choices import DATASETS
from keras_resnet.support.validation import positive_float, positive_int

HELP = "the seeds' experiments: degradation, lesion study, path lengths; transfer, fine-tuning recipe"
ALIASES = ["experiments"]


def add_arguments(experiment):
    """One sub-command per experiment, with its own options."""
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


def run(args):
    from keras_resnet.support import files

    with files.FolderLock(args.output_dir, "experiment folder"):
        results, figure, lines = _RUNS.get(args.experiment, _model_study)(args)
        path = os.path.join(args.output_dir, f"{args.experiment}.json")
        files.write_json(path, results)
    print("\n".join(lines) + f"\nWrote {figure} and {path}")
    return 0


def _transfer(args):
    from keras_resnet import analysis

    results = analysis.run_transfer(args.output_dir, shots=args.shots)
    figure = analysis.plot_transfer(results, os.path.join(args.output_dir, "transfer.png"))
    lines = [f"k = {row['k']}: from scratch {100 * row['scratch']:.1f} %, fine-tuned {100 * row['fine_tuned']:.1f} %"
             for row in results["rows"]]
    return results, figure, lines


def _recipe(args):
    from keras_resnet import analysis

    results = analysis.recipe_sweep(args.output_dir, shots=args.shots)
    results["best"] = analysis.best_setting(results)
    figure = analysis.plot_recipe(results, os.path.join(args.output_dir, "recipe.png"))
    lines = [f"k = {row['k']}: {row['head_epochs']} head epochs, phase 2 at {row['full_lr_factor']:g} x the rate "
             f"for {row['full_epochs']} epochs: {100 * row['fine_tuned']:.1f} %" for row in results["rows"]]
    best = results["best"]
    lines.append(f"best on average: --head-epochs {best['head_epochs']} --full-lr-factor "
                 f"{best['full_lr_factor']:g} --epochs {best['full_epochs']} ({100 * best['mean_accuracy']:.1f} %)")
    return results, figure, lines


def _degradation(args):
    from keras_resnet import analysis

    results = analysis.run_degradation(args.output_dir, args.dataset, args.depths, args.epochs,
                                       args.data_dir, batch_size=args.batch_size, learning_rate=args.lr)
    figure = analysis.plot_degradation(results, os.path.join(args.output_dir, "degradation.png"))
    lines = [f"{name}: final test error {100 * run['final_test_error']:.2f} %"
             for name, run in results["runs"].items()]
    return results, figure, lines


def _model_study(args):
    """The lesion study or the path lengths of a trained model file."""
    from keras_resnet import analysis
    from keras_resnet.inference import model_file

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
    return results, figure, lines


_RUNS = {"transfer": _transfer, "recipe": _recipe, "degradation": _degradation}


def _experiment_data(args, model):
    """Batches of the test split of the experiment's dataset (default: the run's), at the model's input size and
    with the evaluation transform it was trained with."""
    from keras_resnet import data
    from keras_resnet.inference import model_file

    dataset = args.dataset or model_file.run_metadata(args.model).get("dataset")
    if dataset is None:
        raise ValueError("Which data? Pass --dataset (the model has no preprocessing.json from training beside it).")
    size = model_file.input_size(model)[0]
    return data.eval_dataset(data.load(dataset, args.data_dir, image_size=None if size == 32 else size),
                             batch_size=256)
