"""Eigenvalues of the refractory-density operator (jaxpop.analysis.eigenvalues): the root search against closed forms
and the argument principle, implicit derivatives against central differences, eigenfunctions against their
defining equations, bad regions."""

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from jaxpop.analysis.eigenvalues import (
    adjoint_eigenfunction, count_eigenvalues, eigenfunction, eigenvalue, find_eigenvalues, gaussian_isi_eigenvalues,
    mode_weight,
)
from jaxpop.analysis.renewal import PAR, PIF, EscapeLIF, GammaRenewal, LIFWhiteNoise

jax.config.update("jax_enable_x64", True)


def _closed_form_upper(model, region, n):
    """The closed-form eigenvalues with Im >= 0 inside region (mode indices n)."""
    re_min, re_max, im_max = region
    lam = np.asarray(model.closed_form_eigenvalues(n), dtype=complex)
    lam = np.where(np.abs(lam.imag) <= 1e-12 * np.abs(lam), lam.real + 0j, lam)  # e.g. beta (e^{i pi} - 1)
    keep = (lam.real >= re_min) & (lam.real <= re_max) & (lam.imag >= 0) & (lam.imag <= im_max)
    return np.sort_complex(lam[keep])


@pytest.mark.parametrize("model, n", [
    (PAR(100.0, 15.0), np.arange(-40, 41)),
    (PAR(50.0, 4.0), np.arange(-40, 41)),
    (GammaRenewal(75.0, 15), np.arange(15)),
    (GammaRenewal(40.0, 8), np.arange(8)),  # even shape: a real root at -2 beta
    (PIF.from_rate_cv(75.0, 1 / math.sqrt(15)), np.arange(-30, 31)),
], ids=["PAR-15ms", "PAR-4ms", "Gamma-15", "Gamma-8", "PIF"])
def test_search_finds_exactly_the_closed_form_spectrum(model, n):
    # the root search does not know the closed forms' completeness: the argument principle tells it how many roots
    # to find; every closed-form root in the region must be found (and nothing else) to 1e-9 relative
    s = find_eigenvalues(model)
    expected = _closed_form_upper(model, s.region, n)
    found = np.sort_complex(s.eigenvalues)
    assert s.count == 2 * np.sum(expected.imag > 0) + np.sum(expected.imag == 0)  # conjugates; lambda_0 and real roots once
    assert found.size == expected.size, (found, expected)
    np.testing.assert_allclose(found, expected, rtol=1e-9, atol=1e-9 * float(model.rate()))


def test_search_without_closed_form_matches_mpmath_root():
    # PIF with a dead time: no closed form; each root found must be a root of P_L = 1 written out here and polished
    # by mpmath at 30 digits (agreement 1e-9 relative)
    mu, D, a, t_ref = 0.75, 0.25, 10.0, 2.0
    model = PIF(mu, D, a, t_ref=t_ref)
    s = find_eigenvalues(model)
    assert s.count == 2 * np.sum(s.eigenvalues.imag > 0) + np.sum(s.eigenvalues.imag == 0)
    mpmath.mp.dps = 30

    def PL1(lam):  # lam in 1/s
        lm = lam / 1000
        return mpmath.exp(-lm * t_ref + a / (2 * D) * (mu - mpmath.sqrt(mu**2 + 4 * D * lm))) - 1

    for lam in s.eigenvalues[1:6]:
        ref = complex(mpmath.findroot(PL1, mpmath.mpc(lam.real, lam.imag) * (1 + 1e-4)))
        assert abs(lam - ref) <= 1e-9 * abs(ref), (lam, ref)


@pytest.mark.slow  # ~60 s: each transform is a 20001-node quadrature
def test_count_of_an_escape_lif_and_its_roots():
    # no closed form: roots of the quadrature transform; their number equals the argument principle's count (else
    # find_eigenvalues raises), so check the roots themselves: P_L(lambda) = 1 to 1e-10
    model = EscapeLIF(24.0, t_ref=4.0, n_grid=20001)
    s = find_eigenvalues(model, (-250.0, 1.2, 800.0))
    lam = s.eigenvalues[1:]
    assert lam.size >= 3 and s.count == 2 * np.sum(lam.imag > 0) + np.sum(lam.imag == 0) + 1
    np.testing.assert_allclose(np.asarray(model.laplace_isi(lam)), 1.0, atol=1e-10)
    # the slowest mode oscillates near the rate (Gaussian-ISI approximation within 20 % for this CV ~ 0.25)
    approx = np.conj(gaussian_isi_eigenvalues(float(model.rate()), float(model.cv()), 1))
    assert abs(s.eigenvalues[1].imag / approx.imag - 1) < 0.2


