"""`python -m sim.bench`: the engine's speed and memory against the hardware and a naive baseline.

Measures, in one run, on one device and dtype:
1. the matmul peak: batched products at the engine's own shapes (S x (16 x d) @ (d x d), the
   BENCH_BETAS rows of one sample's betas), with the matrices in cache (the peak) and read from memory
   (a fresh layer per call, as the layer loop reads them), and one large square product, with all
   threads and with one;
2. the engine's achieved FLOP rate on standard cells (d in 40, 128, 512; L = 1000; fgn and iid;
   forward and backward; 2 d^2 flops per matrix-vector product) and its fraction of the peak at
   its own shape; the split between weight generation and simulation;
3. a naive baseline: a per-sample torch.nn.Module ResNet, looped over samples, with autograd for
   the backward pass, as one would write it without this tool; the speed ratio with one beta, and
   per (sample, beta) with BENCH_BETAS betas (which share the engine's products);
4. the wall time of the `marion-fig7` grid (res3 relu fgn, d = 40, L = 1000, 51 H x 70 beta, 50
   samples), split into weight generation, simulation and store, run as `sim.grid` runs it: whole
   with --full, otherwise measured on 6 consecutive H values and extrapolated (the output says
   which);
5. peak memory: resident set size of the process, and GPU memory on CUDA; with --memory, also the
   memory target's cell (res3 relu fgn, d = 512, L = 4096, 16 betas, on the CPU) under
   --max-memory (default 4G) in a child process of its own: its resident set before and at its
   peak, the part the engine added against the budget, and the wall time of the samples run
   (default 2: one sample at a time, so the peak does not depend on the count) extrapolated to 64.
With --executor-compare, instead of the above: the Ray executor against the local one on a slice of
`marion-fig7` run as `python -m sim.grid` runs it (one task per H, stored as it finishes), on a local
Ray instance with this machine's CPUs and with one CPU: wall time, first call and time per call
after it; and Ray's overhead per task on tiny tasks.
Writes a table to stdout and everything to bench.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sim.cell import Cell
from sim.device import parse_memory, resolve_device, resolve_dtype
from sim.engine import memory_plan, simulate_betas, state_rows
from sim.grid import executors
from sim.grid.store import Store
from sim.workspace import workspace

FIG7_H = np.linspace(0.05, 0.97, 51)
FIG7_BETA = np.linspace(0.0, 1.3, 70)
# Betas per standard engine cell (and the rows of the batched peak's product).
BENCH_BETAS = 16


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timeit(fn, device: torch.device, repeat: int) -> float:
    """Best-of-`repeat` wall time of fn() in seconds (after one warm-up call)."""
    fn()
    _sync(device)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


# Weights the streamed product cycles through: more than the last-level caches hold, so that each
# layer's matrices come from memory, as in the engine's layer loop.
STREAMED_BYTES = 64 * 2**20


def matmul_peak(device: torch.device, dtype: torch.dtype, width: int, samples: int,
                square: int, repeat: int = 5, streamed_bytes: int = STREAMED_BYTES) -> dict[str, float]:
    """GFLOP/s of the engine's batched shape (BENCH_BETAS rows times W^T, for every sample), with
    one set of matrices reused call after call (in cache: the peak the targets refer to) and with a
    fresh layer of matrices per call (`streamed_bytes` of them, read from memory as
    the layer loop reads them), and of a large square product."""
    cols = BENCH_BETAS
    a = torch.randn(samples, width, width, device=device, dtype=dtype).transpose(-1, -2)
    x = torch.randn(samples, cols, width, device=device, dtype=dtype)
    out = torch.empty_like(x)
    calls = 50

    def batched() -> None:
        for _ in range(calls):
            torch.matmul(x, a, out=out)

    flops = 2 * samples * width * width * cols  # one batched product
    batched_rate = calls * flops / _timeit(batched, device, repeat) / 1e9
    layers = max(2, math.ceil(streamed_bytes / (samples * width * width * dtype.itemsize)))
    stack = torch.randn(layers, samples, width, width, device=device, dtype=dtype).transpose(-1, -2)

    def streamed() -> None:
        for k in range(layers):
            torch.matmul(x, stack[k], out=out)

    streamed_rate = layers * flops / _timeit(streamed, device, repeat) / 1e9
    one_thread = batched_rate
    if device.type == "cpu" and torch.get_num_threads() > 1:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            one_thread = calls * flops / _timeit(batched, device, repeat) / 1e9
        finally:
            torch.set_num_threads(before)
    m = torch.randn(square, square, device=device, dtype=dtype)
    t_sq = _timeit(lambda: m @ m, device, repeat)
    return {"batched_gflops": batched_rate, "batched_gflops_1_thread": one_thread,
            "streamed_gflops": streamed_rate, "square_gflops": 2 * square**3 / t_sq / 1e9,
            "square_size": square}


def engine_rate(cell: Cell, betas: list[float], device: torch.device) -> dict[str, float]:
    """Achieved GFLOP/s of simulate_betas on one cell (4 matvecs per layer for res3)."""
    _sync(device)
    t0 = time.perf_counter()
    res = simulate_betas(cell, betas)
    _sync(device)
    wall = time.perf_counter() - t0
    sim_time = sum(r.timings["simulate"] for r in res)
    gen_time = sum(r.timings["weights"] for r in res)
    columns = state_rows(len(betas), cell.width)  # the benchmark's cells are Euler res3: rows padded
    matvecs = (4 if cell.block == "res3" else 2) * cell.depth * cell.samples * columns
    useful = (4 if cell.block == "res3" else 2) * cell.depth * cell.samples * len(betas)
    flops = 2 * cell.width**2 * matvecs
    return {"wall_s": wall, "generate_s": gen_time, "simulate_s": sim_time,
            "gflops": flops / sim_time / 1e9, "useful_gflops": 2 * cell.width**2 * useful / wall / 1e9}


class NaiveResNet(torch.nn.Module):
    """The baseline: one network, nn.Linear layers, a Python loop over layers."""

    def __init__(self, width: int, depth: int, beta: float):
        super().__init__()
        self.alpha = depth ** (-beta)
        self.w = torch.nn.ModuleList(torch.nn.Linear(width, width, bias=False) for _ in range(depth))
        self.v = torch.nn.ModuleList(torch.nn.Linear(width, width, bias=False) for _ in range(depth))
        with torch.no_grad():
            for layer in (*self.w, *self.v):
                layer.weight.normal_(0.0, width**-0.5)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for w, v in zip(self.w, self.v, strict=True):
            h = h + self.alpha * v(torch.relu(w(h)))
        return h


def naive_seconds_per_sample(width: int, depth: int, device: torch.device, dtype: torch.dtype,
                             samples: int) -> float:
    """Seconds per sample of the naive loop (network built, forward, backward)."""
    t0 = time.perf_counter()
    for _ in range(samples):
        net = NaiveResNet(width, depth, 0.5).to(device=device, dtype=dtype)
        h0 = torch.randn(width, device=device, dtype=dtype, requires_grad=True)
        u = torch.randn(width, device=device, dtype=dtype)
        (net(h0) @ u).backward()
        _ = h0.grad.norm().item()
    _sync(device)
    return (time.perf_counter() - t0) / samples


def fig7_time(device: torch.device, dtype: str, hursts: np.ndarray, samples: int,
              depth: int) -> dict[str, float]:
    """Wall time of the fig7 grid restricted to `hursts` (all 70 betas each), run as the grid runs
    it: one workspace keeping the draws across H, one store transaction per H (a temporary store)."""
    gen = sim = store_s = 0.0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "results.sqlite") as store, \
            workspace(keep_draws=True):
        for h in hursts:
            cell = Cell(block="res3", activation="relu", init="fgn", hurst=float(h), width=40, depth=depth,
                        samples=samples, dtype=dtype, device=str(device.type))
            res = simulate_betas(cell, [float(b) for b in FIG7_BETA])
            gen += sum(r.timings["weights"] for r in res)
            sim += sum(r.timings["simulate"] for r in res)
            t1 = time.perf_counter()
            store.put_many(res, {"bench": True})
            store_s += time.perf_counter() - t1
    return {"wall_s": time.perf_counter() - t0, "generate_s": gen, "simulate_s": sim, "store_s": store_s,
            "h_values": len(hursts)}


MEMORY_CELL = dict(block="res3", activation="relu", init="fgn", hurst=0.7, width=512, depth=4096)
MEMORY_TARGET_SAMPLES = 64


def _peak_rss() -> int:
    """The peak resident set size of this process so far, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _rss_now() -> int:
    """The resident set size of this process now, in bytes (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def memory_cell_child(samples: int, budget: int, dtype: str) -> dict[str, float]:
    """Run the memory target's cell here (meant for a fresh process) and measure it."""
    cell = Cell(**MEMORY_CELL, samples=samples, dtype=dtype, device="cpu", beta=0.5)
    betas = [float(b) for b in np.linspace(0.25, 1.0, BENCH_BETAS)]
    chunk, window = memory_plan(cell, len(betas), budget)
    before = _rss_now()
    t0 = time.perf_counter()
    res = simulate_betas(cell, betas, max_memory=budget)
    wall = time.perf_counter() - t0
    peak = _peak_rss()
    return {"samples": samples, "budget_bytes": budget, "samples_per_chunk": chunk, "window_layers": window,
            "rss_before_bytes": before, "peak_rss_bytes": peak, "engine_peak_bytes": peak - before,
            "within_budget": peak - before <= budget, "wall_s": wall,
            "finite": bool(all(np.isfinite(r.logs[q]).all() for r in res for q in r.logs))}


