"""`python -m sim.grid --executor ray`: the same numbers as the local executor, bitwise; a worker
killed mid-run or a driver killed and rerun loses nothing; a failing task is reported and the others
go on; Ctrl-C leaves a consistent store; bad executor input is a one-line error (exit 2, nothing
written).

The Ray tests share one local Ray instance with 2 CPUs (started once for the module, about 10 s
with its first workers) and are skipped when Ray is not installed (the 'cluster' extra). Every
comparison is exact (bitwise logs, equal exports): no false failures from sampling; the kill and
interrupt tests wait for the event they need (a running task, a finished cell) rather than sleep.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sim.grid
from sim.cell import Cell
from sim.grid import executors, main
from sim.grid.store import Store

ROOT = Path(__file__).resolve().parents[2]
# iid and an fgn Hurst sweep (which the local executor serves from kept draws), in both dtypes:
# 12 engine calls, 36 cells, a few seconds.
SMALL = ["--block", "res3", "--activation", "relu", "--init", "iid,fgn", "--hurst", "0.3,0.7",
         "--beta", "0.25,0.5,1", "--depth", "8,32", "--width", "8", "--samples", "6",
         "--dtype", "float32,float64", "--device", "cpu", "--no-report", "--quiet"]
# Three engine calls of about a second each on 2 cores: long enough to be caught running.
SLOW_CALLS = ["--init", "iid", "--beta", "0.25,1", "--depth", "512", "--width", "64", "--samples", "24",
              "--seed", "0,1,2", "--device", "cpu", "--no-report"]
EXPORTS = ("cells.csv", "regimes.csv", "thresholds.csv")
TASK_TITLE = "ray::run_task"  # a Ray worker's process title while it runs one of the grid's tasks
FINISHED = re.compile(r"^\[\s*\d+/\d+\] ")  # the line of a finished cell (stderr is not a terminal)


def _table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _same_results(a: Path, b: Path) -> None:
    """Bitwise the same per-sample logs for the same cells, and the same exports (cells.csv but
    for the measured 'seconds')."""
    with Store(a / "results.sqlite", readonly=True) as sa, Store(b / "results.sqlite", readonly=True) as sb:
        logs_a = {sc.key: sc.logs for sc in sa.load()}
        logs_b = {sc.key: sc.logs for sc in sb.load()}
    assert logs_a.keys() == logs_b.keys() and logs_a
    for key, logs in logs_a.items():
        for q, values in logs.items():
            np.testing.assert_array_equal(logs_b[key][q], values, err_msg=f"cell {key}, {q}")
    assert _table(a / "cells.csv") == _table(b / "cells.csv")
    for name in EXPORTS[1:]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def cluster() -> str:
    """A local Ray instance with 2 CPUs for the module; its address, for drivers in subprocesses.
    In this process the grid uses the open connection."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def slow_calls_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SLOW_CALLS run uninterrupted by the local executor: the reference of the kill tests."""
    out = tmp_path_factory.mktemp("slow_local")
    assert main([*SLOW_CALLS, "--out", str(out), "--quiet"]) == 0
    return out


