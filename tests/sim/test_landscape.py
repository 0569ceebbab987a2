"""The lecture example (sim.landscape): the model, the eigenvalue formula, the steppers against their
stability functions, the roughness contrast between N = 5 and N = 100, and the preset end to end.

Everything is deterministic (float64, a seeded generator, no Monte Carlo): assertions are exact or
hold to rounding error, and no test has a false-failure rate beyond that of floating point.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sim import landscape
from sim.grid import main
from sim.landscape import (
    COLUMNS,
    LandscapeSpec,
    eigenvalues,
    final_state,
    landscape_table,
    lecture_matrix,
    local_growth,
    local_minima,
    objective,
    reference_target,
    roughness,
    stability_function,
    strict_minima,
    surface,
    total_variation,
    unstable_fraction,
)


def _thetas(*pairs: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.tensor(pairs, dtype=torch.float64)
    return t[:, 0], t[:, 1]


@pytest.fixture(scope="module")
def euler_table() -> landscape.Table:
    """The preset's default grid, Euler only (about a second)."""
    return landscape_table(dataclasses.replace(landscape.PRESET_LANDSCAPE, steppers=("euler",)))


def test_objective_vanishes_at_the_reference_for_200_steps() -> None:
    """C = Y_200((1, 1)), so the N = 200 objective is 0 there (up to the rounding of a batched
    product, which here is exact) and positive off the diagonal (on it, theta1 = theta2 >~ 1, every
    state settles to nearly the same fixed point by T = 10: the objective is 1.8e-7 at (2, 2))."""
    spec = LandscapeSpec()
    y0 = landscape.initial_state(spec.examples, spec.seed)
    target = reference_target(spec, y0)
    t1, t2 = _thetas((1.0, 1.0), (0.5, 1.5), (-1.0, 0.5))
    values = objective(t1, t2, y0, target, 200)
    assert values[0].item() <= 1e-28
    assert (values[1:] > 1e-6).all()
    assert y0.shape == (3, 1) and target.shape == (3, 1)


def test_eigenvalue_formula_matches_torch() -> None:
    """0 and -(3/2)(t1 + t2) +- i (sqrt 3 / 2)(t1 - t2) are the eigenvalues of K(theta), to rounding,
    at random thetas and on the diagonal (a double eigenvalue)."""
    gen = torch.Generator().manual_seed(3)
    t = torch.empty(200, 2, dtype=torch.float64).uniform_(-5, 5, generator=gen)
    t[:5, 1] = t[:5, 0]
    found = torch.linalg.eigvals(lecture_matrix(t[:, 0], t[:, 1])).numpy()
    formula = eigenvalues(t[:, 0].numpy(), t[:, 1].numpy())
    scale = 1 + np.abs(formula).max(-1, keepdims=True)
    gap = np.abs(formula[:, :, None] - found[:, None, :])
    assert (gap.min(-1) / scale).max() < 1e-12  # every formula eigenvalue is found
    assert (gap.min(-2) / scale).max() < 1e-12  # and every found one is in the formula


def test_stability_functions_are_the_known_polynomials() -> None:
    z = np.array([0.3 - 0.2j, -2.0, 1j, -1.5 + 0.7j])
    assert np.allclose(stability_function("euler", z), 1 + z, rtol=0, atol=1e-15)
    assert np.allclose(stability_function("heun", z), 1 + z + z**2 / 2, rtol=0, atol=1e-15)
    assert np.allclose(stability_function("rk4", z), 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24, rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="stepper='rk5' is not allowed"):
        stability_function("rk5", z)


@pytest.mark.parametrize("stepper", ["euler", "heun", "rk4"])
def test_steppers_follow_their_stability_function(stepper: str) -> None:
    """With a tiny Y_0, tanh(K Y) = K Y to relative order |K Y|^2 ~ 1e-16, so N steps give
    R(h K)^N Y_0: the stage loop implements the tableau that `stability_function` reads."""
    y0 = 1e-8 * landscape.initial_state(2, seed=5)
    t1, t2 = _thetas((0.7, 0.2), (-0.3, 0.9), (2.0, -1.0))
    steps, h = 7, 0.3
    got = final_state(t1, t2, y0, steps, stepper, horizon=steps * h)
    for g, k in enumerate(lecture_matrix(t1, t2).numpy()):
        lam, vec = np.linalg.eig(k)
        r = vec @ np.diag(stability_function(stepper, h * lam) ** steps) @ np.linalg.inv(vec)
        expected = (r @ y0.numpy()).real
        assert np.allclose(got[g].numpy(), expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())


def test_growth_is_max_modulus_over_eigenvalues() -> None:
    """Euler with h = 2 at theta = (1, 1): eigenvalues 0, -3, -3, so max |1 + 2 lambda| = 5; the zero
    eigenvalue keeps the factor at least 1."""
    assert local_growth("euler", 2.0, np.array(1.0), np.array(1.0)) == pytest.approx(5.0, abs=1e-12)
    assert local_growth("euler", 0.1, np.array(1.0), np.array(1.0)) == pytest.approx(1.0, abs=1e-12)


def test_stability_column_agrees_with_theory_when_present() -> None:
    """`growth` uses theory.stability.landscape_growth when it exists; both must give the same numbers."""
    stability = pytest.importorskip("theory.stability")
    axis = np.linspace(-2, 4, 25)
    t1, t2 = np.meshgrid(axis, axis, indexing="ij")
    for stepper in ("euler", "heun", "rk4"):
        for h in (2.0, 0.1):
            theirs = stability.landscape_growth(stepper, h, t1, t2)
            assert np.allclose(theirs, local_growth(stepper, h, t1, t2), rtol=1e-12, atol=1e-12)


