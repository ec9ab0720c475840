"""``jaxpop reproduce eig-*`` (Pietras, Gallice & Schwalger 2020; the lecture's part 4) in quick mode, and the analysis
helpers they rest on.

Each target runs once (module cache) into a temporary folder; the checks compare its numbers with what the target did
not compute the same way: the closed-form PAR susceptibility written out here, the closed-form eigenvalues, the
Laplace transform of the LIF's ISI density in mpmath, renewal theory. The relaxation and spectra targets take minutes
even in quick mode (quadrature eigenmode models, 10^3-neuron networks): ``-m slow``.
"""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from _reproduce_cache import run_quick
from jaxpop import reproduce
from jaxpop.analysis import linear_response as lr
from jaxpop.analysis.eigenvalues import mode_weight
from jaxpop.reproduce import pietras2020 as pg

TARGETS = ("eig-relaxation", "eig-response", "eig-onset", "eig-spectra")


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("pietras2020")


def test_registry_lists_every_target():
    assert set(TARGETS) <= set(reproduce.available())


def _chi_par(f, h, Delta=5.0, nu_max=100.0, theta=5.0, delta=2.0):
    """PAR susceptibility nu'(1 - Delta A0) / (1 + nu (1 - e^{-i w Delta}) / (i w)), written out (f in Hz)."""
    nu = nu_max / (1 + np.exp(-(h - theta) / delta))
    dnu = nu * (1 - nu / nu_max) / delta
    D = Delta * 1e-3
    A0 = nu / (1 + nu * D)
    w = 2 * np.pi * np.asarray(f, float)
    return dnu * (1 - D * A0) / (1 + nu * (1 - np.exp(-1j * w * D)) / (1j * w))


# ------------------------------------------------------------------------------------------ helpers


def test_fit_modes_recovers_damped_modes_and_its_standard_error():
    """Two damped modes (lambda in 1/s) sampled every 0.1 ms for 60 ms: noise-free, the fit returns them to 1e-8;
    with white noise of SD 0.5 (200 draws of the noise, fixed seed) the error of Im lambda_1 has an SD that the
    reported SE matches within 30 % (the SE of an SD estimated from 200 draws is 5 %) and a mean within 3 SE/sqrt(200)."""
    t = np.arange(0, 60, 0.1)
    lam = np.array([-80 + 500j, -300 + 1100j])
    c = np.array([20 - 5j, 8 + 3j])
    x = np.real(np.exp(np.outer(t * 1e-3, lam)) @ c)
    fit, _ = pg.fit_modes(t, x, lam * (1 + 0.03))
    np.testing.assert_allclose(fit, lam, rtol=1e-8)
    rng = np.random.default_rng(1)
    err, se = [], []
    for _ in range(200):
        f, s = pg.fit_modes(t, x + rng.normal(0, 0.5, t.size), lam)
        err.append(f[0].imag - lam[0].imag)
        se.append(s[0].imag)
    err, se = np.array(err), np.mean(se)
    assert abs(np.std(err) / se - 1) < 0.3, (np.std(err), se)
    assert abs(np.mean(err)) < 3 * se / np.sqrt(200)


def test_growth_rate_and_zero_crossing():
    t = np.arange(0, 1000, 0.1)
    x = np.exp(3.0 * t * 1e-3) * np.cos(2 * np.pi * 0.05 * t)  # 3/s, 50 Hz: windows hold whole periods
    assert pg.growth_rate(t, x, ((300, 500), (800, 1000))) == pytest.approx(3.0, rel=1e-3)
    assert pg.zero_crossing([1.0, 2.0, 3.0], [-2.0, -1.0, 1.0]) == pytest.approx(2.5)
    assert np.isnan(pg.zero_crossing([1.0, 2.0], [1.0, 2.0]))


