"""Analysis tools: fixed points and stability, bifurcation curves and phase diagrams,
Lyapunov exponents, power spectra, spike-train statistics, renewal models and the eigenvalues of the
refractory-density operator, linear response and renewal spike-train spectra (and, from :mod:`.rates`,
rate smoothing / NRMSE)."""

from .bifurcation import (
    fold_integrals, mpr_cusp, mpr_focus_boundary, mpr_focus_curve, mpr_phase_diagram, mpr_saddle_node,
    saddle_node_curve, saddle_node_J, uniform_saddle_node,
)
from .fixed_points import (
    KINDS, Stability, classify, find_fixed_points, jacobian, mpr_eigenvalues, mpr_fixed_points, mpr_jacobian,
    mpr_quartic, solve_fixed_point, stability,
)
from .eigenvalues import (
    Spectrum, adjoint_eigenfunction, count_eigenvalues, eigenfunction, eigenvalue, find_eigenvalues,
    gaussian_isi_eigenvalues, mode_weight,
)
from .linear_response import (
    OscillationOnset, first_order_susceptibility, input_filter, membrane_filter, oscillation_onset,
    par_susceptibility, recurrent_susceptibility, renewal_spectrum, sigmoid_transfer,
)
from .lyapunov import LyapunovEstimate, lyapunov_exponent
from .renewal import PAR, PIF, AbstractRenewal, EscapeLIF, GammaRenewal, LIFWhiteNoise
from .spectra import get_window, power_spectrum
from .spiketrains import cv_isi, population_rates, single_neuron_cv_isi, synchrony

__all__ = [
    "KINDS", "Stability", "classify", "find_fixed_points", "jacobian", "solve_fixed_point", "stability",
    "mpr_quartic", "mpr_fixed_points", "mpr_jacobian", "mpr_eigenvalues",
    "mpr_saddle_node", "mpr_cusp", "mpr_focus_boundary", "mpr_focus_curve", "mpr_phase_diagram",
    "fold_integrals", "saddle_node_curve", "saddle_node_J", "uniform_saddle_node",
    "LyapunovEstimate", "lyapunov_exponent", "power_spectrum", "get_window",
    "population_rates", "cv_isi", "single_neuron_cv_isi", "synchrony",
    "AbstractRenewal", "PAR", "GammaRenewal", "PIF", "EscapeLIF", "LIFWhiteNoise",
    "Spectrum", "find_eigenvalues", "count_eigenvalues", "eigenvalue", "mode_weight", "eigenfunction",
    "adjoint_eigenfunction", "gaussian_isi_eigenvalues",
    "par_susceptibility", "sigmoid_transfer", "membrane_filter", "input_filter", "recurrent_susceptibility",
    "OscillationOnset", "oscillation_onset", "renewal_spectrum", "first_order_susceptibility",
]

try:  # rate smoothing / NRMSE live in rates.py (maintained separately); tolerate its absence only
    from .rates import nrmse, smooth_rate  # noqa: F401
except ModuleNotFoundError as _e:  # pragma: no cover
    if _e.name != __name__ + ".rates":
        raise
else:
    __all__ += ["smooth_rate", "nrmse"]
