"""How the user's weights are correlated along depth at initialization, and which of the product's
initialization families (sim.weights: iid, shared, fgn) that resembles.

**Measure.** In one sample model, every parameter name that every block holds with one shape (e.g.
`linear1.weight`) gives a path along depth: θ_0, θ_1, ..., θ_{L−1}, flattened. Blocks k and k + lag
are compared by the Pearson correlation across entries (each block's tensor centred and scaled by
its own mean and standard deviation over its entries). Pooled over parameter names (weighted by
their numbers of entries) and averaged over k, this is rho_s(lag) of sample s; the report gives the
mean over samples and its standard error (samples are independent network draws), per depth and
lag, and per parameter name at lag 1.

Parameters that are equal in two samples built under different seeds are fixed at initialization
(LayerNorm gains of 1, zero biases): they are not random, so they are left out and listed. So is a
parameter with one entry per block (no correlation across entries).

**Family.**
- `shared` when rho >= 1 − 1e-6 at every lag, depth and sample (every block holds the same weights);
- otherwise the Hurst index H of fractional Gaussian noise is fitted to each sample's rho_s(lag),
  lags 1..MAX_LAG pooled over depths (weighted by the number of block pairs), by least squares on
  fGn's autocorrelation gamma_H(lag) = (|lag+1|^2H − 2|lag|^2H + |lag−1|^2H)/2; H is the mean over
  samples, with the 95% interval mean ± 1.96 se;
- `iid` when that interval comes within H_TOLERANCE of 1/2 (fGn with H = 1/2 is independent);
- `fgn` when gamma_H of the fitted H is within RHO_TOLERANCE + 1.96 se of the mean correlation at
  every lag (the correlations decay along depth as fGn's do);
- no family (theory has no claim to offer) otherwise, or when no parameter is random.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import optimize
from torch import nn

from sim.grid.regimes import Z
from sim.weights import fgn_autocovariance

MAX_LAG = 8
SHARED_RHO = 1.0 - 1e-6
# A correlation that keeps H within 0.02 of 1/2 (|rho(1)| < 0.028) moves theory's beta_c = max(1/2, H)
# by at most 0.02, far inside the intervals of an observed threshold: such weights count as independent.
H_TOLERANCE = 0.02
# The largest departure of the measured correlation from fGn's at any lag still called fGn-like,
# beyond Monte Carlo noise: gamma_H at lags 1..8 changes by about 0.05 when H moves by 0.03 near H = 0.8.
RHO_TOLERANCE = 0.05


@dataclass
class SampleCorrelation:
    """One sample model's correlations along depth.

    rho: (MAX_LAG,) pooled correlation at lags 1..MAX_LAG (NaN where lag >= L); by_name: the
    lag-1 correlation of each random parameter name; depth: L.
    """

    rho: np.ndarray
    by_name: dict[str, float]
    depth: int

    def to_json(self) -> dict[str, object]:
        return {"rho": [None if math.isnan(v) else float(v) for v in self.rho], "by_name": self.by_name,
                "depth": self.depth}

    @classmethod
    def from_json(cls, data: dict) -> SampleCorrelation:
        rho = np.array([math.nan if v is None else v for v in data["rho"]], dtype=np.float64)
        return cls(rho, {k: float(v) for k, v in data["by_name"].items()}, int(data["depth"]))


def _named(block: nn.Module) -> dict[str, torch.Tensor]:
    return dict(block.named_parameters())


def parameter_names(blocks: Sequence[nn.Module]) -> list[str]:
    """Names every block holds with one shape and at least two entries, in the first block's order."""
    tables = [_named(b) for b in blocks]
    names = []
    for name, p in tables[0].items():
        if p.numel() >= 2 and all(name in t and t[name].shape == p.shape for t in tables[1:]):
            names.append(name)
    return names


def fixed_names(a: Sequence[nn.Module], b: Sequence[nn.Module], names: Sequence[str]) -> list[str]:
    """The names whose values are the same in two samples' blocks (fixed at initialization)."""
    pairs = [(_named(x), _named(y)) for x, y in zip(a, b, strict=True)]
    return [name for name in names if all(torch.equal(x[name], y[name]) for x, y in pairs)]


def sample_correlation(blocks: Sequence[nn.Module], names: Sequence[str]) -> SampleCorrelation:
    """The correlations along depth of one sample's blocks over the random parameter `names`."""
    depth = len(blocks)
    tables = [_named(b) for b in blocks]
    sums = {lag: np.zeros(depth - lag) for lag in range(1, min(MAX_LAG, depth - 1) + 1)}
    entries = 0
    by_name: dict[str, float] = {}
    for name in names:
        x = np.stack([t[name].detach().to("cpu", torch.float64).numpy().ravel() for t in tables])  # (L, m)
        x = x - x.mean(axis=1, keepdims=True)
        sd = np.sqrt(np.mean(x * x, axis=1, keepdims=True))
        if np.any(sd == 0):
            continue  # a block whose entries are all equal: no correlation across entries
        x = x / sd
        for lag in sums:
            products = np.einsum("ij,ij->i", x[:-lag], x[lag:])
            sums[lag] += products
            if lag == 1:
                by_name[name] = float(products.mean() / x.shape[1])
        entries += x.shape[1]
    rho = np.full(MAX_LAG, math.nan)
    if entries:
        for lag, total in sums.items():
            rho[lag - 1] = float((total / entries).mean())
    return SampleCorrelation(rho, by_name, depth)


