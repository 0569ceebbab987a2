"""The lecture example of ResNets as ODE discretizations (Haber & Ruthotto 2017): a two-parameter
network whose training objective is smooth when the step is small and rough when it is large.

    Y_{j+1} = Y_j + h tanh(K(θ) Y_j),   h = T/N,  T = 10,  j = 0 … N−1,
    objective(θ) = ½ ‖Y_N(θ) − C‖²_F,   C = Y_200((1, 1))  (Euler, h = 0.05),

    K(θ) = [[−θ1−θ2, θ1, θ2], [θ2, −θ1−θ2, θ1], [θ1, θ2, −θ1−θ2]].

Y_0 is a 3 × m matrix (m = `examples` columns, default 1: the lecture's single 3-vector) of N(0, 1)
entries drawn once from a torch.Generator seeded with `seed`; C and every objective use the same Y_0.
K(θ) is circulant with eigenvalues 0 and −(3/2)(θ1+θ2) ± i(√3/2)(θ1−θ2), so a Runge–Kutta step of
size h with stability function R is stable at θ where max_j |R(h λ_j)| ≤ 1 (Euler: R(z) = 1 + z).
At N = 5 (h = 2) Euler is unstable over most of the grid and the landscape becomes rough.

`landscape_table(spec)` evaluates every grid point at once (batched 3 × 3 matmuls in float64; the
Python loop runs over the N steps only) and returns a tidy columnar table, one row per (stepper, N,
θ1, θ2). `local_minima`, `total_variation` and `unstable_fraction` measure roughness.
`sim.landscape.command` runs it as `python -m sim.grid --preset landscape`; docs/landscape.md documents
the files.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sim.cell import STEPPERS
from sim.device import resolve_device

PRESET = "landscape"
CSV_NAME = "landscape.csv"
JSON_NAME = "landscape.json"
# One row per (stepper, N, theta1, theta2); docs/landscape.md documents each column.
COLUMNS = ("stepper", "N", "h", "theta1", "theta2", "objective", "stability")
# max |R| above 1 + UNSTABLE_TOL counts as unstable: the zero eigenvalue gives |R(0)| = 1 exactly,
# and points on the stability boundary must not flip with the last bit of rounding.
UNSTABLE_TOL = 1e-12

# Explicit Butcher tableaux (A strictly lower triangular, weights b). The field is autonomous, so
# the nodes c do not enter: every stage uses the same K(theta).
TABLEAUX: dict[str, tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]] = {
    "euler": (((0.0,),), (1.0,)),
    "heun": (((0.0, 0.0), (1.0, 0.0)), (0.5, 0.5)),
    "rk4": (((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (0.0, 0.5, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0)),
            (1 / 6, 1 / 3, 1 / 3, 1 / 6)),
}
assert tuple(TABLEAUX) == STEPPERS


@dataclass(frozen=True)
class LandscapeSpec:
    """The experiment: a square (theta1, theta2) grid, step counts and steppers; saved with the results."""

    theta_min: float = -2.0
    theta_max: float = 4.0
    points: int = 241  # per side: a step of 0.025, with theta = 1 on the grid
    steps: tuple[int, ...] = (5, 100)
    steppers: tuple[str, ...] = STEPPERS
    horizon: float = 10.0  # T: h = T / N
    reference_theta: tuple[float, float] = (1.0, 1.0)
    reference_steps: int = 200  # C = Y_200(reference_theta), Euler
    examples: int = 1  # m columns of Y_0
    seed: int = 0
    device: str = "cpu"  # CPU and CUDA tanh differ in the last bits: CPU gives the documented numbers

    def __post_init__(self) -> None:
        if not (math.isfinite(self.theta_min) and math.isfinite(self.theta_max)
                and self.theta_min < self.theta_max):
            raise ValueError(f"theta_min, theta_max={self.theta_min!r}, {self.theta_max!r} is not allowed: "
                             "finite with theta_min < theta_max")
        if self.points < 3:
            raise ValueError(f"points={self.points!r} is not allowed: at least 3 per side")
        if not self.steps or any(int(n) != n or n < 1 for n in self.steps):
            raise ValueError(f"steps={self.steps!r} is not allowed: integers >= 1")
        bad = [s for s in self.steppers if s not in TABLEAUX]
        if bad or not self.steppers:
            raise ValueError(f"steppers={self.steppers!r} is not allowed: some of {', '.join(TABLEAUX)}")
        if self.examples < 1 or self.reference_steps < 1 or self.horizon <= 0:
            raise ValueError(f"examples={self.examples!r}, reference_steps={self.reference_steps!r}, "
                             f"horizon={self.horizon!r} is not allowed: examples, steps >= 1 and horizon > 0")

    def axis(self) -> np.ndarray:
        """The grid values along each theta axis, shape (points,), rounded to 12 decimals."""
        i = np.arange(self.points)
        return np.round(self.theta_min + (self.theta_max - self.theta_min) * i / (self.points - 1), 12)


# What `python -m sim.grid --preset landscape` computes.
PRESET_LANDSCAPE = LandscapeSpec()


# ---------------------------------------------------------------------- the model
def lecture_matrix(theta1: torch.Tensor, theta2: torch.Tensor) -> torch.Tensor:
    """K(theta) for thetas of shape (G,): shape (G, 3, 3)."""
    d = -(theta1 + theta2)
    return torch.stack([torch.stack([d, theta1, theta2], -1), torch.stack([theta2, d, theta1], -1),
                        torch.stack([theta1, theta2, d], -1)], -2)


def eigenvalues(theta1: np.ndarray, theta2: np.ndarray) -> np.ndarray:
    """Eigenvalues of K(theta), closed form for a circulant matrix: shape (*theta.shape, 3), complex."""
    t1, t2 = np.broadcast_arrays(np.asarray(theta1, dtype=float), np.asarray(theta2, dtype=float))
    re, im = -1.5 * (t1 + t2), math.sqrt(3.0) / 2.0 * (t1 - t2)
    return np.stack([np.zeros_like(t1, dtype=complex), re + 1j * im, re - 1j * im], -1)


def stability_function(stepper: str, z: np.ndarray) -> np.ndarray:
    """R(z) = 1 + sum_k z^k b^T A^(k-1) 1 of an explicit Runge–Kutta tableau (Euler 1 + z, …)."""
    if stepper not in TABLEAUX:
        raise ValueError(f"stepper={stepper!r} is not allowed: one of {', '.join(TABLEAUX)}")
    a, b = (np.array(x, dtype=float) for x in TABLEAUX[stepper])
    z = np.asarray(z, dtype=complex)
    out, power, stage = np.ones_like(z), np.ones_like(z), np.ones(len(b))
    for _ in range(len(b)):  # A is nilpotent: at most len(b) terms
        power = power * z
        out = out + power * float(b @ stage)
        stage = a @ stage
    return out


def local_growth(stepper: str, step: float, theta1: np.ndarray, theta2: np.ndarray) -> np.ndarray:
    """max_j |R(step * lambda_j(theta))|, shape of theta: > 1 where the stepper is unstable."""
    return np.abs(stability_function(stepper, step * eigenvalues(theta1, theta2))).max(-1)


def growth(stepper: str, step: float, theta1: np.ndarray, theta2: np.ndarray) -> np.ndarray:
    """The stability column: theory's `landscape_growth` when theory provides it, else `local_growth`
    (the same formula). The one place that chooses between the two."""
    try:
        from theory.stability import landscape_growth
    except ImportError:
        return local_growth(stepper, step, theta1, theta2)
    return np.asarray(landscape_growth(stepper, step, theta1, theta2), dtype=float)


def initial_state(examples: int = 1, seed: int = 0) -> torch.Tensor:
    """Y_0: shape (3, examples), float64 N(0, 1) from a CPU generator seeded with `seed`."""
    return torch.randn(3, examples, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def final_state(theta1: torch.Tensor, theta2: torch.Tensor, y0: torch.Tensor, steps: int,
                stepper: str = "euler", horizon: float = 10.0) -> torch.Tensor:
    """Y_N for every theta: thetas shape (G,), y0 shape (3, m) -> shape (G, 3, m); step h = horizon/steps."""
    a, b = TABLEAUX[stepper]
    k = lecture_matrix(theta1, theta2)
    h = horizon / steps
    y = y0.to(k).expand(k.shape[0], *y0.shape).clone()
    for _ in range(steps):
        slopes: list[torch.Tensor] = []
        for row in a:
            stage = y
            for coef, slope in zip(row, slopes, strict=False):
                if coef:
                    stage = stage + (h * coef) * slope
            slopes.append(torch.tanh(k @ stage))
        for weight, slope in zip(b, slopes, strict=True):
            y = y + (h * weight) * slope
    return y


def objective(theta1: torch.Tensor, theta2: torch.Tensor, y0: torch.Tensor, target: torch.Tensor, steps: int,
              stepper: str = "euler", horizon: float = 10.0) -> torch.Tensor:
    """½ ‖Y_N(theta) − C‖²_F for every theta: shape (G,); target C shape (3, m)."""
    diff = final_state(theta1, theta2, y0, steps, stepper, horizon) - target.to(theta1)
    return 0.5 * (diff * diff).sum((-2, -1))


def reference_target(spec: LandscapeSpec, y0: torch.Tensor) -> torch.Tensor:
    """C = Y_{reference_steps}(reference_theta) by Euler: shape (3, m)."""
    t1, t2 = (torch.tensor([v], dtype=torch.float64) for v in spec.reference_theta)
    return final_state(t1, t2, y0, spec.reference_steps, "euler", spec.horizon)[0]


Table = dict[str, np.ndarray]


def landscape_table(spec: LandscapeSpec = LandscapeSpec(),
                    progress: Callable[[str, int, float], None] | None = None) -> Table:
    """The objective and the stability factor over the grid, per stepper and N.

    Returns column -> array (all of length steppers × steps × points², in that nesting, theta2 fastest):
    `COLUMNS`. `progress(stepper, N, seconds)` is called after each (stepper, N).
    """
    device = resolve_device(spec.device)
    axis = spec.axis()
    t1_np, t2_np = (g.ravel() for g in np.meshgrid(axis, axis, indexing="ij"))
    t1, t2 = (torch.as_tensor(t, dtype=torch.float64, device=device) for t in (t1_np, t2_np))
    y0 = initial_state(spec.examples, spec.seed).to(device)
    target = reference_target(spec, y0.cpu()).to(device)
    parts: dict[str, list[np.ndarray]] = {c: [] for c in COLUMNS}
    # 3 x 3 products and short element-wise passes: OpenMP threads cost more than they give on the
    # CPU (measured: rk4 at N = 100 took 18 s on 2 threads, 1.2 s on 1, on a 2-core machine under load)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        _fill(parts, spec, t1, t2, t1_np, t2_np, y0, target, progress)
    finally:
        torch.set_num_threads(threads)
    return {c: np.concatenate(v) for c, v in parts.items()}


def _fill(parts: dict[str, list[np.ndarray]], spec: LandscapeSpec, t1: torch.Tensor, t2: torch.Tensor,
          t1_np: np.ndarray, t2_np: np.ndarray, y0: torch.Tensor, target: torch.Tensor,
          progress: Callable[[str, int, float], None] | None) -> None:
    """Append the columns of every (stepper, N) to `parts`."""
    size = t1_np.size
    for stepper in spec.steppers:
        for n in spec.steps:
            start = time.perf_counter()
            values = objective(t1, t2, y0, target, int(n), stepper, spec.horizon).cpu().numpy()
            h = spec.horizon / n
            parts["stepper"].append(np.full(size, stepper))
            parts["N"].append(np.full(size, int(n)))
            parts["h"].append(np.full(size, h))
            parts["theta1"].append(t1_np)
            parts["theta2"].append(t2_np)
            parts["objective"].append(values)
            parts["stability"].append(growth(stepper, h, t1_np, t2_np))
            if progress is not None:
                progress(stepper, int(n), time.perf_counter() - start)


def surface(table: Table, stepper: str, steps: int, column: str = "objective") -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """(theta1 axis, theta2 axis, values of shape (len theta1, len theta2)) of one stepper and N.

    Raises ValueError unless the rows form a complete grid, each point once."""
    rows = (table["stepper"] == stepper) & (table["N"] == steps)
    t1, t2, v = table["theta1"][rows], table["theta2"][rows], np.asarray(table[column][rows], dtype=float)
    ax1, i = np.unique(t1, return_inverse=True)
    ax2, j = np.unique(t2, return_inverse=True)
    if len(v) != len(ax1) * len(ax2) or len(np.unique(i * len(ax2) + j)) != len(v):
        raise ValueError(f"stepper={stepper!r}, N={steps}: the rows do not form a complete theta grid "
                         f"({len(v)} rows for {len(ax1)} x {len(ax2)} points)")
    grid = np.empty((len(ax1), len(ax2)))
    grid[i, j] = v
    return ax1, ax2, grid


# ---------------------------------------------------------------------- roughness
def strict_minima(values: np.ndarray) -> np.ndarray:
    """Boolean mask, shape of values: interior points strictly below all 8 neighbours."""
    v = np.asarray(values, dtype=float)
    mask = np.zeros(v.shape, dtype=bool)
    if min(v.shape) < 3:
        return mask
    centre = v[1:-1, 1:-1]
    inner = np.isfinite(centre)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                inner &= centre < v[1 + di:v.shape[0] - 1 + di, 1 + dj:v.shape[1] - 1 + dj]
    mask[1:-1, 1:-1] = inner
    return mask


def local_minima(values: np.ndarray) -> int:
    """Number of strict local minima of a 2-D grid of values (8-neighbour, interior points)."""
    return int(strict_minima(values).sum())


def total_variation(values: np.ndarray) -> float:
    """Sum of |differences| between grid neighbours along both axes, divided by the range of the
    values and by the number of grid lines: 1 for a landscape monotone along every line from its
    minimum to its maximum, below 1 for a smooth one, well above 1 when it oscillates."""
    v = np.asarray(values, dtype=float)
    spread = float(np.nanmax(v) - np.nanmin(v))
    if spread == 0:
        return 0.0
    tv = float(np.nansum(np.abs(np.diff(v, axis=0))) + np.nansum(np.abs(np.diff(v, axis=1))))
    return tv / spread / (v.shape[0] + v.shape[1])


def unstable_fraction(stability: np.ndarray) -> float:
    """Fraction of grid points where max |R(h lambda)| > 1 (beyond UNSTABLE_TOL)."""
    s = np.asarray(stability, dtype=float)
    return float(np.mean(s > 1.0 + UNSTABLE_TOL))


def roughness(table: Table) -> list[dict[str, Any]]:
    """One row per (stepper, N): local_minima (and those where theta1 + theta2 >= 0, where the ODE
    itself is stable), total_variation, unstable_fraction, the smallest objective and where it is."""
    out = []
    for stepper in dict.fromkeys(table["stepper"].tolist()):
        for steps in sorted(set(table["N"][table["stepper"] == stepper].tolist())):
            ax1, ax2, values = surface(table, stepper, steps)
            _, _, stab = surface(table, stepper, steps, "stability")
            i, j = np.unravel_index(np.nanargmin(values), values.shape)
            ode_stable = np.add.outer(ax1, ax2) >= 0  # Re lambda <= 0: the ODE itself does not grow
            out.append({"stepper": stepper, "N": int(steps), "points": values.size,
                        "local_minima": local_minima(values),
                        "local_minima_ode_stable": int((strict_minima(values) & ode_stable).sum()),
                        "total_variation": total_variation(values),
                        "unstable_fraction": unstable_fraction(stab), "min_objective": float(values[i, j]),
                        "argmin": (float(ax1[i]), float(ax2[j]))})
    return out


# ---------------------------------------------------------------------- files
def write_csv(table: Table, path: Path) -> Path:
    """Write the table atomically (temporary file, then rename), numbers in shortest round-trip form."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fields = [list(map(repr if table[c].dtype.kind == "f" else str, table[c].tolist())) for c in COLUMNS]
    with tmp.open("w", newline="") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        fh.writelines(",".join(row) + "\n" for row in zip(*fields, strict=True))
    os.replace(tmp, path)
    return path
