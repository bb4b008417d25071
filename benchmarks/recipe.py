"""A whole training run of the recipe against a plain ``model.fit`` of the same network and against PyTorch: where
the time of a run goes; one table, one run.

    python benchmarks/recipe.py                  # digits and CIFAR-10's size (50,000 images): ~25 minutes on 2 cores
    python benchmarks/recipe.py --images 2560 --rounds 2      # 2,560 CIFAR-sized images: ~5 minutes
    python benchmarks/recipe.py --images 640 --epochs 2 --rounds 1 --steps 3     # a quick look

For the digits (1,437 training and 360 test images) and a CIFAR-sized synthetic set (random 32x32 images of 10
classes: ``--images`` for training, a fifth as many for testing; 50,000 and 10,000 are CIFAR-10's), alternating
rounds time, at batch ``--batch-size``, float32, CIFAR ResNet-20:

- "fit": ``model.fit`` of the run's network (``trainer.build_model``: SGD with momentum, the top-1 error metric)
  on in-memory float32 arrays, shuffled, with the test arrays as ``validation_data``.
- "stream": the same, fed by the recipe's training stream ``data.train_dataset`` (every epoch a function of
  ``(seed, epoch)``, augmented) instead of the arrays.
- "run": a whole ``keras-resnet train`` run, in this process through the library (``training.Run``: build,
  ``fit`` with every callback, ``finish``) into a fresh run folder; its default distribution strategy, as the
  command has. Split into its steps, its validation and each callback's epoch end (the backup: "RunBackup").
- "PyTorch": a torch training loop of CIFAR ResNet-20 with option A shortcuts (SGD with momentum, weight decay),
  training steps on random batches, no validation; only where torch is installed (the ``torch`` extra).

Every Keras model is built, compiled and traced before the rounds but the run's, which is built anew each round as
the command does; so images/s count the epochs after the first of each fit (``--epochs`` of them, the first
untimed), validation and epoch ends included, and each keeps its best round. Ratios are to "fit" (and to PyTorch)
on the same data in the same run.
"""

import importlib.metadata
import importlib.util
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_resnet import data  # noqa: E402
from keras_resnet.data.source import from_arrays  # noqa: E402
from keras_resnet.models.metrics import TopKError  # noqa: E402
from keras_resnet.support.tables import format_table  # noqa: E402
from keras_resnet.training import callbacks as callbacks_lib  # noqa: E402
from keras_resnet.training import trainer  # noqa: E402
from keras_resnet.training.config import TrainConfig  # noqa: E402
from keras_resnet.support.validation import positive_int  # noqa: E402
from timing import alternate, argument_parser, cpu_cores  # noqa: E402

MODEL = "resnet20"
DATASETS = {"digits": "digits", "cifar": "CIFAR-sized"}


class Stopwatch(keras.callbacks.Callback):
    """Wall-clock seconds of a fit's epochs after the first (``seconds``, ``epochs``), and their ``parts``: steps
    (epoch begin to validation), validation, each callback's ``on_epoch_end`` that ``timed`` wraps, the backup
    (this callback's epoch end to the next epoch's begin: keep it last but ``RunBackup``) and the rest."""

    BACKUP = "RunBackup (backup/)"

    def __init__(self):
        super().__init__()
        self.parts, self.epochs, self.seconds = {}, 0, 0.0
        self._first, self._started, self._marks = None, None, {}

    def _add(self, part, seconds):
        if self._started is not None:
            self.parts[part] = self.parts.get(part, 0.0) + seconds

    def timed(self, callback, name):
        """``callback`` with its ``on_epoch_end`` timed as the part ``name``."""
        on_epoch_end = callback.on_epoch_end

        def timed_epoch_end(epoch, logs=None):
            start = time.perf_counter()
            on_epoch_end(epoch, logs)
            self._add(name, time.perf_counter() - start)
        callback.on_epoch_end = timed_epoch_end
        return callback

    def _lap(self, mark, part=None):
        now = time.perf_counter()
        if part is not None and mark in self._marks:
            self._add(part, now - self._marks.pop(mark))
        return now

    def on_epoch_begin(self, epoch, logs=None):
        now = self._lap("end", self.BACKUP)
        self._first = epoch if self._first is None else self._first
        if epoch > self._first:
            self._started = self._started or now
            self.epochs += 1
        self._marks["begin"] = now

    def on_test_begin(self, logs=None):
        self._marks["test"] = self._lap("begin", "steps")

    def on_test_end(self, logs=None):
        self._lap("test", "validation")

    def on_epoch_end(self, epoch, logs=None):
        self._marks["end"] = time.perf_counter()

    def on_train_end(self, logs=None):
        now = self._lap("end", self.BACKUP)
        self.seconds = now - self._started if self._started is not None else math.nan
        if self.parts:
            self.parts["other (Keras, logs)"] = self.seconds - sum(self.parts.values())


