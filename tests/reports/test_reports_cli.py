"""`python -m reports`: exit 0 with the paths written; exit 2 with one line for a bad run directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reports.__main__ import main


def test_builds_the_requested_format(small_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(small_run), "--format", "html"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(small_run / "report.html")]
    assert not (small_run / "report.pdf").exists()


def test_out_option(small_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(small_run), "--format", "html", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.parametrize("case", ["missing", "file", "empty-dir", "bad-header", "bad-number"])
def test_bad_run_directory_exits_2_with_one_line(case: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "run"
    if case == "file":
        target.write_text("not a directory")
    elif case != "missing":
        target.mkdir()
    if case == "bad-header":
        (target / "cells.csv").write_text("block,activation\nres3,relu\n")
    if case == "bad-number":
        (target / "cells.csv").write_text(
            "block,activation,init,dist,regularity,beta,depth,width,samples,seed,diff_median,fwd_median\n"
            "res3,relu,iid,gaussian,,half,16,8,16,0,0.1,0.1\n")
    assert main([str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m reports: error:")
    assert not (tmp_path / "run" / "report.html").exists()


def test_bad_format_flag_exits_2(small_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([str(small_run), "--format", "docx"])
    assert exc.value.code == 2
    assert "--format" in capsys.readouterr().err


def test_module_entry_point(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "reports", str(tmp_path / "nowhere")], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
