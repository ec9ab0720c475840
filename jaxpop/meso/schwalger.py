r"""Mesoscopic GIF population model of Schwalger, Deger & Gerstner (2017).

Each population :math:`\alpha` of :math:`N^\alpha` GIF neurons with escape noise (see
:mod:`jaxpop.core.gif_params`) is described by its spike count :math:`n^\alpha(t)` per time step
:math:`h`, drawn from the *expected* count :math:`\bar n^\alpha(t)` of the quasi-renewal
mesoscopic equations,

.. math::

    \bar A(t) &= \int_{-\infty}^{t}\lambda(t|\hat t)\,S(t|\hat t)\,A_N(\hat t)\,d\hat t
               + \Lambda(t)\Big[1 - \int_{-\infty}^{t} S(t|\hat t)\,A_N(\hat t)\,d\hat t\Big],\\
    \Lambda(t) &= \frac{\int\lambda(t|\hat t)\,v(t,\hat t)\,d\hat t}{\int v(t,\hat t)\,d\hat t},\qquad
    n(t) \sim \mathrm{Bin}\big(N, \bar A(t)\,h\big),\qquad A_N = n/(N h),

with the hazard :math:`\lambda(t|\hat t) = c\exp\{[u(t,\hat t) - \vartheta(t,\hat t)]/\Delta_u\}`
of the age cohort that last fired at :math:`\hat t`, the quasi-renewal threshold
:math:`\vartheta(t,\hat t) = u_{th} + \theta(t-\hat t) + \int_{-\infty}^{\hat t}\tilde\theta(t-t')
A_N(t')dt'`, :math:`\tilde\theta = \Delta_u(1 - e^{-\theta/\Delta_u})`, and synaptic input
:math:`J^{\alpha\beta} p^{\alpha\beta} N^\beta (\varepsilon * A_N^\beta)(t)`.

The discretisation is the algorithm of NEST's ``gif_pop_psc_exp`` (the paper's pseudocode), for
all populations at once and vectorised over the age axis:

* the age axis holds :math:`K` bins per population (arrays ``n, m, v, u, lam`` of shape
  ``(n_pop, K)``) as a ring buffer: slot ``s`` holds the cohort of age index
  :math:`a = (o - 1 - s) \bmod K` (age :math:`(a+1)h`), where ``oldest`` :math:`o` is the slot of
  the oldest cohort. Each step that cohort retires into the *free* pool ``x, z`` (whose membrane
  potential ``V`` and adaptation filters ``g_j`` are tracked as scalars), the new cohort is written
  into its slot and :math:`o` advances by one — one slot is written instead of the whole history
  shifted, so the update is in place;
* the quasi-renewal threshold of cohort ``a`` is :math:`\theta((a+1)h) + \hat\vartheta
  - n_{K-1}\tilde\theta_{K-1} + \sum_{a' > a} n_{a'}\tilde\theta_{a'}` — a cumulative sum over
  the ring, unrolled from the oldest slot (Schwalger's C code; NEST's ``models/gif_pop_psc_exp.cpp``
  subtracts the count of buffer slot 0 instead of the oldest bin, a negligible difference, measured in
  ``docs/measurements.md``);
* survival over a step: :math:`P = \tfrac12(\lambda' + \lambda)h`, replaced by :math:`1 - e^{-P}`
  when :math:`P > 0.01` (as in NEST); free neurons always use :math:`1 - e^{-P}`;
* expected count :math:`\bar n = W + P_{free}x + P_\Lambda(N - X - x)` (the Λ correction),
  :math:`P_\Lambda = (Y + P_{free} z)/(Z + z)`;
* synaptic currents are exponential with ``tau_syn_ex`` / ``tau_syn_in`` of the target, chosen by the
  sign of :math:`J`; the counts of step ``k`` arrive in the input of step ``k + delay/h`` and the
  membrane is integrated exactly over the step with the synaptic current as in NEST.

Time discretisation (``scheme``). ``'nest'`` is the algorithm above, identical to NEST: the spikes of a
step are treated as emitted at its end, so a cohort is released from refractoriness a step late on average
and its first active step counts half (trapezoid from the refractory hazard 0) — the dead time is
effectively :math:`t_{ref} + h` and the stationary rate is first order in :math:`h` (to first order it is
low by :math:`r h`: a few per cent at :math:`h` = 1 ms for 20–30 Hz; table in ``docs/measurements.md``).
``'midpoint'`` places the spikes of a step at its midpoint (their mean time): the cohort of age index
:math:`k_{ref}-1` is released in the middle of its step (membrane from :math:`V_{reset}` over the half step,
:math:`u = V_{reset}e^{-h/2\tau_m} + H/(1+e^{-h/2\tau_m})`, escape over half a step from the hazard at the
release), the adaptation kernel is evaluated at the ages :math:`(a + 3/2)h`, and every escape probability
is the exact :math:`1 - e^{-P}` of the trapezoidal hazard integral :math:`P`. Its rate error is second
order in :math:`h`: use it at coarse steps, e.g. to fit data in 1-ms bins (:mod:`jaxpop.fit`).

Variants: ``'lambda'`` (the full model), ``'naive'`` (:math:`\Lambda = 0`: the naive finite-size
extension of the lecture, whose neural mass is not conserved), ``'mean_field'`` (:math:`N\to\infty`,
the macroscopic integral equation: the count *is* its expectation :math:`n = \bar n`).

Clipping (the algorithm's own, as NEST does): the binomial probability :math:`\bar n / N` is clipped
to :math:`[0, 1]` (:math:`\bar n` can leave :math:`[0, N]` when the missing mass
:math:`N - X - x` is negative after a large fluctuation); Poisson counts are clipped to ``[0, N]``.
Nothing else is clipped; ``'gaussian'`` counts (the diffusion approximation
:math:`n = \bar n + \sqrt{\bar n(1-\bar n/N)}\,\xi`) are not clipped and can be negative.

Initial state: all :math:`N` neurons in the oldest age bin (they fired long ago and join the free
pool in the first step), membrane potentials at ``V_reset``, synapses and adaptation at rest.

Units: ms, mV, Hz. Observables: ``"A"`` population activity (Hz, averaged over a recording block),
``"n"`` spike counts (summed), ``"A_bar"`` expected activity :math:`\bar n/(N h)` (Hz, averaged),
``"V_free"`` free-neuron membrane potential (mV), ``"mass"`` :math:`(\sum_a m_a + x)/N` (the
neural mass accounted for by the age cohorts; 1 in the ``'mean_field'`` variant).

References: T. Schwalger, M. Deger, W. Gerstner, *Towards a theory of cortical columns: From
spiking neurons to interacting neural populations of finite size*, PLoS Comput. Biol. 13,
e1005507 (2017), doi:10.1371/journal.pcbi.1005507.
"""

