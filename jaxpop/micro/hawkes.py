r"""Networks of linear–nonlinear–Poisson neurons: the (nonlinear) Hawkes toy model.

The lecture's tractable example of a finite-size population without refractoriness
(facts §3). Neuron :math:`i` of population :math:`\alpha` fires as an inhomogeneous Poisson
process with intensity :math:`f_\alpha(h_\alpha(t^-))`; all neurons of a population see the same
input potential (all-to-all, mean-field coupling)

.. math::

    \tau_\alpha \dot h_\alpha &= -h_\alpha + \mu_\alpha + I_\alpha(t)
        + \sum_\beta J_{\alpha\beta}\,(\kappa_{\alpha\beta} * A_{N,\beta})(t),\qquad
    A_{N,\beta}(t) = \frac{1}{N_\beta}\sum_{j\in\beta}\sum_k \delta(t - t_j^k),\\
    \kappa_{\alpha\beta}(s) &= \Theta(s - d_{\alpha\beta})\,
        \frac{e^{-(s - d_{\alpha\beta})/\tau_{s,\alpha\beta}}}{\tau_{s,\alpha\beta}}
        \quad(\tau_s = 0:\ \kappa(s) = \delta(s - d)),\\
    dZ_i &\sim \mathrm{Poisson}\big[f_\alpha(h_\alpha(t^-))\,dt\big].

:math:`J` multiplies a *unit-area* kernel (facts §3), so the stationary state obeys
:math:`h = \mu + J r`; for the linear transfer (``'relu'`` with ``gain = 1``, ``h_0 = 0``, :math:`h \ge 0`)
the stationary rates are :math:`r = (1 - J)^{-1}\mu` if the spectral radius of :math:`J` is below 1.
With :math:`J` of order 1 each spike moves :math:`h` by :math:`O(1/N)`.

Transfer functions :math:`f` (rates in Hz; ``h`` in mV, or any unit of the input potential):

=================  =====================================================  =========================================
``transfer``        :math:`f(h)`                                            parameters
=================  =====================================================  =========================================
``'relu'``          :math:`g\,[h - h_0]_+`                                   ``gain`` :math:`g` (Hz/mV), ``h_0`` (mV)
``'exponential'``   :math:`g\,e^{\beta (h - h_0)}`                           ``gain`` :math:`g` (Hz, the rate at
                                                                             :math:`h_0`), ``beta`` (1/mV), ``h_0``
``'sigmoid'``       :math:`r_{\max} / (1 + e^{-\beta (h - h_0)})`            ``r_max`` (Hz), ``beta`` (1/mV), ``h_0``
=================  =====================================================  =========================================

**Time discretisation** (shared by :class:`HawkesNetwork` and :class:`jaxpop.meso.HawkesMeso`).
In the step :math:`[t, t+\Delta t)` the spike counts are drawn with the rate :math:`f(h(t))` (the
value at the start of the step, :math:`h(t^-)`); the resulting activity
:math:`A_N = n/(N\Delta t)` is treated as constant over the step (NEST's ``gif_pop_psc_exp`` does
the same with its synaptic input), pushed into the delay line, and :math:`(h, s)` are advanced
with the *exact* propagator of the linear ODEs for that piecewise-constant input:

.. math::

    s_{\alpha\beta} &\leftarrow a_{\alpha\beta} + (s_{\alpha\beta} - a_{\alpha\beta})\,E_{s},\qquad
        E_s = e^{-\Delta t/\tau_s}\ (0\text{ if }\tau_s = 0),\\
    h_\alpha &\leftarrow c_\alpha + (h_\alpha - c_\alpha)P + \sum_\beta J_{\alpha\beta}(s^{\rm old}_{\alpha\beta}
        - a_{\alpha\beta})\,\varphi_{\alpha\beta},\qquad P = e^{-\Delta t/\tau_\alpha},\\
    c_\alpha &= \mu_\alpha + I_\alpha(t + \Delta t/2) + \sum_\beta J_{\alpha\beta} a_{\alpha\beta},\qquad
    \varphi = \frac{\tau_s}{\tau_s - \tau}(E_s - P)\ \big(\tfrac{\Delta t}{\tau}P \text{ if } \tau_s = \tau\big),

where :math:`a_{\alpha\beta} = A_{N,\beta}` of the step :math:`d_{\alpha\beta}/\Delta t` steps ago (the
spikes of a step act on :math:`h` during that same step when :math:`d = 0`: an effective delay of
about :math:`\Delta t/2`, an :math:`O(\Delta t)` effect on spectra). The mean obeys the stationary
relation :math:`\langle h\rangle = \mu + J\langle A_N\rangle` exactly in discrete time.

:class:`HawkesNetwork` (this module) simulates every neuron: per-neuron spikes are
Bernoulli(:math:`1 - e^{-f\Delta t}`) (at most one spike per neuron and step, NEST ``gif_psc_exp``
style) or Poisson(:math:`f\Delta t`) counts, through :mod:`jaxpop.spikes`. Since every neuron of
:math:`\alpha` has the same intensity, the only per-neuron state is the spike itself.

Units: time in ms, :math:`h` in mV, rates and :math:`A` in Hz (hence :math:`A_N = 1000\,n/(N\Delta t)`),
:math:`J` in mV/Hz (= mV·s).

References: A. G. Hawkes, *Spectra of some self-exciting and mutually exciting point processes*,
Biometrika 58, 83 (1971), doi:10.1093/biomet/58.1.83; P. Brémaud, L. Massoulié, *Stability of
nonlinear Hawkes processes*, Ann. Probab. 24, 1563 (1996), doi:10.1214/aop/1065725193;
T. Schwalger, M. Deger, W. Gerstner, PLoS Comput. Biol. 13, e1005507 (2017),
doi:10.1371/journal.pcbi.1005507.
"""

