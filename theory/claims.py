"""The registry of encoded predictions: every claim of docs/theory.md §4 and of the ODE-discretization
theory (steppers, antisym block), with status and scope.

Each `Claim` carries its formula (sympy, written with a generic c_sigma), its status (one of the
four defined in docs/theory.md), its source, a one-sentence statement and the predicate saying which
cells it covers. `claims()` lists them all; `claims_for(cell)` those that apply to a cell.
"""

from __future__ import annotations

from functools import cache

import sympy

from sim.cell import Cell
from theory.activations import hermite_order
from theory.claim import Claim
from theory.claims_antisym import antisym_claims
from theory.critical import rough_res1
from theory.inputs import input_factor_is_exact
from theory.limits import HAYOU, MARION
from theory.scope import (
    CONTINUOUS_INITS,
    activation_of,
    euler_residual,
    exact_moment_applies,
    iid_like,
    slope_of,
)
from theory.symbols import H, L, alpha, beta, d, j, k, t, tau
from theory.width import width_rule_applies

# Symbol names containing "{" are printed verbatim by sympy's LaTeX printer: the display names
# below are written with braces so that sub- and superscripts are not re-parsed.
_c = sympy.Symbol("c_sigma", positive=True)
_beta_c = sympy.Symbol("beta_c")
_moment = sympy.Symbol(r"\mathbb{E}\|h_L\|^2/\|h_0\|^2")
_deviation = sympy.Symbol(r"\mathbb{E}\|h_L - h_0\|^2/\|h_0\|^2")
_backward = sympy.Symbol(r"\mathbb{E}\|\partial_{h_0}\ell\|^2/\|\partial_{h_L}\ell\|^2")
_backward_deviation = sympy.Symbol(r"\mathbb{E}\|\partial_{h_0}\ell - \partial_{h_L}\ell\|^2/\|\partial_{h_L}\ell\|^2")
_slope = sympy.Symbol(r"\frac{d \log \mathrm{med}\|h_L - h_0\|}{d \log L}")
_gamma = sympy.Function(r"\gamma")
_kappa = sympy.Function(r"\kappa_\sigma")


def _fgn(cell: Cell) -> bool:
    return euler_residual(cell) and cell.init == "fgn" and not iid_like(cell)


def _iid_residual(cell: Cell) -> bool:
    return euler_residual(cell) and iid_like(cell)


def _trichotomy_median(cell: Cell) -> bool:
    """Where the medians the verdicts judge follow the trichotomy: iid residual cells outside the
    small-width rule of docs/theory.md §4.9."""
    return _iid_residual(cell) and not width_rule_applies(cell)


def _lipschitz_in_t(cell: Cell) -> bool:
    return euler_residual(cell) and cell.init in ("smooth", "shared")


def _continuous_residual(cell: Cell) -> bool:
    return euler_residual(cell) and cell.init in CONTINUOUS_INITS


def _iid_res1(cell: Cell) -> bool:
    return _iid_residual(cell) and cell.block in ("res1", "linear")


def _res3_order(cell: Cell, order: int) -> bool:
    return (_fgn(cell) and cell.block == "res3"
            and hermite_order(activation_of(cell), slope_of(cell)) == order)


def _stationary_finite(cell: Cell, res3: bool) -> bool:
    return euler_residual(cell) and cell.init != "fbm" and (cell.block == "res3") == res3


def _stationary_euler(cell: Cell) -> bool:
    return euler_residual(cell) and cell.init != "fbm"


def _generic_slope(cell: Cell) -> bool:
    return euler_residual(cell) and not exact_moment_applies(cell) and not rough_res1(cell)


def _finite_depth_threshold(cell: Cell) -> bool:
    from theory.antisym import antisym_covered

    return euler_residual(cell) or antisym_covered(cell)


