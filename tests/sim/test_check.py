"""The depth check (sim.check): the user's factory and its blocks, the stream forward and backward,
the weights' family, the decisions, the command line, resuming, the report, and agreement with
sim.grid on the product's own res3 network.

Deterministic tests compare with closed forms to rounding. The statistical tests use fixed seeds;
each states its level and what it can detect.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

import sim.grid
from sim.check import CheckError, Res3Network, depth_check, load
from sim.check import command as check_command
from sim.check.correlation import SampleCorrelation, classify_family
from sim.check.decisions import Draws
from sim.check.factory import find_blocks, load_factory
from sim.check.run import plan, run_depth
from sim.check.stream import Blocks, run_stream
from sim.grid.regimes import Z
from sim.weights import fgn_autocovariance

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


# ---------------------------------------------------------------------- small models
class LinearBlock(nn.Module):
    """h ↦ h + A h."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + h @ self.a.T


class Stack(nn.Module):
    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)


def tiny(depth: int, width: int = 4) -> Res3Network:
    return Res3Network(depth, width)


# ---------------------------------------------------------------------- the stream, exactly
@pytest.mark.parametrize("mode", ["vmap", "loop"])
def test_stream_matches_matrix_powers(mode: str) -> None:
    """Linear blocks h + A_k h give h_L = Π (I + α A_k) h_0 and p_0 = Π (I + α A_k)^T u: the four
    quantities and the trajectories equal the matrix products to 1e-10 (float64)."""
    gen = torch.Generator().manual_seed(3)
    S, d, L = 2, 5, 6
    mats = torch.randn(S, L, d, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    blocks = [[LinearBlock(mats[s, k].clone()).requires_grad_(False) for k in range(L)] for s in range(S)]
    h0 = torch.randn(S, d, generator=gen, dtype=torch.float64)
    u = torch.randn(S, d, generator=gen, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    alphas = [1.0, 0.3]
    run = run_stream(Blocks(blocks, mode), h0, u, alphas)
    for s in range(S):
        for b, alpha in enumerate(alphas):
            steps = [torch.eye(d, dtype=torch.float64) + alpha * mats[s, k] for k in range(L)]
            h, p = h0[s].clone(), u[s].clone()
            for k in range(L):
                h = steps[k] @ h
                assert run.log_h[s, b, k + 1] == pytest.approx(math.log(h.norm() / h0[s].norm()), abs=1e-10)
            for k in reversed(range(L)):
                p = steps[k].T @ p
            expected = {"fwd": h.norm() / h0[s].norm(), "diff": (h - h0[s]).norm() / h0[s].norm(),
                        "bwd": p.norm(), "bwd_diff": (p - u[s]).norm()}
            for q, value in expected.items():
                assert run.logs[q][s, b] == pytest.approx(math.log(float(value)), abs=1e-10), (q, s, alpha)
            assert run.log_p[s, b, 0] == pytest.approx(math.log(float(p.norm())), abs=1e-10)
    assert np.all(np.isneginf(run.log_dev[:, :, 0]))


def test_vmap_and_loop_agree_on_the_transformer_example() -> None:
    """The two ways of calling blocks give the same numbers to float32 rounding (1e-4 in the logs)."""
    sys.path.insert(0, str(ROOT))
    from examples import transformer

    kwargs = dict(inputs=(2, 4, transformer.WIDTH), betas=[0.5], samples=2, seed=1)
    a = depth_check(transformer.build, [2, 3], batch="vmap", **kwargs)
    b = depth_check(transformer.build, [2, 3], batch="loop", **kwargs)
    for q in ("fwd", "diff", "bwd", "bwd_diff"):
        np.testing.assert_allclose(a.samples[q], b.samples[q], atol=1e-4)


def test_a_sample_is_the_same_alone_and_among_more() -> None:
    """Sample i's model, input and numbers depend on (seed, depth, i) only: the same in a run of 2
    samples and of 3 (one call per sample and beta: bitwise)."""
    two = depth_check(tiny, [2, 3], inputs=(4,), betas=[0.5], samples=2, batch="loop")
    three = depth_check(tiny, [2, 3], inputs=(4,), betas=[0.5], samples=3, batch="loop")
    merged = three.samples[three.samples["sample"] < 2].reset_index(drop=True)
    for q in ("fwd", "diff", "bwd", "bwd_diff"):
        np.testing.assert_array_equal(two.samples[q].to_numpy(), merged[q].to_numpy())


# ---------------------------------------------------------------------- the factory and its blocks
def test_factories_load_from_a_path_and_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mymodel.py").write_text("from sim.check import Res3Network\n"
                                         "def build(depth):\n    return Res3Network(depth, 4)\n")
    assert isinstance(load_factory(f"{tmp_path / 'mymodel.py'}:build")(3), nn.Module)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(load_factory("mymodel:build")(3), nn.Module)


@pytest.mark.parametrize("spec, words", [
    ("nocolon", "expected PATH_OR_MODULE:FACTORY"),
    ("missing/file.py:build", "no such file"),
    ("no_such_module_xyz:build", "no module named"),
    ("examples/mlp_resnet.py:nothing", "has no attribute 'nothing'"),
    ("examples/mlp_resnet.py:WIDTH", "is not callable"),
])
def test_bad_factories_are_named(spec: str, words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(CheckError, match=words) as info:
        load_factory(spec)
    assert info.value.param == "factory"


def test_the_block_sequence_is_found_or_its_candidates_named() -> None:
    models = {4: Stack([nn.Identity()] * 4), 8: Stack([nn.Identity()] * 8)}
    assert find_blocks(models) == "blocks"

    class Two(nn.Module):
        def __init__(self, depth: int):
            super().__init__()
            self.first = nn.ModuleList(nn.Identity() for _ in range(depth))
            self.second = nn.Sequential(*(nn.Identity() for _ in range(depth)))

    with pytest.raises(CheckError, match="several sequences.*'first', 'second'"):
        find_blocks({4: Two(4), 8: Two(8)})
    assert find_blocks({4: Two(4), 8: Two(8)}, "second") == "second"
    with pytest.raises(CheckError, match="no ModuleList or Sequential.*'blocks' \\(length 5\\)"):
        find_blocks({4: Stack([nn.Identity()] * 5)})
    with pytest.raises(CheckError, match="holds 5 modules in build\\(4\\), expected 4"):
        find_blocks({4: Stack([nn.Identity()] * 5)}, "blocks")


@pytest.mark.parametrize("build, inputs, param, words", [
    (lambda L: Stack([nn.Linear(5, 5) for _ in range(L)]), (4,), "inputs", "failed on a stream of that shape"),
    (lambda L: Stack([nn.Linear(4, 3) for _ in range(L)]), (4,), "blocks", "maps the stream's shape"),
    (lambda L: Stack([nn.LSTM(4, 4) for _ in range(L)]), (1, 4), "blocks", "returned tuple"),
    (lambda L: 3, (4,), "build", "returned int"),
    (lambda L: 1 / 0, (4,), "build", "ZeroDivisionError"),
])
def test_bad_models_are_refused_before_anything_runs(build, inputs, param: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(CheckError, match=words) as info:
        depth_check(build, [2, 4], inputs=inputs, out=tmp_path / "out")
    assert info.value.param == param
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kwargs, param", [
    ({"depths": [1, 4]}, "depths"), ({"depths": [4]}, "depths"), ({"depths": [4, 4]}, "depths"),
    ({"samples": 1}, "samples"), ({"betas": [-0.5]}, "betas"), ({"batch": "fast"}, "batch"),
    ({"device": "tpu"}, "device"), ({"dtype": "float16"}, "dtype"), ({"inputs": (0, 4)}, "inputs"),
    ({"max_memory": "1K"}, "max_memory"), ({"seed": -1}, "seed"),
])
def test_bad_arguments_name_the_parameter(kwargs: dict, param: str) -> None:
    args = {"depths": [2, 4], "inputs": (4,), **kwargs}
    with pytest.raises(CheckError) as info:
        depth_check(tiny, args.pop("depths"), **args)
    assert info.value.param == param
    assert str(info.value).startswith(f"{param}=")


# ---------------------------------------------------------------------- the weights' family
def _family_of(init: str, hurst: float | None, depths: tuple[int, ...], samples: int = 8):
    p = plan(lambda L: Res3Network(L, 8, init=init, hurst=hurst), list(depths), inputs=(8,), betas=[0.5],
             samples=samples, seed=11)
    return classify_family({d: run_depth(p, d).correlations for d in depths})


def test_independent_and_shared_weights_are_recognized() -> None:
    """iid: H's interval meets 1/2 ± 0.02 unless the estimate errs by > 0.02 + 1.96 se (se about
    0.003 here: probability below 1e-9); shared: correlation 1 to rounding (deterministic)."""
    assert _family_of("iid", None, (8, 32)).init == "iid"
    shared = _family_of("shared", None, (8, 32))
    assert shared.init == "shared" and shared.lag1 == pytest.approx(1.0)


def test_fgn_weights_give_their_hurst_index() -> None:
    """Res3Network with exact fGn(H = 0.8) weights along depth: the fitted H is within
    z·se + 0.01 of 0.8, z = 3.89 (level 1e-4, two-sided); 0.01 allows for the least-squares fit over
    lags 1..8 of estimated correlations (a bias of the order of their variance). Detects an error
    in H above about 0.03. Seed fixed."""
    family = _family_of("fgn", 0.8, (16, 64))
    assert family.init == "fgn"
    se = (family.hurst_hi - family.hurst_lo) / (2 * Z)
    z = stats.norm.isf(1e-4 / 2)
    assert abs(family.hurst - 0.8) <= z * se + 0.01, (family.hurst, se)
    assert family.lag1 == pytest.approx(float(fgn_autocovariance(0.8, np.array([1]))[0]), abs=z * family.lag1_se + 0.01)


def test_correlations_unlike_fgn_map_to_no_family() -> None:
    """A correlation of 0.6 at every lag (a shared part plus an independent one) is not fGn's
    decay: no family, so theory is not asked."""
    rho = np.full(8, 0.6)
    by_depth = {64: [SampleCorrelation(rho + 0.001 * s, {}, 64) for s in range(6)]}
    family = classify_family(by_depth)
    assert family.init is None and "not like fractional Gaussian noise" in family.words


# ---------------------------------------------------------------------- decisions and theory
def test_the_decisions_are_the_grids_functions_on_the_same_numbers() -> None:
    """check_regimes.csv's slopes are sim.grid.regimes.slope_for of the check's own samples."""
    from sim.grid.regimes import slope_for

    r = depth_check(tiny, [2, 4, 8], inputs=(4,), betas=[0.5, 1.0], samples=4)
    for beta in (0.0, 0.5, 1.0):
        rows = r.samples[r.samples["beta"] == beta]
        cells = {int(d): Draws({q: g.sort_values("sample")[q].to_numpy() for q in ("diff", "bwd_diff")}, "cpu")
                 for d, g in rows.groupby("depth")}
        fit = slope_for(cells, "diff")
        got = r.regimes[(r.regimes["beta"] == beta) & (r.regimes["quantity"] == "diff")].iloc[0]
        assert got["slope"] == pytest.approx(fit.slope, abs=1e-12)


@pytest.mark.parametrize("init, hurst, beta_c, claim", [
    ("iid", None, 0.5, "iid-trichotomy"), ("shared", None, 1.0, "smooth-critical-beta"),
])
def test_theory_is_asked_for_the_measured_family(init: str, hurst: float | None, beta_c: float, claim: str) -> None:
    r = depth_check(lambda L: Res3Network(L, 8, init=init, hurst=hurst), [4, 8], inputs=(8,), betas=[0.5],
                    samples=4)
    t = r.thresholds.iloc[0]
    assert t["family"] == init and t["claim"] == claim and t["mapping"] == "exact"
    assert t["theory_beta_c"] == pytest.approx(beta_c)
    assert "theory predicts β_c" in r.sentence


def test_fgn_weights_are_judged_against_max_half_h() -> None:
    """fGn weights name claim fgn-res3-mean, whose beta_c is max(1/2, H) at the estimated H."""
    r = depth_check(lambda L: Res3Network(L, 8, init="fgn", hurst=0.8), [16, 64], inputs=(8,), betas=[0.5, 1.0],
                    samples=4, seed=2)
    t = r.thresholds.iloc[0]
    assert t["family"] == "fgn" and t["claim"] == "fgn-res3-mean" and t["mapping"] == "exact"
    assert t["theory_beta_c"] == pytest.approx(max(0.5, t["hurst"]), abs=1e-6)


def test_inputs_may_be_a_function_of_a_generator() -> None:
    def inputs(gen: torch.Generator) -> torch.Tensor:
        return torch.rand(3, 4, generator=gen)  # non-negative inputs, a batch of 3

    r = depth_check(tiny, [2, 4], inputs=inputs, betas=[0.5], samples=2)
    assert r.record["input_shape"] == [3, 4]
    again = depth_check(tiny, [2, 4], inputs=inputs, betas=[0.5], samples=2)
    np.testing.assert_array_equal(r.samples["diff"], again.samples["diff"])


def test_overflow_is_counted_and_left_out() -> None:
    """Blocks that multiply the stream by 1e30: float32 overflows at depth 4; the non-finite values
    are counted in the record and the medians use the finite ones."""
    class Blow(nn.Module):
        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return 1e30 * h

    r = depth_check(lambda L: Stack([Blow() for _ in range(L)]), [2, 4], inputs=(4,), betas=[1.0], samples=2,
                    batch="loop")
    assert r.record["nonfinite"]["fwd"] > 0 and any("non-finite" in w for w in r.record["warnings"])


# ---------------------------------------------------------------------- the command line
def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = check_command.main(args)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("args, message", [
    (["examples/mlp_resnet.py:build", "--depths", "1,4"],
     "error: --depths=1,4 is not allowed: every depth must be >= 2"),
    (["examples/mlp_resnet.py:build", "--depths", "4"], "error: --depths=4 is not allowed: give at least two"),
    (["examples/mlp_resnet.py:build", "--depths", "4,x"], "error: --depths=x is not allowed: expected an integer"),
    (["examples/nothing.py:build", "--depths", "2,4"], "error: FACTORY=examples/nothing.py:build is not allowed: "
                                                       "no such file"),
    (["examples/mlp_resnet.py:build", "--depths", "2,4", "--input-shape", "8,3"],
     "error: --input-shape=8,3 is not allowed: block blocks.0 (Block) failed"),
    (["examples/mlp_resnet.py:build", "--depths", "2,4", "--blocks", "head"],
     "error: --blocks=head is not allowed: it is a Linear, expected a ModuleList or Sequential"),
    (["examples/mlp_resnet.py:build", "--depths", "2,4", "--beta", "-1"], "error: --beta=-1 is not allowed"),
    (["examples/mlp_resnet.py:build", "--depths", "2,4", "--samples", "1"], "error: --samples=1 is not allowed"),
    (["examples/mlp_resnet.py:build", "--depths", "2,4", "--batch", "fast"], "error: --batch=fast is not allowed"),
    (["examples/mlp_resnet.py:build", "--depths", "2,4", "--bogus"], "error: unrecognized arguments: --bogus"),
    (["examples/mlp_resnet.py:build"], "error: --depths is missing"),
])
def test_the_command_refuses_bad_input_in_one_line(args: list[str], message: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    status, _, err = _main([*args, "--out", str(out)], capsys)
    assert status == 2
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_model_without_a_block_sequence_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "flat.py").write_text("import torch\n"
                                      "def build(depth):\n    return torch.nn.Linear(4, 4)\n")
    status, _, err = _main([f"{tmp_path / 'flat.py'}:build", "--depths", "2,4", "--input-shape", "4",
                            "--out", str(tmp_path / "out")], capsys)
    assert status == 2
    assert "is not allowed: no ModuleList or Sequential of the model holds one module per block" in err
    assert "with --blocks NAME" in err


def test_the_command_writes_tables_and_report_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "mlp"
    args = ["examples/mlp_resnet.py:build", "--depths", "2,4", "--beta", "0.5,1", "--samples", "2", "--out", str(out)]
    status, printed, _ = _main(args, capsys)
    assert status == 0
    for name in ("check.csv", "check_layers.csv", "check_correlation.csv", "check_regimes.csv",
                 "check_thresholds.csv", "check.json", "report.html", "report.pdf"):
        assert (out / name).is_file(), name
    assert printed.startswith("As built, the network")
    samples = load(out).samples
    assert len(samples) == 2 * 3 * 2  # depths x (beta 0 added) x samples
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Depth check" in html and "http" not in html.lower()
    record = json.loads((out / "check.json").read_text())
    assert record["reused_depths"] == [] and record["factory"] == "examples/mlp_resnet.py:build"

    status, _, _ = _main([*args, "--quiet", "--no-report"], capsys)
    assert status == 0
    again = load(out)
    assert again.record["reused_depths"] == [2, 4]
    np.testing.assert_array_equal(again.samples["diff"], samples["diff"])


def test_an_interrupted_check_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C during the second depth: the first is stored; the rerun computes only the second, and
    another set of arguments (more samples) recomputes everything."""
    from sim.check import run as check_run

    real = check_run.run_depth
    calls: list[int] = []

    def stop_at_four(p, depth):
        calls.append(depth)
        if depth == 4 and len(calls) == 2:
            raise KeyboardInterrupt
        return real(p, depth)

    monkeypatch.setattr(check_run, "run_depth", stop_at_four)
    kwargs = dict(inputs=(4,), betas=[0.5], samples=2, out=tmp_path, report=False)
    with pytest.raises(KeyboardInterrupt):
        depth_check(tiny, [2, 4], **kwargs)
    assert (tmp_path / "check_parts" / "depth-000002.npz").is_file()
    result = depth_check(tiny, [2, 4], **kwargs)
    assert calls == [2, 4, 4] and result.record["reused_depths"] == [2]
    depth_check(tiny, [2, 4], **{**kwargs, "samples": 3})
    assert calls == [2, 4, 4, 2, 4]


def test_python_m_reports_builds_a_check_report(tmp_path: Path) -> None:
    from reports import build_report

    depth_check(tiny, [2, 4], inputs=(4,), betas=[0.5], samples=2, out=tmp_path, report=False)
    written = build_report(tmp_path, formats=("html",))
    assert written == [tmp_path / "report.html"]
    assert "theory predicts" in written[0].read_text(encoding="utf-8")


# ---------------------------------------------------------------------- the examples
@pytest.mark.parametrize("name", ["transformer", "mlp_resnet", "conv_resnet"])
def test_the_examples_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    build = load_factory(f"examples/{name}.py:build")
    shape = sys.modules[build.__module__].INPUT_SHAPE
    small = (2, *shape[1:])  # two items in the stream's batch
    r = depth_check(build, [2, 4], inputs=small, betas=[0.5], samples=2)
    assert np.isfinite(r.samples[["fwd", "diff", "bwd", "bwd_diff"]].to_numpy()).all()
    assert r.thresholds.iloc[0]["mapping"] == "analogy"
    assert r.record["batch"] in ("vmap", "loop") and r.record["batch_note"]


@pytest.mark.gpu
def test_the_check_runs_on_cuda() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    r = depth_check(tiny, [2, 4], inputs=(4,), betas=[0.5], samples=2, device="cuda")
    assert r.record["device_resolved"].startswith("cuda")


# ---------------------------------------------------------------------- agreement with sim.grid
def test_the_check_agrees_with_the_grid_on_res3_relu_iid(tmp_path: Path) -> None:
    """The product's res3 relu iid network (d = 16) as a Module, checked at depths 16, 64, 256 with
    32 samples, against `sim.grid.run` on the same cells (independent draws): every fitted slope
    (diff and bwd_diff at 5 betas) and both observed beta_c agree within z·sqrt(se_check² + se_grid²),
    se from each 95% interval's half-width / 1.96, z = 3.84 (family level 1e-3, Bonferroni over 12
    comparisons, two-sided). Seeds fixed. Detects a difference of slopes above about 0.15 and of
    thresholds above about 0.12 (measured: the largest |z| was 1.3)."""
    betas = [0.3, 0.4, 0.5, 0.6, 0.7]
    depths = [16, 64, 256]
    grid = sim.grid.run(block="res3", activation="relu", init="iid", beta=betas, depth=depths, width=16,
                        samples=32, seed=0, out=tmp_path / "grid", report=False, quiet=True)
    check = depth_check(lambda L: Res3Network(L, 16), depths, inputs=(16,), betas=betas, samples=32, seed=0)
    z = stats.norm.isf(1e-3 / 12 / 2)

    def se(lo: float, hi: float) -> float:
        return (hi - lo) / (2 * Z)

    g = grid.regimes[grid.regimes["quantity"].isin(["diff", "bwd_diff"])].set_index(["beta", "quantity"])
    c = check.regimes.set_index(["beta", "quantity"])
    for key in g.index:
        a, b = c.loc[key], g.loc[key]
        tolerance = z * math.hypot(se(a["slope_lo"], a["slope_hi"]), se(b["slope_lo"], b["slope_hi"]))
        assert abs(a["slope"] - b["slope"]) <= tolerance, (key, a["slope"], b["slope"], tolerance)
    gt = grid.thresholds.set_index("quantity")
    ct = check.thresholds.set_index("quantity")
    for q in ("diff", "bwd_diff"):
        a, b = ct.loc[q], gt.loc[q]
        tolerance = z * math.hypot(se(a["beta_c_lo"], a["beta_c_hi"]), se(b["beta_c_lo"], b["beta_c_hi"]))
        assert abs(a["observed_beta_c"] - b["observed_beta_c"]) <= tolerance, (q, a["observed_beta_c"],
                                                                              b["observed_beta_c"], tolerance)
        assert ct.loc[q, "verdict"] == "agree" and ct.loc[q, "mapping"] == "exact"


# ---------------------------------------------------------------------- slow: the documented runs
@pytest.mark.slow
@pytest.mark.parametrize("name, family, verdict", [
    ("transformer", "iid", "agree"), ("mlp_resnet", "iid", "agree"), ("conv_resnet", "iid", "disagree"),
])
def test_the_examples_findings(name: str, family: str, verdict: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs docs/check.md reports (depths 4 to 256, 13 betas, 8 samples, seed 0): family and
    verdict of the forward deviation's threshold."""
    monkeypatch.chdir(ROOT)
    build = load_factory(f"examples/{name}.py:build")
    shape = sys.modules[build.__module__].INPUT_SHAPE
    r = depth_check(build, [4, 16, 64, 256], inputs=shape)
    t = r.thresholds.set_index("quantity").loc["diff"]
    assert t["family"] == family and t["verdict"] == verdict and t["as_built_regime"] == "explode"
