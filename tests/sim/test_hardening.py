"""Faults and hostile inputs: stores left half-created, damaged, unwritable or on a full disk; bad
values; memory plans refused before anything of their size is built; collapsing norms; the
engine's Python API at its edges. Every failure must be one precise error, never a traceback, a
lost cell or a non-finite number where the truth is finite."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import sim.states
import sim.weights
from sim import Cell, simulate, simulate_betas
from sim.cell import ENGINE_VERSION
from sim.device import parse_memory
from sim.engine import QUANTITIES, memory_plan
from sim.grid import main as grid_main
from sim.grid.store import Store, StoreError, check_store, salvage
from sim.states import DeviationShift

ROOT = Path(__file__).resolve().parents[2]
SMALL = Cell(block="res3", activation="relu", init="iid", depth=8, width=4, samples=4, device="cpu", seed=2)
BETAS = (0.25, 0.5, 0.75, 1.0)
# One engine call of 4 cells, under a second.
GRID = ["--init", "iid", "--beta", "0.5,1", "--depth", "8", "--width", "4", "--samples", "4", "--device", "cpu",
        "--no-report", "--quiet"]


def _store(path: Path, betas: tuple[float, ...] = BETAS) -> Path:
    """A sound store of SMALL at `betas`, one cell per beta."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with Store(path) as store:
        store.put_many(simulate_betas(SMALL, list(betas)), {"run": "test"})
    return path


def _sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def _one_line(err: str) -> str:
    assert len(err.splitlines()) == 1, err
    return err


