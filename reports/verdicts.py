"""The verdict table: for each claim of the theory registry that the run covers, what theory says,
what the run observed (with intervals) and whether they agree; then one row per family threshold.

How a claim is judged depends on what it predicts (`evidence_kind`):

- regimes: the regimes.csv rows of the cells it applies to (the grid's verdict per point: observed
  regime from the fitted depth slope against the predicted one); forward claims read the `diff`
  rows, backward claims the `bwd_diff` rows. Observed thresholds are listed beside beta_c claims.
- slope: whether each fitted slope's 95% interval contains the predicted slope.
- thresholds: thresholds.csv (observed beta_c with its interval against the finite-depth threshold);
  thresholds_bwd the same for bwd_diff against the backward law's threshold.
- moments: t-tests of Monte Carlo means of exp(2 log-ratio) against the exact closed forms.
- law: z-tests of the mean and variance of 2 fwd at beta = 1/2, and a KS test of its shape.
- leading: the mean squared deviation against the leading-order finite-depth formula (leading_bwd: the
  gradient's, against the backward law, where it is valid).

Aggregation: a claim disagrees when any of its points disagrees (the table lists the worst ones),
agrees when at least one point agrees and none disagrees, and is inconclusive otherwise. Levels are
family-wise `reports.laws.LEVEL`, Bonferroni over the tests that make one verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from reports import predictions
from reports.evidence import LawEvidence, LeadingEvidence, MomentEvidence
from reports.laws import LEVEL, MAX_MEAN_SKEWNESS, MAX_RELATIVE_BIAS, z_critical
from reports.plotting import fmt, fmt_ci
from reports.rundata import Row, RunData, family_label, family_of, regularity_name, rkey

MAX_LISTED = 3  # disagreeing points named in a claim's "observed" cell


@dataclass
class VerdictRow:
    """One row of the verdict table."""

    subject: str
    status: str
    prediction: str
    observed: str
    verdict: str
    latex: str = ""
    source: str = ""
    name: str = ""


@dataclass
class ClaimVerdicts:
    """The claim rows, and the registry claims left out (with why)."""

    rows: list[VerdictRow]
    unmeasured: list[str]
    outside: list[str]


# How each claim of the registry is tested by a stored run. None: nothing a grid run stores measures
# it (per-layer or two-input quantities, limits of infinite depth or width).
KIND_BY_NAME: dict[str, str | None] = {
    "iid-trichotomy": "regimes", "fgn-res3-mean": "regimes", "fgn-res3-odd": "regimes",
    "fgn-res1": "regimes", "smooth-critical-beta": "regimes", "hermite-threshold": "regimes",
    "iid-median-width": "regimes_fwd", "hermite-growth": None, "res3-neural-sde": None, "fbm-neural-ode": None,
    "backward-regimes": "regimes_bwd", "hermite-backward-threshold": "regimes_bwd",
    "iid-exact-moment": "moment_fwd", "iid-exact-deviation": "moment_diff", "backward-moment": "moment_bwd",
    "backward-exact-deviation": "moment_bwd_diff",
    "finite-depth-backward-res3": "leading_bwd", "finite-depth-backward-res1": "leading_bwd",
    "finite-depth-backward-threshold": "thresholds_bwd",
    "critical-lognormal": "law",
    "iid-deviation-slope": "moment_diff", "iid-median-slope": "slope", "deviation-slope": "slope",
    "res1-rough-deviation-slope": "slope",
    "finite-depth-res3": "leading", "finite-depth-res1": "leading", "finite-depth-fbm": "leading",
    "finite-depth-threshold": "thresholds",
    "iid-moment-limit": None, "res1-conditional-step": None, "res1-first-layer": None,
    "width-limit-recursion": None, "smooth-neural-ode": None, "correlation-ode": None,
    "iid-neural-sde": None,
    # layers as ODE steps (theory/claims_antisym.py)
    **{f"antisym-{w}-{s}": "regimes" for w in ("iid", "shared", "smooth") for s in ("euler", "heun", "rk4")},
    "antisym-damped": "regimes", "antisym-damped-smooth": "regimes", "antisym-backward": "regimes_bwd",
    "antisym-exact-moment": "moment_fwd", "antisym-exact-deviation": "moment_diff",
    "antisym-leading-deviation": "leading", "antisym-iid-deviation": "leading", "antisym-shared-deviation": "leading",
    "rk-stability-polynomials": None, "rk-imaginary-axis": None, "rk-linear-growth": None,
    "antisym-order-two": None, "antisym-rk4-quartic": None, "antisym-iid-sde": None, "antisym-neural-ode": None,
}
STATUS_ORDER = ("theorem", "exact", "asymptotic", "conjecture")


def evidence_kind(claim: Any) -> str | None:
    """What in a run tests this claim: 'regimes', 'regimes_bwd', 'regimes_fwd' (the norm's median),
    'thresholds', 'thresholds_bwd', 'slope', 'moment_fwd', 'moment_diff', 'moment_bwd', 'moment_bwd_diff',
    'law', 'leading' or 'leading_bwd'; None when a grid run stores nothing that does.

    Known registry names are mapped explicitly; a claim added later is classified from its name and
    title, and shown as "not measured" when nothing matches.
    """
    name = str(getattr(claim, "name", ""))
    if name in KIND_BY_NAME:
        return KIND_BY_NAME[name]
    text = f"{name} {getattr(claim, 'title', '')}".lower()
    if "backward" in text and "moment" in text:
        return "moment_bwd"
    if "backward" in text or "gradient" in text:
        return "regimes_bwd"
    if "moment" in text and "deviation" in text:
        return "moment_diff"
    if "moment" in text:
        return "moment_fwd"
    if "log-normal" in text or "lognormal" in text:
        return "law"
    if "slope" in text:
        return "slope"
    if "finite-depth threshold" in text or "finite_depth_threshold" in text:
        return "thresholds"
    if "threshold" in text or "trichotomy" in text or "critical" in text:
        return "regimes"
    return None


def _applies(claim: Any, cell: Any) -> bool:
    try:
        return bool(claim.applies(cell))
    except Exception:  # a claim that cannot judge a cell does not cover it
        return False


def representative_cells(data: RunData) -> dict[tuple, Any]:
    """A `sim.Cell` per (family, regularity, beta), built from the first matching cells.csv row."""
    out: dict[tuple, Any] = {}
    for row in data.cells:
        key = (family_of(row), rkey(row.get("regularity")), rkey(row["beta"]))
        if key not in out:
            out[key] = predictions.cell_from_row(row)
    return out


def _point(row: Row) -> str:
    reg = row.get("regularity")
    init = row["init"]
    sym = {"fgn": "H", "fbm": "H", "smooth": "ℓ"}.get(init, "")
    where = f"{family_label(family_of(row))}"
    if reg is not None and sym:
        where += f" {sym}={reg:g}"
    if "beta" in row and row.get("beta") is not None:
        where += f" β={row['beta']:g}"
    return where


def _aggregate(verdicts: list[str]) -> str:
    if "disagree" in verdicts:
        return "disagree"
    if "agree" in verdicts:
        return "agree"
    return "inconclusive"


def _counts(verdicts: list[str]) -> str:
    parts = [f"{verdicts.count(v)} {v}" for v in ("agree", "disagree", "inconclusive", "outside validity",
                                                  "not covered") if verdicts.count(v)]
    return ", ".join(parts)


def _regime_observed(rows: list[Row]) -> str:
    verdicts = [r["verdict"] for r in rows]
    text = f"{len(rows)} (family, regularity, β) points: {_counts(verdicts)}."
    bad = [r for r in rows if r["verdict"] == "disagree"]
    bad.sort(key=lambda r: -abs((r.get("slope") or 0.0) - _finite_or(r.get("predicted_slope"), 0.0)))
    for r in bad[:MAX_LISTED]:
        text += (f" {_point(r)}: slope {fmt_ci(r.get('slope'), r.get('slope_lo'), r.get('slope_hi'), 2)}, "
                 f"observed {r.get('observed_regime')}, predicted {r.get('predicted_regime')}.")
    if len(bad) > MAX_LISTED:
        text += f" (+{len(bad) - MAX_LISTED} more disagreements, listed in section 1.3.)"
    return text


def _finite_or(value: float | None, default: float) -> float:
    return value if value is not None and math.isfinite(value) else default


def _observed_bc(row: Row) -> str:
    return fmt_ci(row.get("observed_beta_c"), row.get("beta_c_lo"), row.get("beta_c_hi"))


def _threshold_observed(rows: list[Row]) -> str:
    verdicts = [r["verdict"] for r in rows]
    text = f"{len(rows)} threshold(s): {_counts(verdicts)}."
    for r in [r for r in rows if r["verdict"] in ("disagree", "outside validity")][:MAX_LISTED]:
        text += f" {_point(r)}: observed β_c {_observed_bc(r)} vs finite-depth {fmt(r.get('finite_depth_beta_c'))}"
        text += " (outside the law's validity)." if r["verdict"] == "outside validity" else "."
    return text


def _thresholds_beside(rows: list[Row]) -> str:
    """Observed thresholds next to the asymptotic beta_c (finite-depth bias reported as such)."""
    if not rows:
        return ""
    parts = []
    for r in rows[:MAX_LISTED]:
        parts.append(f"{_point(r)}: observed β_c {_observed_bc(r)} vs asymptotic {fmt(r.get('asymptotic_beta_c'))} "
                     f"(finite-depth {fmt(r.get('finite_depth_beta_c'))})")
    more = f" (+{len(rows) - MAX_LISTED} more in 1.2)" if len(rows) > MAX_LISTED else ""
    return " Thresholds: " + "; ".join(parts) + more + "."


def _slope_row(rows: list[Row]) -> tuple[str | None, str]:
    """Does each fitted slope's interval contain the predicted slope at the simulated depths?

    The prediction is the finite-depth slope where regimes.csv has it (the slope the leading-order
    formula gives over the depths simulated), else the asymptotic beta_c - beta. Points predicted to
    explode are left out: no slope is predicted there and the leading-order formula does not hold.
    """
    judged = []
    for r in rows:
        asymptotic = r.get("predicted_slope")
        if asymptotic is None or not math.isfinite(asymptotic):
            continue  # explosion predicted: no slope, and the finite-depth formula is not valid there
        pred, which = r.get("finite_depth_slope"), "finite-depth"
        if pred is None or not math.isfinite(pred):
            pred, which = asymptotic, "asymptotic"
        if r.get("slope_lo") is None or r.get("slope_hi") is None:
            continue
        inside = r["slope_lo"] <= pred <= r["slope_hi"]
        judged.append((r, pred, which, "agree" if inside else "disagree"))
    if not rows:
        return None, ""
    if not judged:
        return "no point with a finite predicted slope and a fitted interval (all predicted to explode).", \
            "inconclusive"
    verdicts = [v for *_, v in judged]
    half = sorted((r["slope_hi"] - r["slope_lo"]) / 2 for r, *_ in judged)[len(judged) // 2]
    text = (f"{len(judged)} point(s) with a predicted slope: {_counts(verdicts)} (fitted 95% interval contains "
            f"the prediction; median interval half-width {half:.2f}).")
    bad = sorted((j for j in judged if j[3] == "disagree"), key=lambda j: -abs(j[0]["slope"] - j[1]))
    for r, pred, which, _ in bad[:MAX_LISTED]:
        text += (f" {_point(r)}: slope {fmt_ci(r['slope'], r['slope_lo'], r['slope_hi'], 2)} vs {which} "
                 f"{fmt(pred, 2)}.")
    return text, _aggregate(verdicts)


def _moment_row(evidence: list[MomentEvidence], quantity: str) -> tuple[str, str]:
    """t-tests of Monte Carlo means of exp(2 log-ratio) against the exact closed form."""
    label = {"fwd": "‖h_L‖²/‖h_0‖²", "diff": "‖h_L−h_0‖²/‖h_0‖²", "bwd": "‖p_0‖²/‖p_L‖²",
             "bwd_diff": "‖p_0−p_L‖²/‖p_L‖²"}[quantity]
    checks = [(e, e.checks[quantity]) for e in evidence if quantity in e.checks]
    if not checks:
        return "no stored cell that it covers.", "inconclusive"
    tested = [(e, c) for e, c in checks if c.well_estimated]
    heavy = len(checks) - len(tested)
    if not tested:
        return (f"{len(checks)} cell(s), none with a well-estimated mean (too heavy-tailed for the number of "
                f"samples: skewness of the mean > {MAX_MEAN_SKEWNESS:g}); the regime rows judge them on "
                f"log-statistics."), "inconclusive"
    failed = [(e, c) for e, c in tested if not c.passes(LEVEL, len(tested))]
    worst_e, worst = max(tested, key=lambda ec: abs(ec[1].z))
    ratios = [c.mean / c.predicted for _, c in tested if c.predicted > 0]
    text = (f"{len(tested)} cell(s) with a well-estimated mean of {label} ({heavy} heavier-tailed not tested); "
            f"MC/closed form {min(ratios):.3f} to {max(ratios):.3f}; t-tests at family-wise level {LEVEL:g} "
            f"(|t| ≤ {worst.critical(LEVEL, len(tested)):.2f} at n = {worst.n}): {len(tested) - len(failed)} pass; "
            f"largest |t| = {abs(worst.z):.2f} at β={worst_e.cell.beta:g}, L={worst_e.cell.depth}, "
            f"d={worst_e.cell.width}.")
    return text, "disagree" if failed else "agree"


def _leading_row(evidence: list[LeadingEvidence], label: str = "‖h_L−h_0‖²/‖h_0‖²") -> tuple[str, str]:
    """Mean squared deviation against the leading-order formula, with the dropped order as allowance."""
    tested = [e for e in evidence if e.check.well_estimated]
    if not tested:
        return (f"no stored cell in the formula's range of validity (α_L² L ≤ {MAX_RELATIVE_BIAS:g}) with a "
                f"well-estimated mean."), "inconclusive"
    failed = [e for e in tested
              if not e.check.within(LEVEL, len(tested), e.relative_bias * e.check.predicted)]
    ratios = [e.check.mean / e.check.predicted for e in tested]
    text = (f"{len(tested)} cell(s) with α_L² L ≤ {MAX_RELATIVE_BIAS:g}: MC mean of {label} over the "
            f"leading-order value {min(ratios):.3f} to {max(ratios):.3f}; t-tests at family-wise level {LEVEL:g} "
            f"with a relative allowance α_L² L for the dropped order: {len(tested) - len(failed)} pass.")
    for e in failed[:MAX_LISTED]:
        text += (f" {e.cell.label()}: {e.check.mean:.4g} ± {1.96 * e.check.se:.2g} vs {e.check.predicted:.4g}.")
    return text, "disagree" if failed else "agree"


def _law_row(evidence: list[LawEvidence]) -> tuple[str, str]:
    """Mean, variance and shape of 2 fwd at beta = 1/2 against the normal law."""
    if not evidence:
        return "no stored cell at β = ½ that it covers.", "inconclusive"
    zcrit = z_critical(LEVEL, 2 * len(evidence))
    ks_level = LEVEL / len(evidence)
    failures = []
    for e in evidence:
        c = e.check
        if not c.mean_ok(zcrit):
            failures.append(f"L={e.cell.depth} mean {c.mean:.3f}±{1.96 * c.mean_se:.3f} vs {c.predicted_mean:.3f}")
        if not c.var_ok(zcrit):
            failures.append(f"L={e.cell.depth} variance {c.var:.3f}±{1.96 * c.var_se:.3f} vs {c.predicted_var:.3f}")
        if not c.ks_ok(ks_level):
            failures.append(f"L={e.cell.depth} KS p={c.ks_pvalue:.2g}")
    first = evidence[-1].check
    text = (f"{len(evidence)} cell(s) at β = ½; at L={evidence[-1].cell.depth}, d={evidence[-1].cell.width}: mean "
            f"{first.mean:.3f} ± {1.96 * first.mean_se:.3f} (pred {first.predicted_mean:.3f}), variance "
            f"{first.var:.3f} ± {1.96 * first.var_se:.3f} (pred {first.predicted_var:.3f}), KS p = "
            f"{first.ks_pvalue:.2g}. Mean and variance z-tests with the O(1/L) bias allowance and KS tests, "
            f"family-wise level {LEVEL:g}.")
    if failures:
        text += " Failed: " + "; ".join(failures[:MAX_LISTED]) + "."
    return text, "disagree" if failures else "agree"


@dataclass
class Evidence:
    """Per-sample checks computed once for the whole report (see `reports.evidence`)."""

    moments: list[MomentEvidence]
    laws: list[LawEvidence]
    leading: list[LeadingEvidence]
    leading_bwd: list[LeadingEvidence] = field(default_factory=list)


def claim_verdicts(data: RunData, theory: ModuleType | None, ev: Evidence) -> ClaimVerdicts:
    """One row per registry claim that applies to some cell of the run and that the run measures."""
    if theory is None:
        return ClaimVerdicts([], [], [])
    reps = representative_cells(data)
    cells = [c for c in reps.values() if c is not None]
    rows, unmeasured, outside = [], [], []
    for claim in theory.claims():
        name = getattr(claim, "name", str(claim))
        if not any(_applies(claim, c) for c in cells):
            outside.append(name)
            continue
        observed, verdict = _judge(evidence_kind(claim), claim, data, reps, ev)
        if observed is None:
            unmeasured.append(name)
            continue
        rows.append(VerdictRow(
            subject=getattr(claim, "title", name), status=str(getattr(claim, "status", "")),
            prediction=str(getattr(claim, "statement", "")), observed=observed, verdict=verdict,
            latex=_latex(claim), source=str(getattr(claim, "source", "")), name=name))
    return ClaimVerdicts(rows, unmeasured, outside)


def _latex(claim: Any) -> str:
    try:
        return str(claim.latex())
    except Exception:  # a claim whose LaTeX cannot be produced is shown by its statement alone
        return ""


def _judge(kind: str | None, claim: Any, data: RunData, reps: dict[tuple, Any], ev: Evidence) -> tuple[str | None, str]:
    """(observed text, verdict) for one claim; (None, '') when the run has nothing that tests it."""
    if kind in ("regimes", "regimes_bwd", "regimes_fwd"):
        quantity = {"regimes_bwd": "bwd_diff", "regimes_fwd": "fwd"}.get(kind, "diff")
        rows = [r for r in data.regimes if r["quantity"] == quantity and _covers(claim, r, reps)]
        if not rows:
            return None, ""
        text = _regime_observed(rows)
        if kind == "regimes":
            text += _thresholds_beside([r for r in data.thresholds if r["quantity"] == "diff"
                                        and _covers_family(claim, r, reps)])
        return text, _aggregate([r["verdict"] for r in rows])
    if kind == "slope":
        rows = [r for r in data.regimes if r["quantity"] == "diff" and _covers(claim, r, reps)]
        return _slope_row(rows)
    if kind in ("thresholds", "thresholds_bwd"):
        quantity = "bwd_diff" if kind == "thresholds_bwd" else "diff"
        rows = [r for r in data.thresholds if r["quantity"] == quantity and _covers_family(claim, r, reps)]
        if not rows:
            return None, ""
        return _threshold_observed(rows), _aggregate([r["verdict"] for r in rows])
    if kind in ("moment_fwd", "moment_diff", "moment_bwd", "moment_bwd_diff", "law", "leading",
                "leading_bwd") and data.stored is None:
        return "not measured here: needs per-sample values (results.sqlite).", "not measured"
    if kind in ("moment_fwd", "moment_diff", "moment_bwd", "moment_bwd_diff"):
        quantity = kind.split("_", 1)[1]
        return _moment_row([e for e in ev.moments if _applies(claim, e.cell)], quantity)
    if kind == "law":
        return _law_row([e for e in ev.laws if _applies(claim, e.cell)])
    if kind == "leading":
        return _leading_row([e for e in ev.leading if _applies(claim, e.cell)])
    if kind == "leading_bwd":
        return _leading_row([e for e in ev.leading_bwd if _applies(claim, e.cell)], "‖p_0−p_L‖²/‖p_L‖²")
    return None, ""


def _judged_on(claim: Any, cell: Any) -> bool:
    """Whether the run's median verdicts on `cell` test `claim` (`Claim.judged_on`; `applies` for a
    claim object without it)."""
    try:
        judged = getattr(claim, "judged_on", None)
        return bool(judged(cell)) if judged is not None else bool(claim.applies(cell))
    except Exception:  # a claim that cannot judge a cell does not cover it
        return False


def _covers(claim: Any, row: Row, reps: dict[tuple, Any]) -> bool:
    cell = reps.get((family_of(row), rkey(row.get("regularity")), rkey(row["beta"])))
    return cell is not None and _judged_on(claim, cell)


def _covers_family(claim: Any, row: Row, reps: dict[tuple, Any]) -> bool:
    fam, reg = family_of(row), rkey(row.get("regularity"))
    return any(c is not None and _applies(claim, c) for (f, r, _b), c in reps.items() if f == fam and r == reg)


def threshold_verdicts(data: RunData, theory: ModuleType | None, quantity: str = "diff") -> list[VerdictRow]:
    """One row per thresholds.csv row of `quantity` (family and regularity)."""
    reps = representative_cells(data)
    claims = list(theory.claims()) if theory is not None else []
    rows = []
    for r in data.thresholds:
        if r["quantity"] != quantity:
            continue
        reg = r.get("regularity")
        name = regularity_name(r["init"])
        subject = family_label(family_of(r)) + (f", {name.split()[-1]} = {reg:g}" if reg is not None and name else "")
        prediction = (f"finite-depth threshold {fmt(r.get('finite_depth_beta_c'))}; "
                      f"asymptotic β_c {fmt(r.get('asymptotic_beta_c'))}")
        if quantity == "bwd_diff":
            prediction = _backward_prediction(r, data.thresholds)
        observed = f"β_c = {fmt_ci(r.get('observed_beta_c'), r.get('beta_c_lo'), r.get('beta_c_hi'))}"
        rows.append(VerdictRow(subject=subject, status=_threshold_status(r, claims, reps), prediction=prediction,
                               observed=observed, verdict=r.get("verdict") or "inconclusive"))
    return rows


def forward_row(row: Row, thresholds: list[Row]) -> Row | None:
    """The forward (diff) thresholds.csv row of the family and regularity of a bwd_diff row."""
    key = (family_of(row), rkey(row.get("regularity")))
    return next((r for r in thresholds if r["quantity"] == "diff"
                 and (family_of(r), rkey(r.get("regularity"))) == key), None)


def _backward_prediction(row: Row, thresholds: list[Row]) -> str:
    """A bwd_diff row's predictions: the backward law's finite-depth threshold (docs/theory.md §4.10) beside
    the forward law's, or the forward law's alone where it is borrowed."""
    basis = str(row.get("verdict_basis") or "")
    forward = forward_row(row, thresholds)
    forward_value = fmt(forward.get("finite_depth_beta_c")) if forward else "—"
    asymptotic = f"asymptotic β_c {fmt(row.get('asymptotic_beta_c'))}"
    if "forward law" in basis:
        return f"finite-depth threshold {fmt(row.get('finite_depth_beta_c'))} (forward law, borrowed); {asymptotic}"
    text = f"backward finite-depth threshold {fmt(row.get('finite_depth_beta_c'))}"
    if row.get("verdict") == "outside validity":
        text += " (outside its validity: the forward deviation exceeds the input there)"
    return f"{text}; forward law {forward_value}; {asymptotic}"


def _threshold_status(row: Row, claims: list[Any], reps: dict[tuple, Any]) -> str:
    """The status of the asymptotic beta_c: the weakest among the registry claims that set it for the
    family (e.g. theorem for iid, conjecture for fgn); '—' when theory is unavailable. Backward rows
    also count the forward beta_c claims: gradients follow the same trichotomy (docs/theory.md §4.6)."""
    wanted = ("regimes_bwd", "regimes") if row["quantity"] == "bwd_diff" else ("regimes",)
    statuses = [str(c.status) for c in claims if evidence_kind(c) in wanted and _covers_family(c, row, reps)]
    statuses = [s for s in statuses if s in STATUS_ORDER]
    if not statuses:
        return "—"
    return max(statuses, key=STATUS_ORDER.index)