from __future__ import annotations

import math
from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core import spikes
from ..core.gif_params import GIFParams
from ..core.model import AbstractModel, is_concrete
from . import cohorts
from .cohorts import _MS, COUNTS, SCHEMES, VARIANTS  # noqa: F401  (re-exported)


def history_length(params: GIFParams, dt: float) -> tuple[int, ...]:
    r"""Automatic history length :math:`K` per population (NEST ``GetHistoryLength``, Eq. 86).

    Start at :math:`k = \lfloor 20000\,\mathrm{ms}/h\rfloor` and decrease :math:`k` while
    :math:`\theta(kh)/\Delta_V < 0.1` and :math:`k > \lfloor 5\tau_m/h\rfloor`; if
    :math:`kh \le t_{ref}`, use :math:`k = \lfloor t_{ref}/h\rfloor + 1`. Needs concrete parameter
    values (it sets a shape): inside ``jit`` / ``grad`` pass ``history=`` to :class:`SchwalgerMeso`.
    """
    if not is_concrete(params.q_sfa, params.tau_sfa, params.Delta_V, params.tau_m):
        raise ValueError("history: the automatic history length is computed from concrete values of q_sfa, tau_sfa, "
                         "Delta_V and tau_m (it sets the shape of the age axis); with traced parameters (inside "
                         "jit / grad / vmap) give it explicitly, e.g. SchwalgerMeso(params, dt=dt, history=model.K) "
                         "with the K of a model built from concrete values (checked at run time)")
    out = []
    q, tau = np.asarray(params.q_sfa), np.asarray(params.tau_sfa)
    for i in range(params.n_pop):
        k_max = int(math.floor(20000.0 / dt))
        k_min = int(math.floor(5 * float(params.tau_m[i]) / dt))
        ks = np.arange(k_max, 0, -1, dtype=float)  # candidate k, decreasing
        th = np.sum(q[i][None, :] * np.exp(-ks[:, None] * dt / tau[i][None, :]), axis=1) if q.shape[1] else 0 * ks
        stop = (th / float(params.Delta_V[i]) >= 0.1) | (ks <= k_min)
        k = int(ks[np.argmax(stop)]) if np.any(stop) else 1
        if k * dt <= float(params.t_ref[i]):
            k = int(math.floor(float(params.t_ref[i]) / dt)) + 1
        out.append(k)
    return tuple(out)


