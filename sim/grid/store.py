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

A new store is built in a temporary file next to its path and linked into place whole, so no store
is ever seen half-created; a file left empty or schema-less by an older, interrupted creation (and
holding no cell) is created anew, with a warning on stderr. Every failure to open, read or write a
store raises `StoreError` (a ValueError) naming the file and saying what it still holds: a damaged
store how many of its cells are readable (`salvage` copies them into a new store), a failed write
(disk full, I/O error) that every cell committed before it is kept.

Reading API (used by `reports`): `Store(path).load() -> list[StoredCell]`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Sequence
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

# The columns of `cells`, and those a cell cannot be read without (`salvage` fills in the others).
CELL_COLUMNS = ("key", "identity", "samples", "fwd", "diff", "bwd", "bwd_diff", "nonfinite", "seconds",
                "timings", "device", "dtype", "meta")
ESSENTIAL_COLUMNS = ("key", "identity", "samples", "fwd", "diff", "bwd", "bwd_diff")

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


class StoreError(ValueError):
    """A results store that cannot be opened, read or written. The message names the file, says
    what the store still holds and how to go on (run again, free space, salvage)."""


def training_key(cell: Cell, config: dict[str, Any]) -> str:
    """Key of a cell trained under a configuration (TrainConfig fields as a dict)."""
    payload = json.dumps({"cell": cell.key(), "config": config}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _cell_key(cell: Cell, engine: int | None) -> str:
    """`Cell.key()` as the engine version `engine` computed it (the store's own version)."""
    if engine is None or engine == ENGINE_VERSION:
        return cell.key()
    payload = json.dumps({**cell.identity(), "engine": engine}, sort_keys=True)
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


def _cell_from_row(key: str, ident: str, samples: Any, blobs: Sequence[Any], nonfinite: Any = None,
                   seconds: Any = 0.0, timings: Any = "{}", device: Any = "unknown", dtype: Any = None,
                   meta: Any = "{}") -> StoredCell:
    """A StoredCell from a row, checked: its identity a valid cell, one float64 per sample in each
    blob. Raises ValueError (or TypeError, json's errors) saying what is wrong with the row."""
    cell = Cell(**json.loads(ident))
    if samples != cell.samples:
        raise ValueError(f"samples={samples!r} but its identity says {cell.samples}")
    logs = {}
    for q, blob in zip(QUANTITIES, blobs, strict=True):
        if not isinstance(blob, bytes) or len(blob) != 8 * cell.samples:
            size = len(blob) if isinstance(blob, bytes | str) else None
            raise ValueError(f"its {q} blob holds {size} bytes, not 8 x {cell.samples}")
        logs[q] = _array(blob)
    counts = ({q: int((~np.isfinite(v)).sum()) for q, v in logs.items()} if nonfinite is None
              else {q: int(n) for q, n in json.loads(nonfinite).items()})
    return StoredCell(key=key, cell=cell, logs=logs, nonfinite=counts, seconds=float(seconds),
                      device=str(device), dtype=cell.dtype if dtype is None else str(dtype),
                      timings=json.loads(timings), meta=json.loads(meta))


class Store:
    """A results store at `path` (a `results.sqlite` file).

    Store(path) opens the file, creating it with the current schema when it does not exist (unless
    `readonly`); its directory must exist. Raises `StoreError` (a ValueError) naming the path when
    the path is a directory, cannot be created, is not a results store, was made by an
    incompatible schema version, is damaged, or (unless `readonly`) cannot be written. Usable as a
    context manager; `close()` releases the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._legacy: dict[str, str] | None = None
        if self.path.is_dir():
            raise StoreError(f"store {str(self.path)!r} is a directory, not a results store file")
        if readonly:
            if not self.path.is_file():
                raise StoreError(f"store {str(self.path)!r} does not exist")
        elif not self.path.parent.is_dir():
            raise StoreError(f"store {str(self.path)!r} cannot be created: its directory "
                             f"{str(self.path.parent)!r} does not exist")
        elif not self.path.exists() or _creation_interrupted(self.path):
            _create(self.path, replace=self.path.exists())
        elif not _writable(self.path):  # refused before a connection makes -wal and -shm files
            raise StoreError(f"{self.path} cannot be written (the file or its directory is read-only or "
                             "immutable); it was not changed")
        try:
            self._conn = _connect_readonly(self.path) if readonly else sqlite3.connect(
                self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path} cannot be opened ({_reason(exc)})") from None
        try:
            self._meta = self._open()
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ opening
    def _open(self) -> dict[str, str]:
        try:
            tables = {r[0] for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self.path, exc) from None
        if not tables:
            raise StoreError(f"{self.path} is not a results store: it is empty")
        meta = self._validate(tables)
        if not self.readonly:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.execute(_TRAINING_SCHEMA)
                # a write that is rolled back: refuses a read-only file, directory or disk now,
                # before any cell is simulated for it
                with _transaction(self._conn):
                    self._conn.execute("UPDATE meta SET value = value WHERE name = 'schema_version'")
            except sqlite3.Error as exc:
                if not _environmental(exc):
                    raise _unreadable(self.path, exc) from None
                raise StoreError(f"{self.path} cannot be written ({_reason(exc)}); it was not changed") from None
        return meta

    def _validate(self, tables: set[str]) -> dict[str, str]:
        """The meta table of an existing store; StoreError when this version cannot read it."""
        if "meta" not in tables:
            raise StoreError(f"{self.path} is not a results store: it has no meta table")
        try:
            meta = dict(self._conn.execute("SELECT name, value FROM meta").fetchall())
            columns = ({r[1] for r in self._conn.execute("PRAGMA table_info(cells)")}
                       if "cells" in tables else set())
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self.path, exc) from None
        found = meta.get("schema_version")
        if found != str(SCHEMA_VERSION) or "cells" not in tables:
            raise StoreError(f"{self.path} was made by an incompatible version of resnet-regimes "
                             f"(store schema {found}; this version reads schema {SCHEMA_VERSION})")
        missing = [c for c in CELL_COLUMNS if c not in columns]
        if missing:
            raise _damaged(self.path, f"its table of cells lacks the column{'s' if len(missing) > 1 else ''} "
                                      f"{', '.join(missing)}")
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
        keys = {row[0] for row in rows}
        with self._writing():
            # rows stored under a key of beta = -0.0 by older versions are the same cells
            stale = [old for old, new in self._legacy_keys().items() if new in keys]
            with _transaction(self._conn):
                self._conn.executemany("DELETE FROM cells WHERE key = ?", [(k,) for k in stale])
                self._conn.executemany(
                    "INSERT OR REPLACE INTO cells (key, identity, samples, fwd, diff, bwd, bwd_diff, "
                    "nonfinite, seconds, timings, device, dtype, meta) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            for k in stale:
                self._legacy_keys().pop(k)
        return [row[0] for row in rows]

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn a failed write (disk full, I/O error, a file made read-only) into a StoreError that
        says what the store keeps: the transaction is rolled back, every earlier one is intact."""
        try:
            yield
        except sqlite3.Error as exc:
            try:
                count = len(self)
                held = f"{count} cell{'' if count == 1 else 's'}"
            except (sqlite3.Error, StoreError):
                held = "every cell"
            raise StoreError(f"writing {self.path} failed ({_reason(exc)}): the store holds {held} committed "
                             "before this write, intact; free space (or fix the file's permissions) and run "
                             "the same command again to finish") from None

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
        with self._writing(), _transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO training (key, cell_key, identity, config, lr, diverged, arrays, "
                "lr_scores, seconds, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return key

    def training_keys(self) -> set[str]:
        """Keys of every stored trained cell."""
        with self._reading():
            if not self._has_training():
                return set()
            keys = {r[0] for r in self._conn.execute("SELECT key FROM training")}
            legacy = self._conn.execute(
                "SELECT key, identity, config FROM training WHERE identity LIKE '%-0.0%'").fetchall()
        for key, ident, config in legacy:
            keys.discard(key)
            keys.add(training_key(Cell(**json.loads(ident)), json.loads(config)))
        return keys

    def _has_training(self) -> bool:
        return self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'training'").fetchone() is not None

    def load_training(self) -> list[StoredTraining]:
        """Every stored trained cell, ordered by key (empty when the run has no training)."""
        with self._reading():
            if not self._has_training():
                return []
            rows = self._conn.execute(
                "SELECT key, identity, config, lr, diverged, arrays, lr_scores, seconds, meta "
                "FROM training ORDER BY key").fetchall()
        out = []
        for key, ident, config, lr, diverged, arrays, scores, seconds, meta in rows:
            try:
                data = json.loads(arrays)
                as_arrays = {group: {k: np.asarray(v, dtype=np.float64) for k, v in d.items()}
                             for group, d in data.items()}
                cell, settings = Cell(**json.loads(ident)), json.loads(config)
                out.append(StoredTraining(
                    key=training_key(cell, settings) if "-0.0" in ident else key, cell=cell, config=settings,
                    lr=float(lr), diverged=int(diverged), metrics=as_arrays["metrics"], before=as_arrays["before"],
                    after=as_arrays["after"], initial_test_loss=as_arrays["initial_test_loss"]["values"],
                    lr_scores=json.loads(scores), seconds=float(seconds), meta=json.loads(meta)))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise _damaged(self.path, f"its trained cell {key} cannot be read ({_reason(exc)})") from None
        return sorted(out, key=lambda st: st.key)

    # ------------------------------------------------------------------ reading
    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn SQLite's errors while reading into a StoreError naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise _unreadable(self.path, exc) from None

    def _legacy_keys(self) -> dict[str, str]:
        """Stored key -> key, for rows that older versions stored under beta = -0.0 (or another
        negative zero): `Cell` now reads -0.0 as 0.0, whose key differs. Usually empty."""
        if self._legacy is None:
            with self._reading():
                rows = self._conn.execute("SELECT key, identity FROM cells WHERE identity LIKE '%-0.0%'").fetchall()
            self._legacy = {}
            for key, ident in rows:
                try:
                    canonical = _cell_key(Cell(**json.loads(ident)), self.engine_version)
                except (ValueError, TypeError):
                    continue  # a damaged row: load() says so
                if canonical != key:
                    self._legacy[key] = canonical
        return self._legacy

    def has(self, key: str) -> bool:
        """True when a cell with this key is stored."""
        with self._reading():
            if self._conn.execute("SELECT 1 FROM cells WHERE key = ?", (key,)).fetchone() is not None:
                return key not in self._legacy_keys()
        return key in self._legacy_keys().values()

    def keys(self) -> set[str]:
        """Keys of every stored cell."""
        with self._reading():
            stored = {r[0] for r in self._conn.execute("SELECT key FROM cells")}
        legacy = self._legacy_keys()
        return {legacy.get(k, k) for k in stored}

    def __len__(self) -> int:
        with self._reading():
            count = int(self._conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0])
        if self._legacy_keys():  # a cell stored under both keys counts once
            return len(self.keys())
        return count

    def load(self) -> list[StoredCell]:
        """Every stored cell, ordered by key. A damaged row raises StoreError, saying how many cells
        are readable and how to salvage them."""
        with self._reading():
            rows = self._conn.execute(f"SELECT {', '.join(CELL_COLUMNS)} FROM cells ORDER BY key").fetchall()
        cells = []
        for key, ident, samples, fwd, diff, bwd, bwd_diff, *rest in rows:
            try:
                cells.append(_cell_from_row(key, ident, samples, (fwd, diff, bwd, bwd_diff), *rest))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise _damaged(self.path, f"cell {key} cannot be read: {_reason(exc)}") from None
        legacy = self._legacy_keys()
        if not legacy:
            return cells
        by_key: dict[str, StoredCell] = {}
        for sc in cells:  # one cell per key: the row stored under the key wins over a -0.0 row
            canonical = legacy.get(sc.key, sc.key)
            if canonical not in by_key or sc.key == canonical:
                by_key[canonical] = dataclasses.replace(sc, key=canonical)
        return [by_key[k] for k in sorted(by_key)]


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception, a failed COMMIT included (autocommit
    connection)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite rolled it back itself


def _reason(exc: BaseException) -> str:
    """An exception's message, without its type."""
    return str(exc) or type(exc).__name__


_IO_ERRORS = ("disk I/O error", "database or disk is full", "unable to open database file", "readonly database",
              "database is locked", "no space left")


def _environmental(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed for the store's surroundings (disk, permissions, another writer)
    rather than for its content."""
    return isinstance(exc, sqlite3.OperationalError) and any(s in _reason(exc) for s in _IO_ERRORS)


def _unreadable(path: Path, exc: sqlite3.Error) -> StoreError:
    """The StoreError of a failed read: damaged content (with what is readable), or the
    environment (disk, permissions, another writer), which says the store itself is unchanged."""
    reason = _reason(exc)
    if _environmental(exc):
        hint = ("another process is writing it; wait for it to finish" if "locked" in reason else
                "is the disk full, or the file or its directory unreadable?")
        return StoreError(f"{path} cannot be read ({reason}): {hint} The store was not changed.")
    if "file is not a database" in reason:
        return StoreError(f"{path} is not a results store ({reason})")
    return _damaged(path, reason)


def _damaged(path: Path, what: str) -> StoreError:
    """A StoreError for a damaged store: what is wrong, how many cells are readable, how to salvage them."""
    try:
        readable, total = _count_readable(path)
        found = f"{readable} of its {total} cells are readable" if total is not None else \
            f"{readable} of its cells are readable"
    except Exception:  # counting is best effort: the message must still come out
        found = "its readable cells cannot be counted"
    return StoreError(f"{path} is damaged ({what}): {found}; sim.grid.store.salvage({str(path)!r}, NEW) copies "
                      "every readable cell into a new store NEW (the others are simulated again by a run "
                      "there), or use another output directory")


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that creates no file next to the store.

    Without a -wal file the database is complete in itself and is opened immutable (SQLite then
    creates no -wal/-shm files); with one (a writer is running, or one was killed) the normal
    read-only mode is used so that committed transactions still in the log are seen.
    """
    uri = path.resolve().as_uri()
    options = "mode=ro" if _wal(path).exists() else "mode=ro&immutable=1"
    return sqlite3.connect(f"{uri}?{options}", uri=True, isolation_level=None)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _writable(path: Path) -> bool:
    """Whether the file and its directory (where SQLite makes its -wal and -shm files) can be
    written, immutable files included (access(2) refuses them even to root)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


# ---------------------------------------------------------------------- creation
def _creation_interrupted(path: Path) -> bool:
    """Whether the file at `path` is what an interrupted creation leaves: empty (0 bytes, or no
    table), or only this schema's tables, incomplete (no cells table or no versions in meta) and
    holding no row of cells or training. Such a file holds nothing to keep."""
    try:
        if path.stat().st_size == 0 and not _wal(path).exists():
            return True
        conn = _connect_readonly(path)
    except (OSError, sqlite3.Error):
        return False
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables - {"meta", "cells", "training"}:
            return False
        if any(conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in tables & {"cells", "training"}):
            return False
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall()) if "meta" in tables else {}
        return not ("cells" in tables and "schema_version" in meta and "engine_version" in meta)
    except sqlite3.Error:
        return False  # unreadable: opening it says what it is
    finally:
        conn.close()


def _create(path: Path, replace: bool) -> None:
    """Create an empty store at `path` whole: its schema is committed in a temporary file next to
    it, which is then linked into place (replacing, with `replace`, a file left by an interrupted
    creation). A process killed at any moment leaves either no store or a complete one (and at
    worst a stray temporary file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    meta = {"schema_version": str(SCHEMA_VERSION), "engine_version": str(ENGINE_VERSION)}
    try:
        _remove_with_logs(tmp)
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            with _transaction(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(_TRAINING_SCHEMA)
                conn.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", meta.items())
        finally:
            conn.close()  # the last connection checkpoints the log into the file and removes it
        _fsync(tmp)
        if replace:
            _remove_with_logs(path, keep_file=True)  # the logs of the file replaced, not of the new one
            os.replace(tmp, path)
            print(f"warning: {path} held no cell and no complete schema (its creation was interrupted); "
                  "created it anew", file=sys.stderr)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process created it first: that store is used
            except OSError:  # a file system without hard links
                if not path.exists():
                    os.replace(tmp, path)
        _fsync(path.parent)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"store {str(path)!r} cannot be created ({_reason(exc)})") from None
    finally:
        with contextlib.suppress(OSError):
            _remove_with_logs(tmp)


def _remove_with_logs(path: Path, keep_file: bool = False) -> None:
    """Remove a database file's -wal and -shm files (and the file itself unless `keep_file`)."""
    for name in ((path.name + "-wal", path.name + "-shm") if keep_file else
                 (path.name, path.name + "-wal", path.name + "-shm")):
        path.with_name(name).unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """Flush a file's (or a directory's entries') data to the disk, where the platform allows."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- damage and salvage
def _rows(conn: sqlite3.Connection, table: str, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Every row of `table` that SQLite can still read, as {column: value} for those of `columns`
    the table has, one row at a time (by rowid), so that a damaged page or row skips only itself."""
    present = [c for c in columns if c in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}]
    if not present:
        return
    try:
        rowids: Sequence[int] = [r[0] for r in conn.execute(f"SELECT rowid FROM {table} ORDER BY rowid")]
    except sqlite3.DatabaseError:
        try:
            top = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
        except sqlite3.DatabaseError:
            top = 0
        rowids = range(1, min(int(top), 10**7) + 1)
    select = f"SELECT {', '.join(present)} FROM {table} WHERE rowid = ?"
    for rowid in rowids:
        try:
            row = conn.execute(select, (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row is not None:
            yield dict(zip(present, row, strict=True))


def _salvage_cell(row: dict[str, Any]) -> StoredCell | None:
    """The cell of a row as `salvage` reads it: its essential fields must be sound; the others
    (counts, seconds, timings, device, dtype, provenance) take defaults where they are missing or
    unreadable. None when the cell cannot be read."""
    if any(c not in row for c in ESSENTIAL_COLUMNS):
        return None
    blobs = [row[q] for q in QUANTITIES]
    try:
        return _cell_from_row(row["key"], row["identity"], row["samples"], blobs,
                              *(row[c] for c in CELL_COLUMNS[7:]))
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    try:
        return _cell_from_row(row["key"], row["identity"], row["samples"], blobs)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _count_readable(path: Path) -> tuple[int, int | None]:
    """(cells `salvage` could copy, rows of cells when they can be counted) of the store at path."""
    conn = _connect_readonly(path)
    try:
        try:
            total: int | None = int(conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0])
        except sqlite3.Error:
            total = None
        readable = sum(_salvage_cell(row) is not None for row in _rows(conn, "cells", CELL_COLUMNS))
        return readable, total
    finally:
        conn.close()


@dataclass
class Salvaged:
    """What `salvage` copied: `cells` and trained cells (`trained`); `unreadable` rows of cells
    left behind (None when the damaged store cannot count them)."""

    cells: int
    trained: int
    unreadable: int | None


def salvage(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Salvaged:
    """Copy every readable cell (and trained cell) of the store `src`, damaged or not, into a new
    store `dst`, which must not exist (its directory must). Reads `src` only.

    A cell is readable when its key, identity (a valid `Cell`), sample count and the four per-sample
    blobs (one float64 per sample each) can be read; its other fields take defaults where they are
    lost (non-finite counts recomputed, seconds 0, timings and provenance empty, device 'unknown').
    Keys stored under beta = -0.0 are copied under beta = 0's. `dst` takes `src`'s engine version;
    when that cannot be read, the current one, and only cells whose keys it computes are copied.
    Rerunning the grid's command with `dst`'s directory as output directory simulates the rest.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise StoreError(f"store {str(src)!r} does not exist")
    if dst.exists() or _wal(dst).exists():
        raise StoreError(f"store {str(dst)!r} exists: salvage writes a new store (give a new path)")
    try:
        conn = _connect_readonly(src)
    except sqlite3.Error as exc:
        raise StoreError(f"{src} cannot be opened ({_reason(exc)})") from None
    cells: dict[str, StoredCell] = {}
    trained: list[tuple[Any, ...]] = []
    total: int | None = None
    try:
        try:
            engine: int | None = int(dict(conn.execute("SELECT name, value FROM meta").fetchall())["engine_version"])
        except (sqlite3.Error, KeyError, ValueError):
            engine = None
        with contextlib.suppress(sqlite3.Error):
            total = int(conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0])
        for row in _rows(conn, "cells", CELL_COLUMNS):
            sc = _salvage_cell(row)
            if sc is None:
                continue
            canonical = _cell_key(sc.cell, engine)
            if engine is None and canonical != sc.key:
                continue  # made by an unknown engine version: its numbers cannot be vouched for
            if canonical not in cells or sc.key == canonical:
                cells[canonical] = dataclasses.replace(sc, key=canonical)
        trained = _salvage_training(conn)
    except sqlite3.Error:
        pass  # not a database at all, or its schema is unreadable: nothing more can be read
    finally:
        conn.close()
    with Store(dst) as out:
        with out._writing(), _transaction(out._conn):
            out._conn.execute("UPDATE meta SET value = ? WHERE name = 'engine_version'",
                              (str(ENGINE_VERSION if engine is None else engine),))
            out._conn.executemany(
                f"INSERT INTO cells ({', '.join(CELL_COLUMNS)}) VALUES ({', '.join('?' * len(CELL_COLUMNS))})",
                [(sc.key, json.dumps(sc.cell.identity(), sort_keys=True), sc.cell.samples,
                  *(_blob(sc.logs[q]) for q in QUANTITIES), json.dumps(sc.nonfinite), sc.seconds,
                  json.dumps(sc.timings, sort_keys=True), sc.device, sc.dtype, json.dumps(sc.meta, sort_keys=True))
                 for sc in cells.values()])
            out._conn.executemany(
                "INSERT OR REPLACE INTO training (key, cell_key, identity, config, lr, diverged, arrays, lr_scores, "
                "seconds, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", trained)
    unreadable = None if total is None else max(0, total - len(cells))
    return Salvaged(cells=len(cells), trained=len(trained), unreadable=unreadable)


_TRAINING_COLUMNS = ("key", "cell_key", "identity", "config", "lr", "diverged", "arrays", "lr_scores", "seconds",
                     "meta")


def _salvage_training(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """The readable rows of a store's training table, re-keyed where they were stored under -0.0."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "training" not in tables:
        return []
    out = []
    for row in _rows(conn, "training", _TRAINING_COLUMNS):
        try:
            if any(c not in row for c in _TRAINING_COLUMNS):
                continue
            cell, config = Cell(**json.loads(row["identity"])), json.loads(row["config"])
            for text in (row["arrays"], row["lr_scores"], row["meta"]):
                json.loads(text)
            out.append((training_key(cell, config), cell.key(), json.dumps(cell.identity(), sort_keys=True),
                        row["config"], float(row["lr"]), int(row["diverged"]), row["arrays"], row["lr_scores"],
                        float(row["seconds"]), row["meta"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return out


# ---------------------------------------------------------------------- checking before a run
def check_store(path: str | os.PathLike[str]) -> None:
    """StoreError (a ValueError) unless `path` is missing, left empty by an interrupted creation
    (a run creates it anew), or a sound store this version can read and extend, in a file and
    directory that can be written.

    Reads only and touches nothing next to the store: when a -wal file is present (a writer was
    killed), the store and its log are checked from a temporary copy, because reading a WAL
    database in place updates its -shm index. Checks the store's integrity (SQLite's quick check)
    and every cell's identity and blob sizes, so that a damaged store is reported before a run
    simulates anything for it.
    """
    path = Path(path)
    if not path.exists():
        return
    if path.is_dir():
        raise StoreError(f"store {str(path)!r} is a directory, not a results store file")
    wal = _wal(path)
    if wal.exists():
        try:
            with tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp) / path.name
                shutil.copyfile(path, copy)
                shutil.copyfile(wal, _wal(copy))
                _check_copy(copy, path)
        except OSError as exc:
            raise StoreError(f"{path} cannot be checked: copying it to a temporary directory failed "
                             f"({exc.strerror or exc}); is the disk full? The store was not changed.") from None
    else:
        _check_copy(path, path)


def _check_copy(path: Path, shown: Path) -> None:
    """check_store on `path` (the store or a copy of it), naming `shown` in errors."""
    if _creation_interrupted(path):
        return
    if not _writable(shown):
        raise StoreError(f"{shown} cannot be written (the file or its directory is read-only or immutable); "
                         "it was not changed: make it writable, or use another output directory")
    try:
        store = Store(path, readonly=True)
    except StoreError as exc:
        raise StoreError(str(exc).replace(str(path), str(shown))) from None
    with store:
        if store.engine_version != ENGINE_VERSION:
            raise StoreError(f"{shown} holds results of engine version {store.engine_version}; this "
                             f"engine is version {ENGINE_VERSION} (use another output directory)")
        problem = _audit(store._conn)
    if problem is not None:
        raise StoreError(str(_damaged(path, problem)).replace(str(path), str(shown)))


def _audit(conn: sqlite3.Connection) -> str | None:
    """What is wrong with a store's pages or cells (None when nothing is): SQLite's quick check,
    then every cell's identity and blob sizes (the blobs themselves are not read)."""
    try:
        verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if verdict != "ok":
            return f"integrity check: {' '.join(verdict.split())}"
        for key, ident, samples, *sizes in conn.execute(
                "SELECT key, identity, samples, length(fwd), length(diff), length(bwd), length(bwd_diff) FROM cells"):
            try:
                cell = Cell(**json.loads(ident))
            except (ValueError, TypeError) as exc:
                return f"cell {key}: its identity cannot be read ({_reason(exc)})"
            if samples != cell.samples or any(size != 8 * cell.samples for size in sizes):
                return f"cell {key}: its blobs do not hold one float64 per sample ({cell.samples})"
    except sqlite3.DatabaseError as exc:
        return _reason(exc)
    return None
