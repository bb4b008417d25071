"""Files that survive kills and never mix two writers: atomic writes and an exclusive folder lock.

Every file keras-resnet writes goes through ``atomic_path`` (or its helpers ``write_text`` / ``write_json``): the
content is written to a temporary file in the same folder and renamed over the target (``os.replace``, atomic on
POSIX and Windows), so a process killed at any instant leaves either the old file or the new one, never a torn one.

A folder in use (a training run, a search, an experiment) is held with ``FolderLock``: an operating-system lock
(``filelock``: ``flock`` on POSIX, ``LockFileEx`` on Windows) on ``<folder>/.lock.os`` that is released when the
process dies, so a stale lock from a killed run never blocks a resume, while a second live process is refused at once
with the holder's process id and command, which the holder writes to ``<folder>/.lock``. The two are separate files
because Windows forbids reading a locked file and ``filelock`` owns its file's contents.

Standard library and ``filelock`` (a portable file lock; see docs/ARCHITECTURE.md).
"""

import contextlib
import json
import os
import shutil
import sys
import tempfile

import filelock

LOCK_FILE = ".lock"  # the holder's process id and command: present while, and after, a process holds the folder
OS_LOCK_FILE = ".lock.os"  # the file the operating system locks
TEMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path`` (same suffix) to write to; renames it over ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched. Example::

        with atomic_path("run/model.keras") as temporary:
            model.save(temporary)
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = "".join(_suffixes(name))
    handle, temporary = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{name}-", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        os.remove(temporary)  # writers such as model.save refuse or append to an existing file
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _suffixes(name):
    """``"a.weights.h5"`` -> ``[".weights", ".h5"]``: Keras decides the format from the whole suffix."""
    parts = name.split(".")[1:]
    return [f".{part}" for part in parts][-2:]


def _fsync(path):
    if os.path.isfile(path):
        with open(path, "rb") as file:
            os.fsync(file.fileno())


def write_bytes(path, data):
    """Writes ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        file.write(data)


def write_text(path, text):
    """Writes ``text`` to ``path`` atomically (UTF-8)."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, value, indent=2):
    """Writes ``value`` as JSON to ``path`` atomically."""
    write_text(path, json.dumps(value, indent=indent) + "\n")


def read_json(path, default=None):
    """The JSON value in ``path``, or ``default`` when the file does not exist."""
    if not os.path.exists(path):
        return default
    with open(path) as file:
        return json.load(file)


def remove_stale_temporaries(folder):
    """Removes the temporary files that killed writers left in ``folder`` and its sub-folders (never a finished
    file). Call it only while holding the folder's lock. A sub-folder with a lock file of its own (a multi-worker
    run's worker folder, say) is another process's: its files may be in flight, and its holder cleans it."""
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not any(os.path.exists(os.path.join(root, name, lock))
                                                          for lock in (LOCK_FILE, OS_LOCK_FILE))]
        for name in names:
            if name.startswith(TEMP_PREFIX):
                os.remove(os.path.join(root, name))


def refuse_existing(paths, overwrite, option="--output-dir"):
    """Refuses, before the work that would write them, output ``paths`` that are there: a file unless ``overwrite``
    (the first one named), a folder in a file's place always (its write would fail after the work). ``option``: the
    option that chose where they go, named in the fix."""
    paths = [os.fspath(path) for path in paths]
    for path in paths:
        if os.path.isdir(path):
            raise ValueError(f"{path!r} is a folder where a file is to be written: move it away, or pass another "
                             f"{option}.")
    found = [path for path in paths if os.path.isfile(path)]
    if found and not overwrite:
        raise ValueError(f"{found[0]} exists: pass --overwrite to replace it, or choose another {option}.")


