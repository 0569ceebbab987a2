"""The layer loops' state arithmetic, shared by the Euler loop (`sim.engine`) and the Runge-Kutta and
antisymmetric loops (`sim.steppers`): unit starting states, the renormalized update, the log of
the deviation, and the extra scale that keeps the deviation of a collapsing state finite. States
are (G, S, d, B) (beta groups, samples, width, betas of a group) or Euler rows (S, R, d); the
width is axis `dim`."""

from __future__ import annotations

import math

import torch


def unit_states(v: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """v (S, d) divided by its norm, repeated over the beta columns: a (G, S, d, B) state."""
    n, d = v.shape
    return (v / torch.linalg.vector_norm(v, dim=1, keepdim=True)).view(1, n, d, 1).expand(shape).contiguous()


def log_deviation(log_scale: torch.Tensor, dev: torch.Tensor, shift: DeviationShift | None = None) -> torch.Tensor:
    """log ||h - h_0|| relative to the start, from the log-scale and the scaled deviation (and its
    shift, see `DeviationShift`)."""
    if shift is None:
        return log_scale + torch.linalg.vector_norm(dev, dim=2).double().log()
    shift.settle(log_scale, dev)
    return shift.log_norm(log_scale, torch.linalg.vector_norm(dev, dim=2).double())


# Layers between renormalizations where the activation is positively homogeneous (the state's
# scale then enters nothing but the log-norm). One layer multiplies ||h|| by at most
# 1 + alpha ||V|| ||W|| ~ 1 + 4 alpha <= 5 (alpha <= 1, spectral norms ~ 2), so 8 layers stay far
# inside float32 range (5**8 ~ 4e5), and the norm's four passes over the state are paid once in 8.
RENORM_EVERY = 8


def advance(x: torch.Tensor, dev: torch.Tensor, step: torch.Tensor, log_s: torch.Tensor,
            renorm: bool = True, dim: int = 2, shift: DeviationShift | None = None) -> torch.Tensor:
    """Add the layer's increment to the state x and to its deviation dev, then (if `renorm`) divide
    both by ||x|| (over the width axis `dim`, in place); returns the updated log-scale. With a
    `shift`, the increment reaches dev scaled like it, and the shift is updated after a
    renormalization."""
    x.add_(step)
    if shift is None or shift.factor is None:
        dev.add_(step)
    else:
        # step * 2^-bits is exact, so this is (dev * 2^bits + step) * 2^-bits rounded once
        dev.addcmul_(step, shift.factor)
    if not renorm:
        return log_s
    # x is a unit state plus a few steps, so its squares cannot overflow; a plain sum of squares
    # is about 8x faster than linalg.vector_norm's reduction over this middle axis.
    norm = x.square().sum(dim, keepdim=True).sqrt_()
    x.div_(norm)
    dev.div_(norm)
    log_s = log_s + norm.squeeze(dim).double().log()
    if shift is not None:
        shift.update(log_s, dev)
    return log_s


# A deviation is shifted by multiples of this many bits (a factor of 2^16 = e^11.1), so that a
# collapsing state changes its shift about once per 11 units of its log-norm.
SHIFT_BITS = 16
# Renormalizations between checks of the log-norms (each check reads a flag on the host): every 64
# layers of the Euler loop with a homogeneous activation, every 8 otherwise. A row is shifted once
# its log-norm is below -LIMIT (about -40 in float32), and its stored deviation overflows only
# past e^88, so a check in time needs no layer to shrink the norm by e^48 between two checks.
CHECK_EVERY = 8
# Share of the dtype's log-range a stored deviation may reach at a check: its squares then stay
# finite (e^{2 x 0.45 x 88.7} < 3.4e38 in float32).
_LIMIT_SHARE = 0.45


class DeviationShift:
    """The extra power-of-two scale of a deviation carried in the state's scale.

    The deviation is carried as (h_k - h_0) / ||h_k||; when the state collapses (||h_k|| -> 0)
    its norm grows like ||h_0|| / ||h_k|| and its squares overflow, in float32 once
    ||h_k|| / ||h_0|| < e^-44. A row whose log-norm falls below -LIMIT (0.45 of the dtype's
    log-range: -39.9 in float32, -319 in float64) keeps its deviation divided by 2^bits, bits a
    multiple of SHIFT_BITS chosen from the log-norm at each check, and later increments are scaled
    the same way. Powers of two scale exactly, so a shifted row holds bitwise the numbers of the
    unshifted arithmetic wherever that stays in range, and its log comes back exactly
    (`log_norm`); rows never shifted run the operations they always ran.

    level: (same shape as the log-scale) int64 levels, bits = SHIFT_BITS * level, or None while
    no row is shifted; factor: 2^-bits in the state's dtype, broadcasting over the width axis.
    """

    def __init__(self, dim: int = 2):
        self.dim = dim
        self.level: torch.Tensor | None = None
        self.factor: torch.Tensor | None = None
        self._calls = 0

    @staticmethod
    def limit(dtype: torch.dtype) -> float:
        """The log-norm below which a row is shifted."""
        return _LIMIT_SHARE * math.log(torch.finfo(dtype).max)

    def update(self, log_s: torch.Tensor, dev: torch.Tensor) -> None:
        """After a renormalization: every CHECK_EVERY calls, shift each row for its log-norm."""
        self._calls += 1
        if self._calls % CHECK_EVERY == 0:
            self.settle(log_s, dev)

    def settle(self, log_s: torch.Tensor, dev: torch.Tensor) -> None:
        """Shift each row of dev (in place) as its log-norm `log_s` asks, now."""
        limit = self.limit(dev.dtype)
        if self.level is None and not bool((log_s < -limit).any()):
            return
        need = ((-log_s - limit).clamp_min(0) / (SHIFT_BITS * math.log(2))).ceil().long()
        old = torch.zeros_like(need) if self.level is None else self.level
        if torch.equal(need, old):
            return
        dev.mul_(_powers(old - need, dev.dtype).unsqueeze(self.dim))
        if not bool(need.any()):
            self.level = self.factor = None
            return
        self.level = need
        self.factor = _powers(-need, dev.dtype).unsqueeze(self.dim)

    def log_norm(self, log_s: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        """log_s + log(norm * 2^bits) for the float64 norm of the stored deviation: the product is
        exact in float64 (so an unshifted computation's value comes back bitwise), and past
        float64's range the log is the sum of the two."""
        if self.level is None:
            return log_s + norm.log()
        bits = self.level.double() * SHIFT_BITS
        exact = torch.ldexp(norm, bits)
        return log_s + torch.where(torch.isfinite(exact), exact.log(), norm.log() + bits * math.log(2))


def _powers(levels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """2^(SHIFT_BITS * levels), computed exactly in float64 and then cast (0 where it underflows)."""
    return torch.ldexp(torch.ones_like(levels, dtype=torch.float64), levels.double() * SHIFT_BITS).to(dtype)