@pytest.mark.slow
def test_lif_white_noise_eigenvalues_are_roots_of_the_parabolic_cylinder_condition():
    # host-side model: every root found satisfies e^delta D_{-s}(x_r) = D_{-s}(x_th) written out with mpmath
    model = LIFWhiteNoise(1.2, 0.1, tau_m=20.0)
    s = find_eigenvalues(model, (-300.0, 5.0, 800.0))
    mpmath.mp.dps = 30
    sq = mpmath.sqrt(mpmath.mpf("0.1"))
    for lam in s.eigenvalues[1:]:
        z = mpmath.mpc(lam.real, lam.imag) * mpmath.mpf("0.02")
        lhs = mpmath.exp((2 * 1.2 - 1) / (4 * 0.1)) * mpmath.pcfd(-z, 1.2 / sq)
        rhs = mpmath.pcfd(-z, (1.2 - 1) / sq)
        assert abs(lhs / rhs - 1) < 1e-9


def test_gaussian_approximation_is_exact_for_its_own_transform():
    # lambda_n of the Gaussian-ISI formula solve -k1 lam + k2 lam^2 / 2 = 2 pi i n exactly (so P_L = 1)
    r, cv = 75.0, 0.3
    n = np.arange(1, 6)
    lam = gaussian_isi_eigenvalues(r, cv, n)
    k1, k2 = 1 / r, (cv / r) ** 2
    np.testing.assert_allclose(-k1 * lam + k2 * lam**2 / 2, 2j * np.pi * n, rtol=1e-12)
    assert np.all(lam.real <= 0)


@pytest.mark.parametrize("make, theta0", [
    (lambda th: PAR(th[0], th[1]), np.array([100.0, 15.0])),
    pytest.param(lambda th: PIF(th[0], th[1], 10.0, t_ref=th[2]), np.array([0.75, 0.25, 2.0]),
                 marks=pytest.mark.slow),  # default-suite budget: PAR and Gamma run by default
    (lambda th: GammaRenewal(th[0], 15.0), np.array([75.0])),
], ids=["PAR(nu, Delta)", "PIF(mu, D, t_ref)", "Gamma(rate)"])
def test_implicit_eigenvalue_gradient_matches_central_differences(make, theta0):
    # d lambda_1 / d theta by implicit differentiation vs central differences of the converged root (step 1e-5
    # relative: truncation ~ 1e-10 |lambda'''|, round-off ~ 1e-16 / 1e-5 -> both < 1e-8 relative; acceptance 1e-6)
    guess = find_eigenvalues(make(theta0)).eigenvalues[1]

    def lam(th):
        return eigenvalue(make(th), guess)

    jac_re = np.asarray(jax.jacobian(lambda th: jnp.real(lam(th)))(jnp.asarray(theta0)))
    jac_im = np.asarray(jax.jacobian(lambda th: jnp.imag(lam(th)))(jnp.asarray(theta0)))
    for i in range(theta0.size):
        e = 1e-5 * abs(theta0[i])
        up, dn = theta0.copy(), theta0.copy()
        up[i] += e
        dn[i] -= e
        fd = (complex(lam(jnp.asarray(up))) - complex(lam(jnp.asarray(dn)))) / (2 * e)
        got = jac_re[i] + 1j * jac_im[i]
        assert abs(got - fd) <= 1e-6 * abs(fd), (i, got, fd)


def test_par_eigenvalue_derivative_closed_form():
    # d lambda_n / d nu = lambda_n / (nu [1 + Delta (nu + lambda_n)]) (Gallice's thesis, re-derived), Delta in s
    nu, Delta = 80.0, 10.0
    lam1 = PAR(nu, Delta).closed_form_eigenvalues(1)
    d = jax.jacfwd(lambda x: eigenvalue(PAR(x, Delta), lam1), holomorphic=False)(nu)
    expected = lam1 / (nu * (1 + Delta * 1e-3 * (nu + lam1)))
    assert abs(complex(d) - expected) <= 1e-9 * abs(expected)


