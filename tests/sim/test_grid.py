"""`python -m sim.grid`: reproducible exports, resuming after SIGKILL, order independence, and
one-line errors (exit 2, nothing written) for every kind of bad input."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.grid import main
from sim.grid import spec as gridspec
from sim.grid.store import Store

ROOT = Path(__file__).resolve().parents[2]
# 2 inits x 2 depths = 4 engine calls, 12 cells; about a second.
TINY = ["--block", "res3", "--activation", "relu", "--init", "iid,fgn", "--hurst", "0.7",
        "--beta", "0.25,0.5,1", "--depth", "8,16", "--width", "8", "--samples", "8",
        "--device", "cpu", "--no-report"]
EXPORTS = ("cells.csv", "regimes.csv", "thresholds.csv")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _table(path: Path, drop: tuple[str, ...] = ()) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(fh)]


def _same_exports(a: Path, b: Path) -> None:
    """Exports equal; cells.csv may differ only in the measured wall time column 'seconds'."""
    assert _table(a / "cells.csv", ("seconds",)) == _table(b / "cells.csv", ("seconds",))
    for name in ("regimes.csv", "thresholds.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_run_twice_gives_identical_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The second run simulates nothing (all cells stored) and rewrites byte-identical exports;
    without a terminal, progress is one line per finished cell; --quiet prints nothing."""
    out = tmp_path / "out"
    status, stdout, err = _run([*TINY, "--out", str(out)], capsys)
    assert status == 0
    assert sum(line.startswith("[") for line in err.splitlines()) == 12
    first = {name: (out / name).read_bytes() for name in EXPORTS}
    assert {Path(p).name for p in stdout.split()} >= {*EXPORTS, "results.sqlite", "run.json"}
    status, stdout, err = _run([*TINY, "--out", str(out), "--quiet"], capsys)
    assert status == 0 and stdout == "" and err == ""
    assert {name: (out / name).read_bytes() for name in EXPORTS} == first
    cells = _table(out / "cells.csv")
    assert len(cells) == 12 and len(_table(out / "regimes.csv")) == 2 * 3 * 3  # series x beta x quantity
    assert {row["init"] for row in cells} == {"iid", "fgn"}
    import json

    record = json.loads((out / "run.json").read_text())
    assert record["cells"] == {"grid": 12, "simulated": 0, "already_stored": 12, "in_store": 12}
    assert record["device"] == "cpu" and record["dtype"] == "float32"
    assert set(record["stage_seconds"]) >= {"validate", "simulate", "export"}
    assert {"python", "torch", "numpy", "sympy"} <= set(record["versions"])


def test_force_recomputes_same_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--force simulates every cell again, with bitwise identical results."""
    out = tmp_path / "out"
    argv = [*TINY, "--out", str(out), "--quiet", "--depth", "8"]
    assert main(argv) == 0
    before = {sc.key: sc.logs for sc in Store(out / "results.sqlite").load()}
    assert main([*argv, "--force"]) == 0
    import json

    assert json.loads((out / "run.json").read_text())["cells"]["simulated"] == 6
    after = {sc.key: sc.logs for sc in Store(out / "results.sqlite").load()}
    assert before.keys() == after.keys()
    for key, logs in before.items():
        for q, values in logs.items():
            np.testing.assert_array_equal(after[key][q], values)


def test_other_order_gives_identical_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Cells listed (hence computed) in another order give bitwise identical logs and exports."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*TINY, "--out", str(a), "--quiet"]) == 0
    reordered = [*TINY, "--out", str(b), "--quiet", "--init", "fgn,iid", "--beta", "1,0.25,0.5",
                 "--depth", "16,8"]
    assert main(reordered) == 0
    logs_a = {sc.key: sc.logs for sc in Store(a / "results.sqlite").load()}
    logs_b = {sc.key: sc.logs for sc in Store(b / "results.sqlite").load()}
    assert logs_a.keys() == logs_b.keys() and len(logs_a) == 12
    for key, logs in logs_a.items():
        for q, values in logs.items():
            np.testing.assert_array_equal(logs_b[key][q], values)
    _same_exports(a, b)


@pytest.mark.parametrize("stage", ["simulate_missing", "write_exports"])
def test_ctrl_c_exits_130_with_a_message_and_a_rerun_finishes(
        stage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while simulating or while writing the tables: exit status 130, a one-line message
    saying what is stored (no traceback), and the same command run again finishes the job."""
    from sim.grid import command as grid_module

    args = ["--init", "iid", "--beta", "0.5", "--depth", "8", "--width", "4", "--samples", "2",
            "--device", "cpu", "--no-report", "--out", str(tmp_path / "run")]

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(grid_module, stage, interrupted)
        try:
            status = main(args)
        except KeyboardInterrupt:  # let it fail this test, not end the pytest session
            pytest.fail(f"Ctrl-C during {stage} escaped sim.grid.main")
        assert status == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "run the same command again" in err and "Traceback" not in err
    if stage == "write_exports":
        assert "all 1 cells are stored" in err
    assert main(args) == 0
    assert (tmp_path / "run" / "cells.csv").exists() and (tmp_path / "run" / "run.json").exists()


