"""Oracle tests of jaxpop.analysis: fixed points, bifurcation curves, Lyapunov exponents, spectra.

Oracles: closed forms of the Montbrió–Pazó–Roxin (MPR) paper (Phys. Rev. X 5, 021028, 2015),
numpy/scipy computations written independently here (polynomial roots, brentq, solve_ivp of the
variational equations, scipy.signal.welch), the paper's numbers (Lyapunov exponent 0.183 of
Fig. 3, the three fixed points of Fig. 1(d)) and simulations with jaxpop's FREEnsemble.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.signal
from jax.flatten_util import ravel_pytree

import jaxpop
from jaxpop import analysis as A

PI = np.pi


def mpr_state(r, v):
    return {"r": jnp.atleast_1d(jnp.asarray(r, dtype=float)), "v": jnp.atleast_1d(jnp.asarray(v, dtype=float))}


def np_positive_roots(eta, J, delta, Gamma=0.0):
    """Independent oracle: positive real roots of the MPR quartic with numpy.roots."""
    c = [PI**2, -J, -(eta + Gamma**2 / (4 * PI**2)), -delta * Gamma / (2 * PI**2), -(delta**2) / (4 * PI**2)]
    roots = np.roots(c)
    return np.sort(roots[(np.abs(roots.imag) < 1e-9) & (roots.real > 0)].real)


# ---------------------------------------------------------------------------------------------
# 1. Fixed points and stability
# ---------------------------------------------------------------------------------------------

_rg, _vg = np.meshgrid(np.linspace(0.02, 2.5, 8), np.linspace(-3.0, -0.05, 6))
GUESSES = {"r": jnp.asarray(_rg.reshape(-1, 1)), "v": jnp.asarray(_vg.reshape(-1, 1))}  # 48 initial guesses

POINTS = [(-5.0, 15.0, 1.0, 0.0), (-2.5, 10.5, 1.0, 0.0), (1.0, 3.0, 0.5, 0.0), (-10.0, 30.0, 2.0, 0.0),
          (-5.0, 15.0, 1.0, 0.4)]


@pytest.mark.parametrize("eta,J,delta,Gamma", POINTS)
def test_mpr_fixed_points_closed_form_vs_newton(eta, J, delta, Gamma):
    r, v, n = A.mpr_fixed_points(eta, J, delta, Gamma)
    ref = np_positive_roots(eta, J, delta, Gamma)
    assert int(n) == len(ref)
    np.testing.assert_allclose(np.asarray(r[: int(n)]), ref, rtol=1e-10)
    np.testing.assert_allclose(v[: int(n)], -(delta + Gamma * ref) / (2 * PI * ref), rtol=1e-10)
    # generic Newton on the model's vector field, from a spread of guesses
    model = jaxpop.MontbrioPazoRoxin(eta, delta, J, Gamma=Gamma)
    fps = A.find_fixed_points(model, GUESSES, accept=lambda y: y["r"][0] > 0)
    assert fps["r"].shape == (len(ref), 1)
    order = np.argsort(np.asarray(fps["r"][:, 0]))
    np.testing.assert_allclose(np.asarray(fps["r"][order, 0]), ref, rtol=0, atol=1e-6)  # acceptance: <= 1e-6
    np.testing.assert_allclose(np.asarray(fps["v"][order, 0]), np.asarray(v[: int(n)]), rtol=0, atol=1e-6)
    # measured deviation is at machine precision
    assert np.max(np.abs(np.asarray(fps["r"][order, 0]) - ref)) < 1e-11


@pytest.mark.parametrize("eta,J,delta,Gamma", POINTS)
def test_mpr_eigenvalues_autodiff_vs_closed_form(eta, J, delta, Gamma):
    model = jaxpop.MontbrioPazoRoxin(eta, delta, J, Gamma=Gamma)
    r, v, n = A.mpr_fixed_points(eta, J, delta, Gamma)
    for k in range(int(n)):
        y = mpr_state(r[k], v[k])
        np.testing.assert_allclose(A.jacobian(model, y), A.mpr_jacobian(r[k], J, delta, Gamma), atol=1e-10)
        lam = A.stability(model, y).eigenvalues
        ref = A.mpr_eigenvalues(r[k], J, delta, Gamma)
        # sort both by (real, imag) to pair them
        key = lambda a: np.asarray(a)[np.lexsort((np.asarray(a).imag, np.asarray(a).real))]
        np.testing.assert_allclose(key(lam), key(ref), atol=1e-6)  # acceptance
        np.testing.assert_allclose(key(lam), key(ref), atol=1e-10)


def test_fig1d_three_fixed_points_classification():
    """MPR Fig. 1(d), (eta, J) = (-5, 15): a stable node, a saddle and a stable focus."""
    model = jaxpop.MontbrioPazoRoxin(-5.0, 1.0, 15.0)
    fps = A.find_fixed_points(model, GUESSES, accept=lambda y: y["r"][0] > 0)
    st = jax.vmap(lambda y: A.stability(model, y))(fps)
    assert list(st.kind) == ["stable node", "saddle", "stable focus"]
    assert list(np.asarray(st.stable)) == [True, False, True]
    # closed-form criteria: focus iff r > J/(2 pi^2); saddle iff 2r(J - 2 pi^2 r) > (Delta/(pi r))^2
    r = np.asarray(fps["r"][:, 0])
    assert r[2] > 15 / (2 * PI**2) > r[0]
    assert 2 * r[1] * (15 - 2 * PI**2 * r[1]) > (1 / (PI * r[1])) ** 2


def test_jacobian_matches_finite_differences_ei():
    model = jaxpop.MontbrioPazoRoxin.excitatory_inhibitory(eta_e=-3.0, eta_i=-4.0, J_ee=12.0, J_ei=9.0, J_ie=7.0,
                                                           J_ii=4.0, tau_d=jnp.array([2.0, 5.0]))
    y = {"r": jnp.array([0.4, 0.7]), "v": jnp.array([-0.5, -1.1]), "s": jnp.array([0.3, 0.5])}
    Jac = np.asarray(A.jacobian(model, y, drive=0.7))
    x0, unravel = ravel_pytree(y)
    f_jit = jax.jit(lambda x: ravel_pytree(model.vector_field(0.0, unravel(x), jaxpop.Constant(0.7)))[0])
    f = lambda x: np.asarray(f_jit(x))
    h = 1e-6
    fd = np.stack([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(x0.size)], axis=1)
    np.testing.assert_allclose(Jac, fd, atol=1e-7)  # central difference error ~ h^2 * f''' ~ 1e-11; roundoff ~ 1e-10


def test_classify_synthetic_eigenvalues():
    cases = {
        "stable node": [-1.0, -2.0], "stable focus": [-1 + 2j, -1 - 2j], "unstable node": [1.0, 3.0],
        "unstable focus": [0.5 + 1j, 0.5 - 1j], "saddle": [1.0, -1.0], "saddle-focus": [1.0, -1 + 1j, -1 - 1j],
        "non-hyperbolic": [0.0, -1.0],
    }
    for name, lam in cases.items():
        st = A.classify(jnp.asarray(lam, dtype=complex))
        assert st.kind == name
        assert bool(st.stable) == name.startswith("stable")


def test_fixed_point_gradient_implicit_function_theorem():
    """d r*/d eta from differentiating through the Newton solve (optimistix implicit adjoint) and through
    the companion-matrix roots equals the implicit-function-theorem value r^2 / P'(r)."""
    eta, J = -5.0, 15.0

    def r_newton(model):
        y, ok = A.solve_fixed_point(model, mpr_state(1.0, -0.15))
        return y["r"][0]

    def r_closed(eta):
        return A.mpr_fixed_points(eta, J, 1.0)[0][2]

    r = float(r_closed(eta))
    dP = 4 * PI**2 * r**3 - 3 * J * r**2 - 2 * eta * r
    ref = r**2 / dP
    grad_model = eqx.filter_jit(eqx.filter_grad(r_newton))(jaxpop.MontbrioPazoRoxin(eta, 1.0, J))
    np.testing.assert_allclose(grad_model.eta_bar, ref, rtol=1e-8)
    np.testing.assert_allclose(jax.jit(jax.grad(r_closed))(eta), ref, rtol=1e-8)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="delta"):
        A.mpr_fixed_points(-5.0, 15.0, 0.0)
    with pytest.raises(ValueError, match="delta"):
        A.mpr_phase_diagram(jnp.zeros(2), jnp.ones(2), -1.0)
    with pytest.raises(TypeError, match="ODE model"):
        A.jacobian(object(), {})


