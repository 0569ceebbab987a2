"""`python -m theory`: the claims registry, or one cell's predictions.

    python -m theory                                   # the registry as a table
    python -m theory --latex                           # ... with each formula in LaTeX
    python -m theory --block res3 --activation relu --init fgn --hurst 0.8 --beta 0.6
    python -m theory --init fgn --hurst 0.8 --depths 64,256,1024,4096
    python -m theory --block antisym --activation identity --init shared --stepper heun --beta 0.7

Bad values print one line naming the flag and exit with code 2; so do cells beyond what the
predictions can be computed for in seconds: depths (--depth and --depths together) above 3 x 10^6
layers (fbm res3: squares above 3 x 4096^2), beta above 100, damping above 100.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

import sympy

from sim.cell import ACTIVATIONS, BLOCKS, DISTS, INITS, STEPPERS, Cell
from theory.claims import claims
from theory.predict import predictions
from theory.scope import NotCovered

CELL_FLAGS = ("block", "activation", "negative_slope", "init", "hurst", "lengthscale", "beta",
              "depth", "width", "dist", "stepper", "damping")

# What one cell's predictions can be computed for in seconds. The finite-depth sums run over the
# layers of every depth asked for (--depth and each of --depths): O(L) time and memory per depth,
# about 1 s at L = 10^6 (gelu), and O(L^2) for fbm with res3, about 1.6 s at L = 4096 (tanh). The
# exact moments hold alpha_L^2 = L^(-2 beta) as a rational of about 2 beta log10(L) digits (1200
# at beta = 100, L = 10^6), and the damping enters them as a power of the depth.
MAX_LAYERS = 3 * 10**6  # the depths added up
MAX_FBM_RES3_WORK = 3 * 4096**2  # fbm res3: the squares of the depths added up
MAX_BETA = 100.0
MAX_DAMPING = 100.0


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad value on one line (and exits 2, as argparse does)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a real number") from None


def _depths(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if len(set(values)) < 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected at least two distinct depths >= 1")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (cell flags take one value each)."""
    p = _OneLineParser(prog="python -m theory",
                       description="Print the claims registry, or the predictions for one cell.")
    p.add_argument("--block", choices=BLOCKS)
    p.add_argument("--activation", choices=ACTIVATIONS)
    p.add_argument("--negative-slope", dest="negative_slope", type=_float)
    p.add_argument("--init", choices=INITS)
    p.add_argument("--hurst", type=_float)
    p.add_argument("--lengthscale", type=_float)
    p.add_argument("--beta", type=_float)
    p.add_argument("--depth", type=_int)
    p.add_argument("--width", type=_int)
    p.add_argument("--dist", choices=DISTS)
    p.add_argument("--stepper", choices=STEPPERS)
    p.add_argument("--damping", type=_float, help="gamma >= 0 of the antisym block")
    p.add_argument("--latex", action="store_true", help="print each claim's formula in LaTeX under its row")
    p.add_argument("--depths", type=_depths,
                   help="comma-separated depths for the finite-depth slope and threshold")
    return p


def _registry_table(latex: bool = False) -> str:
    """One row per claim (name, status, source, statement); with `latex`, each formula below its row."""
    rows = [(c.name, c.status, c.source, c.statement) for c in claims()]
    widths = [max(len(r[i]) for r in rows + [("name", "status", "source", "")]) for i in range(3)]
    head = f"{'name':<{widths[0]}}  {'status':<{widths[1]}}  {'source':<{widths[2]}}  statement"
    lines = [head, "-" * len(head)]
    for item, (n, s, src, text) in zip(claims(), rows, strict=True):
        lines.append(f"{n:<{widths[0]}}  {s:<{widths[1]}}  {src:<{widths[2]}}  {text}")
        if latex:
            lines.append(f"{'':<{widths[0]}}  $ {item.latex()} $")
    return "\n".join(lines)


def _show(value: sympy.Basic) -> str:
    """Exact numbers with their decimal value; equations in LaTeX; floats as they are."""
    if isinstance(value, sympy.Eq):
        return sympy.latex(value)
    if value.is_Float or value.is_Rational or value in (sympy.oo, -sympy.oo) or not value.is_number:
        return sympy.sstr(value)
    return f"{sympy.sstr(value)} = {float(value):.6g}"


def _cell_report(cell: Cell, depths: list[int] | None) -> str:
    lines = [f"cell: {cell.label()}"]
    try:
        items = predictions(cell, depths)
    except NotCovered as exc:
        return "\n".join(lines + [f"not covered: {exc}"])
    for p in items:
        note = f"  ({p.note})" if p.note else ""
        lines.append(f"{p.name}: {_show(p.value)}  [{p.status}; {p.claim}]{note}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 on success, 2 on a bad value)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own errors (2) and --help (0), as a return value
        return int(exc.code or 0)
    given = {name: getattr(args, name) for name in CELL_FLAGS if getattr(args, name) is not None}
    if not given and args.depths is None:
        print(_registry_table(args.latex))
        return 0
    try:
        cell = Cell(**given)
        _check_bounds(cell, args.depths)
    except ValueError as exc:
        match = re.match(r"(\w+)=", str(exc))
        flag = "--" + match.group(1).replace("_", "-") if match else "cell"
        print(f"{parser.prog}: error: argument {flag}: {exc}", file=sys.stderr)
        return 2
    print(_cell_report(cell, args.depths))
    return 0


def _check_bounds(cell: Cell, depths: list[int] | None) -> None:
    """ValueError naming the field when the cell's predictions would take more than seconds (see
    MAX_LAYERS and the bounds beside it)."""
    values = [cell.depth, *(depths or [])]
    if cell.init == "fbm" and cell.block == "res3":
        cost, limit = (lambda vs: sum(v * v for v in vs)), MAX_FBM_RES3_WORK
        allowed = f"the squares of the depths (--depth and --depths) adding up to at most {limit} (fbm res3 " \
                  "cells' finite-depth sums cost O(L^2))"
    else:
        cost, limit = sum, MAX_LAYERS
        allowed = f"depths (--depth and --depths) adding up to at most {limit} layers (the finite-depth sums " \
                  "cost O(L) time and memory)"
    if cost(values) > limit:
        if cost([cell.depth]) > limit or not depths:
            raise ValueError(f"depth={cell.depth} is not allowed: expected {allowed}")
        raise ValueError(f"depths={','.join(map(str, depths))} is not allowed: expected {allowed}")
    if cell.beta > MAX_BETA:
        raise ValueError(f"beta={cell.beta:g} is not allowed: expected beta <= {MAX_BETA:g} (the exact moments "
                         "hold L^(-2 beta) as a rational number)")
    if cell.damping > MAX_DAMPING:
        raise ValueError(f"damping={cell.damping:g} is not allowed: expected a damping <= {MAX_DAMPING:g} (the "
                         "exact moments hold powers of it)")


if __name__ == "__main__":
    sys.exit(main())
