"""One experiment cell: the single description of a network that `sim` and `theory` share.

A `Cell` names the architecture (block, activation), the initialization family along the layer
index (iid, fgn, fbm, smooth, shared), the scaling exponent beta (alpha_L = L**-beta), the sizes
(depth, width, input dimension, samples), the numerics (dtype, device) and the root seed.
Everything is validated at construction: a bad value raises `ValueError` naming the field, the
value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any

BLOCKS = ("res1", "res3", "linear", "antisym")
STEPPERS = ("euler", "heun", "rk4")
ACTIVATIONS = ("relu", "tanh", "identity", "leaky_relu", "gelu")
INITS = ("iid", "fgn", "fbm", "smooth", "shared")
DISTS = ("gaussian", "uniform")
DTYPES = ("float32", "float64")
DEVICES = ("auto", "cpu", "cuda")

# Activations sigma with sigma(c x) = c sigma(x) for c > 0: the state can be renormalized freely.
HOMOGENEOUS = ("relu", "identity", "leaky_relu")

# Fields that do not change the weights, inputs or loss directions drawn (see `draw_identity`).
NOT_IN_DRAW = ("beta", "dtype", "device", "samples")

# Bumped whenever a change alters the numbers the engine produces for a given cell and seed,
# so that stored results from an older engine are never mixed with new ones.
# 2: float32 beta blocks of 16 columns (were 8), antisym block and Heun/RK4 steppers.
# 3: fGn standard normals shared across H and drawn 256 paths at a time; 1/sqrt(d) in the spectrum.
# 4: fGn circulant embedding of size 2m, m >= L the next 7-smooth number (was 2L): the numbers of
#    fgn and fbm cells change where the weight paths' length is not 7-smooth (Euler at L = 1000 or
#    1024 keeps its numbers; Heun and RK4 at L = 1000 use 1001 layers and change).
# 5: Euler rows padded to 8 and past torch's small-product loop, rows aligned to 32 bytes, and the
#    backward's x @ M through a transposed copy where BLAS rounds rows by position (see
#    `sim.engine.state_rows`): a beta's numbers no longer depend on the betas beside it at any width.
#    Numbers change at d <= 4 and at some odd or small widths (float32 d = 5, 7, 9, 10, 11; float64 at
#    most odd d), not at d = 8, 12, 16, 24, 40, 64 or 128.
ENGINE_VERSION = 5

# Largest input dimension: each sample draws its input map A (d x n_in) at once, and its float32 draws
# of 2^24 coordinates (64 MiB at d = 1) are already far past any input the grid's tasks use; the
# memory budget bounds the rest (`sim.engine.memory_plan` counts A).
MAX_INPUT_DIM = 2**24


def _allowed(name: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{name}={value!r} is not allowed: {allowed}")


def _is_bool(value: Any) -> bool:
    # numpy's bool_ is not a Python bool but counts as one here
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """An integer (Python or numpy, or an integral real such as 64.0) in [minimum, maximum]."""
    expected = f"expected an integer >= {minimum}" + ("" if maximum is None else f" and <= {maximum}")
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise _allowed(name, value, expected)
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif math.isfinite(value) and value == int(value):
        number = int(value)
    else:
        raise _allowed(name, value, expected)
    if number < minimum or (maximum is not None and number > maximum):
        raise _allowed(name, value, expected)
    return number


def _check_real(name: str, value: Any) -> float:
    """A finite real (Python or numpy scalar, or a numeric text) as a float; -0.0 becomes 0.0, so
    that equal values give equal keys (adding 0.0 changes no other float)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _allowed(name, value, "expected a real number") from None
    if _is_bool(value) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _allowed(name, value, "expected a finite real number")
    return float(value) + 0.0


