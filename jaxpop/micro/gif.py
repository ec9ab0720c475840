r"""Networks of generalized integrate-and-fire (GIF) neurons with escape noise, in discrete time.

The microscopic model behind the mesoscopic population equations of Schwalger, Deger &
Gerstner (2017) (:class:`jaxpop.meso.SchwalgerMeso`), simulated neuron by neuron exactly as
NEST's ``gif_psc_exp`` does (same update order within a step). Neuron :math:`i` of population
:math:`\alpha`:

.. math::

    \tau_m \dot u_i &= -u_i + \mu + I^{\rm ext}(t) + \tau_m \sum_\beta J^{\alpha\beta}
        \sum_{j \in \beta,\,k} \varepsilon^{\alpha\beta}(t - t_j^k - d^{\alpha\beta}),\qquad
        \varepsilon(s) = \Theta(s)\,e^{-s/\tau_s}/\tau_s, \\
    \vartheta_i &= V_T^* + \sum_j g_{ij},\qquad g_{ij} \to g_{ij} e^{-dt/\tau_{{\rm sfa},j}},\quad
        g_{ij} \to g_{ij} + q_{{\rm sfa},j} \text{ at each spike of } i, \\
    \lambda_i &= \lambda_0 \exp\big[(u_i - \vartheta_i)/\Delta_V\big],\qquad
        P(\text{spike in } [t, t+dt)) = 1 - e^{-\lambda_i\,dt},

with :math:`\tau_s` = ``tau_syn_ex`` of the target population for :math:`J \ge 0` and ``tau_syn_in``
for :math:`J < 0`. :math:`J^{\alpha\beta}` (mV) is the voltage jump of the equivalent delta pulse
(NEST PSC amplitude :math:`J C_m/\tau_s` pA). Units: ms, mV, Hz (``lambda_0``).

**One step** :math:`[t, t+dt)` (the order of NEST ``gif_psc_exp::update``):

1. the threshold :math:`\vartheta_i = V_T^* + \sum_j g_{ij}` is read, then the :math:`g_{ij}` decay;
2. the synaptic currents decay, :math:`y \leftarrow y\,e^{-dt/\tau_s}`, and the spikes due in this
   step are added (:math:`J/\tau_s` per presynaptic spike);
3. refractory neurons (a counter of :math:`t_{ref}/dt` steps after the spike step) are held at
   :math:`V_{reset}`; the others integrate exactly over the step,
   :math:`u \leftarrow u\,e^{-dt/\tau_m} + (\mu + I^{\rm ext})(1 - e^{-dt/\tau_m}) + P_{21}^{\rm ex} y_{\rm ex}
   + P_{21}^{\rm in} y_{\rm in}` with :math:`P_{21} = \tau_m\tau_s(e^{-dt/\tau_s} - e^{-dt/\tau_m})/(\tau_s - \tau_m)`,
   evaluate :math:`\lambda_i` with the new :math:`u_i` and spike with probability
   :math:`1 - e^{-\lambda_i dt}` (:func:`jaxpop.spikes.bernoulli`);
4. a spiking neuron is reset to :math:`V_{reset}`, its :math:`g_{ij}` jump by :math:`q_{{\rm sfa},j}`, and
   its spike reaches its targets :math:`d^{\alpha\beta}/dt` steps later (a ring buffer of input per
   target neuron; per target population with all-to-all coupling, whose neurons all receive the same
   input). So a spike at step :math:`k` is felt in step :math:`k + d/dt`, and the next spike of
   the same neuron can come at step :math:`k + t_{ref}/dt + 1` at the earliest.

NEST differences: for ``t_ref = 0`` NEST does not reset the membrane (its reset happens in the
refractory branch); here the neuron is always reset. Delays must be at least one step (as in NEST).

**Connectivity.**

* ``'fixed_indegree'`` (default; NEST ``fixed_indegree`` with its defaults ``allow_autapses``,
  ``allow_multapses``): every neuron of :math:`\alpha` draws :math:`K^{\alpha\beta} =
  \operatorname{round}(p^{\alpha\beta} N^\beta)` presynaptic partners in :math:`\beta` uniformly *with*
  replacement, weight :math:`J^{\alpha\beta}`. The partners are drawn once, vectorised, from ``seed`` and
  stored as an int32 index array ``pre`` of shape ``(N_total, sum_beta max_alpha K^{alpha beta})``
  (the column block of source :math:`\beta` padded with a dummy index for targets with fewer partners);
  the input is a gather of the presynaptic spike vector, :math:`O(N K)` memory and work per step.
* ``'all_to_all'``: every neuron of :math:`\beta` projects to every neuron of :math:`\alpha` (autapses
  included) with weight :math:`J^{\alpha\beta} p^{\alpha\beta}`.

Both give the mean field :math:`J^{\alpha\beta} p^{\alpha\beta} N^\beta` of the mesoscopic model.

**Relaxed modes** (``mode`` = ``'gumbel'``, ``'straight_through'``, ``'gaussian'``, see
:mod:`jaxpop.core.spikes`): the (possibly soft) spike :math:`s_i` enters the reset
:math:`u \leftarrow u + s_i (V_{reset} - u)`, the threshold jump :math:`q s_i` and the synaptic
input linearly; the refractory counter starts when :math:`s_i > 1/2` (no gradient). In
``'straight_through'`` the forward run is the exact one, so it is the mode to use for gradients
of a faithful simulation; ``'gumbel'`` and ``'gaussian'`` change the forward dynamics. All three
relaxed gradients are biased; their measured bias for :math:`d\langle A\rangle/d\mu` against renewal
theory, and the reason for the default temperature 0.5, are in ``docs/measurements.md``.

**Cost.** The fixed in-degree input is a gather of :math:`N K` spike values per step, whatever the
rate; on CPU this dominates (timings against NEST's event-driven ``gif_psc_exp`` on the E–I network
of NEST's ``gif_pop_psc_exp`` example: ``benchmarks/README.md``). All-to-all coupling costs
:math:`O(N)` per step.

**Time step.** The delay ring buffer has a static length ``max(delay)/dt``, so the network is built
for one ``dt`` (required keyword) and :meth:`check_dt` rejects any
other. ``t_ref`` and the delays must be whole numbers of steps (``GIFParams.check_dt``). The escape
probability :math:`1 - e^{-\lambda dt}` is valid for any hazard, so ``dt`` is not bounded by
:math:`\lambda`; but the discrete-time model (at most one spike per step and neuron) approximates the
continuous one only while :math:`\lambda\,dt \ll 1`.

**Initial state** (as NEST ``gif_pop_psc_exp``): :math:`u_i = 0` (the leak potential), no
adaptation, no synaptic current, nobody refractory.

Observables: ``A`` (population activity, spikes per neuron and second, Hz, per population; averaged
over recording blocks), ``spikes`` (per neuron, summed over recording blocks), ``u_mean`` (mean
membrane potential per population, refractory neurons at :math:`V_{reset}`), ``theta_mean`` (mean
threshold :math:`V_T^* + \sum_j g_{ij}` that the next step will use, per population).

References: T. Schwalger, M. Deger, W. Gerstner, *Towards a theory of cortical columns: From
spiking neurons to interacting neural populations of finite size*, PLoS Comput. Biol. 13,
e1005507 (2017), doi:10.1371/journal.pcbi.1005507; NEST ``gif_psc_exp`` (Pozzorini et al. 2015,
doi:10.1371/journal.pcbi.1004275).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.gif_params import GIFParams
from ..core.model import AbstractModel, is_concrete
from ..core.spikes import DEFAULT_TEMPERATURE, bernoulli, check_mode, escape_probability

CONNECTIVITIES = ("fixed_indegree", "all_to_all")


def _expm1_over(x):
    """:math:`(e^x - 1)/x`, 1 at 0, safe for gradients."""
    small = jnp.abs(x) < 1e-8
    xs = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 + x / 2, jnp.expm1(xs) / xs)


def _psc_propagator(tau_m, tau_s, dt):
    r"""Membrane response at the end of a step to a unit exponential current at its start.

    :math:`P_{21} = \int_0^{dt} e^{-(dt-s)/\tau_m} e^{-s/\tau_s} ds = dt\,e^{-dt/\tau_m}\,(e^x-1)/x`,
    :math:`x = dt(1/\tau_m - 1/\tau_s)`: finite for :math:`\tau_s = \tau_m`.
    """
    return dt * jnp.exp(-dt / tau_m) * _expm1_over(dt * (1.0 / tau_m - 1.0 / tau_s))


class GIFNetwork(AbstractModel):
    r"""A network of GIF neurons with escape noise and exponential PSCs (NEST ``gif_psc_exp``).

    Parameters
    ----------
    params : GIFParams
        Per-population parameters (ms, mV, Hz); see :mod:`jaxpop.core.gif_params`.
    connectivity : {'fixed_indegree', 'all_to_all'}
        See the module docs. Static.
    mode : str
        Spike sampling mode of :func:`jaxpop.spikes.bernoulli`. Static.
    temperature : float
        Relaxation temperature of ``'gumbel'`` / ``'straight_through'``. Static.
    seed : int
        Seed of the fixed in-degree connectivity. Static.
    dt : float
        Time step (ms) the network is built for (delay buffer length); keyword, required, as for
        :class:`jaxpop.meso.SchwalgerMeso`. Static.

    Drive: an input potential (mV) per population, added to ``mu`` (``drive_shape = (n_pop,)``),
    evaluated at the middle of each step.
    """

    params: GIFParams
    pre: jax.Array | None
    connectivity: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    temperature: float = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    delay_steps: tuple = eqx.field(static=True)  # (n_pop, n_pop) nested tuple of ints
    k_blocks: tuple = eqx.field(static=True)  # column block width per source population
    k_in: tuple = eqx.field(static=True)  # fixed in-degree: partners per (target, source) population; () all-to-all
    ref_steps: tuple = eqx.field(static=True)  # per population

    accumulated = ("A",)
    summed = ("spikes",)
    default_record = ("A",)

    def __init__(self, params: GIFParams, *, dt: float, connectivity="fixed_indegree", mode="exact",
                 temperature=DEFAULT_TEMPERATURE, seed=0):
        if not isinstance(params, GIFParams):
            raise ValueError(f"params must be a GIFParams, got {type(params).__name__}")
        if connectivity not in CONNECTIVITIES:
            raise ValueError(f"connectivity must be one of {CONNECTIVITIES}, got {connectivity!r}")
        check_mode(mode)
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got temperature={temperature!r}")
        dt = float(dt)
        params.check_dt(dt)
        delay = np.asarray(params.delay)
        if np.any(delay < dt * (1 - 1e-9)):
            raise ValueError(f"delay must be >= dt = {dt} ms (at least one step, as in NEST), got delay={delay!r}")
        self.params = params
        self.connectivity = connectivity
        self.mode = mode
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.dt = dt
        self.delay_steps = tuple(tuple(int(v) for v in row) for row in np.rint(delay / dt).astype(int))
        self.ref_steps = tuple(int(v) for v in np.rint(np.asarray(params.t_ref) / dt).astype(int))
        if connectivity == "fixed_indegree":
            if not is_concrete(params.p):
                raise ValueError("p: the fixed in-degree graph is drawn from concrete connection probabilities (it "
                                 "sets the graph's shape); build the network outside jit / grad, or use "
                                 "connectivity='all_to_all', where p is a parameter")
            self.pre, self.k_blocks = _fixed_indegree(params.N, np.asarray(params.p), self.seed)
            self.k_in = tuple(map(tuple, _indegree(params.N, np.asarray(params.p)).tolist()))
        else:
            self.pre, self.k_blocks, self.k_in = None, (), ()

    @classmethod
    def from_meso(cls, meso, **kwargs):
        """The microscopic twin of a :class:`jaxpop.meso.SchwalgerMeso`: same ``params`` and ``dt``."""
        return cls(meso.params, dt=meso.dt, **kwargs)

    # ------------------------------------------------------------------ structure
    @property
    def n_pop(self) -> int:
        return self.params.n_pop

    @property
    def n_neurons(self) -> int:
        return int(sum(self.params.N))

    @property
    def drive_shape(self):
        return (self.n_pop,)

    def observable_dims(self):
        return {"A": ("population",), "u_mean": ("population",), "theta_mean": ("population",),
                "spikes": ("neuron",)}

    @property
    def indegree(self) -> np.ndarray:
        r""":math:`K^{\alpha\beta} = \operatorname{round}(p^{\alpha\beta} N^\beta)` (target, source) of the
        fixed in-degree graph (drawn at construction; ``connectivity='fixed_indegree'`` only)."""
        if self.connectivity != "fixed_indegree":
            raise ValueError("indegree: an all-to-all network has no fixed in-degree graph")
        return np.asarray(self.k_in, dtype=np.int64)

    def _pop_index(self):
        return np.repeat(np.arange(self.n_pop), self.params.N)

    def _per_neuron(self, x):
        """Per-population array (n_pop, ...) -> per-neuron (N_total, ...)."""
        return jnp.concatenate([jnp.broadcast_to(x[a], (n,) + x.shape[1:]) for a, n in enumerate(self.params.N)])

    def _pop_mean(self, x):
        out, start = [], 0
        for n in self.params.N:
            out.append(jnp.mean(x[start:start + n]))
            start += n
        return jnp.stack(out)

    def _pop_sum(self, x):
        out, start = [], 0
        for n in self.params.N:
            out.append(jnp.sum(x[start:start + n]))
            start += n
        return jnp.stack(out)

    @property
    def _n_slots(self) -> int:
        return max(1, max(max(row) for row in self.delay_steps))

    def runtime_checks(self, dt):
        r"""Fixed in-degree: the graph drawn at construction has :math:`K = \operatorname{round}(pN)`
        partners; a changed ``p`` must not be silently ignored."""
        if self.connectivity != "fixed_indegree":
            return ()
        K = jnp.rint(self.params.p * jnp.asarray(self.params.N, dtype=self.params.p.dtype)[None, :])
        bad = K != jnp.asarray(self.indegree, dtype=K.dtype)
        return ((bad, "the fixed in-degree graph was drawn for other connection probabilities p (in-degrees "
                      f"{self.indegree.tolist()}); p sets this network's structure: build a new GIFNetwork for the new "
                      "p (or use connectivity='all_to_all', where p scales the weights)"),)

    def check_dt(self, dt):
        self.params.check_dt(dt)
        if abs(float(dt) - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"dt = {dt} ms differs from the dt = {self.dt} ms this GIFNetwork was built for "
                             f"(its delay buffer depends on dt): build it with GIFNetwork(..., dt={dt})")

    # ------------------------------------------------------------------ dynamics
    def init(self, key):
        n, nk = self.n_neurons, self.params.n_kernels
        return {
            "u": jnp.zeros((n,)),
            "ref": jnp.zeros((n,), dtype=jnp.int32),
            "g": jnp.zeros((n, nk)),
            "I": jnp.zeros((n, 2)),  # synaptic currents / C_m (mV/ms): excitatory, inhibitory
            # delayed input (mV per step slot), per target neuron; all-to-all: per target population (all its
            # neurons receive the same input)
            "buf": jnp.zeros((self._n_slots, 2, len(self._buffer_rows()))),
            "ptr": jnp.zeros((), dtype=jnp.int32),
            "s": jnp.zeros((n,)),
        }

    def _buffer_rows(self):
        """Population of each row of the delay buffer: one row per neuron, or per population (all-to-all)."""
        return np.arange(self.n_pop) if self.connectivity == "all_to_all" else self._pop_index()

    def _input(self, s):
        """Input (mV, before the 1/tau_s of the PSC) each neuron receives from each source population."""
        P = self.params
        pop = self._pop_index()
        if self.connectivity == "all_to_all":
            counts = self._pop_sum(s)[None, :]
            w = (P.J * P.p)[pop]
        else:
            s_ext = jnp.concatenate([s, jnp.zeros((1,), s.dtype)])
            gathered = s_ext[self.pre]  # (N, sum K)
            cols = np.cumsum((0,) + self.k_blocks)
            counts = jnp.stack([jnp.sum(gathered[:, cols[b]:cols[b + 1]], axis=1) for b in range(self.n_pop)], axis=1)
            w = P.J[pop]
        return w * counts  # (N, n_pop)

    def step(self, state, t, dt, drive, key):
        P = self.params
        n = self.n_neurons
        pop = self._pop_index()
        # 1. threshold of this step, then adaptation decays
        theta = self._per_neuron(P.V_T_star) + jnp.sum(state["g"], axis=-1)
        decay_sfa = jnp.exp(-dt / jnp.where(P.tau_sfa > 0, P.tau_sfa, 1.0))
        g = state["g"] * self._per_neuron(decay_sfa)
        # 2. synaptic currents decay; input due now arrives
        tau_syn = jnp.stack([P.tau_syn_ex, P.tau_syn_in], axis=-1)  # (n_pop, 2)
        tau_syn_n = self._per_neuron(tau_syn)
        ptr = state["ptr"]
        arriving = state["buf"][ptr].T  # (rows, 2)
        if self.connectivity == "all_to_all":
            arriving = self._per_neuron(arriving)  # (N, 2)
        buf = state["buf"].at[ptr].set(0.0)
        I = state["I"] * jnp.exp(-dt / tau_syn_n) + arriving / tau_syn_n
        # 3. membrane: exact integration over the step (refractory neurons held at V_reset)
        tau_m = self._per_neuron(P.tau_m)
        p33 = jnp.exp(-dt / tau_m)
        mu = self._per_neuron(P.mu + jnp.broadcast_to(drive(t + 0.5 * dt), (self.n_pop,)))
        p21 = _psc_propagator(tau_m[:, None], tau_syn_n, dt)
        u_free = state["u"] * p33 + mu * (1.0 - p33) + jnp.sum(p21 * I, axis=-1)
        refractory = state["ref"] > 0
        V_reset = self._per_neuron(P.V_reset)
        u = jnp.where(refractory, V_reset, u_free)
        lam = self._per_neuron(P.lambda_0) * 1e-3 * jnp.exp((u - theta) / self._per_neuron(P.Delta_V))
        prob = jnp.where(refractory, 0.0, escape_probability(lam, dt))
        s = bernoulli(key, prob, mode=self.mode, temperature=self.temperature)
        s = jnp.where(refractory, 0.0, s)
        # 4. reset, adaptation jump, refractory counter, delayed transmission
        u = u + s * (V_reset - u)
        g = g + s[:, None] * self._per_neuron(P.q_sfa)
        ref_n = jnp.asarray(np.asarray(self.ref_steps, dtype=np.int32)[pop])
        fired = jax.lax.stop_gradient(s) > 0.5
        ref = jnp.where(refractory, state["ref"] - 1, jnp.where(fired, ref_n, 0)).astype(jnp.int32)
        rows = self._buffer_rows()
        if self.connectivity == "all_to_all":  # the same input for every neuron of a target population
            inp = (P.J * P.p) * self._pop_sum(s)[None, :]  # (n_pop, n_pop)
        else:
            inp = self._input(s)  # (N, n_pop)
        # add the input from source b to slot (ptr + D[target, b]) of channel ex/in (sign of J):
        # a masked dense add over the (n_slots, 2, rows) buffer (a scatter is slower on CPU)
        D = np.asarray(self.delay_steps, dtype=np.int32)[rows]  # (rows, n_pop)
        slots = jnp.arange(self._n_slots)[:, None]
        inhibitory = P.J[rows] < 0  # (rows, n_pop)
        for b in range(self.n_pop):
            at_slot = slots == (ptr + jnp.asarray(D[:, b])) % self._n_slots  # (n_slots, rows)
            x = inp[:, b]
            by_channel = jnp.stack([jnp.where(inhibitory[:, b], 0.0, x), jnp.where(inhibitory[:, b], x, 0.0)])
            buf = buf + jnp.where(at_slot[:, None, :], by_channel[None], 0.0)
        return {"u": u, "ref": ref, "g": g, "I": I, "buf": buf, "ptr": (ptr + 1) % self._n_slots, "s": s}

    def observe(self, state):
        P = self.params
        N = jnp.asarray(self.params.N, dtype=float)
        return {
            "A": self._pop_sum(state["s"]) / (N * self.dt) * 1e3,
            "spikes": state["s"],
            "u_mean": self._pop_mean(state["u"]),
            "theta_mean": P.V_T_star + self._pop_mean(jnp.sum(state["g"], axis=-1)),
        }


def _indegree(N, p):
    return np.rint(p * np.asarray(N, dtype=float)[None, :]).astype(np.int64)


def _fixed_indegree(N, p, seed):
    """Presynaptic indices (N_total, sum_beta max_alpha K[alpha, beta]) int32; padding = N_total (a silent dummy)."""
    N = tuple(N)
    n_tot = int(sum(N))
    K = _indegree(N, p)
    offsets = np.cumsum((0,) + N)
    k_blocks = tuple(int(K[:, b].max()) for b in range(len(N)))
    rng = np.random.default_rng(seed)
    blocks = []
    for b, kb in enumerate(k_blocks):
        rows = []
        for a, na in enumerate(N):
            idx = offsets[b] + rng.integers(0, N[b], size=(na, kb))
            idx[:, K[a, b]:] = n_tot
            rows.append(idx)
        blocks.append(np.concatenate(rows, axis=0))
    pre = np.concatenate(blocks, axis=1) if blocks else np.zeros((n_tot, 0))
    return jnp.asarray(pre.astype(np.int32)), k_blocks
