"""The depth check, `python -m sim.check`: which regime a user's own residual network is in, at which
scaling L^-beta of its branches it becomes non-trivial, and what theory says about it.

    from sim.check import depth_check
    result = depth_check(build, [4, 16, 64, 256], inputs=(8, 16, 64))
    print(result.sentence)

Modules: `api` (depth_check), `command` (the command line), `run` (validation, the depths, the
tables), `factory` (the user's factory and its block sequence), `stream` (running the blocks forward
and backward), `correlation` (the weights' correlation along depth and their family), `decisions`
(regimes, thresholds, theory, the sentence), `res3` (the product's res3 network as a Module).
"""

from sim.check.api import depth_check
from sim.check.errors import CheckError
from sim.check.res3 import Res3Block, Res3Network
from sim.check.run import CheckResult, load

__all__ = ["CheckError", "CheckResult", "Res3Block", "Res3Network", "depth_check", "load"]
