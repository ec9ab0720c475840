r"""The exact likelihood of observed population counts under a mesoscopic model.

A mesoscopic model with a count law (:class:`~jaxpop.meso.SchwalgerMeso`,
:class:`~jaxpop.meso.HawkesMeso`) splits its step into *predict* (``expected_count``: the state
up to the expected count of the step), the *count law* (``count_law``: the distribution the
sampler draws from) and *condition* (``add_count``: advance the state with a given count); its
``step`` is predict → sample → condition. Given observed counts :math:`n_\alpha(t_k)`, the model
driven by the observed past (teacher forcing: the observed count replaces the sampled one) gives
the conditional law of every bin, and the log-likelihood is

.. math::

    \log L(\theta) = \sum_{\text{trials}} \sum_{k \ge k_0} \sum_\alpha
        \log P_\theta\big(n_\alpha(t_k) \,\big|\, n(t_{k'}),\ k' < k\big),

e.g. :math:`\log \mathrm{Bin}\big(n_\alpha(t_k) \mid N_\alpha, \bar n_\alpha(t_k)/N_\alpha\big)`
for binomial counts (René, Longtin & Macke 2020). No relaxation is involved: this is the
likelihood of the exact model, differentiable in every parameter through :math:`\bar n`.
The first ``burn_in`` ms are run (teacher-forced) but not scored: the model's initial state
(every neuron in the oldest age bin) is not the data's.

The sum is accumulated in float64 (jaxpop enables x64); per-bin terms are available
(:func:`log_likelihood_terms`). Both functions are pure, jit-able, vmappable over models (parameter
sets) and differentiable with :func:`equinox.filter_grad`.

References: J. René, A. Longtin, J. H. Macke, *Inference of a mesoscopic population model from
population spike trains*, Neural Comput. 32, 1448 (2020), doi:10.1162/neco_a_01292;
T. Schwalger, M. Deger, W. Gerstner, PLoS Comput. Biol. 13, e1005507 (2017).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.drives import as_drive, check_drive
from ..core.model import AbstractModel, check_runtime, is_concrete
from .data import PopulationData

__all__ = ["log_likelihood", "log_likelihood_terms", "log_likelihood_window", "check_count_model"]

_SEAM = ("expected_count", "count_law", "add_count")


def check_count_model(model) -> None:
    """Raise if ``model`` has no count law (the predict / count-law / condition split)."""
    if not isinstance(model, AbstractModel):
        raise TypeError(f"model must be a jaxpop model, got {type(model).__name__}")
    missing = [m for m in _SEAM if not callable(getattr(model, m, None))]
    if missing:
        raise TypeError(f"{type(model).__name__} has no count law ({', '.join(missing)} missing): the exact "
                        "likelihood needs a mesoscopic model with one (SchwalgerMeso, HawkesMeso); fit other models "
                        "with a loss on simulated statistics")


def _check_data(model, data: PopulationData, burn_in: float):
    if not isinstance(data, PopulationData):
        raise TypeError(f"data must be a PopulationData, got {type(data).__name__}")
    N = tuple(int(n) for n in np.atleast_1d(np.asarray(model.params.N)))
    if N != data.N:
        raise ValueError(f"the data's population sizes N = {data.N} differ from the model's N = {N}")
    k = data.steps_per_bin(model.dt)
    if k != 1:
        raise ValueError(f"the data's bins ({data.bin_width} ms) hold {k} model steps of dt = {model.dt} ms; the exact "
                         f"likelihood needs one step per bin: build the model with dt={data.bin_width}")
    if data.max_per_neuron != 1:
        raise ValueError(f"the data allow up to {data.max_per_neuron} spikes per neuron and bin (rebinned); the count "
                         "laws allow one: use bins of one model step")
    n_burn = int(round(float(burn_in) / data.bin_width))
    if not (burn_in >= 0 and abs(n_burn * data.bin_width - burn_in) <= 1e-9 * max(1.0, burn_in)):
        raise ValueError(f"burn_in must be >= 0 and a whole number of bins ({data.bin_width} ms), got {burn_in!r}")
    if n_burn >= data.n_bins:
        raise ValueError(f"burn_in = {burn_in} ms leaves no bins to score (the data hold {data.n_bins * data.bin_width} ms)")
    return n_burn


def log_likelihood_terms(model, data: PopulationData, *, drive=None, key=None) -> jax.Array:
    """Per-bin log-probabilities, shape ``(trials, bins, n_pop)`` (float64), of ``data`` under ``model``
    driven by the observed counts (module docs). ``drive`` overrides ``data.drive``; ``key`` is
    passed to ``model.init`` (default ``PRNGKey(0)``; the mesoscopic models' initial states are
    deterministic)."""
    check_count_model(model)
    _check_data(model, data, 0.0)
    drive = as_drive(data.drive if drive is None else drive)
    check_drive(drive, model.drive_shape, data.t0, data.t_end)
    model.check_dt(model.dt)
    key = jax.random.PRNGKey(0) if key is None else key
    terms = _terms(model, data.counts, drive, key, data.t0)
    return check_runtime(model, model.dt, terms)


def log_likelihood(model, data: PopulationData, *, burn_in: float = 0.0, drive=None, key=None) -> jax.Array:
    """Log-likelihood (a float64 scalar) of ``data`` under ``model``, summed over trials, populations
    and the bins after ``burn_in`` (ms); see the module docs."""
    check_count_model(model)
    n_burn = _check_data(model, data, burn_in)
    terms = log_likelihood_terms(model, data, drive=drive, key=key)
    return jnp.sum(terms[:, n_burn:].astype(_acc_dtype()))


def log_likelihood_window(model, data: PopulationData, start, *, length: float, burn_in: float, drive=None,
                          key=None) -> jax.Array:
    r"""Log-likelihood of one window of ``data``: the bins of ``burn_in + length`` ms from bin ``start`` (an
    integer, may be traced: a random window per optimisation step) are run, the model starting from its initial
    state, and the last ``length`` ms are scored. Minibatches of windows with their own burn-in (René et al.
    2020) make a gradient step cost ``(burn_in + length) / T`` of a full-data step; ``burn_in`` must cover the
    model's memory (its history window and slowest time constant) for the window to score what the full run
    scores. ``start`` is checked only when concrete (traced: clamped into range by ``dynamic_slice``)."""
    check_count_model(model)
    _check_data(model, data, 0.0)
    h = data.bin_width
    n_burn, n_len = int(round(burn_in / h)), int(round(length / h))
    if not (n_burn >= 0 and abs(n_burn * h - burn_in) <= 1e-9 * max(1.0, burn_in)):
        raise ValueError(f"burn_in must be >= 0 and a whole number of bins ({h} ms), got {burn_in!r}")
    if not (n_len >= 1 and abs(n_len * h - length) <= 1e-9 * max(1.0, length)):
        raise ValueError(f"length must be a positive whole number of bins ({h} ms), got {length!r}")
    if n_burn + n_len > data.n_bins:
        raise ValueError(f"a window of burn_in + length = {burn_in + length} ms is longer than the data "
                         f"({data.n_bins * h} ms)")
    if is_concrete(start) and not 0 <= int(start) <= data.n_bins - n_burn - n_len:
        raise ValueError(f"start = {int(start)} bins: the window must lie in the data (0 <= start <= "
                         f"{data.n_bins - n_burn - n_len})")
    drive = as_drive(data.drive if drive is None else drive)
    check_drive(drive, model.drive_shape, data.t0, data.t_end)
    key = jax.random.PRNGKey(0) if key is None else key
    start = jnp.asarray(start, jnp.int32)
    counts = jax.lax.dynamic_slice_in_dim(jnp.asarray(data.counts), start, n_burn + n_len, axis=1)
    terms = _terms(model, counts, drive, key, data.t0 + start * h)
    terms = check_runtime(model, model.dt, terms)
    return jnp.sum(terms[:, n_burn:].astype(_acc_dtype()))


def _acc_dtype():
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


@eqx.filter_jit
def _terms(model, counts, drive, key, t0):
    dt = model.dt
    acc = _acc_dtype()

    def one_trial(c):
        state = model.init(key)

        # rematerialised in the backward pass: reverse mode stores one state per bin instead of every
        # intermediate of the step (less memory traffic; measured faster on CPU)
        @jax.checkpoint
        def body(state, xs):
            k, n = xs
            t = t0 + k * dt
            pre = model.expected_count(state, t, dt, drive)
            lp = model.count_law(pre).log_prob(n).astype(acc)
            return model.add_count(pre, n), lp

        _, lp = jax.lax.scan(body, state, (jnp.arange(c.shape[0]), c))
        return lp

    return jax.vmap(one_trial)(counts)