# ---------------------------------------------------------------------------------------------
# 2. Saddle-node curves
# ---------------------------------------------------------------------------------------------


def test_fig1a_caption_and_fold_formula_agree():
    """Caption: eta_SN = -pi^2 r^2 - 3 Delta^2/(2 pi r)^2; fold of the quartic of MPR Sec. III C:
    -3 Delta^2/(4 pi^2 r^2): identical."""
    r = jnp.linspace(0.05, 2.0, 50)
    for delta in (0.5, 1.0, 2.0):
        eta, J = A.mpr_saddle_node(r, delta)
        np.testing.assert_allclose(eta, -PI**2 * r**2 - 3 * delta**2 / (2 * PI * r) ** 2, rtol=1e-14)
        np.testing.assert_allclose(J, 2 * PI**2 * r + delta**2 / (2 * PI**2 * r**3), rtol=1e-14)


@pytest.mark.parametrize("Gamma", [0.0, 0.5, 2.0])
def test_fold_is_double_root_with_zero_eigenvalue(Gamma):
    """On the fold curve (Gamma > 0: App. E1 / Fig. 9) the quartic has a double root at r and the autodiff
    Jacobian of the model there has a zero eigenvalue; slightly off the curve the number of fixed points
    is 3 (inside the wedge) or 1 (outside)."""
    delta = 1.0
    _, _, r_c = A.mpr_cusp(delta, Gamma)
    for r in [0.5 * float(r_c), 0.8 * float(r_c), 1.5 * float(r_c), 3.0 * float(r_c)]:
        eta, J = (float(a) for a in A.mpr_saddle_node(r, delta, Gamma))
        c = np.asarray(A.mpr_quartic(eta, J, delta, Gamma))
        assert abs(np.polyval(c, r)) < 1e-10 * max(1.0, abs(eta) * r**2)
        assert abs(np.polyval(np.polyder(c), r)) < 1e-10 * max(1.0, J * r**2)
        v = -(delta + Gamma * r) / (2 * PI * r)
        model = jaxpop.MontbrioPazoRoxin(eta, delta, J, Gamma=Gamma)
        lam = np.asarray(A.stability(model, mpr_state(r, v)).eigenvalues)
        assert np.min(np.abs(lam)) < 1e-8
        # the wedge lies at lower eta than the lower fold (r < r_c) and higher eta than the upper fold (r > r_c)
        into = 1e-3 if r > r_c else -1e-3
        assert int(A.mpr_fixed_points(eta + into, J, delta, Gamma)[2]) == 3
        assert int(A.mpr_fixed_points(eta - into, J, delta, Gamma)[2]) == 1


