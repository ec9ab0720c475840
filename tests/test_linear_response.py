r"""Independent oracle tests of :mod:`jaxpop.analysis.linear_response`.

References computed here, independently of the module: the PAR population's integral equation
:math:`A(t) = \nu(h(t))[1 - \int_{t-\Delta}^t A]` integrated in numpy (the :math:`N \to \infty` deterministic limit,
open loop and closed through :math:`\tau_h\dot h = -h + \mu + J s(t-d)`, :math:`\tau_s\dot s = -s + A`), driven by a
weak cosine and projected on :math:`e^{-i\omega t}`; derivatives by ``jax.grad`` of rate functions written out here;
closed forms solved by hand (or by ``mpmath.findroot``); a scalar ODE integrated by ``scipy.integrate.solve_ivp``;
Welch spectra of simulated renewal spike trains (numpy draws, fixed seeds).

Units: f in Hz, :math:`\omega = 2\pi f` in rad/s, times in ms, rates in Hz, potentials in mV, J in mV·s.
"""

from __future__ import annotations

import math

import jax

jax.config.update("jax_enable_x64", True)  # float64 throughout (jaxpop also enables it at import)

import jax.numpy as jnp  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from jaxpop.analysis import (  # noqa: E402
    PAR, GammaRenewal, LIFWhiteNoise, first_order_susceptibility, input_filter, membrane_filter, oscillation_onset,
    par_susceptibility, power_spectrum, recurrent_susceptibility, renewal_spectrum, sigmoid_transfer,
)

_MS = 1e-3  # seconds per ms

# The Fig. 7-like PAR population of Pietras et al. (2020): sigmoidal hazard, dead time, input and synaptic filters.
NU_MAX, THETA, DELTA_SIG = 100.0, 5.0, 2.0  # Hz, mV, mV
DELTA = 5.0  # ms
TAU_H, TAU_S, DELAY = 20.0, 10.0, 2.0  # ms
H0 = 5.0  # mV: nu = 50 Hz, nu' = 12.5 Hz/mV, A0 = 40 Hz

# Jitted once here (an eager call compiles every primitive separately: seconds in all); eager == jit is checked in
# test_par_susceptibility_traceable_and_differentiable and test_renewal_spectrum_par_closed_form.
_par = jax.jit(par_susceptibility)
_spectrum = jax.jit(renewal_spectrum)


def _nu(h):
    """The sigmoid written out independently of :func:`sigmoid_transfer` (numpy or jnp)."""
    return NU_MAX / (1 + jnp.exp(-(h - THETA) / DELTA_SIG))


def _nu_np(h):
    return NU_MAX / (1 + np.exp(-(h - THETA) / DELTA_SIG))


