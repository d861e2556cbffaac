"""ibcore.executor: the folder lock (one run per output folder) and the scheduler option.

The lock tests hold the lock in a second process, as a concurrent run would: the refused run's
message must name that process, and a ``kill -9`` of the holder must free the folder. The Dask
side (clusters, retries after a killed worker) is tested with real sweeps in
tests/synthetic/test_distributed.py and tests/plane/test_seeds.py.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ibcore.executor import (LOCK_NAME, FolderInUseError, FolderLock, dask_client, locks_folder, parse_scheduler,
                             run_tasks)

HOLDER = textwrap.dedent("""
    import sys
    from ibcore.executor import FolderLock
    lock = FolderLock(sys.argv[1], "the holder of the test").acquire()
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin (or kills us)
""")


def test_a_second_process_is_refused_with_the_holders_pid_until_it_is_killed(tmp_path):
    folder = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FolderInUseError, match=rf"process {proc.pid} on .*the holder of the test") as info:
            FolderLock(folder, "the second run").acquire()
        assert isinstance(info.value, ValueError)  # the command line reports it in one line (exit 2)
        assert info.value.holder["pid"] == proc.pid
        os.kill(proc.pid, signal.SIGKILL)  # kill -9: no clean-up code runs in the holder
        proc.wait(timeout=30)
        with FolderLock(folder) as lock:  # the kernel dropped the flock: no stale lock
            assert lock.held
        assert (folder / LOCK_NAME).read_text() == ""  # released: nobody is named as holder
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_two_locks_in_one_process_and_the_decorator(tmp_path):
    first = FolderLock(tmp_path / "out", "first").acquire()
    with pytest.raises(FolderInUseError, match=rf"process {os.getpid()} .*first"):
        FolderLock(tmp_path / "out").acquire()
    first.release()

    @locks_folder("out", "decorated")
    def work(x, *, out="unused"):
        with pytest.raises(FolderInUseError, match="decorated"):
            FolderLock(out).acquire()
        return x + 1

    assert work(1, out=tmp_path / "out") == 2
    FolderLock(tmp_path / "out").acquire().release()  # the decorator released it
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        FolderLock(tmp_path / "file").acquire()


def test_parse_scheduler():
    assert parse_scheduler(None) is None
    assert parse_scheduler("2") == 2 and parse_scheduler(" 16 ") == 16
    assert parse_scheduler("tcp://10.0.0.1:8786") == "tcp://10.0.0.1:8786"
    assert parse_scheduler("scheduler.json") == "scheduler.json"
    for bad, match in (("0", "at least 1 worker"), ("-3", "at least 1 worker"), ("  ", "empty")):
        with pytest.raises(ValueError, match=match):
            parse_scheduler(bad)


@pytest.mark.parametrize("scheduler,exc,match", [
    (0, ValueError, "at least 1 worker"),
    (True, TypeError, "scheduler must be"),
    (2.5, TypeError, "scheduler must be"),
    ("missing-scheduler.json", FileNotFoundError, "no Dask scheduler file"),
])
def test_bad_schedulers_are_named(scheduler, exc, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(exc, match=match):
        with dask_client(scheduler, progress=False):
            pass
    with pytest.raises(ValueError, match="retries"):
        with dask_client(2, retries=-1, progress=False):
            pass


def _power(x, p, *, offset=0):
    return x ** p + offset


def test_run_tasks_in_process_in_order_with_shared_arguments():
    got = list(run_tasks(_power, [(2, 3), (3, 2), (5, 0)], progress=False, shared={"offset": 1}))
    assert got == [(0, 9), (1, 10), (2, 2)]
