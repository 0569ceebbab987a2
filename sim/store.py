"""The results store: one SQLite file per run directory, one row per simulated cell.

A cell is written in a single transaction (identity, per-sample float64 logs of the four
quantities, non-finite counts, wall time, timings, device, dtype, provenance), in WAL mode with
synchronous=FULL: a process killed at any moment leaves every committed cell intact and never a
partial one. Rows are keyed by `Cell.key()`, a hash of the cell's identity and the engine
version, so a rerun can skip what is already stored.

The `meta` table records the schema version and the engine version that wrote the store. A store
with another schema version cannot be read (ValueError); one written by another engine version can
be read but not extended, so results of two engines are never mixed.

Reading API (used by `reports`): `Store(path).load() -> list[StoredCell]`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.cell import ENGINE_VERSION, Cell
from sim.engine import QUANTITIES, SimResult

# Bumped whenever the tables change in a way older code cannot read.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE cells (
    key        TEXT PRIMARY KEY,
    identity   TEXT NOT NULL,
    samples    INTEGER NOT NULL,
    fwd        BLOB NOT NULL,
    diff       BLOB NOT NULL,
    bwd        BLOB NOT NULL,
    bwd_diff   BLOB NOT NULL,
    nonfinite  TEXT NOT NULL,
    seconds    REAL NOT NULL,
    timings    TEXT NOT NULL,
    device     TEXT NOT NULL,
    dtype      TEXT NOT NULL,
    meta       TEXT NOT NULL
);
"""


