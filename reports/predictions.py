"""The boundary between the report and `theory`: sympy in, floats out.

The report asks theory only for what the stored tables do not already hold (the claims registry,
the exact and asymptotic laws, and the critical line as a curve). When `theory` cannot be imported
the report still renders from the tables and says what it had to leave out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from reports.rundata import Row

try:  # the cell dataclass is the one description of a network; the report builds it from a row
    from sim.cell import Cell
except ImportError:  # pragma: no cover - sim is part of this project
    Cell = None  # type: ignore[assignment,misc]


def load_theory() -> tuple[ModuleType | None, str | None]:
    """The theory package, or None and the reason it could not be imported."""
    try:
        import theory
    except ImportError as exc:
        return None, f"the theory package cannot be imported ({exc})"
    missing = [n for n in ("claims", "critical_beta", "NotCovered") if not hasattr(theory, n)]
    if missing:
        return None, f"the theory package lacks {', '.join(missing)}"
    return theory, None


def cell_from_row(row: Row) -> Any | None:
    """A `sim.Cell` for a cells.csv row (None when the row does not describe a valid cell)."""
    if Cell is None:
        return None
    init = row["init"]
    reg = row.get("regularity")
    kwargs: dict[str, Any] = dict(
        block=row["block"], activation=row["activation"], init=init, dist=row.get("dist") or "gaussian",
        beta=row["beta"], depth=int(row["depth"]), width=int(row["width"]),
        samples=int(row.get("samples") or 2), seed=int(row.get("seed") or 0),
        dtype=row.get("dtype") or "float32",
        device=row.get("device") if row.get("device") in ("cpu", "cuda", "auto") else "auto",
    )
    if row.get("negative_slope") is not None:
        kwargs["negative_slope"] = row["negative_slope"]
    if row.get("stepper"):
        kwargs["stepper"] = row["stepper"]
    if row.get("damping") not in (None, ""):
        kwargs["damping"] = row["damping"]
    if init in ("fgn", "fbm"):
        kwargs["hurst"] = reg
    elif init == "smooth":
        kwargs["lengthscale"] = reg
    try:
        return Cell(**kwargs)
    except (ValueError, TypeError):
        return None


def to_float(expr: Any, cell: Any = None) -> float:
    """A sympy (or plain) number as a float; free symbols named like cell fields are substituted."""
    try:
        import sympy
    except ImportError:  # pragma: no cover - sympy is a dependency
        return float(expr)
    if isinstance(expr, int | float):
        return float(expr)
    expr = sympy.sympify(expr)
    if expr.free_symbols and cell is not None:
        expr = expr.subs(_symbol_values(expr.free_symbols, cell))
    if expr.free_symbols:
        raise ValueError(f"expression {expr} still has free symbols {expr.free_symbols}")
    if expr in (sympy.oo, sympy.zoo):
        return math.inf
    if expr == -sympy.oo:
        return -math.inf
    return float(sympy.N(expr, 17))


_FIELD_BY_SYMBOL = {
    "l": "depth", "depth": "depth", "beta": "beta", "β": "beta", "d": "width", "width": "width",
    "h": "hurst", "hurst": "hurst", "ell": "lengthscale", "ℓ": "lengthscale", "lengthscale": "lengthscale",
    "a": "negative_slope", "negative_slope": "negative_slope", "alpha": "alpha", "α": "alpha",
    "alpha_l": "alpha",
}


def _symbol_values(symbols: set[Any], cell: Any) -> dict[Any, float]:
    values = {}
    for sym in symbols:
        name = _FIELD_BY_SYMBOL.get(str(sym).lower().replace("{", "").replace("}", ""))
        if name is not None and getattr(cell, name, None) is not None:
            values[sym] = float(getattr(cell, name))
    return values


def safe(call: Callable[[], Any], theory: ModuleType | None) -> Any | None:
    """The value of a theory call, or None when theory says the cell is not covered."""
    if theory is None:
        return None
    not_covered = getattr(theory, "NotCovered", ())
    try:
        return call()
    except not_covered:
        return None


def critical_curve(theory: ModuleType | None, cell: Any, xs: Sequence[float]) -> np.ndarray | None:
    """Asymptotic beta_c along the regularity axis of `cell`'s family (NaN where not covered).

    Uses theory.critical_beta_expr (one sympy expression in H per family) when theory has it, else
    theory.critical_beta cell by cell.
    """
    if theory is None or cell is None:
        return None
    field_name = {"fgn": "hurst", "fbm": "hurst", "smooth": "lengthscale"}.get(cell.init)
    out = np.full(len(xs), np.nan)
    symbol = getattr(theory, "H", None)
    if hasattr(theory, "critical_beta_expr") and symbol is not None:
        activation, slope = effective_activation(cell)
        expr = safe(lambda: theory.critical_beta_expr(cell.block, activation, cell.init, slope,
                                                      stepper=cell.stepper, damping=cell.damping), theory)
        if expr is not None and expr.free_symbols <= {symbol}:
            for i, x in enumerate(xs):
                out[i] = to_float(expr.subs(symbol, float(x)) if field_name == "hurst" else expr)
            return out if np.isfinite(out).any() else None
    for i, x in enumerate(xs):
        probe = cell.replace(**{field_name: float(x)}) if field_name else cell
        value = safe(lambda probe=probe: theory.critical_beta(probe), theory)
        if value is not None:
            try:
                out[i] = to_float(value, probe)
            except (ValueError, TypeError):
                pass
    return out if np.isfinite(out).any() else None


def effective_activation(cell: Any) -> tuple[str, float]:
    """The activation the block applies and its slope: the 'linear' block is the identity."""
    if cell.block == "linear":
        return "identity", 1.0
    return cell.activation, cell.negative_slope


def c_sigma(theory: ModuleType | None, cell: Any) -> float | None:
    """c_sigma = E sigma(Z)^2 for the cell's activation, as a float (None when unavailable)."""
    if theory is None or cell is None or not hasattr(theory, "c_sigma"):
        return None
    activation, slope = effective_activation(cell)
    value = safe(lambda: theory.c_sigma(activation, slope), theory)
    return None if value is None else to_float(value, cell)


