"""``jaxpop reproduce mpr-fig*`` (Montbrió, Pazó & Roxin 2015) in quick mode.

Every target runs once (module fixture) into a temporary folder; each test checks that its PNG
and JSON exist and that the returned numbers agree with something the target did not compute
the same way: closed forms (cusp, quartic roots), independent numerics (grids vs curves),
diffusion theory (noisy network), counting statistics (network vs FRE rates) and the paper's
numbers. The full-size checks (N = 10^4) are marked ``slow``.
"""

import numpy as np
import pytest

from _reproduce_cache import run_quick
from jaxpop import reproduce

PI = np.pi
CUSP = (-np.sqrt(3.0), 2 * PI * (4 / 3) ** 0.75)  # fold of the quartic of MPR Sec. III C, Delta = 1
TARGETS = ("mpr-fig1", "mpr-fig2", "mpr-fig3", "mpr-fig5", "mpr-fig6", "mpr-fig8", "mpr-fig9")


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("mpr2015")


def quartic(r, eta, J, delta=1.0, Gamma=0.0):
    """MPR fixed-point polynomial (Sec. III C; App. E1 for Gamma), written out here independently."""
    return (PI**2 * r**4 - J * r**3 - (eta + Gamma**2 / (4 * PI**2)) * r**2 - delta * Gamma / (2 * PI**2) * r
            - delta**2 / (4 * PI**2))


def network_rate(eta, J, N, branch):
    r"""Stationary rate of an N-neuron network with quantile-sampled Lorentzian excitabilities: the
    FREs at :math:`\bar\eta - Jb`, read out as :math:`r - b`, with :math:`b` the quantile-tail rate
    deficit (``jaxpop.micro.qif.quantile_tail_bias``; 0.0083 at N = 1000, 0.0026 at N = 10^4)."""
    from jaxpop.analysis import mpr_fixed_points
    from jaxpop.micro.qif import quantile_tail_bias

    b = float(quantile_tail_bias(N, 1.0))
    r = np.asarray(mpr_fixed_points(eta - J * b, J, 1.0)[0])
    return float(np.nanmax(r) if branch == "high" else np.nanmin(r)) - b


def test_registry_lists_every_target():
    assert set(TARGETS) <= set(reproduce.available())
    with pytest.raises(ValueError, match="unknown target"):
        reproduce.run("mpr-fig4", "/tmp")


# ---------------------------------------------------------------------------------------- Fig. 1


def test_fig1_cusp_closed_form_and_fold_integrals(outdir):
    n = run_quick("mpr-fig1", outdir)
    np.testing.assert_allclose(n["cusp"], CUSP, atol=1e-6)
    # the same point found numerically as the maximum of eta_SN(s) of the App. C quadrature (C5-C6)
    np.testing.assert_allclose(n["cusp_fold_integrals"], CUSP, atol=1e-6)
    assert n["cusp_r"] == pytest.approx((3 / 4) ** 0.25 / PI, abs=1e-9)


def test_fig1_numerical_grid_matches_the_analytic_regions(outdir):
    """Quartic roots + autodiff Jacobians on the grid vs the fold curve and eta_f(J): no cell differs."""
    n = run_quick("mpr-fig1", outdir)
    assert n["grid_mismatch_bistable"] == 0
    assert n["grid_mismatch_focus"] == 0


def test_fig1_folds_and_fixed_points_against_the_quartic(outdir):
    from jaxpop.analysis import mpr_fixed_points

    n = run_quick("mpr-fig1", outdir)
    lo, hi = n["fold_eta_at_J15"]
    count = lambda eta: int(mpr_fixed_points(eta, 15.0, 1.0)[2])  # noqa: E731
    assert (count(lo - 1e-3), count(lo + 1e-3), count(hi - 1e-3), count(hi + 1e-3)) == (1, 3, 3, 1)
    r = np.array(n["fixed_points_fig1d_r"])
    np.testing.assert_allclose(quartic(r, -5.0, 15.0), 0.0, atol=1e-12)
    np.testing.assert_allclose(n["fixed_points_fig1d_v"], -1 / (2 * PI * r), rtol=1e-12)
    assert 0.0 < n["basin_fraction_high"] < 1.0


def test_fig1_network_squares_follow_the_fixed_points(outdir):
    n = run_quick("mpr-fig1", outdir)
    N, T = n["network_N"], n["network_t_avg"]
    r_fre, r_net = np.array(n["fre_r"]), np.array(n["network_r"])
    eta, start = np.array(n["network_eta"]), np.array(n["network_start"])
    expected = np.array([network_rate(e, 15.0, N, s) for e, s in zip(eta, start)])
    # tolerance: 4 standard errors of a Poisson count of r N T spikes (an upper bound for the
    # asynchronous state)
    se = np.sqrt(r_fre / (N * T))
    assert np.all(np.abs(r_net - expected) <= 4 * se), (r_net, expected)
    # mean voltage: Cauchy-like samples cut at |V| = 100 -> SD of the time-averaged mean ~0.03-0.05
    np.testing.assert_allclose(n["network_v"], n["fre_v"], atol=0.1)
    # bistability survives in the network: from the high state it stays high, from the low state low
    for e in eta[start == "high"]:
        hi = r_net[(eta == e) & (start == "high")][0]
        lo = r_net[(eta == e) & (start == "low")][0]
        assert hi > 5 * lo


