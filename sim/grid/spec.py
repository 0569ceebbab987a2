"""Grid specifications: axis values from flags, presets and TOML files, expanded into cells.

A grid is a list of sub-grids; a sub-grid maps each axis (a `Cell` field) to a tuple of values and
stands for their Cartesian product, with two rules that keep the product meaningful:

- `hurst` values apply to the inits that take a Hurst index (fgn, fbm) and `lengthscale` values to
  `smooth`; other inits have no regularity axis. `dist` applies to `iid` only (others are Gaussian),
  and `negative_slope` to `leaky_relu` only.
- `damping` applies to the `antisym` block only (other blocks have none); `stepper` to every block.
- The `linear` block has no activation: its cells carry activation='identity' (docs/theory.md §1:
  linear is res1 with sigma = identity), whatever the activation axis says.

Cells are deduplicated by key, keeping the first occurrence. Text syntax (flags and TOML strings):
comma-separated lists, and ranges `start:stop:count` (inclusive, evenly spaced, count >= 2).
Every error is a `GridError` whose message names the source, the value and what is allowed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

from sim.cell import Cell

TEXT_AXES = ("block", "activation", "init", "dist", "dtype", "stepper")
INT_AXES = ("depth", "width", "input_dim", "samples", "seed")
FLOAT_AXES = ("negative_slope", "hurst", "lengthscale", "beta", "damping")
AXES = TEXT_AXES + INT_AXES + FLOAT_AXES

# Values of an axis a sub-grid does not name (the Cell defaults; regularity has none).
DEFAULTS: dict[str, tuple[Any, ...]] = {
    "block": ("res3",), "activation": ("relu",), "init": ("iid",), "dist": ("gaussian",),
    "dtype": ("float32",), "depth": (64,), "width": (32,), "input_dim": (None,), "samples": (64,),
    "seed": (0,), "negative_slope": (0.01,), "hurst": (), "lengthscale": (), "beta": (0.5,),
    "stepper": ("euler",), "damping": (0.0,),
}
HURST_INITS = ("fgn", "fbm")
LENGTHSCALE_INITS = ("smooth",)
# Decimal places kept from a range: 0:1.2:13 gives 0.3, not 0.30000000000000004.
RANGE_DIGITS = 12

SubGrid = dict[str, tuple[Any, ...]]


class GridError(ValueError):
    """A bad grid input; the message reads '<source>=<value> is not allowed: <what is allowed>'."""

    def __init__(self, source: str, value: Any, allowed: str):
        super().__init__(f"{source}={value} is not allowed: {allowed}")


def _number(source: str, text: str, integer: bool) -> float | int:
    """One number from text; GridError naming the source otherwise."""
    try:
        value = float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise GridError(source, text, f"expected {kind}, a comma-separated list or "
                        "a range start:stop:count") from None
    if not math.isfinite(value):
        raise GridError(source, text, "expected a finite number")
    if integer:
        if value != int(value):
            raise GridError(source, text, "expected an integer")
        return int(value)
    return value


def _range(source: str, text: str, integer: bool) -> list[float | int]:
    """start:stop:count -> count evenly spaced values from start to stop inclusive."""
    parts = text.split(":")
    usage = "expected a range start:stop:count with start < stop and an integer count >= 2"
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise GridError(source, text, usage)
    try:
        start, stop, count = float(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        raise GridError(source, text, usage) from None
    if not (math.isfinite(start) and math.isfinite(stop)) or not start < stop:
        raise GridError(source, text, usage)
    if count != int(count) or count < 2:
        raise GridError(source, text, usage)
    n = int(count)
    values = [round(start + (stop - start) * i / (n - 1), RANGE_DIGITS) for i in range(n)]
    if integer:
        bad = [v for v in values if v != int(v)]
        if bad:
            raise GridError(source, text, f"the range gives non-integer values ({bad[0]:g}); "
                            "choose start, stop and count so that the step is an integer")
        return [int(v) for v in values]
    return values


def parse_text(axis: str, source: str, text: str) -> tuple[Any, ...]:
    """Values of `axis` from a flag's text: 'a,b,c' or 'start:stop:count' (or a mix)."""
    items = [t.strip() for t in str(text).split(",")]
    if not items or any(not t for t in items):
        raise GridError(source, text, "expected a non-empty comma-separated list without empty items")
    values: list[Any] = []
    for item in items:
        if axis in TEXT_AXES:
            if ":" in item:
                raise GridError(source, text, "ranges start:stop:count apply to numeric axes only")
            values.append(item)
        elif ":" in item:
            values.extend(_range(source, item, axis in INT_AXES))
        else:
            values.append(_number(source, item, axis in INT_AXES))
    return _unique(values)


