"""`python -m sim.grid --train`: training results are stored per cell, resumed without redoing
finished cells, exported to training.csv, and bad training flags are one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sim.grid import main
from sim.grid.store import Store

TINY = ["--block", "res3", "--activation", "relu", "--init", "iid", "--beta", "0.5,1",
        "--depth", "8", "--width", "8", "--samples", "2", "--device", "cpu", "--no-report",
        "--train", "1", "--dataset", "teacher", "--lr", "0.01"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def test_training_grid_resumes_without_retraining(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main([*TINY, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "training 2 cells (0 already trained)" in err
    first = _rows(out / "training.csv")
    assert len(first) == 2 and {r["dataset"] for r in first} == {"teacher"}
    # Interrupted after the first cell: drop the second cell's training row, as a kill would.
    with Store(out / "results.sqlite") as store:
        keys = sorted(store.training_keys())
        store._conn.execute("DELETE FROM training WHERE key = ?", (keys[1],))
    assert main([*TINY, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "training 1 cells (1 already trained)" in err
    assert _rows(out / "training.csv") == first  # deterministic: the retrained cell is identical


@pytest.mark.parametrize(("extra", "message"), [
    (["--train", "0"], "--train=0 is not allowed"),
    (["--train", "two"], "--train=two is not allowed"),
    (["--train", "1", "--dataset", "mnist"], "--dataset='mnist' is not allowed"),
    (["--train", "1", "--optimizer", "lbfgs"], "--optimizer='lbfgs' is not allowed"),
    (["--train", "1", "--lr", "0.1,-1"], "--lr=.* is not allowed"),
    (["--lr", "0.1"], "--lr=0.1 is not allowed without --train"),
])
def test_bad_training_flags(extra: list[str], message: str, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = [a for a in TINY if a not in ("--train", "1", "--dataset", "teacher", "--lr", "0.01")]
    assert main([*argv, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    import re

    assert re.search(message, err), err
    assert not out.exists()
