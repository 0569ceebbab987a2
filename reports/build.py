"""`build_report`: a finished run directory in, report.html and report.pdf out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reports import html, pdf
from reports.check import check_document, has_check
from reports.content import build_document
from reports.landscape import has_landscape, landscape_document
from reports.predictions import load_theory
from reports.rundata import load_run

FORMATS = ("html", "pdf")


def build_report(out_dir: Path, formats: Sequence[str] = FORMATS, out: Path | None = None) -> list[Path]:
    """Write the report of the run in `out_dir`; return the paths written.

    formats: any of 'html', 'pdf'. out: where to write; a directory (report.html / report.pdf go in
    it), or a file path whose suffix is replaced per format; default `out_dir`. Reads the stored
    tables only (never simulates). Raises `reports.rundata.RunDirectoryError` (a ValueError) when
    `out_dir` is not a run directory, and ValueError for an unknown format.
    """
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats={formats!r} is not allowed: one or more of {', '.join(FORMATS)}")
    if has_landscape(out_dir) and not (Path(out_dir) / "cells.csv").is_file():
        doc = landscape_document(out_dir)  # a landscape-only run (sim.grid --preset landscape)
    elif has_check(out_dir) and not (Path(out_dir) / "cells.csv").is_file():
        doc = check_document(out_dir)  # a depth check of a user's network (python -m sim.check)
    else:
        data = load_run(Path(out_dir))
        theory, theory_note = load_theory()
        doc = build_document(data, theory, theory_note)
    written = []
    for fmt in formats:
        path = _target(Path(out_dir), out, fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "html":
            path.write_text(html.render(doc), encoding="utf-8")
        else:
            pdf.write(doc, path)
        written.append(path)
    return written


def _target(out_dir: Path, out: Path | None, fmt: str) -> Path:
    """report.<fmt> in `out` (a directory, or a file name whose suffix is replaced) or in `out_dir`."""
    if out is None:
        return out_dir / f"report.{fmt}"
    out = Path(out)
    if out.is_dir() or out.suffix == "":
        return out / f"report.{fmt}"
    return out.with_suffix(f".{fmt}")
