"""Runs ``keras-resnet ARGS...`` and SIGKILLs itself at a chosen point: the fault injection of the tests.

    python tests/fault_runner.py POINT -- train --dataset digits ...

POINT is one of:
- ``none``: run to the end;
- ``batch:N``: at the end of the N-th training batch of this process (1-based);
- ``replace:NAME:N``: at the N-th atomic write of a file called NAME, after the new content is fully written to its
  temporary file and before it replaces NAME (a kill in the middle of a save);
- ``write:NAME:N``: likewise, but with only half of the temporary file written.

The process kills itself with SIGKILL (no cleanup, no ``finally``), as the OS would kill it.
"""

import os
import signal
import sys


def _die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point):
    if point == "none":
        return
    kind, *rest = point.split(":")
    if kind == "batch":
        from keras_resnet.training import callbacks

        limit, seen = int(rest[0]), [0]
        original = callbacks.Throughput.on_train_batch_end

        def on_train_batch_end(self, batch, logs=None):
            original(self, batch, logs)
            seen[0] += 1
            if seen[0] >= limit:
                _die()

        callbacks.Throughput.on_train_batch_end = on_train_batch_end
        return
    name, limit = rest[0], int(rest[1])
    seen = [0]
    original_replace = os.replace

    def replace(source, target, *args, **kwargs):
        if os.path.basename(os.fspath(target)) == name:
            seen[0] += 1
            if seen[0] >= limit:
                if kind == "write":
                    size = os.path.getsize(source)
                    with open(source, "r+b") as file:
                        file.truncate(size // 2)
                _die()
        return original_replace(source, target, *args, **kwargs)

    os.replace = replace


def main():
    point, separator, *argv = sys.argv[1:]
    assert separator == "--", "usage: fault_runner.py POINT -- ARGS..."
    install(point)
    from keras_resnet import cli

    sys.exit(cli.main(argv))


if __name__ == "__main__":
    main()
