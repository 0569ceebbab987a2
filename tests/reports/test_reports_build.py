"""Building reports: both files from a real tiny run, a self-contained HTML page, graceful degradation."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from reports import build_report
from reports.training import NO_TRAINING

IMG_SRC = re.compile(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", re.IGNORECASE)


def _pdf_pages(path: Path) -> int:
    """Number of page objects in a PDF written by matplotlib (page dictionaries are not compressed)."""
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", path.read_bytes()))


def test_both_files_are_written(tiny_run: Path, tiny_report: list[Path]) -> None:
    assert [p.name for p in tiny_report] == ["report.html", "report.pdf"]
    assert all(p.parent == tiny_run and p.stat().st_size > 10_000 for p in tiny_report)
    pdf = tiny_report[1]
    assert pdf.read_bytes().startswith(b"%PDF")
    assert _pdf_pages(pdf) >= 8  # title, verdicts, and a page per figure


def test_html_is_self_contained(tiny_report: list[Path]) -> None:
    text = tiny_report[0].read_text(encoding="utf-8")
    assert "http" not in text.lower()
    sources = IMG_SRC.findall(text)
    assert len(sources) >= 8, "figures and formulas should be embedded images"
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert text.count("<img") == len(sources)
    for outside in ("<script", "<link", "url(", "@import", "<iframe", "<object", "<embed"):
        assert outside not in text.lower()
    assert "could not be drawn" not in text


def test_html_has_the_sections_in_order(tiny_report: list[Path]) -> None:
    text = tiny_report[0].read_text(encoding="utf-8")
    titles = ["1. Verdicts", "2. Phase diagrams", "3. Depth scaling", "4. Exact-law checks", "5. Backward pass",
              "6. Training", "7. Run record"]
    positions = [text.index(f"<h2>{t}</h2>") for t in titles]
    assert positions == sorted(positions)


def test_exact_law_panels_use_the_stored_samples(tiny_report: list[Path]) -> None:
    text = tiny_report[0].read_text(encoding="utf-8")
    assert "Exact second moment, res3 relu iid" in text
    assert "Critical law at β = ½" in text
    assert "per-sample panels" not in text  # the store was read


def test_a_run_without_training_data_says_so(tiny_report: list[Path], synthetic_html: str) -> None:
    for text in (tiny_report[0].read_text(encoding="utf-8"), synthetic_html):
        assert NO_TRAINING in text
        assert "Training: test accuracy" not in text


def test_training_panels_when_the_run_has_them(small_run: Path) -> None:
    with (small_run / "cells.csv").open() as fh:
        cells = list(csv.DictReader(fh))
    with (small_run / "training.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["block", "activation", "init", "dist", "regularity", "beta", "depth", "width",
                         "test_acc_mean"])
        for i, c in enumerate(cells):
            writer.writerow([c["block"], c["activation"], c["init"], c["dist"], c["regularity"], c["beta"], c["depth"],
                             c["width"], 0.5 + 0.1 * i])
    (path,) = build_report(small_run, formats=("html",))
    text = path.read_text(encoding="utf-8")
    assert NO_TRAINING not in text
    assert "Training: test accuracy" in text


def test_csv_only_run_degrades_with_visible_notes(synthetic_html: str) -> None:
    assert "results.sqlite is missing" in synthetic_html
    assert "these checks need per-sample values" in synthetic_html
    assert "http" not in synthetic_html.lower()  # a URL in run.json is written without those letters
    assert "&#72;TTPS://example.org" in synthetic_html and "&#104;ttp://x" in synthetic_html
    assert all(s.startswith("data:image/png;base64,") for s in IMG_SRC.findall(synthetic_html))


def test_disagreements_are_shown_in_red(synthetic_html: str) -> None:
    rows = re.findall(r'<tr class="v-disagree">(.*?)</tr>', synthetic_html)
    assert any("res3 relu fgn" in r and "<td>0.8</td>" in r and "<td>0.75</td>" in r for r in rows)
    assert "Disagreements with theory" in synthetic_html


def test_single_depth_run_skips_impossible_panels(small_run: Path) -> None:
    paths = build_report(small_run)
    text = paths[0].read_text(encoding="utf-8")
    assert "one depth only" in text
    assert "one regularity value and one depth only" in text
    assert "regimes.csv is missing" in text
    assert paths[1].read_bytes().startswith(b"%PDF")


def test_out_path_names_the_files(small_run: Path, tmp_path: Path) -> None:
    paths = build_report(small_run, formats=("html",), out=tmp_path / "elsewhere" / "summary.pdf")
    assert paths == [tmp_path / "elsewhere" / "summary.html"] and paths[0].is_file()


def test_unknown_format_is_rejected(synthetic_run: Path) -> None:
    with pytest.raises(ValueError, match="formats="):
        build_report(synthetic_run, formats=("docx",))