def memory_cell(samples: int, budget: int, dtype: str) -> dict[str, float]:
    """The memory target's cell in a child process, so that its peak is its own."""
    cmd = [sys.executable, "-m", "sim.bench", "--memory-child", str(samples), "--max-memory", str(budget),
           "--dtype", dtype]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory cell failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["extrapolated_wall_s"] = out["wall_s"] * MEMORY_TARGET_SAMPLES / samples
    out["cell"] = {**MEMORY_CELL, "samples": MEMORY_TARGET_SAMPLES, "betas": BENCH_BETAS}
    return out


def fig7_calls(hursts: np.ndarray, samples: int, depth: int, dtype: str, device: torch.device,
               seed: int) -> list[executors.EngineCall]:
    """`marion-fig7` restricted to `hursts` as the grid schedules it: one engine call per H, its 70
    betas, in H order (a Hurst sweep)."""
    return [executors.EngineCall(tuple(
        Cell(block="res3", activation="relu", init="fgn", hurst=float(h), beta=float(b), width=40, depth=depth,
             samples=samples, dtype=dtype, device=device.type, seed=seed) for b in FIG7_BETA)) for h in hursts]


def slice_times(executor: executors.Executor, tasks: list[executors.EngineCall]) -> dict[str, float]:
    """Run `tasks` under `executor` as the grid does (each result stored as it arrives, in a
    temporary store): the wall time, when the first call finished (it allocates the run's buffers
    and draws a Hurst sweep's normals) and the time per call after it (the steady throughput)."""
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "results.sqlite") as store:
        t0 = time.perf_counter()
        finished = []
        for done in executor.run(tasks):
            if done.error is not None:
                raise RuntimeError(f"{done.task.label} failed under {executor.name}: {done.error}")
            store.put_many(done.result, {"bench": True})
            finished.append(time.perf_counter() - t0)
    return {"wall_s": finished[-1], "first_call_s": finished[0],
            "per_call_after_first_s": (finished[-1] - finished[0]) / max(1, len(finished) - 1)}


