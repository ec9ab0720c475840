r"""Exact firing-rate equations of QIF networks (Montbrió, Pazó & Roxin 2015).

For a population of quadratic integrate-and-fire neurons :math:`\tau\dot V_j = V_j^2 + \eta_j
+ J\tau s + I(t)` with Lorentzian excitabilities (centre :math:`\bar\eta`, half-width
:math:`\Delta`) the Lorentzian ansatz closes exactly in the limit :math:`N\to\infty`,
:math:`V_p = -V_r \to \infty`, giving for the firing rate :math:`r` and mean voltage
:math:`v` of each population :math:`a` (MPR Eq. 12, App. E1, E2):

.. math::

    \tau_a \dot r_a &= \frac{\Delta_a}{\pi\tau_a} + \frac{1}{\pi}\sum_b \Gamma_{ab}\, s_b + 2 r_a v_a, \\
    \tau_a \dot v_a &= v_a^2 + \bar\eta_a + \tau_a\sum_b J_{ab}\, s_b + I_a(t) - (\pi\tau_a r_a)^2,

with :math:`s_b = r_b` (instantaneous synapses) or first-order synaptic kinetics
:math:`\tau_{d,b}\dot s_b = -s_b + r_b` (``tau_d`` given). :math:`J_{ab}` is signed
(inhibitory columns negative); :math:`\Gamma_{ab} \ge 0` is the half-width of a Lorentzian
distribution of the coupling :math:`J_{ab}` across neurons (App. E1: :math:`\dot r = \Delta/\pi
+ \Gamma r/\pi + 2rv` for one population, :math:`\tau = 1`).

Units: dimensionless (time in units of :math:`\tau`; the paper uses :math:`\tau = 1`).

The Kuramoto order parameter follows from the conformal map (MPR Eq. 18):
:math:`Z = (1 - \overline W)/(1 + \overline W)`, :math:`W = \pi\tau r + i v`.

References: E. Montbrió, D. Pazó, A. Roxin, *Macroscopic description for networks of spiking
neurons*, Phys. Rev. X 5, 021028 (2015), doi:10.1103/PhysRevX.5.021028.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.distributions import AbstractDistribution, Lorentzian, make_distribution
from ..core.model import AbstractODEModel, check_positive
from ..core.model import population_matrix as _mat
from ..core.model import population_vector as _vec


def kuramoto_order(r, v, tau=1.0):
    r"""Kuramoto order parameter :math:`Z = (1 - \overline W)/(1 + \overline W)`, :math:`W = \pi\tau r + iv` (complex)."""
    w_conj = jnp.pi * tau * r - 1j * v
    return (1 - w_conj) / (1 + w_conj)


class MontbrioPazoRoxin(AbstractODEModel):
    r"""Montbrió–Pazó–Roxin firing-rate equations for one or several QIF populations.

    Parameters
    ----------
    eta_bar : float or array (n_pop,)
        Centre :math:`\bar\eta` of the Lorentzian excitability distribution.
    delta : float or array (n_pop,)
        Half-width :math:`\Delta \ge 0` of that distribution.
    J : float or array (n_pop, n_pop)
        Synaptic weight(s) :math:`J_{ab}` (target a, source b), signed.
    tau : float or array (n_pop,)
        Membrane time constant (default 1: dimensionless time).
    Gamma : float or array (n_pop, n_pop)
        Half-width of Lorentzian-distributed coupling (App. E1), default 0.
    tau_d : float or array (n_pop,), optional
        Synaptic decay time; if given, :math:`s` obeys :math:`\tau_d\dot s = -s + r`.
    r0, v0 : float or array
        Initial rate and mean voltage (``init``); default 0 and -2 (low state at Fig. 1(d)).
    integrator : {'rk4', 'euler'}
        Fixed-step scheme of :meth:`step` (adaptive solves use :func:`jaxpop.solve`).

    Observables: ``r`` (rate, in units of 1/tau; also as ``A``, the population activity of every model), ``v`` (mean voltage), ``R`` (modulus of the Kuramoto order
    parameter), and ``s`` with synaptic kinetics. Scalars in, scalars out: a model built
    from scalar parameters has ``drive_shape == ()`` and scalar observables.
    """

    eta_bar: jax.Array
    delta: jax.Array
    J: jax.Array
    tau: jax.Array
    Gamma: jax.Array
    tau_d: jax.Array | None  # None without synaptic kinetics (not a parameter there: it would have no effect)
    r0: jax.Array
    v0: jax.Array
    n_pop: int = eqx.field(static=True)
    synaptic: bool = eqx.field(static=True)
    scalar: bool = eqx.field(static=True)
    integrator: str = eqx.field(static=True)

    default_record = ("r", "v")

    def __init__(self, eta_bar=-5.0, delta=1.0, J=15.0, *, tau=1.0, Gamma=0.0, tau_d=None, r0=0.0, v0=-2.0,
                 integrator="rk4"):
        eta = jnp.asarray(eta_bar, dtype=float)
        J_arr = jnp.asarray(J, dtype=float)
        if eta.ndim > 1:
            raise ValueError(f"eta_bar must be a scalar or a vector (n_pop,), got shape {eta.shape}")
        if eta.ndim == 1:
            n = eta.shape[0]
        elif J_arr.ndim == 2:
            n = J_arr.shape[0]
        else:
            n = 1
        self.scalar = eta.ndim == 0 and J_arr.ndim == 0
        self.n_pop = int(n)
        check_positive("delta", delta, strict=False)
        check_positive("tau", tau)
        check_positive("Gamma", Gamma, strict=False)
        self.eta_bar = _vec("eta_bar", eta, n)
        self.delta = _vec("delta", delta, n)
        self.tau = _vec("tau", tau, n)
        self.J = _mat("J", J_arr, n, broadcast=False)
        G = jnp.asarray(Gamma, dtype=float)
        self.Gamma = _mat("Gamma", jnp.full((n, n), G) if G.ndim == 0 else G, n)
        self.synaptic = tau_d is not None
        if self.synaptic:
            check_positive("tau_d", tau_d)
        self.tau_d = _vec("tau_d", tau_d, n) if self.synaptic else None
        self.r0 = _vec("r0", r0, n)
        self.v0 = _vec("v0", v0, n)
        check_positive("r0", r0, strict=False)
        if integrator not in ("rk4", "euler"):
            raise ValueError(f"integrator must be 'rk4' or 'euler', got {integrator!r}")
        self.integrator = integrator

    @classmethod
    def excitatory_inhibitory(cls, eta_e=-5.0, eta_i=-5.0, delta_e=1.0, delta_i=1.0, J_ee=15.0, J_ei=15.0,
                              J_ie=15.0, J_ii=15.0, **kwargs):
        r"""The E–I pair of MPR App. E2, with the paper's sign convention (all weights >= 0):

        .. math:: \dot v_e = \dots + J_{ee} r_e - J_{ie} r_i,\qquad \dot v_i = \dots + J_{ei} r_e - J_{ii} r_i.

        (In the paper's notation :math:`J_{ie}` is the weight from I onto E.)
        """
        for name, val in dict(J_ee=J_ee, J_ei=J_ei, J_ie=J_ie, J_ii=J_ii).items():
            check_positive(name, val, strict=False)
        J = jnp.array([[J_ee, -J_ie], [J_ei, -J_ii]], dtype=float)
        return cls(jnp.array([eta_e, eta_i], dtype=float), jnp.array([delta_e, delta_i], dtype=float), J, **kwargs)

    @property
    def drive_shape(self):
        return () if self.scalar else (self.n_pop,)

    def observable_dims(self):
        d = () if self.scalar else ("population",)
        return {"r": d, "A": d, "v": d, "s": d, "R": d}

    def init(self, key=None):
        y = {"r": self.r0, "v": self.v0}
        if self.synaptic:
            y["s"] = self.r0
        return y

    def vector_field(self, t, y, drive):
        r, v = y["r"], y["v"]
        s = y["s"] if self.synaptic else r
        I = jnp.broadcast_to(drive(t), (self.n_pop,))
        tau = self.tau
        dr = (self.delta / (jnp.pi * tau) + self.Gamma @ s / jnp.pi + 2 * r * v) / tau
        dv = (v**2 + self.eta_bar + tau * (self.J @ s) + I - (jnp.pi * tau * r) ** 2) / tau
        out = {"r": dr, "v": dv}
        if self.synaptic:
            out["s"] = (r - s) / self.tau_d
        return out

    def observe(self, y):
        sq = (lambda x: x[0]) if self.scalar else (lambda x: x)
        r = sq(y["r"])
        obs = {"r": r, "A": r, "v": sq(y["v"]), "R": sq(jnp.abs(kuramoto_order(y["r"], y["v"], self.tau)))}
        if self.synaptic:
            obs["s"] = sq(y["s"])
        return obs


class FREEnsemble(AbstractODEModel):
    r"""The firing-rate equations for an arbitrary excitability distribution :math:`g(\eta)`.

    MPR Eq. (10) for ``n_eta`` quantile samples :math:`\eta_k` of :math:`g` (note [58] of the
    paper): each sample is a sharp Lorentzian of half-width :math:`\epsilon_k` (which breaks
    the time-reversibility of Eq. 10) whose complex variable :math:`w_k = x_k + i y_k`
    (:math:`x_k = \pi\tau r_k`, :math:`y_k` its mean voltage) obeys

    .. math:: \tau\dot w_k = \epsilon_k + i\,[\eta_k + \tau J r + I(t) - w_k^2],\qquad
              r = \frac{1}{\pi\tau}\langle \operatorname{Re} w_k\rangle_k,\quad
              v = \langle \operatorname{Im} w_k\rangle_k .

    A nearly silent sample (:math:`x_k \to 0`) sends :math:`y_k` through infinity when it
    fires, so the equations are integrated in the Ott–Antonsen variable on the unit disk,
    :math:`\alpha_k = (1 - w_k)/(1 + w_k)` (MPR Eq. 15), where they are a smooth polynomial:

    .. math:: \tau\dot\alpha_k = -\tfrac12\big[(\epsilon_k + i h_k)(1+\alpha_k)^2 - i(1-\alpha_k)^2\big],
              \qquad h_k = \eta_k + \tau J r + I(t).

    By default :math:`\epsilon_k` is the local spacing of the quantile samples, so the comb of
    Lorentzians reproduces :math:`g` up to ripples of relative size :math:`e^{-2\pi}`. For a
    Lorentzian :math:`g` the ensemble converges to :class:`MontbrioPazoRoxin` as ``n_eta`` grows.

    Parameters
    ----------
    distribution : AbstractDistribution or str
        :math:`g(\eta)`, e.g. ``Uniform(-1, 1)`` or ``Gaussian(-2, 1)``; a name
        (``'uniform'``, ``'gaussian'``, ``'lorentzian'``) uses ``eta_bar`` and ``scale``.
    J : float
        Synaptic weight. ``tau``: time constant (default 1).
    n_eta : int
        Number of quantile samples (>= 2).
    epsilon : float, optional
        Half-width of every sample (default: the local sample spacing).
    h_init : float
        ``init`` puts every sample at its own stationary state for the constant input
        :math:`\eta_k + h_{init}`, :math:`w_k = \sqrt{\eta_k + h_{init} - i\epsilon_k}` (principal root:
        firing samples at :math:`x_k \approx \sqrt{\eta_k + h_{init}}`, silent ones at rest). The
        default ``h_init = 0`` is close to the low-activity state; pass ``state0`` to
        :func:`jaxpop.simulate` for anything else.
    """

    distribution: AbstractDistribution
    J: jax.Array
    tau: jax.Array
    epsilon: jax.Array | None
    h_init: jax.Array
    n_eta: int = eqx.field(static=True)
    integrator: str = eqx.field(static=True)

    default_record = ("r", "v")

    def __init__(self, distribution="gaussian", J=10.0, *, eta_bar=-2.0, scale=1.0, n_eta=2000, tau=1.0,
                 epsilon=None, h_init=0.0, integrator="rk4"):
        if isinstance(distribution, str):
            distribution = make_distribution(distribution, eta_bar, scale)
        if not isinstance(distribution, AbstractDistribution):
            raise TypeError(f"distribution must be a jaxpop distribution or a name, got {distribution!r}")
        if not (isinstance(n_eta, (int, np.integer)) and n_eta >= 2):
            raise ValueError(f"n_eta must be an integer >= 2, got {n_eta!r}")
        check_positive("tau", tau)
        if epsilon is not None:
            check_positive("epsilon", epsilon)
        self.distribution = distribution
        self.J = jnp.asarray(J, dtype=float)
        self.tau = jnp.asarray(tau, dtype=float)
        self.epsilon = None if epsilon is None else jnp.asarray(epsilon, dtype=float)
        self.n_eta = int(n_eta)
        self.h_init = jnp.asarray(h_init, dtype=float)
        if integrator not in ("rk4", "euler"):
            raise ValueError(f"integrator must be 'rk4' or 'euler', got {integrator!r}")
        self.integrator = integrator

    @property
    def eta(self):
        r"""The quantile samples :math:`\eta_k` of the distribution."""
        return self.distribution.quantiles(self.n_eta)

    @property
    def widths(self):
        r"""Half-widths :math:`\epsilon_k` of the samples."""
        if self.epsilon is not None:
            return jnp.broadcast_to(self.epsilon, (self.n_eta,))
        return jnp.gradient(self.eta)

    def _w(self, y):
        alpha = y["a"] + 1j * y["b"]
        return (1 - alpha) / (1 + alpha)

    def init(self, key=None):
        w = jnp.sqrt((self.eta + self.h_init - 1j * self.widths).astype(complex))
        alpha = (1 - w) / (1 + w)
        return {"a": alpha.real, "b": alpha.imag}

    def vector_field(self, t, y, drive):
        alpha = y["a"] + 1j * y["b"]
        r = self.observe(y)["r"]
        h = self.eta + self.tau * self.J * r + drive(t)
        d = -0.5 * ((self.widths + 1j * h) * (1 + alpha) ** 2 - 1j * (1 - alpha) ** 2) / self.tau
        return {"a": d.real, "b": d.imag}

    def observe(self, y):
        w = self._w(y)
        r = jnp.mean(w.real) / (jnp.pi * self.tau)
        return {"r": r, "A": r, "v": jnp.mean(w.imag)}