def test_roughness_measures_on_known_surfaces() -> None:
    x = np.linspace(-1, 1, 21)
    bowl = np.add.outer(x**2, x**2)
    assert local_minima(bowl) == 1 and strict_minima(bowl)[10, 10]
    ramp = np.add.outer(x, np.zeros_like(x))  # monotone along theta1, constant along theta2
    assert total_variation(ramp) == pytest.approx(21 / 42)  # 21 lines traverse the range once, 42 lines
    egg = np.add.outer(np.sin(12 * x), np.sin(12 * x))
    assert local_minima(egg) >= 9 and total_variation(egg) > 3
    assert local_minima(np.zeros((5, 5))) == 0  # ties are not strict minima
    assert unstable_fraction(np.array([1.0, 1.0 + 1e-14, 1.5, 0.5])) == 0.25


def test_n5_is_rougher_than_n100_on_the_default_grid(euler_table: landscape.Table) -> None:
    """The reported contrast (Euler, theta in [-2, 4]^2, 241 x 241 points, Y_0 one seeded 3-vector).

    Measured (torch 2.13 CPU, float64): strict local minima 635 (N = 5) vs 86 (N = 100); total
    variation 0.890 vs 0.565; unstable fraction 57601/58081 = 0.9917 vs 14034/58081 = 0.2416. The
    minima counts and total variation are asserted with margins (a different BLAS may move the
    noise-level minima in the flat valley); the unstable fraction is a closed form of the grid."""
    rows = {m["N"]: m for m in roughness(euler_table)}
    rough, smooth = rows[5], rows[100]
    assert rough["points"] == smooth["points"] == 241 * 241
    assert rough["local_minima"] > 4 * smooth["local_minima"]
    assert 600 <= rough["local_minima"] <= 670 and 70 <= smooth["local_minima"] <= 100
    assert rough["total_variation"] > 1.4 * smooth["total_variation"]
    assert rough["total_variation"] == pytest.approx(0.890, abs=0.01)
    assert smooth["total_variation"] == pytest.approx(0.565, abs=0.01)
    assert rough["unstable_fraction"] * 58081 == pytest.approx(57601, abs=1e-6)
    assert smooth["unstable_fraction"] * 58081 == pytest.approx(14034, abs=1e-6)
    assert rough["unstable_fraction"] > 0.95 > 0.3 > smooth["unstable_fraction"]


def test_table_is_tidy_and_complete(euler_table: landscape.Table) -> None:
    n = 241 * 241
    assert tuple(euler_table) == COLUMNS
    assert all(len(v) == 2 * n for v in euler_table.values())
    ax1, ax2, values = surface(euler_table, "euler", 5)
    assert values.shape == (241, 241) and ax1[0] == -2.0 and ax1[-1] == 4.0 and 1.0 in ax2
    assert np.isfinite(values).all() and (values >= 0).all()
    assert set(euler_table["h"].tolist()) == {2.0, 0.1}


def test_spec_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="points=2 is not allowed"):
        LandscapeSpec(points=2)
    with pytest.raises(ValueError, match="steppers=.*is not allowed"):
        LandscapeSpec(steppers=("leapfrog",))
    with pytest.raises(ValueError, match="theta_min, theta_max"):
        LandscapeSpec(theta_min=4.0, theta_max=-2.0)


def test_requested_recognizes_the_preset() -> None:
    assert landscape.requested(["--preset", "landscape", "--out", "x"])
    assert landscape.requested(["--out", "x", "--preset=landscape"])
    assert not landscape.requested(["--preset", "quick"])
    assert not landscape.requested(["--out", "landscape"])


def test_preset_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """`sim.grid --preset landscape` writes landscape.csv (atomically: no temporary file is left),
    landscape.json and the report with the landscape section; a smaller grid keeps it fast."""
    monkeypatch.setattr(landscape.command, "PRESET_LANDSCAPE", LandscapeSpec(points=41))
    out = tmp_path / "out"
    assert main(["--preset", "landscape", "--out", str(out)]) == 0
    stdout, stderr = capsys.readouterr()
    assert {Path(p).name for p in stdout.split()} == {"landscape.csv", "landscape.json", "report.html",
                                                      "report.pdf"}
    assert "[6/6] rk4 N=100" in stderr
    assert not list(out.glob("*.tmp"))
    with (out / "landscape.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 3 * 2 * 41 * 41
    record = json.loads((out / "landscape.json").read_text())
    assert record["spec"]["points"] == 41 and record["dtype"] == "float64"
    assert {m["N"] for m in record["roughness"]} == {5, 100}
    assert set(record["stage_seconds"]) == {"simulate", "export", "report"}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "1. Optimization landscape (lecture example)" in html
    assert "The objective ½‖Y_N(θ) − C‖² with Euler steps, N = 5, 100" in html
    assert "could not be drawn" not in html and "http" not in html.lower()
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def test_preset_refuses_grid_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["--preset", "landscape", "--beta", "0.5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --beta is not allowed with --preset landscape")
    assert not out.exists()
    (tmp_path / "file").write_text("x")
    assert main(["--preset=landscape", "--out", str(tmp_path / "file"), "--no-report"]) == 2
    assert "is not a directory" in capsys.readouterr().err
