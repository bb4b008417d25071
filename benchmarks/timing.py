"""Timing helpers the benchmarks share: images/s of a dataset, alternating rounds (median step times:
``keras_resnet.timing.median_latency``)."""

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