def deviation_moment(theory: ModuleType | None, cell: Any) -> float | None:
    """Exact E||h_L - h_0||^2/||h_0||^2 for the cell, or None where theory does not give it."""
    if theory is None or cell is None or not hasattr(theory, "deviation_second_moment"):
        return None
    value = safe(lambda: theory.deviation_second_moment(cell), theory)
    return None if value is None else to_float(value, cell)


def leading_deviation(theory: ModuleType | None, cell: Any) -> float | None:
    """Leading-order E||h_L - h_0||^2/||h_0||^2 at finite depth (docs/theory.md §4.8), or None."""
    if theory is None or cell is None or not hasattr(theory, "finite_depth_deviation"):
        return None
    value = safe(lambda: theory.finite_depth_deviation(cell), theory)
    return None if value is None else to_float(value, cell)


def leading_backward_deviation(theory: ModuleType | None, cell: Any) -> float | None:
    """Leading-order E||p_0 - p_L||^2/||p_L||^2 at finite depth (docs/theory.md §4.10), or None where it is
    not derived or outside its validity at the cell's depth."""
    if theory is None or cell is None or not hasattr(theory, "backward_finite_depth_deviation"):
        return None
    if not safe(lambda: theory.backward_law_valid(cell, [cell.depth]), theory):
        return None
    value = safe(lambda: theory.backward_finite_depth_deviation(cell), theory)
    return None if value is None else to_float(value, cell)


def second_moment(theory: ModuleType | None, cell: Any) -> float | None:
    """Exact E||h_L||^2/||h_0||^2 for the cell, or None where theory does not give it."""
    if theory is None or cell is None or not hasattr(theory, "second_moment"):
        return None
    value = safe(lambda: theory.second_moment(cell), theory)
    return None if value is None else to_float(value, cell)


def lognormal_law(theory: ModuleType | None, cell: Any) -> tuple[float, float] | None:
    """(mean, variance) of log(||h_L||^2/||h_0||^2) at criticality, or None where not covered."""
    if theory is None or cell is None or not hasattr(theory, "lognormal_law"):
        return None
    value = safe(lambda: theory.lognormal_law(cell), theory)
    if value is None:
        return None
    mean, var = value
    return to_float(mean, cell), to_float(var, cell)
