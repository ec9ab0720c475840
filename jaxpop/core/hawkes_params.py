r"""Parameters of populations of linear–nonlinear–Poisson (nonlinear Hawkes) neurons, and the
discretisation shared by the network and its mesoscopic twin.

:class:`HawkesParams` is taken by :class:`jaxpop.micro.HawkesNetwork` (every neuron) and
:class:`jaxpop.meso.HawkesMeso` (population counts), so one object runs at both levels; the
functions below (initial state, expected counts, the exact propagator of the input potential over a
step) are the one implementation both models call. The equations and the time discretisation are
documented in :mod:`jaxpop.micro.hawkes`.

Units: time in ms, :math:`h` in mV, rates in Hz, :math:`J` in mV/Hz.

References: A. G. Hawkes, Biometrika 58, 83 (1971), doi:10.1093/biomet/58.1.83; P. Brémaud,
L. Massoulié, Ann. Probab. 24, 1563 (1996), doi:10.1214/aop/1065725193.
"""

from __future__ import annotations

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .model import ParamsBase, check_positive, is_concrete, population_sizes, static_values
from .model import population_matrix as _mat
from .model import population_vector as _vec

TRANSFERS = ("relu", "exponential", "sigmoid")
INITS = ("rest", "mean_field")
_MS = 1e-3  # Hz * ms -> expected spikes