def test_cusp_closed_form_and_gamma_shift():
    eta_c, J_c, r_c = A.mpr_cusp(1.0)
    np.testing.assert_allclose([eta_c, J_c, r_c], [-np.sqrt(3), 2 * PI * (4 / 3) ** 0.75, (3 / 4) ** 0.25 / PI],
                               rtol=1e-13)
    np.testing.assert_allclose([eta_c, J_c], [-1.73205, 7.79622], atol=1e-5)  # MPR 2015 Sec. III C
    # scaling with Delta: (eta/Delta, J/sqrt(Delta)) invariant
    e2, j2, _ = A.mpr_cusp(4.0)
    np.testing.assert_allclose([e2 / 4, j2 / 2], [eta_c, J_c], rtol=1e-13)
    # with Lorentzian couplings the invariant is Gamma/sqrt(Delta): (Delta, Gamma) = (4, 2) ~ (1, 1)
    e4, j4, _ = A.mpr_cusp(4.0, 2.0)
    e1, j1, _ = A.mpr_cusp(1.0, 1.0)
    np.testing.assert_allclose([e4 / 4, j4 / 2], [e1, j1], rtol=1e-12)
    # App. E1 / Fig. 9: heterogeneous coupling moves the wedge to lower eta and higher J
    cusps = [A.mpr_cusp(1.0, g) for g in (0.0, 0.5, 1.0, 2.0)]
    etas = [float(c[0]) for c in cusps]
    Js = [float(c[1]) for c in cusps]
    assert all(np.diff(etas) < 0) and all(np.diff(Js) > 0)
    for g, (e, j, r) in zip((0.5, 1.0, 2.0), cusps[1:]):
        # the cusp is the minimum of J_SN(r) along the curve
        rr = np.linspace(0.5 * float(r), 2 * float(r), 2001)
        assert float(j) <= np.min(np.asarray(A.mpr_saddle_node(rr, 1.0, g)[1])) + 1e-12


