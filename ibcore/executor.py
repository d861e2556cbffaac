"""Where the tasks of a sweep run (in-process or on a Dask cluster), and one run per output folder.

Sweeps (an Algorithm 1 grid, the seeds of an information plane) are independent *tasks*: pure
functions of their arguments, whose results do not depend on where or in which order they run.
:func:`dask_client` turns a ``scheduler=`` option into a :class:`distributed.Client`:

* ``None``: no cluster; the caller runs its tasks in this process, one after another;
* an ``int`` ``n``: a :class:`distributed.LocalCluster` of ``n`` worker processes with one thread
  each, started here and closed afterwards;
* a :class:`distributed.Client`: used as it is (and left open);
* a string: the address of a running scheduler (``"tcp://host:8786"``), or the path of a
  scheduler file written by ``dask scheduler --scheduler-file`` (as on Slurm, see the README).

:func:`submit` names a task after its arguments, :func:`as_finished` hands results back as the
tasks finish (with a tqdm bar over finished tasks) and cancels the rest when the caller stops,
and :func:`run_tasks` does all three for a list of argument tuples. Only the caller (the *client*)
writes results, as they arrive, so a killed client loses only the tasks in flight. A task whose
worker process dies is run again on another worker, up to ``retries`` times.

:class:`FolderLock` makes sure that only one run writes into an output folder: a second run
into the same folder, concurrently, fails with :class:`FolderInUseError`, whose message names the
process (PID, host, command) that holds it. The lock is an exclusive ``fcntl.flock`` on the file
``<folder>/.ibcore.lock``: the kernel releases it when the holding process ends in any way, a
``kill -9`` included, so a lock is never stale.
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import inspect
import json
import numbers
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Iterable, Iterator

__all__ = ["FolderLock", "FolderInUseError", "LOCK_NAME", "locks_folder", "dask_client", "parse_scheduler",
           "submit", "as_finished", "run_tasks", "SCHEDULER_HELP"]

#: name of the lock file inside a locked folder (runners that check a folder's contents skip it)
LOCK_NAME = ".ibcore.lock"

#: help text of the ``--scheduler`` options of the command line
SCHEDULER_HELP = ("run the tasks on Dask: N (a local cluster of N worker processes), the address of a "
                  "running scheduler (tcp://host:8786) or its scheduler file (JSON); default: in this process")

try:  # POSIX; elsewhere folders are not locked (a warning says so)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class FolderInUseError(ValueError):
    """Another run is writing into the folder (its lock is held); ``holder`` describes that run."""

    def __init__(self, folder, holder: dict):
        self.folder, self.holder = Path(folder), dict(holder)
        pid = holder.get("pid")
        if pid is None:
            who = "another process (it has not written its PID yet)"
        else:
            who = f"process {pid} on {holder.get('host', '?')}"
            about = [str(holder[k]) for k in ("what",) if holder.get(k)]
            about += [f"command `{holder['command']}`"] if holder.get("command") else []
            about += [f"started {holder['started']}"] if holder.get("started") else []
            who += f" ({', '.join(about)})" if about else ""
        super().__init__(f"{self.folder} is in use by another run: {who}. Two runs into one folder would "
                         "mix their rows; wait for that run to finish (or stop it), or use another output folder")


def _holder_info(what: str) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "",
            "started": datetime.datetime.now().isoformat(timespec="seconds")}


class FolderLock:
    """Exclusive lock on an output folder while a run writes into it (a context manager).

    Parameters
    ----------
    folder : path
        Created if missing; the lock file is ``folder / LOCK_NAME``.
    what : str
        What holds the lock (e.g. ``"ibcore synthetic"``), recorded for the message of a refused run.

    Raises
    ------
    FolderInUseError
        On entering, when another process (or another ``FolderLock`` of this process) holds it.

    Notes
    -----
    ``fcntl.flock`` locks belong to an open file: the kernel drops them when the holder exits or
    is killed, so there are no stale locks to clean up. The file itself stays (removing it
    would let a third run lock a new file while the second still waits on the old one). On a
    network file system the lock is as good as its ``flock`` support (Linux NFS clients map it
    to NFS locks).
    """

    def __init__(self, folder, what: str = "ibcore"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = str(what)
        self._fd: int | None = None

    def acquire(self) -> "FolderLock":
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this FolderLock")
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"{self.folder} exists and is not a directory")
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover - Windows
            warnings.warn(f"folder locks need fcntl (POSIX); {self.folder} is not protected against a second run",
                          RuntimeWarning, stacklevel=2)
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderInUseError(self.folder, holder) from None
        except OSError as exc:  # e.g. ENOLCK: a network file system without locks
            os.close(fd)
            raise OSError(f"cannot lock {self.path} ({exc}); put the output folder on a file system "
                          "that supports flock") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(_holder_info(self.what)) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # an empty file: nobody holds it
        os.close(fd)  # closing drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> dict:
    """The holder's JSON line; it is written right after the lock is taken, so wait briefly for it."""
    for _ in range(20):
        try:
            data = json.loads(os.pread(fd, 4096, 0).decode() or "null")
        except (OSError, ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            return data
        time.sleep(0.05)
    return {}


def locks_folder(argument: str = "out", what: str = "ibcore") -> Callable:
    """Decorator: run the function while holding a :class:`FolderLock` on its argument ``argument``."""
    def decorate(func):
        signature = inspect.signature(func)

        @functools.wraps(func)
        def locked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            with FolderLock(bound.arguments[argument], what):
                return func(*args, **kwargs)
        return locked
    return decorate


# -- Dask ----------------------------------------------------------------------------------------

def parse_scheduler(text):
    """``--scheduler`` text -> ``None``, an ``int`` (local workers) or an address / scheduler file."""
    if text is None:
        return None
    s = str(text).strip()
    if not s:
        raise ValueError("--scheduler is empty: give a number of local workers, an address or a scheduler file")
    if s.lstrip("+-").isdigit():
        n = int(s)
        if n < 1:
            raise ValueError(f"--scheduler {n}: a local cluster needs at least 1 worker")
        return n
    return s


def _bokeh_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is None


def _announce(client, what: str) -> None:
    link = client.dashboard_link
    note = " (install bokeh to see it)" if _bokeh_missing() else ""
    n = len(client.scheduler_info().get("workers", {}))
    print(f"[ibcore] {what}: Dask scheduler {client.scheduler.address} with {n} worker(s); "
          f"dashboard {link}{note}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def dask_client(scheduler, *, retries: int = 2, progress: bool = True, what: str = "tasks"):
    """A :class:`distributed.Client` for ``scheduler`` (see the module docstring), closed afterwards
    unless it was given.

    Parameters
    ----------
    scheduler : int, str, path or distributed.Client
    retries : int
        Times a task whose worker died is run again (``distributed.scheduler.allowed-failures``
        of the local cluster started here; a running scheduler keeps its own setting, Dask's
        default being 3).
    progress : bool
        Print the scheduler and dashboard addresses (stderr).

    Yields
    ------
    distributed.Client
    """
    import dask
    from distributed import Client, LocalCluster

    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if isinstance(scheduler, Client):
        if progress:
            _announce(scheduler, what)
        yield scheduler
        return
    if isinstance(scheduler, bool) or scheduler is None:
        raise TypeError(f"scheduler must be a number of workers, an address, a scheduler file or a Client, "
                        f"got {scheduler!r}")
    if isinstance(scheduler, numbers.Integral):
        if scheduler < 1:
            raise ValueError(f"scheduler={scheduler}: a local cluster needs at least 1 worker")
        # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers to hand memory back to the
        # OS sooner; unset, because it makes a KDE estimate, which allocates and frees large blocks
        # all the time, about twice as slow in a worker (benchmarks/results.md, notes)
        with dask.config.set({"distributed.scheduler.allowed-failures": int(retries),
                              "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(n_workers=int(scheduler), threads_per_worker=1, processes=True)
        try:
            with Client(cluster) as client:
                if progress:
                    _announce(client, what)
                yield client
        finally:
            cluster.close()
        return
    if not isinstance(scheduler, (str, os.PathLike)):
        raise TypeError(f"scheduler must be a number of workers, an address, a scheduler file or a Client, "
                        f"got {type(scheduler).__name__}")
    target = os.fspath(scheduler)
    is_file = target.endswith(".json") or Path(target).is_file()
    if is_file and not Path(target).is_file():
        raise FileNotFoundError(f"no Dask scheduler file at {target}")
    try:
        client = Client(scheduler_file=target, timeout="30s") if is_file else Client(target, timeout="30s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"cannot reach the Dask scheduler at {target} ({exc})") from None
    try:
        if progress:
            _announce(client, what)
        yield client
    finally:
        client.close()


def submit(client, func: Callable, *args, name: str | None = None, **kwargs):
    """``client.submit(func, *args, **kwargs)`` under the key ``<name>-<hash of func and arguments>``
    (readable on the dashboard; identical tasks share a key, so they run once)."""
    from dask.base import tokenize

    prefix = name or getattr(func, "__name__", "task").strip("_")
    return client.submit(func, *args, key=f"{prefix}-{tokenize(func, args, kwargs)}", **kwargs)


def as_finished(futures: Iterable, *, bar=None) -> Iterator:
    """Yield ``(future, result)`` for each future as it finishes (``bar.update(1)`` after each is
    handled); the futures still pending are cancelled when the caller stops or one fails.

    A task that raised re-raises its exception here; one whose worker died more often than the
    scheduler allows raises ``RuntimeError`` saying so.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    futures = list(futures)
    pending = set(futures)
    try:
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except KilledWorker as exc:
                raise RuntimeError(f"task {fut.key} was running on a worker that died each time it was tried "
                                   f"(out of memory, or killed?): {exc}") from None
            pending.discard(fut)
            yield fut, result
            fut.release()  # the result is handled: the cluster may forget it
            if bar is not None:
                bar.update(1)
    finally:
        for fut in pending:
            fut.cancel()


def run_tasks(func: Callable, tasks: Iterable[tuple], *, scheduler=None, retries: int = 2, progress: bool = True,
              desc: str = "tasks", unit: str = "task", shared: dict | None = None, name: str | None = None,
              initial: int = 0, total: int | None = None) -> Iterator[tuple[int, object]]:
    """Run ``func(*args, **shared)`` for every ``args`` of ``tasks``; yield ``(index, result)`` as
    each finishes (in order in-process, in order of completion on a cluster).

    Parameters
    ----------
    func : callable
        A pure, module-level (picklable) function.
    tasks : iterable of tuple
        Positional arguments of each task.
    scheduler
        ``None`` (this process) or anything :func:`dask_client` accepts.
    retries : int
        See :func:`dask_client`.
    progress : bool
        tqdm bar over finished tasks (``desc``, ``unit``; it starts at ``initial`` of ``total``).
    shared : dict, optional
        Keyword arguments common to every task, sent to the cluster once (``Client.scatter``).
    name : str, optional
        Prefix of the task keys (default: the function's name).
    """
    from tqdm.auto import tqdm

    tasks = [tuple(t) for t in tasks]
    shared = dict(shared or {})
    bar = tqdm(total=initial + len(tasks) if total is None else total, initial=initial, desc=desc, unit=unit,
               disable=not progress, dynamic_ncols=True)
    try:
        if scheduler is None:
            for i, args in enumerate(tasks):
                yield i, func(*args, **shared)
                bar.update(1)
            return
        with dask_client(scheduler, retries=retries, progress=progress, what=desc) as client:
            sent = {k: client.scatter(v, broadcast=False) for k, v in shared.items()}
            futures = {submit(client, func, *args, name=name, **sent): i for i, args in enumerate(tasks)}
            for fut, result in as_finished(futures, bar=bar):
                yield futures[fut], result
    finally:
        bar.close()
