"""The results store: one SQLite file per run directory, one row per simulated cell.

A cell is written in a single transaction (identity, per-sample float64 logs of the four
quantities, non-finite counts, wall time, timings, device, dtype, provenance), together with the
other betas of its engine call (`put_many`), in WAL mode with synchronous=FULL: a process killed at
any moment leaves every committed cell intact and never a partial one. Rows are keyed by
`Cell.key()`, a hash of the cell's identity and the engine version, so a rerun can skip what is
already stored.

The `meta` table records the schema version and the engine version that wrote the store. A store
with another schema version cannot be read (ValueError); one written by another engine version can
be read but not extended, so results of two engines are never mixed.

Reading API (used by `reports`): `Store(path).load() -> list[StoredCell]`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
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

# Added by brief training (sim.train); created on demand, so older stores stay readable.
_TRAINING_SCHEMA = """
CREATE TABLE IF NOT EXISTS training (
    key        TEXT PRIMARY KEY,
    cell_key   TEXT NOT NULL,
    identity   TEXT NOT NULL,
    config     TEXT NOT NULL,
    lr         REAL NOT NULL,
    diverged   INTEGER NOT NULL,
    arrays     TEXT NOT NULL,
    lr_scores  TEXT NOT NULL,
    seconds    REAL NOT NULL,
    meta       TEXT NOT NULL
)
"""


@dataclass
class StoredTraining:
    """One trained cell: per-sample (samples,) float64 arrays after training at the chosen lr.

    metrics: train_loss, train_acc, test_loss, test_acc, val_score, weight_change, v_max_norm,
    v_max_increment, v_quadratic_variation; before / after: the four quantities (natural logs) on
    the initial and trained residual weights; initial_test_loss.
    """

    key: str
    cell: Cell
    config: dict[str, Any]
    lr: float
    diverged: int
    metrics: dict[str, np.ndarray]
    before: dict[str, np.ndarray]
    after: dict[str, np.ndarray]
    initial_test_loss: np.ndarray
    lr_scores: dict[str, float]
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)


def training_key(cell: Cell, config: dict[str, Any]) -> str:
    """Key of a cell trained under a configuration (TrainConfig fields as a dict)."""
    import hashlib

    payload = json.dumps({"cell": cell.key(), "config": config}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


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
            self._conn.execute(_TRAINING_SCHEMA)
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
        return self.put_many([result], meta)[0]

    def put_many(self, results: Sequence[SimResult], meta: dict[str, Any]) -> list[str]:
        """Store several simulated cells (one engine call's betas) in one transaction: all or none
        of them is stored, and one synchronous commit is paid instead of one per cell."""
        self.check_writable()
        rows = [self._row(r, meta) for r in results]
        with _transaction(self._conn):
            self._conn.executemany(
                "INSERT OR REPLACE INTO cells (key, identity, samples, fwd, diff, bwd, bwd_diff, "
                "nonfinite, seconds, timings, device, dtype, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return [row[0] for row in rows]

    @staticmethod
    def _row(result: SimResult, meta: dict[str, Any]) -> tuple[Any, ...]:
        cell = result.cell
        logs = {q: np.asarray(result.logs[q], dtype=np.float64) for q in QUANTITIES}
        for q, values in logs.items():
            if values.shape != (cell.samples,):
                raise ValueError(f"result.logs[{q!r}] has shape {values.shape}; expected "
                                 f"({cell.samples},) for {cell.label()}")
        return (cell.key(), json.dumps(cell.identity(), sort_keys=True), cell.samples,
                *(_blob(logs[q]) for q in QUANTITIES),
                json.dumps({q: int(result.nonfinite[q]) for q in QUANTITIES}),
                float(result.seconds), json.dumps(result.timings, sort_keys=True),
                str(result.device), str(result.dtype), json.dumps(meta, sort_keys=True))

    def put_training(self, result: Any, meta: dict[str, Any]) -> str:
        """Store one trained cell (a sim.train.TrainResult) in one transaction; returns its key."""
        self.check_writable()
        config = dataclasses.asdict(result.config)
        key = training_key(result.cell, config)
        arrays = {"metrics": result.metrics, "before": result.before, "after": result.after,
                  "initial_test_loss": {"values": result.initial_test_loss}}
        text = json.dumps({group: {k: np.asarray(v, dtype=np.float64).tolist() for k, v in d.items()}
                           for group, d in arrays.items()})
        row = (key, result.cell.key(), json.dumps(result.cell.identity(), sort_keys=True),
               json.dumps(config, sort_keys=True), float(result.lr), int(result.diverged), text,
               json.dumps({repr(k): v for k, v in result.lr_scores.items()}), float(result.seconds),
               json.dumps(meta, sort_keys=True))
        with _transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO training (key, cell_key, identity, config, lr, diverged, arrays, "
                "lr_scores, seconds, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return key

    def training_keys(self) -> set[str]:
        """Keys of every stored trained cell."""
        if not self._has_training():
            return set()
        return {r[0] for r in self._conn.execute("SELECT key FROM training")}

    def _has_training(self) -> bool:
        return self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'training'").fetchone() is not None

    def load_training(self) -> list[StoredTraining]:
        """Every stored trained cell, ordered by key (empty when the run has no training)."""
        if not self._has_training():
            return []
        out = []
        for key, ident, config, lr, diverged, arrays, scores, seconds, meta in self._conn.execute(
                "SELECT key, identity, config, lr, diverged, arrays, lr_scores, seconds, meta "
                "FROM training ORDER BY key"):
            data = json.loads(arrays)
            as_arrays = {group: {k: np.asarray(v, dtype=np.float64) for k, v in d.items()}
                         for group, d in data.items()}
            out.append(StoredTraining(
                key=key, cell=Cell(**json.loads(ident)), config=json.loads(config), lr=float(lr),
                diverged=int(diverged), metrics=as_arrays["metrics"], before=as_arrays["before"],
                after=as_arrays["after"], initial_test_loss=as_arrays["initial_test_loss"]["values"],
                lr_scores=json.loads(scores), seconds=float(seconds), meta=json.loads(meta)))
        return out

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