def test_focus_boundary():
    """Right of eta_f(J) = -[J/(2 pi)]^2 - (pi Delta/J)^2 the high fixed point is a focus, left of it a node."""
    for J, delta in [(15.0, 1.0), (10.5, 1.0), (6.0, 1.0), (20.0, 2.0)]:
        eta_f = float(A.mpr_focus_boundary(J, delta))
        for d_eta, focus in [(1e-4, True), (-1e-4, False)]:
            r, v, n = A.mpr_fixed_points(eta_f + d_eta, J, delta)
            lam = A.mpr_eigenvalues(r[int(n) - 1], J, delta)
            assert bool(jnp.abs(lam[0].imag) > 0) == focus
    r = jnp.linspace(0.2, 2.0, 7)
    eta, J = A.mpr_focus_curve(r, 1.0)
    np.testing.assert_allclose(eta, A.mpr_focus_boundary(J, 1.0), rtol=1e-13)


def test_fold_integrals_lorentzian_closed_form():
    """I_- = Im[(-s - i Delta)^(-1/2)], I_+ = -Im[(-s - i Delta)^(1/2)] (contour integration)."""
    s = np.array([-50.0, -5.0, -1.0, 0.0, 0.3, 2.0, 9.9, 30.0, 400.0])
    for delta in (0.3, 1.0):
        im, ip = A.fold_integrals(jaxpop.Lorentzian(7.0, delta), jnp.asarray(s))  # centre is ignored
        z = -s - 1j * delta
        np.testing.assert_allclose(im, (z ** -0.5).imag, rtol=1e-12)
        np.testing.assert_allclose(ip, -(z**0.5).imag, rtol=1e-12)


def test_saddle_node_lorentzian_numeric_C5_C6_vs_analytic():
    """Acceptance: the (C5)-(C6) curve for Lorentzian g agrees with the analytic one to <= 1e-6."""
    for delta in (1.0, 0.5):
        s = jnp.linspace(-30.0, 60.0, 901) * delta
        eta, J, r0 = A.saddle_node_curve(jaxpop.Lorentzian(0.0, delta), s)
        eta_a, J_a = A.mpr_saddle_node(r0, delta)
        assert float(jnp.max(jnp.abs(eta - eta_a))) < 1e-6
        assert float(jnp.max(jnp.abs(J - J_a) / J_a)) < 1e-6
        assert float(jnp.max(jnp.abs(eta - eta_a))) < 1e-10  # measured ~1e-13
        # numeric cusp (maximum of eta along the curve) = analytic cusp
        e_lo, j_lo, e_c = A.saddle_node_J(jaxpop.Lorentzian(0.0, delta), -2.0 * delta)
        np.testing.assert_allclose(e_c, A.mpr_cusp(delta)[0], atol=1e-8)


def test_saddle_node_J_lorentzian_vs_brentq():
    """J_lower, J_upper at given eta from saddle_node_J (grid + bisection on C5-C6) vs brentq on the
    analytic parametrisation eta_SN(r) = eta."""
    eta_c, J_c, r_c = (float(a) for a in A.mpr_cusp(1.0))
    etas = np.array([-8.0, -5.0, -2.5, -1.8])
    J_lo, J_up, _ = A.saddle_node_J(jaxpop.Lorentzian(0.0, 1.0), jnp.asarray(etas))
    f = lambda r, e: float(A.mpr_saddle_node(r, 1.0)[0]) - e
    for k, e in enumerate(etas):
        r_up = scipy.optimize.brentq(f, 1e-3, r_c, args=(e,), xtol=1e-15)  # small r: upper J
        r_lo = scipy.optimize.brentq(f, r_c, 10.0, args=(e,), xtol=1e-15)
        np.testing.assert_allclose(J_up[k], float(A.mpr_saddle_node(r_up, 1.0)[1]), rtol=1e-8)
        np.testing.assert_allclose(J_lo[k], float(A.mpr_saddle_node(r_lo, 1.0)[1]), rtol=1e-8)
    # right of the cusp: no bistability
    assert np.all(np.isnan(np.asarray(A.saddle_node_J(jaxpop.Lorentzian(0.0, 1.0), -1.0)[:2])))


