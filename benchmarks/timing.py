"""What the benchmarks share: images/s of a dataset, alternating rounds (median step times:
``keras_resnet.support.timing.median_latency``), their argument parser and the CPU cores they run on."""

import argparse
import os
import time


def dataset_images_per_second(dataset, batches, warmup=2):
    """Images/s of iterating ``batches`` batches of ``(images, labels)``, after ``warmup`` untimed batches (tracing,
    the parallel calls' ramp-up and the first fill of the prefetch buffers)."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start, count = time.perf_counter(), 0
    for _ in range(batches):
        images, _ = next(iterator)
        count += int(images.shape[0])
    return count / (time.perf_counter() - start)


def alternate(measurements, rounds):
    """Runs every ``name -> measure()`` once per round, in turn, and keeps each one's best (largest) result.

    Alternating spreads the machine's slow moments (other processes, thermal state) over all contenders instead of
    penalising whichever ran during them; the best round is the least disturbed one.
    """
    best = {name: float("-inf") for name in measurements}
    for _ in range(rounds):
        for name, measure in measurements.items():
            best[name] = max(best[name], measure())
    return best


def argument_parser(doc, script):
    """The parser of the benchmark ``script`` (its ``__file__``): the first paragraph of its docstring ``doc`` as the
    description, defaults in the help, and errors in one line that points to ``--help``
    (``keras_resnet.cli.OneLineErrors``)."""
    from keras_resnet.cli import OneLineErrors

    return OneLineErrors(prog=os.path.basename(script), description=" ".join(doc.split("\n\n")[0].split()),
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def check_models(parser, names):
    """Refuses unknown network names (``parser.error``, one line) before anything is measured."""
    from keras_resnet.applications import registry

    for name in names:
        try:
            registry.spec(name)
        except ValueError as error:
            parser.error(str(error))


def cpu_cores():
    """The CPU cores this process may run on (its affinity: fewer than the machine's under ``taskset``)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