def parse_value(axis: str, source: str, value: Any) -> tuple[Any, ...]:
    """Values of `axis` from a TOML value: a scalar, a list of scalars, or a text as for flags."""
    if isinstance(value, str):
        return parse_text(axis, source, value)
    items = value if isinstance(value, list) else [value]
    if not items:
        raise GridError(source, "[]", "expected at least one value")
    values: list[Any] = []
    for item in items:
        if isinstance(item, str):
            values.extend(parse_text(axis, source, item))
        elif isinstance(item, bool) or not isinstance(item, int | float):
            raise GridError(source, repr(item), "expected numbers, texts or lists of them")
        elif axis in TEXT_AXES:
            raise GridError(source, item, "expected a text")
        else:
            values.append(_number(source, repr(item), axis in INT_AXES))
    return _unique(values)


def _unique(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


# A valid cell for each axis, so that one value of the axis can be checked on its own.
_PROBES: dict[str, dict[str, Any]] = {"hurst": {"init": "fgn"}, "lengthscale": {"init": "smooth"},
                                      "negative_slope": {"activation": "leaky_relu"},
                                      "damping": {"block": "antisym"}}


def check_axis(axis: str, source: str, values: Sequence[Any]) -> None:
    """GridError when a value of the axis is not allowed for a Cell (named by its source)."""
    for value in values:
        probe = dict(_PROBES.get(axis, {}))
        if axis == "init":
            probe.update(hurst=0.5 if value in HURST_INITS else None,
                         lengthscale=1.0 if value in LENGTHSCALE_INITS else None)
        try:
            Cell(**{**probe, axis: value})
        except ValueError as exc:
            allowed = str(exc).split(" is not allowed: ", 1)[-1]
            raise GridError(source, value, allowed) from None


def expand(grid: Sequence[SubGrid], *, device: str) -> list[Cell]:
    """Every cell of the grid, deduplicated by key in order of first appearance.

    Raises GridError when an init needs a regularity axis the sub-grid does not give.
    """
    cells: dict[str, Cell] = {}
    for sub in grid:
        for cell in _expand_one({**DEFAULTS, **sub}, device):
            cells.setdefault(cell.key(), cell)
    return list(cells.values())


def _expand_one(axes: SubGrid, device: str) -> Iterable[Cell]:
    for block, activation in _block_activations(axes):
        slopes = axes["negative_slope"] if activation == "leaky_relu" else DEFAULTS["negative_slope"]
        dampings = axes["damping"] if block == "antisym" else DEFAULTS["damping"]
        for slope, init, stepper, damping in itertools.product(slopes, axes["init"], axes["stepper"], dampings):
            for reg, dist in itertools.product(_regularities(axes, init),
                                               axes["dist"] if init == "iid" else ("gaussian",)):
                for width, input_dim, samples, seed, dtype, depth, beta in itertools.product(
                        axes["width"], axes["input_dim"], axes["samples"], axes["seed"],
                        axes["dtype"], axes["depth"], axes["beta"]):
                    yield Cell(block=block, activation=activation, negative_slope=slope, init=init,
                               dist=dist, beta=beta, depth=depth, width=width, samples=samples,
                               input_dim=input_dim, dtype=dtype, device=device, seed=seed,
                               stepper=stepper, damping=damping, **reg)


def _block_activations(axes: SubGrid) -> Iterable[tuple[str, str]]:
    for block in axes["block"]:
        if block == "linear":
            yield block, "identity"
        else:
            for activation in axes["activation"]:
                yield block, activation


def _regularities(axes: SubGrid, init: str) -> list[dict[str, float]]:
    if init in HURST_INITS:
        if not axes["hurst"]:
            raise GridError("--init", init, f"init {init!r} needs Hurst indices: give --hurst "
                            "with values in (0, 1)")
        return [{"hurst": h} for h in axes["hurst"]]
    if init in LENGTHSCALE_INITS:
        if not axes["lengthscale"]:
            raise GridError("--init", init, f"init {init!r} needs length-scales: give "
                            "--lengthscale with values > 0")
        return [{"lengthscale": ell} for ell in axes["lengthscale"]]
    return [{}]


def uses_axis(grid: Sequence[SubGrid], axis: str) -> bool:
    """Whether some cell of the grid would use the regularity axis `axis` (hurst or lengthscale)."""
    inits = HURST_INITS if axis == "hurst" else LENGTHSCALE_INITS
    return any(i in inits for sub in grid for i in {**DEFAULTS, **sub}["init"])


def uses_block(grid: Sequence[SubGrid], block: str, flag: str | None = None) -> bool:
    """Whether some cell of the grid has `block` (the --block flag's text, when given, replaces
    the grid's blocks)."""
    if flag is not None:
        return block in [b.strip() for b in flag.split(",")]
    return any(block in {**DEFAULTS, **sub}["block"] for sub in grid)