@contextlib.contextmanager
def export_folder(folder):
    """Holds ``folder`` (an export's output folder) for one export: its ``FolderLock`` (a second export into it
    waits for none and is refused, naming the holder: two exports would each rewrite the shared ``parity.json``), and
    the temporaries that a killed export left there removed first."""
    with FolderLock(folder, "export folder") as lock:
        # Exports write their temporaries (files, a staged SavedModel version) in the folder itself: only its own
        # entries are looked at, not the trees that users keep beside (an export into ".", say).
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if name.startswith(TEMP_PREFIX) and os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif name.startswith(TEMP_PREFIX):
                os.remove(path)
        yield lock


def existing(path, kind, error, message):
    """``os.fspath(path)`` when it names an existing ``kind`` (``"file"`` or ``"folder"``); else raises
    ``error(message)`` (``message`` says what to pass instead)."""
    found = path is not None and (os.path.isfile if kind == "file" else os.path.isdir)(os.fspath(path))
    if not found:
        raise error(message)
    return os.fspath(path)


def check_writable_folder(path, option="--output-dir"):
    """Refuses a folder path that is a file or cannot be created or written, before any work is done.

    The test is real: a folder is made (and removed) in ``path`` or in its nearest existing parent, since permission
    bits say nothing about root, Windows ACLs or file systems such as ``/proc`` that take no new folders.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{option} {path!r} is a file: pass a folder.")
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(os.path.abspath(parent))
    if not os.path.isdir(parent):
        raise ValueError(f"Cannot write to {path!r}: {parent!r} is not a writable folder (it is a file). Pass a "
                         f"writable {option}.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent))
    except OSError as error:
        reason = error.strerror or type(error).__name__
        what = f"{path!r} is not writable" if parent == path else f"{path!r} cannot be created in {parent!r}"
        raise ValueError(f"Cannot write to {path!r}: {what} ({reason}). Pass a writable {option}.") from None


class FolderInUseError(ValueError):
    """Another live process holds the folder's lock; the message names it."""


class FolderLock:
    """An exclusive lock on a folder, held until ``release()`` or the death of the process.

    Args:
        folder: the folder to lock; created if missing (and removed again when the ``with`` block that created it
            fails before anything but the lock files was written).
        what: what the folder is, for the message (``"run folder"``, ``"search folder"``).

    Raises:
        FolderInUseError: another process holds the lock (``"... is in use by process 1234 (keras-resnet train
            ...)"``).
        ValueError: the folder cannot be created or written (one line naming it and why).
    """

    def __init__(self, folder, what="folder"):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, LOCK_FILE)
        self.created = not os.path.exists(self.folder)
        self._lock = None
        try:
            os.makedirs(self.folder, exist_ok=True)
            lock = filelock.FileLock(os.path.join(self.folder, OS_LOCK_FILE), timeout=0)  # timeout 0: one attempt
            lock.acquire()
            self._lock = lock
            with open(self.path, "w") as file:
                file.write(f"process {os.getpid()} ({' '.join(os.path.basename(a) for a in sys.argv[:3])})")
        except filelock.Timeout:  # before OSError: filelock's Timeout is one
            raise FolderInUseError(f"The {what} {self.folder!r} is in use by {self._holder()}: wait for it to "
                                   "finish, or choose another --output-dir.") from None
        except OSError as error:
            self.release()
            reason = error.strerror or type(error).__name__
            raise ValueError(f"Cannot use {self.folder!r} as the {what}: it cannot be created or written "
                             f"({reason}). Choose another --output-dir.") from None

    def _holder(self):
        try:
            with open(self.path) as file:
                return file.read().strip() or "another process"
        except OSError:
            return "another process"

    @property
    def held(self):
        return self._lock is not None

    def release(self):
        """Releases the lock (the lock files stay; they hold nothing once unlocked)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, error_type, *exc):
        self.release()
        # Work that failed in a folder this lock created, before writing anything, leaves no folder behind.
        if error_type is not None and self.created and set(os.listdir(self.folder)) <= {LOCK_FILE, OS_LOCK_FILE}:
            for name in (LOCK_FILE, OS_LOCK_FILE):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(self.folder, name))
            os.rmdir(self.folder)
