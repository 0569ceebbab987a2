"""`python -m theory`: the claims registry, or one cell's predictions.

    python -m theory                                   # the registry as a table
    python -m theory --latex                           # ... with each formula in LaTeX
    python -m theory --block res3 --activation relu --init fgn --hurst 0.8 --beta 0.6
    python -m theory --init fgn --hurst 0.8 --depths 64,256,1024,4096
    python -m theory --block antisym --activation identity --init shared --stepper heun --beta 0.7

Bad values print one line naming the flag and exit with code 2.
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
    except ValueError as exc:
        match = re.match(r"(\w+)=", str(exc))
        flag = "--" + match.group(1).replace("_", "-") if match else "cell"
        print(f"{parser.prog}: error: argument {flag}: {exc}", file=sys.stderr)
        return 2
    print(_cell_report(cell, args.depths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
