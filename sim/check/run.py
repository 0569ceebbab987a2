"""The depth check from start to finish: validate everything, run each depth (stored as it finishes,
skipped when a rerun finds it), decide, and write the tables.

Randomness: sample s at depth L is `build(L)` under torch's global generator seeded from (seed,
"model", L, s), and its input x and loss direction u come from a torch.Generator seeded from (seed,
"input", L, s): standard normal entries drawn in float32 (then cast, as the engine does), u
normalized to unit norm. A sample is the same model and input alone, in any chunk, resumed, or with
other betas; every beta of a sample sees the same model and input (common random numbers).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import torch

from sim.check import correlation as corr
from sim.check import decisions
from sim.check.errors import CheckError
from sim.check.factory import (
    Factory,
    block_list,
    build_model,
    check_stream,
    describe_blocks,
    factory_identity,
    factory_name,
    find_blocks,
    model_seed,
)
from sim.check.res3 import Res3Block
from sim.check.stream import (
    MODES,
    Blocks,
    StreamRun,
    attention_for,
    no_fused_attention,
    run_stream,
    time_modes,
    vmap_works,
)
from sim.device import default_memory_budget, parse_memory, resolve_device, resolve_dtype
from sim.engine import cpu_threads
from sim.grid.predictions import Predictor
from sim.grid.regimes import DELTA, LEVEL
from sim.grid.runinfo import provenance, write_json
from sim.weights import make_generator, substream_seed

DEFAULT_BETAS = tuple(round(0.1 * i, 12) for i in range(13))  # 0:1.2:13
QUANTITIES = ("fwd", "diff", "bwd", "bwd_diff")
PARTS = "check_parts"
FILES = {"samples": "check.csv", "layers": "check_layers.csv", "correlation": "check_correlation.csv",
         "regimes": "check_regimes.csv", "thresholds": "check_thresholds.csv", "record": "check.json"}
# Bumped when a change alters the numbers a stored depth holds: older parts are then recomputed.
CHECK_VERSION = 1

Inputs = Sequence[int] | Callable[[torch.Generator], torch.Tensor]


@dataclass
class Plan:
    """A validated check: everything needed, nothing written yet."""

    build: Factory
    depths: list[int]
    betas: list[float]
    inputs: Inputs
    input_shape: tuple[int, ...]
    samples: int
    blocks: str
    blocks_text: str
    device: torch.device
    dtype: torch.dtype
    seed: int
    mode: str
    mode_note: str
    max_memory: int
    names: list[str]
    fixed: list[str]
    exact_activation: str | None
    out: Path | None
    force: bool
    quiet: bool
    identity: dict[str, Any]
    command: list[str] | None = None
    validate_seconds: float = 0.0

    @property
    def fingerprint(self) -> str:
        """What a stored depth must match to be reused (the way blocks are called is not in it: the
        two give the same numbers to rounding)."""
        return json.dumps({**self.identity, "check_version": CHECK_VERSION}, sort_keys=True, default=str)


# ---------------------------------------------------------------------- validation
def _depths(depths: Any) -> list[int]:
    try:
        values = [int(d) for d in depths]
        whole = not isinstance(depths, str) and all(float(d) == v for d, v in zip(depths, values, strict=True))
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise CheckError("depths", depths, "expected a list of integers >= 2")
    if any(d < 2 for d in values):
        raise CheckError("depths", depths, "every depth must be >= 2 (a residual stream of one block "
                         "has no depth to scale)")
    values = sorted(set(values))
    if len(values) < 2:
        raise CheckError("depths", depths, "give at least two different depths (a slope needs two)")
    return values


def _betas(betas: Any) -> list[float]:
    try:
        values = [float(b) for b in betas]
    except (TypeError, ValueError):
        raise CheckError("betas", betas, "expected a list of numbers >= 0") from None
    if not values or any(not math.isfinite(b) or b < 0 for b in values):
        raise CheckError("betas", betas, "expected a non-empty list of finite numbers >= 0")
    return sorted(set(values) | {0.0})  # beta = 0 is the model as built, always checked


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise CheckError(name, value, f"expected an integer >= {minimum}")
    return int(value)


def draw_input(inputs: Inputs, seed: int, depth: int, sample: int, device: torch.device,
               dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, u) of one sample: the input of the residual stream and the unit loss direction."""
    gen = make_generator(substream_seed(seed, "input", depth, sample), torch.device("cpu"))
    if callable(inputs):
        x = inputs(gen)
        if not isinstance(x, torch.Tensor):
            raise CheckError("inputs", inputs, f"inputs(generator) returned {type(x).__name__}, expected a tensor")
        x = x.detach()
    else:
        x = torch.randn(tuple(inputs), generator=gen, dtype=torch.float32)
    u = torch.randn(tuple(x.shape), generator=gen, dtype=torch.float32)
    u = u / torch.linalg.vector_norm(u)
    return x.to(device=device, dtype=dtype), u.to(device=device, dtype=dtype)


