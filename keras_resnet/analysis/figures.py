"""Figures of the experiments, laid out like the papers' ([He16] Fig. 6, [Veit16] Fig. 3-6), as PNG files.

matplotlib's object API (``Figure``) writes the files without a display or a global backend.
"""

import numpy as np
from matplotlib.figure import Figure

from keras_resnet.support import files

DPI = 100


def save_figure(figure, path):
    """Lays out ``figure`` and writes it to ``path`` (PNG) atomically; returns ``path``."""
    figure.tight_layout()
    with files.atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI)
    return path


def plot_degradation(results, path):
    """Plain nets left, ResNets right; dashed: training error, solid: test error, one colour per depth."""
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots(1, 2, sharey=True)
    for panel, residual in zip(axes, (False, True)):
        for index, depth in enumerate(results["depths"]):
            run = next(run for run in results["runs"].values()
                       if run["depth"] == depth and run["residual"] == residual)
            epochs = range(1, len(run["test_error"]) + 1)
            colour = f"C{index}"
            panel.plot(epochs, [100 * e for e in run["train_error"]], "--", color=colour, linewidth=1)
            panel.plot(epochs, [100 * e for e in run["test_error"]], "-", color=colour, linewidth=2,
                       label=f"{'ResNet' if residual else 'plain'}-{depth}")
        panel.set_title(f"{'residual' if residual else 'plain'} ({results['dataset']})")
        panel.set_xlabel("epoch")
        panel.legend()
        panel.grid(alpha=0.3)
    axes[0].set_ylabel("error (%)   dashed: training, solid: test")
    return save_figure(figure, path)


def plot_lesion(results, path):
    """Error when deleting single blocks, k random blocks, and when swapping k pairs."""
    figure = Figure(figsize=(13, 4))
    single, deleted, swapped = figure.subplots(1, 3)
    unit = "block" if results["residual"] else "layer"
    rows = results["single"]
    single.plot([r["index"] for r in rows], [100 * r["error"] for r in rows], "o-", label=f"{unit} deleted")
    down = [r for r in rows if r["downsampling"]]
    if down:
        single.plot([r["index"] for r in down], [100 * r["error"] for r in down], "rs", label="downsampling")
    single.axhline(100 * results["base_error"], color="gray", linestyle="--", label="no deletion")
    single.set(xlabel=f"deleted {unit} (index)", ylabel="test error (%)", title=f"{results['model']}: one {unit}")
    for panel, key, title in ((deleted, "deleted", f"k random {unit}s deleted"), (swapped, "swapped",
                                                                                    "k pairs swapped")):
        rows = results[key]
        panel.errorbar([r["k"] for r in rows], [100 * r["mean"] for r in rows], [100 * r["std"] for r in rows],
                       marker="o", capsize=3)
        panel.axhline(100 * results["base_error"], color="gray", linestyle="--")
        panel.set(xlabel="k", ylabel="test error (%)", title=title)
    for panel in (single, deleted, swapped):
        panel.grid(alpha=0.3)
    single.legend()
    return save_figure(figure, path)


def plot_paths(distribution, gradients, path):
    """(a) path-length distribution, (b) gradient magnitude per path length, (c) total gradient per length."""
    figure = Figure(figsize=(13, 4))
    counts, magnitude, total = figure.subplots(1, 3)
    n = distribution["n"]
    counts.bar(range(n + 1), distribution["counts"], color="C0")
    counts.set(xlabel="path length", ylabel="number of paths", title=f"(a) path lengths, n = {n}")
    magnitude.semilogy(gradients["lengths"], gradients["magnitude"], "o-", color="C1")
    magnitude.set(xlabel="path length", ylabel="gradient magnitude at input",
                  title="(b) gradient per path")
    total.plot(gradients["lengths"], gradients["total"], "o-", color="C2")
    first, last = gradients["effective_range"]
    total.axvspan(first, last, color="C2", alpha=0.15, label=f"90 % of the gradient: {first}-{last}")
    total.set(xlabel="path length", ylabel="total gradient magnitude", title="(c) total gradient by length")
    total.legend()
    for panel in (counts, magnitude, total):
        panel.grid(alpha=0.3)
    return save_figure(figure, path)


def plot_transfer(results, path):
    """Test accuracy on the new classes against labelled images per class (log scale): from scratch, the pretrained
    network with a new classifier, and fine-tuned."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    shots = [row["k"] for row in results["rows"]]
    for arm, label, style in (("scratch", "from scratch", "o--"), ("head", "pretrained, new classifier only", "s:"),
                              ("fine_tuned", "fine-tuned (two phases)", "o-")):
        axes.plot(shots, [100 * row[arm] for row in results["rows"]], style, label=label)
    _log_x_panel(axes, "labelled images per class (k)", "test accuracy (%)", f"{results['model']}: digits 0-4 -> 5-9")
    return save_figure(figure, path)


def _log_x_panel(axes, xlabel, ylabel, title, legend_size=None):
    """Log-scale x axis, labels, a light grid and the legend of an accuracy panel."""
    axes.set_xscale("log")
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=legend_size)


def plot_recipe(results, path):
    """Fine-tuned test accuracy against phase 2's learning-rate factor (log scale), one panel per ``k``, one line per
    phase 1 / phase 2 epoch count (``analysis.recipe_sweep``)."""
    shots = sorted({row["k"] for row in results["rows"]})
    figure = Figure(figsize=(5 * len(shots), 4))
    for axes, k in zip(np.atleast_1d(figure.subplots(1, len(shots))), shots):
        rows = [row for row in results["rows"] if row["k"] == k]
        for head, epochs in sorted({(row["head_epochs"], row["full_epochs"]) for row in rows}):
            line = sorted((row["full_lr_factor"], 100 * row["fine_tuned"]) for row in rows
                          if (row["head_epochs"], row["full_epochs"]) == (head, epochs))
            axes.plot(*zip(*line), "o-", label=f"{head} head + {epochs} full epochs")
        _log_x_panel(axes, "phase 2 learning rate / phase 1's", "fine-tuned test accuracy (%)",
                     f"{results['model']}, k = {k} images per class", legend_size="small")
    return save_figure(figure, path)
