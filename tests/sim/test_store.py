"""The results store: bitwise round trip, atomic cells, version checks, read-only opening."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim import Cell, simulate
from sim.grid.store import SCHEMA_VERSION, Store, check_store

CELL = Cell(block="res3", activation="relu", init="iid", beta=0.5, depth=8, width=8, samples=6,
            device="cpu", seed=3)


def _result(beta: float = 0.5):
    return simulate(CELL.replace(beta=beta))


def test_round_trip_is_bitwise(tmp_path: Path) -> None:
    """Per-sample logs, counts, seconds and provenance come back exactly as stored."""
    res = _result()
    with Store(tmp_path / "r.sqlite") as store:
        key = store.put(res, {"git_commit": "abc", "versions": {"torch": "x"}})
        assert key == CELL.key() and store.has(key) and len(store) == 1
    with Store(tmp_path / "r.sqlite") as store:
        (sc,) = store.load()
    assert sc.cell == CELL and sc.key == CELL.key()
    for q, values in res.logs.items():
        assert sc.logs[q].dtype == np.float64
        np.testing.assert_array_equal(sc.logs[q], values)
    assert sc.nonfinite == res.nonfinite and sc.seconds == res.seconds
    assert sc.device == res.device and sc.dtype == res.dtype and sc.timings == res.timings
    assert sc.meta == {"git_commit": "abc", "versions": {"torch": "x"}}


def test_put_replaces_and_keys(tmp_path: Path) -> None:
    """Storing a cell again replaces it; keys() lists every stored cell."""
    with Store(tmp_path / "r.sqlite") as store:
        a, b = _result(0.5), _result(1.0)
        store.put(a, {})
        store.put(b, {})
        store.put(a, {"again": True})
        assert store.keys() == {a.cell.key(), b.cell.key()}
        assert {sc.key: sc.meta for sc in store.load()}[a.cell.key()] == {"again": True}


def test_wrong_shape_is_refused(tmp_path: Path) -> None:
    """A result whose logs do not have one value per sample is not stored."""
    res = _result()
    res.logs["fwd"] = res.logs["fwd"][:3]
    with Store(tmp_path / "r.sqlite") as store:
        with pytest.raises(ValueError, match=r"result.logs\['fwd'\] has shape"):
            store.put(res, {})
        assert len(store) == 0


def test_put_many_is_all_or_nothing(tmp_path: Path) -> None:
    """One engine call's cells go in one transaction: all of them, or none if one is refused."""
    good, bad = _result(0.5), _result(1.0)
    bad.logs["bwd"] = bad.logs["bwd"][:2]
    with Store(tmp_path / "r.sqlite") as store:
        with pytest.raises(ValueError, match=r"result.logs\['bwd'\] has shape"):
            store.put_many([good, bad], {})
        assert len(store) == 0
        other = _result(0.75)
        assert store.put_many([good, other], {"run": 1}) == [good.cell.key(), other.cell.key()]
        assert store.keys() == {good.cell.key(), other.cell.key()}


def test_incompatible_schema_is_refused(tmp_path: Path) -> None:
    """A store written by another schema version: ValueError on opening, read-only or not."""
    path = tmp_path / "r.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    for readonly in (False, True):
        with pytest.raises(ValueError, match=f"incompatible version.*schema 99.*reads schema {SCHEMA_VERSION}"):
            Store(path, readonly=readonly)


def test_not_a_store(tmp_path: Path) -> None:
    """Any other file, SQLite or not, is refused with a precise message."""
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="is not a results store"):
        Store(junk)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(ValueError, match="has no meta table"):
        check_store(other)


def test_other_engine_version_is_readable_not_writable(tmp_path: Path) -> None:
    """Results of another engine version are never mixed with this engine's."""
    path = tmp_path / "r.sqlite"
    with Store(path) as store:
        store.put(_result(), {})
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE name = 'engine_version'")
    with Store(path) as store:
        assert len(store.load()) == 1
        with pytest.raises(ValueError, match="engine version 0"):
            store.put(_result(1.0), {})
    with pytest.raises(ValueError, match="engine version 0"):
        check_store(path)


def test_readonly_open_creates_nothing(tmp_path: Path) -> None:
    """Validating an existing store (before a run) leaves its directory byte for byte unchanged."""
    path = tmp_path / "r.sqlite"
    with Store(path) as store:
        store.put(_result(), {})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    check_store(path)
    with Store(path, readonly=True) as store:
        assert len(store.load()) == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    check_store(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


def test_killed_writer_leaves_no_partial_cell(tmp_path: Path) -> None:
    """A process killed (SIGKILL) inside a cell's transaction leaves only the committed cells."""
    path = tmp_path / "r.sqlite"
    with Store(path) as store:
        store.put(_result(), {})
    script = f"""
import os, signal, sqlite3
conn = sqlite3.connect({str(path)!r}, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO cells (key, identity, samples, fwd, diff, bwd, bwd_diff, nonfinite, "
             "seconds, timings, device, dtype, meta) VALUES ('partial', '{{}}', 1, x'00', x'00', "
             "x'00', x'00', '{{}}', 0, '{{}}', 'cpu', 'float32', '{{}}')")
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL
    with Store(path) as store:
        assert store.keys() == {CELL.key()}
        assert len(store.load()) == 1
    assert os.path.getsize(path) > 0