def _input_shape(inputs: Any) -> tuple[int, ...] | None:
    if callable(inputs):
        return None
    try:
        shape = tuple(int(n) for n in inputs)
        if any(float(n) != int(n) for n in inputs):
            raise ValueError
    except (TypeError, ValueError):
        raise CheckError("inputs", inputs, "expected the stream's shape (a tuple of integers >= 1) or a "
                         "function of a torch.Generator returning the input tensor") from None
    if not shape or any(n < 1 for n in shape):
        raise CheckError("inputs", inputs, "expected the stream's shape: one or more integers >= 1")
    return shape


def state_bytes(plan_shape: tuple[int, ...], betas: int, depth: int, itemsize: int) -> int:
    """Bytes one sample's states take at one depth: L + 1 stored states and four running tensors per
    beta (the deviation, p, p_0 − p_L and a block's output)."""
    return int(np.prod(plan_shape)) * itemsize * betas * (depth + 1 + 4)


def plan(build: Factory, depths: Any, *, inputs: Any, betas: Any = DEFAULT_BETAS, samples: int = 8,
         blocks: str | None = None, device: str = "auto", dtype: str = "float32", seed: int = 0,
         batch: str = "auto", max_memory: int | str | None = None, out: str | os.PathLike[str] | None = None,
         force: bool = False, quiet: bool = True, command: list[str] | None = None) -> Plan:
    """Validate a check (builds the models of sample 0 at every depth and sample 1 at the smallest,
    and runs their blocks once); CheckError naming the parameter otherwise. Writes nothing."""
    start = time.perf_counter()
    if not callable(build):
        raise CheckError("build", build, "expected a function depth -> torch.nn.Module")
    depths = _depths(depths)
    betas = _betas(betas)
    samples = _int("samples", samples, 2)
    seed = _int("seed", seed, 0)
    if batch not in MODES:
        raise CheckError("batch", batch, f"one of {', '.join(MODES)}")
    if blocks is not None and not isinstance(blocks, str):
        raise CheckError("blocks", blocks, "expected the dotted name of a ModuleList or Sequential")
    try:
        dev = resolve_device(device)
        dt = resolve_dtype(dtype)
        budget = parse_memory(max_memory) or default_memory_budget(dev)
    except ValueError as exc:
        name, _, rest = str(exc).partition("=")
        value = {"device": device, "dtype": dtype, "max_memory": max_memory}.get(name, max_memory)
        raise CheckError(name, value, rest.split(" is not allowed: ", 1)[-1]) from None
    shape = _input_shape(inputs)
    x0, _ = draw_input(inputs, seed, depths[0], 0, dev, dt)
    if shape is None:
        shape = tuple(x0.shape)
    need = state_bytes(shape, len(betas), depths[-1], torch.empty((), dtype=dt).element_size())
    if need > budget:
        raise CheckError("max_memory", max_memory if max_memory is not None else budget,
                         f"one sample's states at depth {depths[-1]} need {need / 2**20:.0f} MiB")
    out_path = None if out is None else Path(out)
    if out_path is not None:
        _check_out(out_path)

    firsts = {d: build_model(build, d, seed, 0, dev, dt) for d in depths}
    name = find_blocks(firsts, blocks)
    for d, model in firsts.items():
        x, _ = draw_input(inputs, seed, d, 0, dev, dt)
        if tuple(x.shape) != shape:
            raise CheckError("inputs", inputs, f"inputs(generator) returned shape {tuple(x.shape)} at depth {d}, "
                             f"and {shape} before: the stream's shape must not change")
        check_stream(model, name, x)
    second = build_model(build, depths[0], seed, 1, dev, dt)
    pair = [block_list(firsts[depths[0]], name), block_list(second, name)]
    names = corr.parameter_names(pair[0])
    fixed = corr.fixed_names(pair[0], pair[1], names)
    names = [n for n in names if n not in fixed]

    mode, note = batch, ""
    if batch in ("auto", "vmap"):
        h0 = torch.stack([draw_input(inputs, seed, depths[0], s, dev, dt)[0] for s in range(2)])
        with no_fused_attention():
            reason = vmap_works(Blocks(pair, "vmap"), h0, [1.0, depths[0] ** -betas[-1]])
        if reason is not None and batch == "vmap":
            raise CheckError("batch", batch, f"the blocks cannot run under torch.func.vmap ({reason}); use 'loop'")
        if reason is not None:
            mode, note = "loop", f"vmap does not work for these blocks ({reason}): one call per sample and beta"
        elif batch == "auto":
            mode, note = _faster_mode(build, depths[0], inputs, betas, samples, seed, dev, dt, name)
    every = [b for m in firsts.values() for b in block_list(m, name)]
    exact = None
    if all(isinstance(b, Res3Block) for b in every) and len({b.activation for b in every}) == 1:
        exact = every[0].activation
    identity = {**factory_identity(build), "inputs": list(shape) if not callable(inputs) else
                f"{factory_name(inputs)} -> {list(shape)}", "betas": betas, "samples": samples, "blocks": name,
                "dtype": str(dt).removeprefix("torch."), "device": dev.type, "seed": seed}
    return Plan(build=build, depths=depths, betas=betas, inputs=inputs, input_shape=shape, samples=samples,
                blocks=name, blocks_text=describe_blocks([firsts[depths[-1]]], name), device=dev, dtype=dt,
                seed=seed, mode=mode, mode_note=note, max_memory=budget, names=names, fixed=fixed,
                exact_activation=exact, out=out_path, force=force, quiet=quiet, identity=identity,
                command=command, validate_seconds=time.perf_counter() - start)


