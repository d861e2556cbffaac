"""Algorithm 1 on Dask: the same rows as a serial run, nothing lost when a worker or the client
dies, one training per compressor, and one run per output folder.

The sweeps are tiny (n = 300, 3 MI values, kl on the latents, on PCA codes and on the codes of a
one-epoch autoencoder: 9 cells), so the clusters' start-up dominates. One LocalCluster of two
worker processes serves the module; the command-line test starts its own (``--scheduler 2``).
Rows are compared exactly (every column but the wall time ``seconds``): a cell is a pure
function of the settings, its key and its compressor, and runs with the same thread counts
everywhere, so there is no tolerance to justify.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import dask
import pytest
from distributed import Client, LocalCluster, get_task_stream
from distributed.diagnostics.plugin import WorkerPlugin

from ibcore.cli import main
from ibcore.synthetic import read_results, run_algorithm1
from ibcore.synthetic.table import cell_key

SWEEP = dict(datasets=["gaussians"], sizes=[16], estimators=["kl"], compressors=["pca", "ae"], grid="0:3:3",
             n=300, train_size=64, val_size=16, ae_options={"epochs": 1})  # what the CLI arguments below give
N_CELLS = 9  # 3 MI values x (latent, PCA codes, autoencoder codes)
CLI = ["synthetic", "--dataset", "gaussians", "--size", "16", "--estimators", "kl", "--compressor", "pca,ae",
       "--grid", "0:3:3", "--n", "300", "--train-size", "64", "--val-size", "16", "--ae-epochs", "1",
       "--no-figure", "--quiet"]


def _values(rows) -> dict:
    """Cell key -> every column but the timing (NaN made comparable)."""
    return {cell_key(r): tuple("nan" if isinstance(v, float) and math.isnan(v) else v
                               for k, v in r.items() if k != "seconds") for r in rows}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    rows = run_algorithm1(tmp_path_factory.mktemp("serial"), progress=False, **SWEEP)
    assert len(rows) == N_CELLS
    return _values(rows)


@pytest.fixture(scope="module")
def client():
    # a killed worker's task may be tried twice more (the default of ibcore's own clusters)
    with dask.config.set({"distributed.scheduler.allowed-failures": 2}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with cluster, Client(cluster) as c:
        yield c


class KillOnce(WorkerPlugin):
    """Kill the worker process (SIGKILL) the first time any worker starts a task of ``prefix``."""

    def __init__(self, marker: str, prefix: str):
        self.marker, self.prefix = marker, prefix

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith(self.prefix):
            return
        try:  # atomic: of two workers starting such a task at once, only one dies
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(key).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_cell_gives_the_same_bits_after_its_inputs_travelled_between_workers():
    """What Dask does to a cell's images and PCA when it sends them to another worker (serialize,
    deserialize) must not change a bit of the row: scikit-learn keeps a strided ``components_``,
    which a transfer makes contiguous and BLAS then sums in another order."""
    from distributed.protocol import deserialize, serialize

    import ibcore.synthetic.runner as a1
    from ibcore.synthetic import SweepSettings, plan_cells

    def travel(obj):
        return deserialize(*serialize(obj, serializers=["dask", "pickle"]))

    s = SweepSettings(datasets=["gaussians"], sizes=[16], estimators=["kl", "kde-ml"], compressors=["pca"],
                      grid="0:6:3", n=500, train_size=2000, val_size=500)  # 2,500 x 256: a strided components_
    pca = a1._train_task(s, "gaussians", 16, "pca", None)
    # scikit-learn's randomized solver (its choice for 2,500 x 256) leaves components_ strided;
    # the task hands it on C-contiguous, as it will be after any transfer
    assert pca.pca_.components_.flags.c_contiguous
    cells = [k for k in plan_cells(s) if k["input"] == "compressed"]
    for key in cells:
        pair = a1._pair_task(s, "gaussians", 16, key["true_mi"])
        here, there = (a1._cell_task(s, key, p, c) for p, c in ((pair, pca), (travel(pair), travel(pca))))
        here.pop("seconds"), there.pop("seconds")
        assert here == there, key
    assert len(cells) == 6


@pytest.mark.slow  # a LocalCluster of its own: about 10-20 s on 2 cores
def test_cli_scheduler_2_writes_the_same_rows_as_the_serial_run(tmp_path, serial, capsys):
    assert main([*CLI, "--out", str(tmp_path), "--scheduler", "2"]) == 0
    rows = read_results(tmp_path / "results.csv")
    assert len(rows) == N_CELLS
    assert _values(rows) == serial
    assert len(list((tmp_path / "compressors").glob("gaussians-16-ae-*.pt"))) == 1


@pytest.mark.slow  # the first test on the module's cluster: its start-up, 5-15 s on 2 cores
def test_each_compressor_is_trained_once_and_a_rerun_computes_nothing(tmp_path, serial, client):
    with get_task_stream(client) as stream:
        rows = run_algorithm1(tmp_path, scheduler=client, progress=False, **SWEEP)
    prefixes = [t["key"].split("-")[0] + "-" + t["key"].split("-")[1] for t in stream.data]
    # one task per compressor (PCA, autoencoder), one per MI value's images, one per cell
    assert sorted(set(prefixes)) == ["a1-cell", "a1-pair", "a1-train"]
    assert (prefixes.count("a1-train"), prefixes.count("a1-pair"), prefixes.count("a1-cell")) == (2, 3, N_CELLS)
    assert _values(rows) == serial
    with get_task_stream(client) as stream:
        again = run_algorithm1(tmp_path, scheduler=client, progress=False, **SWEEP)
    assert stream.data == [] and _values(again) == serial


def test_a_killed_workers_task_is_retried_and_nothing_is_lost(tmp_path, serial, client):
    marker = tmp_path / "killed"
    client.register_plugin(KillOnce(str(marker), "a1-cell"), name="kill-once")
    try:
        rows = run_algorithm1(tmp_path / "out", scheduler=client, progress=False, **SWEEP)
    finally:
        client.unregister_worker_plugin("kill-once")
    assert marker.read_text().startswith("a1-cell")  # a worker died with a cell in flight
    assert len(rows) == N_CELLS and _values(rows) == serial
    client.wait_for_workers(2, timeout=60)  # its nanny restarted it


CLIENT = textwrap.dedent("""
    import json, os, signal, sys
    import ibcore.synthetic.runner as runner

    real, written = runner.append_row, []

    def append_then_die(path, row):
        real(path, row)
        written.append(row)
        if len(written) == 3:  # SIGKILL: no clean-up, the other cells are still in flight
            os.kill(os.getpid(), signal.SIGKILL)

    runner.append_row = append_then_die
    runner.run_algorithm1(sys.argv[1], scheduler=sys.argv[2], progress=False, **json.loads(sys.argv[3]))
