"""The Monte Carlo engine: forward and backward passes of many untrained ResNets at once.

All samples of a chunk, and all beta values asked for, advance together: the state is a tensor
(S, n_beta, d) of rows and each layer is one batched matrix product per weight matrix. Python loops
run over layers only (and over samples only where random draws are seeded per sample). On a CPU
the samples are split between worker threads of one torch thread each, as many as the memory
budget allows (`workers_for`, `workers_within`).

The backward pass is a manual recursion p_k = p_{k+1} + alpha J_k^T p_{k+1}, not autograd:
autograd would keep every intermediate state of every sample alive (O(L d) per sample per op,
several ops per layer) and cannot renormalize, so an exploding network would overflow. The
recursion stores only sigma'(.) per layer and is checked against autograd in the tests.

No overflow, ever: states are renormalized to unit norm (every layer, or every RENORM_EVERY
layers where sigma is positively homogeneous and no trajectory is recorded) and their log-norms
accumulated in float64 (exact for homogeneous sigma; for tanh and gelu the activation is evaluated
at the true scale, see `sim.activations`). The deviation h_k - h_0 is carried alongside, scaled
the same way, and accumulated from its increments rather than by subtraction; where the state
collapses, by an extra exact power of two (`sim.states.DeviationShift`), so that a norm shrinking
towards zero gives a large negative log and a finite deviation too.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

from sim import activations, steppers
from sim.cell import Cell
from sim.device import default_memory_budget, parse_memory, resolve_device, resolve_dtype
from sim.states import RENORM_EVERY, DeviationShift, advance
from sim.steppers import reference_forward_backward  # noqa: F401  (the engine's autograd reference)
from sim.weights import WeightSource, input_and_direction, input_bytes
from sim.workspace import Workspace, active, scratch, workspace

QUANTITIES = ("fwd", "diff", "bwd", "bwd_diff")


def beta_block(cell: Cell) -> int:
    """Columns per matrix product: beta values are simulated in fixed blocks (the last padded), so
    that BLAS results for one column do not depend on how many betas or samples share the call
    (verified in the tests). The width depends on the dtype only, never on the number of betas.

    float32: 16 columns. A batched (d x d) @ (d x 16) product was measured faster in absolute
    time than (d x d) @ (d x 8) on a 2-core CPU (d = 40: 92 vs 199 us for 50 samples; d = 128:
    0.68 vs 1.6 ms): the 8-column shape falls on a slow kernel. float64: 8 columns (16 was slower
    than 8 there, and kernels were seen to treat columns beyond 8 by position).
    """
    return 16 if resolve_dtype(cell.dtype) == torch.float32 else 8


@dataclass
class SimResult:
    """Per-sample natural logs of the four quantities of docs/theory.md §3 for one cell.

    logs[q]: float64 array (samples,) for q in fwd, diff, bwd, bwd_diff.
    trajectory (when asked): 'log_h' (samples, L+1) = log ||h_k|| / ||h_0||, k = 0..L, and
    'log_p' (samples, L+1) = log ||p_k|| / ||p_L||.
    """

    cell: Cell
    logs: dict[str, np.ndarray]
    nonfinite: dict[str, int]
    device: str
    dtype: str
    seconds: float
    trajectory: dict[str, np.ndarray] | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Chunk:
    """Outputs of one chunk of samples: (S, n_beta) arrays, trajectories (S, L+1, n_beta)."""

    logs: dict[str, torch.Tensor]
    log_h: torch.Tensor | None
    log_p: torch.Tensor | None


def simulate(cell: Cell, *, max_memory: int | str | None = None,
             trajectory: bool = False) -> SimResult:
    """Simulate `cell.samples` independent networks of one cell, forward and backward."""
    return simulate_betas(cell, [cell.beta], max_memory=max_memory, trajectory=trajectory)[0]


def simulate_betas(cell: Cell, betas: Iterable[float], *, max_memory: int | str | None = None,
                   trajectory: bool = False) -> list[SimResult]:
    """Simulate the cell at several beta values on the same weight draws (common random numbers).

    betas: any iterable of numbers (a list, a tuple, a numpy array, a generator), at least one.
    Returns one SimResult per beta, in order; each equals `simulate(cell.replace(beta=b))`.
    The peak memory of weights, stored derivatives, states, inputs, per-sample bookkeeping and
    results, and generation scratch stays under `max_memory` bytes (default:
    `sim.device.default_memory_budget`; see `memory_plan`); samples are processed in chunks. iid
    weights are drawn inside the layer loop, so their generation time counts under
    timings["simulate"].

    On a CPU with several torch threads the chunks run on that many worker threads of one torch
    thread each (see `workers_for`), the budget shared between them, as long as each share holds a
    whole sample; every number is the same whichever worker or chunk a sample falls in. Large
    buffers come from the active `sim.workspace` (one is opened for this call if none is); slots
    holding more than the run leaves them are released first (`Workspace.fit`).
    """
    betas = _beta_list(betas)
    cells = [cell.replace(beta=b) for b in betas]
    ws = active()
    if ws is None:
        with workspace():
            return simulate_betas(cell, betas, max_memory=max_memory, trajectory=trajectory)
    device, dtype = resolve_device(cell.device), resolve_dtype(cell.dtype)
    budget = parse_memory(max_memory) or default_memory_budget(device)
    chunk, window = memory_plan(cell, len(cells), budget, trajectory, ws.keep_draws)  # raises if none fits
    workers = 1  # and with a window, one sample at a time, its weights by windows of layers
    if window is None:
        workers = workers_within(cell, len(cells), budget, trajectory, ws.keep_draws, device)
        if workers > 1:
            chunk = samples_per_chunk(cell, len(cells), budget // workers, trajectory, ws.keep_draws)
        chunk = min(chunk, math.ceil(cell.samples / workers))
    ws.fit(budget, workers)
    bounds = [(lo, min(cell.samples, lo + chunk)) for lo in range(0, cell.samples, chunk)]
    alphas = torch.tensor([c.alpha for c in cells], dtype=dtype, device=device)
    start = time.perf_counter()

    # Every chunk's numbers go straight into arrays made once here (beta-major, so that each
    # result's rows are contiguous): per-chunk outputs kept until the end would be many small
    # allocations among the chunks' large ones, which the allocator cannot give back (measured:
    # the resident set grew by about 55 kB per chunk at d = 2).
    logs_out = {q: np.empty((len(cells), cell.samples)) for q in QUANTITIES}
    traj_out = ({name: np.empty((len(cells), cell.samples, cell.depth + 1)) for name in ("log_h", "log_p")}
                if trajectory else {})

    def run(slot: int) -> list[tuple[float, float]]:
        """The chunks of worker `slot` (every workers-th chunk, in order); their timings."""
        done = []
        for lo, hi in bounds[slot::workers]:
            ids = range(lo, hi)
            t0 = time.perf_counter()
            source = WeightSource(cell, ids, device, dtype, ws, slot, window)
            h0, u = input_and_direction(cell, ids, device, dtype)
            t1 = time.perf_counter()
            part = _run_chunk(cell, source, h0, u, alphas, trajectory, ws, slot)
            for q in QUANTITIES:
                logs_out[q][:, lo:hi] = part.logs[q].double().cpu().numpy().T
            for name, out in traj_out.items():
                out[:, lo:hi] = getattr(part, name).cpu().numpy().transpose(2, 0, 1)
            done.append((t1 - t0, time.perf_counter() - t1))
        return done

    with cpu_threads(device, workers):
        if workers == 1:
            finished = run(0)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                finished = [c for chunks in pool.map(run, range(workers)) for c in chunks]
    # Worker-seconds, shared out in proportion over the wall time (they overlap across workers).
    busy = sum(c[0] + c[1] for c in finished) or 1.0
    seconds = time.perf_counter() - start
    timings = {"weights": seconds * sum(c[0] for c in finished) / busy,
               "simulate": seconds * sum(c[1] for c in finished) / busy}
    results = []
    for j, c in enumerate(cells):
        logs = {q: logs_out[q][j] for q in QUANTITIES}
        traj = {name: out[j] for name, out in traj_out.items()} if trajectory else None
        results.append(SimResult(
            cell=c, logs=logs, nonfinite={q: int((~np.isfinite(v)).sum()) for q, v in logs.items()},
            device=str(device), dtype=cell.dtype, seconds=seconds / len(cells), trajectory=traj,
            timings={k: v / len(cells) for k, v in timings.items()}))
    return results


def _beta_list(betas: Iterable[float]) -> list[float]:
    """The betas of an iterable, read once (a generator is consumed here, not twice)."""
    if isinstance(betas, str | bytes):
        raise ValueError(f"betas={betas!r} is not allowed: expected an iterable of numbers, not a text")
    try:
        values = list(betas)
    except TypeError:
        raise ValueError(f"betas={betas!r} is not allowed: expected an iterable of numbers (a list, a "
                         "tuple, an array or a generator)") from None
    if not values:
        raise ValueError(f"betas={values!r} is not allowed: the iterable given is empty; give at least one beta")
    return values


def workers_for(cell: Cell, device: torch.device) -> int:
    """Worker threads a CPU cell can use: as many as torch has CPU threads, at most one per sample
    (each worker then runs on one torch thread, see `cpu_threads`); 1 on CUDA.

    Measured on 2 cores (res3 fgn and iid, L = 1000, 16 betas), two workers of one thread against
    one worker of two threads: wall time 1.4 to 1.9 times shorter at every width tried (d = 40, 64,
    128, 256, 512). Narrow cells are many small products and short element-wise passes, where
    OpenMP threads cost more than they give; at every width the normal sampler runs on one thread
    per generator, so only separate workers draw in parallel, and a product of one or a few
    samples' matrices gains little from a second thread (d = 512, one sample: 35 against 29
    GFLOP/s).
    """
    if device.type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), cell.samples))


def workers_within(cell: Cell, n_beta: int, budget: int, trajectory: bool, keep_draws: bool,
                   device: torch.device) -> int:
    """`workers_for`, reduced until each worker's share of the budget holds at least one whole
    sample (a cell whose samples do not fit twice runs on one worker with all of torch's threads)."""
    workers = workers_for(cell, device)
    while workers > 1:
        try:
            if memory_plan(cell, n_beta, budget // workers, trajectory, keep_draws)[1] is None:
                break
        except ValueError:
            pass
        workers -= 1
    return workers


@contextlib.contextmanager
def cpu_threads(device: torch.device, workers: int) -> Iterator[None]:
    """With several CPU workers, each runs on one torch thread; one worker, or CUDA, keeps torch's
    setting."""
    if device.type != "cpu" or workers == 1 or torch.get_num_threads() == 1:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def bytes_per_sample(cell: Cell, n_beta: int, trajectory: bool, keep_draws: bool = False,
                     window: int | None = None) -> int:
    """Resident bytes per sample of a chunk: weights (of `window` layers at a time, if given),
    stored derivatives sigma'(.), states, float64 bookkeeping, trajectories, and with `keep_draws`
    the fGn standard normals kept for the next cell."""
    dtype = resolve_dtype(cell.dtype)
    item = dtype.itemsize
    weights = WeightSource.bytes_per_sample(cell, item, keep_draws, window)
    columns = _padded(n_beta, beta_block(cell)) if _uses_stepper_loop(cell) else state_rows(n_beta, cell.width)
    stages = steppers.tableau(cell.stepper).stages
    derivs = 0 if cell.block == "linear" else stages * cell.depth * cell.width * columns * item
    # Euler: rows padded to `row_pitch`, and one transposed weight matrix (see `rows_by_position`)
    states = (8 * row_pitch(cell.width, dtype) * columns + cell.width**2) * item
    if _uses_stepper_loop(cell):
        # stage slopes, states and adjoints; field matrices of layers k, k + 1 and their average
        states += steppers.stage_state_count(cell) * cell.width * columns * item
        weights += 3 * WeightSource.entries_per_sample(cell) * item
    traj = 2 * (cell.depth + 1) * columns * 8 if trajectory else 0
    # float64 row vectors (log-scales, norms and their logs, the four logs, deviation shifts: at
    # most about 16 alive at once) and the sample's h_0 and u
    bookkeeping = 16 * columns * 8 + 2 * cell.width * item
    return weights + derivs + states + traj + bookkeeping


def results_bytes(cell: Cell, n_beta: int, trajectory: bool) -> int:
    """Bytes of the results of a whole engine call, made at its start and returned: per sample
    and beta the four float64 logs (and the two trajectories of L + 1 float64 each)."""
    per_beta = len(QUANTITIES) + (2 * (cell.depth + 1) if trajectory else 0)
    return cell.samples * n_beta * per_beta * 8


def _uses_stepper_loop(cell: Cell) -> bool:
    """Heun, RK4 and the antisym block run in `sim.steppers`; Euler res blocks in `_run_chunk`'s
    own loop (fewer allocations, and its numbers are those stored by earlier runs)."""
    return cell.stepper != "euler" or cell.block == "antisym"


def samples_per_chunk(cell: Cell, n_beta: int, budget: int, trajectory: bool = False,
                      keep_draws: bool = False) -> int:
    """How many samples fit in `budget` bytes at once; ValueError if not even one does."""
    return memory_plan(cell, n_beta, budget, trajectory, keep_draws)[0]


def memory_plan(cell: Cell, n_beta: int, budget: int, trajectory: bool = False,
                keep_draws: bool = False) -> tuple[int, int | None]:
    """(samples per chunk, fGn window) under `budget` bytes; ValueError if not even one sample fits.

    Counted: the results of every sample (`results_bytes`), then per sample of a chunk its weights,
    derivatives, states and bookkeeping (`bytes_per_sample`), and once per chunk the generation
    scratch of the weights and of the inputs; `reserve_bytes` is left to what cannot be counted
    (library workspaces, the allocator's slack, Python objects). Every size is computed from the
    cell's numbers before anything of that size is built.

    The window is None when a sample's whole weight paths fit. Otherwise, for fgn cells only, it is
    the largest number of consecutive layers whose weights fit beside the rest of one sample: the
    paths are then regenerated once per window served (the same numbers, 1 + 2 (W - 1) generations
    for W windows with Euler), one sample at a time.
    """
    item = resolve_dtype(cell.dtype).itemsize
    asked = budget
    held = results_bytes(cell, n_beta, trajectory)
    budget = budget - reserve_bytes(budget) - held
    if budget <= 0:
        raise ValueError(
            f"max_memory={asked} bytes is not allowed for {cell.label()}: the results of {cell.samples} samples "
            f"at {n_beta} betas{' with trajectories' if trajectory else ''} alone need about {_with_reserve(held)} "
            "bytes (give a larger --max-memory, or fewer samples or betas)")
    per = bytes_per_sample(cell, n_beta, trajectory, keep_draws)
    scratch = WeightSource.scratch_bytes(cell, item) + input_bytes(cell, item)
    if per + scratch <= budget:
        return max(1, min(cell.samples, (budget - scratch) // per)), None
    needed = per + scratch
    if cell.init == "fgn":
        rest = bytes_per_sample(cell, n_beta, trajectory, window=0) + input_bytes(cell, item)
        per_layer = WeightSource.bytes_per_sample(cell, item, window=1)
        # the windowed scratch may need the circulant eigenvalues (an array of the embedding's
        # size): only once the rest of a sample is known to fit
        if rest + per_layer <= budget:
            rest += WeightSource.scratch_bytes(cell, item, windowed=True, budget=budget - rest - per_layer)
            window = (budget - rest) // per_layer
            if window >= 1:
                return 1, int(window)
        needed = rest + per_layer
    raise ValueError(
        f"max_memory={asked} bytes is not allowed for {cell.label()}: one sample needs "
        f"about {_with_reserve(needed + held)} bytes (give a larger --max-memory, or a smaller depth or width"
        f"{'' if cell.input_dim is None else ' or input_dim'})")


def _with_reserve(needed: int) -> int:
    """A budget whose part left after `reserve_bytes` is about `needed`."""
    return needed + reserve_bytes(needed)


def reserve_bytes(budget: int) -> int:
    """The part of a budget left to what the engine does not count (the workspaces of the FFT and
    BLAS libraries, the allocator's slack): 1/16 of it, at most 256 MiB. Measured on a 4 GiB plan
    for a d = 512, L = 4096 fgn cell: the resident set grew 30 MB past the budget with no reserve,
    and 4 MB past it with a reserve of 64 MiB."""
    return min(budget // 16, 256 * 2**20)


# Rows (betas) of an Euler state are padded to a multiple of ROW_BLOCK, and to at least
# SMALL_PRODUCT / d**2 rows: torch's CPU batched product computes a (rows x d) @ (d x d) product
# with rows * d * d < 400 in its own loop, and larger ones in BLAS, whose rows can round differently
# (at d = 4, 16 rows against 32 did). Within BLAS, products of 8-row blocks give each row bitwise the
# same result whatever the number of blocks in the call: checked for every d from 1 to 33 and for
# d in {40, 48, 63, 64, 96, 128, 130, 200, 256}, float32 and float64, 1 and 2 threads, 1 to 25
# samples, x @ W^T and x @ W, every row of up to 96 more rows (4-row blocks passed too, 2-row blocks
# and a single row did not).
ROW_BLOCK = 8
SMALL_PRODUCT = 400


# Every row of an Euler state starts on a boundary of this many bytes: without it, BLAS was seen to
# round a row of x @ M^T by its position in the call (float32 at d = 5 to 11, float64 at odd d);
# with it, no row of x @ M^T depended on its position (every d from 1 to 99, float32 and float64,
# 1 and 2 threads, 8 to 80 rows). The forward pass takes its products in that form; for x @ M, see
# `rows_by_position`.
ROW_ALIGN = 32


def row_pitch(width: int, dtype: torch.dtype) -> int:
    """Elements between the starts of consecutive rows: the width rounded up to ROW_ALIGN bytes."""
    per = max(1, ROW_ALIGN // dtype.itemsize)
    return _padded(width, per)


def aligned_rows(samples: int, rows: int, width: int, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """A zero (samples, rows, width) state whose rows start `row_pitch` elements apart."""
    return torch.zeros((samples, rows, row_pitch(width, dtype)), dtype=dtype, device=device)[..., :width]


@cache
def rows_by_position(width: int, rows: int, dtype: torch.dtype, device_type: str, threads: int) -> bool:
    """Whether here x @ M (M a row-major d x d matrix, x of `rows` aligned rows) rounds a row by its
    place in the call, or otherwise than the fewest rows do: probed once per shape, dtype, device
    and thread count, on identical random rows. Where it does, the backward pass multiplies by a
    transposed copy of M instead (x @ (M^T)^T, the forward's form), which costs a copy of each
    weight matrix per layer: measured on 2 cores, float32 did so at d = 9 to 11 and float64 at
    most odd d, not at d = 40 or 128.
    """
    gen = torch.Generator().manual_seed(width * 7919 + rows)
    least = state_rows(1, width)
    for _ in range(3):
        m = torch.randn(2, width, width, generator=gen, dtype=torch.float64).to(device_type, dtype)
        v = torch.randn(2, 1, width, generator=gen, dtype=torch.float64).to(device_type, dtype)
        results = []
        for count in (rows, least):
            x = aligned_rows(2, count, width, dtype, device_type).copy_(v.expand(2, count, width))
            results.append(torch.matmul(x, m))
        first = results[1][:, :1]
        if not all(torch.equal(r, first.expand_as(r)) for r in results):
            return True
    return False


def state_rows(n_beta: int, width: int) -> int:
    """Rows of an Euler state for n_beta betas at width d (see ROW_BLOCK)."""
    return _padded(max(n_beta, math.ceil(SMALL_PRODUCT / width**2)), ROW_BLOCK)


def _padded(n: int, block: int) -> int:
    return math.ceil(n / block) * block


def _beta_blocks(alphas: torch.Tensor, block: int) -> torch.Tensor:
    """(n_blocks, 1, 1, block) alphas, the last block padded by repeating its last value."""
    nb = alphas.shape[0]
    padded = math.ceil(nb / block) * block
    full = torch.cat([alphas, alphas[-1:].expand(padded - nb)])
    return full.view(-1, 1, 1, block)


def _run_chunk(cell: Cell, source: WeightSource, h0: torch.Tensor, u: torch.Tensor,
               alphas: torch.Tensor, trajectory: bool, ws: Workspace | None = None, slot: int = 0) -> _Chunk:
    """Forward then backward through all layers for one chunk of samples and all alphas.

    Euler residual cells: states are rows, (S, R, d), one row per beta, R the betas padded as
    `state_rows` says; a layer is one batched product x @ W^T per weight matrix. The stepper loop
    (`sim.steppers`) keeps states as (G, S, d, B) columns in blocks of beta_block(cell).
    Either way every number depends only on its own sample and beta (verified in the tests).
    """
    n, nb = h0.shape[0], alphas.shape[0]
    if _uses_stepper_loop(cell):
        cols = beta_block(cell)
        alpha = _beta_blocks(alphas, cols)

        def columns(t: torch.Tensor) -> torch.Tensor:
            """(..., G, S, B) -> (..., S, n_beta)"""
            t = t.movedim(-3, -2)
            return t.reshape(*t.shape[:-2], -1)[..., :nb]

        base = torch.linalg.vector_norm(h0, dim=1).double().log().view(1, n, 1)
        (fwd, diff, bwd, bwd_diff), log_h, log_p = steppers.run_chunk(cell, source, h0, u, alpha, base,
                                                                      trajectory)
        logs = {"fwd": columns(fwd), "diff": columns(diff), "bwd": columns(bwd), "bwd_diff": columns(bwd_diff)}
        return _Chunk(logs=logs,
                      log_h=None if log_h is None else columns(log_h).movedim(0, 1),
                      log_p=None if log_p is None else columns(log_p).movedim(0, 1))
    logs, log_h, log_p = _euler_rows(cell, source, h0, u, alphas, trajectory, ws, slot)
    return _Chunk(logs={q: t[:, :nb] for q, t in logs.items()},
                  log_h=None if log_h is None else log_h[:, :, :nb].movedim(0, 1),
                  log_p=None if log_p is None else log_p[:, :, :nb].movedim(0, 1))


def _euler_rows(cell: Cell, source: WeightSource, h0: torch.Tensor, u: torch.Tensor, alphas: torch.Tensor,
                trajectory: bool, ws: Workspace | None, slot: int
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor | None]:
    """The Euler residual loop on row states (S, R, d). Returns the four logs (S, R) and, when
    asked, the trajectories (L + 1, S, R)."""
    n, d = h0.shape
    dtype, device = h0.dtype, h0.device
    act, slope, block = cell.activation, cell.negative_slope, cell.block
    needs_scale = not cell.homogeneous
    rows = state_rows(alphas.shape[0], d)
    alpha = torch.cat([alphas, alphas[-1:].expand(rows - alphas.shape[0])]).view(1, rows, 1)
    shape = (n, rows, d)
    padded_rows = row_pitch(d, dtype) != d

    def state() -> torch.Tensor:
        return aligned_rows(n, rows, d, dtype, device)

    def unit_rows(v: torch.Tensor) -> torch.Tensor:
        out = state()
        out.copy_((v / torch.linalg.vector_norm(v, dim=1, keepdim=True)).unsqueeze(1).expand(shape))
        return out

    def deviation(log_scale: torch.Tensor, dev: torch.Tensor, shift: DeviationShift) -> torch.Tensor:
        shift.settle(log_scale, dev)
        return shift.log_norm(log_scale, dev.square().sum(2).sqrt_().double())

    # every layer where the state's scale enters sigma or is recorded, else every RENORM_EVERY
    every = 1 if needs_scale or trajectory else RENORM_EVERY

    # ---------------------------------------------------------------- forward
    x = unit_rows(h0)
    dev = state()  # (h_k - h_0) / ||h_k||, divided by 2^bits where the state collapsed
    shift = DeviationShift()
    buf = state()
    pre_buf = state() if block != "linear" else None
    log_s = torch.zeros(n, rows, dtype=torch.float64, device=device)
    base = torch.linalg.vector_norm(h0, dim=1).double().log().view(n, 1)  # log ||h_0||
    derivs = None if block == "linear" else scratch(ws, slot, "derivs", (cell.depth, *shape), dtype, device)
    log_h = log_p = None
    if trajectory:
        log_h = torch.zeros((cell.depth + 1, n, rows), dtype=torch.float64, device=device)
        log_p = torch.zeros_like(log_h)

    for b in range(source.n_blocks):
        v_blk, w_blk = source.block(b)
        for j in range(v_blk.shape[1]):
            k = source.starts[b] + j
            if block == "linear":
                z = x
            else:
                pre = torch.matmul(x, w_blk[:, j].transpose(-1, -2), out=pre_buf) if block == "res3" else x
                if act == "relu":
                    # sigma' written straight into its slot, relu into the scratch
                    torch.gt(pre, 0, out=derivs[k])
                    z = torch.clamp_min(pre, 0, out=pre_buf)
                else:
                    scale = (base + log_s).exp().to(dtype).unsqueeze(2) if needs_scale else None
                    derivs[k] = activations.derivative(act, pre, scale, slope)
                    z = activations.scaled(act, pre, scale, slope)
                    if padded_rows:  # a fresh tensor's rows are not aligned
                        z = pre_buf.copy_(z)
            step = torch.matmul(z, v_blk[:, j].transpose(-1, -2), out=buf).mul_(alpha)
            log_s = advance(x, dev, step, log_s, (k + 1) % every == 0 or k + 1 == cell.depth, dim=2, shift=shift)
            if log_h is not None:
                log_h[k + 1] = log_s
    fwd, diff = log_s, deviation(log_s, dev, shift)

    # ---------------------------------------------------------------- backward
    # p_k = p_{k+1} + alpha J_k^T p_{k+1}; as rows, J^T p is p V diag(sigma') W
    p = unit_rows(u)
    pdev = state()
    pshift = DeviationShift()
    log_q = torch.zeros_like(log_s)
    flip = None
    if rows_by_position(d, rows, dtype, device.type, torch.get_num_threads()):
        flip = scratch(ws, slot, "weights-t", (n, d, d), dtype, device)

    def times(g: torch.Tensor, m: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """g @ m, through a transposed copy of m where x @ M rounds rows by position here."""
        if flip is not None:
            m = flip.copy_(m.transpose(-1, -2)).transpose(-1, -2)
        return torch.matmul(g, m, out=out)

    for b in reversed(range(source.n_blocks)):
        v_blk, w_blk = source.block(b)
        for j in reversed(range(v_blk.shape[1])):
            k = source.starts[b] + j
            g = times(p, v_blk[:, j], buf)
            if block != "linear":
                g.mul_(derivs[k])
            if block == "res3":
                g = times(g, w_blk[:, j], pre_buf)
            g.mul_(alpha)
            log_q = advance(p, pdev, g, log_q, k % every == 0, dim=2, shift=pshift)
            if log_p is not None:
                log_p[k] = log_q
    logs = {"fwd": fwd, "diff": diff, "bwd": log_q, "bwd_diff": deviation(log_q, pdev, pshift)}
    return logs, log_h, log_p


class FixedWeights:
    """Explicit weights served like a WeightSource: V, W of shape (S, L, d, d), W None unless res3."""

    def __init__(self, v: torch.Tensor, w: torch.Tensor | None):
        self.starts = [0, v.shape[1]]
        self.n_blocks = 1
        self._weights = (v, w)

    def block(self, b: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._weights

    def layer(self, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        v, w = self._weights
        return v[:, k], (None if w is None else w[:, k])


def measure_weights(cell: Cell, v: torch.Tensor, w: torch.Tensor | None,
                    sample_ids: range | None = None) -> dict[str, np.ndarray]:
    """The four quantities for explicit weights (for instance trained ones), on the same inputs and
    loss directions as `simulate(cell)` draws for these samples. v, w: (S, L, d, d).

    Returns q -> float64 array (S,) of natural logs.
    """
    ids = range(v.shape[0]) if sample_ids is None else sample_ids
    h0, u = input_and_direction(cell, ids, v.device, v.dtype)
    alphas = torch.tensor([cell.alpha], dtype=v.dtype, device=v.device)
    chunk = _run_chunk(cell, FixedWeights(v, w), h0, u, alphas, trajectory=False)
    return {q: chunk.logs[q][:, 0].double().cpu().numpy() for q in QUANTITIES}


def chunk_count(cell: Cell, n_beta: int, budget: int) -> int:
    """Number of sample chunks a cell is split into under `budget` bytes."""
    return math.ceil(cell.samples / samples_per_chunk(cell, n_beta, budget))
