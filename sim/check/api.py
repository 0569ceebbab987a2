"""`depth_check`: the check from Python, run exactly as `python -m sim.check` runs it."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch
from torch import nn

from sim.check.command import report_builder
from sim.check.run import DEFAULT_BETAS, CheckResult, execute, plan


def depth_check(build: Callable[[int], nn.Module], depths: Sequence[int], *,
                inputs: Sequence[int] | Callable[[torch.Generator], torch.Tensor],
                betas: Sequence[float] = DEFAULT_BETAS, samples: int = 8, blocks: str | None = None,
                device: str = "auto", dtype: str = "float32", seed: int = 0, batch: str = "auto",
                max_memory: int | str | None = None, out: str | os.PathLike[str] | None = None,
                report: bool = True, force: bool = False, quiet: bool = True) -> CheckResult:
    """Check which regime the residual network `build(depth)` is in, and at which beta scaling its
    branches by L^-beta makes it non-trivial.

    build: depth -> torch.nn.Module; called once per sample under its own seed.
    depths: two or more depths >= 2. inputs: the residual stream's shape, e.g. (8, 16, 64) for 8
    sequences of 16 tokens of width 64 (standard normal entries), or a function of a
    torch.Generator returning the input tensor. betas: the extra scalings L^-beta checked (0, the
    model as built, is always added). samples: models (and inputs) per depth, >= 2.
    blocks: the dotted name of the ModuleList / Sequential of residual blocks ('' for the model
    itself); None finds the one whose length equals the depth at every depth.
    device: auto, cpu, cuda; dtype: float32, float64; seed: the root seed.
    batch: 'vmap' (all samples and betas of a depth in one call per block), 'loop' (one call per
    sample and beta), or 'auto' (vmap when the blocks allow it). max_memory: budget for the stored
    states (default: half of what is free, at most 4 GiB on the CPU).
    out: a directory for check.csv and the other tables, check.json and, with report=True, the
    report (report.html, report.pdf); a rerun with the same arguments reuses the depths stored there
    (force=True recomputes them). quiet=False prints progress on stderr.

    Returns a CheckResult: DataFrames `samples` (one row per depth, beta, sample: the four
    quantities of docs/theory.md §3 as natural logs), `layers` (per layer), `correlation`,
    `regimes`, `thresholds`, and `sentence`. Raises CheckError (a ValueError) naming the parameter,
    its value and what is allowed; writes nothing then.
    """
    p = plan(build, depths, inputs=inputs, betas=betas, samples=samples, blocks=blocks, device=device,
             dtype=dtype, seed=seed, batch=batch, max_memory=max_memory, out=out, force=force, quiet=quiet)
    result = execute(p, report_builder() if (report and p.out is not None) else None)
    if result.report_error is not None:
        raise RuntimeError(f"building the report failed ({result.report_error}); the tables in {p.out} are "
                           "complete")
    return result
