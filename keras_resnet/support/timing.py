"""Latency measurement shared by the exporters' reports and the benchmarks (standard library only)."""

import statistics
import time


def median_latency(call, repeats=50, warmup=3):
    """Median seconds of ``call()`` over ``repeats`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(statistics.median(times))
