"""Registry claims for ResNets as ODE discretizations: the steppers' stability and the antisym block.

Appended to `theory.claims.claims()`. Each claim's `covers` selects exactly the cells its derivation
is for (see `theory.antisym` for the derivations, `theory.stability` for the stability facts).
"""

from __future__ import annotations

import sympy

from sim.cell import Cell
from theory.antisym import (
    antisym_covered,
    antisym_family,
    critical_beta,
    exact_moment_applies,
    explosion_beta,
    gamma,
    log_norm_rate,
    mean_drift,
    regime,
    s2,
    second_order_coefficient,
)
from theory.claim import Claim
from theory.scope import NotCovered
from theory.stability import (
    STEPPER_NAMES,
    imaginary_gain,
    imaginary_log_growth_leading,
    imaginary_stability_limit,
    real_log_growth_leading,
    stability_polynomial,
    y,
)
from theory.symbols import L, alpha, beta, exact

STABILITY = "Haber & Ruthotto 2017; Ascher 2008"
DERIVED = "derived here"
DERIVED_FROM_STABILITY = "derived here; stability: Haber & Ruthotto 2017, Ascher 2008"

_beta_c = sympy.Symbol("beta_c")
_regime = sympy.Symbol(r"\mathrm{regime}")
_explode, _nontrivial, _identity = (sympy.Symbol(rf"\mathrm{{{n}}}") for n in ("explode", "non-trivial", "identity"))
_slope = sympy.Symbol(r"\frac{d \log \mathrm{med}\|h_L - h_0\|}{d \log L}")
_moment = sympy.Symbol(r"\mathbb{E}\|h_L\|^2/\|h_0\|^2")
_deviation = sympy.Symbol(r"\mathbb{E}\|h_L - h_0\|^2/\|h_0\|^2")
_log_norm = sympy.Symbol(r"\mathbb{E}\log(\|h_L\|^2/\|h_0\|^2)")
_z = sympy.Symbol("z")


def _r(stepper: str) -> sympy.Function:
    return sympy.Function(rf"R_{{\mathrm{{{stepper}}}}}")


def _shared(cell: Cell) -> bool:
    return antisym_covered(cell) and antisym_family(cell) == "shared"


def _regime_defined(cell: Cell) -> bool:
    try:
        regime(cell)
    except NotCovered:
        return False
    return True


def _threshold_cell(init: str, stepper: str, damped: bool):
    def covers(cell: Cell) -> bool:
        if not antisym_covered(cell) or antisym_family(cell) != init or cell.stepper != stepper:
            return False
        return (cell.damping > 0) == damped and _regime_defined(cell)
    return covers


def _regime_formula(beta_e: sympy.Expr | None, beta_c: sympy.Expr) -> sympy.Expr:
    pieces = [] if beta_e is None else [(_explode, beta < beta_e)]
    pieces += [(_nontrivial, beta <= beta_c), (_identity, True)]
    return sympy.Tuple(sympy.Eq(_beta_c, beta_c), sympy.Eq(_regime, sympy.Piecewise(*pieces)),
                       sympy.Eq(_slope, beta_c - beta))


def _probe(init: str, stepper: str, damping: float = 0.0) -> Cell:
    extra = {"lengthscale": 0.5} if init == "smooth" else {}
    return Cell(block="antisym", activation="identity", init=init, stepper=stepper, damping=damping,
                beta=0.5, width=32, **extra)


