r"""Networks of linear–nonlinear–Poisson neurons: the (nonlinear) Hawkes toy model.

The lecture's tractable example of a finite-size population without refractoriness
(Hawkes 1971; Schwalger et al. 2017 without reset: see the references below). Neuron :math:`i`
of population :math:`\alpha` fires as an inhomogeneous Poisson process with intensity
:math:`f_\alpha(h_\alpha(t^-))`; all neurons of a population see the same input potential
(all-to-all, mean-field coupling)

.. math::

    \tau_\alpha \dot h_\alpha &= -h_\alpha + \mu_\alpha + I_\alpha(t)
        + \sum_\beta J_{\alpha\beta}\,(\kappa_{\alpha\beta} * A_{N,\beta})(t),\qquad
    A_{N,\beta}(t) = \frac{1}{N_\beta}\sum_{j\in\beta}\sum_k \delta(t - t_j^k),\\
    \kappa_{\alpha\beta}(s) &= \Theta(s - d_{\alpha\beta})\,
        \frac{e^{-(s - d_{\alpha\beta})/\tau_{s,\alpha\beta}}}{\tau_{s,\alpha\beta}}
        \quad(\tau_s = 0:\ \kappa(s) = \delta(s - d)),\\
    dZ_i &\sim \mathrm{Poisson}\big[f_\alpha(h_\alpha(t^-))\,dt\big].

:math:`J` multiplies a *unit-area* kernel, so the stationary state obeys
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

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core import spikes as _spikes
from ..core.hawkes_params import (  # noqa: F401  (HawkesParams, TRANSFERS re-exported)
    INITS, TRANSFERS, HawkesParams, advance, check_model_dt, expected_counts, init_state, initial_h, n_delay_buffer,
)
from ..core.model import AbstractModel
from ..core.model import population_vector as _vec


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
        (:meth:`HawkesParams.mean_field_h`). Overridden by ``h_init``.
    h_init : array (n_pop,), optional
        Initial input potential (mV); overrides ``init``. (Not to be confused with the transfer
        function's threshold ``HawkesParams.h_0``.)
    dt : float
        Time step (ms), required keyword: it sizes the delay line (static);
        :func:`jaxpop.simulate` must be called with the same ``dt``.
    temperature : float
        Relaxation temperature of the 'gumbel' / 'straight_through' modes.

    Observables: ``A`` (population activity, Hz, averaged over recording blocks), ``n``
    (population spike counts, summed), ``spikes`` (per neuron, summed: ``Result.spike_trains()``),
    ``h`` (mV), ``rate`` (:math:`f(h)`, Hz).
    """

    params: HawkesParams
    h_init: jax.Array | None
    temperature: float = eqx.field(static=True)
    sampling: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    init_mode: str = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    n_delay: int = eqx.field(static=True)
    d_steps: tuple = eqx.field(static=True)

    accumulated = ("A",)
    summed = ("spikes", "n")
    default_record = ("A",)

    def __init__(self, params: HawkesParams, *, sampling="bernoulli", mode="exact", init="rest", h_init=None, dt: float,
                 temperature=_spikes.DEFAULT_TEMPERATURE):
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
        self.h_init = None if h_init is None else _vec("h_init", h_init, params.n_pop)
        self.temperature = float(temperature)
        if not (isinstance(dt, (int, float, np.floating)) and dt > 0):
            raise ValueError(f"dt must be a positive number (ms), got dt={dt!r}")
        self.dt = float(dt)
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
        check_model_dt("HawkesNetwork", self.dt, dt)

    def init(self, key):
        state = init_state(self.params, initial_h(self.params, self.init_mode, self.h_init), self.n_delay)
        state["spikes"] = jnp.zeros((sum(self.params.N),))
        return state

    def step(self, state, t, dt, drive, key):
        check_model_dt("HawkesNetwork", self.dt, dt)
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