def _section4_claims() -> list[Claim]:
    """The claims of docs/theory.md §4, in the order of docs/theory.md."""
    half = sympy.Rational(1, 2)
    step = (1 + _c * alpha**2) ** L
    order = sympy.Symbol("n_0", integer=True, nonnegative=True)
    dev_sum = alpha**2 * sympy.Sum(_gamma(j - k) * _kappa(_gamma(j - k)), (j, 0, L - 1), (k, 0, L - 1))
    res1_sum = alpha**2 * sympy.Sum(_gamma(j - k), (j, 0, L - 1), (k, 0, L - 1)) * sympy.Symbol("F_sigma")
    cov = sympy.Function("C")
    bwd_sum = alpha**2 * sympy.Sum(
        _gamma(j - k) * ((1 - 1 / d) * _gamma(j - k) * sympy.Function(r"\kappa_{\sigma'}")(_gamma(j - k))
                         + sympy.Function(r"\lambda_\sigma")(_gamma(j - k)) / d),
        (j, 0, L - 1), (k, 0, L - 1))
    bwd_res1_sum = alpha**2 * sympy.Sum(_gamma(j - k), (j, 0, L - 1), (k, 0, L - 1)) * sympy.Symbol("G_sigma")
    fbm_sum = alpha**2 * sympy.Sum(cov(j, k) * sympy.Function(r"\tilde\kappa_\sigma")(j, k),
                                   (j, 0, L - 1), (k, 0, L - 1))
    rho_t = sympy.Function("rho")(t)
    q_k, q_next = sympy.Symbol("q_k"), sympy.Symbol("q_{k+1}")
    z = sympy.Symbol("Z")
    sigma = sympy.Function(r"\sigma")
    expect = sympy.Function(r"\mathbb{E}")
    log_ratio = sympy.Symbol(r"\log(\|h_{L}\|^{2}/\|h_{0}\|^{2})")
    normal = sympy.Function(r"\mathcal{N}")
    beta_star = sympy.Symbol(r"\beta^*")
    slope_fit = sympy.Function(r"\mathrm{slope}_{\log L}")
    return [
        Claim("iid-trichotomy", "The i.i.d. trichotomy", "theorem", MARION,
              sympy.Eq(sympy.Symbol("tau_L"), L ** (1 - 2 * beta)),
              "With i.i.d. weights the regime is set by tau_L = L^(1-2 beta): explode when it "
              "diverges (beta < 1/2), identity when it vanishes (beta > 1/2), a neural SDE when "
              "it is constant (beta = 1/2). The verdicts judge it through the median deviation, which "
              "follows it except at width d <= 2 below beta = 1/2 (iid-median-width).",
              "iid weights (or fgn with H = 1/2), res1 / res3 / linear with Euler steps, every activation; "
              "judged by medians outside the small-width rule",
              _iid_residual, judged=_trichotomy_median),
        Claim("iid-median-width", "The typical norm at small width", "asymptotic",
              "derived here, docs/theory.md §4.9",
              sympy.Eq(sympy.Symbol(r"\mathrm{med}\,\log(\|h_L\|^2/\|h_0\|^2)"), _c * tau * (1 - 2 / d)),
              "For iid res3 with homogeneous sigma (and the linear block) the median of log(||h_L||^2/"
              "||h_0||^2) is L m(alpha_L, d) = c_sigma (1 - 2/d) tau to leading order in alpha_L: for "
              "0 < beta < 1/2 the typical norm explodes at d >= 3, stays flat at d = 2 (m is smaller than "
              "any power of alpha there, by Jensen's formula) and collapses at d = 1, while the second "
              "moment explodes at every width; the median deviation then tends to 1 at d <= 2.",
              "iid, res3 with relu / leaky_relu / identity, or linear; the norm (fwd) at every width, the "
              "deviation at d <= 2 below beta = 1/2", exact_moment_applies),
        Claim("iid-exact-moment", "Exact forward second moment", "exact",
              "derived here, docs/theory.md §4.2", sympy.Eq(_moment, step),
              "For i.i.d. symmetric weights of variance 1/d and res3 with a positively homogeneous "
              "sigma (or the V h block, c_sigma = 1), E||h_L||^2/||h_0||^2 = (1 + c_sigma "
              "alpha_L^2)^L at every width.",
              "iid, res3 with relu / leaky_relu / identity, or linear", exact_moment_applies),
        Claim("iid-exact-deviation", "Exact second moment of the deviation", "exact",
              "derived here, docs/theory.md §4.2", sympy.Eq(_deviation, step - 1),
              "Because h_k - h_0 is a martingale, E||h_L - h_0||^2/||h_0||^2 = (1 + c_sigma "
              "alpha_L^2)^L - 1 exactly in the same cells.",
              "iid, res3 with relu / leaky_relu / identity, or linear", exact_moment_applies),
        Claim("iid-moment-limit", "Depth limit of the exact moment", "exact",
              "derived here, docs/theory.md §4.2 (sympy.limit)", sympy.Limit(step, L, sympy.oo),
              "As L grows the exact second moment tends to infinity for beta < 1/2, to "
              "exp(c_sigma) at beta = 1/2 and to 1 for beta > 1/2, as sympy's limit computes.",
              "iid, res3 with relu / leaky_relu / identity, or linear", exact_moment_applies),
        Claim("res1-conditional-step", "Exact conditional step of res1", "exact",
              "docs/theory.md §4.2",
              sympy.Eq(expect(sympy.Symbol(r"\|h_{k+1}\|^{2} \mid h_{k}")),
                       sympy.Symbol(r"\|h_{k}\|^{2}") + alpha**2 * sympy.Symbol(r"\|\sigma(h_{k})\|^{2}")),
              "For res1 with i.i.d. weights, E[||h_(k+1)||^2 | h_k] = ||h_k||^2 + alpha_L^2 "
              "||sigma(h_k)||^2 exactly; iterating it is not exact because the state's law drifts.",
              "iid, res1 or linear", _iid_res1),
        Claim("res1-first-layer", "Exact first layer of res1", "exact", "docs/theory.md §4.2",
              sympy.Eq(sympy.Symbol(r"\mathbb{E}\|h_1\|^2/\|h_0\|^2"),
                       1 + alpha**2 * sympy.Symbol("F_sigma")),
              "For res1 with i.i.d. weights and a random unit input the first layer multiplies "
              "E||h||^2 by exactly 1 + alpha_L^2 F_sigma, with F_sigma = E||sigma(h_0)||^2/||h_0||^2 "
              "(1/2 for relu).",
              "iid, res1 or linear, input law known exactly",
              lambda c: _iid_res1(c) and input_factor_is_exact(c)),
        Claim("width-limit-recursion", "One-dimensional recursion at large width", "asymptotic",
              "derived here, docs/theory.md §4.2",
              sympy.Eq(q_next, q_k + alpha**2 * expect(sigma(sympy.sqrt(q_k) * z) ** 2)),
              "At large width q_k = ||h_k||^2/d follows q_(k+1) = q_k + alpha_L^2 E[sigma(sqrt(q_k) "
              "Z)^2] for res3 and res1 alike; for res1 relu this gives (1 + alpha_L^2/2)^L, which "
              "finite widths exceed.",
              "iid, res1 / res3 / linear (asymptotic in width)", _iid_residual),
        Claim("critical-lognormal", "Log-normal law of the output norm", "asymptotic",
              "docs/theory.md §4.3; Li, Nica, Roy, NeurIPS 2021",
              sympy.Eq(log_ratio, normal(_c * tau * (1 - 2 / d), 4 * _c * tau / d)),
              "The network is an Euler scheme of dH = sqrt(c_sigma/d) ||H|| dB on [0, tau], so "
              "log(||h_L||^2/||h_0||^2) is close to Normal(c_sigma tau (1 - 2/d), 4 c_sigma tau/d) "
              "with tau = L^(1-2 beta); at beta < 1/2 its mean grows like c_sigma tau.",
              "iid, res3 with relu / leaky_relu / identity, or linear", exact_moment_applies),
        Claim("fgn-res3-mean", "fGn threshold, res3 with E sigma(Z) != 0", "conjecture",
              "derived here, docs/theory.md §4.4 and 4.8", sympy.Eq(_beta_c, sympy.Max(half, H)),
              "With fGn weights of Hurst index H and an activation of non-zero Gaussian mean "
              "(relu, leaky_relu with a < 1, gelu), res3 has beta_c = max(1/2, H).",
              "fgn (H != 1/2), res3, relu / leaky_relu (a < 1) / gelu", lambda c: _res3_order(c, 0)),
        Claim("fgn-res3-odd", "fGn threshold, res3 with odd sigma", "conjecture",
              "derived here, docs/theory.md §4.4 and 4.8", sympy.Eq(_beta_c, sympy.Max(half, 2 * H - 1)),
              "With fGn weights and an odd activation (tanh, identity), res3 has beta_c = "
              "max(1/2, 2H - 1).",
              "fgn (H != 1/2), res3, tanh / identity / leaky_relu (a = 1)",
              lambda c: _res3_order(c, 1)),
        Claim("fgn-res1", "fGn threshold, res1 and linear", "conjecture",
              "derived here, docs/theory.md §4.4 and 4.8", sympy.Eq(_beta_c, sympy.Max(half, H)),
              "With fGn weights res1 (and the linear block) has beta_c = max(1/2, H) for every "
              "activation, since sum_(j,k) gamma_H(j-k) = L^(2H) and sigma(h_0) != 0.",
              "fgn (H != 1/2), res1 or linear",
              lambda c: _fgn(c) and c.block in ("res1", "linear")),
        Claim("smooth-neural-ode", "Neural ODE limit of smooth weights", "theorem",
              f"{MARION}; Chen et al., NeurIPS 2018",
              sympy.Eq(sympy.Symbol(r"\frac{d H_t}{d t}"),
                       sympy.Symbol("V(t)", commutative=False)
                       * sigma(sympy.Symbol("W(t)", commutative=False)
                               * sympy.Symbol("H_t", commutative=False))),
              "With weights that are values of a Lipschitz function of t = k/L (smooth, shared) and "
              "alpha_L = 1/L, the ResNet is an Euler scheme of the neural ODE dH/dt = V(t) sigma(W(t) H) "
              "on [0, 1] and converges to it.",
              "smooth or shared weights, beta = 1", _lipschitz_in_t),
        Claim("fbm-neural-ode", "Neural ODE limit of fBm weights", "asymptotic",
              "derived here, docs/theory.md §4.4",
              sympy.Eq(sympy.Symbol(r"\max_k \|h_k - H(t_k)\|"), sympy.Symbol(r"O(L^{-H})")),
              "fbm weights are Hölder-H paths in t, not Lipschitz ones: Euler's scheme of a field "
              "continuous in t and Lipschitz in H still converges to the neural ODE, with an error of "
              "order L^(-H) pathwise from the weights' modulus of continuity (up to a sqrt(log L) factor for "
              "fBm paths), plus L^(-1) from the step.",
              "fbm weights, beta = 1", lambda c: euler_residual(c) and c.init == "fbm"),
        Claim("smooth-critical-beta", "Threshold of smooth weights", "conjecture", "docs/theory.md §4.4",
              sympy.Eq(_beta_c, 1),
              "For smooth, shared and fbm weights the boundary between explosion and identity is "
              "beta_c = 1.",
              "smooth, shared or fbm weights", _continuous_residual),
        Claim("iid-deviation-slope", "Depth profile of the exact RMS deviation", "exact",
              "derived here, docs/theory.md §4.2 and 4.5",
              sympy.Eq(sympy.Limit(sympy.Derivative(sympy.log(step - 1) / 2, L) * L, L, sympy.oo),
                       half - beta),
              "In the cells of the exact law the root-mean-square deviation has the exact depth "
              "profile sqrt((1 + c_sigma alpha_L^2)^L - 1), whose log-log slope tends to 1/2 - beta "
              "for beta > 1/2.",
              "iid, res3 with relu / leaky_relu / identity, or linear", exact_moment_applies),
        Claim("iid-median-slope", "Depth slope of the median deviation, iid", "asymptotic",
              "derived here, docs/theory.md §4.5",
              sympy.Eq(_slope, half - beta),
              "For beta > 1/2 the deviation is to leading order alpha_L times a sum of L independent "
              "terms, Gaussian by the central limit theorem, so the median deviation scales like the "
              "RMS one: its log-log slope tends to 1/2 - beta (0 at beta = 1/2).",
              "iid, res3 with relu / leaky_relu / identity, or linear, outside the small-width rule",
              lambda c: exact_moment_applies(c) and not width_rule_applies(c)),
        Claim("deviation-slope", "Depth slope of the deviation", "conjecture", "docs/theory.md §4.5",
              sympy.Eq(_slope, _beta_c - beta),
              "In the identity regime the median deviation ||h_L - h_0||/||h_0|| scales as "
              "L^(beta_c - beta); at beta_c it tends to a non-zero constant and below it grows "
              "without bound.",
              "every cell outside the exact law, except res1 / linear with fgn of H < 1/2",
              _generic_slope),
        Claim("res1-rough-deviation-slope", "Depth slope for res1 with rough fGn", "conjecture",
              "derived here, docs/theory.md §4.8", sympy.Eq(_slope, sympy.Max(H - beta, 1 - 2 * beta)),
              "For res1 and linear with fGn of H < 1/2 the first-order deviation scales as "
              "L^(H - beta) and a second-order drift as L^(1 - 2 beta), so the slope in the "
              "identity regime is the larger of H - beta and 1 - 2 beta.",
              "fgn with H < 1/2, res1 or linear", rough_res1),
        Claim("backward-regimes", "Backward trichotomy", "theorem", MARION,
              sympy.Eq(sympy.Symbol("tau_L"), L ** (1 - 2 * beta)),
              "Gradients dl/dh_k follow the same explode / identity / non-trivial trichotomy in "
              "beta as the forward pass.",
              "iid weights (or fgn with H = 1/2)", _iid_residual),
        Claim("backward-moment", "Exact backward second moment", "exact", "derived here, docs/theory.md §4.6",
              sympy.Eq(_backward, step),
              "For the cells of the exact forward law and a loss direction u uniform on the sphere and "
              "independent of the network, E||dl/dh_0||^2/||dl/dh_L||^2 = (1 + c_sigma alpha_L^2)^L exactly at "
              "every width: it is E||dh_L/dh_0||_F^2/d, and a tangent vector carried forward gains exactly "
              "1 + c_sigma alpha_L^2 per layer in the mean.",
              "iid, res3 with relu / leaky_relu / identity, or linear", exact_moment_applies),
        Claim("backward-exact-deviation", "Exact backward deviation", "exact", "derived here, docs/theory.md §4.6",
              sympy.Eq(_backward_deviation, step - 1),
              "In the same cells the tangent vector's increments are martingale increments, so "
              "E||dl/dh_0 - dl/dh_L||^2/||dl/dh_L||^2 = (1 + c_sigma alpha_L^2)^L - 1 exactly: the forward "
              "deviation's law.",
              "iid, res3 with relu / leaky_relu / identity, or linear", exact_moment_applies),
        Claim("correlation-ode", "Cosine of two inputs", "asymptotic",
              "docs/theory.md §4.7 (generalized here to homogeneous sigma)",
              sympy.Eq(sympy.Derivative(rho_t, t), _kappa(rho_t) - _c * rho_t),
              "At infinite width the cosine of two hidden states obeys d rho/dt = kappa_sigma(rho) "
              "- c_sigma rho on [0, tau] (for relu (f(rho) - rho)/2), so explosion drives it to 1 "
              "and identity freezes it.",
              "iid, res3 with relu / leaky_relu / identity, or linear", exact_moment_applies),
        Claim("iid-neural-sde", "Neural SDE at beta = 1/2", "theorem",
              f"{HAYOU}; {MARION}",
              sympy.Eq(sympy.Symbol("dH_t"), sympy.Symbol(r"\frac{1}{\sqrt{d}} \|\sigma(H_t)\|")
                       * sympy.Symbol("dB_t")),
              "At fixed width, with Gaussian i.i.d. weights and alpha_L = 1/sqrt(L), res1 (h + alpha V "
              "sigma(h)) converges in distribution to the driftless diffusion dH = ||sigma(H)||/sqrt(d) dB "
              "(Hayou); that beta = 1/2 is the only non-trivial scaling is the trichotomy (Marion et al.).",
              "iid Gaussian weights (or fgn with H = 1/2), res1 or linear, beta = 1/2",
              lambda c: _iid_res1(c) and c.dist == "gaussian"),
        Claim("res3-neural-sde", "Neural SDE of res3 at beta = 1/2", "asymptotic",
              "derived here, docs/theory.md §4.3",
              sympy.Eq(sympy.Symbol("dH_t"), sympy.sqrt(_c / d) * sympy.Symbol(r"\|H_{t}\|")
                       * sympy.Symbol("dB_t")),
              "For res3 with i.i.d. weights and homogeneous sigma the increment alpha V sigma(W h) has "
              "conditional covariance alpha^2 ||sigma(W h)||^2/d I, whose mean over the fresh W is "
              "alpha^2 c_sigma ||h||^2/d I: by the diffusion approximation the limit at beta = 1/2 is "
              "dH = sqrt(c_sigma/d) ||H|| dB.",
              "iid, res3 with relu / leaky_relu / identity, beta = 1/2",
              lambda c: exact_moment_applies(c) and c.block == "res3"),
        Claim("finite-depth-res3", "Leading-order deviation at finite depth, res3", "asymptotic",
              "derived here, docs/theory.md §4.8", sympy.Eq(_deviation, dev_sum),
              "To order alpha_L^2, E||h_L - h_0||^2/||h_0||^2 = alpha_L^2 sum_(j,k) gamma(j-k) "
              "kappa_sigma(gamma(j-k)) for res3 with stationary weights (L c_sigma alpha_L^2 for iid).",
              "res3 with iid, fgn, smooth or shared weights",
              lambda c: _stationary_finite(c, True)),
        Claim("finite-depth-res1", "Leading-order deviation at finite depth, res1", "asymptotic",
              "derived here, docs/theory.md §4.8", sympy.Eq(_deviation, res1_sum),
              "To order alpha_L^2, res1 and linear give alpha_L^2 sum_(j,k) gamma(j-k) F_sigma with "
              "F_sigma = E||sigma(h_0)||^2/||h_0||^2 (for fgn alpha_L^2 L^(2H) F_sigma; with H < 1/2 "
              "a second-order drift of relative size alpha_L^2 L/d, not encoded, wins only at very "
              "large depth).",
              "res1 or linear with iid, fgn, smooth or shared weights",
              lambda c: _stationary_finite(c, False)),
        Claim("finite-depth-fbm", "Leading-order deviation at finite depth, fbm", "asymptotic",
              "derived here, docs/theory.md §4.8", sympy.Eq(_deviation, fbm_sum),
              "For fbm weights the same order-alpha_L^2 formula holds with the covariance C(j,k) of "
              "B_H(t_j), B_H(t_k) in place of gamma and the kernel evaluated at the two variances "
              "t_j^(2H), t_k^(2H).",
              "fbm weights, every block", lambda c: euler_residual(c) and c.init == "fbm"),
        Claim("hermite-growth", "Growth of the Hermite double sums", "asymptotic",
              "derived here, docs/theory.md §4.8",
              sympy.Eq(sympy.Symbol(r"\sum_{j,k<L} \gamma_H(j-k)^{n+1}"),
                       sympy.Symbol(r"\Theta(L^{\max(1,\, 2-(n+1)(2-2H))})")),
              "Since gamma_H(n) ~ H(2H-1) n^(2H-2), sum_(j,k<L) gamma_H(j-k)^(n+1) grows like L when "
              "(n+1)(2-2H) > 1 and like L^(2-(n+1)(2-2H)) when it is < 1 (L log L at equality).",
              "fgn (H != 1/2), res3", lambda c: _fgn(c) and c.block == "res3"),
        Claim("hermite-threshold", "Threshold from the first Hermite coefficient", "conjecture",
              "derived here, docs/theory.md §4.8",
              sympy.Eq(_beta_c, sympy.Max(half, 1 - (order + 1) * (1 - H))),
              "Reading the leading-order deviation (hermite-growth) at large L, the first non-zero "
              "Hermite coefficient n_0 of sigma would set the threshold of res3 with fGn weights; the "
              "expansion is not controlled at the threshold, so this is the fGn conjecture's reason, "
              "not a proof of it.",
              "fgn (H != 1/2), res3", lambda c: _fgn(c) and c.block == "res3"),
        Claim("finite-depth-threshold", "Finite-depth threshold", "asymptotic",
              "derived here, docs/theory.md §4.4 and 4.8",
              sympy.Eq(beta_star, slope_fit(sympy.log(sympy.Symbol("S(L)"))) / 2),
              "Over a set of depths, the predicted log-log slope of the deviation crosses zero at "
              "beta* = half the fitted slope of log S(L), S the beta-free double sum; this, not the "
              "asymptotic beta_c, is what observed thresholds are compared with.",
              "every residual cell with Euler steps, and antisym cells", _finite_depth_threshold),
        Claim("finite-depth-backward-res3", "Leading-order backward deviation at finite depth, res3", "asymptotic",
              "derived here, docs/theory.md §4.10", sympy.Eq(_backward_deviation, bwd_sum),
              "To order alpha_L^2, E||p_0 - p_L||^2/||p_L||^2 = alpha_L^2 sum_(j,k) gamma [(1 - 1/d) gamma "
              "kappa_sigma'(gamma) + lambda_sigma(gamma)/d] for res3 with stationary weights: V and the d - 1 "
              "directions of W orthogonal to h_0 each give a factor gamma, sigma' its own kernel "
              "(relu: 1/4 + arcsin(gamma)/(2 pi)), and the direction of h_0 the kernel of z sigma'(z) "
              "(kappa_sigma for homogeneous sigma). Valid where the forward deviation stays below the input.",
              "res3 with iid, fgn, smooth or shared weights", lambda c: _stationary_finite(c, True)),
        Claim("finite-depth-backward-res1", "Leading-order backward deviation at finite depth, res1", "asymptotic",
              "derived here, docs/theory.md §4.10", sympy.Eq(_backward_deviation, bwd_res1_sum),
              "To order alpha_L^2, res1 and linear give alpha_L^2 G_sigma sum_(j,k) gamma(j-k) with G_sigma = "
              "E||sigma'(h_0)||^2/d (c_sigma for homogeneous sigma, 1 for linear): the forward law's threshold.",
              "res1 or linear with iid, fgn, smooth or shared weights", lambda c: _stationary_finite(c, False)),
        Claim("finite-depth-backward-threshold", "Backward finite-depth threshold", "asymptotic",
              "derived here, docs/theory.md §4.10",
              sympy.Eq(sympy.Symbol(r"\beta^*_b"), slope_fit(sympy.log(sympy.Symbol("S_{b}(L)"))) / 2),
              "Over a set of depths the backward deviation's predicted slope crosses zero at beta*_b = half the "
              "fitted slope of log S_b(L): what observed backward thresholds are compared with; outside the "
              "law's validity where the forward mean square alpha_L^2 S(L) exceeds 1 at a simulated depth "
              "(correlated weights, state-dependent Jacobian).",
              "res1, res3, linear with Euler steps and iid, fgn, smooth or shared weights", _stationary_euler),
        Claim("hermite-backward-threshold", "Backward threshold from the Hermite coefficients", "conjecture",
              "derived here, docs/theory.md §4.10",
              sympy.Eq(sympy.Symbol(r"\beta_c^{\mathrm{bwd}}"),
                       sympy.Max(half, 1 - sympy.Symbol("p_{b}", positive=True) * (1 - H))),
              "Read at large L, the backward law of res3 with fGn weights grows like the sum of gamma^(p_b): "
              "p_b = n_0 + 1 at finite width (the forward threshold, carried by the radial term of weight 1/d), "
              "p_b = 2 without it (d -> infinity: the term of weight 1 - 1/d starts at gamma^2 because V and W "
              "each give a factor gamma and mu_1 = E sigma'(Z) != 0), so for relu the backward threshold moves "
              "from max(1/2, 2H - 1) towards max(1/2, H) only at depths where L^(2-2H) is large against d.",
              "fgn (H != 1/2), res3", lambda c: _fgn(c) and c.block == "res3"),
    ]


def claims() -> list[Claim]:
    """Every encoded claim: docs/theory.md §4 in the order of docs/theory.md, then ResNets as ODE discretizations
    (`theory.claims_antisym`)."""
    return list(_registry())


@cache
def _registry() -> tuple[Claim, ...]:
    """Built once: the claims are immutable and sympy makes building them slow (tens of ms), while
    `claims_for` is called for every cell of a grid."""
    return (*_section4_claims(), *antisym_claims())


def claims_for(cell: Cell) -> list[Claim]:
    """The claims that cover `cell`."""
    return [claim for claim in claims() if claim.applies(cell)]


def claim(name: str) -> Claim:
    """The claim called `name`; ValueError listing the names if there is none."""
    for item in claims():
        if item.name == name:
            return item
    names = ", ".join(c.name for c in claims())
    raise ValueError(f"name={name!r} is not allowed: one of {names}")