class TimedRun(trainer.Run):
    """A ``Run`` whose callbacks' epoch ends the ``stopwatch`` times."""

    def __init__(self, config, source, stopwatch):
        self.stopwatch = stopwatch
        super().__init__(config, source=source)

    def callbacks(self, start_epoch):
        named = []
        for callback in super().callbacks(start_epoch):
            name = type(callback).__name__
            if isinstance(callback, callbacks_lib.Checkpoint):
                name += f" {os.path.basename(callback.path)}"
            named.append(self.stopwatch.timed(callback, name))
        return named


def compiled_model(source):
    """The run's network for ``source``, compiled as ``Run.build_model`` compiles it (no strategy, no schedule)."""
    model = trainer.build_model(MODEL, source)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=[TopKError(1)])
    return model


def synthetic_source(images, seed=0):
    """Random uint8 32x32x3 images of 10 classes: ``images`` for training, a fifth as many for testing."""
    rng = np.random.default_rng(seed)
    split = [(rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, count))
             for count in (images, max(1, images // 5))]
    return from_arrays("synthetic", *split, [str(label) for label in range(10)])


def test_arrays(source):
    images, labels = zip(*source.test.batch(4096).as_numpy_iterator())
    return np.concatenate(images).astype("float32"), np.concatenate(labels)


def fitter(kind, source, batch, steps, epochs):
    """``measure() -> images/s`` of "fit" (arrays) or "stream" (``data.train_dataset``) on a model compiled and
    traced here, once."""
    model = compiled_model(source)
    validation = test_arrays(source)
    train_images, train_labels = zip(*source.train.take(steps * batch).batch(4096).as_numpy_iterator())
    x, y = np.concatenate(train_images).astype("float32"), np.concatenate(train_labels)
    rounds = iter(range(1_000_000))

    def measure(epochs=epochs):
        stopwatch = Stopwatch()
        if kind == "fit":
            model.fit(x, y, batch_size=batch, epochs=epochs, validation_data=validation, callbacks=[stopwatch],
                      verbose=0)
        else:
            stream = data.train_dataset(source, batch, epochs, seed=next(rounds), steps=steps)
            model.fit(stream, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
                      callbacks=[stopwatch], verbose=0, shuffle=False)
        return stopwatch.epochs * steps * batch / stopwatch.seconds if stopwatch.epochs else math.nan
    measure(epochs=1)  # tracing of the training and validation steps, outside the rounds
    return measure


def runner(source, dataset, batch, steps, epochs, work_dir, breakdown):
    """``measure() -> images/s`` of a whole run into a fresh run folder; keeps the parts of its best round (seconds
    per epoch) and the images/s that the run printed in ``breakdown``."""
    def measure():
        folder = tempfile.mkdtemp(prefix="run-", dir=work_dir)
        stopwatch = Stopwatch()
        config = TrainConfig(model=MODEL, dataset="digits" if dataset == "digits" else "cifar10", epochs=epochs,
                             batch_size=batch, steps_per_epoch=steps, output_dir=os.path.join(folder, "run"),
                             verbose=0)
        with TimedRun(config, source, stopwatch) as run:
            model = run.build_model()
            run.fit(model, extra_callbacks=[stopwatch])
            run.finish(model)
            printed = run.throughput.images_per_second
        shutil.rmtree(folder, ignore_errors=True)
        speed = stopwatch.epochs * run.plan.steps * run.plan.batch / stopwatch.seconds
        if speed > breakdown.get("speed", 0.0):
            breakdown.update(speed=speed, printed=printed,
                             parts={part: seconds / stopwatch.epochs for part, seconds in stopwatch.parts.items()})
        return speed
    return measure


def torch_loop(batch, steps):
    """``measure() -> images/s`` of ``steps`` torch training steps of ResNet-20 on one random batch, each
    measurement in a process of its own (``torch_resnet20.py``: torch as a user runs it, without TensorFlow in the
    process; importing torch's optimizers beside TensorFlow crashes some builds); ``None`` when torch is not
    installed."""
    if importlib.util.find_spec("torch") is None:
        return None
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_resnet20.py")

    def measure():
        done = subprocess.run([sys.executable, script, "--batch-size", str(batch), "--steps", str(steps)],
                              capture_output=True, text=True, check=True)
        return float(done.stdout.split()[-1])
    return measure


def parse(argv):
    parser = argument_parser(__doc__, __file__)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--images", type=positive_int, default=50_000,
                        help="training images of the CIFAR-sized set (CIFAR-10: 50000), a fifth as many test ones")
    parser.add_argument("--epochs", type=positive_int, default=2, help="epochs of every fit; the first is untimed")
    parser.add_argument("--steps", type=positive_int, default=None, help="steps per epoch (default: whole epochs)")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--rounds", type=positive_int, default=1,
                        help="alternating rounds; each measurement keeps its best (one 50,000-image epoch of 391 "
                             "steps averages over two minutes already)")
    parser.add_argument("--work-dir", default=None, help="where the runs' folders go (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (the first epoch of every fit traces and is not timed), got "
                     f"{args.epochs}")
    if "cifar" in args.datasets and args.images // 5 < args.batch_size:
        parser.error(f"--images must be at least 5 batches ({5 * args.batch_size}: a fifth of them is the test "
                     f"set), got {args.images}")
    if "digits" in args.datasets and args.batch_size > 1437:
        parser.error(f"--batch-size must be at most the 1437 training digits, got {args.batch_size}")
    return args