@dataclass(frozen=True)
class Cell:
    """One simulated setting: h_{k+1} = h_k + alpha_L * V_{k+1} sigma(W_{k+1} h_k), alpha_L = L**-beta.

    Fields:
        block: the vector field f_k of layer k: 'res1' (V sigma(h)), 'res3' (V sigma(W h)),
            'linear' (V h) or 'antisym' (sigma((K - K^T - damping I) h), K in the slot of V).
        activation: 'relu', 'tanh', 'identity', 'leaky_relu' (slope `negative_slope`), 'gelu'.
        negative_slope: slope a in [0, 1] of leaky_relu for x < 0 (ignored otherwise).
        init: dependence of the weights along the layer index: 'iid', 'fgn' (Hurst `hurst`),
            'fbm' (Hurst `hurst`), 'smooth' (length-scale `lengthscale`), 'shared'.
        dist: entry distribution for 'iid': 'gaussian' or 'uniform' (others are Gaussian).
        hurst: H in (0, 1) for 'fgn' and 'fbm'; must be None otherwise.
        lengthscale: l > 0 for 'smooth'; must be None otherwise.
        beta: scaling exponent, beta >= 0.
        depth: number of residual blocks L >= 1.
        width: hidden width d >= 1.
        input_dim: input dimension n_in; None means n_in = d and h_0 = x.
        samples: independent networks (and input/loss pairs) drawn, >= 2.
        dtype: 'float32' or 'float64' (arithmetic; the random source is shared, see sim.weights).
        device: 'auto' (CUDA when present), 'cpu' or 'cuda'.
        seed: root seed; the weights' seed is derived from it and the cell's identity without beta.
        stepper: how a layer advances h along f: 'euler' (h + alpha f_k(h), the usual ResNet),
            'heun' or 'rk4' (explicit Runge-Kutta steps of size alpha whose stages at layer time
            k + c use the weights interpolated linearly between layers k and k + 1; see
            `sim.steppers`). Heun and RK4 use L + 1 weight sets.
        damping: gamma >= 0 of the 'antisym' block (must be 0 for the other blocks).
    """

    block: str = "res3"
    activation: str = "relu"
    init: str = "iid"
    beta: float = 0.5
    depth: int = 64
    width: int = 32
    samples: int = 64
    hurst: float | None = None
    lengthscale: float | None = None
    dist: str = "gaussian"
    negative_slope: float = 0.01
    input_dim: int | None = None
    dtype: str = "float32"
    device: str = "auto"
    seed: int = 0
    stepper: str = "euler"
    damping: float = 0.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.block not in BLOCKS:
            raise _allowed("block", self.block, f"one of {', '.join(BLOCKS)}")
        if self.activation not in ACTIVATIONS:
            raise _allowed("activation", self.activation, f"one of {', '.join(ACTIVATIONS)}")
        if self.init not in INITS:
            raise _allowed("init", self.init, f"one of {', '.join(INITS)}")
        if self.dist not in DISTS:
            raise _allowed("dist", self.dist, f"one of {', '.join(DISTS)}")
        if self.dist != "gaussian" and self.init != "iid":
            raise _allowed("dist", self.dist, "'uniform' only with init='iid'")
        if self.stepper not in STEPPERS:
            raise _allowed("stepper", self.stepper, f"one of {', '.join(STEPPERS)}")
        damping = _check_real("damping", self.damping)
        if damping < 0:
            raise _allowed("damping", self.damping, "expected a damping gamma >= 0")
        if damping != 0 and self.block != "antisym":
            raise _allowed("damping", self.damping, f"only with block 'antisym', not {self.block!r}")
        set_(self, "damping", damping)
        if self.dtype not in DTYPES:
            raise _allowed("dtype", self.dtype, f"one of {', '.join(DTYPES)}")
        if self.device not in DEVICES:
            raise _allowed("device", self.device, f"one of {', '.join(DEVICES)}")
        beta = _check_real("beta", self.beta)
        if beta < 0:
            raise _allowed("beta", self.beta, "expected beta >= 0")
        set_(self, "beta", beta)
        set_(self, "depth", _check_int("depth", self.depth, 1))
        set_(self, "width", _check_int("width", self.width, 1))
        set_(self, "samples", _check_int("samples", self.samples, 2))
        set_(self, "seed", _check_int("seed", self.seed, 0))
        if self.input_dim is not None:
            set_(self, "input_dim", _check_int("input_dim", self.input_dim, 1, MAX_INPUT_DIM))
        slope = _check_real("negative_slope", self.negative_slope)
        if not 0.0 <= slope <= 1.0:
            raise _allowed("negative_slope", self.negative_slope, "expected a value in [0, 1]")
        set_(self, "negative_slope", slope)
        if self.init in ("fgn", "fbm"):
            if self.hurst is None:
                raise _allowed("hurst", None, f"init={self.init!r} needs a Hurst index in (0, 1)")
            h = _check_real("hurst", self.hurst)
            if not 0.0 < h < 1.0:
                raise _allowed("hurst", self.hurst, "expected a Hurst index in the open interval (0, 1)")
            set_(self, "hurst", h)
        elif self.hurst is not None:
            raise _allowed("hurst", self.hurst, f"only with init 'fgn' or 'fbm', not {self.init!r}")
        if self.init == "smooth":
            if self.lengthscale is None:
                raise _allowed("lengthscale", None, "init='smooth' needs a length-scale > 0")
            ell = _check_real("lengthscale", self.lengthscale)
            if ell <= 0:
                raise _allowed("lengthscale", self.lengthscale, "expected a length-scale > 0")
            set_(self, "lengthscale", ell)
        elif self.lengthscale is not None:
            raise _allowed("lengthscale", self.lengthscale, f"only with init 'smooth', not {self.init!r}")

    # ----------------------------------------------------------------- derived values
    @property
    def alpha(self) -> float:
        """The residual scaling alpha_L = L**-beta."""
        return float(self.depth) ** (-self.beta)

    @property
    def weight_layers(self) -> int:
        """Weight sets drawn along the layer index: L for Euler, L + 1 for Heun and RK4 (whose
        last stages use the weights of layer k + 1)."""
        return self.depth if self.stepper == "euler" else self.depth + 1

    @property
    def n_in(self) -> int:
        """Input dimension: `input_dim`, or the width when the input is fed directly."""
        return self.width if self.input_dim is None else self.input_dim

    @property
    def homogeneous(self) -> bool:
        """True when sigma is positively homogeneous (relu, leaky_relu, identity) or absent."""
        return self.block == "linear" or self.activation in HOMOGENEOUS

    @property
    def regularity(self) -> float | None:
        """The regularity parameter of the init family: H for fgn/fbm, l for smooth, else None."""
        if self.init in ("fgn", "fbm"):
            return self.hurst
        if self.init == "smooth":
            return self.lengthscale
        return None

    def replace(self, **changes: Any) -> Cell:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict[str, Any]:
        """Every field that defines the cell, as plain JSON-able values.

        `stepper` is left out when it is 'euler' and `damping` when the block is not 'antisym'
        (where it is always 0), so that cells that existed before these fields keep their keys.
        """
        ident = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if self.stepper == "euler":
            ident.pop("stepper")
        if self.block != "antisym":
            ident.pop("damping")
        return ident

    def draw_identity(self) -> dict[str, Any]:
        """The fields that determine the random draws: everything but beta, dtype, device, samples.

        Cells that differ only in beta share weights, inputs and loss directions (common random
        numbers); fgn and fbm cells that differ only in H share their standard normals, which the
        Davies-Harte embedding turns into paths of each H; samples are drawn per index, so more
        samples extend a smaller run.
        """
        ident = self.identity()
        for name in NOT_IN_DRAW:
            ident.pop(name)
        if self.init in ("fgn", "fbm"):
            ident.pop("hurst")
        if self.activation != "leaky_relu":
            ident.pop("negative_slope")
        return ident

    def key(self) -> str:
        """A stable hash of the cell's identity and the engine version (for result stores)."""
        payload = json.dumps({**self.identity(), "engine": ENGINE_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def draw_seed(self) -> int:
        """The 63-bit seed of this cell's random draws (independent of beta and of grid order)."""
        payload = json.dumps(self.draw_identity(), sort_keys=True)
        return int.from_bytes(hashlib.sha256(payload.encode()).digest()[:8], "little") >> 1

    def label(self) -> str:
        """A short human-readable description, e.g. 'res3 relu fgn(H=0.8) beta=0.5 L=256 d=32'."""
        act = self.activation
        if act == "leaky_relu":
            act = f"leaky_relu({self.negative_slope:g})"
        init = self.init
        if self.init in ("fgn", "fbm"):
            init = f"{self.init}(H={self.hurst:g})"
        elif self.init == "smooth":
            init = f"smooth(l={self.lengthscale:g})"
        elif self.init == "iid" and self.dist == "uniform":
            init = "iid(uniform)"
        act = "" if self.block == "linear" else f" {act}"
        block = self.block
        if self.block == "antisym" and self.damping:
            block = f"antisym(gamma={self.damping:g})"
        step = "" if self.stepper == "euler" else f" {self.stepper}"
        return f"{block}{act} {init}{step} beta={self.beta:g} L={self.depth} d={self.width}"