def test_lif_eigenvalue_path_solves_the_characteristic_equation_and_turns_real():
    """Each root of the continuation solves P_L = 1 with P_L written out in mpmath here (exp((2 mu - 1)/(4D))
    D_{-s}(mu/sqrt D) / D_{-s}((mu - 1)/sqrt D), s = lambda tau_m): 1e-9; the pair is complex at mu = 1.2 (a ringing
    relaxation, Im lambda_1 / 2 pi within a factor 2 of the rate) and real at mu = 0.45 (path from mu = 1.6)."""
    mus = np.round(np.concatenate([np.arange(1.6, 0.575, -0.05), np.arange(0.57, 0.445, -0.01)]), 4)
    path = pg.lif_eigenvalue_path(mus)
    mpmath.mp.dps = 30
    sq = mpmath.sqrt(mpmath.mpf("0.1"))
    i12 = int(np.argmin(np.abs(mus - 1.2)))
    for mu, lam in zip(mus[[0, i12, -1]], path[[0, i12, -1]]):
        s = mpmath.mpc(lam.real, lam.imag) * mpmath.mpf("0.02")
        PL = mpmath.exp((2 * mu - 1) / (4 * 0.1)) * mpmath.pcfd(-s, mu / sq) / mpmath.pcfd(-s, (mu - 1) / sq)
        assert abs(PL - 1) < 1e-9
    rate = float(pg.LIFWhiteNoise(1.2, 0.1).rate())
    assert 0.5 * rate < path[i12].imag / (2 * np.pi) < 2 * rate
    assert path[-1].imag == 0 and path[-1].real < 0


# ------------------------------------------------------------------------------------------ eig-onset


def test_onset_linear_condition_and_simulations(outdir):
    """Fig. 7 parameters at h* = 5 mV. Without a delay the condition 1 = J eps chi_h has no solution: Im(eps chi_h)
    keeps its sign on 1-2000 Hz (checked here with the written-out chi), and the excitatory population's instability is
    the rate instability J = 1/chi_h(0) = (1 + nu Delta)^2 / nu' = 0.125 mV s. With a 2-ms delay the critical coupling
    solves the condition to 1e-9; the RDE's growth rate changes sign within 5 % of it (acceptance; quick mode: dt =
    0.1 ms); the first-order model's own simulations cross zero within 5 % of its own linear condition (its
    linearisation). Growth rates rise with |J| for every model."""
    n = run_quick("eig-onset", outdir, stem="pietras2020_onset")
    f = np.linspace(1.0, 2000.0, 20001)
    w = 2 * np.pi * f * 1e-3
    G = _chi_par(f, 5.0) / ((1 + 1j * w * 20.0) * (1 + 1j * w * 10.0))
    assert np.all(G.imag < 0) and n["no_delay"]["im_G_sign_changes"] == 0
    nu, dnu = 50.0, 50.0 * 0.5 / 2.0  # the sigmoid at its midpoint: nu_max / 2, nu_max / (4 delta)
    assert n["no_delay"]["J_rate_instability_mv_s"] == pytest.approx((1 + nu * 5e-3) ** 2 / dnu, rel=1e-6)
    J, fc = n["J_c_linear_mv_s"], n["f_c_linear_hz"]
    wc = 2 * np.pi * fc * 1e-3
    eps = np.exp(-1j * wc * 2.0) / ((1 + 1j * wc * 20.0) * (1 + 1j * wc * 10.0))
    assert abs(1 - J * eps * _chi_par(fc, 5.0)) < 1e-9 and J < 0
    assert abs(n["J_onset_RDE_rel"]) < 0.05, n["J_onset_RDE_rel"]
    assert abs(n["J_onset_1_mode_mv_s"] / n["J_c_linear_first_order_mv_s"] - 1) < 0.05
    # the M-mode models' linear conditions tend to the exact one like 1/M (measured -9.24, -5.91, -4.30, -2.76,
    # -1.45, -0.74, -0.37 % for M = 1, 2, 3, 5, 10, 20, 40): the first-order shortfall is the truncation's
    rel = {int(M): v for M, v in n["J_c_linear_modes_rel"].items()}
    assert all(rel[M] < 0 for M in rel) and np.all(np.diff([-rel[M] for M in sorted(rel)]) < 0), rel
    assert 1.8 < rel[10] / rel[20] < 2.2 and 1.8 < rel[20] / rel[40] < 2.2 and abs(rel[40]) < 0.005, rel
    for rates in n["growth_rates_per_s"].values():
        assert np.all(np.diff(rates) > 0)


@pytest.mark.xfail(strict=True, reason="the first-order model's onset is -6.9 % (quick; -8.1 % in the full run, "
                                       "docs/measurements.md) from the exact J_c: short of the 5 % acceptance (its "
                                       "own linear condition gives -9.2 %)")
def test_onset_first_order_within_five_percent_of_exact(outdir):
    n = run_quick("eig-onset", outdir, stem="pietras2020_onset")
    assert abs(n["J_onset_1_mode_rel"]) < 0.05


# ------------------------------------------------------------------------------------------ eig-response