def _faster_mode(build: Factory, depth: int, inputs: Inputs, betas: list[float], samples: int, seed: int,
                 device: torch.device, dtype: torch.dtype, blocks: str) -> tuple[str, str]:
    """('vmap' or 'loop', why): the faster on one worker's share of the samples of the smallest
    depth, at every beta, timed on its first two blocks (`sim.check.stream.time_modes`)."""
    workers = _workers(device, samples)
    ids = range(max(2, math.ceil(samples / workers)))
    models = [block_list(build_model(build, depth, seed, s, device, dtype), blocks) for s in ids]
    pairs = [draw_input(inputs, seed, depth, s, device, dtype) for s in ids]
    alphas = [1.0 if b == 0 else float(depth) ** -b for b in betas]
    with no_fused_attention(), cpu_threads(device, workers):
        seconds = time_modes(models, torch.stack([x for x, _ in pairs]), torch.stack([u for _, u in pairs]),
                             alphas)
    mode = min(seconds, key=seconds.__getitem__)
    return mode, (f"auto: two blocks of {len(ids)} samples at {len(betas)} betas took {seconds['vmap'] * 1e3:.0f} ms "
                  f"with vmap and {seconds['loop'] * 1e3:.0f} ms one call at a time; {mode} kept")


def _check_out(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise CheckError("out", str(out), "it exists and is not a directory")
        if not os.access(out, os.W_OK | os.X_OK):
            raise CheckError("out", str(out), "the directory is not writable")
        return
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise CheckError("out", str(out), f"{parent} is not a writable directory")


# ---------------------------------------------------------------------- one depth
@dataclass
class DepthResult:
    """One depth's numbers: logs[q] (S, B) natural logs of the four quantities; log_h, log_dev, log_p
    (S, B, L+1) the trajectories (sim.check.stream.StreamRun); correlations: one per sample."""

    depth: int
    logs: dict[str, np.ndarray]
    log_h: np.ndarray
    log_dev: np.ndarray
    log_p: np.ndarray
    correlations: list[corr.SampleCorrelation]
    seconds: float
    mode: str


def _workers(device: torch.device, samples: int) -> int:
    return 1 if device.type != "cpu" else max(1, min(torch.get_num_threads(), samples))


def workers_for(p: Plan) -> int:
    """Worker threads on a CPU: torch's thread count (at most one per sample), each worker then on
    one torch thread (sim.engine.cpu_threads); 1 on CUDA. Measured on 2 busy cores with the
    transformer example at L = 16 (docs/check.md): one worker of two torch threads took 3 to 6
    times as long as one or two workers of one thread each."""
    return _workers(p.device, p.samples)


def run_depth(p: Plan, depth: int) -> DepthResult:
    """Build the samples of one depth (in the main thread: factories seed torch's global
    generator), measure their weights, and run their streams, split between worker threads and
    chunked to the memory budget."""
    start = time.perf_counter()
    alphas = [1.0 if b == 0 else float(depth) ** -b for b in p.betas]
    itemsize = torch.empty((), dtype=p.dtype).element_size()
    workers = workers_for(p)
    share = p.max_memory // workers // state_bytes(p.input_shape, len(p.betas), depth, itemsize)
    chunk = max(1, min(math.ceil(p.samples / workers), share))
    parts: list[StreamRun] = []
    correlations: list[corr.SampleCorrelation] = []
    with cpu_threads(p.device, workers):
        for first in range(0, p.samples, chunk * workers):
            stop = min(p.samples, first + chunk * workers)
            jobs = [_job(p, depth, range(lo, min(stop, lo + chunk)), correlations) for lo in range(first, stop, chunk)]

            def run(job: tuple[Blocks, torch.Tensor, torch.Tensor]) -> StreamRun:
                return run_stream(*job, alphas)

            if len(jobs) == 1:
                parts.append(run(jobs[0]))
            else:
                with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                    parts.extend(pool.map(run, jobs))
            del jobs
    cat = np.concatenate
    return DepthResult(depth, {q: cat([r.logs[q] for r in parts]) for q in QUANTITIES},
                       cat([r.log_h for r in parts]), cat([r.log_dev for r in parts]),
                       cat([r.log_p for r in parts]), correlations, time.perf_counter() - start, p.mode)


def _job(p: Plan, depth: int, ids: range, correlations: list[corr.SampleCorrelation]
         ) -> tuple[Blocks, torch.Tensor, torch.Tensor]:
    """The blocks, inputs (S, *shape) and directions of samples `ids`; their weights' correlations
    are appended to `correlations`."""
    blocks = [block_list(build_model(p.build, depth, p.seed, s, p.device, p.dtype), p.blocks) for s in ids]
    correlations += [corr.sample_correlation(b, p.names) for b in blocks]
    pairs = [draw_input(p.inputs, p.seed, depth, s, p.device, p.dtype) for s in ids]
    return Blocks(blocks, p.mode), torch.stack([x for x, _ in pairs]), torch.stack([u for _, u in pairs])


def _part_path(out: Path, depth: int) -> Path:
    return out / PARTS / f"depth-{depth:06d}.npz"


def save_part(out: Path, fingerprint: str, r: DepthResult) -> Path:
    """Store one depth atomically (temporary file, then rename)."""
    path = _part_path(out, r.depth)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted({n for c in r.correlations for n in c.by_name})
    by_name = np.array([[c.by_name.get(n, np.nan) for n in names] for c in r.correlations], dtype=np.float64)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, fingerprint=np.array(fingerprint), depth=r.depth, seconds=r.seconds, mode=np.array(r.mode),
             log_h=r.log_h, log_dev=r.log_dev, log_p=r.log_p, rho=np.stack([c.rho for c in r.correlations]),
             names=np.array(names, dtype=str), by_name=by_name.reshape(len(r.correlations), len(names)),
             **{f"logs_{q}": r.logs[q] for q in QUANTITIES})
    os.replace(tmp, path)
    return path


