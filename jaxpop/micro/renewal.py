r"""Network of renewal neurons driven by a common input potential: the microscopic model of the refractory-density
equation (:class:`jaxpop.meso.RefractoryDensity`; Pietras, Gallice & Schwalger 2020).

Neuron :math:`i` of population :math:`\alpha` fires with the hazard :math:`\rho_\alpha(\tau_i, h_\alpha(t))` of its age
:math:`\tau_i` (time since its last spike) and of its population's input potential,

.. math::

    \tau_h \dot h_\alpha = -h_\alpha + I_\alpha(t) + \sum_\beta J_{\alpha\beta}\,s_\beta(t), \qquad
    \tau_s \dot s_\beta = -s_\beta + A_{N,\beta}(t - d), \qquad
    A_{N,\beta}(t) = \frac{1}{N_\beta}\sum_{i\in\beta}\sum_k \delta(t - t_i^k),

with the hazard family of a :class:`~jaxpop.analysis.renewal.RenewalFamily` (PAR, Gamma, PIF, escape-noise LIF).
For a constant input every neuron is a renewal process with the ISI density of that model — exactly, whatever the
model's own mechanism (a PIF's inverse-Gaussian ISIs are drawn from its hazard, not from a membrane SDE); with
time-dependent input the hazard follows the present input (the quasi-renewal picture of the refractory-density
equation).

Time step: a neuron of age :math:`\tau` at the start of a step fires in it with probability
:math:`1 - \exp\{-\tfrac12[\rho(\tau, h(t)) + \rho(\tau + \Delta t, h(t + \Delta t))]\,f\,\Delta t\}` (:math:`f`: the
fraction of the step past the dead time, whose start uses the hazard at the release), and its spike is placed at the
step's midpoint (age :math:`\Delta t/2` at the step's end): the microscopic twin of ``RefractoryDensity``'s
``scheme='midpoint'``. The input is integrated as there (:func:`jaxpop.meso.refractory_density.input_step`).

Units: ms, mV, Hz; :math:`J` in mV·s. Observables: ``"A"`` population activity (Hz, averaged over a recording block),
``"n"`` population counts (summed), ``"h"`` (mV), ``"spikes"`` per neuron (summed).

References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020), doi:10.1103/PhysRevE.102.022407;
W. Gerstner, W. M. Kistler, *Spiking Neuron Models* (Cambridge, 2002), ch. 5–6.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..analysis.renewal import RenewalFamily
from ..core import spikes
from ..core.model import AbstractModel, check_positive
from ..meso.refractory_density import input_step, set_input_fields, step_hazard

INITS = ("free", "synchronous", "stationary")
_OLD = 1e7  # age (ms) of a neuron that fired "long ago" (init='free')
_MS = 1e-3


class RenewalState(NamedTuple):
    age: jax.Array  # (n_total,) age at the start of the next step (ms)
    lam: jax.Array  # (n_total,) hazard at that age (Hz; 0 within the dead time)
    h: jax.Array  # (n_pop,)
    s: jax.Array  # (n_pop,)
    hist: jax.Array  # (D, n_pop) past counts
    spikes: jax.Array  # (n_total,) spikes of the last step
    count: jax.Array  # (n_pop,)


class RenewalNetwork(AbstractModel):
    r"""Network of renewal neurons with a common input potential per population (module docs).

    Parameters
    ----------
    family : RenewalFamily or AbstractRenewal
        Hazard :math:`\rho(\tau, h)`; parameters are scalars or one per population.
    N : int or tuple of int
        Neurons per population (structure).
    dt : float
        Time step (ms, static).
    tau_h, J, tau_s, delay, h_init
        Input dynamics, as :class:`jaxpop.meso.RefractoryDensity` (ms, mV·s, ms, ms, mV).
    mode : str
        Spike sampling mode of :mod:`jaxpop.spikes` (``'exact'``, ``'gumbel'``, ``'straight_through'``).
    temperature : float
        Relaxation temperature of the relaxed modes.
    init : {'free', 'synchronous', 'stationary'}
        Initial ages: long ago (:math:`10^7` ms), all at :math:`\Delta t/2` (a synchronous spike at the middle of the
        step before :math:`t_0`), or drawn from the stationary age density :math:`r_0 S(\tau)` at ``h_init``
        (on the grid :math:`(k + \tfrac12)\Delta t` up to ``t_max``; older ages as ``'free'``).
    t_max : float
        Longest age (ms) of the ``'stationary'`` draw (default 2000).
    """

    family: RenewalFamily
    tau_h: jax.Array
    J: jax.Array
    tau_s: jax.Array
    h_init: jax.Array
    N: tuple[int, ...] = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    d_steps: int = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    temperature: float = eqx.field(static=True)
    init_ages: str = eqx.field(static=True)
    t_max: float = eqx.field(static=True)

    accumulated: ClassVar[tuple[str, ...]] = ("A",)
    summed: ClassVar[tuple[str, ...]] = ("n", "spikes")
    default_record: ClassVar[tuple[str, ...]] = ("A",)

    def __init__(self, family, *, N, dt: float, tau_h=10.0, J=0.0, tau_s=0.0, delay=None, h_init=0.0,
                 mode: str = "exact", temperature: float = spikes.DEFAULT_TEMPERATURE, init: str = "free",
                 t_max: float = 2000.0):
        if init not in INITS:
            raise ValueError(f"RenewalNetwork: init must be one of {INITS}, got {init!r}")
        spikes.check_mode(mode)
        set_input_fields(self, family, N, dt, tau_h, J, tau_s, delay, h_init)
        self.mode = mode
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got temperature={temperature!r}")
        self.temperature = float(temperature)
        self.init_ages = init
        check_positive("t_max", t_max)
        self.t_max = float(t_max)

    @property
    def n_pop(self) -> int:
        return len(self.N)

    @property
    def drive_shape(self):
        return (self.n_pop,)

    def _pop(self):
        return np.repeat(np.arange(self.n_pop), self.N)

    def check_dt(self, dt):
        if abs(float(dt) - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"dt = {dt} differs from the dt = {self.dt} ms this RenewalNetwork was built for; "
                             f"construct it with dt={dt}")

    def observable_dims(self):
        return {"A": ("population",), "n": ("population",), "h": ("population",), "spikes": ("neuron",)}

    def _neuron_hazard(self, h, age_end):
        """Fraction past the dead time, hazard at the step's end and at the release, per neuron."""
        pop = self._pop()
        fam = jax.tree.map(lambda x: x[pop], self.family)
        return jax.vmap(lambda f, h_i, a: step_hazard(f.at(h_i), a, self.dt))(fam, h[pop], age_end)

    def init(self, key) -> RenewalState:
        n = sum(self.N)
        pop = self._pop()
        h = self.h_init
        if self.init_ages == "free":
            age = jnp.full((n,), _OLD)
        elif self.init_ages == "synchronous":
            age = jnp.full((n,), 0.5 * self.dt)
        else:
            grid = (np.arange(int(np.ceil(self.t_max / self.dt))) + 0.5) * self.dt

            def weights(fam, h_i):
                r = fam.at(h_i)
                w = r.rate() * _MS * self.dt * r.survivor(jnp.asarray(grid))
                return jnp.log(jnp.concatenate([w, jnp.maximum(1 - jnp.sum(w, keepdims=True), 1e-300)]))

            logw = jax.vmap(weights)(self.family, h)  # (n_pop, len(grid) + 1): the last entry is "older"
            k = jax.random.categorical(key, logw[pop], axis=-1)
            ages = jnp.concatenate([jnp.asarray(grid), jnp.array([_OLD])])
            age = ages[k]
        # hazard at the start of the first step (0 within the dead time)
        frac, lam, _ = self._neuron_hazard(h, age)
        z = jnp.zeros(self.n_pop)
        return RenewalState(age=age, lam=lam, h=h, s=z, hist=jnp.zeros((self.d_steps, self.n_pop)),
                            spikes=jnp.zeros(n), count=z)

    def step(self, state: RenewalState, t, dt, drive, key) -> RenewalState:
        N = jnp.asarray(self.N, float)
        A_in = state.hist[self.d_steps - 1] / (N * self.dt * _MS)
        h, s = input_step(state.h, state.s, A_in, jnp.asarray(drive(t + 0.5 * self.dt), float), self.J, self.tau_h,
                          self.tau_s, self.dt)
        age_end = state.age + self.dt
        frac, lam_end, lam_dead = self._neuron_hazard(h, age_end)
        partial = (frac > 0) & (frac < 1)
        lam_start = jnp.where(partial, lam_dead, state.lam)
        p = -jnp.expm1(-0.5 * (lam_start + lam_end) * frac * self.dt * _MS)
        spk = spikes.bernoulli(key, p, mode=self.mode, temperature=self.temperature)
        fired = spk > 0.5
        birth = jnp.full_like(age_end, 0.5 * self.dt)
        _, lam_birth, _ = self._neuron_hazard(h, birth)
        count = jax.ops.segment_sum(spk, jnp.asarray(self._pop()), num_segments=self.n_pop)
        return RenewalState(age=jnp.where(fired, birth, age_end), lam=jnp.where(fired, lam_birth, lam_end), h=h, s=s,
                            hist=jnp.concatenate([count[None], state.hist[:-1]], axis=0), spikes=spk, count=count)

    def observe(self, state):
        N = jnp.asarray(self.N, float)
        return {"A": state.count / (N * self.dt * _MS), "n": state.count, "h": state.h, "spikes": state.spikes}