def test_uniform_saddle_node_matches_app_C3():
    """(C5)-(C6) with uniform g vs the App. C3 closed-form branches; they meet tangentially at eta~ = -1/3."""
    gamma = 1.0
    s = jnp.concatenate([jnp.linspace(-0.999, 0.999, 400), jnp.linspace(1.001, 40.0, 400)])
    eta, J, _ = A.saddle_node_curve(jaxpop.Uniform(0.0, gamma), s)
    J1, J2 = A.uniform_saddle_node(eta)
    upper = s < gamma  # part of the population silent
    np.testing.assert_allclose(J[upper], J1[upper], rtol=1e-9)
    np.testing.assert_allclose(J[~upper], J2[~upper], rtol=1e-9)
    assert float(jnp.max(eta)) <= -1 / 3 + 1e-12
    # the branches meet at eta~ = -1/3 with J~ = sqrt(2) pi ...
    e = -1 / 3 - np.array([1e-4, 1e-5])
    j1, j2 = (np.asarray(a) for a in A.uniform_saddle_node(jnp.asarray(e)))
    np.testing.assert_allclose(j1, np.sqrt(2) * PI, rtol=1e-3)
    np.testing.assert_allclose(j2, np.sqrt(2) * PI, rtol=1e-3)
    # ... with the same slope dJ/deta = -3 pi / 2^(3/2) (a cusp: the curve reverses along one tangent)
    slope1 = (j1[0] - j1[1]) / (e[0] - e[1])
    slope2 = (j2[0] - j2[1]) / (e[0] - e[1])
    np.testing.assert_allclose([slope1, slope2], -3 * PI / 2**1.5, rtol=2e-3)
    # both branches are below/above each other: J2 < J1 (bistable between them)
    e = jnp.linspace(-0.99, -0.34, 30)
    j1, j2 = A.uniform_saddle_node(e)
    assert bool(jnp.all(j2 < j1))
    # rescaling: gamma = 2 gives J = sqrt(gamma) J~(eta/gamma)
    J_lo, J_up, e_c = A.saddle_node_J(jaxpop.Uniform(0.0, 2.0), jnp.array([-1.0, -1.8]))
    j1, j2 = A.uniform_saddle_node(jnp.array([-0.5, -0.9]))
    np.testing.assert_allclose(J_up, np.sqrt(2) * j1, rtol=1e-9)
    np.testing.assert_allclose(J_lo, np.sqrt(2) * j2, rtol=1e-9)
    np.testing.assert_allclose(e_c, -2 / 3, atol=1e-8)
    # Fig. 6(a-d) / App. C4: (eta, J, gamma) = (-1, 8, 1) lies in the bistable region (J~(2)(-1) = 6.52 < 8)
    np.testing.assert_allclose(A.uniform_saddle_node(-1.0)[1], 6.52166, atol=1e-5)
    assert float(A.uniform_saddle_node(-1.0)[1]) < 8.0


def test_saddle_node_curve_gradient_vs_finite_difference():
    """Differentiable (C5)-(C6) curve: dJ_SN/ds and d eta_SN/d sigma by autodiff vs central differences."""
    def curve(sd, s):
        eta, J, _ = A.saddle_node_curve(jaxpop.Gaussian(0.0, sd), s)
        return jnp.stack([eta, J])

    jac = jax.jit(jax.jacfwd(curve, argnums=(0, 1)))
    h = 1e-5
    for s in (-1.0, 0.5, 3.0):
        d_sd, d_s = jac(1.0, s)
        fd_s = (curve(1.0, s + h) - curve(1.0, s - h)) / (2 * h)
        fd_sd = (curve(1.0 + h, s) - curve(1.0 - h, s)) / (2 * h)
        np.testing.assert_allclose(d_s, fd_s, rtol=1e-7)  # truncation ~ h^2 = 1e-10, roundoff ~ 1e-16/h
        np.testing.assert_allclose(d_sd, fd_sd, rtol=1e-7)


def test_gaussian_fold_consistent_with_FREEnsemble():
    """Fig. 5(b) (Gaussian g, sigma = 1) at J = 10, checked with jaxpop.FREEnsemble (the firing-rate
    equations for any g, MPR Eq. 10, not the QIF network). Just inside either fold (0.1 in eta) the
    ensemble is bistable: started low (h0 = 0) and high (h0 = 8) it settles at different rates; just
    outside it settles at one rate. Also at the Fig. 6(e-h) triangle (eta, J) = (-2, 10)."""
    G = jaxpop.Gaussian(0.0, 1.0)
    f = lambda s: float(A.saddle_node_curve(G, s)[1]) - 10.0
    s_c = 0.75  # near the cusp (eta_SN max): J_SN(s_c) = 6.15 < 10
    e_up = float(A.saddle_node_curve(G, scipy.optimize.brentq(f, -6.0, s_c))[0])
    e_lo = float(A.saddle_node_curve(G, scipy.optimize.brentq(f, s_c, 30.0))[0])
    np.testing.assert_allclose([e_lo, e_up], [-2.42599, -1.21703], atol=1e-4)  # values of this curve
    J_lo, J_up, _ = A.saddle_node_J(G, jnp.array([e_lo, e_up]))
    np.testing.assert_allclose([J_lo[0], J_up[1]], 10.0, rtol=1e-8)
    etas = jnp.array([e_up - 0.1, e_up + 0.1, -2.0, e_lo + 0.1, e_lo - 0.1])
    bistable = [True, False, True, True, False]

    def final_rate(eta, h0):  # mean rate over the last 40 time units
        m = jaxpop.FREEnsemble(jaxpop.Gaussian(eta, 1.0), 10.0, n_eta=300, h_init=h0)
        res = jaxpop.simulate(m, 100.0, 0.02, key=jax.random.PRNGKey(0), record_every=50)
        return jnp.mean(res.r[-40:])

    r = jax.vmap(jax.vmap(final_rate, (None, 0)), (0, None))(etas, jnp.array([0.0, 8.0]))
    r = np.asarray(r)
    # low state r < 0.05 (measured <= 0.04), high state r > 0.5 (measured >= 0.63)
    state = np.where(r < 0.05, "low", np.where(r > 0.5, "high", "?"))
    for k, b in enumerate(bistable):
        expect = ["low", "high"] if b else (["high", "high"] if float(etas[k]) > -1.5 else ["low", "low"])
        assert list(state[k]) == expect, (float(etas[k]), r[k])