# ---------------------------------------------------------------------- creation
@pytest.mark.parametrize("left", ["zero bytes", "no tables", "training table only", "meta without versions"])
def test_store_left_by_an_interrupted_creation_is_created_anew(tmp_path: Path, left: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """What a creation killed before its schema was committed leaves (older versions created the
    training table first) holds no cell: the check before a run accepts it, and opening it creates
    the store anew, saying so on stderr."""
    path = tmp_path / "results.sqlite"
    path.touch()
    if left == "no tables":
        _sql(path, "PRAGMA user_version = 3")
    elif left == "training table only":
        _sql(path, "CREATE TABLE training (key TEXT PRIMARY KEY)")
    elif left == "meta without versions":
        _sql(path, "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
             "CREATE TABLE cells (key TEXT PRIMARY KEY)")
    check_store(path)
    with Store(path) as store:
        assert len(store) == 0 and store.engine_version == ENGINE_VERSION
        store.put(simulate(SMALL), {})
    assert "creation was interrupted" in _one_line(capsys.readouterr().err)
    with Store(path) as store:
        assert store.keys() == {SMALL.key()}
    assert capsys.readouterr().err == ""


def test_store_with_cells_but_no_meta_is_not_recreated(tmp_path: Path) -> None:
    """A file holding cells is never taken for an interrupted creation."""
    path = _store(tmp_path / "results.sqlite")
    _sql(path, "DROP TABLE meta")
    with pytest.raises(StoreError, match="has no meta table"):
        check_store(path)
    with pytest.raises(StoreError, match="has no meta table"):
        Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == len(BETAS)
    conn.close()


_CREATE_FOREVER = """
import itertools, sys
from pathlib import Path
from sim.grid.store import Store
root = Path(sys.argv[1])
print("ready", flush=True)
for i in itertools.count():
    (root / str(i)).mkdir()
    Store(root / str(i) / "results.sqlite").close()
"""


def test_a_kill_at_any_moment_of_creation_leaves_no_half_store(tmp_path: Path) -> None:
    """A process creating stores one after another is killed (SIGKILL) at an arbitrary moment:
    every results.sqlite that exists is complete (none is taken for an interrupted creation), and
    the directory being created holds at most a stray temporary file besides."""
    for delay in (0.3, 0.55):
        root = tmp_path / str(delay)
        root.mkdir()
        proc = subprocess.Popen([sys.executable, "-c", _CREATE_FOREVER, str(root)], stdout=subprocess.PIPE,
                                cwd=ROOT)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        made = sorted(root.iterdir(), key=lambda p: int(p.name))
        assert len(made) >= 2, "the creation loop did not run"
        for directory in made:
            names = {p.name for p in directory.iterdir()}
            temporary = f".results.sqlite.{proc.pid}.new"
            # a store being opened when the kill came keeps its -wal and -shm files
            ends = ("", "-wal", "-shm")
            assert names <= {*("results.sqlite" + end for end in ends),
                             *(temporary + end for end in (*ends, "-journal"))}, names
            if "results.sqlite" in names:
                with Store(directory / "results.sqlite", readonly=True) as store:
                    assert store.engine_version == ENGINE_VERSION and len(store) == 0
            else:
                assert directory == made[-1]


def test_store_on_a_missing_directory_or_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot be created: its directory '.*missing' does not exist"):
        Store(tmp_path / "missing" / "results.sqlite")
    with pytest.raises(ValueError, match=r"store '.*' does not exist"):
        Store(tmp_path / "absent.sqlite", readonly=True)
    for readonly in (False, True):
        with pytest.raises(StoreError, match="is a directory, not a results store file"):
            Store(tmp_path, readonly=readonly)
    with pytest.raises(StoreError, match="is a directory"):
        check_store(tmp_path)
    assert not (tmp_path / "missing").exists()


# ---------------------------------------------------------------------- damage
def _damage(path: Path, how: str) -> None:
    if how == "malformed pages":
        size = path.stat().st_size
        with path.open("r+b") as fh:  # every page after the schema's overwritten
            for page in range(1, size // 4096):
                fh.seek(page * 4096)
                fh.write(bytes(range(256)) * 16)
    elif how == "dropped column":
        _sql(path, "ALTER TABLE cells DROP COLUMN timings")
    elif how == "bad identity JSON":
        _sql(path, "UPDATE cells SET identity = '{\"block\": ' WHERE rowid = 1")
    elif how == "invalid identity":
        _sql(path, "UPDATE cells SET identity = replace(identity, '\"depth\": 8', '\"depth\": -8') WHERE rowid = 1")
    elif how == "short blob":
        _sql(path, "UPDATE cells SET bwd = substr(bwd, 1, 12) WHERE rowid = 2")


@pytest.mark.parametrize(("how", "readable"), [("malformed pages", None), ("dropped column", 4),
                                               ("bad identity JSON", 3), ("invalid identity", 3),
                                               ("short blob", 3)])
def test_damaged_store_is_named_counted_and_salvaged(tmp_path: Path, how: str, readable: int | None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Each kind of damage gives a StoreError naming the file, what is wrong and how many cells
    are readable, before a run simulates anything (python -m sim.grid: one line, exit 2, nothing
    changed); salvage() copies exactly the readable cells, bitwise, into a sound store."""
    path = _store(tmp_path / "out" / "results.sqlite")
    with Store(path, readonly=True) as store:
        sound = {sc.key: sc for sc in store.load()}
    _damage(path, how)
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        check_store(path)
    message = str(info.value)
    assert str(path) in message and "is damaged" in message and "salvage" in message, message
    if readable is not None:
        assert f"{readable} of its 4 cells are readable" in message, message
    with pytest.raises(StoreError, match="is damaged"):
        with Store(path, readonly=True) as store:
            store.load()
    status = grid_main([*GRID, "--out", str(path.parent)])
    err = _one_line(capsys.readouterr().err)
    assert status == 2 and "is damaged" in err, err
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["results.sqlite"]

    (tmp_path / "new").mkdir()
    saved = salvage(path, tmp_path / "new" / "results.sqlite")
    assert readable is None or saved.cells == readable
    check_store(tmp_path / "new" / "results.sqlite")
    with Store(tmp_path / "new" / "results.sqlite", readonly=True) as store:
        cells = store.load()
    assert len(cells) == saved.cells and saved.unreadable in (None, 4 - saved.cells)
    for sc in cells:
        for q in QUANTITIES:
            np.testing.assert_array_equal(sc.logs[q], sound[sc.key].logs[q])
    if how == "dropped column":  # the lost column takes its default
        assert all(sc.timings == {} for sc in cells)


def test_one_damaged_page_loses_only_its_cells(tmp_path: Path) -> None:
    """40 cells over 40 pages; one page of the cells table overwritten: the error counts 39
    readable cells of 40, and salvage copies exactly those 39."""
    path = tmp_path / "results.sqlite"
    cell = SMALL.replace(samples=64)
    with Store(path) as store:
        store.put_many(simulate_betas(cell, [i / 40 for i in range(40)]), {})
    conn = sqlite3.connect(path)
    try:
        leaves = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = 'cells' AND pagetype = 'leaf'")]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table to find a leaf page")
    finally:
        conn.close()
    assert len(leaves) >= 10
    with path.open("r+b") as fh:
        fh.seek((leaves[len(leaves) // 2] - 1) * 4096)
        fh.write(bytes(range(256)) * 16)
    with pytest.raises(StoreError, match="39 of its 40 cells are readable"):
        check_store(path)
    saved = salvage(path, tmp_path / "new.sqlite")
    assert (saved.cells, saved.unreadable) == (39, 1)
    with Store(tmp_path / "new.sqlite", readonly=True) as store:
        assert len(store.load()) == 39


def test_salvage_refuses_an_existing_destination_and_reads_garbage_as_empty(tmp_path: Path) -> None:
    src = _store(tmp_path / "a.sqlite")
    with pytest.raises(StoreError, match="exists: salvage writes a new store"):
        salvage(src, src)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all " * 300)
    assert salvage(garbage, tmp_path / "b.sqlite").cells == 0
    with pytest.raises(StoreError, match="is not a results store"):
        check_store(garbage)


# ---------------------------------------------------------------------- writes that fail
class _FailingConnection:
    """A connection that fails like SQLite on a full disk (or with an I/O error) at a chosen
    statement, and passes everything else to the real one."""

    def __init__(self, conn: sqlite3.Connection, when: str, error: str):
        self._conn, self._when, self._error = conn, when, error

    def __getattr__(self, name: str):
        return getattr(self._conn, name)

    def _check(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(self._when):
            raise sqlite3.OperationalError(self._error)

    def execute(self, sql: str, *args):
        self._check(sql)
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args):
        self._check(sql)
        return self._conn.executemany(sql, *args)


@pytest.mark.parametrize("error", ["database or disk is full", "disk I/O error"])
def test_a_failed_write_keeps_every_committed_cell(tmp_path: Path, error: str) -> None:
    """A write that fails (full disk, I/O error) raises a StoreError naming the file and saying
    how many cells the store keeps; the transaction is rolled back and the store reopens whole."""
    path = _store(tmp_path / "results.sqlite", betas=(0.25, 0.5))
    store = Store(path)
    store._conn = _FailingConnection(store._conn, "INSERT", error)  # type: ignore[assignment]
    with pytest.raises(StoreError, match=rf"writing {path} failed \({error}\): the store holds 2 cells committed"):
        store.put_many(simulate_betas(SMALL, [0.75, 1.0]), {})
    store._conn = _FailingConnection(store._conn._conn, "COMMIT", error)  # type: ignore[attr-defined]
    with pytest.raises(StoreError, match="the store holds 2 cells committed"):
        store.put(simulate(SMALL.replace(beta=0.75)), {})
    store.close()
    with Store(path) as store:
        assert len(store) == 2 and len(store.load()) == 2
        store.put(simulate(SMALL.replace(beta=0.75)), {})
        assert len(store) == 3


def test_a_failed_read_says_the_store_is_unchanged(tmp_path: Path) -> None:
    path = _store(tmp_path / "results.sqlite")
    store = Store(path, readonly=True)
    store._conn = _FailingConnection(store._conn, "SELECT", "disk I/O error")  # type: ignore[assignment]
    with pytest.raises(StoreError, match=r"cannot be read \(disk I/O error\): is the disk full.*not changed"):
        store.keys()
    store._conn._conn.close()  # type: ignore[attr-defined]


def test_unwritable_store_is_refused_before_any_simulation(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A store that cannot be written (immutable for root, read-only for others) is refused by the
    check before a run and by Store(), and the command writes nothing."""
    path = _store(tmp_path / "out" / "results.sqlite")
    if os.geteuid() == 0:
        lock, unlock = ["chattr", "+i", str(path)], ["chattr", "-i", str(path)]
        if shutil.which("chattr") is None or subprocess.run(lock, capture_output=True).returncode != 0:
            pytest.skip("root without chattr +i: a file cannot be made unwritable here")
    else:
        path.chmod(0o444)
        lock, unlock = None, None
    try:
        with pytest.raises(StoreError, match="cannot be written"):
            check_store(path)
        with pytest.raises(StoreError, match="cannot be written"):
            Store(path)
        status = grid_main([*GRID, "--out", str(path.parent)])
        assert status == 2 and "cannot be written" in _one_line(capsys.readouterr().err)
        assert sorted(p.name for p in path.parent.iterdir()) == ["results.sqlite"]
        with Store(path, readonly=True) as store:
            assert len(store.load()) == len(BETAS)
    finally:
        if unlock is not None:
            subprocess.run(unlock, check=True)
        else:
            path.chmod(0o644)


# ---------------------------------------------------------------------- beta = -0.0
def _old_key(identity: dict) -> str:
    """Cell.key() as versions before the normalization computed it (beta kept as -0.0)."""
    payload = json.dumps({**identity, "engine": ENGINE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def test_negative_zero_is_zero(tmp_path: Path) -> None:
    """Cell(beta=-0.0) is Cell(beta=0); a store in which an older version wrote a cell under
    beta = -0.0 finds it under beta = 0, counts it once, and replaces it rather than adding a
    second row when it is simulated again."""
    zero = SMALL.replace(beta=0.0)
    assert Cell(**{**zero.identity(), "beta": -0.0}) == zero and repr(SMALL.replace(beta=-0.0).beta) == "0.0"
    assert SMALL.replace(damping=-0.0).key() == SMALL.key()
    path = _store(tmp_path / "results.sqlite", betas=(0.5,))
    res = simulate(zero)
    ident = {**zero.identity(), "beta": -0.0}
    old = _old_key(ident)
    assert old != zero.key()
    row = Store._row(res, {})
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"INSERT INTO cells VALUES ({', '.join('?' * 13)})",
                     (old, json.dumps(ident, sort_keys=True), *row[2:]))
    conn.close()
    with Store(path) as store:
        assert store.keys() == {zero.key(), SMALL.key()} and store.has(zero.key()) and not store.has(old)
        assert len(store) == 2
        loaded = {sc.key: sc for sc in store.load()}
        assert loaded[zero.key()].cell == zero
        np.testing.assert_array_equal(loaded[zero.key()].logs["fwd"], res.logs["fwd"])
        store.put(res, {"again": True})
        assert len(store) == 2 and store.keys() == {zero.key(), SMALL.key()}
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 2
    conn.close()


# ---------------------------------------------------------------------- bad values
@pytest.mark.parametrize("text", ["inf", "1e400", "nan", "-1G", "0", "0.5", "", "lots", "9E", "-inf"])
def test_bad_memory_sizes_are_named(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=rf"max_memory={text!r} is not allowed: expected a size"):
        parse_memory(text)
    status = grid_main([*GRID, f"--max-memory={text}", "--out", str(tmp_path / "out")])
    err = _one_line(capsys.readouterr().err)
    assert status == 2 and err.startswith(f"error: --max-memory={text} is not allowed: expected a size"), err
    assert not (tmp_path / "out").exists()


def test_memory_sizes_at_the_edges() -> None:
    assert parse_memory("1") == 1 and parse_memory("4GiB") == 4 * 2**30 and parse_memory(2**63 - 1) == 2**63 - 1
    for value in (2**63, 0, -1, True):
        with pytest.raises(ValueError, match="is not allowed"):
            parse_memory(value)


def test_theory_command_bounds_its_work(capsys: pytest.CaptureFixture[str]) -> None:
    """Depths, beta and damping beyond what the predictions can be computed for in seconds give
    one line naming the flag and exit 2, at once (no sum over a billion layers is started)."""
    from theory.__main__ import main as theory_main

    cases = [(["--depth", "1000000000"], "--depth: depth=1000000000 is not allowed"),
             (["--depths", "64,10000000"], "--depths: depths=64,10000000 is not allowed"),
             (["--init", "fbm", "--hurst", "0.3", "--depth", "8000"], "--depth: depth=8000 is not allowed"),
             (["--beta", "1e308"], "--beta: beta=1e+308 is not allowed"),
             (["--block", "antisym", "--activation", "identity", "--damping", "1e300"],
              "--damping: damping=1e+300 is not allowed")]
    for argv, message in cases:
        start = time.perf_counter()
        assert theory_main(argv) == 2
        assert message in _one_line(capsys.readouterr().err)
        assert time.perf_counter() - start < 2.0, argv


def test_reports_command_refuses_an_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reports.__main__ import main as reports_main

    run = tmp_path / "run"
    assert grid_main([*GRID, "--out", str(run)]) == 0
    capsys.readouterr()
    (tmp_path / "file").write_text("x")
    targets = [tmp_path / "file" / "report.html"] + ([Path("/proc/x")] if Path("/proc").is_dir() else [])
    for out in targets:
        assert reports_main([str(run), "--format", "html", "--out", str(out)]) == 2
        assert f"--out={out} is not allowed" in _one_line(capsys.readouterr().err)


# ---------------------------------------------------------------------- memory plans
def test_a_plan_is_refused_from_its_sizes_before_anything_of_that_size(monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str],
                                                                       tmp_path: Path) -> None:
    """fgn at L = 10^9 (and 2^40 + 1, whose embedding size was once found by counting): the plan
    is refused at once, and the circulant eigenvalues (an array of 2 x 10^9) are never built."""
    def refuse(*args: object) -> None:
        raise AssertionError("the circulant eigenvalues were built")

    monkeypatch.setattr(sim.weights, "circulant_eigenvalues", refuse)
    for depth in (10**9, 2**40 + 1):
        cell = Cell(init="fgn", hurst=0.7, depth=depth, width=8, samples=4, device="cpu")
        start = time.perf_counter()
        with pytest.raises(ValueError, match="one sample needs about"):
            memory_plan(cell, 1, 4 * 2**30)
        assert time.perf_counter() - start < 1.0
    status = grid_main(["--init", "fgn", "--hurst", "0.7", "--depth", "1e9", "--width", "8", "--samples", "4",
                        "--device", "cpu", "--out", str(tmp_path / "x")])
    assert status == 2 and "one sample needs about" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "x").exists()


def test_the_budget_bounds_per_sample_results() -> None:
    """10^7 samples of a 2 x 2 network: their results alone exceed 64 MiB, and the error says so
    (it ran to 5 GiB before); input_dim is bounded and counted."""
    with pytest.raises(ValueError, match="the results of 10000000 samples at 1 betas alone need about"):
        simulate(Cell(depth=2, width=2, samples=10**7, device="cpu"), max_memory="64M")
    with pytest.raises(ValueError, match=r"input_dim=1000000000 is not allowed: expected an integer >= 1 and <="):
        Cell(input_dim=10**9)
    with pytest.raises(ValueError, match="or input_dim"):
        simulate(Cell(depth=2, width=64, input_dim=2**20, samples=2, device="cpu"), max_memory="64M")


_PEAK = """
import sys
from sim import Cell, simulate
def peak():
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
simulate(Cell(depth=2, width=2, samples=2, device="cpu"))
base = peak()
simulate(Cell(depth=2, width=2, samples=int(sys.argv[1]), device="cpu"), max_memory="16M")
print(peak() - base)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read the peak resident set")
def test_many_small_samples_stay_within_the_budget() -> None:
    """100000 samples of a 2 x 2 network under 16 MiB: the process's peak resident set grows by
    less than the budget (it grew by 8 times the budget when each chunk's outputs were kept)."""
    done = subprocess.run([sys.executable, "-c", _PEAK, "100000"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, check=True)
    assert int(done.stdout.split()[-1]) < 16 * 2**20, done.stdout


# ---------------------------------------------------------------------- collapse
@pytest.mark.parametrize(("kw", "below"), [
    (dict(block="antisym", activation="identity", stepper="rk4", depth=2048, width=8, beta=0.0), -44),
    (dict(block="res3", activation="relu", depth=4096, width=1, beta=0.1), -100),
])
def test_collapsed_state_gives_finite_deviation(kw: dict, below: float) -> None:
    """The norm collapses past float32's squares (e^-44): the deviation of h_L ~ 0 from h_0 is
    ||h_0||, a log of 0 up to the rounding accumulated over L layers, finite in float32 and float64
    alike (it was +inf in float32)."""
    for dtype, tol in (("float32", 1e-3), ("float64", 1e-9)):
        res = simulate(Cell(samples=3, device="cpu", seed=1, dtype=dtype, **kw))
        assert all(n == 0 for n in res.nonfinite.values()), res.nonfinite
        assert res.logs["fwd"].max() < below and res.logs["bwd"].max() < below
        for q in ("diff", "bwd_diff"):
            np.testing.assert_allclose(res.logs[q], 0.0, atol=tol, err_msg=f"{q} {dtype}")


@pytest.mark.parametrize(("kw", "betas"), [
    (dict(block="res3", activation="relu", depth=1024, width=1), [0.2, 0.3]),
    (dict(block="antisym", activation="identity", stepper="rk4", depth=512, width=4), [0.0, 0.1]),
    (dict(block="antisym", activation="tanh", stepper="rk4", depth=512, width=8), [0.0]),
])
def test_shifted_deviations_keep_their_numbers(monkeypatch: pytest.MonkeyPatch, kw: dict, betas: list) -> None:
    """Cells whose norms shrink by e^-9 to e^-30 (finite under the plain arithmetic), run once with
    deviations shifted from a log-norm of -4.4 on (by one or more powers of 2^16) and once never
    shifted: bitwise the same logs. So a shift changes no number that was finite before."""
    cell = Cell(samples=6, device="cpu", seed=7, **kw)
    monkeypatch.setattr(sim.states, "_LIMIT_SHARE", 0.9)  # no shift above e^-80
    plain = simulate_betas(cell, betas)
    monkeypatch.setattr(sim.states, "_LIMIT_SHARE", 0.05)
    shifted = simulate_betas(cell, betas)
    assert min(min(r.logs["fwd"].min(), r.logs["bwd"].min()) for r in plain) < -2 * DeviationShift.limit(torch.float32)
    for a, b in zip(plain, shifted, strict=True):
        for q in QUANTITIES:
            np.testing.assert_array_equal(a.logs[q], b.logs[q], err_msg=q)


def test_shift_log_norm_is_exact_and_saturates() -> None:
    """The log of a shifted deviation's norm is bitwise the log of the unshifted norm, and
    log(norm) + bits log 2 where norm * 2^bits is past float64's range."""
    shift = DeviationShift()
    log_s = torch.tensor([[-50.0], [-60.0], [-10.0]], dtype=torch.float64)  # (samples, rows)
    dev = torch.tensor([1.0e15, 3.0e17, 0.7], dtype=torch.float32).view(3, 1, 1).expand(3, 1, 5).contiguous()
    plain = log_s + dev.square().sum(2).sqrt().double().log()
    shift.settle(log_s, dev)
    assert shift.level is not None and shift.level.flatten().tolist() == [1, 2, 0]
    stored = dev.square().sum(2).sqrt().double()
    assert torch.equal(shift.log_norm(log_s, stored), plain)
    shift.level = torch.tensor([[70], [0], [0]])  # 2^1120 overflows float64
    far = shift.log_norm(log_s, torch.ones(3, 1, dtype=torch.float64))
    assert torch.isfinite(far).all() and far[0, 0] == log_s[0, 0] + 1120 * np.log(2)


@pytest.mark.slow
def test_no_nonfinite_at_beta_zero_depth_8192() -> None:
    """beta = 0, L = 8192, every block, stepper and dtype (relu residual blocks, the identity
    linear and antisym blocks, tanh antisym): norms explode to e^4000 or collapse to e^-210, and
    every log of every sample stays finite. About 90 s on 2 cores."""
    cases = [(block, act) for block in ("res1", "res3") for act in ("relu",)]
    cases += [("linear", "identity"), ("antisym", "identity"), ("antisym", "tanh")]
    for (block, act), stepper, dtype in itertools.product(cases, ("euler", "heun", "rk4"), ("float32", "float64")):
        cell = Cell(block=block, activation=act, stepper=stepper, dtype=dtype, beta=0.0, depth=8192, width=8,
                    samples=4, device="cpu", seed=1)
        res = simulate(cell)
        assert all(n == 0 for n in res.nonfinite.values()), (cell.label(), dtype, res.nonfinite)


# ---------------------------------------------------------------------- the engine's API
def test_numpy_scalars_are_cells_values() -> None:
    """numpy integers and reals are accepted and give the keys of the equal Python values."""
    cell = Cell(depth=np.int64(16), width=np.int32(4), samples=np.uint8(3), beta=np.float32(0.5),
                hurst=np.float64(0.3), init="fgn", seed=np.int16(2))
    assert cell == Cell(depth=16, width=4, samples=3, beta=0.5, hurst=0.3, init="fgn", seed=2)
    assert type(cell.depth) is int and type(cell.beta) is float
    assert Cell(depth=64.0).key() == Cell(depth=64).key()
    for bad in (dict(depth=np.bool_(True)), dict(depth=np.float64(1.5)), dict(beta=np.float32("nan"))):
        with pytest.raises(ValueError, match="is not allowed"):
            Cell(**bad)


def test_simulate_betas_takes_any_iterable() -> None:
    ref = simulate_betas(SMALL, [0.25, 0.5])
    for betas in ((0.25, 0.5), np.array([0.25, 0.5]), (b for b in (0.25, 0.5)), iter([0.25, np.float32(0.5)])):
        got = simulate_betas(SMALL, betas)
        assert [r.cell for r in got] == [r.cell for r in ref]
        for a, b in zip(ref, got, strict=True):
            np.testing.assert_array_equal(a.logs["diff"], b.logs["diff"])
    with pytest.raises(ValueError, match=r"betas=\[\] is not allowed: the iterable given is empty"):
        simulate_betas(SMALL, (b for b in ()))
    for bad in (0.5, "0.5", np.array(0.5)):
        with pytest.raises(ValueError, match="is not allowed: expected an iterable of numbers"):
            simulate_betas(SMALL, bad)