def load_part(out: Path, depth: int, fingerprint: str) -> DepthResult | None:
    """A stored depth with this fingerprint, or None (absent, unreadable, or another check's)."""
    path = _part_path(out, depth)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["fingerprint"]) != fingerprint:
                return None
            names = [str(n) for n in f["names"]]
            correlations = [corr.SampleCorrelation(rho, {n: float(v) for n, v in zip(names, row, strict=True)
                                                        if np.isfinite(v)}, depth)
                            for rho, row in zip(f["rho"], f["by_name"], strict=True)]
            return DepthResult(depth, {q: f[f"logs_{q}"] for q in QUANTITIES}, f["log_h"], f["log_dev"],
                               f["log_p"], correlations, float(f["seconds"]), str(f["mode"]))
    except (OSError, KeyError, ValueError):
        return None


# ---------------------------------------------------------------------- tables
def sample_rows(p: Plan, r: DepthResult) -> list[dict[str, Any]]:
    """check.csv rows of one depth: one per (beta, sample)."""
    rows = []
    for b, beta in enumerate(p.betas):
        for s in range(p.samples):
            rows.append({"depth": r.depth, "beta": beta, "alpha": float(r.depth) ** -beta,
                         "scaling": "as built" if beta == 0 else "rescaled", "sample": s,
                         "model_seed": model_seed(p.seed, r.depth, s),
                         **{q: float(r.logs[q][s, b]) for q in QUANTITIES},
                         "first_step": float(r.log_dev[s, b, 1])})
    return rows


