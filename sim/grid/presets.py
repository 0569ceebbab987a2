"""Named grids for `python -m sim.grid --preset NAME`.

A preset is a list of sub-grids (see `sim.grid.spec`) and a one-line description. Flags given on
the command line replace the corresponding axis in every sub-grid of the preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _grid(start: float, stop: float, count: int) -> tuple[float, ...]:
    """Evenly spaced values, inclusive, rounded like the start:stop:count syntax."""
    return tuple(round(start + (stop - start) * i / (count - 1), 12) for i in range(count))


def _doublings(first: int, last: int) -> tuple[int, ...]:
    """first, 2 first, 4 first, ... up to last."""
    values = [first]
    while values[-1] * 2 <= last:
        values.append(values[-1] * 2)
    return tuple(values)


@dataclass(frozen=True)
class Preset:
    """A named grid: `grid` is a list of sub-grids, axis -> values."""

    name: str
    description: str
    grid: tuple[dict[str, tuple[Any, ...]], ...]
    train: dict[str, Any] | None = None  # sim.train.TrainConfig fields, when the preset trains


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        "quick",
        "res3 relu, iid and fgn (H = 0.2, 0.5, 0.8), beta 0:1.2:13, depths 16-1024, d = 16, "
        "48 samples: all three regimes and the H-dependence of the threshold in under a minute on a CPU",
        ({"block": ("res3",), "activation": ("relu",), "init": ("iid", "fgn"),
          "hurst": (0.2, 0.5, 0.8), "beta": _grid(0.0, 1.2, 13), "depth": (16, 64, 256, 1024),
          "width": (16,), "samples": (48,), "dtype": ("float32",)},),
    ),
    Preset(
        "marion-fig1",
        "Marion et al. (2025) Fig. 1: iid res3 relu, d = 40, beta in {1/4, 1/2, 1}, L = 10 to 1000",
        ({"block": ("res3",), "activation": ("relu",), "init": ("iid",), "beta": (0.25, 0.5, 1.0),
          "depth": (10, 20, 50, 100, 200, 500, 1000), "width": (40,), "samples": (50,),
          "dtype": ("float32",)},),
    ),
    Preset(
        "marion-fig7",
        "Marion et al. (2025) Fig. 7 heatmap: res3 relu fgn, d = 40, L = 1000, "
        "H in 0.05:0.97:51 x beta in 0:1.3:70, 50 samples",
        ({"block": ("res3",), "activation": ("relu",), "init": ("fgn",),
          "hurst": _grid(0.05, 0.97, 51), "beta": _grid(0.0, 1.3, 70), "depth": (1000,),
          "width": (40,), "samples": (50,), "dtype": ("float32",)},),
    ),
    Preset(
        "phase",
        "(beta, H) phase diagram from slopes: res3 relu fgn, H in 0.1:0.9:9, beta in 0:1.2:25, "
        "depths 64, 256, 1024, d = 32, 100 samples",
        ({"block": ("res3",), "activation": ("relu",), "init": ("fgn",),
          "hurst": _grid(0.1, 0.9, 9), "beta": _grid(0.0, 1.2, 25), "depth": (64, 256, 1024),
          "width": (32,), "samples": (100,), "dtype": ("float32",)},),
    ),
    Preset(
        "threshold",
        "the iid threshold: res3 relu, beta in 0.35:0.65:31 around 1/2, depths 64 to 4096 "
        "(doublings), d = 32, 128 samples",
        ({"block": ("res3",), "activation": ("relu",), "init": ("iid",),
          "beta": _grid(0.35, 0.65, 31), "depth": _doublings(64, 4096), "width": (32,),
          "samples": (128,), "dtype": ("float32",)},),
    ),
    Preset(
        "training",
        "brief training on digits: res1 relu fgn, H in {0.2, 0.5, 0.8} x beta in 0:1.2:7, L = 32, d = 16, "
        "4 networks per cell, 3 epochs (Marion et al.'s accuracy heatmap, scaled down for a CPU)",
        ({"block": ("res1",), "activation": ("relu",), "init": ("fgn",), "hurst": (0.2, 0.5, 0.8),
          "beta": _grid(0.0, 1.2, 7), "depth": (32,), "width": (16,), "samples": (4,),
          "dtype": ("float32",)},),
        train={"epochs": 3, "dataset": "digits", "lrs": (1e-3, 1e-2), "optimizer": "adam",
               "batch_size": 64},
    ),
    Preset(
        "steppers",
        "layers as Euler, Heun and RK4 steps: antisym (identity activation, iid and shared weights) "
        "and res3 relu iid, beta 0:1.2:13, depths 16-1024, d = 16, 32 samples (about a CPU minute)",
        tuple({"block": (block,), "activation": (act,), "init": inits, "stepper": ("euler", "heun", "rk4"),
               "beta": _grid(0.0, 1.2, 13), "depth": _doublings(16, 1024), "width": (16,), "samples": (32,),
               "dtype": ("float32",)}
              for block, act, inits in (("antisym", "identity", ("iid", "shared")), ("res3", "relu", ("iid",)))),
    ),
    Preset(
        "marion-fig9",
        "Marion et al. (2025) accuracy heatmap, for a GPU: res1 relu fgn, d = 30, L = 1000, "
        "H and beta in 0.1:0.9:10, 10 epochs on digits",
        ({"block": ("res1",), "activation": ("relu",), "init": ("fgn",), "hurst": _grid(0.1, 0.9, 10),
          "beta": _grid(0.1, 0.9, 10), "depth": (1000,), "width": (30,), "samples": (4,),
          "dtype": ("float32",)},),
        train={"epochs": 10, "dataset": "digits", "lrs": (1e-3, 1e-2), "optimizer": "adam",
               "batch_size": 64},
    ),
    Preset(
        "landscape",
        "Haber & Ruthotto (2017) lecture example, not a grid of cells (run by sim.landscape): the "
        "objective over (theta1, theta2) in [-2, 4]^2 for N = 5 and N = 100 steps, and how rough it is",
        (),
    ),
)}

DEFAULT_PRESET = "quick"
