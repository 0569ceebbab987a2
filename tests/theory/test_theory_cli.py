"""`python -m theory`: registry table, per-cell report, exit codes."""

from __future__ import annotations

import subprocess
import sys

from theory import claims
from theory.__main__ import main


def test_no_flags_prints_the_registry(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for item in claims():
        assert item.name in out and item.status in out


def test_cell_flags_print_predictions(capsys):
    argv = ["--block", "res3", "--activation", "relu", "--init", "fgn", "--hurst", "0.8",
            "--beta", "0.6", "--depths", "64,128,256,512,1024,2048,4096"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "beta_c: 4/5  [conjecture; fgn-res3-mean]" in out
    assert "regime: explode" in out
    assert "depth exponent: oo" in out and "unbounded" in out
    assert "finite-depth threshold: 0.7618" in out


def test_exact_laws_are_printed_for_iid(capsys):
    assert main(["--beta", "0.5", "--depth", "256", "--width", "32"]) == 0
    out = capsys.readouterr().out
    assert "regime: non-trivial  [theorem; iid-trichotomy]" in out
    assert "[exact; iid-exact-moment]" in out
    assert "mean log(||h_L||^2/||h_0||^2): 15/32" in out


def test_not_covered_limit_object_is_said(capsys):
    assert main(["--init", "fgn", "--hurst", "0.8", "--beta", "0.8"]) == 0
    assert "not covered" in capsys.readouterr().out


def _one_line_error(capsys, flag: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err, err


def test_bad_values_exit_2_naming_the_flag(capsys):
    assert main(["--beta", "-1"]) == 2
    _one_line_error(capsys, "--beta")
    assert main(["--beta", "x"]) == 2
    _one_line_error(capsys, "--beta")
    assert main(["--init", "fgn"]) == 2
    _one_line_error(capsys, "--hurst")
    assert main(["--hurst", "0.5"]) == 2  # hurst only with fgn / fbm
    _one_line_error(capsys, "--hurst")
    assert main(["--negative-slope", "2", "--activation", "leaky_relu"]) == 2
    _one_line_error(capsys, "--negative-slope")
    assert main(["--block", "res9"]) == 2
    _one_line_error(capsys, "--block")
    assert main(["--depths", "64"]) == 2
    _one_line_error(capsys, "--depths")


def test_module_entry_point_exit_code():
    done = subprocess.run([sys.executable, "-m", "theory", "--width", "0"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "--width" in done.stderr
