"""The claims registry: every docs/theory.md §4 claim present, with its status, LaTeX and sentence."""

from __future__ import annotations

import pytest
import sympy

from sim.cell import ACTIVATIONS, INITS, Cell
from theory import STATUSES, Claim, claim, claims, claims_for, predictions
from theory.claims import _section4_claims

# docs/theory.md §4 claim -> (registry name, status docs/theory.md gives it)
SECTION4_CLAIMS = {
    "4.1 iid trichotomy": ("iid-trichotomy", "theorem"),
    "4.2 exact second moment": ("iid-exact-moment", "exact"),
    "4.2 exact deviation moment": ("iid-exact-deviation", "exact"),
    "4.2 res1 conditional step": ("res1-conditional-step", "exact"),
    "4.2 res1 relu first layer": ("res1-first-layer", "exact"),
    "4.2 width-limit recursion": ("width-limit-recursion", "asymptotic"),
    "4.3 critical log-normal law": ("critical-lognormal", "asymptotic"),
    "4.4 smooth neural ODE": ("smooth-neural-ode", "theorem"),
    "4.4 smooth beta_c = 1": ("smooth-critical-beta", "conjecture"),
    "4.4 fgn res3 mean": ("fgn-res3-mean", "conjecture"),
    "4.4 fgn res3 odd": ("fgn-res3-odd", "conjecture"),
    "4.4 fgn res1": ("fgn-res1", "conjecture"),
    "4.5 deviation slope": ("deviation-slope", "conjecture"),
    "4.5 exact for iid res3": ("iid-deviation-slope", "exact"),
    "4.6 backward regimes": ("backward-regimes", "theorem"),
    "4.6 backward second moment": ("backward-moment", "exact"),
    "4.6 backward deviation": ("backward-exact-deviation", "exact"),
    "4.7 two-input cosine": ("correlation-ode", "asymptotic"),
    "4.8 finite-depth deviation": ("finite-depth-res3", "asymptotic"),
    "4.8 finite-depth threshold": ("finite-depth-threshold", "asymptotic"),
    "4.10 backward deviation, res3": ("finite-depth-backward-res3", "asymptotic"),
    "4.10 backward deviation, res1": ("finite-depth-backward-res1", "asymptotic"),
    "4.10 backward threshold": ("finite-depth-backward-threshold", "asymptotic"),
    "4.10 backward Hermite threshold": ("hermite-backward-threshold", "conjecture"),
}


def test_every_spec_claim_is_registered_with_its_status():
    registry = {c.name: c for c in claims()}
    for label, (name, status) in SECTION4_CLAIMS.items():
        assert name in registry, label
        assert registry[name].status == status, label


def test_names_are_unique_and_statuses_valid():
    names = [c.name for c in claims()]
    assert len(names) == len(set(names))
    assert all(c.status in STATUSES for c in claims())


@pytest.mark.parametrize("item", claims(), ids=lambda c: c.name)
def test_claim_renders_latex_and_one_sentence(item: Claim):
    tex = item.latex()
    assert isinstance(tex, str) and tex.strip()
    assert tex == sympy.latex(item.formula)
    text = item.statement
    assert text.endswith(".") and "\n" not in text and len(text) > 30
    assert item.title and item.source and item.scope


def test_claim_status_must_be_known():
    with pytest.raises(ValueError, match="status"):
        Claim("x", "x", "folklore", "nowhere", sympy.Integer(1), "A sentence.", "all",
              lambda cell: True)


def test_claim_lookup():
    assert claim("iid-trichotomy").status == "theorem"
    with pytest.raises(ValueError, match="name"):
        claim("no-such-claim")


def test_claims_for_selects_by_scope():
    iid = {c.name for c in claims_for(Cell())}
    assert {"iid-trichotomy", "iid-exact-moment", "critical-lognormal", "finite-depth-res3"} <= iid
    assert "fgn-res3-mean" not in iid
    fgn = {c.name for c in claims_for(Cell(init="fgn", hurst=0.8))}
    assert {"fgn-res3-mean", "deviation-slope", "finite-depth-res3"} <= fgn
    assert "iid-exact-moment" not in fgn
    tanh = {c.name for c in claims_for(Cell(init="fgn", hurst=0.8, activation="tanh"))}
    assert "fgn-res3-odd" in tanh and "fgn-res3-mean" not in tanh
    res1 = {c.name for c in claims_for(Cell(block="res1"))}
    assert {"res1-conditional-step", "res1-first-layer", "width-limit-recursion"} <= res1
    assert "iid-exact-moment" not in res1


def _cells(blocks, activations, inits, **fields):
    for block in blocks:
        for act in activations:
            for init in inits:
                extra = {"hurst": 0.3} if init in ("fgn", "fbm") else {}
                if init == "smooth":
                    extra = {"lengthscale": 0.3}
                yield Cell(block=block, activation=act, init=init, **extra, **fields)


def test_every_euler_residual_cell_has_a_critical_claim_and_a_slope_claim():
    critical = {"iid-trichotomy", "fgn-res3-mean", "fgn-res3-odd", "fgn-res1", "smooth-critical-beta"}
    slope = {"iid-deviation-slope", "deviation-slope", "res1-rough-deviation-slope"}
    for cell in _cells(("res1", "res3", "linear"), ACTIVATIONS, INITS):
        names = {c.name for c in claims_for(cell)}
        assert names & critical and names & slope, cell.label()


def test_other_steppers_and_blocks_get_no_euler_claim():
    """Heun / RK4 steps of the residual blocks and antisym cells are other networks: no docs/theory.md §4 claim
    covers them (their own claims come from theory.claims_antisym)."""
    spec = {c.name for c in _section4_claims()}
    cells = [*_cells(("res1", "res3", "linear"), ACTIVATIONS, INITS, stepper="heun"),
             *_cells(("res3",), ("relu",), INITS, stepper="rk4"),
             *_cells(("antisym",), ACTIVATIONS, INITS)]
    for cell in cells:
        names = {c.name for c in claims_for(cell)}
        assert not names & (spec - {"finite-depth-threshold"}), (cell.label(), names & spec)
        if cell.block != "antisym" or cell.activation != "identity" or cell.init in ("fgn", "fbm"):
            assert not names, (cell.label(), names)


def test_predictions_carry_status_and_claim():
    items = predictions(Cell(init="fgn", hurst=0.8, beta=0.6, depth=64), depths=[64, 256, 1024])
    registry = {c.name for c in claims()}
    for p in items:
        assert p.status in STATUSES or p.status == "not covered"
        assert p.claim in registry or p.status == "not covered"
    by_name = {p.name: p for p in items}
    assert by_name["beta_c"].value == sympy.Rational(4, 5)
    assert str(by_name["regime"].value) == "explode"
    assert by_name["depth exponent"].value == sympy.oo
