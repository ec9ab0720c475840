r"""One parameter set for populations of GIF neurons with escape noise, at every level.

:class:`GIFParams` is shared by the microscopic network (:class:`jaxpop.micro.GIFNetwork`)
and its mesoscopic twin (:class:`jaxpop.meso.SchwalgerMeso`), so that one object runs at
both levels. Names follow NEST's ``gif_pop_psc_exp`` where NEST has one.

Neuron :math:`i` of population :math:`\alpha` (Schwalger, Deger & Gerstner 2017):

.. math::

    \tau_m^\alpha \dot u_i &= -u_i + \mu^\alpha(t) + \tau_m^\alpha \sum_\beta J^{\alpha\beta}
        \sum_{j \in \beta,\,k} \varepsilon^\beta(t - t_j^k), \qquad
        \varepsilon^\beta(s) = \Theta(s - d^{\alpha\beta})\,\frac{e^{-(s-d^{\alpha\beta})/\tau_s^\beta}}{\tau_s^\beta},\\
    \vartheta_i(t) &= u_{th} + \sum_{t_i^k < t} \theta(t - t_i^k), \qquad
        \theta(s) = \sum_j \frac{J_{\theta,j}}{\tau_{\theta,j}} e^{-s/\tau_{\theta,j}}, \\
    \lambda_i(t) &= c\,\exp\big[(u_i - \vartheta_i)/\Delta_u\big],

with reset to :math:`u_r` and an absolute refractory period :math:`t_{ref}` after each spike.
Neuron :math:`j \in \beta` projects to :math:`i \in \alpha` with probability :math:`p^{\alpha\beta}`
and weight :math:`J^{\alpha\beta}` (mV; the voltage jump of one spike integrated over the PSC);
the mesoscopic model sees the mean field :math:`J^{\alpha\beta} p^{\alpha\beta} N^\beta`.
The synaptic time constant is that of the *sign* of :math:`J^{\alpha\beta}` (NEST: ``tau_syn_ex``
for :math:`J \ge 0`, ``tau_syn_in`` for :math:`J < 0`), per target population.

Units: time in ms, voltages in mV, rates in Hz (``lambda_0``; multiplied by 1e-3 to get 1/ms).

=================  ==================  =========================================================
this class          paper               NEST ``gif_pop_psc_exp``
=================  ==================  =========================================================
``mu``              :math:`\mu`         ``E_L + I_e * tau_m / C_m``
``lambda_0``        :math:`c`           ``lambda_0`` (Hz)
``Delta_V``         :math:`\Delta_u`    ``Delta_V``
``V_T_star``        :math:`u_{th}`      ``V_T_star``
``V_reset``         :math:`u_r`         ``V_reset``
``tau_sfa``         :math:`\tau_\theta` ``tau_sfa`` (ms)
``q_sfa``           :math:`J_\theta/\tau_\theta`  ``q_sfa`` (mV)
``J``, ``p``        :math:`J, p`        synapse weight = ``J * p * C_m / tau_syn`` (pA)
``delay``           :math:`\Delta`      synapse delay (ms)
=================  ==================  =========================================================

References: T. Schwalger, M. Deger, W. Gerstner, *Towards a theory of cortical columns: From
spiking neurons to interacting neural populations of finite size*, PLoS Comput. Biol. 13,
e1005507 (2017), doi:10.1371/journal.pcbi.1005507.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .model import ParamsBase, check_positive, is_concrete, population_sizes, static_values
from .model import population_matrix as _mat
from .model import population_vector as _vec


class GIFParams(ParamsBase):
    r"""Parameters of ``len(N)`` populations of GIF neurons with escape noise (see module docs).

    Parameters
    ----------
    N : int or tuple of int
        Neurons per population (structure: static).
    mu : float or array (n_pop,)
        Constant drive :math:`\mu` (mV); time-dependent input comes through the drive (mV).
    tau_m : membrane time constant (ms).
    t_ref : absolute refractory period (ms), >= 0; structure (a whole number of steps; a static
        tuple, one value per population): change it with ``replace(t_ref=...)``.
    lambda_0 : rate at threshold :math:`c` (Hz), > 0.
    Delta_V : softness :math:`\Delta_u` (mV), > 0.
    V_T_star : threshold :math:`u_{th}` (mV). ``V_reset``: reset :math:`u_r` (mV).
    tau_sfa, q_sfa : arrays (n_pop, n_kernels)
        Adaptation kernels: time constants (ms) and jump sizes :math:`J_\theta/\tau_\theta` (mV).
        ``n_kernels = 0`` (the default, shape ``(n_pop, 0)``) means no adaptation.
    J : array (n_pop, n_pop)
        Synaptic weights :math:`J^{\alpha\beta}` (mV), signed (target, source).
    p : array (n_pop, n_pop)
        Connection probabilities in [0, 1].
    tau_syn_ex, tau_syn_in : float or array (n_pop,)
        Synaptic time constants (ms) of the target population for excitatory / inhibitory input.
    delay : float or array (n_pop, n_pop)
        Transmission delays (ms), >= 0; structure (whole numbers of steps; a static nested tuple,
        target, source): change it with ``replace(delay=...)``.

    All other fields are parameters (float arrays: sweepable, differentiable). ``replace(**changes)``
    returns a copy rebuilt through this constructor.
    """

    mu: jax.Array
    tau_m: jax.Array
    lambda_0: jax.Array
    Delta_V: jax.Array
    V_T_star: jax.Array
    V_reset: jax.Array
    tau_sfa: jax.Array
    q_sfa: jax.Array
    J: jax.Array
    p: jax.Array
    tau_syn_ex: jax.Array
    tau_syn_in: jax.Array
    t_ref: tuple[float, ...] = eqx.field(static=True)
    delay: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    N: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, N=500, *, mu=24.0, tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=2.5, V_T_star=15.0,
                 V_reset=0.0, tau_sfa=None, q_sfa=None, J=0.0, p=1.0, tau_syn_ex=3.0, tau_syn_in=6.0, delay=1.0):
        self.N = population_sizes(N)
        n = len(self.N)
        check_positive("tau_m", tau_m)
        check_positive("lambda_0", lambda_0)
        check_positive("Delta_V", Delta_V)
        check_positive("tau_syn_ex", tau_syn_ex)
        check_positive("tau_syn_in", tau_syn_in)
        self.mu = _vec("mu", mu, n)
        self.tau_m = _vec("tau_m", tau_m, n)
        self.t_ref = static_values("t_ref", t_ref, n, minimum=0.0)
        self.lambda_0 = _vec("lambda_0", lambda_0, n)
        self.Delta_V = _vec("Delta_V", Delta_V, n)
        self.V_T_star = _vec("V_T_star", V_T_star, n)
        self.V_reset = _vec("V_reset", V_reset, n)
        if (tau_sfa is None) != (q_sfa is None):
            raise ValueError("tau_sfa and q_sfa must be given together (adaptation time constants and jump sizes)")
        if tau_sfa is None:
            tau_sfa = jnp.zeros((n, 0))
            q_sfa = jnp.zeros((n, 0))
        tau_sfa = jnp.asarray(tau_sfa, dtype=float)
        q_sfa = jnp.asarray(q_sfa, dtype=float)
        if tau_sfa.ndim == 1:  # the same kernels for every population
            tau_sfa = jnp.broadcast_to(tau_sfa, (n, tau_sfa.shape[0]))
        if q_sfa.ndim == 1:
            q_sfa = jnp.broadcast_to(q_sfa, (n, q_sfa.shape[0]))
        if tau_sfa.ndim != 2 or tau_sfa.shape[0] != n or tau_sfa.shape != q_sfa.shape:
            raise ValueError(f"tau_sfa and q_sfa must have equal shapes (n_pop={n}, n_kernels) or (n_kernels,), "
                             f"got {tau_sfa.shape} and {q_sfa.shape}")
        if tau_sfa.size and is_concrete(tau_sfa):
            check_positive("tau_sfa", tau_sfa)
        self.tau_sfa = tau_sfa
        self.q_sfa = q_sfa
        self.J = _mat("J", J, n)
        p = _mat("p", p, n)
        if not isinstance(p, jax.core.Tracer) and not bool(jnp.all((p >= 0) & (p <= 1))):
            raise ValueError(f"p (connection probabilities) must lie in [0, 1], got p={np.asarray(p)!r}")
        self.p = p
        self.tau_syn_ex = _vec("tau_syn_ex", tau_syn_ex, n)
        self.tau_syn_in = _vec("tau_syn_in", tau_syn_in, n)
        self.delay = static_values("delay", delay, n, matrix=True, minimum=0.0)

    @property
    def n_pop(self) -> int:
        return len(self.N)

    @property
    def n_kernels(self) -> int:
        return int(self.tau_sfa.shape[1])

    @property
    def tau_syn(self) -> jax.Array:
        r"""Synaptic time constant of each connection (target, source), by the sign of :math:`J`."""
        return jnp.where(self.J >= 0, self.tau_syn_ex[:, None], self.tau_syn_in[:, None])

    def theta_kernel(self, s):
        r"""Adaptation kernel :math:`\theta(s) = \sum_j q_j e^{-s/\tau_j}` (mV) per population; ``s`` in ms, shape (..., n_pop)."""
        s = jnp.asarray(s, dtype=float)[..., None]
        return jnp.sum(self.q_sfa * jnp.exp(-s / jnp.where(self.tau_sfa > 0, self.tau_sfa, 1.0)), axis=-1)

    def check_dt(self, dt: float) -> None:
        """``dt`` must resolve the refractory period and the delays (whole numbers of steps; static values)."""
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got dt={dt!r}")
        for name, arr in (("t_ref", np.asarray(self.t_ref)), ("delay", np.asarray(self.delay))):
            a = arr / dt
            if np.any(np.abs(a - np.round(a)) > 1e-6 * np.maximum(1.0, a)):
                raise ValueError(f"{name} = {arr.tolist()!r} ms is not a whole number of steps dt = {dt} ms")
        delay = np.asarray(self.delay)
        if np.any((delay > 0) & (delay < dt - 1e-12)):
            raise ValueError(f"dt = {dt} ms does not resolve the delays {delay.tolist()!r} ms")
