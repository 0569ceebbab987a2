"""Monte Carlo simulation of untrained deep ResNets at initialization.

`sim.Cell` is importable without torch (theory uses it); the engine's names load torch on first use.
"""

from __future__ import annotations

from typing import Any

from sim.cell import Cell

__all__ = ["Cell", "QUANTITIES", "SimResult", "simulate", "simulate_betas"]
_ENGINE_NAMES = {"QUANTITIES", "SimResult", "simulate", "simulate_betas"}


def __getattr__(name: str) -> Any:
    if name in _ENGINE_NAMES:
        from sim import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