_EXPLAIN = {
    ("iid", "euler"): "||h + alpha S h||^2 = ||h||^2 (1 + alpha^2 ||S u||^2) makes log ||h_L||^2 grow like "
                      "s2 L^(1-2beta), and the exact deviation moment vanishes for beta > 1/2",
    ("iid", "heun"): "the order-alpha^2 rate s2/2 of the log-norm is positive and the deviation is a random "
                     "walk of variance s2 alpha^2 (L - 1/2)",
    ("iid", "rk4"): "the log-norm has no alpha^2 term and a negative alpha^4 rate (collapse for beta < 1/4, "
                    "Gaussian weights), while the deviation is a random walk of variance s2 alpha^2 (L - 1/2) that "
                    "saturates at O(1) below 1/2",
    ("shared", "euler"): "|R(iy)|^2 = 1 + y^2 gives log-norm mu^2 L^(1-2beta)/2, and the rotation angle "
                         "L^(1-beta) mu keeps the deviation O(1) up to beta = 1",
    ("shared", "heun"): "|R(iy)|^2 = 1 + y^4/4 gives log-norm mu^4 L^(1-4beta)/8, and the rotation angle "
                        "L^(1-beta) mu keeps the deviation O(1) up to beta = 1",
    ("shared", "rk4"): "|R(iy)|^2 = 1 - y^6/72 + y^8/576 never grows for |y| < 2 sqrt(2), and the rotation angle "
                       "L^(1-beta) mu keeps the deviation O(1) up to beta = 1",
}


def _threshold_claims() -> list[Claim]:
    out = []
    for init in ("iid", "shared", "smooth"):
        for stepper in STEPPER_NAMES:
            probe = _probe(init, stepper)
            beta_e, beta_c = explosion_beta(probe), critical_beta(probe)
            band = ("no explosion at any beta > 0" if beta_e is None else f"explosion for beta < {beta_e}")
            if init == "smooth":
                reason = ("smooth weights are locally constant over many layers, so the shared-weight "
                          "analysis applies to leading order")
                status, source = "conjecture", DERIVED_FROM_STABILITY
            else:
                reason = _EXPLAIN[(init, stepper)]
                status = "asymptotic"
                source = DERIVED_FROM_STABILITY if init == "shared" else DERIVED
            scope = f"antisym, identity, {init} weights, {stepper}, no damping"
            if init == "iid" and stepper == "rk4":
                scope += " (beta < 1/4 only with Gaussian weights)"
            if beta_e is None or init == "iid" and stepper == "heun":
                scope += ", beta > 0"
            out.append(Claim(
                f"antisym-{init}-{stepper}", f"Thresholds of antisym, {init} weights, {stepper}", status, source,
                _regime_formula(beta_e, beta_c),
                f"With {init} weights, the identity activation, no damping and {stepper} steps the deviation "
                f"threshold is beta_c = {beta_c} with {band}, non-trivial up to beta_c and identity above "
                f"(deviation slope beta_c - beta), because {reason}.",
                scope, _threshold_cell(init, stepper, damped=False)))
    return out


def _damped_covers(families: tuple[str, ...]):
    def covers(cell: Cell) -> bool:
        return (antisym_covered(cell) and antisym_family(cell) in families and cell.damping > 0
                and _regime_defined(cell))
    return covers


