"""Monte Carlo simulation of untrained deep ResNets at initialization."""

from sim.cell import Cell

__all__ = ["Cell"]
