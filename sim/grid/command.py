"""`python -m sim.grid`: simulate a grid of cells, store every result, classify regimes, compare
with theory, and build the report.

    python -m sim.grid                                   # the 'quick' preset
    python -m sim.grid --preset phase --device cuda
    python -m sim.grid --init fgn --hurst 0.2,0.8 --beta 0:1.2:13 --depth 16,64,256 --out runs/mine

Everything is validated (every cell is built) before anything is written: bad input prints one
line `error: --flag=value is not allowed: ...` on stderr and exits with status 2, leaving the output
directory as it was. Results go to OUT/results.sqlite one cell per transaction; a rerun skips
stored cells, so an interrupted run (Ctrl-C, kill -9) is finished by running the same command
again. The exports (cells.csv, regimes.csv, thresholds.csv) and run.json are rewritten from the
whole store at the end of every run. docs/outputs.md documents the files and their columns.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sim.cell import Cell
from sim.device import default_memory_budget, parse_memory, resolve_device
from sim.engine import memory_plan
from sim.grid import executors
from sim.grid import spec as gridspec
from sim.grid.executors import ClusterLost, EngineCall, Executor, LocalExecutor, TrainingJob
from sim.grid.exports import write_exports, write_training
from sim.grid.predictions import Predictor
from sim.grid.presets import DEFAULT_PRESET, PRESETS
from sim.grid.progress import Progress
from sim.grid.regimes import DELTA, LEVEL
from sim.grid.runinfo import provenance, write_json
from sim.grid.spec import GridError, SubGrid
from sim.grid.store import SCHEMA_VERSION, Store, check_store, training_key
from sim.train import TrainConfig, check_trainable
from sim.train.data import load_dataset

PROG = "python -m sim.grid"
# Flags that set one axis of every sub-grid.
AXIS_FLAGS = ("block", "activation", "init", "hurst", "lengthscale", "beta", "depth", "width",
              "samples", "seed", "dtype", "stepper", "damping")
# Keys a TOML configuration may hold besides the axes.
CONFIG_SETTINGS = ("device", "max_memory", "executor", "ray_address", "out", "grid")
STORE_NAME = "results.sqlite"


class UsageError(Exception):
    """Bad input: the message is printed as 'error: <message>' and the exit status is 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one-line UsageErrors instead of usage dumps."""

    def error(self, message: str) -> None:  # type: ignore[override]
        match = re.match(r"argument (\S+?)(?:/\S+)?: expected one argument", message)
        if match:
            raise UsageError(f"{match.group(1)} is not allowed without a value: give one")
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    presets = "\n".join(f"  {name:<12} {p.description}" for name, p in PRESETS.items())
    parser = _Parser(
        prog=PROG, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulate a grid of ResNet initialization cells, store the results, classify "
                    "regimes from the data and compare them with theory.",
        epilog=f"""\
values:
  Lists are comma-separated (--beta 0.25,0.5,1); ranges are start:stop:count, inclusive and
  evenly spaced (--beta 0:1.2:13 is 0, 0.1, ..., 1.2); both can be mixed (--depth 16,64:256:4).
  Axis flags replace that axis in every sub-grid of the preset or configuration. --hurst applies
  to the inits fgn and fbm, --lengthscale to smooth, --damping to the antisym block; the linear
  block has no activation. --stepper makes each layer an Euler (the usual ResNet), Heun or RK4
  step of size alpha_L (see sim.steppers).

presets (default {DEFAULT_PRESET}):
{presets}

configuration files (--config FILE.toml):
  Top-level keys: any axis ({', '.join(gridspec.AXES)}), and device, max_memory, executor,
  ray_address, out.
  Values are scalars, lists, or texts in the flag syntax ("0:1.2:13"). Optional [[grid]] tables
  are sub-grids; top-level axes are defaults for each of them.