@dataclass(frozen=True)
class Family:
    """The product's initialization family the measured correlations resemble.

    init: 'iid', 'shared', 'fgn', or None (no family); hurst with its 95% interval (fgn and iid);
    lag1 / lag1_se: the mean lag-1 correlation pooled over depths and its standard error;
    misfit: the largest |measured − fGn| correlation over the lags; words: one phrase for a reader.
    """

    init: str | None
    hurst: float | None
    hurst_lo: float | None
    hurst_hi: float | None
    lag1: float | None
    lag1_se: float | None
    misfit: float | None
    words: str


def _pooled(by_depth: dict[int, list[SampleCorrelation]]) -> tuple[np.ndarray, np.ndarray]:
    """(rho (S, lags), pairs (lags,)): each sample's correlations pooled over depths, weighted by
    the number of block pairs at each lag; lags with no pair are dropped."""
    depths = sorted(by_depth)
    samples = min(len(by_depth[d]) for d in depths)
    pairs = np.array([sum(max(d - lag, 0) for d in depths) for lag in range(1, MAX_LAG + 1)], dtype=float)
    rho = np.zeros((samples, MAX_LAG))
    for d in depths:
        w = np.array([max(d - lag, 0) for lag in range(1, MAX_LAG + 1)], dtype=float)
        for s in range(samples):
            rho[s] += np.nan_to_num(by_depth[d][s].rho) * w
    keep = pairs > 0
    return rho[:, keep] / pairs[keep], pairs[keep]


def _fit_hurst(rho: np.ndarray, weights: np.ndarray) -> float:
    lags = np.arange(1, len(rho) + 1)

    def loss(h: float) -> float:
        return float(np.sum(weights * (rho - fgn_autocovariance(h, lags)) ** 2))

    return float(optimize.minimize_scalar(loss, bounds=(1e-3, 1 - 1e-3), method="bounded",
                                          options={"xatol": 1e-7}).x)


def classify_family(by_depth: dict[int, list[SampleCorrelation]]) -> Family:
    """The family of the correlations measured at every depth (module docstring)."""
    measured = [c for cs in by_depth.values() for c in cs]
    if not measured or all(np.isnan(c.rho).all() for c in measured):
        return Family(None, None, None, None, None, None, None,
                      "no random parameter to correlate along depth")
    rho, pairs = _pooled(by_depth)
    n = rho.shape[0]
    mean = rho.mean(axis=0)
    se = rho.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(mean.shape, math.nan)
    lag1, lag1_se = float(mean[0]), float(se[0])
    corr_words = f"lag-1 correlation {_signed(lag1)} ± {lag1_se:.3f}"
    if all(np.nanmin(c.rho) >= SHARED_RHO for c in measured):
        return Family("shared", None, None, None, lag1, lag1_se, None,
                      f"identical in every block ({corr_words})")
    hursts = np.array([_fit_hurst(r, pairs) for r in rho])
    h = float(hursts.mean())
    h_se = float(hursts.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    lo, hi = h - Z * h_se, h + Z * h_se
    misfit = float(np.max(np.abs(mean - fgn_autocovariance(h, np.arange(1, len(mean) + 1)))))
    fits = bool(np.all(np.abs(mean - fgn_autocovariance(h, np.arange(1, len(mean) + 1)))
                       <= RHO_TOLERANCE + Z * np.nan_to_num(se, nan=math.inf)))
    if lo <= 0.5 + H_TOLERANCE and hi >= 0.5 - H_TOLERANCE:
        return Family("iid", h, lo, hi, lag1, lag1_se, misfit, f"independent along depth ({corr_words})")
    if fits:
        return Family("fgn", h, lo, hi, lag1, lag1_se, misfit,
                      f"correlated along depth like fractional Gaussian noise with H = {h:.2f} "
                      f"[{lo:.2f}, {hi:.2f}] ({corr_words})")
    return Family(None, h, lo, hi, lag1, lag1_se, misfit,
                  f"correlated along depth, but not like fractional Gaussian noise ({corr_words}; "
                  f"fGn's correlations miss it by up to {misfit:.2f})")


def _signed(value: float) -> str:
    text = f"{value:.3f}"
    return text.lstrip("-") if float(text) == 0 else text


def correlation_rows(by_depth: dict[int, list[SampleCorrelation]]) -> list[dict[str, object]]:
    """Tidy rows: per depth and lag the pooled correlation ('all'), and per parameter name at lag 1;
    mean over samples, its standard error and the number of samples."""
    rows: list[dict[str, object]] = []
    for depth in sorted(by_depth):
        cs = by_depth[depth]
        for lag in range(1, min(MAX_LAG, depth - 1) + 1):
            rows.append({"depth": depth, "parameter": "all", "lag": lag,
                         **_mean_se([c.rho[lag - 1] for c in cs])})
        names = list(dict.fromkeys(name for c in cs for name in c.by_name))
        for name in names:
            rows.append({"depth": depth, "parameter": name, "lag": 1,
                         **_mean_se([c.by_name[name] for c in cs if name in c.by_name])})
    return rows


def _mean_se(values: Sequence[float]) -> dict[str, object]:
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return {"rho": None, "rho_se": None, "samples": 0}
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else None
    return {"rho": float(x.mean()), "rho_se": se, "samples": int(len(x))}