# ---------------------------------------------------------------------------------------------
# 3. Phase diagram
# ---------------------------------------------------------------------------------------------


def test_mpr_phase_diagram_vs_independent_oracles():
    """Grid over Fig. 1(a): number of fixed points vs numpy.roots, bistable region vs the analytic fold
    (brentq on J_SN(r) = J, numpy formulas), high state focus vs eta_f(J) = -[J/(2 pi)]^2 - (pi/J)^2."""
    eta = np.linspace(-9.7, 1.3, 23)
    J = np.linspace(2.1, 19.9, 17)
    out = {k: np.asarray(a) for k, a in A.mpr_phase_diagram(jnp.asarray(eta)[None, :], jnp.asarray(J)[:, None]).items()}
    r_c = (3 / 4) ** 0.25 / PI
    J_sn = lambda r: 2 * PI**2 * r + 1 / (2 * PI**2 * r**3)
    eta_sn = lambda r: -(PI**2) * r**2 - 3 / (4 * PI**2 * r**2)
    for i, j in enumerate(J):
        if j > J_sn(r_c):
            r1 = scipy.optimize.brentq(lambda r: J_sn(r) - j, 1e-3, r_c)
            r2 = scipy.optimize.brentq(lambda r: J_sn(r) - j, r_c, 10.0)
            e1, e2 = sorted((eta_sn(r1), eta_sn(r2)))
        else:
            e1 = e2 = np.nan
        eta_f = -((j / (2 * PI)) ** 2) - (PI / j) ** 2
        for k, e in enumerate(eta):
            n_ref = len(np_positive_roots(e, j, 1.0))
            assert out["n_fixed"][i, k] == n_ref
            assert out["bistable"][i, k] == bool(e1 < e < e2)
            assert out["n_stable"][i, k] == (2 if n_ref == 3 else 1)
            assert out["high_focus"][i, k] == bool(e > eta_f)
            assert out["region"][i, k] == (2 if n_ref == 3 else (1 if e > eta_f else 0))
    assert set(np.unique(out["region"])) == {0, 1, 2}


# ---------------------------------------------------------------------------------------------
# 4. Lyapunov exponents
# ---------------------------------------------------------------------------------------------

FIG3 = dict(eta=-2.5, J=10.5, I0=3.0, omega=PI)


def test_lyapunov_fig3_chaos():
    """MPR Fig. 3(b): lambda = 0.183... at eta = -2.5, J = 10.5, I(t) = 3 sin(pi t).

    Measured (T = 10^4, dt = 0.01, 10 segments of 1000): SE of one run ~ 0.0025, so the acceptance window
    0.02 is ~8 SE; long runs (slow test) give 0.183 +- 0.001."""
    model = jaxpop.MontbrioPazoRoxin(FIG3["eta"], 1.0, FIG3["J"])
    drive = jaxpop.Sinusoid(FIG3["I0"], FIG3["omega"])
    est = A.lyapunov_exponent(model, 100.0, 10_000.0, 0.01, drive=drive, y0=mpr_state(0.1, -2.0))
    assert abs(float(est.exponent) - 0.183) < 0.02
    assert float(est.stderr) < 0.006
    assert np.all(np.asarray(est.segments) > 0.1)  # every segment is chaotic