# Tiny engine calls (d = 2, L = 2, 2 samples: well under a millisecond of work) for Ray's overhead.
TINY_TASKS = 40


def _tiny_seconds(executor: executors.Executor, device: torch.device, count: int, first_seed: int) -> float:
    """Wall time of `count` tiny engine calls, each a task of `executor`."""
    tasks = [executors.EngineCall((Cell(depth=2, width=2, samples=2, seed=first_seed + i, device=device.type),))
             for i in range(count)]
    t0 = time.perf_counter()
    for finished in executor.run(tasks):
        if finished.error is not None:
            raise RuntimeError(f"a tiny task failed under {executor.name}: {finished.error}")
    return time.perf_counter() - t0


def executor_compare(device: torch.device, dtype: str, hursts: np.ndarray, samples: int, depth: int,
                     repeats: int = 3) -> dict[str, object]:
    """The local executor against Ray on a local instance with this machine's CPUs, on the
    `marion-fig7` slice: `repeats` times each, alternating which goes first (the load of a shared
    machine drifts; the load averages are recorded), each repeat with its own seed (its standard
    normals drawn anew). Ray's start and its workers' start (a first round of tiny tasks) are timed
    apart, before the repeats. Then Ray's overhead per task (TINY_TASKS tiny tasks in a stream, best
    of two, and the round trip of one, best of 10, against the local executor's), and the slice on
    an instance of one CPU (how the Ray run scales with its CPUs)."""
    import ray

    local = executors.LocalExecutor()
    out: dict[str, object] = {"h_values": len(hursts), "samples": samples, "depth": depth, "betas": len(FIG7_BETA),
                              "ray_version": ray.__version__, "load_average_before": os.getloadavg()}
    t0 = time.perf_counter()
    remote = executors.make("ray", None, device.type, None, quiet=True)
    try:
        out["cpus"] = remote.cpus
        out["ray_start_s"] = time.perf_counter() - t0
        out["ray_first_tasks_s"] = _tiny_seconds(remote, device, 2 * remote.cpus, 0)
        runs: dict[str, list[dict[str, float]]] = {"local": [], "ray": []}
        for seed in range(repeats):
            for name, executor in (("local", local), ("ray", remote))[:: 1 if seed % 2 == 0 else -1]:
                runs[name].append(slice_times(executor, fig7_calls(hursts, samples, depth, dtype, device, seed)))
        # Best of two streams: the first may wait for Ray to start a worker again (idle ones are ended).
        stream = {name: min(_tiny_seconds(executor, device, TINY_TASKS, 1000 + k * TINY_TASKS) for k in range(2))
                  for name, executor in (("local", local), ("ray", remote))}
        out["round_trip_s"] = min(_tiny_seconds(remote, device, 1, 2000 + i) for i in range(10))
    finally:
        remote.close()
    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        one = executors.make("ray", None, device.type, None, quiet=True)  # joins the open instance
        _tiny_seconds(one, device, 2, 0)
        single = slice_times(one, fig7_calls(hursts, samples, depth, dtype, device, repeats))
    finally:
        ray.shutdown()
    for name in ("local", "ray"):
        for key in ("wall_s", "first_call_s", "per_call_after_first_s"):
            out[f"{name}_{key}"] = [r[key] for r in runs[name]]
    median = {name: float(np.median(out[f"{name}_per_call_after_first_s"])) for name in ("local", "ray")}
    out.update(
        ray_over_local_wall=[r["wall_s"] / q["wall_s"] for r, q in zip(runs["ray"], runs["local"], strict=True)],
        ray_over_local_per_call=median["ray"] / median["local"],
        ray_1_cpu_per_call_after_first_s=single["per_call_after_first_s"], ray_1_cpu_wall_s=single["wall_s"],
        speedup_all_cpus_over_1=single["per_call_after_first_s"] / median["ray"],
        tiny_tasks=TINY_TASKS, overhead_per_task_in_stream_s=(stream["ray"] - stream["local"]) / TINY_TASKS,
        local_round_trip_s=min(_tiny_seconds(local, device, 1, 2000 + i) for i in range(10)),
        load_average_after=os.getloadavg())
    return out


