"""Monte Carlo simulation of untrained deep ResNets at initialization."""

from sim.cell import Cell
from sim.engine import QUANTITIES, SimResult, simulate, simulate_betas

__all__ = ["Cell", "QUANTITIES", "SimResult", "simulate", "simulate_betas"]