@pytest.mark.slow  # ~60 s in quick mode
def test_response_rde_matches_exact_and_orders_improve(outdir):
    """Fig. 6: the RDE's lock-in chi at 26, 52, 78 Hz vs the written-out PAR chi_h (h = 1.2 mV, Delta = 15 ms,
    theta = 1, delta = 0.5): 1e-3 (acceptance); the first-order peak within 10 % in height (acceptance) and 2.5 % in
    frequency (acceptance 2 %: measured +2.2 %, reported short); two modes closer than one in both; the traces'
    NRMSE against the RDE falls from 0th to 2nd order at every drive."""
    n = run_quick("eig-response", outdir, stem="pietras2020_response")
    for fd, d in n["drives"].items():
        ex = _chi_par(float(fd), 1.2, Delta=15.0, theta=1.0, delta=0.5)
        chi = complex(*d["chi_rde"])
        assert abs(chi / ex - 1) < 1e-3, (fd, chi, ex)
        e = d["nrmse"]
        assert e["2nd"] < e["1st"] < e["0th"], (fd, e)
    o1, o2 = n["orders"]["1"], n["orders"]["2"]
    assert abs(o1["peak_height_rel"]) < 0.10 and abs(o1["peak_f_rel"]) < 0.025
    assert abs(o2["peak_height_rel"]) < abs(o1["peak_height_rel"]) and abs(o2["peak_f_rel"]) < abs(o1["peak_f_rel"])


# ------------------------------------------------------------------------------------------ eig-relaxation


@pytest.mark.slow  # ~2 min in quick mode
def test_relaxation_rings_at_lambda_1(outdir):
    """Fig. 5 in quick mode (N = 2000, 2 trials, dt = 0.1 ms): the RDE rings at Im lambda_1 / 2 pi (closed forms) within
    1 % (acceptance); the network within 3 fitted SE of it (its SE ~1-2 Hz here; the full run's N = 10^4 is in
    docs/measurements.md); the one-mode NRMSE below 5 % for Gamma and PIF and falling with M for all three (PAR's
    one-mode error is ~46 %: the synchronous start of PAR is discontinuous at multiples of Delta, reported short)."""
    n = run_quick("eig-relaxation", outdir, stem="pietras2020_relaxation")
    for name, m in n["models"].items():
        lam = complex(*m["lambda_1"])
        assert m["f_theory_hz"] == pytest.approx(lam.imag / (2 * np.pi))
        assert abs(m["f_rde_rel"]) < 0.01, (name, m["f_rde_rel"])
        assert abs(m["f_micro_hz"] - m["f_theory_hz"]) < 3 * m["f_micro_se_hz"], (name, m)
        err = [m["nrmse_vs_rde"][k] for k in sorted(m["nrmse_vs_rde"], key=int)]
        assert np.all(np.diff(err) < 0), (name, err)
        if name != "PAR":
            assert err[0] < 0.05, (name, err)


# ------------------------------------------------------------------------------------------ eig-spectra