def _simulate_par(fs, eps, *, dt, t_trans, t_fit, J=0.0, h_kick=0.0, record=False):
    r"""The PAR integral equation, :math:`N \to \infty`, for each frequency in ``fs`` (Hz) and each sign of the
    modulation :math:`\pm\varepsilon` (mV). ``J == 0``: open loop, :math:`h = h_0 \pm \varepsilon\cos\omega t`.
    ``J != 0`` (array, one per frequency, mV·s):
    :math:`\tau_h\dot h = -h + \mu_0 \pm \varepsilon\cos\omega t + J s(t-d)`, :math:`\tau_s\dot s = -s + A`,
    :math:`\mu_0 = h_0 - J A_0` (so :math:`h_0` is the fixed point).

    Second order in ``dt`` (ms) throughout: the integral by the trapezoidal rule, implicit in :math:`A_n`
    (:math:`A_n(1 + \nu_n dt/2) = \nu_n[1 - dt(\sum_{k=n-M+1}^{n-1}A_k + A_{n-M}/2)]`, whose fixed point is exactly
    :math:`A_0 = \nu/(1 + \nu\Delta)`); :math:`h` and :math:`s` by exponential integration with inputs linear over a
    step. The history is the stationary state (``h_kick`` (mV) displaces :math:`h` at :math:`t = 0`); the drive
    starts at :math:`t = 0`. Returns :math:`\chi = (2/(N\varepsilon))\sum_n a_n e^{-i\omega t_n}` over the last
    ``t_fit`` ms (an integer number of periods, so the DC shift and the harmonics :math:`2\omega, 3\omega, \dots` of
    the response drop out), with :math:`a = (A_+ - A_-)/2` (even orders in :math:`\varepsilon` cancel); with
    ``record``, instead, the trace of :math:`A` of the first case and :math:`A_0`.
    """
    fs = np.asarray(fs, dtype=float)
    w = 2 * np.pi * np.concatenate([fs, fs])
    sgn = np.concatenate([np.ones_like(fs), -np.ones_like(fs)])
    J = np.concatenate([np.broadcast_to(J, fs.shape)] * 2).astype(float)
    M, D = int(round(DELTA / dt)), int(round(DELAY / dt))
    dts = dt * _MS
    n_tr, n_fit = int(round(t_trans / dt)), int(round(t_fit / dt))
    nu0 = float(_nu_np(H0))
    A0 = nu0 / (1 + nu0 * DELTA * _MS)
    mu0 = H0 - J * A0
    A_hist = np.full((M, w.size), A0)  # A_{n-M}, ..., A_{n-1} (ring buffer)
    W = (M - 1) * A0 * np.ones(w.size)  # sum of A_{n-M+1} .. A_{n-1}
    s_hist = np.full((D, w.size), A0)  # s_{n-D}, ..., s_{n-1}
    Eh, Es = math.exp(-dt / TAU_H), math.exp(-dt / TAU_S)
    ch, cs = 1 - TAU_H / dt * (1 - Eh), 1 - TAU_S / dt * (1 - Es)
    h, s, A_prev = np.full(w.size, H0 + h_kick), np.full(w.size, A0), np.full(w.size, A0)
    u_prev = mu0 + sgn * eps + J * A0
    acc = np.zeros(w.size, complex)
    trace = []
    for k in range(1, n_tr + n_fit + 1):
        t = k * dts
        drive = sgn * eps * np.cos(w * t)
        if np.any(J != 0):
            u = mu0 + drive + J * s_hist[k % D]
            h = Eh * h + u_prev * (1 - Eh) + (u - u_prev) * ch
            u_prev = u
        else:
            h = H0 + drive
        nu = _nu_np(h)
        A = nu * (1 - dts * (W + A_hist[k % M] / 2)) / (1 + nu * dts / 2)
        A_hist[k % M] = A
        W += A - A_hist[(k + 1) % M]
        s = Es * s + A_prev * (1 - Es) + (A - A_prev) * cs
        A_prev = A
        s_hist[k % D] = s
        if k > n_tr:
            acc += A * np.exp(-1j * w * t)
        if record:
            trace.append(A[0])
    if record:
        return np.array(trace), A0
    chi = 2 * acc / (n_fit * eps)
    m = fs.size
    return (chi[:m] - chi[m:]) / 2


# --------------------------------------------------------------------------------------------------------------
# 1. PAR susceptibility
# --------------------------------------------------------------------------------------------------------------


def test_sigmoid_transfer_slope_is_the_derivative():
    # jax.grad of the sigmoid written out here; float64 rounding of two expressions of the same number: 1e-13
    h = jnp.array([-3.0, 2.0, 5.0, 7.5, 20.0])
    nu, dnu = jax.jit(sigmoid_transfer)(h, NU_MAX, THETA, DELTA_SIG)
    np.testing.assert_allclose(nu, _nu(h), rtol=1e-13)
    np.testing.assert_allclose(dnu, jax.jit(jax.vmap(jax.grad(_nu)))(h), rtol=1e-12)


@pytest.mark.parametrize("h0, Delta", [(5.0, 5.0), (8.0, 2.0), (1.0, 15.0)])
def test_par_static_limit_is_rate_derivative(h0, Delta):
    # chi_h(0) = dr0/dh of r0(h) = nu(h)/(1 + nu(h) Delta) by jax.grad; two float64 expressions: 1e-12
    def r0(h):
        nu = _nu(h)
        return nu / (1 + nu * Delta * _MS)

    chi0 = _par(0.0, _nu(h0), jax.jit(jax.grad(_nu))(h0), Delta)
    dr0 = jax.jit(jax.grad(r0))(h0)
    assert abs(chi0 - dr0) <= 1e-12 * abs(dr0)
    assert chi0.imag == 0.0