def _mpr_floquet_exponents(eta, J, I0, omega, y0, t0):
    """Independent oracle: Floquet exponents of a periodic orbit of the forced MPR equations from the
    variational equations integrated with scipy's DOP853 over one forcing period."""
    T = 2 * PI / omega

    def rhs(t, z):
        r, v = z[:2]
        M = z[2:].reshape(2, 2)
        I = I0 * np.sin(omega * t)
        A_ = np.array([[2 * v, 2 * r], [J - 2 * PI**2 * r, 2 * v]])
        return np.concatenate([[1 / PI + 2 * r * v, v**2 + eta + J * r + I - PI**2 * r**2], (A_ @ M).ravel()])

    sol = scipy.integrate.solve_ivp(rhs, (t0, t0 + T), np.concatenate([y0, np.eye(2).ravel()]), method="DOP853",
                                    rtol=1e-12, atol=1e-12)
    z = sol.y[:, -1]
    mu = np.linalg.eigvals(z[2:].reshape(2, 2))
    return np.sort(np.log(np.abs(mu)) / T)[::-1], z[:2]


def test_lyapunov_periodic_attractor_equals_floquet_exponent():
    """Fig. 2 right (eta = -5, J = 15, I0 = 3, omega = pi/20): an entrained periodic attractor. The
    tangent space excludes the forcing phase, so lambda_max is the leading Floquet exponent: strictly
    negative (-1.66995), not 0."""
    eta, J, I0, omega = -5.0, 15.0, 3.0, PI / 20
    model = jaxpop.MontbrioPazoRoxin(eta, 1.0, J)
    est = A.lyapunov_exponent(model, 200.0, 2000.0, 0.01, drive=jaxpop.Sinusoid(I0, omega), y0=mpr_state(0.1, -2.0))
    t_end = 2200.0  # a whole number of forcing periods (40)
    y_end = np.array([float(est.y_final["r"][0]), float(est.y_final["v"][0])])
    mu, y_T = _mpr_floquet_exponents(eta, J, I0, omega, y_end, t_end)
    np.testing.assert_allclose(y_T, y_end, atol=1e-6)  # it is a periodic orbit (period 40)
    assert float(est.exponent) < 0
    np.testing.assert_allclose(mu[0], -1.66995, atol=1e-4)
    # later segments: tangent aligned with the leading Floquet vector
    np.testing.assert_allclose(np.asarray(est.segments[1:]), mu[0], atol=1e-4)
    # whole window: O(1/T) alignment transient of the first segment
    np.testing.assert_allclose(float(est.exponent), mu[0], atol=2e-3)


def test_lyapunov_vmap_over_parameter_grid_equals_loop():
    """Fig. 3(a)-style grids: vmap over (eta, J) gives the same numbers as a Python loop."""
    etas = jnp.array([-2.5, -5.0])
    Js = jnp.array([10.5, 15.0])
    drive = jaxpop.Sinusoid(3.0, PI)

    def lam(eta, J):
        return A.lyapunov_exponent(jaxpop.MontbrioPazoRoxin(eta, 1.0, J), 20.0, 200.0, 0.01, drive=drive).exponent

    batched = jax.vmap(lam)(etas, Js)
    looped = [lam(e, j) for e, j in zip(etas, Js)]
    np.testing.assert_allclose(batched, looped, rtol=1e-10, atol=1e-12)


def test_lyapunov_bad_input():
    m = jaxpop.MontbrioPazoRoxin()
    with pytest.raises(ValueError, match="renorm_every"):
        A.lyapunov_exponent(m, 1.0, 10.0, 0.01, renorm_every=0)
    with pytest.raises(ValueError, match="multiple"):
        A.lyapunov_exponent(m, 1.0, 10.0, 0.01, renorm_every=7, n_segments=10)


@pytest.mark.slow
def test_lyapunov_fig3_long_runs():
    """Long runs at the Fig. 3 point: 3 initial conditions x T = 5e4 at dt = 0.01, and one at dt = 0.005.
    The paper's "0.183..." means lambda in [0.183, 0.184); the pooled estimate must lie within 4 pooled SE
    of that interval, and the dt = 0.005 run within 4 combined SE of the pooled dt = 0.01 value."""
    model = jaxpop.MontbrioPazoRoxin(FIG3["eta"], 1.0, FIG3["J"])
    drive = jaxpop.Sinusoid(FIG3["I0"], FIG3["omega"])
    ests = [A.lyapunov_exponent(model, 100.0, 50_000.0, 0.01, drive=drive, y0=mpr_state(r, v), n_segments=25)
            for r, v in [(0.1, -2.0), (1.0, 0.0), (0.5, -1.0)]]
    lams = np.array([float(e.exponent) for e in ests])
    ses = np.array([float(e.stderr) for e in ests])
    fine = A.lyapunov_exponent(model, 100.0, 50_000.0, 0.005, drive=drive, y0=mpr_state(0.1, -2.0), n_segments=25)
    pooled = lams.mean()
    pooled_se = np.sqrt(np.sum(ses**2)) / len(ses)
    print(f"lambda per IC (dt=0.01): {lams}, SE {ses}; pooled {pooled:.5f} +- {pooled_se:.5f}; "
          f"dt=0.005: {float(fine.exponent):.5f} +- {float(fine.stderr):.5f}")
    assert 0.183 - 4 * pooled_se < pooled < 0.184 + 4 * pooled_se
    assert abs(float(fine.exponent) - pooled) < 4 * np.sqrt(float(fine.stderr) ** 2 + pooled_se**2)


