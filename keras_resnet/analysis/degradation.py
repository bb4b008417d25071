"""The degradation experiment of [He16] Fig. 1 and Fig. 6: plain and residual nets of several depths, one recipe.

Every network is trained with ``keras_resnet.training.train`` (the same recipe, data and seed); the per-epoch
training error (on the augmented training batches, as the paper plots it) and test error come from each run's
``history.csv``.
"""

import os

from keras_resnet.applications.registry import cifar_spec
from keras_resnet.training import TrainConfig, train
from keras_resnet.training.trainer import history_rows


def run_degradation(output_dir, dataset="digits", depths=(20, 32, 44, 56), epochs=None, data_dir=None, seed=0,
                    verbose=0, **options):
    """Trains ``plain<d>`` and ``resnet<d>`` for each depth ``d``; returns the curves.

    Runs go to ``output_dir/runs/<name>`` (a rerun resumes or reuses them). ``options`` are further
    ``TrainConfig`` fields (``batch_size``, ``steps_per_epoch``, ...).

    Returns:
        dict: ``dataset``, ``depths``, ``epochs`` and ``runs``: per network ``depth``, ``residual``,
        ``train_error`` and ``test_error`` per epoch, ``final_test_error``, ``params``.
    """
    depths = [int(depth) for depth in depths]
    if not depths:
        raise ValueError("Give at least one depth, e.g. --depths 20 56.")
    for depth in depths:
        cifar_spec(depth)  # every depth is checked (6n+2) before any training
    results = {"dataset": dataset, "depths": depths, "epochs": epochs, "runs": {}}
    for depth in depths:
        for residual in (False, True):
            name = cifar_spec(depth, shortcut="A" if residual else "none").name
            run_dir = os.path.join(output_dir, "runs", name)
            summary = train(TrainConfig(model=name, dataset=dataset, data_dir=data_dir, epochs=epochs, seed=seed,
                                        output_dir=run_dir, verbose=verbose, **options))
            rows = history_rows(run_dir)
            train_error = [float(row["top1_error"]) for row in rows]
            test_error = [float(row["val_top1_error"]) for row in rows]
            results["epochs"] = summary["epochs"]
            results["runs"][name] = {"depth": depth, "residual": residual, "train_error": train_error,
                                     "test_error": test_error, "final_test_error": summary["test_error"],
                                     "params": summary["params"], "model": os.path.join(run_dir, "model.keras")}
    return results