def layer_frame(p: Plan, r: DepthResult) -> pd.DataFrame:
    """check_layers.csv rows of one depth: one per (beta, sample, layer k = 0..L)."""
    S, B, K = r.log_h.shape
    index = np.indices((B, S, K)).reshape(3, -1)
    b, s, k = index
    return pd.DataFrame({"depth": r.depth, "beta": np.asarray(p.betas)[b], "sample": s, "layer": k,
                         "log_h": r.log_h[s, b, k], "log_dev": r.log_dev[s, b, k], "log_p": r.log_p[s, b, k]})


@dataclass
class CheckResult:
    """A finished check: its tables (pandas DataFrames with the CSV files' columns), the one-paragraph
    verdict, and the record (check.json, which also holds the weights' family and theory's view)."""

    samples: pd.DataFrame
    layers: pd.DataFrame
    correlation: pd.DataFrame
    regimes: pd.DataFrame
    thresholds: pd.DataFrame
    sentence: str
    record: dict[str, Any]
    out: Path | None = None
    files: list[Path] = field(default_factory=list)
    report_error: str | None = None

    def __repr__(self) -> str:
        return f"CheckResult({self.sentence!r})"


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    out = frame.copy()
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, list)).any():
            out[column] = out[column].map(lambda v: ";".join(str(x) for x in v) if isinstance(v, list) else v)
    out.to_csv(tmp, index=False, float_format="%.10g")
    os.replace(tmp, path)
    return path