# ---------------------------------------------------------------------------------------------
# 5. Power spectra
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        dict(nperseg=256),
        dict(nperseg=255, noverlap=100, window="hamming", detrend="linear"),
        dict(nperseg=128, noverlap=0, window="boxcar", detrend=None, nfft=200),
        dict(nperseg=64, noverlap=48, window="hann", detrend="constant", nfft=129),
    ],
)
def test_power_spectrum_matches_scipy_welch(kw):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 5000)) + np.linspace(0, 3, 5000)  # batch of 6 signals with a trend
    dt = 0.01
    f, p = A.power_spectrum(jnp.asarray(x), dt, **kw)
    skw = dict(kw)
    skw["detrend"] = False if kw.get("detrend", "constant") is None else kw.get("detrend", "constant")
    fs_, ps = scipy.signal.welch(x, fs=1 / dt, **skw)
    np.testing.assert_allclose(f, fs_, rtol=1e-12)
    assert p.shape == ps.shape
    np.testing.assert_allclose(p, ps, rtol=1e-10, atol=1e-10 * np.max(ps))
    # time axis elsewhere (Result data are time-major)
    _, p0 = A.power_spectrum(jnp.moveaxis(jnp.asarray(x), -1, 0), dt, axis=0, **kw)
    np.testing.assert_allclose(p0, ps, rtol=1e-10, atol=1e-10 * np.max(ps))


def test_power_spectrum_white_noise_closed_form():
    """White noise of variance sigma^2 at spacing dt: one-sided density 2 sigma^2 dt for 0 < f < f_Nyq.

    Tolerance from the standard error: each Welch bin averages K = 2047 periodograms (exponential
    with mean P); with Hann 50 % overlap, Var(mean) = P^2 (1 + 2 c^2)/K, c^2 = 0.028 (overlap correlation).
    Averaging the M = 127 interior bins (correlated only with neighbours, |rho|^2 = 1/6 for Hann)
    gives relative SE <= sqrt(1.056 * (1 + 2/6 + 2/36) / (K M)) = 2.7e-3; we allow 5 SE = 1.4 %."""
    sigma, dt = 1.7, 0.002
    x = sigma * jax.random.normal(jax.random.PRNGKey(3), (2**18,))
    f, p = A.power_spectrum(x, dt, nperseg=256)
    interior = np.asarray(p[1:-1])
    rel = interior.mean() / (2 * sigma**2 * dt) - 1
    assert abs(rel) < 0.014, rel
    # Nyquist bin (even nperseg) is not doubled: sigma^2 dt, with 1 bin -> SE ~ 1/sqrt(K) = 2.2 %, allow 5 SE
    assert abs(float(p[-1]) / (sigma**2 * dt) - 1) < 0.11
    # integral of the density over [0, f_Nyq] = variance of the (mean-removed) signal (within the same SE)
    df = f[1] - f[0]
    var = float(jnp.sum(p) * df - 0.5 * (p[0] + p[-1]) * df)
    assert abs(var / sigma**2 - 1) < 0.014


def test_power_spectrum_sinusoid_peak_and_bad_input():
    dt, f0 = 0.001, 12.5
    t = jnp.arange(2**14) * dt
    f, p = A.power_spectrum(jnp.sin(2 * PI * f0 * t), dt, nperseg=1600)
    assert abs(float(f[jnp.argmax(p)]) - f0) <= float(f[1] - f[0]) / 2
    with pytest.raises(ValueError, match="noverlap"):
        A.power_spectrum(t, dt, nperseg=64, noverlap=64)
    with pytest.raises(ValueError, match="detrend"):
        A.power_spectrum(t, dt, detrend="quadratic")
    with pytest.raises(ValueError, match="window"):
        A.power_spectrum(t, dt, window="kaiser")
