"""`python -m sim.bench`: speed and memory of the engine and of the grid command (`sim.bench.measure`).

It measures applications as well as the engine (the `marion-fig7` grid, the store), so it sits beside
them rather than in the engine's top level."""
