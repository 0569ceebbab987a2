"""The residual stream of a depth's sample models, run forward and backward at every beta at once.

Block k of sample s is f_k (the user's module, skip connection included), and the check runs

    h_{k+1} = h_k + alpha (f_k(h_k) - h_k),   alpha = L^-beta,

so that beta = 0 (alpha = 1) is the model as built, h_{k+1} = f_k(h_k), and beta > 0 multiplies each
block's branch f_k(h) - h by L^-beta. States are (S, B, *shape) tensors: S samples (each its own
model), B betas (the same model and input: common random numbers along beta).

The four quantities of docs/theory.md §3, per sample and beta, as natural logs: fwd = log‖h_L‖/‖h_0‖,
diff = log‖h_L − h_0‖/‖h_0‖, bwd = log‖p_0‖/‖p_L‖, bwd_diff = log‖p_0 − p_L‖/‖p_L‖, with
p_k = ∂ℓ/∂h_k for ℓ = ⟨u, h_L⟩ (so p_L = u, a random unit direction). The deviations are accumulated
from their increments (h_L − h_0 = Σ alpha (f_k − h_k), p_0 − p_L = Σ of the branch's vector-Jacobian
products), not by subtracting nearly equal vectors. The backward pass is autograd, one block at a
time: the forward stores h_k, and the backward recomputes f_k(h_k) under autograd and takes its
vector-Jacobian product with p_{k+1}; memory is O(L) states, never a whole graph.

Two ways of calling the blocks (`MODES`), same numbers to rounding:
- 'vmap': one call per block for the whole chunk: torch.func.vmap over the samples' parameters
  stacked (torch.func.stack_module_state) and, inside, over the betas;
- 'loop': one call per (sample, beta), the module as it is (works for every model).
Under vmap, scaled-dot-product attention uses its math kernel (`attention_for`: the fused CPU kernel
has no batching rule and would run one state at a time); the fused fast path of torch.nn.MultiheadAttention (taken
only without gradients) is off throughout, so that the forward pass and its recomputation in the
backward pass take the same path, and vmap never meets the fused kernel.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

MODES = ("auto", "vmap", "loop")


@dataclass
class StreamRun:
    """One chunk's outputs. logs[q]: (S, B) float64 natural logs, q in fwd, diff, bwd, bwd_diff;
    log_h (S, B, L+1) = log‖h_k‖/‖h_0‖; log_dev (S, B, L+1) = log‖h_k − h_0‖/‖h_0‖ (−inf at k = 0);
    log_p (S, B, L+1) = log‖p_k‖/‖p_L‖."""

    logs: dict[str, np.ndarray]
    log_h: np.ndarray
    log_dev: np.ndarray
    log_p: np.ndarray


@contextlib.contextmanager
def no_fused_attention() -> Iterator[None]:
    """nn.MultiheadAttention's fused fast path off (restored afterwards)."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        yield
        return
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


