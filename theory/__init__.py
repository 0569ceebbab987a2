"""Theory of deep ResNets at initialization: regimes, critical exponents and laws, with status.

Every function takes the same `sim.cell.Cell` the simulator uses and returns sympy expressions
(numbers only at the boundary: the finite-depth sums are floats). Cells that no claim covers get
`NotCovered`, a ValueError. See `claims()` for the registry of encoded predictions. The Heun and RK4
steppers and the antisym block (ResNets as ODE discretizations) are in `theory.stability`,
`theory.antisym`, `theory.expansion` and `theory.wick`; the backward pass at finite depth in
`theory.backward`.
"""

from theory.activations import c_sigma, hermite_order, kappa, kappa_expr
from theory.antisym import exact_deviation_expr as antisym_deviation_expr
from theory.antisym import exact_moment_expr as antisym_moment_expr
from theory.antisym import (
    explosion_beta,
    finite_depth_log_deviation,
    log_norm_rate,
    mean_drift,
    second_order_coefficient,
)
from theory.backward import (
    backward_critical_beta,
    backward_finite_depth_deviation,
    backward_finite_depth_expr,
    backward_finite_depth_slope,
    backward_finite_depth_sum,
    backward_finite_depth_threshold,
    backward_law_valid,
    backward_threshold_valid,
)
from theory.claim import STATUSES, Claim
from theory.claims import claim, claims, claims_for
from theory.correlation import correlation_ode, correlation_rhs, solve_correlation
from theory.critical import (
    REGIMES,
    critical_beta,
    critical_beta_expr,
    depth_exponent,
    regime,
)
from theory.expansion import log_norm_rates, moment_rates, moment_series
from theory.finite_depth import (
    finite_depth_deviation,
    finite_depth_expr,
    finite_depth_slope,
    finite_depth_sum,
    finite_depth_threshold,
)
from theory.inputs import input_factor, input_variance
from theory.limits import LimitObject, limit_object
from theory.lognormal import lognormal_law, lognormal_law_expr
from theory.moments import (
    deviation_second_moment,
    exact_deviation_expr,
    exact_deviation_slope,
    exact_moment_expr,
    first_layer_moment,
    moment_limit,
    second_moment,
    width_limit_moment,
    width_limit_recursion_expr,
)
from theory.predict import NOT_COVERED, Prediction, predictions
from theory.scope import NotCovered
from theory.stability import (
    STEPPER_NAMES,
    declared_order,
    imaginary_explosion_beta,
    imaginary_gain,
    imaginary_leading_term,
    imaginary_log_growth,
    imaginary_log_growth_leading,
    imaginary_stability_limit,
    landscape_growth,
    landscape_growth_expr,
    linear_order,
    real_log_growth,
    real_log_growth_leading,
    stability_polynomial,
    stable_near_imaginary_axis,
    step_growth,
)
from theory.symbols import H, L, beta, d, exact, rho, tau
from theory.width import (
    log_norm_drift,
    median_depth_exponent,
    median_finite_depth_slope,
    median_regime,
    norm_regime,
    width_rule_applies,
)

__all__ = [
    "H", "L", "NOT_COVERED", "REGIMES", "STATUSES", "Claim", "LimitObject", "NotCovered",
    "Prediction", "beta", "c_sigma", "claim", "claims", "claims_for", "correlation_ode",
    "correlation_rhs", "critical_beta", "critical_beta_expr", "d", "depth_exponent",
    "deviation_second_moment", "exact", "exact_deviation_expr", "exact_deviation_slope",
    "exact_moment_expr", "finite_depth_deviation", "finite_depth_expr", "finite_depth_slope",
    "finite_depth_sum", "finite_depth_threshold", "first_layer_moment", "hermite_order",
    "input_factor", "input_variance", "kappa", "kappa_expr", "limit_object", "lognormal_law",
    "lognormal_law_expr", "moment_limit", "predictions", "regime", "rho", "second_moment",
    "solve_correlation", "tau", "width_limit_moment", "width_limit_recursion_expr",
    # steppers as ODE discretizations
    "STEPPER_NAMES", "declared_order", "imaginary_explosion_beta", "imaginary_gain", "imaginary_leading_term",
    "imaginary_log_growth", "imaginary_log_growth_leading", "imaginary_stability_limit", "landscape_growth",
    "landscape_growth_expr", "linear_order", "real_log_growth", "real_log_growth_leading", "stability_polynomial",
    "stable_near_imaginary_axis", "step_growth",
    # the antisym block
    "antisym_deviation_expr", "antisym_moment_expr", "explosion_beta", "finite_depth_log_deviation",
    "log_norm_rate", "log_norm_rates", "mean_drift", "moment_rates", "moment_series", "second_order_coefficient",
    # the backward pass at finite depth
    "backward_critical_beta", "backward_finite_depth_deviation", "backward_finite_depth_expr",
    "backward_finite_depth_slope", "backward_finite_depth_sum", "backward_finite_depth_threshold",
    "backward_law_valid", "backward_threshold_valid",
    # the typical norm at small width
    "log_norm_drift", "median_depth_exponent", "median_finite_depth_slope", "median_regime", "norm_regime",
    "width_rule_applies",
]
