"""The verdict table matches regimes.csv, thresholds.csv and the theory registry, row for row."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import theory
from reports.content import build_document
from reports.document import Note, Table
from reports.predictions import load_theory
from reports.rundata import load_run
from reports.verdicts import KIND_BY_NAME, evidence_kind, representative_cells


def _tables(doc, section: int) -> dict[str, Table]:
    return {b.title.split(" ", 1)[0]: b for b in doc.sections[section].blocks if isinstance(b, Table)}


def _notes(doc, section: int) -> str:
    return " ".join(b.text for b in doc.sections[section].blocks if isinstance(b, Note))


@pytest.fixture(scope="module")
def tiny_doc(tiny_run: Path):
    module, note = load_theory()
    assert module is not None, note
    return load_run(tiny_run), build_document(load_run(tiny_run), module, note)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_regime_rows_match_regimes_csv(tiny_run: Path, tiny_doc) -> None:
    _data, doc = tiny_doc
    table = _tables(doc, 0)["1.3"]
    expected = _csv(tiny_run / "regimes.csv")
    assert len(table.rows) == len(expected)
    for row, exp in zip(table.rows, expected, strict=True):
        assert row[2] == f"{float(exp['beta']):.3g}"
        assert row[3] == exp["quantity"]
        assert table.verdict_of(row) == exp["verdict"]
        assert row[6] == exp["observed_regime"]


def test_threshold_rows_match_thresholds_csv(tiny_run: Path, tiny_doc) -> None:
    _data, doc = tiny_doc
    table = _tables(doc, 0)["1.2"]
    expected = [r for r in _csv(tiny_run / "thresholds.csv") if r["quantity"] == "diff"]
    assert [table.verdict_of(r) for r in table.rows] == [r["verdict"] for r in expected]
    assert all(r[1] == "theorem" for r in table.rows)  # iid: the trichotomy is a theorem
    backward = _tables(doc, 4)["Backward"]
    assert len(backward.rows) == sum(1 for r in _csv(tiny_run / "thresholds.csv") if r["quantity"] == "bwd_diff")


def test_claim_rows_are_the_registry_claims_the_run_covers(tiny_doc) -> None:
    data, doc = tiny_doc
    table = _tables(doc, 0)["1.1"]
    cells = [c for c in representative_cells(data).values() if c is not None]
    covering = [c for c in theory.claims() if any(c.applies(cell) for cell in cells)]
    titles = [r[0] for r in table.rows]
    measured = [c for c in covering if evidence_kind(c) is not None]
    assert titles == [c.title for c in measured]
    assert [r[1] for r in table.rows] == [c.status for c in measured]
    notes = _notes(doc, 0)
    for c in covering:
        if evidence_kind(c) is None:
            assert c.name in notes
    for c in theory.claims():
        if c not in covering:
            assert c.name in notes
    names = {c.name for c in measured}
    assert {"iid-trichotomy", "iid-exact-moment", "iid-exact-deviation", "critical-lognormal",
            "backward-regimes", "finite-depth-threshold"} <= names
    assert all(table.verdict_of(r) in ("agree", "disagree", "inconclusive", "not measured") for r in table.rows)


def test_every_registry_claim_has_a_declared_evidence_kind() -> None:
    """A claim added to the registry must be mapped (or declared unmeasurable) in reports.verdicts."""
    unmapped = [c.name for c in theory.claims() if c.name not in KIND_BY_NAME]
    assert not unmapped, f"map these claims in reports.verdicts.KIND_BY_NAME: {unmapped}"


def test_synthetic_claims_follow_the_grid_verdicts(synthetic_run: Path) -> None:
    module, note = load_theory()
    data = load_run(synthetic_run)
    doc = build_document(data, module, note)
    table = _tables(doc, 0)["1.1"]
    by_title = {r[0]: r for r in table.rows}
    fgn = by_title["fGn threshold, res3 with E sigma(Z) != 0"]
    assert table.verdict_of(fgn) == "disagree"  # the planted disagreement at H = 0.8, beta = 0.75
    assert "H=0.8 β=0.75" in fgn[3]
    # per-sample claims are listed but marked as not measured without results.sqlite
    assert table.verdict_of(by_title["Exact forward second moment"]) == "not measured"