def measurements(args, work_dir):
    """``name -> measure()`` of every row, and the runs' breakdowns by dataset."""
    measures, breakdowns = {}, {}
    for dataset in args.datasets:
        source = data.load("digits") if dataset == "digits" else synthetic_source(args.images)
        full = data.steps_per_epoch(source, args.batch_size)
        steps = min(args.steps or full, full)
        for kind in ("fit", "stream"):
            measures[(dataset, kind)] = fitter(kind, source, args.batch_size, steps, args.epochs)
        breakdowns[dataset] = {"steps": steps, "source": source}
        measures[(dataset, "run")] = runner(source, dataset, args.batch_size, steps if args.steps else None,
                                            args.epochs, work_dir, breakdowns[dataset])
        loop = torch_loop(args.batch_size, steps)
        if loop is not None:
            measures[(dataset, "torch")] = loop
    return measures, breakdowns


LABELS = {"fit": "(a) model.fit on arrays + validation_data", "stream": "(b) fit on data.train_dataset",
          "run": "(c) whole run (keras-resnet train)", "torch": "PyTorch loop (training steps only)"}


def rows(args, best, breakdowns):
    table, parts = [], []
    for dataset in args.datasets:
        name, info = DATASETS[dataset], breakdowns[dataset]
        name += f" ({info['source'].num_train}/{info['source'].num_test}, {info['steps']} steps)"
        for kind in ("fit", "stream", "run", "torch"):
            if (dataset, kind) not in best:
                continue
            speed = best[(dataset, kind)]
            torch = best.get((dataset, "torch"))
            table.append({"data": name, "what": LABELS[kind], "images/s": f"{speed:.1f}",
                          "vs (a)": f"{speed / best[(dataset, 'fit')]:.2f}x",
                          "vs PyTorch": f"{speed / torch:.2f}x" if torch else "-"})
        run = info.get("parts", {})
        total = sum(run.values())
        for part, seconds in sorted(run.items(), key=lambda item: -item[1]):
            parts.append({"data": name, "run, per epoch": part, "seconds": f"{seconds:.3f}",
                          "share": f"{100 * seconds / total:.1f}%"})
        if run:
            parts.append({"data": name, "run, per epoch": "(printed images/s)", "seconds": f"{info['printed']:.1f}",
                          "share": "-"})
    return table, parts


def main(argv=None):
    args = parse(argv)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="recipe-benchmark-")
    try:
        measures, breakdowns = measurements(args, work_dir)
        best = alternate(measures, args.rounds)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    table, parts = rows(args, best, breakdowns)
    print(format_table(table, list(table[0])))
    print()
    print(format_table(parts, list(parts[0])))
    if importlib.util.find_spec("torch") is not None:
        torch_note = f"torch {importlib.metadata.version('torch')} (in a process of its own)"
    else:
        torch_note = "no PyTorch row: torch is not installed (pip install -e '.[torch]')"
    print(f"\nkeras {keras.__version__}, TensorFlow {tf.__version__}, {torch_note}; {MODEL}, batch {args.batch_size},"
          f" float32, {cpu_cores()} CPU cores; best of {args.rounds} alternating rounds of {args.epochs} epochs "
          "(the first untimed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