def test_par_high_frequency_limit():
    # chi -> nu'(1 - Delta A0) as omega Delta -> infinity; exactly at omega Delta = 2 pi k (the ripple's nodes),
    # within nu Delta |g| / (1 - nu Delta |g|), |g| <= 2/(omega Delta), elsewhere
    nu, dnu = float(_nu(H0)), float(jax.jit(jax.grad(_nu))(H0))
    A0 = nu / (1 + nu * DELTA * _MS)
    chi_inf = dnu * (1 - DELTA * _MS * A0)
    k = np.arange(1, 6)
    nodes = _par(2 * np.pi * k / (DELTA * _MS), nu, dnu, DELTA)
    np.testing.assert_allclose(nodes, chi_inf, rtol=1e-12, atol=0)
    omega = np.array([1e5, 3.3e5, 1e6, 1e7])
    g = 2 / (omega * DELTA * _MS)
    bound = nu * DELTA * _MS * g / (1 - nu * DELTA * _MS * g)
    err = np.abs(_par(omega, nu, dnu, DELTA) / chi_inf - 1)
    assert np.all(err <= bound) and np.all(err > 0)


def test_par_susceptibility_matches_integral_equation():
    # Open-loop PAR integral equation driven by h0 + eps cos(omega t) (numpy, dt = 0.02 ms, 40 ms of transient:
    # the slowest mode decays at -Re lambda_1 = 597 1/s, e^{-24}). Error budget: the cubic term of the sigmoid
    # changes the first harmonic by eps^2/(16 delta^2) = 3.9e-7 (measured 3.9e-7 at 200 Hz, scaling as eps^2), the
    # second-order scheme by O((omega dt)^2) ~ 1e-6 at 200 Hz (measured errors 3e-7 .. 7e-7 at dt = 0.02 ms,
    # 3e-7 .. 4e-7 at 0.01 ms). Tolerance 1e-5.
    fs = np.array([10.0, 60.0, 200.0])
    chi_sim = _simulate_par(fs, 0.005, dt=0.02, t_trans=40.0, t_fit=100.0)
    nu, dnu = sigmoid_transfer(H0, NU_MAX, THETA, DELTA_SIG)
    chi = np.asarray(_par(2 * np.pi * fs, nu, dnu, DELTA))
    err = np.abs(chi_sim / chi - 1)
    assert np.all(err < 1e-5), err


def test_par_susceptibility_traceable_and_differentiable():
    # jit(vmap) == eager; the omega derivative at 0 is finite (safe (1 - e^{-x})/x) and equals the closed form
    # d chi/d omega = i nu' nu Delta^2 / (2 (1 + nu Delta)^3); grad w.r.t. nu vs a central difference (h = 1e-4 Hz,
    # truncation ~1e-9 relative)
    nu, dnu = 50.0, 12.5
    D = DELTA * _MS
    w = jnp.linspace(0.0, 3000.0, 7)
    vm = jax.jit(jax.vmap(par_susceptibility, in_axes=(0, None, None, None)))(w, nu, dnu, DELTA)
    np.testing.assert_allclose(vm, par_susceptibility(w, nu, dnu, DELTA), rtol=1e-14)
    d_im = jax.jit(jax.grad(lambda x: jnp.imag(_par(x, nu, dnu, DELTA))))(0.0)
    d_re = jax.jit(jax.grad(lambda x: jnp.real(_par(x, nu, dnu, DELTA))))(0.0)
    assert abs(d_im - dnu * nu * D**2 / (2 * (1 + nu * D) ** 3)) <= 1e-12 * abs(d_im) and d_re == 0.0
    g = jax.jit(jax.grad(lambda n: jnp.abs(_par(400.0, n, dnu, DELTA))))(nu)
    fd = (abs(_par(400.0, nu + 1e-4, dnu, DELTA)) - abs(_par(400.0, nu - 1e-4, dnu, DELTA))) / 2e-4
    assert abs(g - fd) <= 1e-7 * abs(fd)