def window_too_short(params: GIFParams, K, dt: float) -> jax.Array:
    r"""Per population, whether a history of ``K`` bins is too short for the current parameter values
    (traceable): the adaptation kernel has not decayed at its end, :math:`\theta((K+1)h)/\Delta_V \ge 0.1`,
    or the window is shorter than five membrane time constants, :math:`K < \lfloor 5\tau_m/h\rfloor` (the
    free pool's common membrane potential needs the reset forgotten). :func:`history_length` never
    returns such a ``K``."""
    K = jnp.asarray(K, dtype=params.Delta_V.dtype)
    if params.n_kernels:
        tau = jnp.where(params.tau_sfa > 0, params.tau_sfa, 1.0)
        theta_end = jnp.sum(params.q_sfa * jnp.exp(-(K[:, None] + 1) * dt / tau), axis=1)
    else:
        theta_end = jnp.zeros_like(K)
    return (theta_end / params.Delta_V >= 0.1) | (K < jnp.floor(5 * params.tau_m / dt))


class MesoState(NamedTuple):
    n: jax.Array  # (n_pop, K) counts of the age cohorts, ring buffer (slot s holds age (o - 1 - s) mod K)
    m: jax.Array  # (n_pop, K) expected survivors
    v: jax.Array  # (n_pop, K) variance of the survivors
    u: jax.Array  # (n_pop, K) membrane potential of the cohort (mV)
    lam: jax.Array  # (n_pop, K) hazard at the previous step (Hz)
    oldest: jax.Array  # (n_pop,) int32 slot of the oldest cohort (the one retired and overwritten this step)
    x: jax.Array  # (n_pop,) free neurons (older than the window)
    z: jax.Array  # (n_pop,) their variance
    lam_free: jax.Array  # (n_pop,)
    V: jax.Array  # (n_pop,) free membrane potential (mV)
    g: jax.Array  # (n_pop, n_kernels) adaptation filters (1/ms)
    y_ex: jax.Array  # (n_pop,) synaptic input I_syn_ex / C_m (mV/ms)
    y_in: jax.Array  # (n_pop,)
    hist: jax.Array  # (D, n_pop) past counts, hist[j] = count of step k-1-j
    count: jax.Array  # (n_pop,) count of the last step
    n_bar: jax.Array  # (n_pop,) expected count of the last step


class _Pre(NamedTuple):
    state: MesoState  # state with all updates that do not need the new count
    n_bar: jax.Array
    mass: jax.Array