class HawkesParams(ParamsBase):
    r"""Parameters of ``len(N)`` populations of LNP (nonlinear Hawkes) neurons (see module docs).

    Shared by :class:`HawkesNetwork` (micro) and :class:`jaxpop.meso.HawkesMeso` (meso), so one
    parameter set runs at both levels.

    Parameters
    ----------
    N : int or tuple of int
        Neurons per population (structure: static).
    mu : float or array (n_pop,)
        Baseline input potential :math:`\mu` (mV). Time-dependent input: the drive (mV), added to ``mu``.
    tau : float or array (n_pop,)
        Membrane (input-potential) time constant :math:`\tau` (ms), > 0.
    J : float or array (n_pop, n_pop)
        Coupling (target, source), signed, multiplying a unit-area kernel (mV/Hz): stationary
        :math:`h = \mu + J r`.
    tau_s : float or array (n_pop, n_pop)
        Synaptic decay time (ms), >= 0; 0 is the instantaneous (delta) kernel of the lecture.
    delay : float or array (n_pop, n_pop)
        Transmission delay (ms), >= 0, a whole number of time steps. Structure (it sets the length
        of the delay line): a static nested tuple, changed with ``replace(delay=...)``.
    transfer : {'relu', 'exponential', 'sigmoid'}
        Transfer function (static), see the module table.
    gain : float or array (n_pop,)
        ``'relu'``: slope (Hz/mV), default 1 (then :math:`f(h) = h` in Hz: the linear Hawkes process);
        ``'exponential'``: rate at :math:`h = h_0` (Hz). > 0.
    beta : float or array (n_pop,)
        Steepness (1/mV) of ``'exponential'`` and ``'sigmoid'``, > 0.
    h_0 : float or array (n_pop,)
        Threshold / midpoint (mV).
    r_max : float or array (n_pop,)
        Maximal rate of ``'sigmoid'`` (Hz), > 0.

    A purely excitatory linear model (``'relu'``, :math:`J \ge 0`) whose spectral radius
    :math:`\rho(g J) \ge 1` has no stationary state (the activity grows exponentially): the
    constructor *warns* (``RuntimeWarning``) rather than raising, because the transient of a
    supercritical Hawkes process is well defined for a finite simulation and is a legitimate object
    of study. For other cases (inhibition, saturating or exponential transfer)
    :math:`\rho(g|J|) < 1` is only a sufficient condition for stability (Brémaud & Massoulié 1996),
    so nothing is checked there.
    """

    mu: jax.Array
    tau: jax.Array
    J: jax.Array
    tau_s: jax.Array
    gain: jax.Array
    beta: jax.Array
    h_0: jax.Array
    r_max: jax.Array
    delay: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    N: tuple[int, ...] = eqx.field(static=True)
    transfer: str = eqx.field(static=True)

    def __init__(self, N=1000, *, mu=10.0, tau=10.0, J=0.0, tau_s=0.0, delay=0.0, transfer="relu", gain=1.0,
                 beta=1.0, h_0=0.0, r_max=100.0):
        self.N = population_sizes(N)
        n = len(self.N)
        if transfer not in TRANSFERS:
            raise ValueError(f"transfer must be one of {TRANSFERS}, got {transfer!r}")
        self.transfer = transfer
        check_positive("tau", tau)
        check_positive("tau_s", tau_s, strict=False)
        check_positive("gain", gain)
        check_positive("beta", beta)
        check_positive("r_max", r_max)
        self.mu = _vec("mu", mu, n)
        self.tau = _vec("tau", tau, n)
        self.J = _mat("J", J, n)
        self.tau_s = _mat("tau_s", tau_s, n)
        self.delay = static_values("delay", delay, n, matrix=True, minimum=0.0)
        self.gain = _vec("gain", gain, n)
        self.beta = _vec("beta", beta, n)
        self.h_0 = _vec("h_0", h_0, n)
        self.r_max = _vec("r_max", r_max, n)
        if transfer == "relu" and is_concrete(self.J, self.gain):
            J_np, g_np = np.asarray(self.J), np.asarray(self.gain)
            if np.all(J_np >= 0):
                rho = float(np.max(np.abs(np.linalg.eigvals(g_np[:, None] * J_np))))
                if rho >= 1:
                    warnings.warn(
                        f"J: linear Hawkes network with spectral radius rho(gain*J) = {rho:.4g} >= 1 has no "
                        "stationary state (the activity grows without bound)", RuntimeWarning, stacklevel=2)

    # ------------------------------------------------------------------ helpers
    @property
    def n_pop(self) -> int:
        return len(self.N)

    def rate(self, h):
        """Transfer function :math:`f(h)` (Hz), elementwise over populations (last axis)."""
        x = h - self.h_0
        if self.transfer == "relu":
            return self.gain * jnp.maximum(x, 0.0)
        if self.transfer == "exponential":
            return self.gain * jnp.exp(self.beta * x)
        return self.r_max * jax.nn.sigmoid(self.beta * x)

    def delay_steps(self, dt: float) -> np.ndarray:
        """Delays in whole steps of ``dt`` (static values)."""
        return np.rint(np.asarray(self.delay) / dt).astype(int)

    def check_dt(self, dt: float) -> None:
        """``dt`` > 0 and every delay a whole number of steps."""
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got dt={dt!r}")
        d = np.asarray(self.delay)
        a = d / dt
        if np.any(np.abs(a - np.round(a)) > 1e-6 * np.maximum(1.0, a)):
            raise ValueError(f"delay = {d.tolist()!r} ms is not a whole number of steps dt = {dt} ms")

    def mean_field_h(self, drive=0.0, n_iter: int = 30):
        r"""Deterministic fixed point :math:`h^* = \mu + I + J f(h^*)` (Newton, ``n_iter`` steps from
        :math:`h = \mu + I`). Differentiable; for ``'relu'`` exact once the active set is found. No
        convergence guarantee (bistable or runaway networks): check :math:`f(h^*)` if in doubt."""
        c = self.mu + drive
        f = lambda h: h - c - self.J @ self.rate(h)  # noqa: E731

        def body(_, h):
            jac = jax.jacfwd(f)(h)
            return h - jnp.linalg.solve(jac, f(h))

        return jax.lax.fori_loop(0, n_iter, body, c)

    def linear_stationary_rate(self):
        r"""Stationary rates of the linear model, :math:`r = (1 - gJ)^{-1} g(\mu - h_0)` (Hz; Hawkes 1971),
        valid for ``'relu'`` when every :math:`h \ge h_0` and :math:`\rho(gJ) < 1`."""
        if self.transfer != "relu":
            raise ValueError(f"linear_stationary_rate needs transfer='relu', got {self.transfer!r}")
        G = self.gain[:, None] * self.J
        return jnp.linalg.solve(jnp.eye(self.n_pop) - G, self.gain * (self.mu - self.h_0))

    def kernel_hat(self, freq):
        r"""Fourier transform of the effective kernel, :math:`\hat\kappa_{\rm eff}(\omega) =
        e^{-i\omega d}/((1 + i\omega\tau_s)(1 + i\omega\tau))`, at frequencies ``freq`` (Hz);
        shape ``freq.shape + (n_pop, n_pop)``."""
        w = 2 * jnp.pi * jnp.asarray(freq, dtype=float)[..., None, None] * _MS  # rad/ms
        return jnp.exp(-1j * w * jnp.asarray(self.delay)) / ((1 + 1j * w * self.tau_s) * (1 + 1j * w * self.tau[:, None]))

    def linear_spectrum(self, freq):
        r"""Two-sided power spectral density of :math:`A_{N,\alpha}` for the linear model (Hz;
        Hawkes 1971): :math:`S(\omega) = [(1 - G)^{-1} D (1 - G)^{-\dagger}]_{\alpha\alpha}`,
        :math:`G = g J \hat\kappa_{\rm eff}(\omega)`, :math:`D = \mathrm{diag}(r/N)`; one population:
        :math:`S = r / (N |1 - gJ\hat\kappa_{\rm eff}|^2)`. ``freq`` in Hz (:math:`\neq 0`); shape
        ``freq.shape + (n_pop,)``. The one-sided density of :func:`jaxpop.analysis.spectra.power_spectrum`
        is twice this."""
        r = self.linear_stationary_rate()
        G = self.gain[:, None] * self.J * self.kernel_hat(freq)
        inv = jnp.linalg.inv(jnp.eye(self.n_pop) - G)
        D = r / jnp.asarray(self.N, dtype=float)
        return jnp.real(jnp.einsum("...ab,b,...ab->...a", inv, D, jnp.conj(inv)))