output (OUT, default runs/<preset or config name>):
  results.sqlite, cells.csv, regimes.csv, thresholds.csv, run.json and the report.
  Rerunning the same command skips stored cells (--force recomputes them).""")
    source = parser.add_argument_group("grid source")
    source.add_argument("--preset", metavar="NAME", help=f"a named grid: {', '.join(PRESETS)}")
    source.add_argument("--config", metavar="FILE.toml", help="a grid from a TOML file")
    axes = parser.add_argument_group("axes (lists and ranges)")
    helps = {
        "block": "res1, res3, linear, antisym", "activation": "relu, tanh, identity, leaky_relu, gelu",
        "init": "iid, fgn, fbm, smooth, shared", "hurst": "Hurst indices in (0, 1) for fgn/fbm",
        "lengthscale": "length-scales > 0 for smooth", "beta": "scaling exponents >= 0",
        "depth": "depths L >= 1", "width": "widths d >= 1", "samples": "networks per cell, >= 2",
        "seed": "root seeds >= 0", "dtype": "float32, float64",
        "stepper": "euler (default), heun, rk4", "damping": "gamma >= 0 of the antisym block (default 0)",
    }
    for name in AXIS_FLAGS:
        axes.add_argument(f"--{name}", metavar="VALUES", help=helps[name])
    run = parser.add_argument_group("run")
    run.add_argument("--device", metavar="DEV", help="auto (CUDA when present), cpu, cuda")
    run.add_argument("--max-memory", metavar="SIZE", help="memory budget per engine call, e.g. 4G "
                     "(default: half of what is free, at most 4G on the CPU)")
    run.add_argument("--executor", metavar="NAME", help="local (default: this process) or ray (Ray tasks, "
                     "one per engine call; needs the 'cluster' extra)")
    run.add_argument("--ray-address", metavar="ADDRESS", help="with --executor ray: auto or HOST:PORT of a running "
                     "Ray cluster (default: start a local Ray instance)")
    run.add_argument("--out", metavar="DIR", help="output directory (default runs/<name>)")
    run.add_argument("--force", action="store_true", help="recompute cells already stored")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors and warnings")
    run.add_argument("--no-report", action="store_true", help="skip building the report")
    train = parser.add_argument_group("brief training (after simulating; see sim.train)")
    train.add_argument("--train", metavar="EPOCHS", help="train every cell's networks this many epochs "
                       "and measure them again")
    train.add_argument("--dataset", metavar="NAME", help="digits (default; scikit-learn's bundled set) "
                       "or teacher (regression on a fixed random ResNet)")
    train.add_argument("--lr", metavar="VALUES", help="learning rates to choose from on the validation "
                       "split (default 1e-3,1e-2)")
    train.add_argument("--optimizer", metavar="NAME", help="adam (default) or sgd")
    train.add_argument("--batch-size", metavar="N", help="minibatch size (default 64)")
    return parser


TRAIN_FLAGS = {"train": "epochs", "dataset": "dataset", "lr": "lrs", "optimizer": "optimizer",
               "batch_size": "batch_size"}


def _train_config(args: argparse.Namespace, preset_train: dict[str, Any] | None) -> TrainConfig | None:
    """The training configuration from the flags over the preset's; None when not training."""
    given = {flag: getattr(args, flag) for flag in TRAIN_FLAGS if getattr(args, flag) is not None}
    if not given and preset_train is None:
        return None
    if preset_train is None and "train" not in given:
        flag = next(iter(given))
        raise UsageError(f"--{flag.replace('_', '-')}={given[flag]} is not allowed without --train EPOCHS")
    settings = dict(preset_train or {})
    for flag, text in given.items():
        name = f"--{flag.replace('_', '-')}"
        try:
            if flag in ("train", "batch_size"):
                value: Any = int(text)
            elif flag == "lr":
                value = tuple(float(v) for v in text.split(",") if v.strip())
            else:
                value = text
        except ValueError:
            raise UsageError(f"{name}={text} is not allowed: expected "
                             f"{'an integer' if flag != 'lr' else 'comma-separated numbers'}") from None
        settings[TRAIN_FLAGS[flag]] = value
    try:
        config = TrainConfig(**settings)
        load_dataset(config.dataset)
    except ValueError as exc:
        field, _, rest = str(exc).partition("=")
        flag = {v: k for k, v in TRAIN_FLAGS.items()}.get(field, field)
        raise UsageError(f"--{flag.replace('_', '-')}={rest}") from None
    return config