def test_sigkill_then_rerun_matches_uninterrupted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run killed with SIGKILL after its first finished cells keeps only complete cells; running the
    same command again finishes it with exports identical to an uninterrupted run."""
    grid = ["--init", "iid", "--beta", "0.25,1", "--depth", "8:32:4", "--width", "8", "--samples", "8",
            "--seed", "0,1,2", "--device", "cpu", "--no-report"]
    total = 2 * 4 * 3
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "sim.grid", *grid, "--out", str(killed)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # one line per finished cell (stderr is not a terminal)
            if line.startswith("["):
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with Store(killed / "results.sqlite") as store:
        partial = store.load()  # every stored cell is complete, or load() would fail
    assert 2 <= len(partial) < total
    assert not (killed / "cells.csv").exists()

    assert main([*grid, "--out", str(killed), "--quiet"]) == 0
    assert main([*grid, "--out", str(clean), "--quiet"]) == 0
    with Store(killed / "results.sqlite") as store:
        assert len(store) == total
    _same_exports(killed, clean)


def test_help_lists_presets_and_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    """--help documents flags, presets and the value syntax, and exits 0."""
    status, out, _ = _run(["--help"], capsys)
    assert status == 0
    for text in ("--preset", "--config", "--max-memory", "--no-report", "start:stop:count", "quick",
                 "marion-fig1", "marion-fig7", "phase", "threshold"):
        assert text in out


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BAD = [
    (["--preset", "huge"], "--preset=huge is not allowed: one of quick, marion-fig1"),
    (["--frobnicate", "3"], "--frobnicate is not allowed: unknown flag"),
    (["stray"], "'stray' is not allowed"),
    (["--block", "res2"], "--block=res2 is not allowed: one of res1, res3, linear"),
    (["--activation", "swish"], "--activation=swish is not allowed: one of relu"),
    (["--init", "pink"], "--init=pink is not allowed: one of iid, fgn"),
    (["--init", "fgn", "--hurst", "0.3,1.2"], "--hurst=1.2 is not allowed: expected a Hurst index in the open"),
    (["--init", "fgn", "--hurst", "0"], "--hurst=0.0 is not allowed: expected a Hurst index in the open"),
    (["--init", "iid", "--hurst", "0.3"], "--hurst=0.3 is not allowed: no init of the grid uses it"),
    (["--init", "smooth"], "--init=smooth is not allowed: init 'smooth' needs length-scales"),
    (["--beta=-0.5"], "--beta=-0.5 is not allowed: expected beta >= 0"),
    (["--depth", "0"], "--depth=0 is not allowed: expected an integer >= 1"),
    (["--depth", "8.5"], "--depth=8.5 is not allowed: expected an integer"),
    (["--width", "0"], "--width=0 is not allowed: expected an integer >= 1"),
    (["--samples", "1"], "--samples=1 is not allowed: expected an integer >= 2"),
    (["--beta", "0:1"], "--beta=0:1 is not allowed: expected a range start:stop:count"),
    (["--beta", "1:0:5"], "--beta=1:0:5 is not allowed: expected a range start:stop:count"),
    (["--beta", "0:1:x"], "--beta=0:1:x is not allowed: expected a range start:stop:count"),
    (["--depth", "10:1000:5"], "--depth=10:1000:5 is not allowed: the range gives non-integer values"),
    (["--beta", "0.1,,0.2"], "--beta=0.1,,0.2 is not allowed: expected a non-empty comma-separated"),
    (["--block", "res1:res3:2"], "--block=res1:res3:2 is not allowed: ranges start:stop:count apply"),
    (["--dtype", "float16"], "--dtype=float16 is not allowed: one of float32, float64"),
    (["--device", "tpu"], "--device=tpu is not allowed: one of auto, cpu, cuda"),
    (["--max-memory", "lots"], "--max-memory=lots is not allowed: expected a size"),
    (["--max-memory", "1K"], "--max-memory="),
    (["--seed=-1"], "--seed=-1 is not allowed: expected an integer >= 0"),
    (["--beta"], "--beta is not allowed without a value"),
    (["--preset", "quick", "--config", "x.toml"], "--config=x.toml is not allowed together with --preset"),
    (["--config", "missing.toml"], "--config=missing.toml is not allowed: no such file"),
    (["--stepper", "rk5"], "--stepper=rk5 is not allowed: one of euler, heun, rk4"),
    (["--block", "antisym", "--damping=-1"], "--damping=-1.0 is not allowed: expected a damping gamma >= 0"),
    (["--block", "res3", "--damping", "0.5"], "--damping=0.5 is not allowed: no block of the grid uses it"),
    (["--block", "antisym", "--train", "1"], "--train with antisym relu iid"),
    (["--stepper", "rk4", "--train", "1"], "stepper='rk4' is not allowed for training"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_and_writes_nothing(argv: list[str], message: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """One line 'error: <flag>=<value> is not allowed: ...' on stderr, status 2, OUT not created."""
    out = tmp_path / "out"
    status, stdout, err = _run([*argv, "--out", str(out), "--no-report"], capsys)
    assert status == 2
    assert stdout == "" and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert message in err, err
    assert not out.exists()


def test_bad_config_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Errors inside a TOML configuration name the file and the key."""
    out = tmp_path / "out"
    cases = {
        "beta = [0.5, -1]\n": "cfg.toml: beta=-1.0 is not allowed: expected beta >= 0",
        "colour = 'red'\n": "cfg.toml: colour=red is not allowed: unknown key",
        "beta = 'a:b:c'\n": "cfg.toml: beta=a:b:c is not allowed: expected a range",
        "[[grid]]\ninit = 'fgn'\nhurst = 2\n": "cfg.toml: grid[0]: hurst=2.0 is not allowed",
        "beta = [0.5\n": "--config=",
    }
    for text, message in cases.items():
        cfg = _write(tmp_path / "cfg.toml", text)
        status, _, err = _run(["--config", str(cfg), "--out", str(out), "--no-report"], capsys)
        assert status == 2 and message in err and len(err.splitlines()) == 1, (text, err)
        assert not out.exists()