def test_mode_weights_and_eigenfunctions():
    # F_0 = rate; PAR: F_n = (nu + lambda_n) / (1 + Delta (nu + lambda_n)) (closed form); the eigenfunction solves
    # -d phi / d tau - rho phi = lambda phi (checked by a centred difference away from the jump at Delta) with
    # phi(0) = F_n; the adjoint eigenfunction of PAR is e^{lambda min(tau, Delta)}
    nu, Delta = 100.0, 15.0
    m = PAR(nu, Delta)
    lam = m.closed_form_eigenvalues(np.arange(1, 4))
    assert abs(complex(mode_weight(m, 0.0)) - float(m.rate())) < 1e-12 * float(m.rate())
    D = Delta * 1e-3
    np.testing.assert_allclose(np.asarray(mode_weight(m, lam)), (nu + lam) / (1 + D * (nu + lam)), rtol=1e-12)
    tau = np.linspace(0.0, 60.0, 60001)
    for l in lam:
        phi = np.asarray(eigenfunction(m, l, tau))
        h = (tau[1] - tau[0]) * 1e-3
        dphi = (phi[2:] - phi[:-2]) / (2 * h)
        resid = -dphi - np.asarray(m.hazard(tau[1:-1])) * phi[1:-1] - l * phi[1:-1]
        away = np.abs(tau[1:-1] - Delta) > 0.01
        assert np.max(np.abs(resid[away])) <= 1e-5 * np.max(np.abs(l * phi))
        psi = np.asarray(adjoint_eigenfunction(m, l, tau))
        # the trapezoidal rule across the jump of P e^{-lambda s} at Delta errs by ~ nu h |e^{-lambda Delta}| / 2 in
        # the integral, amplified by |e^{lambda tau}| / S(tau) where the tail is divided by S (factor 2 of margin)
        jump = nu * h / 2 * abs(np.exp(-l * D))
        bound = 2 * jump * np.abs(np.exp(l * tau * 1e-3)) / np.asarray(m.survivor(tau)) + 1e-12
        assert np.all(np.abs(psi - np.exp(l * np.minimum(tau, Delta) * 1e-3)) <= bound)


def test_adjoint_eigenfunction_solves_the_adjoint_equation():
    # smooth model (PIF with a dead time): L+ psi = lambda psi, i.e. psi' = (lambda + rho) psi - rho psi(0), psi(0) = 1
    m = PIF(0.75, 0.25, 10.0, t_ref=2.0)
    lam = find_eigenvalues(m).eigenvalues[1]
    tau = np.linspace(0.0, 25.0, 25001)
    psi = np.asarray(adjoint_eigenfunction(m, lam, tau))
    assert abs(psi[0] - 1) < 1e-6
    h = (tau[1] - tau[0]) * 1e-3
    dpsi = (psi[2:] - psi[:-2]) / (2 * h)
    rho = np.asarray(m.hazard(tau[1:-1]))
    resid = dpsi - (lam + rho) * psi[1:-1] + rho
    away = np.abs(tau[1:-1] - 2.0) > 0.01  # the dead time's edge
    # centred differences: O(h^2 psi''') ~ 1e-8 relative to lambda psi; the trapezoid's O(h^2) likewise
    assert np.max(np.abs(resid[away])) <= 1e-4 * np.max(np.abs(lam * psi))


@pytest.mark.parametrize("region", [(-10.0, 5.0, 100.0), (10.0, 20.0, 100.0), (-100.0, 5.0, -1.0)])
def test_bad_regions_raise_naming_region(region):
    with pytest.raises(ValueError, match="region"):
        find_eigenvalues(PAR(100.0, 15.0), region)


def test_region_left_of_a_quadrature_models_validity_raises():
    model = EscapeLIF(24.0, n_grid=2001)
    with pytest.raises(ValueError, match="re_min"):
        count_eigenvalues(model, (-1e5, 5.0, 1000.0))


def test_host_model_is_refused_by_the_traced_solver():
    with pytest.raises(TypeError, match="host"):
        eigenvalue(LIFWhiteNoise(1.2, 0.1), -10 + 300j)