# ---------------------------------------------------------------------------------------- Fig. 9


def test_fig9_reduces_to_fig1_at_gamma_zero(outdir):
    from jaxpop.analysis import mpr_saddle_node

    n = run_quick("mpr-fig9", outdir)
    assert n["gammas"][0] == 0.0
    np.testing.assert_allclose(n["cusps"][0], CUSP, atol=1e-9)
    # the Gamma = 0 curve is the Fig. 1(a) caption's parametrisation
    r = np.geomspace(0.02, 3.0, 50)
    eta, J = (np.asarray(x) for x in mpr_saddle_node(r, 1.0, 0.0))
    np.testing.assert_allclose(eta, -PI**2 * r**2 - 3 / (2 * PI * r) ** 2, rtol=1e-12)
    np.testing.assert_allclose(J, 2 * PI**2 * r + 1 / (2 * PI**2 * r**3), rtol=1e-12)


def test_fig9_cusps_are_triple_roots_and_grids_agree(outdir):
    n = run_quick("mpr-fig9", outdir)
    for G, (eta, J), r in zip(n["gammas"], n["cusps"], n["cusps_r"]):
        p = np.polynomial.Polynomial(
            [-1 / (4 * PI**2), -G / (2 * PI**2), -(eta + G**2 / (4 * PI**2)), -J, PI**2])
        assert p(r) == pytest.approx(0.0, abs=1e-10)
        assert p.deriv(1)(r) == pytest.approx(0.0, abs=1e-9)
        assert p.deriv(2)(r) == pytest.approx(0.0, abs=1e-8)
    assert n["grid_mismatch"] == [0] * len(n["gammas"])
    # App. E1: with growing Gamma the bistable region moves to lower eta and higher J
    eta_c, J_c = np.array(n["cusps"]).T
    assert np.all(np.diff(eta_c) < 0) and np.all(np.diff(J_c) > 0)


# ---------------------------------------------------------------------------------------- Fig. 2


@pytest.mark.slow  # default-suite budget: ~20 s (and test_fig2_full_size_network_follows_the_fres)
def test_fig2_network_rates_match_the_fres(outdir):
    from jaxpop.analysis import mpr_fixed_points

    n = run_quick("mpr-fig2", outdir)
    N = n["N"]
    r_low = float(mpr_fixed_points(-5.0, 15.0, 1.0)[0][0])
    r_on = float(np.nanmax(np.asarray(mpr_fixed_points(-2.0, 15.0, 1.0)[0])))
    assert n["mean_r_fre_before_step"] == pytest.approx(r_low, rel=1e-6)
    assert n["mean_r_fre_step_on"] == pytest.approx(r_on, rel=5e-3)  # damped oscillation nearly gone
    for key, eta, branch, ref, T in (("mean_r_net_before_step", -5.0, "low", r_low, n["duration_before_step"]),
                                     ("mean_r_net_step_on", -2.0, "high", r_on, 10.0)):
        expected = network_rate(eta, 15.0, N, branch)
        assert abs(n[key] - expected) <= 4 * np.sqrt(ref / (N * T)), (key, n[key], expected)
    # the damped oscillation: first peak of the step response within 0.4 time units of the FREs
    # (the finite-N network starts from a lower low-state rate, which delays its rise: ~0.2 at N = 1000)
    assert 0 <= n["t_first_peak_net"] - n["t_first_peak_fre"] < 0.4


# ---------------------------------------------------------------------------------------- Fig. 3


@pytest.mark.slow  # default-suite budget: ~12 s
def test_fig3_forced_fres_are_chaotic_at_the_triangle(outdir):
    n = run_quick("mpr-fig3", outdir)
    assert n["lambda"] > 5 * n["lambda_stderr"] > 0
    assert abs(n["lambda"] - n["lambda_paper"]) < 4 * n["lambda_stderr"]
    assert n["fraction_chaotic_both"] > 0
    assert n["lambda_grid_corner"] < 0  # (eta, J) = (-4.5, 6): entrained by the forcing


# ---------------------------------------------------------------------------------------- Fig. 5


@pytest.mark.slow  # default-suite budget: ~19 s
def test_fig5_network_boundaries_match_the_saddle_node_curves(outdir):
    n = run_quick("mpr-fig5", outdir)
    assert n["uniform_C3_vs_C5C6_max_diff"] < 1e-3
    # estimate = midpoint of the bracketing steps (error <= step/2) plus the detection delay of the
    # slow passage near the fold with 5-unit holds (<= 0.18 in eta wherever measured, also in full
    # mode with N = 2000 and steps of 0.1), if the network's boundary is the FREs'
    tol = 0.5 * n["step"] + 0.2
    for name in ("uniform", "gaussian"):
        lo, hi = np.array(n[f"{name}_net_boundary_low"]), np.array(n[f"{name}_net_boundary_high"])
        np.testing.assert_allclose(lo, n[f"{name}_fre_fold_low"], atol=tol)
        np.testing.assert_allclose(hi, n[f"{name}_fre_fold_high"], atol=tol)
        assert np.all(lo < hi)


