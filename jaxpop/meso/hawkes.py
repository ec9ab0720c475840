r"""Mesoscopic (population-count) Hawkes / LNP model and its diffusion approximation.

Same populations and input-potential dynamics as :class:`jaxpop.micro.HawkesNetwork`
(:class:`jaxpop.micro.hawkes.HawkesParams`, see :mod:`jaxpop.micro.hawkes` for the equations
and the time discretisation), but only the population spike counts are simulated. All
:math:`N_\alpha` neurons of a population share the intensity :math:`f_\alpha(h_\alpha)` and are
conditionally independent, so their superposition is again Poisson (Hawkes 1971; Schwalger et al.
2017, see the references below; the lecture's toy example):

.. math::

    n_\alpha(t) &\sim \mathrm{Poisson}\big(N_\alpha f_\alpha(h_\alpha(t^-))\,\Delta t\big)
        && \texttt{counts='poisson'}\ \text{(exact twin of } \texttt{sampling='poisson'}),\\
    n_\alpha(t) &\sim \mathrm{Bin}\big(N_\alpha,\ 1 - e^{-f_\alpha\Delta t}\big)
        && \texttt{counts='binomial'}\ \text{(exact twin of } \texttt{sampling='bernoulli'};
            = \text{Poisson to } O(\Delta t^2) \text{ per step}),\\
    n_\alpha(t) &= N_\alpha f_\alpha\Delta t + \sqrt{N_\alpha f_\alpha\Delta t}\;\xi_\alpha,\ \xi\sim\mathcal N(0,1)
        && \texttt{counts='gaussian'}\ \text{(diffusion approximation)},\\
    n_\alpha(t) &= N_\alpha f_\alpha\Delta t && \texttt{counts='mean_field'}\ (N\to\infty,\ \text{deterministic}),

and :math:`A_{N,\alpha} = n_\alpha/(N_\alpha\Delta t)`. The diffusion approximation is
:math:`A_N\,dt = f\,dt + \sqrt{f/N}\,dW`, i.e. :math:`A_N\Delta t = f\Delta t + \sqrt{f\Delta t/N}\,\xi`.

**Non-negativity of the Gaussian counts** (``nonneg``; as for any diffusion approximation
of counts, truncation or reflection is needed when :math:`N f\Delta t` is small). The Gaussian
count is negative with probability :math:`\Phi(-\sqrt{N f\Delta t})`; the treatment is a static option, never silent:

* ``'clip'`` (default): :math:`n \leftarrow \max(n, 0)` (truncation). It raises the mean count by
  :math:`\sigma\phi(m/\sigma) - m\,\Phi(-m/\sigma)` with :math:`m = \sigma^2 = N f\Delta t`: below
  :math:`10^{-20}` relative for :math:`m > 100`, but 8 % for :math:`m = 1`. Use the Gaussian
  mode where :math:`N f \Delta t \gg 1` (or Poisson counts).
* ``'reflect'``: :math:`n \leftarrow |n|` (reflection); it doubles the upward bias of ``'clip'``.
* ``'none'``: keep negative counts (the plain diffusion approximation; :math:`A_N` may be < 0).

Gradients: ``counts='gaussian'`` is reparameterised (pathwise gradients through
:math:`\xi`); ``'poisson'`` / ``'binomial'`` use the sampling ``mode`` of :mod:`jaxpop.spikes`
('straight_through': exact counts, gradient of the mean; 'gumbel': relaxed counts);
``'mean_field'`` is deterministic.

Units: time in ms, :math:`h` in mV, rates and :math:`A` in Hz.

References: A. G. Hawkes, Biometrika 58, 83 (1971), doi:10.1093/biomet/58.1.83; T. Schwalger,
M. Deger, W. Gerstner, PLoS Comput. Biol. 13, e1005507 (2017), doi:10.1371/journal.pcbi.1005507.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core import spikes as _spikes
from ..core.hawkes_params import (
    INITS, HawkesParams, advance, check_model_dt, expected_counts, init_state, initial_h, n_delay_buffer,
)
from ..core.model import AbstractModel
from ..core.model import population_vector as _vec

COUNTS = ("poisson", "binomial", "gaussian", "mean_field")


class HawkesPre(NamedTuple):
    """What :meth:`HawkesMeso.expected_count` predicts for a step (consumed by ``add_count``)."""
    state: dict
    lam: jax.Array  # expected spikes per neuron in the step
    t: jax.Array
    drive: Any
NONNEG = ("clip", "reflect", "none")


class HawkesMeso(AbstractModel):
    r"""Population-count (mesoscopic) Hawkes / LNP model (module docs).

    Parameters
    ----------
    params : HawkesParams
        The populations (shared with :class:`jaxpop.micro.HawkesNetwork`).
    counts : {'poisson', 'binomial', 'gaussian', 'mean_field'}
        How the population count of a step is drawn (module docs).
    mode : str
        Sampling mode of :mod:`jaxpop.spikes` for Poisson / binomial counts.
    nonneg : {'clip', 'reflect', 'none'}
        Treatment of negative Gaussian counts (``counts='gaussian'``, or Poisson / binomial counts
        with ``mode='gaussian'``; module docs).
    init, h_init, dt, temperature
        As :class:`jaxpop.micro.HawkesNetwork`.
    support : int, optional
        Half-width of the count window of ``mode='gumbel'`` (:mod:`jaxpop.spikes`; checked at run
        time). Default :func:`jaxpop.spikes.count_support` of the largest population for the count
        law, which covers any binomial count and any Poisson count of mean up to ``N`` (at most one
        expected spike per neuron and step).

    Observables: ``A`` (Hz, averaged over recording blocks), ``n`` (population counts, summed),
    ``h`` (mV), ``rate`` (:math:`f(h)`, Hz).

    Examples
    --------
    >>> p = HawkesParams(1000, mu=10.0, J=0.5, tau=10.0)
    >>> res = jaxpop.simulate(HawkesMeso(p, dt=0.1), 1000.0, 0.1, key=key, trials=16)
    """

    params: HawkesParams
    h_init: jax.Array | None
    temperature: float = eqx.field(static=True)
    counts: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    nonneg: str = eqx.field(static=True)
    support: int = eqx.field(static=True)
    init_mode: str = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    n_delay: int = eqx.field(static=True)
    d_steps: tuple = eqx.field(static=True)

    accumulated = ("A",)
    summed = ("n",)
    default_record = ("A",)

    def __init__(self, params: HawkesParams, *, counts="poisson", mode="exact", nonneg="clip", init="rest", h_init=None,
                 dt: float, temperature=_spikes.DEFAULT_TEMPERATURE, support: int | None = None):
        if not isinstance(params, HawkesParams):
            raise TypeError(f"params must be a HawkesParams, got {type(params).__name__}")
        if counts not in COUNTS:
            raise ValueError(f"counts must be one of {COUNTS}, got {counts!r}")
        if nonneg not in NONNEG:
            raise ValueError(f"nonneg must be one of {NONNEG}, got {nonneg!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.params = params
        self.counts = counts
        self.mode = _spikes.check_mode(mode)
        self.nonneg = nonneg
        self.init_mode = init
        self.h_init = None if h_init is None else _vec("h_init", h_init, params.n_pop)
        self.temperature = float(temperature)
        if support is None:
            support = _spikes.count_support(params.N, "binomial" if counts == "binomial" else "poisson")
        elif not (isinstance(support, (int, np.integer)) and support >= 1):
            raise ValueError(f"support must be a positive integer (count window half-width), got support={support!r}")
        self.support = int(support)
        if not (isinstance(dt, (int, float, np.floating)) and dt > 0):
            raise ValueError(f"dt must be a positive number (ms), got dt={dt!r}")
        self.dt = float(dt)
        self.n_delay, d = n_delay_buffer(params, self.dt)
        self.d_steps = tuple(map(tuple, d.tolist()))

    @classmethod
    def from_micro(cls, net, **kwargs):
        """The mesoscopic twin of a :class:`jaxpop.micro.HawkesNetwork` (Bernoulli spikes ->
        binomial counts, Poisson spikes -> Poisson counts; same params, mode, init, h_init, dt, temperature)."""
        args = dict(counts="binomial" if net.sampling == "bernoulli" else "poisson", mode=net.mode,
                    init=net.init_mode, h_init=net.h_init, dt=net.dt, temperature=net.temperature)
        args.update(kwargs)
        return cls(net.params, **args)

    @property
    def n_pop(self) -> int:
        return self.params.n_pop

    @property
    def drive_shape(self):
        return (self.n_pop,)

    def observable_dims(self):
        p = ("population",)
        return {"A": p, "n": p, "h": p, "rate": p}

    def check_dt(self, dt):
        self.params.check_dt(dt)
        check_model_dt("HawkesMeso", self.dt, dt)

    def init(self, key):
        return init_state(self.params, initial_h(self.params, self.init_mode, self.h_init), self.n_delay)

    def expected_count(self, state, t, dt, drive) -> HawkesPre:
        r"""Predict: the expected spikes per neuron in the step, :math:`\lambda = f(h)\,\Delta t` (the
        state does not change before the count is known)."""
        check_model_dt("HawkesMeso", self.dt, dt)
        _, lam = expected_counts(self.params, state["h"], dt)  # per neuron
        return HawkesPre(state, lam, t, drive)

    def add_count(self, pre: HawkesPre, count):
        """Condition: advance the state with the population counts ``count`` of the step."""
        return advance(self.params, pre.state, count, pre.t, self.dt, pre.drive, np.asarray(self.d_steps))

    def count_law(self, pre: HawkesPre) -> _spikes.CountLaw:
        r"""The law the step draws the count from (the likelihood of observed counts, :mod:`jaxpop.fit`;
        module docs): Poisson :math:`N\lambda`, binomial :math:`(N, 1 - e^{-\lambda})`, or their
        normal approximation with the ``nonneg`` treatment."""
        if self.counts == "mean_field":
            raise ValueError("counts='mean_field' is deterministic: it has no count law; use 'poisson', 'binomial' "
                             "or 'gaussian' for a likelihood")
        N = jnp.asarray(self.params.N, dtype=pre.lam.dtype)
        if self.counts == "binomial":
            p = -jnp.expm1(-pre.lam)
            if self.mode == "gaussian":
                return _spikes.CountLaw.normal(N * p, N * p * (1 - p), nonneg=self.nonneg)
            return _spikes.CountLaw.binomial(N, p)
        mean = N * pre.lam
        if self.counts == "gaussian" or self.mode == "gaussian":
            return _spikes.CountLaw.normal(mean, mean, nonneg=self.nonneg)
        return _spikes.CountLaw.poisson(mean)

    def step(self, state, t, dt, drive, key):
        pre = self.expected_count(state, t, dt, drive)
        N = jnp.asarray(self.params.N, dtype=float)
        lam = pre.lam
        if self.counts == "poisson":
            n = _spikes.poisson(key, N * lam, mode=self.mode, temperature=self.temperature, support=self.support)
        elif self.counts == "binomial":
            n = _spikes.binomial(key, N, -jnp.expm1(-lam), mode=self.mode, temperature=self.temperature,
                                 support=self.support)
        elif self.counts == "gaussian":
            n = _spikes.poisson(key, N * lam, mode="gaussian")
        else:
            n = N * lam
        if self.counts == "gaussian" or (self.mode == "gaussian" and self.counts != "mean_field"):
            if self.nonneg == "clip":
                n = jnp.maximum(n, 0.0)
            elif self.nonneg == "reflect":
                n = jnp.abs(n)
        return self.add_count(pre, n)

    def observe(self, state):
        return {"A": state["A"], "n": state["n"], "h": state["h"], "rate": self.params.rate(state["h"])}
