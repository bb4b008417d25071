"""The learning-rate schedules of [He16], expressed in iterations and stretched to the length of a run.

CIFAR (Sec. 4.2): 0.1, divided by 10 at 32k and 48k of 64k iterations; ResNet-110/1202 start at 0.01 for 400
iterations (in a shorter run: 400 iterations, at most a tenth of the run). ImageNet (Sec. 3.4): 0.1, divided by 10 when the error plateaus (``plateau``), or at fixed quarters of
the run (``step``). A run of another length keeps the same fractions: the drops of a 15-epoch run come at 50 % and
75 % of its iterations. The learning rate follows the linear scaling rule (Goyal et al. 2017): ``lr * global batch /
the paper's batch``, which is the paper's value at the paper's batch.
"""

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A paper recipe: batch, learning rate, length and drops in iterations, warm-up, plateau handling."""

    batch_size: int
    learning_rate: float
    iterations: int
    drops: tuple
    schedule: str = "step"
    warmup_iterations: int = 0
    warmup_learning_rate: float = 0.01
    warmup_min_depth: int = 110
    plateau_patience: int = 5


RECIPES = {
    "cifar": Recipe(batch_size=128, learning_rate=0.1, iterations=64_000, drops=(32_000, 48_000),
                    warmup_iterations=400),
    "imagenet": Recipe(batch_size=256, learning_rate=0.1, iterations=600_000, drops=(150_000, 300_000, 450_000),
                       schedule="plateau"),
}
DATASET_RECIPE = {"digits": "cifar", "cifar10": "cifar", "cifar100": "cifar", "imagenet": "imagenet",
                  "folder": "cifar"}


def scaled_learning_rate(recipe, learning_rate, global_batch):
    """Linear scaling rule: ``learning_rate * global_batch / recipe.batch_size``."""
    return learning_rate * global_batch / recipe.batch_size


def step_schedule(recipe, learning_rate, total_steps, warmup=False):
    """``PiecewiseConstantDecay`` with the recipe's drops (and warm-up) placed at the same fractions of
    ``total_steps`` as in the paper's ``recipe.iterations``.

    Args:
        recipe: a ``Recipe``.
        learning_rate: the (already scaled) base learning rate.
        total_steps: iterations of this run.
        warmup: start at ``recipe.warmup_learning_rate`` (scaled like the base) for the warm-up iterations.
    """
    scale = total_steps / recipe.iterations
    boundaries = [max(1, round(drop * scale)) for drop in recipe.drops]
    values = [learning_rate * 0.1 ** i for i in range(len(boundaries) + 1)]
    if warmup and recipe.warmup_iterations:
        # The warm-up gets a deep net past its unstable first steps, which take a number of iterations rather than
        # a share of the run: the paper's 400 iterations, but at most a tenth of a shorter run.
        warmup_steps = max(1, min(recipe.warmup_iterations, round(0.1 * total_steps)))
        boundaries.insert(0, warmup_steps)
        values.insert(0, learning_rate * recipe.warmup_learning_rate / recipe.learning_rate)
    # Very short runs can merge boundaries; keep them strictly increasing.
    for i in range(1, len(boundaries)):
        boundaries[i] = max(boundaries[i], boundaries[i - 1] + 1)
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def cosine_schedule(learning_rate, total_steps, warmup=False):
    """Cosine decay from ``learning_rate`` to 0 over ``total_steps`` (Loshchilov & Hutter 2017), the fine-tuning
    schedule; with ``warmup``, a linear rise from 0 over the first tenth of the run (at least one step) first."""
    warmup_steps = max(1, round(0.1 * total_steps)) if warmup else 0
    if not warmup_steps:
        return keras.optimizers.schedules.CosineDecay(learning_rate, max(1, total_steps))
    return keras.optimizers.schedules.CosineDecay(0.0, max(1, total_steps - warmup_steps),
                                                  warmup_target=learning_rate, warmup_steps=warmup_steps)