# ---------------------------------------------------------------------------------------- Fig. 6


@pytest.mark.slow  # default-suite budget: ~20 s
def test_fig6_networks_burst_with_their_fres(outdir):
    n = run_quick("mpr-fig6", outdir)
    for name in ("uniform", "gaussian"):
        t_net, t_fre = np.array(n[f"burst_times_net_{name}"]), np.array(n[f"burst_times_fre_{name}"])
        assert len(t_net) == len(t_fre) >= 4, (t_net, t_fre)  # periodic bursting during I > 0
        # bursts ~2 apart; a 500-neuron network lags its FREs by ~0.15
        np.testing.assert_allclose(t_net, t_fre, atol=0.3)


# ---------------------------------------------------------------------------------------- Fig. 8


def _noisy_qif_rate(mu, D=1.0, V_p=100.0):
    """Stationary rate of a QIF neuron dV = (V^2 + mu) dt + sqrt(2D) dW with threshold/reset
    +-V_p and a 2/V_p hold: 1/(mean first-passage time + 2/V_p) (standard MFPT double integral)."""
    from scipy import integrate

    U = lambda x: -(x**3 / 3 + mu * x)  # noqa: E731
    inner = lambda x: integrate.quad(lambda y: np.exp((U(x) - U(y)) / D), -np.inf, x, limit=200)[0]  # noqa: E731
    pts = [-np.sqrt(max(-mu, 0.0)), np.sqrt(max(-mu, 0.0))]
    T = integrate.quad(lambda x: inner(x) / D, -V_p, V_p, limit=400, points=pts)[0]
    return 1.0 / (T + 2.0 / V_p)


@pytest.mark.slow  # default-suite budget (< 10 min on 2 cores): the quick run of mpr-fig8 costs ~30 s
def test_fig8_noisy_network_matches_diffusion_theory(outdir):
    """The noise-driven network during the step (eta = -2, J = 15, D = 1) sits in the low state of
    the mean-field self-consistency r = F(eta + J r), F the exact noisy-QIF rate."""
    from scipy.optimize import brentq

    n = run_quick("mpr-fig8", outdir)
    r_star = brentq(lambda r: _noisy_qif_rate(-2.0 + 15.0 * r) - r, 1e-4, 0.04, xtol=1e-6)
    assert 0.01 < r_star < 0.03
    # tolerance: 4 Poisson standard errors over 20 time units plus 10 % for the finite-N shot
    # noise of s(t) and the Euler-Maruyama step
    se = np.sqrt(r_star / (n["N"] * 20.0))
    assert abs(n["mean_r_net_during_step_I3"] - r_star) <= 4 * se + 0.1 * r_star
    assert n["mean_r_net_before_step_I3"] < 1e-3  # eta = -5: barrier 4/3 * 5^1.5 = 15 D, no escapes
    # hence the noisy network stays low through the step: (-2, 15) lies inside its bistable region
    assert n["boundary_net_low"][0] < -5.0 < -2.0 < n["boundary_net_high"][0]


@pytest.mark.slow
def test_fig8_stronger_step_reaches_the_high_state_of_diffusion_theory(outdir):
    """With I0 = 4 (eta = -1, beyond the noisy network's boundary) the network jumps to the high
    root of the same self-consistency (r* = 1.473; the Lorentzian FREs: 1.451)."""
    from scipy.optimize import brentq

    n = run_quick("mpr-fig8", outdir)
    r_star = brentq(lambda r: _noisy_qif_rate(-1.0 + 15.0 * r) - r, 1.0, 2.0, xtol=1e-6)
    se = np.sqrt(r_star / (n["N"] * 20.0))
    assert abs(n["mean_r_net_during_step_I4"] - r_star) <= 4 * se + 0.1 * r_star


# ---------------------------------------------------------------------------------------- full size


@pytest.mark.slow
def test_fig2_full_size_network_follows_the_fres(tmp_path):
    """N = 10^4, dt = 1e-4 (the paper's App. A): stationary rates within 4 standard errors of the
    finite-N FREs and the first peak of the damped oscillation within 0.1 time units (the
    finite-size lag: 0.06 at N = 10^4, 0.04 at 10^5)."""
    n = reproduce.run("mpr-fig2", tmp_path, quick=False)
    N = n["N"]
    for key, eta, branch, ref, T in (("mean_r_net_before_step", -5.0, "low", 0.0811, n["duration_before_step"]),
                                     ("mean_r_net_step_on", -2.0, "high", 1.373, 10.0)):
        expected = network_rate(eta, 15.0, N, branch)
        assert abs(n[key] - expected) <= 4 * np.sqrt(ref / (N * T)), (key, n[key], expected)
    assert 0 <= n["t_first_peak_net"] - n["t_first_peak_fre"] < 0.1
