r"""Oracle tests of the macroscopic models: Montbrió–Pazó–Roxin (MPR) firing-rate equations and
their extensions, the FRE ensemble for general g(eta), and Wilson–Cowan.

References: E. Montbrió, D. Pazó, A. Roxin, Phys. Rev. X 5, 021028 (2015),
doi:10.1103/PhysRevX.5.021028 (equation and appendix numbers below are the paper's).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize

import jaxpop
from jaxpop.macro.mpr import kuramoto_order

KEY = jax.random.PRNGKey(0)
PI = math.pi
FIG2 = jaxpop.Step(3.0, 0.0, 30.0)  # MPR Fig. 2 left: I = 3 on [0, 30), eta_bar = -5, J = 15, Delta = 1


def mpr_fixed_points(eta, J, delta):
    """Positive roots of pi^2 r^4 - J r^3 - eta r^2 - Delta^2/(4 pi^2) = 0 (tau = 1), with v* = -Delta/(2 pi r*)."""
    roots = np.roots([PI**2, -J, -eta, 0.0, -(delta**2) / (4 * PI**2)])
    r = np.sort(roots[(np.abs(roots.imag) < 1e-12) & (roots.real > 0)].real)
    return r, -delta / (2 * PI * r)


R_LOW, R_MID, R_HIGH = mpr_fixed_points(-5.0, 15.0, 1.0)[0]
V_LOW = -1.0 / (2 * PI * R_LOW)


# ---------------------------------------------------------------------------------------------
# fixed points and scaling
# ---------------------------------------------------------------------------------------------


def test_bistable_fixed_points_of_the_quartic():
    r, v = mpr_fixed_points(-5.0, 15.0, 1.0)
    assert r.size == 3  # inside the bistable wedge (J > 7.796 sqrt(Delta), past the cusp)
    # low state from near rest, high state from a high-rate start (its basin, Fig. 1(d)).
    # Two uncoupled copies (diagonal J) run as one 2-population model.
    m = jaxpop.MontbrioPazoRoxin(jnp.array([-5.0, -5.0]), 1.0, jnp.diag(jnp.array([15.0, 15.0])),
                                 r0=jnp.array([0.0, 1.0]), v0=jnp.array([-2.0, -0.5]))
    res = jaxpop.simulate(m, 100.0, 0.01, key=KEY, record_every=100)
    np.testing.assert_allclose(res.r[-1], [r[0], r[2]], rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.v[-1], [v[0], v[2]], rtol=0, atol=1e-8)
    # and the fixed points are zeros of the vector field (all three, the saddle too)
    for ri, vi in zip(r, v):
        f = jaxpop.MontbrioPazoRoxin(-5.0, 1.0, 15.0).vector_field(0.0, {"r": jnp.array([ri]), "v": jnp.array([vi])},
                                                                   jaxpop.drives.as_drive(None))
        assert abs(float(f["r"][0])) < 1e-12 and abs(float(f["v"][0])) < 1e-12


def test_uncoupled_stationary_rate():
    # J = 0: r* = (1/(pi tau)) sqrt((eta + sqrt(eta^2 + Delta^2))/2), v* = -Delta/(2 pi tau r*),
    # with eta -> eta_bar + I for a constant input (the J = 0 fixed point of MPR 2015, Sec. III C).
    # Six uncoupled populations at once.
    eta = np.array([-5.0, 0.0, 2.0, -1.0, 1.0, -3.0])
    delta = np.array([1.0, 0.5, 1.0, 2.0, 1.0, 0.3])
    tau = np.array([1.0, 1.0, 1.0, 0.5, 2.0, 1.0])
    I = np.array([0.0, 0.0, 0.0, 1.5, -0.5, 0.0])
    m = jaxpop.MontbrioPazoRoxin(eta, delta, np.zeros((6, 6)), tau=tau)
    res = jaxpop.simulate(m, 100.0, 0.01, key=KEY, drive=jaxpop.Constant(I), record_every=100)
    e = eta + I
    r_star = np.sqrt((e + np.sqrt(e**2 + delta**2)) / 2) / (PI * tau)
    np.testing.assert_allclose(res.r[-1], r_star, rtol=1e-9)
    np.testing.assert_allclose(res.v[-1], -delta / (2 * PI * tau * r_star), rtol=1e-9)


def test_scaling_invariance_note_42():
    # eta~ = eta/Delta, J~ = J/sqrt(Delta), (r~, v~) = (r, v)/sqrt(Delta), t~ = sqrt(Delta) t,
    # I~(t~) = I(t~/sqrt(Delta))/Delta. With Delta = 4 every factor is a power of two, and RK4
    # commutes with the rescaling, so the two runs agree to rounding.
    d = 4.0
    c = math.sqrt(d)
    orig = jaxpop.MontbrioPazoRoxin(-20.0, d, 30.0, r0=0.4, v0=-3.0)
    tilde = jaxpop.MontbrioPazoRoxin(-20.0 / d, 1.0, 30.0 / c, r0=0.4 / c, v0=-3.0 / c)
    res = jaxpop.simulate(orig, 12.0, 1 / 128, key=KEY, drive=jaxpop.Step(12.0, 1.0, 7.5), record_every=8)
    res_t = jaxpop.simulate(tilde, 24.0, 1 / 64, key=KEY, drive=jaxpop.Step(12.0 / d, 2.0, 15.0), record_every=8)
    np.testing.assert_allclose(res_t.ts, c * res.ts)
    assert float(jnp.max(res.r)) > 1.0  # the pulse kicks the network to the high state: a real transient
    np.testing.assert_allclose(res.r, c * res_t.r, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(res.v, c * res_t.v, rtol=1e-11, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the equations, written out
# ---------------------------------------------------------------------------------------------


def _vf(model, r, v, I=0.0, s=None):
    y = {"r": jnp.atleast_1d(jnp.asarray(r, dtype=float)), "v": jnp.atleast_1d(jnp.asarray(v, dtype=float))}
    if s is not None:
        y["s"] = jnp.atleast_1d(jnp.asarray(s, dtype=float))
    return model.vector_field(0.3, y, jaxpop.Constant(I))


def test_gamma_term_appendix_E1():
    rng = np.random.default_rng(1)
    for _ in range(5):
        eta, delta, J, G, tau, I = rng.normal(-2, 2), rng.uniform(0.1, 2), rng.normal(5, 5), rng.uniform(0, 3), \
            rng.uniform(0.5, 2), rng.normal()
        r, v = rng.uniform(0, 2), rng.normal(0, 2)
        f = _vf(jaxpop.MontbrioPazoRoxin(eta, delta, J, Gamma=G, tau=tau), r, v, I)
        # tau r' = Delta/(pi tau) + Gamma r / pi + 2 r v ;  tau v' = v^2 + eta + J tau r + I - (pi tau r)^2
        # (for tau = 1 this is App. E1: r' = Delta/pi + Gamma r/pi + 2 r v)
        np.testing.assert_allclose(float(f["r"][0]), (delta / (PI * tau) + G * r / PI + 2 * r * v) / tau, rtol=1e-13)
        np.testing.assert_allclose(float(f["v"][0]), (v**2 + eta + J * tau * r + I - (PI * tau * r) ** 2) / tau,
                                   rtol=1e-13)
        # Gamma widens the input distribution: Delta -> Delta + Gamma tau r (the Lorentzian of J
        # enters through J tau r), so it equals the model with that Delta and no Gamma at this state
        g = _vf(jaxpop.MontbrioPazoRoxin(eta, delta + G * tau * r, J, tau=tau), r, v, I)
        np.testing.assert_allclose(float(f["r"][0]), float(g["r"][0]), rtol=1e-13)


def test_excitatory_inhibitory_appendix_E2():
    pars = dict(eta_e=-3.0, eta_i=-1.5, delta_e=0.7, delta_i=1.3, J_ee=5.0, J_ei=7.0, J_ie=11.0, J_ii=13.0)
    m = jaxpop.MontbrioPazoRoxin.excitatory_inhibitory(**pars)
    assert m.drive_shape == (2,)
    rng = np.random.default_rng(2)
    for _ in range(5):
        re, ri = rng.uniform(0, 2, 2)
        ve, vi = rng.normal(0, 2, 2)
        Ie, Ii = rng.normal(0, 1, 2)
        f = m.vector_field(0.0, {"r": jnp.array([re, ri]), "v": jnp.array([ve, vi])}, jaxpop.Constant([Ie, Ii]))
        p = pars
        ref_r = [p["delta_e"] / PI + 2 * re * ve, p["delta_i"] / PI + 2 * ri * vi]
        ref_v = [ve**2 + p["eta_e"] + p["J_ee"] * re - p["J_ie"] * ri + Ie - (PI * re) ** 2,
                 vi**2 + p["eta_i"] + p["J_ei"] * re - p["J_ii"] * ri + Ii - (PI * ri) ** 2]
        np.testing.assert_allclose(np.asarray(f["r"]), ref_r, rtol=1e-13)
        np.testing.assert_allclose(np.asarray(f["v"]), ref_v, rtol=1e-13)


def test_synaptic_kinetics_fast_limit_and_fixed_points():
    # tau_d s' = -s + r. (i) Any tau_d has the fixed points of the instantaneous model (s = r).
    slow = jaxpop.MontbrioPazoRoxin(-5.0, 1.0, 15.0, tau_d=5.0)
    res = jaxpop.simulate(slow, 100.0, 0.01, key=KEY, record_every=100, record=("r", "v", "s"))
    np.testing.assert_allclose([res.r[-1], res.v[-1], res.s[-1]], [R_LOW, V_LOW, R_LOW], atol=1e-8)
    # (ii) As tau_d -> 0 the trajectories approach the instantaneous model, to first order in
    # tau_d (s = r - tau_d r' + O(tau_d^2)). Measured on the Fig. 2 step, t in [0, 8] (the
    # burst after the step dominates): max|r_syn - r| = 0.079, 0.0083 at tau_d = 1e-3, 1e-4.
    kw = dict(key=KEY, drive=FIG2, record_every=100, record="r")
    inst = jaxpop.simulate(jaxpop.MontbrioPazoRoxin(-5.0, 1.0, 15.0, r0=R_LOW, v0=V_LOW), 8.0, 1e-4, **kw).r
    errs = []
    for tau_d in (1e-3, 1e-4):
        syn = jaxpop.MontbrioPazoRoxin(-5.0, 1.0, 15.0, r0=R_LOW, v0=V_LOW, tau_d=tau_d)
        errs.append(float(jnp.max(jnp.abs(jaxpop.simulate(syn, 8.0, 1e-4, **kw).r - inst))))
    order = math.log10(errs[0] / errs[1])
    assert abs(order - 1) <= 0.15, errs
    assert errs[1] <= 0.01


def test_kuramoto_order_conformal_map_appendix_B():
    rng = np.random.default_rng(3)
    tau = 1.7
    r = np.concatenate([[0.0, 1e-9], rng.exponential(1.0, 200)])
    v = np.concatenate([[0.3, -2.0], rng.normal(0, 3, 200)])
    Z = np.asarray(kuramoto_order(r, v, tau))
    assert np.all(np.abs(Z) <= 1 + 1e-15)
    assert abs(abs(Z[0]) - 1) < 1e-15  # r = 0: all phases equal, |Z| = 1
    # inverse map: W = (1 - Z*)/(1 + Z*) = pi tau r + i v
    W = (1 - np.conj(Z)) / (1 + np.conj(Z))
    np.testing.assert_allclose(W.real, PI * tau * r, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(W.imag, v, rtol=1e-10, atol=1e-12)
    # the observable R is |Z| of the state
    m = jaxpop.MontbrioPazoRoxin(-5.0, 1.0, 15.0, tau=tau)
    obs = m.observe({"r": jnp.array([r[5]]), "v": jnp.array([v[5]])})
    assert float(obs["R"]) == pytest.approx(abs(Z[5]), rel=1e-14)


# ---------------------------------------------------------------------------------------------
# the FRE ensemble (MPR Eq. 10 for any g(eta))
# ---------------------------------------------------------------------------------------------


def test_ensemble_with_lorentzian_g_converges_to_mpr():
    # Fig. 2 protocol from the low state. Error = mean over t in [0, 40] of |r_ens - r_MPR|.
    # Quantile samples of a Lorentzian miss its heavy tail beyond the outermost sample
    # eta_max ~ n Delta / pi, whose contribution int sqrt(eta) g ~ eta_max^{-1/2}: error ~ n^{-1/2}.
    # Measured (dt = 0.01): 0.0544, 0.0275, 0.0152, 0.0083 at n = 100, 400, 1600, 6400,
    # local rates 0.49, 0.43, 0.44; so the rate between 400 and 1600 must lie in [0.3, 0.6],
    # and at n = 1600 the error is below 0.02 (= the n = 400 error times 4^-0.4, rounded up).
    kw = dict(t0=-10.0, key=KEY, drive=FIG2, record_every=10, record="r")
    ref = jaxpop.simulate(jaxpop.MontbrioPazoRoxin(-5.0, 1.0, 15.0, r0=R_LOW, v0=V_LOW), 40.0, 0.01, **kw).r
    errs = {}
    for n in (400, 1600):
        ens = jaxpop.FREEnsemble(jaxpop.Lorentzian(-5.0, 1.0), 15.0, n_eta=n, h_init=15.0 * R_LOW)
        r = jaxpop.simulate(ens, 40.0, 0.01, **kw).r
        errs[n] = float(jnp.mean(jnp.abs(r - ref)[100:]))
    rate = math.log(errs[400] / errs[1600]) / math.log(4)
    assert 0.3 <= rate <= 0.6, errs
    assert errs[1600] <= 0.02, errs


def _c1_residual(r0, J, pdf, lo, hi):
    """App. C Eq. (C1): int_{-J r0}^inf sqrt(eta + J r0)/pi g(eta) d eta - r0."""
    a = max(-J * r0, lo)
    if a >= hi:
        return -r0
    return integrate.quad(lambda e: math.sqrt(max(e + J * r0, 0.0)) / PI * pdf(e), a, hi,
                          epsabs=1e-13, epsrel=1e-12, limit=200)[0] - r0


def _c1_voltage(r0, J, pdf, lo, hi):
    """Mean voltage of the steady state: silent neurons sit at -sqrt(-eta - J r0), firing ones at 0 (App. C)."""
    b = min(-J * r0, hi)
    if b <= lo:
        return 0.0
    return -integrate.quad(lambda e: math.sqrt(max(-e - J * r0, 0.0)) * pdf(e), lo, b,
                           epsabs=1e-13, epsrel=1e-12, limit=200)[0]


def _c1_roots(J, pdf, lo, hi):
    rs = np.linspace(1e-4, 3.0, 60)
    f = [_c1_residual(r, J, pdf, lo, hi) for r in rs]
    return [optimize.brentq(_c1_residual, rs[i], rs[i + 1], args=(J, pdf, lo, hi), xtol=1e-15)
            for i in range(len(rs) - 1) if np.sign(f[i]) != np.sign(f[i + 1])]


@pytest.mark.parametrize("name", ["gaussian", "uniform"])
def test_ensemble_steady_states_satisfy_self_consistency_C1(name):
    # Fig. 5 parameters: Gaussian sigma = 1, eta_bar = -2, J = 10; uniform gamma = 1, eta_bar = -1, J = 8.
    if name == "gaussian":
        pdf = lambda e: math.exp(-0.5 * (e + 2.0) ** 2) / math.sqrt(2 * PI)
        dist, J, lo, hi = jaxpop.Gaussian(-2.0, 1.0), 10.0, -np.inf, np.inf
    else:
        pdf = lambda e: 0.5 if -2.0 <= e <= 0.0 else 0.0
        dist, J, lo, hi = jaxpop.Uniform(-1.0, 1.0), 8.0, -2.0, 0.0
    roots = _c1_roots(J, pdf, lo, hi)
    if name == "uniform":  # all eta <= 0: r0 = 0 solves (C1) trivially (the silent state)
        roots = [0.0] + roots
    assert len(roots) == 3  # low (stable), middle (saddle), high (stable): bistable
    low, high = roots[0], roots[2]
    # The samples carry Lorentzian half-widths eps_k ~ spacing ~ 1/n, an O(1/n) smoothing of g.
    # Measured |r - r0| (low state from rest, t = 60; high state started on the C1 solution,
    # max over t <= 60) at n = 250, 1000, 4000: gaussian low 2.4e-3, 5.9e-4, 1.5e-4 and high
    # 8.2e-4, 2.7e-4, 8.7e-5; uniform low 1.9e-3, 4.6e-4, 1.1e-4 and high 5.4e-5, 1.3e-5,
    # 3.4e-6 (rate 1/n, 0.8/n for the gaussian high state). Asserted at n = 1000: 1.5x the
    # measured errors. Same for v (App. C: silent neurons at -sqrt(-eta - J r0), firing ones at
    # 0), whose ensemble error is absolute (a firing sample has Im w = -eps_k / (2 Re w)):
    # measured |v - v0| at n = 1000: gaussian 1.1e-3 (low), 1.5e-3 (high); uniform 2.3e-3, 4.9e-4.
    ens = jaxpop.FREEnsemble(dist, J, n_eta=1000, h_init=0.0)
    res = jaxpop.simulate(ens, 60.0, 0.01, key=KEY, record_every=100)
    assert abs(float(res.r[-1]) - low) <= 1.5 * (5.9e-4 if name == "gaussian" else 4.6e-4), (res.r[-1], low)
    v_low = _c1_voltage(low, J, pdf, lo, hi)
    assert abs(float(res.v[-1]) - v_low) <= 1.5 * (1.1e-3 if name == "gaussian" else 2.3e-3), (res.v[-1], v_low)
    # the high state: started on the C1 solution, the ensemble stays on it
    ens = jaxpop.FREEnsemble(dist, J, n_eta=1000, h_init=J * high)
    res = jaxpop.simulate(ens, 60.0, 0.01, key=KEY, record_every=100)
    assert float(jnp.max(jnp.abs(res.r - high))) <= 1.5 * (2.7e-4 if name == "gaussian" else 1.3e-5)
    v_high = _c1_voltage(high, J, pdf, lo, hi)
    assert abs(float(res.v[-1]) - v_high) <= 1.5 * (1.5e-3 if name == "gaussian" else 4.9e-4), (res.v[-1], v_high)
    # and the middle root is a saddle: started on it, the ensemble leaves it
    ens = jaxpop.FREEnsemble(dist, J, n_eta=1000, h_init=J * roots[1])
    res = jaxpop.simulate(ens, 60.0, 0.01, key=KEY, record_every=100)
    assert abs(float(res.r[-1]) - roots[1]) > 0.1


# ---------------------------------------------------------------------------------------------
# Wilson-Cowan
# ---------------------------------------------------------------------------------------------


def test_wilson_cowan_fixed_point():
    J = np.array([[1.2, -1.0], [1.0, -0.5]])
    I = np.array([2.0, 1.0])
    wc = jaxpop.WilsonCowan(J, tau=[10.0, 5.0], A_max=100.0, beta=1.0, theta=5.0)
    res = jaxpop.simulate(wc, 2000.0, 0.1, key=KEY, drive=jaxpop.Constant(I), record_every=1000)
    h = np.asarray(res.h[-1])
    F = lambda h: 100.0 / (1 + np.exp(-(h - 5.0)))  # written out: A_max sigma(beta (h - theta))
    np.testing.assert_allclose(h, J @ F(h) + I, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(res.A[-1]), F(h), rtol=1e-12)
    # threshold-linear transfer with both populations above threshold: h = J A_max beta (h - theta) + I
    J = np.array([[0.005, -0.008], [0.006, -0.002]])
    wc = jaxpop.WilsonCowan(J, tau=10.0, A_max=100.0, beta=[0.5, 0.3], theta=[5.0, 8.0], transfer="relu")
    I = np.array([6.0, 9.0])
    res = jaxpop.simulate(wc, 2000.0, 0.1, key=KEY, drive=jaxpop.Constant(I), record_every=1000)
    G = J * (100.0 * np.array([0.5, 0.3]))[None, :]
    h_star = np.linalg.solve(np.eye(2) - G, I - G @ np.array([5.0, 8.0]))
    assert np.all(h_star > [5.0, 8.0])
    np.testing.assert_allclose(np.asarray(res.h[-1]), h_star, rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# gradients (issue acceptance): d/d(eta_bar, J, Delta) against central differences
# ---------------------------------------------------------------------------------------------
#
# Observables of the Fig. 2 step protocol (t in [-40, 40], start at rest, I = 3 on [0, 30)):
# the mean rate over [0, 30] and the rate at t = 40 (the network stays in the high state it was
# kicked into). Both are smooth functions of the parameters for a fixed-step scheme (the step
# grid and the jump times do not move), and for the adaptive solve at fixed tolerances up to
# O(rtol). Central differences with relative step h = 1e-5: rounding ~ 1e-16 / h ~ 1e-11;
# truncation is estimated from FD(h) - FD(2h) (= 3/4 of the truncation error of FD(2h)) and
# required to be <= 1e-5 relative, 10x below the tolerance (measured: <= 4.5e-6, the largest
# for d r(40) / dJ). The comparison is with the Richardson extrapolation FD(h) + (FD(h) -
# FD(2h))/3, accurate to O(h^4). Measured relative errors: <= 1e-9 (simulate).

THETA0 = np.array([-5.0, 15.0, 1.0])  # eta_bar, J, Delta


def _fig2_window(ts, r):
    on = (ts > 0.05) & (ts < 30.05)  # the recording times inside (0, 30]; robust to rounding of ts
    return jnp.sum(jnp.where(on, r, 0.0)) / jnp.sum(on)


def _fig2_observables_simulate(theta):
    m = jaxpop.MontbrioPazoRoxin(theta[0], theta[2], theta[1])
    res = jaxpop.simulate(m, 40.0, 0.01, t0=-40.0, key=KEY, drive=FIG2, record="r", record_every=10)
    return jnp.stack([_fig2_window(res.ts, res.r), res.r[-1]])


def _fig2_observables_solve(theta, adjoint=None):
    m = jaxpop.MontbrioPazoRoxin(theta[0], theta[2], theta[1])
    ts = jnp.linspace(-40.0, 40.0, 801)
    res = jaxpop.solve(m, 40.0, t0=-40.0, ts=ts, drive=FIG2, rtol=1e-10, atol=1e-12, adjoint=adjoint)
    return jnp.stack([_fig2_window(ts, res.r), res.r[-1]])


def _finite_differences(f, theta0):
    """Richardson-extrapolated central differences, column i = d f / d theta_i."""
    f = jax.jit(f)
    cols = []
    for i in range(theta0.size):
        h = 1e-5 * abs(theta0[i])
        e = np.zeros(theta0.size)
        e[i] = 1.0
        fd = lambda h: (np.asarray(f(theta0 + h * e)) - np.asarray(f(theta0 - h * e))) / (2 * h)
        fd1, fd2 = fd(h), fd(2 * h)
        assert np.all(np.abs(fd1) > 1e-3)  # every observable depends on every parameter
        assert np.all(np.abs(fd2 - fd1) / 3 <= 1e-5 * np.abs(fd1)), (i, fd1, fd2)  # truncation << 1e-4
        cols.append(fd1 + (fd1 - fd2) / 3)
    return np.stack(cols, axis=-1)


def test_gradients_through_simulate_match_finite_differences():
    jac = np.asarray(jax.jit(jax.jacrev(_fig2_observables_simulate))(jnp.asarray(THETA0)))
    fd = _finite_differences(_fig2_observables_simulate, THETA0)
    rel = np.abs(jac - fd) / np.abs(fd)
    assert np.all(rel <= 1e-4), rel
    assert float(_fig2_observables_simulate(THETA0)[1]) == pytest.approx(R_HIGH, abs=0.02)


@pytest.mark.slow  # ~14 s; MPR gradients through simulate are in the default model contract
def test_gradients_through_solve_match_finite_differences():
    # reverse mode (RecursiveCheckpointAdjoint), one cotangent: the loss mean r + r(40)
    loss = lambda th: jnp.sum(_fig2_observables_solve(th))
    g = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(THETA0)))
    fd = _finite_differences(loss, THETA0)
    rel = np.abs(g - fd) / np.abs(fd)
    assert np.all(rel <= 1e-4), rel
    # the adaptive solve agrees with the fixed-step run (dt = 0.01 RK4: error ~1e-5 here)
    np.testing.assert_allclose(_fig2_observables_solve(THETA0), _fig2_observables_simulate(THETA0), rtol=1e-4)


@pytest.mark.slow
def test_full_jacobian_through_solve_reverse_and_forward_mode():
    import diffrax

    fd = _finite_differences(_fig2_observables_solve, THETA0)
    forward = lambda th: _fig2_observables_solve(th, diffrax.ForwardMode())
    for jac in (jax.jit(jax.jacrev(_fig2_observables_solve))(jnp.asarray(THETA0)),
                jax.jit(jax.jacfwd(forward))(jnp.asarray(THETA0))):
        rel = np.abs(np.asarray(jac) - fd) / np.abs(fd)
        assert np.all(rel <= 1e-4), rel


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_bad_parameters_raise_naming_them():
    MPR = jaxpop.MontbrioPazoRoxin
    cases = [
        (lambda: MPR(-5.0, -0.1, 15.0), "delta"),
        (lambda: MPR(-5.0, float("nan"), 15.0), "delta"),
        (lambda: MPR(-5.0, 1.0, 15.0, tau=0.0), "tau"),
        (lambda: MPR(-5.0, 1.0, 15.0, tau=-1.0), "tau"),
        (lambda: MPR(-5.0, 1.0, 15.0, tau_d=0.0), "tau_d"),
        (lambda: MPR(-5.0, 1.0, 15.0, Gamma=-1.0), "Gamma"),
        (lambda: MPR(-5.0, 1.0, 15.0, r0=-0.1), "r0"),
        (lambda: MPR(jnp.zeros(2), 1.0, jnp.ones((3, 3))), r"\bJ\b"),
        (lambda: MPR(-5.0, 1.0, jnp.ones(2)), r"\bJ\b"),
        (lambda: MPR(jnp.zeros((2, 2)), 1.0, 15.0), "eta_bar"),
        (lambda: MPR(jnp.zeros(2), jnp.ones(3), jnp.ones((2, 2))), "delta"),
        (lambda: MPR(-5.0, 1.0, 15.0, integrator="rk45"), "integrator"),
        (lambda: MPR.excitatory_inhibitory(J_ie=-1.0), "J_ie"),
        (lambda: jaxpop.FREEnsemble("cauchy-ish", 10.0), "distribution"),
        (lambda: jaxpop.FREEnsemble("gaussian", 10.0, n_eta=1), "n_eta"),
        (lambda: jaxpop.FREEnsemble("gaussian", 10.0, n_eta=2.5), "n_eta"),
        (lambda: jaxpop.FREEnsemble("gaussian", 10.0, tau=0.0), "tau"),
        (lambda: jaxpop.FREEnsemble("gaussian", 10.0, epsilon=-1.0), "epsilon"),
        (lambda: jaxpop.FREEnsemble("gaussian", 10.0, scale=-1.0), "sd"),
        (lambda: jaxpop.Lorentzian(0.0, -1.0), "half_width"),
        (lambda: jaxpop.Uniform(0.0, 0.0), "half_width"),
        (lambda: jaxpop.Gaussian(0.0, 0.0), "sd"),
        (lambda: jaxpop.WilsonCowan(tau=0.0), "tau"),
        (lambda: jaxpop.WilsonCowan(J=np.ones((2, 3))), r"\bJ\b"),
        (lambda: jaxpop.WilsonCowan(transfer="tanh"), "transfer"),
    ]
    for make, name in cases:
        with pytest.raises(ValueError, match=name):
            make()