def peak_memory(device: torch.device) -> dict[str, float]:
    out = {"peak_rss_bytes": float(_peak_rss())}
    if device.type == "cuda":
        out["peak_gpu_bytes"] = float(torch.cuda.max_memory_allocated(device))
    return out


def compare_executors(device: torch.device, dtype: str, quick: bool) -> dict[str, object]:
    """`executor_compare` on 6 consecutive H values of marion-fig7 (3 at L = 200 with --quick),
    printed; skipped with a line when Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        print(f"executor comparison skipped: Ray is not installed ({executors.EXTRA})")
        return {"skipped": "ray is not installed"}
    hursts, depth = (FIG7_H[20:23], 200) if quick else (FIG7_H[20:26], 1000)
    c = executor_compare(device, dtype, hursts, samples=50, depth=depth)

    def runs(key: str, digits: int = 1) -> str:
        return " / ".join(f"{v:.{digits}f}" for v in c[key])

    print(f"executors on marion-fig7 ({c['h_values']} H x {c['betas']} beta, 50 samples, d=40, L={depth}; one call "
          f"per H; {len(c['local_wall_s'])} repeats, each with its own seed), on {c['cpus']} CPUs:")
    print(f"  local: wall {runs('local_wall_s')} s, first call {runs('local_first_call_s')} s, then "
          f"{runs('local_per_call_after_first_s', 2)} s per call")
    print(f"  ray:   wall {runs('ray_wall_s')} s, first call {runs('ray_first_call_s')} s, then "
          f"{runs('ray_per_call_after_first_s', 2)} s per call")
    print(f"  ray/local: wall {runs('ray_over_local_wall', 2)}, per call after the first "
          f"{c['ray_over_local_per_call']:.2f} (medians); ray on 1 CPU {c['ray_1_cpu_per_call_after_first_s']:.2f} s "
          f"per call ({c['speedup_all_cpus_over_1']:.2f}x from 1 to {c['cpus']} CPUs); load average "
          f"{c['load_average_before'][0]:.1f} before, {c['load_average_after'][0]:.1f} after")
    print(f"  ray overhead: start {c['ray_start_s']:.1f} s, first tasks {c['ray_first_tasks_s']:.1f} s (workers "
          f"start); per task {1e3 * c['overhead_per_task_in_stream_s']:.1f} ms in a stream of {c['tiny_tasks']} tiny "
          f"tasks, round trip of one {1e3 * c['round_trip_s']:.1f} ms (local {1e3 * c['local_round_trip_s']:.2f} ms)")
    return c


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--dtype", default="float32", help="float32 or float64 (default float32)")
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    parser.add_argument("--full", action="store_true", help="run the whole marion-fig7 grid")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", default="bench.json", help="where to write the JSON (default bench.json)")
    parser.add_argument("--memory", action="store_true",
                        help="also run the memory target's cell (d=512, L=4096 fgn; minutes per sample)")
    parser.add_argument("--memory-samples", type=int, default=2, metavar="N",
                        help="samples of the memory cell actually run (default 2; the time is extrapolated to 64)")
    parser.add_argument("--max-memory", default="4G", help="the memory cell's budget (default 4G)")
    parser.add_argument("--executor-compare", action="store_true",
                        help="instead of the above: the Ray executor against the local one on a slice of "
                             "marion-fig7, and Ray's overhead per task (needs the 'cluster' extra)")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        budget = parse_memory(args.max_memory)
    except ValueError as err:
        print(f"error: --max-memory={args.max_memory} is not allowed: "
              f"{str(err).split(' is not allowed: ', 1)[-1]}", file=sys.stderr)
        return 2
    if args.memory_samples < 2:
        print(f"error: --memory-samples={args.memory_samples} is not allowed: expected an integer >= 2",
              file=sys.stderr)
        return 2
    if args.memory or args.memory_child is not None:
        try:  # a budget too small for even one layer is refused now, not after the other items
            memory_plan(Cell(**MEMORY_CELL, samples=args.memory_samples, dtype=args.dtype), BENCH_BETAS, budget)
        except ValueError as err:
            print(f"error: --max-memory{str(err).removeprefix('max_memory')}", file=sys.stderr)
            return 2
    if args.memory_child is not None:
        print(json.dumps(memory_cell_child(args.memory_child, budget, args.dtype)))
        return 0
    try:
        device, dtype = resolve_device(args.device), resolve_dtype(args.dtype)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.threads is not None:
        if args.threads < 1:
            print(f"error: --threads={args.threads} is not allowed: expected an integer >= 1", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    quick = args.quick
    depth = 200 if quick else 1000
    samples = 16 if quick else 50
    report: dict = {"device": str(device), "dtype": args.dtype, "quick": quick,
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "machine": platform.processor() or platform.machine(),
                    "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}

    print(f"device {device}, {args.dtype}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.executor_compare:
        report["executors"] = compare_executors(device, args.dtype, quick)
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.out}")
        return 0
    report["peak"] = {}
    for width in (40, 128, 512):
        report["peak"][width] = matmul_peak(device, dtype, width, samples, 1024 if quick else 2048)
        p = report["peak"][width]
        print(f"matmul peak d={width:4d}: batched {p['batched_gflops']:8.1f} GFLOP/s "
              f"(1 thread {p['batched_gflops_1_thread']:.1f}; weights from memory {p['streamed_gflops']:.1f}), "
              f"square {p['square_size']} {p['square_gflops']:8.1f} GFLOP/s")

    report["engine"] = []
    for width in (40, 128, 512):
        for init in ("fgn", "iid"):
            cell_samples = samples if width < 512 else max(4, samples // 4)
            cell = Cell(block="res3", init=init, hurst=0.7 if init == "fgn" else None, width=width,
                        depth=depth, samples=cell_samples, dtype=args.dtype, device=device.type)
            betas = [float(b) for b in np.linspace(0.25, 1.0, BENCH_BETAS)]
            rate = engine_rate(cell, betas, device)
            rate.update(width=width, init=init, samples=cell_samples, depth=depth, betas=len(betas),
                        fraction_of_peak=rate["gflops"] / report["peak"][width]["batched_gflops"],
                        fraction_of_streamed=rate["gflops"] / report["peak"][width]["streamed_gflops"])
            report["engine"].append(rate)
            print(f"engine d={width:4d} {init}: {rate['gflops']:7.1f} GFLOP/s in the layer loop "
                  f"({100 * rate['fraction_of_peak']:5.1f}% of batched peak, "
                  f"{100 * rate['fraction_of_streamed']:.0f}% of it with weights from memory); "
                  f"wall {rate['wall_s']:.2f} s "
                  f"(generate {rate['generate_s']:.2f} s, simulate {rate['simulate_s']:.2f} s)")

    naive_depth = 100 if quick else 1000
    naive = naive_seconds_per_sample(40, naive_depth, device, dtype, samples=2 if quick else 3)
    cell = Cell(block="res3", init="iid", width=40, depth=naive_depth, samples=samples, dtype=args.dtype,
                device=device.type, beta=0.5)
    t_engine = engine_rate(cell, [0.5], device)["wall_s"] / samples
    # several betas share the engine's products (one beta is padded to 8 rows); the naive loop pays for each
    block = BENCH_BETAS
    t_block = engine_rate(cell, [float(b) for b in np.linspace(0.25, 1.0, block)], device)["wall_s"] / samples
    report["naive"] = {"seconds_per_sample": naive, "engine_seconds_per_sample": t_engine,
                       "speedup": naive / t_engine, "betas_per_call": block,
                       "engine_seconds_per_sample_and_beta": t_block / block,
                       "speedup_per_sample_and_beta": naive * block / t_block,
                       "depth": naive_depth, "width": 40}
    print(f"naive per-sample nn.Module (d=40, L={naive_depth}): {naive * 1e3:.1f} ms/sample; engine "
          f"{t_engine * 1e3:.2f} ms/sample with one beta ({naive / t_engine:.0f}x), "
          f"{t_block / block * 1e3:.3f} ms per sample and beta with {block} betas "
          f"({naive * block / t_block:.0f}x)")

    # A fraction runs 6 consecutive H values (the draws are kept from one H to the next, as in the
    # whole grid, so the first H's draw is paid once in 6 rather than once in 51: extrapolating
    # overstates the whole grid's time a little).
    hursts = FIG7_H if args.full else FIG7_H[20:26] if not quick else FIG7_H[20:23]
    fig = fig7_time(device, args.dtype, hursts, samples=50, depth=1000 if not quick else 200)
    scale = len(FIG7_H) / fig["h_values"]
    fig.update(extrapolated=not args.full, whole_grid_s=fig["wall_s"] * scale,
               whole_grid_generate_s=fig["generate_s"] * scale,
               whole_grid_simulate_s=fig["simulate_s"] * scale,
               whole_grid_store_s=fig["store_s"] * scale, depth=1000 if not quick else 200)
    report["fig7"] = fig
    how = "measured whole" if args.full else f"extrapolated from {fig['h_values']} of 51 H values"
    print(f"marion-fig7 (51 H x 70 beta, 50 samples, d=40, L={fig['depth']}): {fig['whole_grid_s']:.1f} s "
          f"({how}; generate {fig['whole_grid_generate_s']:.1f} s, simulate {fig['whole_grid_simulate_s']:.1f} s, "
          f"store {fig['whole_grid_store_s']:.2f} s)")

    report["memory"] = peak_memory(device)
    print(f"peak RSS {report['memory']['peak_rss_bytes'] / 2**30:.2f} GiB"
          + (f", peak GPU {report['memory']['peak_gpu_bytes'] / 2**30:.2f} GiB" if device.type == "cuda" else ""))
    if args.memory:
        print(f"memory cell (res3 fgn d=512 L=4096, 16 betas, CPU) under --max-memory {args.max_memory}: "
              f"running {args.memory_samples} samples ...", flush=True)
        m = memory_cell(args.memory_samples, budget, args.dtype)
        report["memory_cell"] = m
        gib = 2**30
        print(f"memory cell: windows of {m['window_layers']} layers; RSS {m['rss_before_bytes'] / gib:.2f} GiB "
              f"before, peak {m['peak_rss_bytes'] / gib:.2f} GiB; the engine added "
              f"{m['engine_peak_bytes'] / gib:.2f} GiB against a budget of {budget / gib:.2f} GiB "
              f"({'within' if m['within_budget'] else 'OVER'}); {m['wall_s']:.0f} s for {m['samples']} samples, "
              f"about {m['extrapolated_wall_s'] / 60:.0f} min for {MEMORY_TARGET_SAMPLES}")
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0