def antisym_claims() -> list[Claim]:
    """The claims of the ODE-discretization section, in the order: stability, antisym moments,
    thresholds, finite depth, limits."""
    half = sympy.Rational(1, 2)
    polys = sympy.Tuple(*(sympy.Eq(_r(s)(_z), stability_polynomial(s)) for s in STEPPER_NAMES))
    gains = sympy.Tuple(*(sympy.Eq(sympy.Abs(_r(s)(sympy.I * y)) ** 2, imaginary_gain(s)) for s in STEPPER_NAMES))
    growth = sympy.Tuple(*(sympy.Eq(sympy.Symbol(rf"\log\|h_L\|_{{\mathrm{{{s}}}}}"),
                                    imaginary_log_growth_leading(s)) for s in STEPPER_NAMES),
                         sympy.Eq(sympy.Symbol(r"\log\|h_L\|_{\lambda \in \mathbb{R}}"),
                                  real_log_growth_leading("euler")))
    exact_step = (1 - alpha * gamma) ** 2 + alpha**2 * s2
    order2 = sympy.Tuple(*(sympy.Eq(sympy.Symbol(rf"[\alpha^2]_{{\mathrm{{{s}}}}}"), L * second_order_coefficient(s))
                           for s in STEPPER_NAMES))
    quartic = log_norm_rate("rk4")[1]
    drifts = sympy.Tuple(*(sympy.Eq(sympy.Symbol(rf"m_{{2,\mathrm{{{s}}}}}"), mean_drift(s)) for s in STEPPER_NAMES))
    h_t = sympy.Symbol("H_t", commutative=False)
    dw = sympy.Symbol("dW_t", commutative=False)
    m2 = sympy.Symbol("m_2")
    mu_sym = sympy.Symbol("mu", real=True)
    spectral = sympy.Integral(sympy.Abs(sympy.Function("R")(alpha * (sympy.I * mu_sym - gamma)) ** L - 1) ** 2
                              * sympy.sqrt(4 * s2 - mu_sym**2) / (2 * sympy.pi * s2),
                              (mu_sym, -2 * sympy.sqrt(s2), 2 * sympy.sqrt(s2)))
    w = sympy.Function("w")
    m, n = sympy.symbols("m n", integer=True, nonnegative=True)
    corr = sympy.Function(r"\gamma")
    leading = alpha**2 * (s2 * sympy.Sum(w(m) * w(n) * corr(m - n), (m, 0, L), (n, 0, L)) + gamma**2 * L**2)
    cumulant = sympy.Function(r"\kappa")
    resummed = sympy.exp(cumulant(sympy.Symbol("N"))) - 2 * sympy.exp(cumulant(sympy.Symbol("O"))) + 1
    rk4_limit = imaginary_stability_limit("rk4")
    claims = [
        Claim("rk-stability-polynomials", "Stability polynomials of the steppers", "theorem", STABILITY, polys,
              "With shared weights and a linear field each layer is h_(k+1) = R(alpha A) h_k with R(z) = 1 + z b^T "
              "(I - z a)^(-1) 1 from the tableau: 1 + z (euler, order 1), 1 + z + z^2/2 (heun, order 2) and the "
              "degree-4 Taylor polynomial of exp(z) (rk4, order 4).",
              "antisym, identity, shared weights, every stepper", _shared),
        Claim("rk-imaginary-axis", "Imaginary-axis gain of the steppers", "theorem", STABILITY, gains,
              f"On the imaginary axis |R(iy)|^2 is 1 + y^2 (euler), 1 + y^4/4 (heun) and 1 - y^6/72 + y^8/576 "
              f"(rk4), so only rk4 is stable for small imaginary steps, on |y| <= {sympy.sstr(rk4_limit)}.",
              "antisym, identity, shared weights, no damping",
              lambda c: _shared(c) and c.damping == 0),
        Claim("rk-linear-growth", "Depth growth of the linear test problem", "asymptotic", DERIVED_FROM_STABILITY,
              growth,
              "On an eigenvector of eigenvalue i mu the log-norm after L layers is about (c/2) mu^(2m) "
              "L^(1 - 2 m beta) with c y^(2m) the first term of |R(iy)|^2 - 1 (euler mu^2 L^(1-2beta)/2, heun "
              "mu^4 L^(1-4beta)/8, rk4 -mu^6 L^(1-6beta)/144), and on a real eigenvalue lambda it is lambda "
              "L^(1-beta) for every stepper.",
              "antisym, identity, shared weights", _shared),
        Claim("antisym-exact-moment", "Exact second moment, antisym Euler", "exact", DERIVED,
              sympy.Eq(_moment, exact_step**L),
              "For iid weights, the identity activation and Euler steps, <h, S h> = 0 and E||S u||^2 = 2(d-1)/d "
              "give E||h_L||^2/||h_0||^2 = ((1 - alpha gamma)^2 + 2 alpha^2 (d-1)/d)^L exactly, for any "
              "zero-mean entry law of variance 1/d.",
              "antisym, identity, iid weights, euler, any damping", exact_moment_applies),
        Claim("antisym-exact-deviation", "Exact deviation moment, antisym Euler", "exact", DERIVED,
              sympy.Eq(_deviation, exact_step**L - 2 * (1 - alpha * gamma) ** L + 1),
              "Since E h_L = (1 - alpha gamma)^L h_0 for independent layers, E||h_L - h_0||^2/||h_0||^2 = "
              "((1 - alpha gamma)^2 + 2 alpha^2 (d-1)/d)^L - 2 (1 - alpha gamma)^L + 1 exactly in the same cells.",
              "antisym, identity, iid weights, euler, any damping", exact_moment_applies),
        Claim("antisym-order-two", "Order-alpha^2 norm growth, iid antisym", "exact", DERIVED, order2,
              "With iid weights and no damping the alpha^2 coefficient of E||h_L||^2/||h_0||^2 is exactly "
              "L s2, L s2/2 and 0 (s2 = 2(d-1)/d) for euler, heun and rk4, the weights of layer k+1 being shared by "
              "two consecutive steps; for rk4 the alpha^2 term of ||h_L||^2 vanishes for every draw.",
              "antisym, identity, iid weights, no damping, every stepper and entry law",
              lambda c: antisym_covered(c) and antisym_family(c) == "iid" and c.damping == 0),
        Claim("antisym-rk4-quartic", "Norm decay of RK4 with iid weights", "asymptotic", DERIVED,
              sympy.Eq(_log_norm, quartic * L ** (1 - 4 * beta)),
              "With iid Gaussian weights, no damping and rk4 steps both E log(||h_L||^2/||h_0||^2) and log "
              "E||h_L||^2/||h_0||^2 are -(d^2 - 1)/(36 d^2) L alpha^4 + O(L alpha^6) (the alpha^2 and alpha^3 "
              "terms of ||h_L||^2 vanish for every draw), so the norm slowly collapses for beta < 1/4 instead of "
              "exploding.",
              "antisym, identity, iid Gaussian weights, rk4, no damping",
              lambda c: (antisym_covered(c) and antisym_family(c) == "iid" and c.stepper == "rk4"
                         and c.damping == 0 and c.dist == "gaussian")),
        *_threshold_claims(),
        Claim("antisym-damped", "Thresholds of damped antisym", "asymptotic", DERIVED,
              _regime_formula(None, sympy.Integer(1)),
              "With damping gamma > 0 and iid or shared weights the per-layer log-growth is -2 alpha gamma + "
              "O(alpha^2), so for every stepper nothing explodes at beta > 0, the state collapses for beta < 1 "
              "and the deviation is gamma L^(1-beta) above beta_c = 1 (at finite depth Euler still explodes "
              "while alpha > 2 gamma/s2).",
              "antisym, identity, iid or shared weights, damping > 0, beta > 0",
              _damped_covers(("iid", "shared"))),
        Claim("antisym-damped-smooth", "Thresholds of damped antisym, smooth weights", "conjecture",
              DERIVED_FROM_STABILITY, _regime_formula(None, sympy.Integer(1)),
              "With damping gamma > 0 and smooth weights the locally constant field gives the shared-weight "
              "answer: beta_c = 1, no explosion for beta > 0 and a collapsing state below beta_c.",
              "antisym, identity, smooth weights, damping > 0, beta > 0", _damped_covers(("smooth",))),
        Claim("antisym-leading-deviation", "Leading-order deviation of antisym at finite depth", "asymptotic",
              DERIVED, sympy.Eq(_deviation, leading),
              "To order alpha^2 the deviation is alpha sum_m w_m A_m h_0 (w = 1 over L matrices for euler, the "
              "trapezoid over L + 1 for heun and rk4), so E||h_L - h_0||^2/||h_0||^2 = alpha^2 (s2 sum w_m w_n "
              "gamma(m-n) + gamma^2 L^2): L s2 alpha^2 (iid euler), (L - 1/2) s2 alpha^2 (iid heun, rk4), L^2 s2 "
              "alpha^2 (shared); its log-log slope sets the finite-depth threshold.",
              "antisym, identity, iid, shared or smooth weights", antisym_covered),
        Claim("antisym-iid-deviation", "Finite-depth deviation of antisym, iid weights", "asymptotic", DERIVED,
              sympy.Eq(_deviation, resummed),
              "With iid weights and heun or rk4 steps log E||h_L||^2 and log E<h_L, h_0> are L r(alpha) + "
              "b(alpha) with exact per-layer rates r and boundary terms b (to alpha^4 for Gaussian weights, alpha^2 "
              "otherwise), so E||h_L - h_0||^2/||h_0||^2 = exp(kappa_N) - 2 exp(kappa_O) + 1 across regimes.",
              "antisym, identity, iid weights, heun or rk4",
              lambda c: antisym_covered(c) and antisym_family(c) == "iid" and c.stepper != "euler"),
        Claim("antisym-shared-deviation", "Finite-depth deviation of antisym, shared weights", "asymptotic",
              DERIVED_FROM_STABILITY, sympy.Eq(_deviation, spectral),
              "With shared weights h_L = R(alpha A)^L h_0, so at large width E||h_L - h_0||^2/||h_0||^2 is the "
              "integral of |R(alpha(i mu - gamma))^L - 1|^2 against the semicircle law of the eigenvalues mu of "
              "K - K^T (variance s2), in every regime.",
              "antisym, identity, shared weights (asymptotic in width)", _shared),
        Claim("antisym-iid-sde", "Neural SDE of antisym at beta = 1/2", "asymptotic", DERIVED,
              sympy.Tuple(sympy.Eq(sympy.Symbol("dH_t"), -m2 * sympy.Symbol(r"{H_{t} \, dt}") + dw * h_t), drifts),
              "With iid weights and no damping at beta = 1/2 the network approaches dH = -m2 H dt + dW H on "
              "[0, 1] (dW antisymmetric Brownian, E dW^T dW = s2 I dt) with m2 = 0, s2/4, s2/2 for euler, heun, "
              "rk4: an Ito, an intermediate and a Stratonovich (norm-preserving) limit.",
              "antisym, identity, iid weights, no damping, beta = 1/2",
              lambda c: (antisym_covered(c) and antisym_family(c) == "iid" and c.damping == 0
                         and exact(c.beta, "beta") == half)),
        Claim("antisym-neural-ode", "Neural ODE of antisym at beta = 1", "theorem", STABILITY,
              sympy.Eq(sympy.Symbol(r"\frac{d H_t}{d t}"),
                       (sympy.Symbol("S(t)", commutative=False) - gamma) * h_t),
              "With shared or smooth weights and beta = 1 every consistent stepper converges to the ODE "
              "dH/dt = (S(t) - gamma I) H on [0, 1] (for shared weights R(A/L)^L -> exp(A)).",
              "antisym, identity, shared or smooth weights, beta = 1",
              lambda c: (antisym_covered(c) and antisym_family(c) in ("shared", "smooth")
                         and exact(c.beta, "beta") == 1)),
        Claim("antisym-backward", "Backward regimes of antisym", "asymptotic", DERIVED,
              sympy.Eq(sympy.Symbol(r"\mathrm{regime}(\partial_{h_0}\ell)"), _regime),
              "Gradients follow the forward regimes: with shared weights (R(alpha A)^T)^L has the singular values "
              "of R(alpha A)^L, with iid Euler weights (I + alpha A_k)^T has the law of I + alpha A_k, and with iid "
              "Heun weights and no damping the reversed product has the forward law.",
              "antisym, identity: shared weights, iid with euler, iid with heun and no damping",
              lambda c: (antisym_covered(c) and _regime_defined(c)
                         and (antisym_family(c) == "shared"
                              or antisym_family(c) == "iid" and (c.stepper == "euler"
                                                                  or c.stepper == "heun" and c.damping == 0)))),
    ]
    return claims