# --------------------------------------------------------------------------------------------------------------
# 2. Recurrent population: susceptibility to mu, oscillation onset
# --------------------------------------------------------------------------------------------------------------


@jax.jit
def _chi_par(w):
    nu, dnu = sigmoid_transfer(H0, NU_MAX, THETA, DELTA_SIG)
    return par_susceptibility(w, nu, dnu, DELTA)


@jax.jit
def _eps_par(w):
    return input_filter(w, TAU_H, TAU_S, DELAY)


def test_recurrent_susceptibility_matches_network_integral_equation():
    # Closed loop (delay 2 ms, tau_h 20 ms, tau_s 10 ms) driven through mu: inhibitory J = -1 mV s (J_c = -2.34)
    # and excitatory J = +0.05 mV s (the rate instability is at J = 1/(eps(0) chi_h(0)) = 0.125). Error budget:
    # the slowest mode (real, at J = +0.05: ~23 1/s) leaves <= 2e-5 of the switch-on transient after 400 ms;
    # eps^2 terms ~4e-7; discretisation (second order, dt = 0.02 ms) ~5e-6 (measured 1e-7 .. 8e-6 at dt = 0.02 ms,
    # 4e-8 .. 8e-6 at 0.01 ms). Tolerance 1e-4.
    fs = np.array([10.0, 30.0, 60.0] * 2)
    J = np.array([-1.0] * 3 + [0.05] * 3)
    chi_sim = _simulate_par(fs, 0.005, dt=0.02, t_trans=400.0, t_fit=100.0, J=J)
    w = 2 * np.pi * fs
    chi = np.asarray(recurrent_susceptibility(_chi_par(w), J, jax.jit(membrane_filter)(w, TAU_H), _eps_par(w)))
    err = np.abs(chi_sim / chi - 1)
    assert np.all(err < 1e-4), err


def test_recurrent_susceptibility_instantaneous_closed_form():
    # chi_h = c constant, no synapse, no delay: tau dh/dt = -h + mu + J c h => chi_mu = c / (1 + i w tau - J c)
    c, J, tau = 8.0, -0.3, 15.0
    w = np.array([0.0, 10.0, 300.0, 5000.0])
    chi = recurrent_susceptibility(c, J, jax.jit(membrane_filter)(w, tau), jax.jit(input_filter)(w, tau))
    np.testing.assert_allclose(chi, c / (1 + 1j * w * tau * _MS - J * c), rtol=1e-14)


def test_oscillation_onset_closed_form():
    # chi_h = c, eps = e^{-i w d}/(1 + i w tau)^2, tau = 10 ms, d = pi/200 s: arg G = -w d - 2 arctan(w tau) = -pi at
    # w = 100 rad/s (w tau = 1) => inhibitory onset J_c = -(1 + 1)/c, f_c = 100/(2 pi) Hz, by hand; the excitatory
    # onset at arg G = -2 pi (mpmath.findroot), J_c = (1 + w^2 tau^2)/c. brentq to 1e-12 Hz: 1e-8 relative.
    c, tau, d = 10.0, 10 * _MS, math.pi / 200

    def chi_fn(w):
        return c * np.ones_like(w)

    def eps_fn(w):
        return np.exp(-1j * w * d) / (1 + 1j * w * tau) ** 2

    J_inh, f_inh = oscillation_onset(chi_fn, eps_fn, sign=-1)
    assert abs(J_inh - (-2 / c)) <= 1e-8 * 2 / c and abs(f_inh - 100 / (2 * math.pi)) <= 1e-8 * f_inh
    with mpmath.workdps(30):
        w_exc = float(mpmath.findroot(lambda x: x * d + 2 * mpmath.atan(x * tau) - 2 * mpmath.pi, 300))
    J_exc, f_exc = oscillation_onset(chi_fn, eps_fn, sign=+1)
    assert abs(J_exc - (1 + (w_exc * tau) ** 2) / c) <= 1e-8 * J_exc
    assert abs(f_exc - w_exc / (2 * math.pi)) <= 1e-8 * f_exc
    # default: the smaller |J| of the two; a band without the inhibitory root gives the next one (arg G = -3 pi)
    assert oscillation_onset(chi_fn, eps_fn) == (J_inh, f_inh)
    with mpmath.workdps(30):
        w3 = float(mpmath.findroot(lambda x: x * d + 2 * mpmath.atan(x * tau) - 3 * mpmath.pi, 500))
    J3, f3 = oscillation_onset(chi_fn, eps_fn, f_range=(20.0, 500.0), sign=-1)
    assert abs(J3 + (1 + (w3 * tau) ** 2) / c) <= 1e-8 * abs(J3) and abs(f3 - w3 / (2 * math.pi)) <= 1e-8 * f3


