r"""Refractory-density equation (age-structured population dynamics) of renewal neurons, for :math:`N\to\infty` and
for finite populations (the lecture's part 4; Pietras, Gallice & Schwalger 2020).

Each population :math:`\alpha` of :math:`N_\alpha` renewal neurons with hazard :math:`\rho_\alpha(\tau, h_\alpha)` at age
:math:`\tau` (time since the last spike) and input potential :math:`h_\alpha` is described by the density
:math:`q(\tau, t)` of ages,

.. math::

    \partial_t q + \partial_\tau q = -\rho(\tau, h(t))\,q, \qquad q(0, t) = A_N(t), \\
    \bar A(t) = \int_0^\infty \rho(\tau, h)\,q\,d\tau + \Lambda(t)\Big[1 - \int_0^\infty q\,d\tau\Big], \qquad
    A_N = \bar A + \sqrt{\bar A/N}\,\xi \quad (\text{binomial / Poisson / Gaussian counts}),

    \tau_h \dot h_\alpha = -h_\alpha + I_\alpha(t) + \sum_\beta J_{\alpha\beta}\,s_\beta(t), \qquad
    \tau_s \dot s_\beta = -s_\beta + A_{N,\beta}(t - d),

the mesoscopic refractory-density equation of the lecture (slide "Mesoscopic population equation") with the Λ
correction of Schwalger, Deger & Gerstner (2017); ``variant='mean_field'`` is the deterministic
:math:`N\to\infty` equation (:math:`A_N = \bar A`, :math:`\int q = 1`). The hazard family is a
:class:`~jaxpop.analysis.renewal.RenewalFamily`: any renewal model of :mod:`jaxpop.analysis.renewal` whose parameter
``field`` is set by a transfer function of :math:`h` (PAR with a sigmoidal :math:`\nu(h)`, Gamma, PIF, the
escape-noise LIF whose settled membrane potential is :math:`h`).

Discretisation: the age-cohort scheme of :class:`~jaxpop.meso.SchwalgerMeso`, shared code
(:mod:`jaxpop.meso.cohorts`): :math:`K` age bins of width :math:`\Delta t` per population in a ring buffer, the
expected survivors :math:`m_a` and their variance :math:`v_a` per cohort, a free pool of the neurons older than the
window with the hazard :math:`\rho_\infty(h)` (``renewal.asymptotic_hazard``), the Λ correction from the survivor
variances, and the escape probability of a cohort over a step from the trapezoidal integral of its hazard along the
characteristic, :math:`\tfrac12[\rho(\tau_s, h(t)) + \rho(\tau_e, h(t + \Delta t))]\,f\,\Delta t` over the fraction
:math:`f` of the step past the dead time. ``scheme='midpoint'`` (default) places the spikes of a step at its midpoint
(cohort ages :math:`(a + 3/2)\Delta t` at the end of a step, exact :math:`1 - e^{-P}`: second order in
:math:`\Delta t`); ``'nest'`` places them at its end (ages :math:`(a + 1)\Delta t`; NEST's rule :math:`P` for
:math:`P \le 0.01`), the first-order scheme of NEST's ``gif_pop_psc_exp``. With the escape-noise LIF hazard at constant
input and no adaptation this *is* ``SchwalgerMeso`` (the cohort membrane potentials of the GIF model are then
:math:`u^h(\tau)`; tested to 1e-9); with time-dependent input the two differ: here the hazard follows the present input
:math:`h(t)` (quasi-renewal), there each cohort integrates its own membrane potential.

The input is integrated exactly for an input constant over the step: :math:`s \leftarrow A + (s - A)e^{-\Delta t/\tau_s}`
(:math:`s = A` for :math:`\tau_s = 0`) with the activity :math:`A` of the count arriving after the delay, then
:math:`h \leftarrow u + (h - u)e^{-\Delta t/\tau_h}`, :math:`u = I(t + \Delta t/2) + \sum_\beta J_{\alpha\beta} s_\beta`.

A dead time off the grid of ages is handled through the fraction :math:`f` (exact for a hazard constant after the dead
time, as PAR's); values of :math:`f` within 1e-9 of 0 or 1 are taken as 0 or 1, so that a dead time on the grid
does not depend on the round-off of :math:`a\,\Delta t`.

Units: ms, mV, Hz; :math:`J` in mV·s (:math:`J A` is in mV for :math:`A` in Hz). Observables: ``"A"`` activity (Hz,
averaged over a recording block), ``"n"`` counts (summed), ``"A_bar"`` expected activity (Hz, averaged), ``"h"``
input potential (mV), ``"mass"`` :math:`(\sum_a m_a + x)/N` (1 for ``'mean_field'``).

References: B. Pietras, N. Gallice, T. Schwalger, *Low-dimensional firing-rate dynamics for populations of
renewal-type spiking neurons*, Phys. Rev. E 102, 022407 (2020), doi:10.1103/PhysRevE.102.022407;
T. Schwalger, M. Deger, W. Gerstner, PLoS Comput. Biol. 13, e1005507 (2017), doi:10.1371/journal.pcbi.1005507;
W. Gerstner, W. M. Kistler, *Spiking Neuron Models* (Cambridge, 2002), ch. 6 (refractory density).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..analysis.renewal import RenewalFamily
from ..core import spikes
from ..core.model import AbstractModel, check_positive, is_concrete, population_sizes
from . import cohorts
from .cohorts import _MS

INITS = ("free", "synchronous", "stationary")
_SNAP = 1e-9  # fractions of a step within this of 0 or 1 are 0 or 1 (module docs)


class RDState(NamedTuple):
    m: jax.Array  # (n_pop, K) expected survivors of the age cohorts (ring buffer, cohorts.ring)
    v: jax.Array  # (n_pop, K) their variance
    lam: jax.Array  # (n_pop, K) hazard at the start of the next step (Hz)
    oldest: jax.Array  # (n_pop,) int32 ring slot of the oldest cohort
    x: jax.Array  # (n_pop,) free pool (neurons older than the window)
    z: jax.Array  # (n_pop,) its variance
    lam_free: jax.Array  # (n_pop,) hazard of the free pool at the end of the last step (Hz)
    h: jax.Array  # (n_pop,) input potential (mV)
    s: jax.Array  # (n_pop,) synaptically filtered activity (Hz)
    hist: jax.Array  # (D, n_pop) past counts, hist[j] = count of step k-1-j
    count: jax.Array  # (n_pop,) count of the last step
    n_bar: jax.Array  # (n_pop,) expected count of the last step


class _Pre(NamedTuple):
    state: RDState
    n_bar: jax.Array
    mass: jax.Array
    lam_birth: jax.Array  # (n_pop,) hazard of the new cohort at its birth age


def input_step(h, s, A_in, I, J, tau_h, tau_s, dt: float):
    r"""One step of the input dynamics (module docs), exact for inputs constant over the step:
    :math:`s \leftarrow A_{in} + (s - A_{in})e^{-\Delta t/\tau_s}` (:math:`s = A_{in}` where :math:`\tau_s = 0`), then
    :math:`h \leftarrow u + (h - u)e^{-\Delta t/\tau_h}` with :math:`u = I + J s`. Returns ``(h, s)``."""
    pos = tau_s > 0
    decay_s = jnp.where(pos, jnp.exp(-dt / jnp.where(pos, tau_s, 1.0)), 0.0)
    s = A_in + (s - A_in) * decay_s
    u = I + J @ s
    return u + (h - u) * jnp.exp(-dt / tau_h), s


def step_hazard(r, tau_end, dt: float):
    """For the renewal model ``r`` (one population) and ages ``tau_end`` (ms) at the end of a step: the fraction of the
    step past the dead time (snapped to 0 / 1 within 1e-9), the hazard at its end (0 where the fraction is 0) and
    the hazard at the release from the dead time."""
    dead = r.dead_time()
    frac = jnp.clip((tau_end - dead) / dt, 0.0, 1.0)
    frac = jnp.where(frac < _SNAP, 0.0, jnp.where(frac > 1 - _SNAP, 1.0, frac))
    return frac, jnp.where(frac > 0, r.hazard(tau_end), 0.0), r.hazard(dead)


def _broadcast(tree, n_pop: int, name: str):
    """Every floating-point leaf of ``tree`` as an ``(n_pop,)`` vector (scalars broadcast)."""
    def one(x):
        if not (isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.floating)):
            return x
        if x.ndim == 0:
            return jnp.full((n_pop,), x)
        if x.shape != (n_pop,):
            raise ValueError(f"{name}: every parameter must be a scalar or have shape ({n_pop},) (one value per "
                             f"population), got shape {x.shape}")
        return x
    return jax.tree.map(one, tree)


def set_input_fields(model, family, N, dt, tau_h, J, tau_s, delay, h_init):
    """Validate and set the fields shared by the renewal-population models (``RefractoryDensity``, ``Eigenmode``,
    ``RenewalNetwork``): ``family`` (every parameter one per population), ``N``, ``dt``, the input dynamics ``tau_h``,
    ``J``, ``tau_s``, ``h_init`` and the delay in steps ``d_steps`` (raises naming the parameter)."""
    if not isinstance(family, RenewalFamily):
        family = RenewalFamily(family)
    set_ = lambda name, value: object.__setattr__(model, name, value)  # noqa: E731  (inside __init__ of a Module)
    set_("N", population_sizes(N))
    n_pop = len(model.N)
    if not (isinstance(dt, (int, float, np.floating)) and dt > 0):
        raise ValueError(f"dt must be a positive number (ms), got dt={dt!r}")
    set_("dt", float(dt))
    set_("family", _broadcast(family, n_pop, "family"))
    check_positive("tau_h", tau_h)
    check_positive("tau_s", tau_s, strict=False)
    set_("tau_h", _broadcast(jnp.asarray(tau_h, float), n_pop, "tau_h"))
    set_("tau_s", _broadcast(jnp.asarray(tau_s, float), n_pop, "tau_s"))
    set_("h_init", _broadcast(jnp.asarray(h_init, float), n_pop, "h_init"))
    J = jnp.asarray(J, float)
    J = jnp.full((n_pop, n_pop), J) if J.ndim == 0 else J
    if J.shape != (n_pop, n_pop):
        raise ValueError(f"J must be a scalar or have shape ({n_pop}, {n_pop}) (target x source), got {J.shape}")
    set_("J", J)
    delay = model.dt if delay is None else float(delay)
    d = int(round(delay / model.dt))
    if d < 1 or abs(d * model.dt - delay) > 1e-9 * max(delay, 1.0):
        raise ValueError(f"delay must be a whole number of steps dt = {model.dt} ms, at least one, got delay={delay!r}")
    set_("d_steps", d)


class RefractoryDensity(AbstractModel):
    r"""Refractory-density equation of renewal neurons, deterministic (:math:`N\to\infty`) or with finite-size
    counts (module docs for the equations and the discretisation).

    Parameters
    ----------
    family : RenewalFamily or AbstractRenewal
        Hazard :math:`\rho(\tau, h)` (:class:`~jaxpop.analysis.renewal.RenewalFamily`; a bare renewal model gets its
        default input field and the identity transfer). Parameters are scalars or one per population.
    N : int or tuple of int
        Neurons per population (structure). Also the population count for ``'mean_field'``.
    dt : float
        Time step (ms, static): the age bins are :math:`\Delta t` wide.
    tau_h : float or array (n_pop,)
        Input time constant :math:`\tau_h` (ms), > 0.
    J : float or array (n_pop, n_pop)
        Coupling :math:`J_{\alpha\beta}` (mV·s), target × source.
    tau_s : float or array (n_pop,)
        Synaptic time constant of each source population (ms), >= 0 (0: no synaptic filter).
    delay : float
        Transmission delay :math:`d` (ms, structure: a whole number of steps, at least one step; default ``dt``).
    h_init : float or array (n_pop,)
        Initial input potential (mV).
    variant : {'mean_field', 'lambda', 'naive'}
        :math:`N\to\infty` (default), finite size with the Λ correction, or without it.
    counts, mode, temperature, support
        Count law and sampling mode of the finite-size variants, as in :class:`~jaxpop.meso.SchwalgerMeso`.
    history : int, optional
        Age bins per population (structure). Default: from the hazard at ``h_init``, the first age
        :math:`\tau \ge` dead time :math:`+ 2\Delta t` where either the hazard has settled,
        :math:`|\rho(\tau') - \rho_\infty| \le 10^{-6}\rho_\infty` for all :math:`\tau' \ge \tau` (on a grid to
        :math:`t_{max}`), or the survivor function is below :math:`10^{-10}`; at most ``t_max``.
    t_max : float
        Longest automatic window (ms), default 2000.
    scheme : {'midpoint', 'nest'}
        Time discretisation (module docs).
    init : {'free', 'synchronous', 'stationary'}
        Initial ages: all neurons older than the window (as ``SchwalgerMeso``), all just fired (a synchronous start,
        Pietras et al. Fig. 5), or the stationary density :math:`N r_0 S(\tau)\Delta t` at ``h_init``.

    References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020),
    doi:10.1103/PhysRevE.102.022407; T. Schwalger, M. Deger, W. Gerstner, PLoS Comput. Biol. 13, e1005507 (2017).
    """

    family: RenewalFamily
    tau_h: jax.Array
    J: jax.Array
    tau_s: jax.Array
    h_init: jax.Array
    N: tuple[int, ...] = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    d_steps: int = eqx.field(static=True)
    K: int = eqx.field(static=True)
    variant: str = eqx.field(static=True)
    counts: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    temperature: float = eqx.field(static=True)
    support: int = eqx.field(static=True)
    scheme: str = eqx.field(static=True)
    init_ages: str = eqx.field(static=True)

    accumulated: ClassVar[tuple[str, ...]] = ("A", "A_bar")
    summed: ClassVar[tuple[str, ...]] = ("n",)
    default_record: ClassVar[tuple[str, ...]] = ("A",)

    def __init__(self, family, *, N, dt: float, tau_h=10.0, J=0.0, tau_s=0.0, delay=None, h_init=0.0,
                 variant: str = "mean_field", counts: str = "binomial", mode: str = "exact",
                 temperature: float = spikes.DEFAULT_TEMPERATURE, support: int | None = None, history=None,
                 t_max: float = 2000.0, scheme: str = "midpoint", init: str = "free"):
        cohorts.check_options(variant, counts, scheme, mode, "RefractoryDensity")
        if init not in INITS:
            raise ValueError(f"RefractoryDensity: init must be one of {INITS}, got {init!r}")
        set_input_fields(self, family, N, dt, tau_h, J, tau_s, delay, h_init)
        self.variant, self.counts, self.mode, self.scheme, self.init_ages = variant, counts, mode, scheme, init
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got temperature={temperature!r}")
        self.temperature = float(temperature)
        if support is None:
            support = spikes.count_support(self.N, "poisson" if counts == "poisson" else "binomial")
        self.support = int(support)
        if history is None:
            history = self._auto_history(float(t_max))
        elif not (isinstance(history, (int, np.integer)) and history >= 2):
            raise ValueError(f"history must be an int >= 2 (age bins), got history={history!r}")
        self.K = int(history)
        if is_concrete(self.family, self.tau_h):
            bad = np.asarray(self._window_too_short())
            if np.any(bad):
                i = int(np.argmax(bad))
                raise ValueError(f"history = {self.K} bins ({self.K * self.dt} ms) is shorter than the dead time "
                                 f"{float(self._dead_time()[i])} ms of population {i} plus two steps")

    # ------------------------------------------------------------------ structure
    def _dead_time(self):
        return jax.vmap(lambda f: f.renewal.dead_time())(self.family)

    def _window_too_short(self):
        return self._dead_time() > (self.K - 2) * self.dt

    def runtime_checks(self, dt):
        return ((self._window_too_short(), f"the age window K = {self.K} bins (dt = {self.dt} ms), sized at "
                                           "construction, is shorter than the dead time plus two steps for the current "
                                           "parameter values; build the model again (or pass a longer history=)"),)

    def _auto_history(self, t_max: float) -> int:
        if not is_concrete(self.family, self.h_init):
            raise ValueError("history: the automatic age window is computed from concrete parameter values; with traced "
                             "parameters pass history= (e.g. the K of a model built from concrete values)")
        n_steps = int(np.ceil(t_max / self.dt))
        tau = (np.arange(1, n_steps + 1)) * self.dt
        K = 2
        for i in range(len(self.N)):
            r = jax.tree.map(lambda x: x[i] if isinstance(x, jax.Array) and x.ndim else x, self.family).at(self.h_init[i])
            rho = np.asarray(r.hazard(jnp.asarray(tau)))
            S = np.asarray(r.survivor(jnp.asarray(tau)))
            rho_inf = float(r.asymptotic_hazard())
            off = np.abs(rho - rho_inf) > 1e-6 * max(rho_inf, 1e-300)
            settled = np.ones(n_steps, bool)
            settled[: (np.nonzero(off)[0].max() + 1) if off.any() else 0] = False
            done = settled | (S < 1e-10)
            first = int(np.argmax(done)) + 1 if done.any() else n_steps
            k_dead = int(np.ceil(float(r.dead_time()) / self.dt - _SNAP))
            K = max(K, first + 1, k_dead + 2)
        return K

    @property
    def n_pop(self) -> int:
        return len(self.N)

    @property
    def drive_shape(self):
        return (self.n_pop,)

    def check_dt(self, dt):
        if abs(float(dt) - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"dt = {dt} differs from the dt = {self.dt} ms this RefractoryDensity was built for (its "
                             f"age bins are dt wide); construct it with dt={dt}")

    def observable_dims(self):
        return {k: ("population",) for k in ("A", "n", "A_bar", "h", "mass")}

    # ------------------------------------------------------------------ hazards
    def _offset(self) -> float:
        """Age (in steps) of a cohort of age index a at the end of a step, minus a: 1 ('nest') or 3/2 ('midpoint')."""
        return 1.0 if self.scheme == "nest" else 1.5

    def _hazards(self, h, age):
        """Hazard at the end of the step of every cohort, its active fraction, the hazard at the release from the dead
        time, the free pool's and the newborn cohort's hazard, at input ``h`` (n_pop,) for age indices ``age``."""
        off, dt = self._offset(), self.dt

        def one(fam, h_i, a):
            r = fam.at(h_i)
            dead = r.dead_time()
            frac, lam_end, lam_dead = step_hazard(r, (a + off) * dt, dt)
            birth = (off - 1.0) * dt  # age of a cohort when it is written: 0 ('nest') or dt / 2 ('midpoint')
            lam_birth = jnp.where(birth >= dead + _SNAP * dt, r.hazard(birth), 0.0)
            return lam_end, frac, lam_dead, r.asymptotic_hazard(), lam_birth

        return jax.vmap(one)(self.family, h, age)

    # ------------------------------------------------------------------ model
    def init(self, key=None) -> RDState:
        n_pop, K = self.n_pop, self.K
        N = jnp.asarray(self.N, float)
        zeros = jnp.zeros((n_pop, K))
        z1 = jnp.zeros(n_pop)
        oldest = jnp.zeros(n_pop, jnp.int32)
        _, age = cohorts.ring((K,) * n_pop, oldest)  # slot s holds age index K - 1 - s
        h = self.h_init
        lam = zeros
        if self.init_ages == "free":
            m = zeros.at[:, 0].set(N)  # all in the oldest bin: they join the free pool in the first step
        elif self.init_ages == "synchronous":
            m = zeros.at[:, K - 1].set(N)  # all in the youngest cohort (just fired)
            lam = lam.at[:, K - 1].set(self._hazards(h, age)[4])
        else:  # stationary density N r0 S(tau) dt at the cohorts' present ages, the rest in the free pool
            off = self._offset() - 1.0

            def dens(fam, h_i, a):
                r = fam.at(h_i)
                return r.rate() * _MS * self.dt * r.survivor((a + off) * self.dt)

            m = N[:, None] * jax.vmap(dens)(self.family, h, age)
            x = N - jnp.sum(m, axis=1)
            # hazard at the start of the first step: what the previous step stored for each cohort
            lam_end, _, _, _, lam_birth = self._hazards(h, age - 1)
            lam = jnp.where(age == 0, lam_birth[:, None], lam_end)
            return RDState(m=m, v=zeros, lam=lam, oldest=oldest, x=x, z=z1, lam_free=self._hazards(h, age)[3], h=h,
                           s=z1, hist=jnp.zeros((self.d_steps, n_pop)), count=z1, n_bar=z1)
        return RDState(m=m, v=zeros, lam=lam, oldest=oldest, x=z1, z=z1, lam_free=z1, h=h, s=z1,
                       hist=jnp.zeros((self.d_steps, n_pop)), count=z1, n_bar=z1)

    def expected_count(self, state: RDState, t, dt, drive) -> _Pre:
        """Everything up to the expected count of the step (the predict half of the fitting seam)."""
        h_dt, N = self.dt, jnp.asarray(self.N, float)
        # input: the count emitted d steps ago, filtered by the synapse, drives h over the step
        A_in = state.hist[self.d_steps - 1] / (N * h_dt * _MS)
        h, s = input_step(state.h, state.s, A_in, jnp.asarray(drive(t + 0.5 * h_dt), float), self.J, self.tau_h,
                          self.tau_s, h_dt)
        _, age = cohorts.ring((self.K,) * self.n_pop, state.oldest)
        lam_end, frac, lam_dead, lam_inf, lam_birth = self._hazards(h, age)
        partial = (frac > 0) & (frac < 1)
        lam_start = jnp.where(partial, lam_dead[:, None], state.lam)
        P = cohorts.escape_probability(lam_start, lam_end, frac, h_dt, self.scheme)
        P_free = cohorts.escape_probability(state.lam_free, lam_inf, 1.0, h_dt, "midpoint")
        sv = cohorts.survive(state.m, state.v, state.x, state.z, P, P_free, state.oldest, N,
                             naive=self.variant == "naive")
        new = state._replace(m=sv.m, v=sv.v, lam=lam_end, x=sv.x, z=sv.z, lam_free=lam_inf, h=h, s=s)
        return _Pre(new, sv.n_bar, sv.mass, lam_birth)

    def add_count(self, pre: _Pre, count) -> RDState:
        """The new cohort ``count`` replaces the oldest one in the ring; the ring advances."""
        st = pre.state
        count = jnp.asarray(count, float)
        zero = jnp.zeros_like(count)
        return st._replace(
            m=cohorts.write(st.m, st.oldest, count), v=cohorts.write(st.v, st.oldest, zero),
            lam=cohorts.write(st.lam, st.oldest, pre.lam_birth), oldest=cohorts.advance_ring(st.oldest, self.K),
            hist=jnp.concatenate([count[None], st.hist[:-1]], axis=0), count=count, n_bar=pre.n_bar)

    def sample_count(self, key, n_bar):
        return cohorts.sample_count(key, n_bar, self.N, variant=self.variant, counts=self.counts, mode=self.mode,
                                    temperature=self.temperature, support=self.support, owner="RefractoryDensity")

    def count_law(self, pre: _Pre) -> spikes.CountLaw:
        """The law :meth:`sample_count` draws from (:func:`jaxpop.meso.cohorts.count_law`)."""
        return cohorts.count_law(pre.n_bar, self.N, variant=self.variant, counts=self.counts, mode=self.mode)

    def step(self, state, t, dt, drive, key):
        pre = self.expected_count(state, t, dt, drive)
        return self.add_count(pre, self.sample_count(key, pre.n_bar))

    def observe(self, state):
        N = jnp.asarray(self.N, float)
        scale = 1.0 / (N * self.dt * _MS)
        return {"A": state.count * scale, "n": state.count, "A_bar": state.n_bar * scale, "h": state.h,
                "mass": (jnp.sum(state.m, axis=1) + state.x) / N}