# ---------------------------------------------------------------------- planning
@dataclass
class Plan:
    """A validated run: everything needed, nothing written yet."""

    name: str
    preset: str | None
    config: str | None
    grid: list[SubGrid]
    cells: list[Cell]
    out: Path
    device: str
    resolved_device: str
    max_memory: int | None
    force: bool
    quiet: bool
    report: bool
    command: list[str]
    validate_seconds: float = 0.0
    train: TrainConfig | None = None
    executor: str = "local"
    ray_address: str | None = None


def _load_toml(path: str) -> dict[str, Any]:
    """Parse a TOML file with tomllib (Python 3.11+) or tomli."""
    try:
        import tomllib as toml
    except ImportError:
        try:
            import tomli as toml  # type: ignore[no-redef]
        except ImportError:
            raise UsageError(f"--config={path} is not allowed: reading TOML needs Python 3.11 or "
                             "the 'tomli' package") from None
    try:
        with open(path, "rb") as fh:
            return toml.load(fh)
    except FileNotFoundError:
        raise UsageError(f"--config={path} is not allowed: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--config={path} is not allowed: it is a directory") from None
    except OSError as exc:
        raise UsageError(f"--config={path} is not allowed: cannot read it ({exc.strerror})") from None
    except toml.TOMLDecodeError as exc:
        raise UsageError(f"--config={path} is not allowed: invalid TOML ({exc})") from None


def _config_axes(table: dict[str, Any], where: str) -> SubGrid:
    """The axes of one TOML table, parsed and checked."""
    sub: SubGrid = {}
    for key, value in table.items():
        if key in CONFIG_SETTINGS:
            continue
        if key not in gridspec.AXES:
            raise GridError(f"{where}: {key}", _short(value), "unknown key; allowed keys: "
                            f"{', '.join(gridspec.AXES + CONFIG_SETTINGS)}")
        values = gridspec.parse_value(key, f"{where}: {key}", value)
        gridspec.check_axis(key, f"{where}: {key}", values)
        sub[key] = values
    return sub


def _short(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _config_grid(path: str) -> tuple[list[SubGrid], dict[str, Any]]:
    """Sub-grids and settings of a TOML configuration."""
    data = _load_toml(path)
    name = Path(path).name
    top = _config_axes(data, name)
    tables = data.get("grid", [])
    if isinstance(tables, dict):
        tables = [tables]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise GridError(f"{name}: grid", _short(tables), "expected [[grid]] tables")
    for i, t in enumerate(tables):
        nested = [k for k in t if k in CONFIG_SETTINGS]
        if nested:
            raise GridError(f"{name}: grid[{i}].{nested[0]}", _short(t[nested[0]]),
                            "set it at the top level, not inside [[grid]]")
    subs = [{**top, **_config_axes(t, f"{name}: grid[{i}]")} for i, t in enumerate(tables)] or [top]
    settings = {k: data[k] for k in CONFIG_SETTINGS if k in data and k != "grid"}
    for key, value in settings.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise GridError(f"{name}: {key}", _short(value), "expected a text")
    return subs, settings


def _check_out(out: Path) -> None:
    """UsageError unless OUT can be created or written and any store there can be extended."""
    flag = f"--out={out}"
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{flag} is not allowed: it exists and is not a directory")
        if not os.access(out, os.W_OK | os.X_OK):
            raise UsageError(f"{flag} is not allowed: the directory is not writable")
        store = out / STORE_NAME
        if store.exists() and not store.is_file():
            raise UsageError(f"{flag} is not allowed: {store} is not a file")
        try:
            check_store(store)
        except ValueError as exc:
            raise UsageError(f"{flag} is not allowed: {exc}") from None
        return
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} is not allowed: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} is not allowed: {parent} is not writable")