def attention_for(mode: str) -> contextlib.AbstractContextManager[None]:
    """Scaled-dot-product attention's math kernel under vmap (a process-wide setting, so it is set
    once around the whole run rather than per call from worker threads); nothing for 'loop'."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # older torch: no kernel choice
        return contextlib.nullcontext()
    return sdpa_kernel([SDPBackend.MATH]) if mode == "vmap" else contextlib.nullcontext()


def _call(template: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
          h: torch.Tensor) -> torch.Tensor:
    return torch.func.functional_call(template, (params, buffers), (h,))


class Blocks:
    """f_k for a chunk of samples: `blocks[s][k]` is block k of sample s; calling `self(k, h)` maps
    states (S, B, *shape) to f_k(states), same shape."""

    def __init__(self, blocks: Sequence[Sequence[nn.Module]], mode: str):
        if mode not in ("vmap", "loop"):
            raise ValueError(f"mode={mode!r} is not allowed: 'vmap' or 'loop'")
        self.blocks = [list(b) for b in blocks]
        self.mode = mode
        self.depth = len(self.blocks[0])

    def __call__(self, k: int, h: torch.Tensor) -> torch.Tensor:
        if self.mode == "loop":
            return torch.stack([torch.stack([self.blocks[s][k](h[s, b]) for b in range(h.shape[1])])
                                for s in range(h.shape[0])])
        modules = [sample[k] for sample in self.blocks]
        params, buffers = torch.func.stack_module_state(modules)
        per_beta = torch.func.vmap(partial(_call, modules[0]), in_dims=(None, None, 0))
        per_sample = torch.func.vmap(per_beta, in_dims=(0, 0, 0))
        return per_sample(params, buffers, h)


def _log_norm(x: torch.Tensor, batch_dims: int) -> torch.Tensor:
    """log of the Euclidean norm over all but the first `batch_dims` dimensions, in float64."""
    return torch.linalg.vector_norm(x.flatten(batch_dims).double(), dim=-1).log()


def run_stream(blocks: Blocks, h0: torch.Tensor, u: torch.Tensor, alphas: Sequence[float]) -> StreamRun:
    """Forward and backward through the chunk's blocks at every alpha.

    h0, u: (S, *shape) inputs and unit loss directions; alphas: the B residual scales L^-beta.
    """
    S, B, L = h0.shape[0], len(alphas), blocks.depth
    shape = (S, B, *h0.shape[1:])
    a = torch.tensor(list(alphas), dtype=h0.dtype, device=h0.device).reshape(1, B, *([1] * (h0.dim() - 1)))
    log_h0 = _log_norm(h0, 1)[:, None]  # (S, 1)
    log_h = torch.empty(S, B, L + 1, dtype=torch.float64, device=h0.device)
    log_dev = torch.empty_like(log_h)
    log_p = torch.empty_like(log_h)
    log_h[:, :, 0], log_dev[:, :, 0] = 0.0, -torch.inf
    states = [h0[:, None].expand(shape).contiguous()]
    dev = torch.zeros(shape, dtype=h0.dtype, device=h0.device)
    with torch.no_grad():
        for k in range(L):
            h = states[k]
            step = a * (blocks(k, h) - h)
            states.append(h + step)
            dev += step
            log_h[:, :, k + 1] = _log_norm(states[-1], 2) - log_h0
            log_dev[:, :, k + 1] = _log_norm(dev, 2) - log_h0
    p = u[:, None].expand(shape).contiguous()
    pdev = torch.zeros_like(p)
    log_u = _log_norm(u, 1)[:, None]
    log_p[:, :, L] = 0.0
    for k in reversed(range(L)):
        with torch.enable_grad():
            h = states[k].detach().requires_grad_(True)
            branch = a * (blocks(k, h) - h)
            (q,) = torch.autograd.grad(branch, h, p)
        states[k + 1] = None  # type: ignore[call-overload]  # no longer needed: free it
        p = p + q
        pdev += q
        log_p[:, :, k] = _log_norm(p, 2) - log_u
    logs = {"fwd": log_h[:, :, L], "diff": log_dev[:, :, L], "bwd": log_p[:, :, 0],
            "bwd_diff": _log_norm(pdev, 2) - log_u}
    return StreamRun(logs={q: v.cpu().numpy() for q, v in logs.items()}, log_h=log_h.cpu().numpy(),
                     log_dev=log_dev.cpu().numpy(), log_p=log_p.cpu().numpy())


def vmap_works(blocks: Blocks, h0: torch.Tensor, alphas: Sequence[float]) -> str | None:
    """None when calling the chunk's first block under vmap gives what a plain call gives (to 1e-4
    relative in float32, 1e-9 in float64), else the reason it does not (an error, or the mismatch)."""
    h = h0[:, None].expand(h0.shape[0], len(alphas), *h0.shape[1:]).contiguous()
    vmapped = Blocks(blocks.blocks, "vmap")
    plain = Blocks(blocks.blocks, "loop")
    try:
        with torch.no_grad(), attention_for("vmap"):
            got = vmapped(0, h)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    with torch.no_grad():
        want = plain(0, h)
    tol = 1e-4 if h0.dtype == torch.float32 else 1e-9
    error = float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))
    if not error <= tol:
        return f"vmap gives a relative difference of {error:.2g} from a plain call (tolerance {tol:g})"
    return None


def time_modes(blocks: Sequence[Sequence[nn.Module]], h0: torch.Tensor, u: torch.Tensor,
               alphas: Sequence[float], repeats: int = 2) -> dict[str, float]:
    """Seconds of a forward and backward pass through the first two blocks, vmap and loop, the
    best of `repeats` interleaved tries each: which way is faster depends on the model (measured in
    docs/check.md: vmap for small blocks, the plain loop for the transformer example)."""
    first = [list(b[:2]) for b in blocks]
    best = {"vmap": float("inf"), "loop": float("inf")}
    for _ in range(repeats):
        for mode in best:
            with attention_for(mode):
                start = time.perf_counter()
                run_stream(Blocks(first, mode), h0, u, alphas)
                best[mode] = min(best[mode], time.perf_counter() - start)
    return best