def _progress(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


def execute(p: Plan, report: Callable[[Path], list[Path]] | None = None) -> CheckResult:
    """Run a validated check: every depth (reusing stored ones), the decisions, the tables, and the
    report when `report` is given and the plan has an output directory."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    stream = None if p.quiet else sys.stderr
    stages = {"validate": p.validate_seconds}
    fingerprint = p.fingerprint
    if p.out is not None:
        p.out.mkdir(parents=True, exist_ok=True)
    _progress(stream, f"depth check of {p.identity['factory']}: {p.blocks_text}; stream {list(p.input_shape)}, "
                      f"{p.samples} samples x {len(p.betas)} betas at depths {', '.join(map(str, p.depths))} on "
                      f"{p.device.type} ({p.mode}{'; ' + p.mode_note if p.mode_note else ''})")
    results: dict[int, DepthResult] = {}
    t0 = time.perf_counter()
    cost_done = 0.0
    cost_total = float(sum(p.depths))
    reused = []
    with no_fused_attention(), attention_for(p.mode):
        for i, depth in enumerate(p.depths, 1):
            stored = None if (p.out is None or p.force) else load_part(p.out, depth, fingerprint)
            if stored is not None:
                results[depth] = stored
                reused.append(depth)
                cost_total -= depth
                _progress(stream, f"[{i}/{len(p.depths)}] depth {depth}: stored, skipped")
                continue
            t = time.perf_counter()
            results[depth] = run_depth(p, depth)
            if p.out is not None:
                save_part(p.out, fingerprint, results[depth])
            cost_done += depth
            elapsed = time.perf_counter() - t0
            eta = elapsed / cost_done * (cost_total - cost_done) if cost_done else 0.0
            _progress(stream, f"[{i}/{len(p.depths)}] depth {depth}: {time.perf_counter() - t:.1f} s "
                              f"(elapsed {elapsed:.0f} s, about {eta:.0f} s left)")
    stages["simulate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    samples = pd.DataFrame([row for d in p.depths for row in sample_rows(p, results[d])])
    layers = pd.concat([layer_frame(p, results[d]) for d in p.depths], ignore_index=True)
    by_depth = {d: results[d].correlations for d in p.depths}
    correlation = pd.DataFrame(corr.correlation_rows(by_depth), columns=["depth", "parameter", "lag", "rho",
                                                                            "rho_se", "samples"])
    family = corr.classify_family(by_depth)
    predictor = Predictor()
    shift = decisions.branch_exponent(samples)
    width = p.input_shape[-1]
    view = decisions.theory_view(family, p.depths, width, p.exact_activation, shift, predictor)
    regime_rows, threshold_rows = decisions.decide(samples, family, view, shift, p.device.type)
    regimes = pd.DataFrame(regime_rows)
    thresholds = pd.DataFrame(threshold_rows)
    sentence = decisions.sentence(threshold_rows[0], family, view, p.betas)
    stages["decide"] = time.perf_counter() - t0
    nonfinite = {q: int((~np.isfinite(samples[q].to_numpy(dtype=float))).sum()) for q in QUANTITIES}
    warnings = list(predictor.warnings)
    if any(nonfinite.values()):
        warnings.append(f"non-finite values (overflow) left out of the medians: {nonfinite}; --dtype float64 "
                        "reaches further")
        _progress(stream, f"warning: {warnings[-1]}")
    record: dict[str, Any] = {
        "tool": "sim.check", "command": p.command, **p.identity,
        "input_shape": list(p.input_shape), "depths": p.depths, "blocks_description": p.blocks_text,
        "device_resolved": str(p.device), "batch": p.mode, "batch_note": p.mode_note,
        "max_memory": p.max_memory, "random_parameters": p.names, "fixed_parameters": p.fixed,
        "family": asdict(family), "theory": asdict(view), "sentence": sentence,
        "decision_rules": {"delta": DELTA, "level": LEVEL, "h_tolerance": corr.H_TOLERANCE,
                           "rho_tolerance": corr.RHO_TOLERANCE, "max_lag": corr.MAX_LAG},
        "depth_seconds": {str(d): round(results[d].seconds, 3) for d in p.depths},
        "reused_depths": reused, "nonfinite": nonfinite, "warnings": warnings, **provenance(),
        "check_version": CHECK_VERSION, "started": started,
    }
    result = CheckResult(samples, layers, correlation, regimes, thresholds, sentence, record, p.out)
    if p.out is not None:
        t0 = time.perf_counter()
        for key, frame in (("samples", samples), ("layers", layers), ("correlation", correlation),
                           ("regimes", regimes), ("thresholds", thresholds)):
            result.files.append(_write_csv(frame, p.out / FILES[key]))
        stages["write"] = time.perf_counter() - t0
        record_path = p.out / FILES["record"]
        result.files.append(record_path)
        _finish_record(record, stages, result.files)
        write_json(record_path, record)
        if report is not None:
            t0 = time.perf_counter()
            try:
                result.files.extend(report(p.out))
            except Exception as exc:  # the tables are complete: say so instead of losing them
                result.report_error = f"{type(exc).__name__}: {exc}"
                record["warnings"].append(f"building the report failed ({result.report_error})")
            stages["report"] = time.perf_counter() - t0
            _finish_record(record, stages, result.files)
            write_json(record_path, record)
    else:
        _finish_record(record, stages, [])
    return result


def _finish_record(record: dict[str, Any], stages: dict[str, float], files: list[Path]) -> None:
    record["stage_seconds"] = {k: round(v, 3) for k, v in stages.items()}
    record["files"] = [str(f) for f in files]
    record["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")


def load(out: str | os.PathLike[str]) -> CheckResult:
    """A finished check directory read back (no simulation)."""
    out = Path(out)
    missing = [name for name in FILES.values() if not (out / name).is_file()]
    if missing:
        raise CheckError("out", str(out), f"not a finished check directory: {', '.join(missing)} missing")
    frames = {key: pd.read_csv(out / name) for key, name in FILES.items() if key != "record"}
    record = json.loads((out / FILES["record"]).read_text(encoding="utf-8"))
    return CheckResult(frames["samples"], frames["layers"], frames["correlation"], frames["regimes"],
                       frames["thresholds"], record.get("sentence", ""), record, out,
                       [out / n for n in FILES.values()])