def _groups(cells: Sequence[Cell]) -> dict[str, list[Cell]]:
    """Cells grouped by everything but beta (one engine call each), in order of appearance."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        ident = {k: v for k, v in cell.identity().items() if k != "beta"}
        groups.setdefault(json.dumps(ident, sort_keys=True), []).append(cell)
    return groups


def plan(argv: Sequence[str]) -> Plan:
    """Parse and validate the command line; raises UsageError. Writes nothing."""
    start = time.perf_counter()
    args, unknown = build_parser().parse_known_args(list(argv))
    if unknown:
        token = unknown[0]
        if token.startswith("-"):
            raise UsageError(f"{token} is not allowed: unknown flag (see {PROG} --help)")
        raise UsageError(f"{token!r} is not allowed: {PROG} takes flags only (see --help)")
    if args.preset is not None and args.config is not None:
        raise UsageError(f"--config={args.config} is not allowed together with --preset: "
                         "give one of them")
    settings: dict[str, Any] = {}
    if args.config is not None:
        try:
            grid, settings = _config_grid(args.config)
        except GridError as exc:
            raise UsageError(str(exc)) from None
        preset, name = None, Path(args.config).stem
    else:
        preset = args.preset if args.preset is not None else DEFAULT_PRESET
        if preset not in PRESETS:
            raise UsageError(f"--preset={preset} is not allowed: one of {', '.join(PRESETS)}")
        grid, name = [dict(sub) for sub in PRESETS[preset].grid], preset

    try:
        for axis in AXIS_FLAGS:
            text = getattr(args, axis)
            if text is None:
                continue
            values = gridspec.parse_text(axis, f"--{axis}", text)
            gridspec.check_axis(axis, f"--{axis}", values)
            if axis in ("hurst", "lengthscale") and not gridspec.uses_axis(grid, axis):
                takers = "fgn, fbm" if axis == "hurst" else "smooth"
                raise GridError(f"--{axis}", text, f"no init of the grid uses it ({takers})")
            if axis == "damping" and not gridspec.uses_block(grid, "antisym", args.block):
                raise GridError("--damping", text, "no block of the grid uses it (antisym)")
            grid = [{**sub, axis: values} for sub in grid]
    except GridError as exc:
        raise UsageError(str(exc)) from None

    device = args.device if args.device is not None else str(settings.get("device", "auto"))
    device_flag = "--device" if args.device is not None else f"{name}: device"
    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"{device_flag}={device} is not allowed: one of auto, cpu, cuda")
    try:
        resolved = str(resolve_device(device))
    except ValueError as exc:
        raise UsageError(f"{device_flag}={device} is not allowed: "
                         f"{str(exc).split(' is not allowed: ', 1)[-1]}") from None

    memory_text = args.max_memory if args.max_memory is not None else settings.get("max_memory")
    try:
        max_memory = parse_memory(memory_text)
    except ValueError as exc:
        raise UsageError(f"--max-memory={memory_text} is not allowed: "
                         f"{str(exc).split(' is not allowed: ', 1)[-1]}") from None

    executor = args.executor if args.executor is not None else str(settings.get("executor", "local"))
    address = args.ray_address if args.ray_address is not None else settings.get("ray_address")
    address = None if address is None else str(address)
    try:
        executors.check(executor, address)
    except ValueError as exc:
        field, _, reason = str(exc).partition(" is not allowed: ")
        key, value, given = (("executor", executor, args.executor) if field.startswith("executor=")
                             else ("ray_address", address, args.ray_address))
        flag = f"--{key.replace('_', '-')}" if given is not None else f"{name}: {key}"
        raise UsageError(f"{flag}={value} is not allowed: {reason}") from None

    try:
        cells = gridspec.expand(grid, device=device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    budget = max_memory or default_memory_budget(resolve_device(device))
    for members in _groups(cells).values():
        try:
            _, window = memory_plan(members[0], len(members), budget)
        except ValueError as exc:
            raise UsageError("--max-memory" + str(exc).removeprefix("max_memory")) from None
        if window is not None:  # a warning: such a cell costs several generations per sample
            windows = -(-members[0].weight_layers // window)
            print(f"warning: {members[0].label().rsplit(' beta=', 1)[0]}: one sample's weight paths exceed "
                  f"--max-memory; they are served by {windows} windows of {window} layers, each generated "
                  f"anew (same numbers, about {2 * windows - 1}x the generation time)", file=sys.stderr)

    out = Path(args.out if args.out is not None else settings.get("out", Path("runs") / name))
    _check_out(out)

    if not args.no_report:
        try:
            report_builder()
        except Exception as exc:
            raise UsageError(f"the report cannot be built: reports.build_report is not available "
                             f"({type(exc).__name__}: {exc}); give --no-report") from None

    train = _train_config(args, PRESETS[preset].train if preset is not None else None)
    if train is not None:
        for cell in cells:
            try:
                check_trainable(cell)
            except ValueError as exc:
                raise UsageError(f"--train with {cell.label()}: {exc}") from None

    command = [Path(sys.executable).name, "-m", "sim.grid", *argv]
    return Plan(name=name, preset=preset, config=args.config, grid=grid, cells=cells, out=out,
                device=device, resolved_device=resolved, max_memory=max_memory, force=args.force,
                quiet=args.quiet, report=not args.no_report, command=command,
                validate_seconds=time.perf_counter() - start, train=train, executor=executor,
                ray_address=address)


# ---------------------------------------------------------------------- running
def _progress_mode(quiet: bool) -> str:
    if quiet:
        return "quiet"
    return "bar" if sys.stderr.isatty() else "lines"


def _failed(task_label: str, reason: str, progress: Progress | None = None) -> str:
    """Say on stderr that a task failed (on a line of its own below the bar); returns the line."""
    line = f"error: {task_label}: {reason}"
    print(("\n" if progress is not None and progress.mode == "bar" else "") + line, file=sys.stderr, flush=True)
    return line


def simulate_missing(p: Plan, store: Store, meta: dict[str, Any],
                     executor: Executor | None = None) -> tuple[int, int, list[str]]:
    """Simulate the grid's cells that are not stored (all with --force), one engine call per task of
    `executor` (default: this process), storing each call's cells as it finishes; returns (cells
    stored, cells skipped, one line per failed engine call)."""
    executor = executor if executor is not None else LocalExecutor()
    stored = set() if p.force else store.keys()
    todo = []
    for members in _groups(p.cells).values():
        missing = [c for c in members if c.key() not in stored]
        if missing:
            todo.append(missing)
    # Groups of the same draws (a Hurst sweep of fgn cells) run one after the other: the local
    # executor's workspace keeps their standard normals from one to the next.
    first_of_seed: dict[int, int] = {}
    for i, members in enumerate(todo):
        first_of_seed.setdefault(members[0].draw_seed(), i)
    todo.sort(key=lambda members: first_of_seed[members[0].draw_seed()])
    tasks = [EngineCall(tuple(members), p.max_memory) for members in todo]
    n_todo = sum(len(m) for m in todo)
    skipped = len(p.cells) - n_todo
    progress = Progress(n_todo, sum(t.cost for t in tasks), _progress_mode(p.quiet))
    if progress.mode == "lines":
        print(f"{len(p.cells)} cells: {skipped} already stored, {n_todo} to simulate "
              f"in {len(todo)} engine calls on {p.resolved_device}"
              f"{' (ray)' if executor.name == 'ray' else ''}", file=sys.stderr, flush=True)
    done, failed = 0, []
    try:
        for finished in executor.run(tasks, progress.begin):
            if finished.error is not None:
                failed.append(_failed(finished.task.label, finished.error, progress))
                progress.advance([], finished.task.cost)
                continue
            store.put_many(finished.result, meta)
            done += len(finished.result)
            progress.advance([(r.cell, r.seconds) for r in finished.result], finished.task.cost)
    finally:
        progress.finish()
    return done, skipped, failed


def train_missing(p: Plan, store: Store, meta: dict[str, Any],
                  executor: Executor | None = None) -> tuple[int, int, list[str]]:
    """Train the grid's cells whose training under p.train is not stored, one task of `executor`
    each, storing each as it finishes; returns (cells trained, cells skipped, one line per failed
    cell)."""
    executor = executor if executor is not None else LocalExecutor()
    config = dataclasses.asdict(p.train)
    stored = set() if p.force else store.training_keys()
    todo = [c for c in p.cells if training_key(c, config) not in stored]
    skipped = len(p.cells) - len(todo)
    mode = _progress_mode(p.quiet)
    if mode != "quiet":
        print(f"training {len(todo)} cells ({skipped} already trained): {p.train.epochs} epochs on "
              f"{p.train.dataset}, {p.train.optimizer}, lr in {', '.join(f'{lr:g}' for lr in p.train.lrs)}",
              file=sys.stderr, flush=True)
    start = time.perf_counter()
    done, failed = 0, []
    for i, finished in enumerate(executor.run([TrainingJob(cell, p.train) for cell in todo]), 1):
        cell = finished.task.cell
        if finished.error is not None:
            failed.append(_failed(f"training {cell.label()}", finished.error))
            continue
        result = finished.result
        store.put_training(result, meta)
        done += 1
        if mode != "quiet":
            elapsed = time.perf_counter() - start
            eta = elapsed / i * (len(todo) - i)
            acc = result.metrics["test_acc"]
            acc_text = "" if np.isnan(acc).all() else f", test acc {np.nanmean(acc):.3f}"
            print(f"[train {i}/{len(todo)}] {cell.label()}: lr {result.lr:g}, test loss "
                  f"{np.nanmean(result.metrics['test_loss']) if result.diverged < cell.samples else float('nan'):.4g}"
                  f"{acc_text}, {result.diverged} diverged ({result.seconds:.1f} s; ETA {eta:.0f} s)",
                  file=sys.stderr, flush=True)
    return done, skipped, failed


def _run_record(p: Plan, meta: dict[str, Any], counts: dict[str, int], stages: dict[str, float],
                files: list[Path], warnings: list[str], started: str,
                executor: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of run.json."""
    dtypes = sorted({c.dtype for c in p.cells})
    return {
        "tool": "sim.grid",
        "command": p.command,
        "preset": p.preset,
        "config": p.config,
        "out": str(p.out),
        "grid": [{axis: list(values) for axis, values in sub.items()} for sub in p.grid],
        "settings": {"device": p.device, "max_memory": p.max_memory, "force": p.force,
                     "report": p.report, **(executor or {"executor": p.executor})},
        "training": None if p.train is None else dataclasses.asdict(p.train),
        "device": p.resolved_device,
        "dtype": dtypes[0] if len(dtypes) == 1 else dtypes,
        "cells": counts,
        **meta,
        "store_schema": SCHEMA_VERSION,
        "decision_rules": {"delta": DELTA, "level": LEVEL},
        "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "stage_seconds": {k: round(v, 3) for k, v in stages.items()},
        "files": [str(f) for f in files],
        "warnings": warnings,
    }