def _driver(argv: list[str], **env_vars: str) -> subprocess.Popen[str]:
    """`python -m sim.grid` in a subprocess, its stderr (one line per finished cell) piped."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **env_vars}
    return subprocess.Popen([sys.executable, "-m", "sim.grid", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _task_pids(address: str) -> list[int]:
    """Workers of the Ray instance at `address` (their raylet's) running one of the grid's tasks now."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or (entry / "cmdline").read_bytes().split(b"\0")[0] != TASK_TITLE.encode():
                continue
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            if f"--gcs-address={address}".encode() in (Path("/proc") / parent / "cmdline").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # the process ended meanwhile
            continue
    return pids


def test_ray_gives_the_local_numbers_bitwise(cluster: str, tmp_path: Path) -> None:
    """A grid (iid and an fgn Hurst sweep, float32 and float64) gives bitwise the same logs and
    exports under both executors, whether Ray gives each task one CPU (12 tasks on 2 CPUs) or both
    (a grid of one engine call, whose samples the engine then splits between two threads); run
    through `sim.grid.run(executor="ray")`, which records the executor in run.json."""
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert main([*SMALL, "--out", str(local)]) == 0
    assert main([*SMALL, "--out", str(ray_out), "--executor", "ray"]) == 0
    _same_results(local, ray_out)
    record = json.loads((ray_out / "run.json").read_text())
    assert record["settings"]["executor"] == "ray" and record["settings"]["ray_cluster"]["cpus"] == 2
    assert record["cells"]["simulated"] == 36

    one = dict(init="iid", beta=[0.25, 1.0], depth=64, width=72, samples=6, device="cpu", quiet=True, report=False)
    sim.grid.run(out=tmp_path / "one_local", **one)
    run = sim.grid.run(out=tmp_path / "one_ray", executor="ray", **one)
    _same_results(tmp_path / "one_local", tmp_path / "one_ray")
    assert run.record["settings"]["executor"] == "ray"


@pytest.mark.slow
def test_quick_preset_identical_under_ray(cluster: str, tmp_path: Path) -> None:
    """The whole `quick` preset (208 cells, 16 engine calls) ends with the same cells.csv (but for
    'seconds'), regimes.csv and thresholds.csv, and bitwise the same logs, under both executors.
    About 15 s on 2 cores."""
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert main(["--preset", "quick", "--no-report", "--quiet", "--out", str(local)]) == 0
    assert main(["--preset", "quick", "--no-report", "--quiet", "--out", str(ray_out), "--executor", "ray"]) == 0
    _same_results(local, ray_out)


def test_resume_with_the_other_executor(cluster: str, tmp_path: Path) -> None:
    """A store half filled by one executor is finished by the other (a TOML configuration naming
    the ray executor), with the numbers of an uninterrupted run."""
    config = tmp_path / "grid.toml"
    config.write_text('executor = "ray"\ninit = "fgn"\nhurst = [0.3, 0.7]\nbeta = [0.5, 1]\ndepth = [8, 16]\n'
                      'width = 8\nsamples = 4\ndevice = "cpu"\n')
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    assert main(["--config", str(config), "--out", str(clean), "--executor", "local", "--no-report", "--quiet"]) == 0
    assert main(["--config", str(config), "--out", str(resumed), "--depth", "8", "--executor", "local",
                 "--no-report", "--quiet"]) == 0
    assert main(["--config", str(config), "--out", str(resumed), "--no-report", "--quiet"]) == 0
    assert json.loads((resumed / "run.json").read_text())["cells"]["already_stored"] == 4
    _same_results(clean, resumed)


def test_a_killed_worker_loses_nothing(cluster: str, slow_calls_local: Path, tmp_path: Path) -> None:
    """A Ray worker killed (SIGKILL, by its PID) while it runs a task: Ray runs the task again and the
    run ends with the exports of an uninterrupted local run."""
    out = tmp_path / "ray"
    proc = _driver([*SLOW_CALLS, "--out", str(out), "--executor", "ray", "--ray-address", cluster])
    try:
        deadline = time.monotonic() + 120
        while not _task_pids(cluster) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        running = _task_pids(cluster)
        assert running, "no task was seen running"
        os.kill(running[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    with Store(out / "results.sqlite", readonly=True) as store:
        assert len(store) == 6
    _same_results(slow_calls_local, out)


def test_driver_killed_then_rerun_finishes(cluster: str, slow_calls_local: Path, tmp_path: Path) -> None:
    """The driver killed with SIGKILL after its first finished cells keeps only complete cells; the
    same grid run again with the other executor ends with the exports of an uninterrupted run."""
    out = tmp_path / "killed"
    proc = _driver([*SLOW_CALLS, "--out", str(out), "--executor", "ray", "--ray-address", cluster])
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if FINISHED.match(line):
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with Store(out / "results.sqlite", readonly=True) as store:
        partial = store.load()  # every stored cell is complete, or load() would fail
    assert 2 <= len(partial) < 6 and not (out / "cells.csv").exists()
    assert main([*SLOW_CALLS, "--out", str(out), "--quiet"]) == 0
    _same_results(slow_calls_local, out)


def test_ctrl_c_cancels_and_leaves_the_store_consistent(cluster: str, slow_calls_local: Path,
                                                        tmp_path: Path) -> None:
    """SIGINT to a Ray driver after its first finished cells: exit status 130 with the usual line,
    the remaining tasks cancelled, complete cells only; a rerun finishes with the same exports."""
    out = tmp_path / "interrupted"
    proc = _driver([*SLOW_CALLS, "--out", str(out), "--executor", "ray", "--ray-address", cluster])
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if FINISHED.match(line):
                proc.send_signal(signal.SIGINT)
                break
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted:" in err and "run the same command again" in err and "Traceback" not in err
    deadline = time.monotonic() + 30
    while _task_pids(cluster) and time.monotonic() < deadline:  # cancelled tasks end their workers
        time.sleep(0.1)
    assert not _task_pids(cluster)
    with Store(out / "results.sqlite", readonly=True) as store:
        assert 2 <= len(store.load()) < 6
    assert main([*SLOW_CALLS, "--out", str(out), "--executor", "ray", "--quiet"]) == 0
    _same_results(slow_calls_local, out)


@pytest.mark.parametrize("use_ray", [False, True], ids=["local", "ray"])
def test_a_failing_task_is_reported_and_the_others_go_on(use_ray: bool, request: pytest.FixtureRequest) -> None:
    """A task that raises yields its reason (type and message) and the others their results."""

    class Broken(executors.EngineCall):
        def run(self) -> list:
            raise ValueError("this cell cannot be simulated")

    cells = [Cell(depth=4, width=4, samples=2, beta=b, device="cpu", seed=s) for s in (0, 1) for b in (0.5,)]
    tasks = [executors.EngineCall((cells[0],)), Broken((cells[1],)), executors.EngineCall((cells[1],))]
    if use_ray:
        request.getfixturevalue("cluster")
        executor = executors.make("ray", None, "cpu", None, quiet=True)
    else:
        executor = executors.LocalExecutor()
    finished = list(executor.run(tasks))
    executor.close()
    assert len(finished) == 3
    errors = [f for f in finished if f.error is not None]
    assert len(errors) == 1 and errors[0].task.cells == (cells[1],)
    assert errors[0].error == "ValueError: this cell cannot be simulated"
    assert sorted(f.result[0].cell.seed for f in finished if f.error is None) == [0, 1]


def test_a_failed_engine_call_is_named_and_the_grid_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The command names the failed call's cells, stores the others, writes the tables, exits 1."""
    real = executors.simulate_betas

    def failing(cell: Cell, betas: list[float], **kw: object) -> list:
        if cell.depth == 16:
            raise MemoryError("out of memory")
        return real(cell, betas, **kw)

    monkeypatch.setattr(executors, "simulate_betas", failing)
    out = tmp_path / "out"
    status = main(["--init", "iid", "--beta", "0.5,1", "--depth", "8,16", "--width", "4", "--samples", "2",
                   "--device", "cpu", "--no-report", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    assert "error: res3 relu iid (2 betas, L=16): MemoryError: out of memory" in err, err
    assert "1 tasks failed" in err
    assert len(_table(out / "cells.csv")) == 2
    assert json.loads((out / "run.json").read_text())["cells"]["failed_engine_calls"] == 1


BAD = [
    (["--executor", "dask"], "error: --executor=dask is not allowed: one of local, ray"),
    (["--ray-address", "auto"], "error: --ray-address=auto is not allowed: it is used by the ray executor only"),
    (["--executor", "ray", "--ray-address", "head"], "error: --ray-address=head is not allowed: expected auto, "
                                                     "HOST:PORT or ray://HOST:PORT"),
    (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "error: --ray-address=127.0.0.1:1 is not allowed: "
                                                            "nothing answers there"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_executor_input_exits_2_and_writes_nothing(argv: list[str], message: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if "ray" in argv:  # checked whether Ray is installed or not
        real = executors.importlib.util.find_spec
        monkeypatch.setattr(executors.importlib.util, "find_spec",
                            lambda name, *rest: object() if name == "ray" else real(name, *rest))
    out = tmp_path / "out"
    status = main([*argv, "--out", str(out), "--no-report"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and err.startswith(message), err
    assert not out.exists()


def test_ray_not_installed_names_the_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = executors.importlib.util.find_spec
    monkeypatch.setattr(executors.importlib.util, "find_spec",
                        lambda name, *rest: None if name == "ray" else real(name, *rest))
    config = tmp_path / "cfg.toml"
    config.write_text('executor = "ray"\n')
    cases = ((["--executor", "ray"], "--executor=ray"), (["--config", str(config)], "cfg: executor=ray"))
    for argv, flag in cases:
        status = main([*argv, "--out", str(tmp_path / "out"), "--no-report"])
        err = capsys.readouterr().err
        assert status == 2 and len(err.splitlines()) == 1, err
        assert err.startswith(f"error: {flag} is not allowed: Ray is not installed") and '".[cluster]"' in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_lost_cluster_ends_the_run_with_what_finished_stored(slow_calls_local: Path, tmp_path: Path) -> None:
    """The head of a joined cluster stopped after the first finished cells: the driver ends within
    seconds, exit status 1, with a line saying the cluster was lost and what is stored; the store
    holds complete cells only, and the same command with the local executor finishes the grid.
    About 40 s: a cluster of its own is started (`ray start --head --block`) and stopped."""
    pytest.importorskip("ray")
    from ray.util import get_node_ip_address

    with socket.socket() as probe:  # a free port for the head
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    host = get_node_ip_address()
    address = f"{host}:{port}"
    env = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}  # a throwaway local cluster
    head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}",
                             "--num-cpus=2", "--include-dashboard=false", "--block"],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = tmp_path / "lost"
    try:
        deadline = time.monotonic() + 60
        while executors._unreachable(host, port, timeout=1.0) and time.monotonic() < deadline:
            time.sleep(0.2)
        proc = _driver([*SLOW_CALLS, "--out", str(out), "--executor", "ray", "--ray-address", address], **env)
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if FINISHED.match(line):
                    head.send_signal(signal.SIGINT)  # `ray start --block` stops its cluster on SIGINT
                    break
            started = time.monotonic()
            _, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode == 1, err[-3000:]
        assert time.monotonic() - started < 60
        assert "lost the" in err and "Ray cluster" in err and "cells finished are stored" in err, err[-3000:]
    finally:
        head.send_signal(signal.SIGINT)
        head.wait(timeout=60)
    with Store(out / "results.sqlite", readonly=True) as store:
        assert 2 <= len(store.load()) < 6
    assert main([*SLOW_CALLS, "--out", str(out), "--quiet"]) == 0
    _same_results(slow_calls_local, out)


def test_bench_compares_executors_or_says_why_not(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m sim.bench --executor-compare` without Ray: one line naming the extra, and a
    record that says it was skipped; its slice timer, on a tiny Hurst sweep under the local
    executor, gives the wall, the first call and the time per call after it."""
    import torch

    from sim.bench import measure

    real = executors.importlib.util.find_spec
    monkeypatch.setattr(measure.importlib.util, "find_spec",
                        lambda name, *rest: None if name == "ray" else real(name, *rest))
    assert measure.compare_executors(torch.device("cpu"), "float32", quick=True) == {"skipped": "ray is not installed"}
    assert capsys.readouterr().out.startswith("executor comparison skipped: Ray is not installed")
    calls = measure.fig7_calls(measure.FIG7_H[:3], samples=2, depth=4, dtype="float32", device=torch.device("cpu"),
                               seed=0)
    assert [len(c.cells) for c in calls] == [70, 70, 70]
    times = measure.slice_times(executors.LocalExecutor(), calls)
    assert 0 < times["first_call_s"] <= times["wall_s"] and times["per_call_after_first_s"] >= 0
