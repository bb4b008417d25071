"""files.py: the folder lock holds on every platform and refuses folders that cannot be made, in one line."""

import os
import re
import subprocess
import sys

import pytest

from keras_resnet import cli
from keras_resnet.support import files

# A folder that cannot be created although its parent passes os.access for root: /proc takes no new entries.
UNCREATABLE = "/proc/keras-resnet-test/run"
needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")

# `import fcntl` fails, as on Windows; files.py is loaded on its own (it needs no Keras: the test stays quick).
NO_FCNTL = ("import sys, importlib.util; sys.modules['fcntl'] = None; "
            f"spec = importlib.util.spec_from_file_location('files', {files.__file__!r}); "
            "files = importlib.util.module_from_spec(spec); spec.loader.exec_module(files); ")


def _hold_without_fcntl(folder):
    holder = subprocess.Popen([sys.executable, "-c", NO_FCNTL + "import time; "
                               f"lock = files.FolderLock({str(folder)!r}); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_the_lock_holds_where_there_is_no_fcntl(tmp_path):
    """Windows has no fcntl: the old lock then locked nothing and a second run wrote into the same folder."""
    holder = _hold_without_fcntl(tmp_path)
    try:
        second = subprocess.run([sys.executable, "-c", NO_FCNTL +
                                 f"files.FolderLock({str(tmp_path)!r}, 'run folder')"], capture_output=True, text=True,
                                timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode != 0, "a second process took the lock"
    assert f"The run folder {str(tmp_path)!r} is in use by process {holder.pid}" in second.stderr


def test_a_second_lock_in_the_same_process_is_refused_and_the_first_release_frees_it(tmp_path):
    first = files.FolderLock(tmp_path)
    with pytest.raises(files.FolderInUseError, match=f"in use by process {os.getpid()}"):
        files.FolderLock(tmp_path)
    first.release()
    files.FolderLock(tmp_path).release()


def test_a_failed_start_in_a_new_folder_leaves_no_folder(tmp_path):
    with pytest.raises(RuntimeError):
        with files.FolderLock(tmp_path / "new"):
            raise RuntimeError("failed before writing anything")
    assert not (tmp_path / "new").exists()


@needs_proc
def test_the_lock_names_a_folder_that_cannot_be_created():
    with pytest.raises(ValueError, match=rf"Cannot use '{UNCREATABLE}' as the run folder: it cannot be created"):
        files.FolderLock(UNCREATABLE, "run folder")


@needs_proc
def test_check_writable_folder_tries_the_folder_for_real():
    """As root, os.access says /proc is writable; only making a folder there tells."""
    with pytest.raises(ValueError, match=rf"Cannot write to '{UNCREATABLE}': .* cannot be created in '/proc'"):
        files.check_writable_folder(UNCREATABLE)
    files.check_writable_folder(os.getcwd())  # a writable folder passes, and the probe leaves nothing behind


@needs_proc
@pytest.mark.parametrize("argv", [["train", "--dataset", "digits", "--model", "resnet8"],
                                  ["tune", "--dataset", "digits"], ["experiment", "transfer"]])
def test_commands_refuse_an_uncreatable_output_dir_in_one_line(argv, capsys):
    assert cli.main([*argv, "--output-dir", UNCREATABLE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and UNCREATABLE in err[0] and "cannot be created" in err[0], err


def test_refuse_existing_names_the_first_file_and_always_a_folder_in_a_files_place(tmp_path):
    """The one check of every command's outputs (predict, evaluate, convert, each export)."""
    paths = [tmp_path / "a.json", tmp_path / "b.csv"]
    files.refuse_existing(paths, overwrite=False)  # nothing there yet
    paths[1].write_text("kept")
    paths[0].write_text("kept")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(paths[0]))} exists: pass --overwrite to replace it, or "
                                         r"choose another --output\.$"):
        files.refuse_existing(iter(paths), overwrite=False, option="--output")
    files.refuse_existing(paths, overwrite=True)
    paths[0].unlink()
    paths[0].mkdir()
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"is a folder where a file is to be written: move it away, or pass "
                                             r"another --output-dir\.$"):
            files.refuse_existing(paths, overwrite)
