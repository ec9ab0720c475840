r"""Parameters of populations of current-based leaky integrate-and-fire neurons (NEST ``iaf_psc_exp``).

Neuron :math:`i` of population :math:`\alpha`, with exponential post-synaptic currents:

.. math::

    C_m \dot V_i = -\frac{C_m}{\tau_m}(V_i - E_L) + I_i(t) + I_e, \qquad
    \tau_{syn} \dot I_i = -I_i + \tau_{syn} \sum_k w_k\,\delta(t - t_k - d_k),

a spike when :math:`V_i \ge V_{th}`, then :math:`V_i = V_{reset}` held for :math:`t_{ref}`.
Units: pF, ms, mV (NEST's lexicon and units).

:class:`LIFParams` is the neuron part of :class:`jaxpop.micro.microcircuit.MicrocircuitNetwork`
(the Potjans–Diesmann microcircuit); the connectivity, background and input live in
:class:`jaxpop.presets.potjans_diesmann.MicrocircuitConfig`. Every field except ``N`` and ``t_ref``
(structure: sizes and step counts) is a parameter (sweepable, differentiable).

References: T. C. Potjans, M. Diesmann, Cereb. Cortex 24, 785 (2014), doi:10.1093/cercor/bhs358;
S. Rotter, M. Diesmann, Biol. Cybern. 81, 381 (1999), doi:10.1007/s004220050570 (exact integration).
"""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np

from .model import ParamsBase, check_positive, is_concrete, population_sizes, static_values
from .model import population_vector as _vec


class LIFParams(ParamsBase):
    r"""``len(N)`` populations of ``iaf_psc_exp`` neurons (see module docs).

    Parameters
    ----------
    N : int or tuple of int
        Neurons per population (structure: static).
    C_m : membrane capacitance (pF), > 0.
    tau_m : membrane time constant (ms), > 0.
    E_L : resting potential (mV).
    V_th : spike threshold (mV), > ``V_reset``.
    V_reset : reset potential (mV).
    tau_syn : time constant of the exponential PSCs (ms), > 0, different from ``tau_m`` (the exact
        propagator divides by :math:`\tau_m - \tau_{syn}`); the same for excitatory and inhibitory
        input (NEST ``tau_syn_ex = tau_syn_in``, as in PD14).
    t_ref : absolute refractory period (ms), >= 0; structure (a whole number of steps; static).

    Each parameter is a scalar (broadcast) or one value per population, stored as float32 (the
    microcircuit integrates in single precision, as NEST's PD14 runs are compared in).
    """

    C_m: jax.Array
    tau_m: jax.Array
    E_L: jax.Array
    V_th: jax.Array
    V_reset: jax.Array
    tau_syn: jax.Array
    t_ref: tuple[float, ...] = eqx.field(static=True)
    N: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, N, *, C_m=250.0, tau_m=10.0, E_L=-65.0, V_th=-50.0, V_reset=-65.0, tau_syn=0.5, t_ref=2.0):
        self.N = population_sizes(N)
        n = len(self.N)
        for name, val in (("C_m", C_m), ("tau_m", tau_m), ("tau_syn", tau_syn)):
            check_positive(name, val)
        f32 = lambda name, v: _vec(name, v, n).astype("float32")  # noqa: E731
        self.C_m, self.tau_m, self.E_L = f32("C_m", C_m), f32("tau_m", tau_m), f32("E_L", E_L)
        self.V_th, self.V_reset, self.tau_syn = f32("V_th", V_th), f32("V_reset", V_reset), f32("tau_syn", tau_syn)
        self.t_ref = static_values("t_ref", t_ref, n, minimum=0.0)

        if is_concrete(self.V_th, self.V_reset, self.tau_m, self.tau_syn):
            if np.any(np.asarray(self.V_reset) >= np.asarray(self.V_th)):
                raise ValueError(f"V_reset must be < V_th, got V_reset={np.asarray(self.V_reset).tolist()}, "
                                 f"V_th={np.asarray(self.V_th).tolist()}")
            if np.any(np.abs(np.asarray(self.tau_m) - np.asarray(self.tau_syn)) < 1e-6 * np.asarray(self.tau_m)):
                raise ValueError("tau_syn must differ from tau_m (the exact propagator divides by tau_m - tau_syn)")

    @property
    def n_pop(self) -> int:
        return len(self.N)

    def check_dt(self, dt: float) -> None:
        """``t_ref`` must be a whole number of steps."""
        a = np.asarray(self.t_ref) / dt
        if np.any(np.abs(a - np.round(a)) > 1e-9 * np.maximum(1.0, a)):
            raise ValueError(f"dt = {dt} ms does not resolve t_ref = {list(self.t_ref)} ms in whole steps")