# ---------------------------------------------------------------------- shared dynamics
def init_state(params: HawkesParams, h0, n_delay: int):
    """Initial (h, s, delay line): ``h = h0``; synapses and the delay line hold the rates :math:`f(h_0)`."""
    r0 = params.rate(h0)
    n = params.n_pop
    return {
        "h": h0,
        "s": jnp.broadcast_to(r0[None, :], (n, n)),
        "buf": jnp.broadcast_to(r0[None, :], (n_delay, n)),
        "A": r0,
        "n": jnp.zeros((n,)),
    }


def initial_h(params: HawkesParams, init: str, h0):
    if h0 is not None:
        return h0
    return params.mean_field_h() if init == "mean_field" else params.mu


def expected_counts(params: HawkesParams, h, dt):
    r"""Rates (Hz) and the expected spikes per neuron in the step, :math:`f(h)\,\Delta t`."""
    rate = params.rate(h)
    return rate, rate * (dt * _MS)


def advance(params: HawkesParams, state, n, t, dt, drive, d_steps):
    r"""Advance (h, s, delay line) over one step given the population counts ``n`` (see module docs)."""
    N = jnp.asarray(params.N, dtype=float)
    A = n / (N * dt * _MS)  # Hz
    buf = jnp.concatenate([A[None, :], state["buf"][:-1]], axis=0) if state["buf"].shape[0] > 1 else A[None, :]
    cols = np.arange(params.n_pop)[None, :]
    a = buf[d_steps, cols]  # (target, source): A_source, d steps ago
    tau, tau_s = params.tau[:, None], params.tau_s
    P = jnp.exp(-dt / params.tau)
    pos = tau_s > 0
    E_s = jnp.where(pos, jnp.exp(-dt / jnp.where(pos, tau_s, 1.0)), 0.0)
    denom = tau_s - tau
    close = jnp.abs(denom) < 1e-6 * tau
    phi = jnp.where(close, (dt / tau) * P[:, None],
                    tau_s / jnp.where(close, 1.0, denom) * (E_s - P[:, None]))
    s_old = state["s"]
    c = params.mu + drive(t + 0.5 * dt) + jnp.sum(params.J * a, axis=1)
    h = c + (state["h"] - c) * P + jnp.sum(params.J * (s_old - a) * phi, axis=1)
    s = a + (s_old - a) * E_s
    return {"h": h, "s": s, "buf": buf, "A": A, "n": n}


def n_delay_buffer(params: HawkesParams, dt: float) -> tuple[int, np.ndarray]:
    """Length of the delay line and the delays in steps (target, source) for the step ``dt``."""
    params.check_dt(dt)
    d = params.delay_steps(dt)
    return int(d.max()) + 1, d


def check_model_dt(name, own_dt, dt):
    """``dt`` of a simulation must be the ``dt`` the model's delay line was built for."""
    if abs(float(dt) - own_dt) > 1e-9 * own_dt:
        raise ValueError(f"dt = {dt} ms differs from the dt = {own_dt} ms this {name} was built for (its delay line "
                         f"depends on it): build it with dt={dt}")