def execute(p: Plan) -> int:
    """Run a validated plan; returns the exit status. The executor is made first: Ray that cannot
    be started or joined is bad input (status 2, nothing written)."""
    try:
        executor = executors.make(p.executor, p.ray_address, p.resolved_device, p.max_memory, p.quiet)
    except ValueError as exc:
        field, _, reason = str(exc).partition(" is not allowed: ")
        flag = f"--ray-address={p.ray_address}" if field.startswith("ray_address") else f"--executor={p.executor}"
        print(f"error: {flag} is not allowed: {reason}", file=sys.stderr)
        return 2
    try:
        return _execute(p, executor)
    finally:
        executor.close()


def _execute(p: Plan, executor: Executor) -> int:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    stages = {"validate": p.validate_seconds}
    meta = provenance()
    p.out.mkdir(parents=True, exist_ok=True)
    store_path = p.out / STORE_NAME
    with Store(store_path) as store:
        store.check_writable()
        t0 = time.perf_counter()
        try:
            done, skipped, failed = simulate_missing(p, store, meta, executor)
        except KeyboardInterrupt:
            print(f"interrupted: {len(store)} cells are stored in {store_path}; run the same "
                  "command again to finish", file=sys.stderr)
            return 130
        except ClusterLost as exc:
            print(f"error: {exc}: the {len(store)} cells finished are stored in {store_path}; run the same "
                  "command again to finish (--executor local runs it on this machine)", file=sys.stderr)
            return 1
        stages["simulate"] = time.perf_counter() - t0
        trained_counts = None
        if p.train is not None:
            t0 = time.perf_counter()
            try:
                trained_counts = train_missing(p, store, meta, executor)
            except KeyboardInterrupt:
                print(f"interrupted: trained cells so far are stored in {store_path}; run the same "
                      "command again to finish", file=sys.stderr)
                return 130
            except ClusterLost as exc:
                print(f"error: {exc}: the cells trained so far are stored in {store_path}; run the same "
                      "command again to finish (--executor local runs it on this machine)", file=sys.stderr)
                return 1
            stages["train"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        stored = store.load()
        trained = store.load_training()
    try:
        predictor = Predictor()
        files = [store_path, *write_exports(stored, p.out, predictor), *write_training(trained, p.out)]
        stages["export"] = time.perf_counter() - t0
        for warning in predictor.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        counts = {"grid": len(p.cells), "simulated": done, "already_stored": skipped, "in_store": len(stored)}
        if failed:
            counts["failed_engine_calls"] = len(failed)
        if trained_counts is not None:
            counts.update(trained=trained_counts[0], already_trained=trained_counts[1],
                          training_in_store=len(trained))
            if trained_counts[2]:
                counts["failed_training"] = len(trained_counts[2])
        run_json = p.out / "run.json"
        files.append(run_json)
        record = functools.partial(_run_record, p, meta, counts, stages, files, predictor.warnings, started,
                                   executor.describe())
        write_json(run_json, record())
        status = 0
        if p.report:
            t0 = time.perf_counter()
            try:
                files.extend(report_builder()(p.out))
            except Exception as exc:
                print(f"error: building the report failed ({type(exc).__name__}: {exc}); the results "
                      f"and tables in {p.out} are complete", file=sys.stderr)
                status = 1
            stages["report"] = time.perf_counter() - t0
            write_json(run_json, record())
    except KeyboardInterrupt:
        print(f"interrupted while writing the tables and report: all {len(stored)} cells are stored in "
              f"{store_path}; run the same command again to write them", file=sys.stderr)
        return 130
    failures = failed + (trained_counts[2] if trained_counts is not None else [])
    if failures:
        print(f"error: {len(failures)} tasks failed (listed above): their cells are not stored; the tables "
              "hold the others; run the same command again to retry them", file=sys.stderr)
        status = 1
    if not p.quiet:
        for f in files:
            print(f)
    return status


def report_builder() -> Callable[[Path], list[Path]]:
    """OUT -> the report's files (HTML and PDF): the command's last step, and the one place under
    `sim/` that imports `reports` (which reads stored results, never the other way round)."""
    from reports import build_report

    return lambda out: [Path(f) for f in build_report(out, formats=("html", "pdf"))]


def main(argv: Sequence[str] | None = None) -> int:
    """The command line entry point; returns the exit status (2 for bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    from sim import landscape  # the landscape preset is not a grid of cells: sim.landscape runs it

    if landscape.requested(argv):
        return landscape.main(argv, lambda out: report_builder()(out))
    try:
        p = plan(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    return execute(p)