from __future__ import annotations

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core import spikes as _spikes
from ..core.model import AbstractModel, check_positive, is_concrete
from ..core.model import population_matrix as _mat
from ..core.model import population_vector as _vec

TRANSFERS = ("relu", "exponential", "sigmoid")
INITS = ("rest", "mean_field")
_MS = 1e-3  # Hz * ms -> expected spikes


def _sizes(N) -> tuple[int, ...]:
    def ok(n):
        return isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1

    if ok(N):
        return (int(N),)
    if isinstance(N, (tuple, list)) and len(N) >= 1 and all(ok(n) for n in N):
        return tuple(int(n) for n in N)
    raise ValueError(f"N must be a positive integer or a tuple of positive integers (neurons per population), got N={N!r}")






class HawkesParams(eqx.Module):
    r"""Parameters of ``len(N)`` populations of LNP (nonlinear Hawkes) neurons (see module docs).

    Shared by :class:`HawkesNetwork` (micro) and :class:`jaxpop.meso.HawkesMeso` (meso), so one
    parameter set runs at both levels.

    Parameters
    ----------
    N : int or tuple of int
        Neurons per population (static).
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
        Transmission delay (ms), >= 0, a whole number of time steps.
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
    delay: jax.Array
    gain: jax.Array
    beta: jax.Array
    h_0: jax.Array
    r_max: jax.Array
    N: tuple[int, ...] = eqx.field(static=True)
    transfer: str = eqx.field(static=True)

    def __init__(self, N=1000, *, mu=10.0, tau=10.0, J=0.0, tau_s=0.0, delay=0.0, transfer="relu", gain=1.0,
                 beta=1.0, h_0=0.0, r_max=100.0):
        self.N = _sizes(N)
        n = len(self.N)
        if transfer not in TRANSFERS:
            raise ValueError(f"transfer must be one of {TRANSFERS}, got {transfer!r}")
        self.transfer = transfer
        check_positive("tau", tau)
        check_positive("tau_s", tau_s, strict=False)
        check_positive("delay", delay, strict=False)
        check_positive("gain", gain)
        check_positive("beta", beta)
        check_positive("r_max", r_max)
        self.mu = _vec("mu", mu, n)
        self.tau = _vec("tau", tau, n)
        self.J = _mat("J", J, n)
        self.tau_s = _mat("tau_s", tau_s, n)
        self.delay = _mat("delay", delay, n)
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
        """Delays in whole steps (concrete parameters only)."""
        return np.rint(np.asarray(self.delay) / dt).astype(int)

    def check_dt(self, dt: float) -> None:
        """``dt`` > 0 and every delay a whole number of steps."""
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got dt={dt!r}")
        if not is_concrete(self.delay):
            return
        a = np.asarray(self.delay) / dt
        if np.any(np.abs(a - np.round(a)) > 1e-6 * np.maximum(1.0, a)):
            raise ValueError(f"delay = {np.asarray(self.delay)!r} ms is not a whole number of steps dt = {dt} ms")

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
        r"""Stationary rates of the linear model, :math:`r = (1 - gJ)^{-1} g(\mu - h_0)` (Hz; facts §3),
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
        return jnp.exp(-1j * w * self.delay) / ((1 + 1j * w * self.tau_s) * (1 + 1j * w * self.tau[:, None]))

    def linear_spectrum(self, freq):
        r"""Two-sided power spectral density of :math:`A_{N,\alpha}` for the linear model (Hz; facts §3,
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
    """Rates (Hz) and the expected spikes per neuron in the step, :math:`f(h)\\,\\Delta t`."""
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


def n_delay_buffer(params: HawkesParams, dt) -> tuple[int, np.ndarray]:
    if dt is None:
        if is_concrete(params.delay) and np.any(np.asarray(params.delay) > 0):
            raise ValueError("dt: delays > 0 need the time step at construction (dt=..., ms) to size the delay line")
        return 1, np.zeros((params.n_pop, params.n_pop), dtype=int)
    params.check_dt(dt)
    d = params.delay_steps(dt)
    return int(d.max()) + 1, d


def _check_model_dt(name, own_dt, dt):
    if own_dt is not None and abs(float(dt) - own_dt) > 1e-9 * own_dt:
        raise ValueError(f"dt = {dt} ms differs from the dt = {own_dt} ms this {name} was built for (delay line)")


class HawkesNetwork(AbstractModel):
    r"""Network of LNP neurons (nonlinear Hawkes process), every neuron simulated (module docs).

    Parameters
    ----------
    params : HawkesParams
        The populations (shared with :class:`jaxpop.meso.HawkesMeso`).
    sampling : {'bernoulli', 'poisson'}
        Per-neuron spikes per step: Bernoulli(:math:`1 - e^{-f\Delta t}`) (at most one spike) or
        Poisson(:math:`f\Delta t`) counts (exact for continuous-time LNP neurons with ``h`` held
        over the step).
    mode : str
        Sampling mode of :mod:`jaxpop.spikes` ('exact', 'gumbel', 'straight_through', 'gaussian').
    init : {'rest', 'mean_field'}
        Initial ``h``: :math:`\mu` (``'rest'``) or the deterministic fixed point
        (:meth:`HawkesParams.mean_field_h`). Overridden by ``h0``.
    h0 : array (n_pop,), optional
        Initial input potential (mV).
    dt : float, optional
        Time step (ms), required when a delay is > 0 (it sizes the delay line; static).
    temperature : float
        Relaxation temperature of the 'gumbel' / 'straight_through' modes.

    Observables: ``A`` (population activity, Hz, averaged over recording blocks), ``n``
    (population spike counts, summed), ``spikes`` (per neuron, summed: ``Result.spike_trains()``),
    ``h`` (mV), ``rate`` (:math:`f(h)`, Hz).
    """

    params: HawkesParams
    h0: jax.Array | None
    temperature: float = eqx.field(static=True)
    sampling: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    init_mode: str = eqx.field(static=True)
    dt: float | None = eqx.field(static=True)
    n_delay: int = eqx.field(static=True)
    d_steps: tuple = eqx.field(static=True)

    accumulated = ("A",)
    summed = ("spikes", "n")
    default_record = ("A",)

    def __init__(self, params: HawkesParams, *, sampling="bernoulli", mode="exact", init="rest", h0=None, dt=None,
                 temperature=0.1):
        if not isinstance(params, HawkesParams):
            raise TypeError(f"params must be a HawkesParams, got {type(params).__name__}")
        if sampling not in ("bernoulli", "poisson"):
            raise ValueError(f"sampling must be 'bernoulli' or 'poisson', got {sampling!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.params = params
        self.sampling = sampling
        self.mode = _spikes.check_mode(mode)
        self.init_mode = init
        self.h0 = None if h0 is None else _vec("h0", h0, params.n_pop)
        self.temperature = float(temperature)
        self.dt = None if dt is None else float(dt)
        self.n_delay, d = n_delay_buffer(params, self.dt)
        self.d_steps = tuple(map(tuple, d.tolist()))

    @property
    def n_pop(self) -> int:
        return self.params.n_pop

    @property
    def drive_shape(self):
        return (self.n_pop,)

    def observable_dims(self):
        p = ("population",)
        return {"A": p, "n": p, "h": p, "rate": p, "spikes": ("neuron",)}

    def check_dt(self, dt):
        self.params.check_dt(dt)
        _check_model_dt("HawkesNetwork", self.dt, dt)

    def init(self, key):
        state = init_state(self.params, initial_h(self.params, self.init_mode, self.h0), self.n_delay)
        state["spikes"] = jnp.zeros((sum(self.params.N),))
        return state

    def step(self, state, t, dt, drive, key):
        _check_model_dt("HawkesNetwork", self.dt, dt)
        _, lam = expected_counts(self.params, state["h"], dt)
        lam_n = jnp.concatenate([jnp.broadcast_to(lam[a], (n,)) for a, n in enumerate(self.params.N)])
        if self.sampling == "bernoulli":
            spk = _spikes.bernoulli(key, -jnp.expm1(-lam_n), mode=self.mode, temperature=self.temperature)
        else:
            spk = _spikes.poisson(key, lam_n, mode=self.mode, temperature=self.temperature)
        n = jnp.stack([jnp.sum(x) for x in jnp.split(spk, np.cumsum(self.params.N)[:-1])])
        new = advance(self.params, state, n, t, dt, drive, np.asarray(self.d_steps))
        new["spikes"] = spk
        return new

    def observe(self, state):
        return {"A": state["A"], "n": state["n"], "spikes": state["spikes"], "h": state["h"],
                "rate": self.params.rate(state["h"])}