def test_config_file_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """[[grid]] tables are sub-grids; top-level axes are their defaults; flags override all."""
    cfg = _write(tmp_path / "cfg.toml", """
width = 8
samples = 4
depth = [4]
beta = "0:1:3"
device = "cpu"
[[grid]]
init = "iid"
dist = ["gaussian", "uniform"]
[[grid]]
init = "fgn"
hurst = [0.3, 0.7]
""")
    out = tmp_path / "out"
    status, _, _ = _run(["--config", str(cfg), "--out", str(out), "--no-report", "--quiet",
                         "--beta", "0.5"], capsys)
    assert status == 0
    rows = _table(out / "cells.csv")
    assert sorted((r["init"], r["dist"], r["regularity"]) for r in rows) == [
        ("fgn", "gaussian", "0.3"), ("fgn", "gaussian", "0.7"), ("iid", "gaussian", ""),
        ("iid", "uniform", "")]
    assert {r["beta"] for r in rows} == {"0.5"} and {r["width"] for r in rows} == {"8"}


def test_unusable_out_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """OUT under a file, OUT that is a file, and OUT holding an incompatible store: exit 2,
    nothing created or changed."""
    blocker = _write(tmp_path / "file", "x")
    for out, message in ((blocker / "out", "is not a directory"),
                         (blocker, "it exists and is not a directory")):
        status, _, err = _run(["--out", str(out), "--no-report"], capsys)
        assert status == 2 and f"--out={out} is not allowed: " in err and message in err
    assert blocker.read_text() == "x" and sorted(os.listdir(tmp_path)) == ["file"]

    out = tmp_path / "old"
    out.mkdir()
    Store(out / "results.sqlite").close()
    with sqlite3.connect(out / "results.sqlite") as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE name = 'schema_version'")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    status, _, err = _run([*TINY, "--out", str(out)], capsys)
    assert status == 2 and "incompatible version" in err and len(err.splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_ranges_and_lists() -> None:
    """start:stop:count is inclusive and evenly spaced, rounded; lists keep order, drop repeats."""
    assert gridspec.parse_text("beta", "--beta", "0:1.2:13")[3] == 0.3
    assert gridspec.parse_text("beta", "--beta", "0:1.2:13")[-1] == 1.2
    assert gridspec.parse_text("depth", "--depth", "16,64:256:4,16") == (16, 64, 128, 192, 256)
    assert gridspec.parse_text("init", "--init", "fgn, iid") == ("fgn", "iid")


def test_linear_block_has_no_activation_axis() -> None:
    """linear cells carry activation 'identity' once, whatever the activation axis lists."""
    cells = gridspec.expand([{"block": ("linear", "res3"), "activation": ("relu", "tanh"),
                              "depth": (4,), "beta": (0.5,)}], device="cpu")
    assert [(c.block, c.activation) for c in cells] == [
        ("linear", "identity"), ("res3", "relu"), ("res3", "tanh")]


def test_stepper_and_damping_axes() -> None:
    """--stepper applies to every block, --damping to antisym only; Euler and non-antisym cells
    keep the keys they had before these axes existed."""
    cells = gridspec.expand([{"block": ("antisym", "res3"), "stepper": ("euler", "rk4"),
                              "damping": (0.0, 0.5), "depth": (4,)}], device="cpu")
    assert [(c.block, c.stepper, c.damping) for c in cells] == [
        ("antisym", "euler", 0.0), ("antisym", "euler", 0.5), ("antisym", "rk4", 0.0), ("antisym", "rk4", 0.5),
        ("res3", "euler", 0.0), ("res3", "rk4", 0.0)]
    assert "stepper" not in cells[4].identity() and "damping" not in cells[4].identity()
    assert cells[4].key() == cells[4].replace(stepper="euler").key() != cells[5].key()


def test_stepper_grid_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A stepper grid runs end to end; every export names the stepper and damping of its rows,
    and regimes are fitted per stepper (never across steppers)."""
    argv = ["--block", "antisym", "--activation", "identity", "--init", "iid", "--stepper", "euler,rk4",
            "--damping", "0,0.1",
            "--beta", "0.25,1", "--depth", "8,16", "--width", "6", "--samples", "6", "--device", "cpu",
            "--no-report", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 0
    cells = _table(tmp_path / "cells.csv")
    assert {(r["stepper"], r["damping"]) for r in cells} == {
        ("euler", "0.0"), ("euler", "0.1"), ("rk4", "0.0"), ("rk4", "0.1")}
    regimes = _table(tmp_path / "regimes.csv")
    assert len(regimes) == 4 * 2 * 3  # (stepper, damping) x beta x quantity (fwd, diff, bwd_diff)
    assert {(r["stepper"], r["damping"]) for r in _table(tmp_path / "thresholds.csv")} == {
        ("euler", "0.0"), ("euler", "0.1"), ("rk4", "0.0"), ("rk4", "0.1")}


def test_progress_bar_on_a_terminal() -> None:
    """The bar shows cells done / total and an ETA, redrawn in place."""
    from sim import Cell
    from sim.grid.progress import Progress

    stream = io.StringIO()
    bar = Progress(4, 8.0, "bar", stream)
    cell = Cell(depth=4, width=4, samples=2)
    bar.begin("first")
    bar.advance([(cell, 0.1), (cell, 0.1)], 4.0)
    bar.finish()
    text = stream.getvalue()
    assert "\r" in text and "2/4 cells" in text and "ETA" in text and text.endswith("\n")


def test_small_budget_serves_fgn_by_windows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --max-memory below one sample's fGn paths is not refused: the grid warns that the weights
    come by windows of layers, and stores the same numbers as with a large budget."""
    from sim.cell import Cell
    from sim.engine import memory_plan

    grid = ["--block", "res3", "--init", "fgn", "--hurst", "0.7", "--beta", "0.3,0.6", "--depth", "64",
            "--width", "16", "--samples", "3", "--device", "cpu", "--no-report"]
    cell = Cell(block="res3", init="fgn", hurst=0.7, beta=0.3, depth=64, width=16, samples=3, device="cpu")
    whole = memory_plan(cell, 2, 2**30)
    budget = 0
    for budget in range(1, 2**24, 4096):  # the smallest budget that serves windows
        try:
            memory_plan(cell, 2, budget)
            break
        except ValueError:
            continue
    assert whole[1] is None and memory_plan(cell, 2, budget)[1] < 64
    status, _, err = _run([*grid, "--out", str(tmp_path / "small"), "--max-memory", str(budget)], capsys)
    assert status == 0 and "served by" in err and "windows of" in err, err
    assert main([*grid, "--out", str(tmp_path / "large"), "--quiet"]) == 0
    _same_exports(tmp_path / "small", tmp_path / "large")