""")


def test_a_killed_client_resumes_and_nothing_is_lost(tmp_path, serial, client):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", CLIENT, str(out), client.scheduler.address, json.dumps(SWEEP)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == 1 + 3  # header and the three rows written before the kill
    rows = run_algorithm1(out, scheduler=client, progress=False, **SWEEP)  # the dead client's lock is gone
    assert len(rows) == N_CELLS and _values(rows) == serial
    assert (out / "results.csv").read_text().splitlines()[:4] == lines  # the finished rows were kept


FIRST_RUN = textwrap.dedent("""
    import sys
    import ibcore.synthetic.runner as runner
    from ibcore.cli import main

    real = runner.append_row

    def append_then_wait(path, row):
        real(path, row)
        print("row", flush=True)
        sys.stdin.readline()  # the test lets the run go on, one row at a time

    runner.append_row = append_then_wait
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow  # a second process running a sweep: 5-15 s on 2 cores
def test_a_second_concurrent_run_into_the_folder_is_refused(tmp_path, serial, capsys):
    out = str(tmp_path / "out")
    first = subprocess.Popen([sys.executable, "-c", FIRST_RUN, *CLI, "--out", out], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "row"  # the first run is mid-sweep
        for second in ([*CLI, "--out", out], [*CLI, "--out", out, "--scheduler", "2"]):
            with pytest.raises(SystemExit) as info:
                main(second)
            assert info.value.code == 2
            err = capsys.readouterr().err
            assert f"is in use by another run: process {first.pid} " in err and "ibcore synthetic" in err
        first.stdin.write("\n" * N_CELLS)
        first.stdin.close()
        assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)
    rows = read_results(tmp_path / "out" / "results.csv")
    assert len(rows) == N_CELLS and _values(rows) == serial  # one run's rows, each once


def test_a_failing_cell_stops_the_sweep_with_an_error_naming_it(tmp_path, client):
    bad = {**SWEEP, "compressors": ["pca"], "estimator_options": {"kl": {"k": 0}}}
    with pytest.raises(ValueError, match=r"Algorithm 1 cell \(dataset=gaussians.*estimator=kl.*\) failed: k must be"):
        run_algorithm1(tmp_path, scheduler=client, progress=False, **bad)
