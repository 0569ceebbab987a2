"""`python -m reports RUN_DIR [--format html,pdf] [--out PATH]`: build a run's report."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from reports.build import FORMATS, build_report
from reports.rundata import RunDirectoryError


def _formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"--format={text!r} is not allowed: a comma-separated subset of "
                                         f"{', '.join(FORMATS)}")
    return formats


def _unwritable(out: Path) -> str | None:
    """Why the report cannot be written at `out` (a directory, or a file name whose suffix is
    replaced), or None: a part of the path that is a file, or a first existing directory that is
    not writable. Creates nothing."""
    target = out if out.is_dir() or out.suffix == "" else out.parent
    parent = target.absolute()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable"
    return None


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m reports",
        description="Build report.html (self-contained, offline) and report.pdf from a finished run "
                    "directory written by `python -m sim.grid`. Reads the stored results; never simulates.")
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                   help="run directory holding cells.csv (and regimes.csv, thresholds.csv, run.json, "
                        "results.sqlite)")
    p.add_argument("--format", dest="formats", type=_formats, default=list(FORMATS),
                   help="comma-separated formats to write: html, pdf (default: html,pdf)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory, or a file name whose suffix is replaced per format "
                        "(default: RUN_DIR/report.html and RUN_DIR/report.pdf)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 2 (with a one-line message) for a bad run directory or flag."""
    args = parser().parse_args(argv)
    if args.out is not None:
        problem = _unwritable(args.out)
        if problem is not None:
            print(f"python -m reports: error: --out={args.out} is not allowed: {problem}", file=sys.stderr)
            return 2
    try:
        paths = build_report(args.run_dir, formats=args.formats, out=args.out)
    except RunDirectoryError as exc:
        print(f"python -m reports: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # writing failed where the checks above could not tell (/proc, a full disk)
        where = exc.filename or args.out or args.run_dir
        flag = "--out" if args.out is not None else "RUN_DIR"
        print(f"python -m reports: error: {flag}={where} is not allowed: the report cannot be written there "
              f"({exc.strerror or exc})", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