def _cumsum(x, block: int = 32):
    """Inclusive cumulative sum along the last axis of a 2-D array, as two small triangular matrix products
    (within blocks of ``block``, then the blocks' offsets). Same result as ``jnp.cumsum`` up to round-off
    (the sums are reassociated), several times faster on CPUs for the age axis (a few hundred bins): XLA
    lowers ``cumsum`` there to a log-depth scan of many small operations."""
    n, K = x.shape
    nb = -(-K // block)
    xb = jnp.pad(x, ((0, 0), (0, nb * block - K))).reshape(n, nb, block)
    within = xb @ jnp.asarray(np.triu(np.ones((block, block))), x.dtype)
    offsets = within[:, :, -1] @ jnp.asarray(np.triu(np.ones((nb, nb)), 1), x.dtype)
    return (within + offsets[:, :, None]).reshape(n, nb * block)[:, :K]


_at = cohorts.at


def _as_dtype(params: GIFParams, dtype) -> GIFParams:
    """``params`` with its floating-point leaves in ``dtype``."""
    return jax.tree_util.tree_map(lambda x: x.astype(dtype) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
                                  else x, params)


class SchwalgerMeso(AbstractModel):
    r"""Schwalger–Deger–Gerstner (2017) mesoscopic model of GIF populations (NEST ``gif_pop_psc_exp``).

    Parameters
    ----------
    params : GIFParams
        Population parameters (shared with :class:`jaxpop.micro.GIFNetwork`).
    dt : float
        Time step (ms, static). The history length, refractory and delay steps depend on it, so
        it is fixed at construction; :func:`jaxpop.simulate` must be called with the same ``dt``.
    variant : {'lambda', 'naive', 'mean_field'}
        Full model with the Λ correction, the naive model (Λ = 0), or N → ∞ (no sampling).
    counts : {'binomial', 'poisson', 'gaussian'}
        Count distribution (NEST ``BinoRand`` true / false; Gaussian: diffusion approximation).
    mode : str
        Sampling mode of :mod:`jaxpop.spikes` ('exact', 'gumbel', 'straight_through', 'gaussian').
    temperature : float
        Relaxation temperature of the 'gumbel' / 'straight_through' modes.
    support : int, optional
        Half-width of the count window of ``mode='gumbel'`` (static; default
        :func:`jaxpop.spikes.count_support` of the largest population, which covers any count).
    history : int or tuple of int, optional
        Age bins per population (structure; default: automatic, :func:`history_length`, which needs
        concrete parameters). A window too short for the current parameter values
        (:func:`window_too_short`: the adaptation kernel not decayed, or fewer than
        :math:`5\tau_m/h` bins) is an error at construction and, when parameters are changed
        afterwards (``tree_at``, sweeps, fitting), at run time (:meth:`runtime_checks`).
    dtype : {'float64', 'float32'}, optional
        Floating-point type of the state and the arithmetic (default ``'float64'`` as NEST, or
        ``'float32'`` when float64 is switched off, ``JAXPOP_X64=0``).
        ``'float32'`` halves the memory traffic of large trial batches and runs the exponentials
        several times faster on CPUs and GPUs; rates agree with float64 within sampling error
        (tested), but round-off in the survivor sums is ~1e-7 relative instead of ~1e-16.
    scheme : {'nest', 'midpoint'}
        Time discretisation (module docs): ``'nest'`` (default) is NEST's ``gif_pop_psc_exp`` step for step, first
        order in ``dt``; ``'midpoint'`` places a step's spikes at its midpoint and is second order (use it for
        steps of 0.5–1 ms, e.g. to fit data in 1-ms bins).

    References: T. Schwalger, M. Deger, W. Gerstner, PLoS Comput. Biol. 13, e1005507 (2017),
    doi:10.1371/journal.pcbi.1005507.
    """

    params: GIFParams
    dt: float = eqx.field(static=True)
    variant: str = eqx.field(static=True)
    counts: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    temperature: float = eqx.field(static=True)
    support: int = eqx.field(static=True)
    K: tuple[int, ...] = eqx.field(static=True)
    k_ref: tuple[int, ...] = eqx.field(static=True)
    d_steps: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    dtype: str = eqx.field(static=True)
    scheme: str = eqx.field(static=True)

    accumulated: ClassVar[tuple[str, ...]] = ("A", "A_bar")
    summed: ClassVar[tuple[str, ...]] = ("n",)
    default_record: ClassVar[tuple[str, ...]] = ("A",)

    def __init__(self, params: GIFParams, *, dt: float, variant: str = "lambda", counts: str = "binomial",
                 mode: str = "exact", temperature: float = spikes.DEFAULT_TEMPERATURE, support: int | None = None,
                 history=None, dtype: str | None = None, scheme: str = "nest"):
        if not isinstance(params, GIFParams):
            raise TypeError(f"params must be a GIFParams, got {type(params).__name__}")
        cohorts.check_options(variant, counts, scheme, mode, "SchwalgerMeso")
        self.scheme = scheme
        if dtype is None:
            dtype = "float64" if jax.config.jax_enable_x64 else "float32"
        if str(dtype) not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        if str(dtype) == "float64" and not jax.config.jax_enable_x64:
            raise ValueError("dtype='float64' needs jax_enable_x64 (jaxpop enables it at import; it was switched off)")
        if not (isinstance(dt, (int, float, np.floating)) and dt > 0):
            raise ValueError(f"dt must be a positive number (ms), got dt={dt!r}")
        dt = float(dt)
        params.check_dt(dt)
        delay = np.asarray(params.delay)
        if np.any(delay < dt - 1e-9 * dt):
            raise ValueError(f"delay must be at least one step dt = {dt} ms (the count of a step reaches its "
                             f"targets in a later step), got delay={delay!r}")
        self.params, self.dt, self.variant, self.counts, self.mode = params, dt, variant, counts, mode
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got temperature={temperature!r}")
        self.temperature = float(temperature)
        law = "poisson" if counts == "poisson" else "binomial"
        if support is None:
            support = spikes.count_support(params.N, law)
        elif not (isinstance(support, (int, np.integer)) and support >= 1):
            raise ValueError(f"support must be a positive integer (count window half-width), got support={support!r}")
        self.support = int(support)
        self.dtype = str(dtype)
        self.k_ref = tuple(int(round(float(t) / dt)) for t in params.t_ref)
        self.d_steps = tuple(tuple(int(round(d / dt)) for d in row) for row in delay)
        if history is None:
            K = history_length(params, dt)
        else:
            K = (history,) * params.n_pop if isinstance(history, (int, np.integer)) else tuple(history)
            if len(K) != params.n_pop or not all(isinstance(k, (int, np.integer)) and k >= 1 for k in K):
                raise ValueError(f"history must be a positive int or one per population, got {history!r}")
            K = tuple(int(k) for k in K)
            for i, k in enumerate(K):
                if k <= self.k_ref[i]:
                    raise ValueError(f"history = {k} bins is not longer than the refractory period "
                                     f"t_ref = {float(params.t_ref[i])} ms of population {i} ({self.k_ref[i]} steps)")
            if is_concrete(params):
                short = np.asarray(window_too_short(params, K, dt))
                if np.any(short):
                    i = int(np.argmax(short))
                    raise ValueError(
                        f"history = {K[i]} bins ({K[i] * dt} ms) is too short for population {i}: the adaptation "
                        f"kernel (tau_sfa = {np.asarray(params.tau_sfa[i]).tolist()!r} ms) must decay below "
                        f"0.1 Delta_V and the window must span 5 tau_m; use history >= {history_length(params, dt)[i]}")
        self.K = K

    def runtime_checks(self, dt):
        """The history window must stay long enough for the current parameter values (:func:`window_too_short`)."""
        short = window_too_short(self.params, self.K, self.dt)
        return ((short, f"the history window K = {self.K} bins (dt = {self.dt} ms), sized at construction, is too "
                        "short for the current parameter values (adaptation kernel tau_sfa / q_sfa not decayed below "
                        "0.1 Delta_V at its end, or shorter than 5 tau_m); build the model from the new parameters "
                        "(or pass a longer history=)"),)

    # ------------------------------------------------------------------ helpers
    @property
    def drive_shape(self):
        return (self.params.n_pop,)

    @property
    def K_max(self) -> int:
        return max(self.K)

    def check_dt(self, dt):
        if abs(float(dt) - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"dt = {dt} differs from the dt = {self.dt} ms this SchwalgerMeso was built for "
                             f"(history length and delays depend on it); construct it with dt={dt}")
        self.params.check_dt(dt)

    def observable_dims(self):
        return {k: ("population",) for k in ("A", "n", "A_bar", "V_free", "mass")}

    @classmethod
    def from_micro(cls, net, *, dt=None, **kwargs):
        """The mesoscopic twin of a microscopic ``GIFNetwork`` (same ``params``; ``dt`` defaults to the network's)."""
        return cls(net.params, dt=net.dt if dt is None else dt, **kwargs)

    def _ring(self, oldest):
        """Masks and age index of the ring slots for the current step (all (n_pop, K_max)).

        Slot ``s`` of population ``i`` holds the cohort of age index ``(oldest_i - 1 - s) mod K_i``
        (age ``(a + 1) h``); slots ``s >= K_i`` are padding.
        """
        valid, age = cohorts.ring(self.K, oldest)
        active = valid & (age >= np.asarray(self.k_ref, np.int32)[:, None])
        return valid, active, age

    # ------------------------------------------------------------------ model
    def init(self, key=None) -> MesoState:
        P = self.params
        n_pop, K = P.n_pop, self.K_max
        dt = jnp.dtype(self.dtype)
        N = jnp.asarray(P.N, dtype=dt)
        zeros = jnp.zeros((n_pop, K), dt)
        # all N neurons in the oldest bin (slot 0 at the first step): they fired long ago and join the free pool
        n0 = zeros.at[:, 0].set(N)
        D = max(max(r) for r in self.d_steps)
        z1 = jnp.zeros(n_pop, dt)
        Vr = P.V_reset.astype(dt)
        return MesoState(
            n=n0, m=n0, v=zeros, u=Vr[:, None] + zeros, lam=zeros, oldest=jnp.zeros(n_pop, jnp.int32),
            x=z1, z=z1, lam_free=z1, V=Vr + z1, g=jnp.zeros((n_pop, P.n_kernels), dt), y_ex=z1, y_in=z1,
            hist=jnp.zeros((D, n_pop), dt), count=z1, n_bar=z1,
        )

    def _kernels(self, P, age):
        r"""Adaptation kernel :math:`\theta((a+1)h)` and its quasi-renewal transform per count
        :math:`\Delta_V(1 - e^{-\theta/\Delta_V})/N` at the slots' ages (both (n_pop, K_max)).

        Both are computed in age order from the parameters alone (loop-invariant: XLA hoists them
        out of the time loop) and then gathered to the ring slots.
        """
        N = jnp.asarray(P.N, dtype=P.mu.dtype)
        # age at the end of the step of the cohort of age index a: (a + 1) h for births at the bin's end
        # ('nest'), (a + 3/2) h for births at its midpoint ('midpoint')
        t_age = self.dt * (jnp.arange(1, self.K_max + 1, dtype=P.mu.dtype) + (0.5 if self.scheme == "midpoint" else 0))
        tau = jnp.where(P.tau_sfa > 0, P.tau_sfa, 1.0)
        theta = jnp.sum(P.q_sfa[:, None, :] * jnp.exp(-t_age[None, :, None] / tau[:, None, :]), axis=-1)
        theta_t = P.Delta_V[:, None] * (-jnp.expm1(-theta / P.Delta_V[:, None])) / N[:, None]
        return jnp.take_along_axis(theta, age, axis=1), jnp.take_along_axis(theta_t, age, axis=1)

    def expected_count(self, state: MesoState, t, dt, drive) -> _Pre:
        r"""Steps 1–6 of the algorithm: everything up to the expected count :math:`\bar n`."""
        dtype = jnp.dtype(self.dtype)
        P, h = _as_dtype(self.params, dtype), self.dt
        N = jnp.asarray(P.N, dtype=dtype)
        valid, active, age = self._ring(state.oldest)
        # 1. synaptic input: counts emitted delay/h steps ago, weight J p (mV) per spike
        src = np.arange(P.n_pop)
        d_idx = np.asarray(self.d_steps) - 1  # (target, source)
        arriving = state.hist[d_idx, src[None, :]]  # (target, source)
        w = P.J * P.p * arriving / h  # (target, source), mV/ms
        a_ex = jnp.sum(jnp.where(P.J >= 0, w, 0.0), axis=1)
        a_in = jnp.sum(jnp.where(P.J >= 0, 0.0, w), axis=1)
        tau_m = P.tau_m
        P22 = jnp.exp(-h / tau_m)

        def channel(y, a, tau_s):
            P11 = jnp.exp(-h / tau_s)
            delta = tau_m * (a + (tau_s * P11 * (y - a) - P22 * (tau_s * y - tau_m * a)) / (tau_s - tau_m))
            return delta, a + (y - a) * P11

        d_ex, y_ex = channel(state.y_ex, a_ex, P.tau_syn_ex)
        d_in, y_in = channel(state.y_in, a_in, P.tau_syn_in)
        mu = P.mu + jnp.asarray(drive(t + 0.5 * h), dtype)  # the input over the step, at its midpoint (as GIFNetwork)
        H = mu * (1 - P22) + d_ex + d_in
        # 2. free neurons and adaptation (the oldest cohort's count enters the filters)
        theta_hat = P.V_T_star
        g = state.g
        if P.n_kernels:
            n_old = _at(state.n, state.oldest)
            tau_sfa = P.tau_sfa
            Q = jnp.exp(-h / tau_sfa)
            K_arr = jnp.asarray(self.K, dtype=dtype)[:, None]
            QK = P.q_sfa * tau_sfa * jnp.exp(-K_arr * h / tau_sfa)
            g = state.g * Q + (1 - Q) * (n_old / (N * h))[:, None]
            theta_hat = theta_hat + jnp.sum(QK * g, axis=1)
        V = state.V * P22 + H
        lam_f = P.lambda_0 * jnp.exp((V - theta_hat) / P.Delta_V)
        P_free = -jnp.expm1(-0.5 * (state.lam_free + lam_f) * h * _MS)
        # 3.–4. age cohorts: quasi-renewal threshold theta((a+1)h) + theta_hat - n_old theta~_old + sum_{older} n theta~
        if P.n_kernels:
            theta, theta_t = self._kernels(P, age)
            nt = jnp.where(valid, state.n * theta_t, 0.0)
            # sum over the cohorts older than slot s: the slots from `oldest` up to s - 1, cyclically
            csum = _cumsum(nt)
            before_oldest = jnp.sum(jnp.where(np.arange(self.K_max)[None, :] < state.oldest[:, None], nt, 0.0), axis=1)
            total = csum[:, -1]
            wrapped = np.arange(self.K_max)[None, :] < state.oldest[:, None]
            older = csum - nt - before_oldest[:, None] + jnp.where(wrapped, total[:, None], 0.0)
            theta_loc = theta_hat - _at(nt, state.oldest)
            thr = theta + theta_loc[:, None] + older
        else:  # no adaptation: the threshold is V_T_star for every cohort
            thr = theta_hat[:, None]
        u_full = state.u * P22[:, None] + H[:, None]
        if self.scheme == "nest":
            u = jnp.where(active, u_full, state.u)
            lam_new = jnp.where(active, P.lambda_0[:, None] * jnp.exp((u - thr) / P.Delta_V[:, None]), 0.0)
            # survival over the step: trapezoidal P for P <= 0.01, else 1 - exp(-P) (NEST)
            Pk = cohorts.escape_probability(state.lam, lam_new, jnp.where(active, 1.0, 0.0), h, "nest")
        else:  # 'midpoint': the cohort of age index k_ref - 1 leaves refractoriness at the step's midpoint
            k_ref = np.asarray(self.k_ref, np.int32)
            half = valid & (age == k_ref[:, None] - 1)
            on = active | half
            E_half = jnp.exp(-0.5 * h / tau_m)
            # membrane from V_reset over the second half step: u E + H (1 - E) / (1 - E^2) = u E + H / (1 + E)
            u = jnp.where(active, u_full, jnp.where(half, state.u * E_half[:, None] + (H / (1 + E_half))[:, None],
                                                    state.u))
            lam_new = jnp.where(on, P.lambda_0[:, None] * jnp.exp((u - thr) / P.Delta_V[:, None]), 0.0)
            # hazard at the release (membrane at V_reset), needed in one slot per population (age k_ref - 1)
            s_half = jnp.mod(state.oldest - jnp.asarray(k_ref), jnp.asarray(self.K, jnp.int32))
            thr_half = _at(jnp.broadcast_to(thr, state.u.shape), s_half)
            lam_rel = P.lambda_0 * jnp.exp((_at(state.u, s_half) - thr_half) / P.Delta_V)
            lam_start = jnp.where(half, lam_rel[:, None], state.lam)
            # exact escape probability of the trapezoidal hazard integral over the active part of the step
            Pk = cohorts.escape_probability(lam_start, lam_new, jnp.where(on, jnp.where(half, 0.5, 1.0), 0.0), h,
                                            "midpoint")
        # 5.–6. Λ correction and expected count; 8. the oldest cohort retires into the free pool
        sv = cohorts.survive(state.m, state.v, state.x, state.z, Pk, P_free, state.oldest, N,
                             naive=self.variant == "naive")
        new = state._replace(m=sv.m, v=sv.v, u=u, lam=lam_new, x=sv.x, z=sv.z, lam_free=lam_f, V=V, g=g, y_ex=y_ex,
                             y_in=y_in)
        return _Pre(new, sv.n_bar, sv.mass)

    def add_count(self, pre: _Pre, count) -> MesoState:
        """Steps 9–10: the new cohort ``count`` replaces the oldest one in the ring; the ring advances."""
        s = pre.state
        dtype = jnp.dtype(self.dtype)
        count = jnp.asarray(count, dtype)
        Vr = self.params.V_reset.astype(dtype)
        put = lambda arr, val: cohorts.write(arr, s.oldest, val)  # one slot per population, in place
        zero = jnp.zeros_like(count)
        return s._replace(
            n=put(s.n, count), m=put(s.m, count), v=put(s.v, zero), u=put(s.u, Vr + zero), lam=put(s.lam, zero),
            oldest=cohorts.advance_ring(s.oldest, self.K),
            hist=jnp.concatenate([count[None], s.hist[:-1]], axis=0), count=count, n_bar=pre.n_bar,
        )

    def sample_count(self, key, n_bar):
        """Draw the population counts from the expected counts (7.; :func:`jaxpop.meso.cohorts.sample_count`)."""
        return cohorts.sample_count(key, n_bar, self.params.N, variant=self.variant, counts=self.counts,
                                    mode=self.mode, temperature=self.temperature, support=self.support,
                                    owner="SchwalgerMeso")

    def count_law(self, pre: _Pre) -> spikes.CountLaw:
        r"""The law :meth:`sample_count` draws the count from, given the expected count ``pre.n_bar``
        (the likelihood of observed counts, :mod:`jaxpop.fit`): binomial :math:`\mathrm{Bin}(N, p)`,
        :math:`p = \mathrm{clip}(\bar n/N, 0, 1)`; Poisson :math:`\min(\mathrm{Poisson}(\max(\bar n, 0)), N)`;
        with ``counts='gaussian'`` or ``mode='gaussian'`` their normal approximations (same clipping).
        Sampling modes ``'gumbel'`` / ``'straight_through'`` draw relaxations of the same law."""
        return cohorts.count_law(pre.n_bar, self.params.N, variant=self.variant, counts=self.counts, mode=self.mode)

    def step(self, state, t, dt, drive, key):
        pre = self.expected_count(state, t, dt, drive)
        return self.add_count(pre, self.sample_count(key, pre.n_bar))

    def observe(self, state):
        N = jnp.asarray(self.params.N, dtype=state.count.dtype)
        scale = 1.0 / (N * self.dt * _MS)
        mass = (jnp.sum(state.m, axis=1) + state.x) / N
        return {"A": state.count * scale, "n": state.count, "A_bar": state.n_bar * scale,
                "V_free": state.V, "mass": mass}