def test_oscillation_onset_par_network():
    # Fig. 7-like PAR network: finite J_c, f_c solving 1 = J eps chi_h to 1e-9; the inhibitory onset at a smaller
    # |J| than the excitatory one (whose sign is checked)
    J_c, f_c = oscillation_onset(_chi_par, _eps_par, sign=-1)
    w = 2 * np.pi * f_c
    assert np.isfinite(J_c) and J_c < 0 and 1 < f_c < 500
    assert abs(1 - J_c * _eps_par(w) * _chi_par(w)) < 1e-9
    J_e, f_e = oscillation_onset(_chi_par, _eps_par, sign=+1)
    assert J_e > 0 and abs(1 - J_e * _eps_par(2 * np.pi * f_e) * _chi_par(2 * np.pi * f_e)) < 1e-9
    assert oscillation_onset(_chi_par, _eps_par) == (J_c, f_c) and abs(J_c) < J_e


def test_oscillation_onset_separates_decay_from_growth():
    # The network integral equation kicked off its fixed point (h -> h0 + 0.01 mV) at J = 0.8 J_c and 1.2 J_c: the
    # oscillation's envelope shrinks below J_c and grows above it, at a frequency near f_c (within 10 %: off the
    # onset the frequency shifts; the spectral peak of 200 ms of trace resolves 5 Hz)
    J_c, f_c = oscillation_onset(_chi_par, _eps_par, sign=-1)
    envelope = {}
    for scale in (0.8, 1.2):
        trace, A0 = _simulate_par([10.0], 0.0, dt=0.02, t_trans=300.0, t_fit=0.0, J=scale * J_c, h_kick=0.01,
                                  record=True)
        a = np.abs(trace - A0)
        n = a.size
        envelope[scale] = a[n // 3: 2 * n // 3].max(), a[2 * n // 3:].max()
        seg = trace[n // 3:] - trace[n // 3:].mean()
        f = np.fft.rfftfreq(seg.size, 0.02 * _MS)
        assert abs(f[np.argmax(np.abs(np.fft.rfft(seg)))] / f_c - 1) < 0.1
    assert envelope[0.8][1] < 0.5 * envelope[0.8][0]  # measured ratio 0.22
    assert envelope[1.2][1] > 2 * envelope[1.2][0]  # measured ratio 3.9


# --------------------------------------------------------------------------------------------------------------
# 3. Renewal spike-train spectra
# --------------------------------------------------------------------------------------------------------------


def test_renewal_spectrum_poisson_is_flat():
    # Gamma with shape 1 = Poisson: S = r0 at every f (including the f = 0 limit r0 CV^2); float64: 1e-12
    f = np.array([0.0, 0.1, 10.0, 123.4, 1e3, 1e5])
    np.testing.assert_allclose(_spectrum(GammaRenewal(37.0, 1.0), f), 37.0, rtol=1e-12)


def test_renewal_spectrum_par_closed_form():
    # Dead-time Poisson: S = r0 / [1 + 2 (nu/w)^2 (1 - cos w Delta) + 2 (nu/w) sin w Delta], S(0) = r0/(1 + nu Delta)^2
    # (written out from |nu + i w - nu e^{-i w Delta}|^2). Small f loses ~2 log10(1/(w <T>)) digits: 1e-10.
    nu, Delta = 100.0, 5.0
    model = PAR(nu, Delta)
    r0 = nu / (1 + nu * Delta * _MS)
    f = np.array([0.5, 3.0, 47.0, 100.0, 200.0, 333.0, 1e4])
    w, D = 2 * np.pi * f, Delta * _MS
    S = r0 / (1 + 2 * (nu / w) ** 2 * (1 - np.cos(w * D)) + 2 * (nu / w) * np.sin(w * D))
    np.testing.assert_allclose(_spectrum(model, f), S, rtol=1e-10)
    assert abs(_spectrum(model, 0.0) - r0 / (1 + nu * Delta * _MS) ** 2) <= 1e-12 * r0
    # high-frequency limit r0, within the O(nu/w) ripple bound 2 nu/w + 2 (nu/w)^2 (to first order)
    fh = np.array([1e5, 1e6, 1e7])
    wh = 2 * np.pi * fh
    err = np.abs(np.asarray(_spectrum(model, fh)) / r0 - 1)
    assert np.all(err <= 2.1 * nu / wh + 4 * (nu / wh) ** 2)
    # eager == jit (XLA fuses differently: rounding, amplified ~1e3x by the cancellation at 0.5 Hz: 1e-12); the
    # gradient w.r.t. nu vs a central difference (truncation ~1e-9)
    np.testing.assert_allclose(renewal_spectrum(model, f), _spectrum(model, f), rtol=1e-12)
    g = jax.jit(jax.grad(lambda n: _spectrum(PAR(n, Delta), 150.0)))(nu)
    fd = (_spectrum(PAR(nu + 1e-3, Delta), 150.0) - _spectrum(PAR(nu - 1e-3, Delta), 150.0)) / 2e-3
    assert abs(g - fd) <= 1e-7 * abs(fd)


def test_renewal_spectrum_host_only_model():
    # LIF white noise (mpmath): S(f) -> r0 CV^2 (rate and CV by quadrature) as f -> 0, and -> r0 at high f:
    # consistency of two independent computations (P_L by parabolic cylinder functions vs Siegert/Brunel integrals);
    # at f = 0.01 Hz, (w <T>)^2 ~ 1e-6 bounds the curvature term: 1e-4
    model = LIFWhiteNoise(1.1, 0.05, tau_m=20.0, t_ref=2.0)
    r0, cv = model.rate(), model.cv()
    S = renewal_spectrum(model, np.array([0.0, 0.01, 2e5]))
    assert isinstance(S, np.ndarray)
    assert abs(S[0] - r0 * cv**2) <= 1e-12 * r0
    assert abs(S[1] / (r0 * cv**2) - 1) < 1e-4
    assert abs(S[2] / r0 - 1) < 1e-2


@pytest.mark.parametrize("kind", ["par", "gamma"])
def test_renewal_spectrum_vs_simulated_welch(kind):
    # 200 s spike trains (fixed seed), binned at dt = 0.1 ms, Welch (jaxpop.analysis.power_spectrum, Hann, 0.2 s
    # segments, K = 1999 with 50 % overlap) estimate the one-sided 2 S(f). Binning: <P> = 2[r0 + (S - r0) sinc^2(f dt)]
    # (aliased copies of the flat high-frequency part fill what the bins' sinc^2 removes). The realised rate
    # fluctuates by ~1 % (it sets the level at all f), so (a) the high-frequency level (2-4.5 kHz, ~500 bins) is
    # compared with 2 r_hat (SE sqrt(1.06/K)/sqrt(250) ~ 0.15 %: tolerance 1 %), and (b) the shape P/P_hf in bands of
    # 20 bins (5-500 Hz) with the theory's E/E_hf: Welch's relative SE sqrt(1.06/K) per bin (Hann, 50 % overlap),
    # ~10 independent values per band (neighbouring Hann bins are correlated): SE = 0.73 %; tolerance 4 SE.
    T, dt, nper = 200.0, 1e-4, 2000
    rng = np.random.default_rng(20200822)
    if kind == "par":
        nu, Delta = 100.0, 5.0
        model, r0 = PAR(nu, Delta), nu / (1 + nu * Delta * _MS)
        isi = Delta * _MS + rng.exponential(1 / nu, size=int(1.1 * T * r0) + 1000)
    else:
        model, r0 = GammaRenewal(40.0, 3.0), 40.0
        isi = rng.gamma(3.0, 1 / (3 * 40.0), size=int(1.1 * T * r0) + 1000)
    t = np.cumsum(isi)
    n = int(round(T / dt))
    x = np.bincount((t[t < T] / dt).astype(np.int64), minlength=n)[:n] / dt
    f, P = power_spectrum(x, dt, nperseg=nper)
    f, P = np.asarray(f), np.asarray(P)
    K = (n - nper // 2) // (nper // 2)
    S = np.asarray(_spectrum(model, f))
    E = 2 * (r0 + (S - r0) * np.sinc(f * dt) ** 2)
    hf = (f >= 2000) & (f <= 4500)
    r_hat = x.mean()
    assert abs(P[hf].mean() / E[hf].mean() / (r_hat / r0) - 1) < 0.01
    band = (P[1:101] / P[hf].mean()) / (E[1:101] / E[hf].mean())
    rel = band.reshape(5, 20).mean(axis=1) - 1
    se = math.sqrt(1.06 / K) / math.sqrt(10)
    assert np.all(np.abs(rel) < 4 * se), (rel, se)
    # the spectrum is far from flat here: a flat (Poisson) prediction would fail
    assert np.max(np.abs(S[1:101] / r0 - 1)) > 0.3


# --------------------------------------------------------------------------------------------------------------
# 4. First-order (one-mode) susceptibility
# --------------------------------------------------------------------------------------------------------------


def test_first_order_susceptibility_static_limit_and_ode():
    # chi_1(0) = F0' exactly; at w > 0 the response of A = F0(h) + 2 Re(F1 a), da/dt = lam a + c10 dh/dt to
    # h = h0 + eps cos(w t), integrated by solve_ivp (rtol 1e-11; transient e^{-80 * 0.5} after 0.5 s) and projected
    # on e^{-i w t} over the last 0.2 s (integer periods, 4000 samples): 1e-8
    F0p, F1, c10, lam = 7.0, 30.0 - 12.0j, 0.02 + 0.05j, -80.0 + 2j * np.pi * 30
    chi_1 = jax.jit(first_order_susceptibility)
    assert chi_1(0.0, F0p, F1, c10, lam) == F0p
    eps = 0.1
    for f in (5.0, 25.0, 70.0):
        w = 2 * np.pi * f

        def rhs(t, y):
            a = y[0] + 1j * y[1]
            da = lam * a + c10 * (-eps * w * math.sin(w * t))
            return [da.real, da.imag]

        t = np.linspace(0.3, 0.5, 4000, endpoint=False)
        sol = solve_ivp(rhs, (0.0, 0.5), [0.0, 0.0], t_eval=t, rtol=1e-11, atol=1e-14, method="DOP853")
        a = sol.y[0] + 1j * sol.y[1]
        dA = F0p * eps * np.cos(w * t) + 2 * np.real(F1 * a)
        chi_num = 2 * np.mean(dA * np.exp(-1j * w * t)) / eps
        chi = complex(chi_1(w, F0p, F1, c10, lam))
        assert abs(chi_num - chi) <= 1e-8 * abs(chi), (f, chi_num, chi)


# --------------------------------------------------------------------------------------------------------------
# 5. Validation
# --------------------------------------------------------------------------------------------------------------


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="Delta"):
        par_susceptibility(1.0, 50.0, 10.0, -1.0)
    with pytest.raises(ValueError, match="tau_h"):
        input_filter(1.0, 0.0)
    with pytest.raises(ValueError, match="tau_h"):
        membrane_filter(1.0, -5.0)
    with pytest.raises(ValueError, match="tau_s"):
        input_filter(1.0, 10.0, tau_s=-1.0)
    with pytest.raises(ValueError, match="delta"):
        sigmoid_transfer(0.0, NU_MAX, THETA, 0.0)
    with pytest.raises(ValueError, match="f_range"):
        oscillation_onset(_chi_par, _eps_par, f_range=(10.0, 5.0))
    # no delay: Im[eps chi_h] keeps its sign on 1-500 Hz for this population
    with pytest.raises(ValueError, match="f_range"):
        oscillation_onset(_chi_par, lambda w: input_filter(w, TAU_H, TAU_S))