@pytest.mark.slow  # ~1 min in quick mode
def test_spectra_eigenvalues_and_finite_size_rates(outdir):
    """The slides: the plotted eigenvalues are the closed forms (PIF -2 pi^2 r C_V^2 n^2 + 2 pi i r n, written out);
    the LIF's lambda_1 turns real below mu ~ 0.5 (D = 0.1); the Langevin eigenmode models' stationary rates within 2 %
    of the network's (acceptance) and their spectra equal to their own linear theory within 4 SE in octave bands up to
    64 Hz (the implementation is right; the spectra's octave-band errors against the network, +20 ... +120 % at
    8-64 Hz, are the model's: reported, short of the 15 % acceptance)."""
    n = run_quick("eig-spectra", outdir, stem="pietras2020_spectra")
    r, cv = pg.FIG5_RATE, pg.FIG5_CV
    k = np.arange(1, 4)
    pif = -2 * np.pi ** 2 * r * cv ** 2 * k ** 2 + 2j * np.pi * r * k
    np.testing.assert_allclose([complex(*x) for x in n["eigenvalues"]["PIF"]], pif, rtol=1e-9)
    assert 0.45 < n["lif"]["mu_turns_real"] < 0.6
    sp = n["spectrum"]
    # Welch estimates: at least trials x floor((T - 500 ms) / 1 s) independent segments, (b - a) 1-Hz bins per band,
    # so a band mean has a relative SE <= 1/sqrt(bins x segments); checked below 64 Hz (time-step effects
    # (2 pi f dt)^2 < 1 % there)
    segments = sp["trials"] * int((sp["t_end_ms"] - 500.0) // 1000.0)
    for name in ("1 mode", "2 modes"):
        assert abs(sp[f"{name} vs micro"]["rate_rel"]) < 0.02
        own = np.asarray(sp[f"{name} vs micro"]["bands_rel_own_linear_theory"])
        for (a, b), rel in zip(sp["bands_hz"], own):
            if b <= 64:
                assert abs(rel) < 4 / np.sqrt((b - a) * segments), (name, (a, b), rel)


def _closed_form_modes(model, M):
    """The first M eigenvalues (closed forms) and mode weights F_n = -1/P_L'(lambda_n) of a renewal model, in the
    layout of the eigenmode model's coefficients (one population)."""
    lam = np.asarray(model.closed_form_eigenvalues(np.arange(1, M + 1)))
    F = np.asarray(jax.vmap(lambda x: mode_weight(model, x))(jnp.asarray(lam)))
    r = float(model.rate())
    return SimpleNamespace(F0=np.array([r]), Lambda=np.array([r / float(model.cv())]), F=F[None], lam=lam[None])


def test_langevin_mode_spectrum_and_its_infinite_mode_limit():
    """The Langevin eigenmode model's linear spectrum (N = 500, Fig. 5 populations: 75 Hz, C_V = 1/sqrt 15) against
    its M -> infinity parent, the RDE with the same constant-Lambda closure, |i w / ((i w + Lambda)(1 - P_L))|^2
    (pietras2020.langevin_rde_spectrum), on 2-256 Hz. Measured: Gamma (shape 15) with all its 7 pairs of modes equals
    it to 4e-15 (1/(1 - P_L) is rational: the mode sum is its partial-fraction expansion); PIF approaches it like 1/M
    (largest relative error 0.53, 0.27, 0.13 at M = 10, 20, 40); PAR never does (2.4-2.5 at M = 5, 20, 80), although
    for PAR the limit is the renewal spectrum itself (1.7e-13): the sum 1 + F_0/s + sum_n F_n/(s - lambda_n) + c.c.
    converges to another function than 1/(1 - P_L(s)). With Mittag-Leffler's convergence factors and constant,
    (1 + C_V^2)/2 + F_0/s + sum_n F_n [1/(s - lambda_n) + 1/lambda_n] + c.c., it converges like 1/M (6.8e-3 at M = 80,
    150 Hz). So the Langevin eigenmode spectrum of PAR stays off at every M: a limit of the model, not of M."""
    pops = pg.fig5_populations()
    N, f = 500, np.linspace(2, 256, 2000)

    def against_limit(name, Ms):
        """The model, its closed-form modes, the limit and the largest relative error of the M-mode spectrum."""
        fam, h0 = pops[name]
        model = fam.at(h0)
        limit = pg.langevin_rde_spectrum(model, N, f)
        co = _closed_form_modes(model, max(Ms))
        errors = {M: np.max(np.abs(pg.langevin_linear_spectrum(co, N, f, M) / limit - 1)) for M in Ms}
        return model, co, limit, errors

    *_, e = against_limit("Gamma", (7,))
    assert e[7] < 1e-9, e
    *_, e = against_limit("PIF", (10, 20, 40))
    assert 1.8 < e[10] / e[20] < 2.2 and 1.8 < e[20] / e[40] < 2.2, e
    par, co, limit, e = against_limit("PAR", (5, 20, 80))
    np.testing.assert_allclose(limit, 2 * np.asarray(lr.renewal_spectrum(par, f)) / N, rtol=1e-9)
    assert min(e.values()) > 2.0, e  # the stall
    s = 2j * np.pi * np.array([5.0, 20.0, 50.0, 150.0])
    exact = 1 / (1 - np.asarray(par.laplace_isi(jnp.asarray(s))))
    F, lam, F0 = co.F[0][:, None], co.lam[0][:, None], co.F0[0]

    def mittag_leffler(M):
        def modes(Fn, ln):
            return np.sum(Fn * (1 / (s - ln) + 1 / ln), 0)
        return (1 + float(par.cv()) ** 2) / 2 + F0 / s + modes(F[:M], lam[:M]) + modes(np.conj(F[:M]), np.conj(lam[:M]))

    ml = {M: np.max(np.abs(mittag_leffler(M) / exact - 1)) for M in (20, 80)}
    assert 3.5 < ml[20] / ml[80] < 4.5 and ml[80] < 1e-2, ml