@dataclass
class StoredCell:
    """One stored cell: `logs[q]` float64 (samples,) natural logs, q in sim.engine.QUANTITIES."""

    key: str
    cell: Cell
    logs: dict[str, np.ndarray]
    nonfinite: dict[str, int]
    seconds: float
    device: str
    dtype: str
    timings: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _blob(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def _array(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f8").astype(np.float64)


class Store:
    """A results store at `path` (a `results.sqlite` file).

    Store(path) opens the file, creating it with the current schema when it does not exist (unless
    `readonly`); raises ValueError when the file is not a results store or was made by an
    incompatible schema version. Usable as a context manager; `close()` releases the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            if not self.path.is_file():
                raise ValueError(f"store {str(self.path)!r} does not exist")
            self._conn = _connect_readonly(self.path)
        else:
            self._conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._meta = self._validate_or_create()
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ opening
    def _validate_or_create(self) -> dict[str, str]:
        try:
            tables = {r[0] for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path} is not a results store ({exc})") from None
        if tables:
            meta = self._validate(tables)
        elif self.readonly:
            raise ValueError(f"{self.path} is not a results store: it is empty")
        if not self.readonly:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        if not tables:
            meta = {"schema_version": str(SCHEMA_VERSION), "engine_version": str(ENGINE_VERSION)}
            with _transaction(self._conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", meta.items())
        return meta

    def _validate(self, tables: set[str]) -> dict[str, str]:
        """The meta table of an existing store; ValueError when this version cannot read it."""
        if "meta" not in tables:
            raise ValueError(f"{self.path} is not a results store: it has no meta table")
        meta = dict(self._conn.execute("SELECT name, value FROM meta").fetchall())
        found = meta.get("schema_version")
        if found != str(SCHEMA_VERSION) or "cells" not in tables:
            raise ValueError(f"{self.path} was made by an incompatible version of resnet-regimes "
                             f"(store schema {found}; this version reads schema {SCHEMA_VERSION})")
        return meta

    @property
    def engine_version(self) -> int | None:
        """The engine version that created the store."""
        value = self._meta.get("engine_version")
        return None if value is None else int(value)

    def check_writable(self) -> None:
        """ValueError unless new cells may be added: the store's engine version must be this one."""
        if self.readonly:
            raise ValueError(f"{self.path} was opened read-only")
        if self.engine_version != ENGINE_VERSION:
            raise ValueError(f"{self.path} holds results of engine version {self.engine_version}; this "
                             f"engine is version {ENGINE_VERSION} and must not mix its results with "
                             "them (use another output directory)")

    def close(self) -> None:
        """Release the database file."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def put(self, result: SimResult, meta: dict[str, Any]) -> str:
        """Store one simulated cell in one transaction (replacing a stored one); returns its key.

        meta: JSON-able provenance (library versions, git commit, ...) kept with the cell.
        """
        self.check_writable()
        cell = result.cell
        logs = {q: np.asarray(result.logs[q], dtype=np.float64) for q in QUANTITIES}
        for q, values in logs.items():
            if values.shape != (cell.samples,):
                raise ValueError(f"result.logs[{q!r}] has shape {values.shape}; expected "
                                 f"({cell.samples},) for {cell.label()}")
        key = cell.key()
        row = (key, json.dumps(cell.identity(), sort_keys=True), cell.samples,
               *(_blob(logs[q]) for q in QUANTITIES),
               json.dumps({q: int(result.nonfinite[q]) for q in QUANTITIES}),
               float(result.seconds), json.dumps(result.timings, sort_keys=True),
               str(result.device), str(result.dtype), json.dumps(meta, sort_keys=True))
        with _transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO cells (key, identity, samples, fwd, diff, bwd, bwd_diff, "
                "nonfinite, seconds, timings, device, dtype, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return key

    # ------------------------------------------------------------------ reading
    def has(self, key: str) -> bool:
        """True when a cell with this key is stored."""
        return self._conn.execute("SELECT 1 FROM cells WHERE key = ?", (key,)).fetchone() is not None

    def keys(self) -> set[str]:
        """Keys of every stored cell."""
        return {r[0] for r in self._conn.execute("SELECT key FROM cells")}

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0])

    def load(self) -> list[StoredCell]:
        """Every stored cell, ordered by key."""
        rows = self._conn.execute(
            "SELECT key, identity, fwd, diff, bwd, bwd_diff, nonfinite, seconds, timings, device, "
            "dtype, meta FROM cells ORDER BY key").fetchall()
        cells = []
        for key, ident, *blobs, nonfinite, seconds, timings, device, dtype, meta in rows:
            cells.append(StoredCell(
                key=key, cell=Cell(**json.loads(ident)),
                logs={q: _array(b) for q, b in zip(QUANTITIES, blobs, strict=True)},
                nonfinite={q: int(n) for q, n in json.loads(nonfinite).items()},
                seconds=float(seconds), device=device, dtype=dtype,
                timings=json.loads(timings), meta=json.loads(meta)))
        return cells


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (autocommit connection)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that creates no file next to the store.

    Without a -wal file the database is complete in itself and is opened immutable (SQLite then
    creates no -wal/-shm files); with one (a writer is running, or one was killed) the normal
    read-only mode is used so that committed transactions still in the log are seen.
    """
    uri = path.resolve().as_uri()
    wal = path.with_name(path.name + "-wal")
    options = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    return sqlite3.connect(f"{uri}?{options}", uri=True, isolation_level=None)


def check_store(path: str | os.PathLike[str]) -> None:
    """ValueError unless `path` is missing or a store this version can read and extend.

    Reads only and touches nothing next to the store: when a -wal file is present (a writer was
    killed), the store and its log are checked from a temporary copy, because reading a WAL
    database in place updates its -shm index.
    """
    path = Path(path)
    if not path.exists():
        return
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.name
            shutil.copyfile(path, copy)
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            _check_engine(copy, path)
    else:
        _check_engine(path, path)


def _check_engine(path: Path, shown: Path) -> None:
    try:
        store = Store(path, readonly=True)
    except ValueError as exc:
        raise ValueError(str(exc).replace(str(path), str(shown))) from None
    with store:
        if store.engine_version != ENGINE_VERSION:
            raise ValueError(f"{shown} holds results of engine version {store.engine_version}; this "
                             f"engine is version {ENGINE_VERSION} (use another output directory)")
