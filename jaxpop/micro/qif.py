r"""Networks of quadratic integrate-and-fire (QIF) neurons (Montbrió, Pazó & Roxin 2015).

The microscopic model whose exact firing-rate equations are
:class:`jaxpop.MontbrioPazoRoxin`: all-to-all coupled QIF neurons, population :math:`a`
holding :math:`N_a` neurons (MPR Eqs. 1–3, App. A, D, E),

.. math::

    \tau_a \dot V_j = V_j^2 + \eta_j + \tau_a \sum_b J_{j b}\, s_b(t) + I_a(t) + \xi_j(t),
    \qquad V_j \ge V_p \;\Rightarrow\; \text{spike, reset},

* quenched heterogeneity :math:`\eta_j = \bar\eta_a + \Delta_a\,u_j`, where :math:`u_j` are
  unit samples of a Lorentzian (default; :math:`\Delta` = half-width), Gaussian
  (:math:`\Delta` = SD σ), uniform (:math:`\Delta` = half-width γ) or delta distribution
  (identical neurons); deterministic quantiles :math:`u_j = F^{-1}(j/(N+1))` (App. A) or
  random draws;
* coupling :math:`J_{jb} = J_{ab} + \Gamma_{ab}\,w_{jb}`, :math:`w_{jb}` unit Lorentzian
  samples independent of :math:`u_j` (App. E1; :math:`\Gamma = 0` by default);
* independent white noise (App. D), :math:`\langle\xi_j(t)\xi_k(t')\rangle = 2D\,\delta_{jk}
  \delta(t-t')`, integrated by Euler–Maruyama (increment :math:`\sqrt{2D\,dt}\,\mathcal N(0,1)/\tau`);
* synaptic activation of population :math:`b`, with the rectangular kernel of App. A,
  :math:`a_{\tau_s}(t) = \Theta(\tau_s - t)\Theta(t)/\tau_s`,

  .. math:: s_b(t) = \frac{1}{N_b}\sum_{j\in b}\sum_k a_{\tau_s}(t - t_j^k)
            = \frac{\#\{\text{spikes of } b \text{ in } (t-\tau_s, t]\}}{N_b\,\tau_s},

  or (``synapse='exponential'``) :math:`a_{\tau_s}(t) = e^{-t/\tau_s}/\tau_s`, i.e.
  :math:`\tau_s \dot s_b = -s_b + r_b`, the synaptic kinetics of
  ``MontbrioPazoRoxin(tau_d=tau_s)``.

**Threshold, reset and refractoriness (App. A).** With :math:`V_p = -V_r = 100` the neuron
would need :math:`\approx\tau/V_j` to run from the (Euler-overshot) value :math:`V_j \ge V_p` to
:math:`+\infty` and as long to come back from :math:`-\infty` to :math:`-V_j`. So once
:math:`V_j \ge V_p`, the neuron is held for :math:`2\tau/V_j`, its spike is registered
:math:`\tau/V_j` after the crossing (in the time step in which that mid-point is passed), and it
restarts at :math:`-V_j`. This is the paper's rule; the two public replications hold for
:math:`2\tau/V_p` instead (the difference is the Euler overshoot, :math:`O(dt)`). For a general
``V_reset`` :math:`= V_r < 0` the rule reads: hold :math:`\tau/V_j + \tau/|R_j|`, spike after
:math:`\tau/V_j`, restart at :math:`R_j = V_r - (V_j - V_p)` (the paper's rule for
:math:`V_r = -V_p`). The remaining hold is a per-neuron float, so any ``dt`` works: a neuron whose
hold ends inside a step integrates for the rest of that step. Refractory neurons are excluded
from the mean voltage :math:`v`.

**Synapse bookkeeping.** The rectangular kernel is evaluated from the per-neuron time since the
last spike (spike instants are known within the step from the float hold). With
:math:`\tau_s = L\,dt` every spike counts in :math:`s` for exactly the :math:`L` following steps
— the paper's ring buffer of per-step counts — and for any other ``dt`` it counts in
:math:`\tau_s/dt` steps on average, so :math:`\int s\,dt` is unbiased and ``dt`` need not divide
:math:`\tau_s` (it must not exceed it). A neuron contributes at most one spike to the window,
which is exact while its interspike interval exceeds :math:`\tau_s`: the hold alone,
:math:`2\tau/V_j`, does unless the Euler overshoot makes :math:`V_j > 2\tau/\tau_s` (2000 for
the defaults, which needs :math:`\eta_j\,dt \gtrsim 2000`).

**Finite N.** Quantile samples of a Lorentzian miss its tails :math:`|\eta| \gtrsim N\Delta/\pi`,
whose neurons are driven by :math:`\eta` alone: the rate is low by
:math:`b = |\zeta(\tfrac12)|\,\pi^{-1}\sqrt{\Delta/(\pi N)}` (0.0026 at :math:`N = 10^4`,
:math:`\Delta = 1`) and the mean voltage high by :math:`\pi b`, so the network follows the FREs
with :math:`\bar\eta - Jb` (recurrent input short by :math:`Jb`); near a saddle-node this is
visible (the measured delay in Fig. 2: ``docs/measurements.md``). :math:`V_p = 100` adds a smaller
bias of the same sign (neurons with :math:`\eta \gtrsim V_p^2`).

**Initial state.** ``init(key)`` puts the network in the stationary (asynchronous) state of
uncoupled neurons with input :math:`c_j = \eta_j + \tau_a\sum_b J_{jb}\,r_{0,b} + I_{0,a}`: neurons with
:math:`c_j \le 0` at rest, :math:`V_j = -\sqrt{-c_j}`; the others at a uniformly distributed
phase (drawn from ``key``) of their periodic orbit, including the hold and the time since the
last spike. With :math:`r_0` the rate of a fixed point of the firing-rate equations this is
that fixed point (e.g. the low-activity state of Fig. 2); ``I0`` is the input assumed there
(default 0: set it to the drive at ``t0``).
Different keys (``trials=``) give different initial phases; the quenched samples
:math:`u_j, w_{jb}` are fixed at construction from ``seed``.

Observables: ``r`` (also as ``A``; population activity: spikes in the step / :math:`(N_a\,dt)`, averaged over
recording blocks), ``v`` (mean voltage of non-refractory neurons; NaN if all are refractory),
``s`` (synaptic activation), ``spikes`` (per neuron, 1.0 in the step of a spike; summed over
recording blocks, so ``Result.spike_trains()`` works with any ``record_every``) and ``V``
(per neuron; refractory neurons show their restart value).

Units: dimensionless (time in units of :math:`\tau`; the paper uses :math:`\tau = 1`).

References: E. Montbrió, D. Pazó, A. Roxin, *Macroscopic description for networks of spiking
neurons*, Phys. Rev. X 5, 021028 (2015), doi:10.1103/PhysRevX.5.021028.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.distributions import make_distribution
from ..core.model import AbstractModel, check_positive, is_concrete, population_sizes
from ..core.model import population_matrix as _matrix
from ..core.model import population_vector as _vector

DISTRIBUTION_NAMES = ("lorentzian", "gaussian", "uniform", "delta")
_ALIASES = {"cauchy": "lorentzian", "normal": "gaussian"}
ETA_SAMPLINGS = ("quantile", "random")
SYNAPSES = ("rectangular", "exponential")


ZETA_HALF = 1.4603545088095868  # |zeta(1/2)|


def quantile_tail_bias(N, delta=1.0):
    r"""Rate deficit of ``N`` Lorentzian quantile samples against the N -> infinity FREs.

    Near :math:`u \to 1` the quantile function is :math:`\eta(u) \approx \Delta/(\pi(1-u))`; the
    sum of :math:`\sqrt{\eta_j}/(\pi N)` over the last quantiles falls short of the integral by
    (Euler–Maclaurin) :math:`b = |\zeta(\tfrac12)|\,\pi^{-1}\sqrt{\Delta/(\pi N)}`, and the mean
    voltage of the silent lower tail is high by :math:`\pi b`. A network with quantile-sampled
    :math:`\eta_j` therefore follows the FREs with :math:`\bar\eta - J b`, read out as
    :math:`r - b`, :math:`v + \pi b` (see the module notes, "Finite N"). No free parameter.
    Traceable in ``delta`` (e.g. inside a fit of the finite-N twin, :mod:`jaxpop.reproduce.fit_demos`).
    """
    return ZETA_HALF / jnp.pi * jnp.sqrt(jnp.asarray(delta, dtype=float) / (jnp.pi * np.asarray(N, dtype=float)))


def _check_sizes(N) -> tuple[tuple[int, ...], bool]:
    """Population sizes and whether ``N`` was one int (a scalar model: scalar parameters and observables)."""
    return population_sizes(N), isinstance(N, (int, np.integer))






def _unit_samples(distribution: str, sampling: str, n: int, key) -> jax.Array:
    """Samples of the standard (centre 0, scale 1) distribution."""
    if distribution == "delta":
        return jnp.zeros((n,))
    dist = make_distribution(distribution, 0.0, 1.0)
    if sampling == "quantile":
        return dist.quantiles(n)
    return dist.sample(key, n)


class QIFNetwork(AbstractModel):
    r"""All-to-all coupled QIF neurons in one or several populations (MPR 2015, Eqs. 1–3).

    Parameters
    ----------
    N : int or tuple of int
        Neurons per population. An ``int`` builds one population (scalar parameters, scalar
        drive and observables); a tuple builds ``len(N)`` populations.
    eta_bar : float or array (n_pop,)
        Centre :math:`\bar\eta_a` of the excitability distribution.
    delta : float or array (n_pop,), optional
        Scale of that distribution, :math:`\ge 0`: half-width :math:`\Delta` (Lorentzian), SD σ
        (Gaussian), half-width γ (uniform). Default 1, and 0 (required) for ``'delta'``.
    J : float or array (n_pop, n_pop)
        Mean coupling :math:`J_{ab}` (target a, source b), signed (inhibitory columns < 0).
    distribution : {'lorentzian', 'gaussian', 'uniform', 'delta'}
        Shape of :math:`g(\eta)`.
    eta_sampling : {'quantile', 'random'}
        Deterministic quantiles :math:`F^{-1}(j/(N+1))` (App. A) or i.i.d. draws from ``seed``;
        the same scheme samples the coupling heterogeneity :math:`w_{jb}`.
    Gamma : float or array (n_pop, n_pop)
        Half-width :math:`\Gamma_{ab} \ge 0` of Lorentzian-distributed couplings (App. E1).
        Quantile samples are randomly permuted (key from ``seed``), independent of :math:`\eta_j`.
    tau : float or array (n_pop,)
        Membrane time constant (default 1: dimensionless time).
    D : float or array (n_pop,)
        White-noise intensity :math:`D \ge 0` (App. D), default 0.
    noise : bool, optional
        Whether ``step`` draws the white noise (static). Default: ``D > 0`` for some population,
        so a noiseless network draws no random numbers. Pass ``noise=True`` to sweep ``D`` from a
        base model with ``D = 0``; ``init`` raises if ``D != 0`` while ``noise`` is False.
    V_peak, V_reset : float
        Threshold :math:`V_p > 0` and reset :math:`V_r < 0` (default :math:`V_r = -V_p`; paper: 100).
    synapse : {'rectangular', 'exponential'}
        Kernel of :math:`s`: the paper's rectangular pulse of width ``tau_s``, or an exponential
        decay with time constant ``tau_s``.
    tau_s : float or array (n_pop,)
        Synaptic time scale of each *source* population (default :math:`10^{-3}`, App. A).
    r0 : float or array (n_pop,)
        Rate whose recurrent input defines the initial stationary state (see module docs).
    I0 : float or array (n_pop,)
        Constant external input assumed in that initial state (default 0); set it to the
        drive's value at ``t0`` to start in the stationary state under that drive.
    seed : int
        Seed of the quenched samples (random η, the coupling permutation / draws).

    Attributes
    ----------
    eta_unit : array (N_total,)
        Unit samples :math:`u_j` (neurons of population 0 first); ``eta`` gives :math:`\eta_j`.
    J_unit : array (n_pop, N_total)
        Unit Lorentzian samples :math:`w_{jb}` of the coupling from source population b.

    Examples
    --------
    >>> net = QIFNetwork(10_000, eta_bar=-5.0, delta=1.0, J=15.0)
    >>> res = jaxpop.simulate(net, 40.0, 1e-4, key=key, drive=jaxpop.Step(3.0, 0.0, 30.0),
    ...                       record_every=10)
    """

    eta_bar: jax.Array
    delta: jax.Array
    J: jax.Array
    Gamma: jax.Array
    tau: jax.Array
    D: jax.Array
    V_peak: jax.Array
    V_reset: jax.Array
    tau_s: jax.Array
    r0: jax.Array
    I0: jax.Array
    eta_unit: jax.Array
    J_unit: jax.Array
    N: tuple[int, ...] = eqx.field(static=True)
    scalar: bool = eqx.field(static=True)
    distribution: str = eqx.field(static=True)
    eta_sampling: str = eqx.field(static=True)
    synapse: str = eqx.field(static=True)
    noise: bool = eqx.field(static=True)
    seed: int = eqx.field(static=True)

    accumulated = ("r", "A")
    summed = ("spikes",)
    default_record = ("r", "v")

    def __init__(self, N=10_000, eta_bar=-5.0, delta=None, J=15.0, *, distribution="lorentzian",
                 eta_sampling="quantile", Gamma=0.0, tau=1.0, D=0.0, V_peak=100.0, V_reset=None,
                 synapse="rectangular", tau_s=1e-3, r0=0.0, I0=0.0, noise=None, seed=0):
        sizes, scalar = _check_sizes(N)
        n = len(sizes)
        dist = _ALIASES.get(str(distribution).lower(), str(distribution).lower())
        if dist not in DISTRIBUTION_NAMES:
            raise ValueError(f"distribution must be one of {DISTRIBUTION_NAMES}, got {distribution!r}")
        if eta_sampling not in ETA_SAMPLINGS:
            raise ValueError(f"eta_sampling must be one of {ETA_SAMPLINGS}, got {eta_sampling!r}")
        if synapse not in SYNAPSES:
            raise ValueError(f"synapse must be one of {SYNAPSES}, got {synapse!r}")
        if not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
            raise ValueError(f"seed must be an integer, got seed={seed!r}")
        if scalar and (np.ndim(eta_bar) > 0 or np.ndim(J) > 0):
            raise ValueError("N is an int (one population): eta_bar and J must be scalars; "
                             "pass N as a tuple of sizes for several populations")
        if delta is None:
            delta = 0.0 if dist == "delta" else 1.0
        check_positive("delta", delta, strict=False)
        if dist == "delta" and bool(jnp.any(jnp.asarray(delta) != 0)):
            raise ValueError(f"distribution='delta' (identical neurons) needs delta=0, got delta={delta!r}")
        check_positive("tau", tau)
        check_positive("D", D, strict=False)
        check_positive("Gamma", Gamma, strict=False)
        check_positive("V_peak", V_peak)
        check_positive("tau_s", tau_s)
        check_positive("r0", r0, strict=False)
        if V_reset is None:
            V_reset = -jnp.asarray(V_peak, dtype=float)
        elif not float(V_reset) < 0:
            raise ValueError(f"V_reset must be < 0 (and finite), got V_reset={V_reset!r}")

        self.N = sizes
        self.scalar = scalar
        self.distribution = dist
        self.eta_sampling = eta_sampling
        self.synapse = synapse
        self.seed = int(seed)
        self.eta_bar = _vector("eta_bar", eta_bar, n)
        self.delta = _vector("delta", delta, n)
        self.J = _matrix("J", J, n)
        self.Gamma = _matrix("Gamma", Gamma, n)
        self.tau = _vector("tau", tau, n)
        self.D = _vector("D", D, n)
        self.noise = bool(jnp.any(self.D > 0)) if noise is None else bool(noise)
        self.V_peak = jnp.asarray(V_peak, dtype=float)
        self.V_reset = jnp.asarray(V_reset, dtype=float)
        self.tau_s = _vector("tau_s", tau_s, n)
        self.r0 = _vector("r0", r0, n)
        self.I0 = _vector("I0", I0, n)

        base = jax.random.PRNGKey(self.seed)
        k_eta, k_J = jax.random.split(base)
        self.eta_unit = jnp.concatenate([
            _unit_samples(dist, eta_sampling, na, jax.random.fold_in(k_eta, a)) for a, na in enumerate(sizes)
        ])
        cols = []
        for b in range(n):
            blocks = []
            for a, na in enumerate(sizes):
                k = jax.random.fold_in(jax.random.fold_in(k_J, a), b)
                if eta_sampling == "quantile":
                    kq, kp = jax.random.split(k)
                    blocks.append(jax.random.permutation(kp, _unit_samples("lorentzian", "quantile", na, kq)))
                else:
                    blocks.append(_unit_samples("lorentzian", "random", na, k))
            cols.append(jnp.concatenate(blocks))
        self.J_unit = jnp.stack(cols)  # (source b, neuron j): w_jb

    # ------------------------------------------------------------------ constructors
    @classmethod
    def excitatory_inhibitory(cls, N=10_000, eta_e=-5.0, eta_i=-5.0, delta_e=1.0, delta_i=1.0, J_ee=15.0,
                              J_ei=15.0, J_ie=15.0, J_ii=15.0, **kwargs):
        r"""The E–I pair of MPR App. E2, mirroring :meth:`MontbrioPazoRoxin.excitatory_inhibitory`
        (all weights :math:`\ge 0`; :math:`J_{ie}` is the weight from I onto E):

        .. math:: I^{(e)}_j = \eta^{(e)}_j + J_{ee}s_e - J_{ie}s_i + I_e,\qquad
                  I^{(i)}_j = \eta^{(i)}_j + J_{ei}s_e - J_{ii}s_i + I_i.

        ``N``: an int (both populations that size) or ``(N_e, N_i)``.
        """
        for name, val in dict(J_ee=J_ee, J_ei=J_ei, J_ie=J_ie, J_ii=J_ii).items():
            check_positive(name, val, strict=False)
        sizes = (N, N) if isinstance(N, (int, np.integer)) and not isinstance(N, bool) else N
        J = jnp.array([[J_ee, -J_ie], [J_ei, -J_ii]], dtype=float)
        return cls(sizes, jnp.array([eta_e, eta_i], dtype=float), jnp.array([delta_e, delta_i], dtype=float), J,
                   **kwargs)

    @classmethod
    def from_fre(cls, mpr, N=10_000, **kwargs):
        r"""The network twin of a :class:`jaxpop.MontbrioPazoRoxin` model: same ``eta_bar``,
        ``delta``, ``J``, ``Gamma``, ``tau`` and initial rate ``r0`` (Lorentzian :math:`g(\eta)`).
        FREs with synaptic kinetics (``tau_d``) map to ``synapse='exponential'`` with
        ``tau_s = tau_d``; instantaneous FREs to the paper's rectangular kernel (``tau_s = 1e-3``).
        The FRE's ``v0`` has no network counterpart: the network starts in the stationary state
        for rate ``r0``, which matches the FREs only if ``(r0, v0)`` is a fixed point.

        ``N``: neurons per population (an int, or a tuple for several populations);
        ``kwargs`` override or add any constructor argument (``V_peak``, ``D``, ``seed``, ...).
        """
        from ..macro.mpr import MontbrioPazoRoxin

        if not isinstance(mpr, MontbrioPazoRoxin):
            raise TypeError(f"from_fre needs a MontbrioPazoRoxin model, got {type(mpr).__name__}")
        if mpr.scalar:
            sizes = N
            sq = lambda x: x[0]  # noqa: E731
            sqm = lambda x: x[0, 0]  # noqa: E731
        else:
            sizes = (N,) * mpr.n_pop if isinstance(N, (int, np.integer)) else N
            sq = sqm = lambda x: x  # noqa: E731
        args = dict(eta_bar=sq(mpr.eta_bar), delta=sq(mpr.delta), J=sqm(mpr.J), Gamma=sqm(mpr.Gamma),
                    tau=sq(mpr.tau), r0=sq(mpr.r0), distribution="lorentzian")
        if mpr.synaptic:
            args.update(synapse="exponential", tau_s=sq(mpr.tau_d))
        args.update(kwargs)
        return cls(sizes, **args)

    # ------------------------------------------------------------------ helpers
    @property
    def n_pop(self) -> int:
        return len(self.N)

    @property
    def n_neurons(self) -> int:
        return sum(self.N)

    @property
    def drive_shape(self):
        return () if self.scalar else (self.n_pop,)

    def observable_dims(self):
        d = () if self.scalar else ("population",)
        return {"r": d, "A": d, "v": d, "s": d, "spikes": ("neuron",), "V": ("neuron",)}

    def _per_neuron(self, x):
        """Expand a per-population array (n_pop, ...) to neurons (N_total, ...)."""
        if self.n_pop == 1:
            return x[0]
        # broadcast + concatenate (static sizes) fuses into the consumers; a repeat/gather would not
        return jnp.concatenate([jnp.broadcast_to(x[a], (n,) + x.shape[1:]) for a, n in enumerate(self.N)])

    def _pop_sum(self, x):
        """Sum a per-neuron array over each population -> (n_pop,)."""
        if self.n_pop == 1:
            return jnp.sum(x)[None]
        if len(set(self.N)) == 1:
            return jnp.sum(x.reshape(self.n_pop, self.N[0]), axis=1)
        # unequal sizes: one pass with a constant (n_pop, N) membership matrix (slices fuse poorly)
        member = np.repeat(np.eye(self.n_pop), self.N, axis=1)
        return jnp.asarray(member, dtype=x.dtype) @ x

    @property
    def eta(self) -> jax.Array:
        r"""Excitabilities :math:`\eta_j = \bar\eta_a + \Delta_a u_j`, shape ``(N_total,)``."""
        return self._per_neuron(self.eta_bar) + self._per_neuron(self.delta) * self.eta_unit

    def _coupling(self, s):
        r""":math:`\tau_a \sum_b J_{jb} s_b` for every neuron, with :math:`J_{jb} = J_{ab} + \Gamma_{ab} w_{jb}`."""
        out = self._per_neuron(self.tau * (self.J @ s))
        g = self.tau[:, None] * self.Gamma * s[None, :]  # (target a, source b)
        for b in range(self.n_pop):
            out = out + self.J_unit[b] * self._per_neuron(g[:, b])
        return out

    def _ref_half(self, V, tau_n, refr):
        r"""Hold left after the spike, :math:`\tau/|R_j|` (refractory neurons store :math:`R_j < 0` in V)."""
        return jnp.where(refr, tau_n / jnp.where(refr, -V, 1.0), 0.0)

    def runtime_checks(self, dt):
        r"""``dt`` against the current parameter values (traceable, so swept values are checked too):
        :math:`dt \le \tau/(10\max(V_{peak}, |V_{reset}|))` (the hold :math:`2\tau/V_{peak}` spans
        :math:`\ge 20` steps, one Euler step changes :math:`V` by :math:`\le 10\%` at threshold),
        :math:`dt^2\max|\eta_j|/\tau^2 \le 0.5` (the step that crosses :math:`V_{peak}` does not overshoot
        beyond :math:`1/(2dt)`, where Euler's :math:`V' = V^2` is unstable after the reset) and, with the
        rectangular kernel, :math:`dt \le \tau_s`."""
        v_max = jnp.maximum(jnp.max(self.V_peak), jnp.max(-self.V_reset))
        limit = jnp.min(self.tau) / (10.0 * v_max)
        eta_max = jnp.max(jnp.abs(self.eta) / self._per_neuron(self.tau) ** 2)
        checks = [
            (dt > limit * (1 + 1e-9), f"dt={dt!r} is too large: need dt <= tau/(10 max(V_peak, |V_reset|)) so that the "
                                      "hold 2 tau/V_peak spans >= 20 steps and one Euler step changes V by <= 10 % at "
                                      "threshold"),
            (dt * dt * eta_max > 0.5, f"dt={dt!r} is too large for the largest |eta_j|/tau^2 (e.g. a far tail draw of "
                                      "eta_sampling='random'): need dt^2 max|eta_j|/tau^2 <= 0.5, else the step that "
                                      "crosses V_peak overshoots beyond 1/(2 dt), where Euler's V' = V^2 is unstable "
                                      "after the reset"),
        ]
        if self.synapse == "rectangular":
            checks.append((dt > jnp.min(self.tau_s) * (1 + 1e-9), f"dt={dt!r} exceeds the synaptic pulse width tau_s; "
                                                                  "the rectangular kernel needs dt <= tau_s"))
        return tuple(checks)

    # ------------------------------------------------------------------ model interface
    def init(self, key):
        tau_n = self._per_neuron(self.tau)
        c = self.eta + tau_n * self._coupling(self.r0) + self._per_neuron(self.I0)
        if not self.noise:  # e.g. D swept from a base model built with D = 0: fail, never ignore D
            c = eqx.error_if(c, jnp.any(self.D != 0), "QIFNetwork: D != 0 but noise=False; build it with noise=True")
        Vp, Vr = self.V_peak, self.V_reset
        firing = c > 0
        sc = jnp.sqrt(jnp.where(firing, c, 1.0))
        travel = tau_n * (jnp.arctan(Vp / sc) - jnp.arctan(Vr / sc)) / sc
        h_up, h_down = tau_n / Vp, tau_n / (-Vr)  # hold before / after the spike
        period = travel + h_up + h_down
        e = jax.random.uniform(key, c.shape) * period  # time since the last spike
        moving = (e >= h_down) & (e < h_down + travel)
        V_move = sc * jnp.tan(jnp.arctan(Vr / sc) + sc * (e - h_down) / tau_n)
        ref_after = h_down - e  # second half of the hold
        ref_before = h_up + h_down - (e - h_down - travel)  # crossed, spike pending
        V = jnp.where(firing, jnp.where(moving, V_move, Vr), -jnp.sqrt(jnp.where(firing, 0.0, -c)))
        ref = jnp.where(firing & ~moving, jnp.where(e < h_down, ref_after, ref_before), 0.0)
        rate = self._pop_sum(jnp.where(firing, 1.0 / period, 0.0)) / jnp.asarray(self.N, dtype=float)
        state = {"V": V, "ref": ref, "r": rate, "spikes": jnp.zeros(V.shape, bool)}
        if self.synapse == "rectangular":
            since = jnp.where(firing, e, jnp.inf)
            state["since"] = since
            state["s"] = self._rect_s(since)
        else:
            state["s"] = rate
        return state

    def _rect_s(self, since):
        active = since < self._per_neuron(self.tau_s)
        return self._pop_sum(active.astype(float)) / (jnp.asarray(self.N, dtype=float) * self.tau_s)

    def step(self, state, t, dt, drive, key):
        V, ref, s = state["V"], state["ref"], state["s"]
        tau_n = self._per_neuron(self.tau)
        I = jnp.broadcast_to(drive(t), (self.n_pop,))
        inp = self.eta + tau_n * self._coupling(s) + self._per_neuron(I)

        # Euler(-Maruyama) over the part of the step the neuron is not held
        free = jnp.clip(dt - ref, 0.0, dt)
        V_new = V + free * (V * V + inp) / tau_n
        if self.noise:
            D_n = self._per_neuron(self.D)
            # sqrt with gradient 0 (not inf * 0 = NaN) where the variance is 0: held neurons (free = 0), D = 0
            var = 2.0 * D_n * free
            pos = var > 0
            sd = jnp.where(pos, jnp.sqrt(jnp.where(pos, var, 1.0)), 0.0)
            V_new = V_new + sd / tau_n * jax.random.normal(key, V.shape)

        # spike registered when the hold passes its mid-point (tau/V_j after the crossing)
        refr = ref > 0
        half = self._ref_half(V, tau_n, refr)
        spike = refr & (ref > half) & (ref - dt <= half)
        ref_new = jnp.maximum(ref - dt, 0.0)

        # threshold crossing: hold tau/V_j + tau/|R_j|, restart at R_j = V_r - (V_j - V_p)
        cross = V_new >= self.V_peak
        R = self.V_reset - (V_new - self.V_peak)
        V_safe = jnp.where(cross, V_new, 1.0)
        ref_new = jnp.where(cross, tau_n / V_safe + tau_n / jnp.where(cross, -R, 1.0), ref_new)
        V_new = jnp.where(cross, R, V_new)

        counts = self._pop_sum(spike.astype(V.dtype))
        N = jnp.asarray(self.N, dtype=float)
        out = {"V": V_new, "ref": ref_new, "r": counts / (N * dt), "spikes": spike}
        if self.synapse == "rectangular":
            since = jnp.where(spike, dt - (ref - half), state["since"] + dt)
            out["since"] = since
            out["s"] = self._rect_s(since)
        else:
            out["s"] = s * jnp.exp(-dt / self.tau_s) + counts / (N * self.tau_s)
        return out

    def observe(self, state):
        active = (state["ref"] <= 0).astype(state["V"].dtype)
        n_act = self._pop_sum(active)
        v_sum = self._pop_sum(active * state["V"])
        v = jnp.where(n_act > 0, v_sum / jnp.maximum(n_act, 1.0), jnp.nan)
        sq = (lambda x: x[0]) if self.scalar else (lambda x: x)
        return {"r": sq(state["r"]), "A": sq(state["r"]), "v": sq(v), "s": sq(state["s"]), "spikes": state["spikes"].astype(state["V"].dtype),
                "V": state["V"]}
