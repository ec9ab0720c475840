r"""Spike and count sampling with optional differentiable relaxations.

All stochastic spiking in jaxpop goes through this module, so one model definition
serves both simulation (``mode='exact'``) and gradient-based fitting (the relaxed modes).

=====================  ==========================================  ==========================================
mode                   forward                                     backward (pathwise gradient)
=====================  ==========================================  ==========================================
``'exact'``            exact sample                                none (the sample is a constant)
``'gumbel'``           relaxed sample (binary-concrete / Gumbel-   gradient of the relaxation
                       softmax at ``temperature``)
``'straight_through'`` exact (hard) sample                         Bernoulli: gradient of the relaxed sample;
                                                                   counts: gradient of the mean
``'gaussian'``         ``mean + sqrt(var) * eps``                  reparameterised gradient
=====================  ==========================================  ==========================================

Bernoulli relaxation (binary concrete; Maddison et al. 2017, Jang et al. 2017): with logistic
noise :math:`L = \log(1-U) - \log U` (:math:`U` uniform),

.. math:: y = \sigma\big((\operatorname{logit} p + L)/\tau\big),\qquad
          \text{hard} = \mathbb 1[\operatorname{logit} p + L > 0] = \mathbb 1[U < p] \sim \mathrm{Bernoulli}(p).

``'exact'``, ``'gumbel'`` and ``'straight_through'`` share :math:`U`: the relaxed sample
tends to the exact one as :math:`\tau \to 0`, and the straight-through gradient is that of
the relaxation of the very sample returned.

Count relaxation (``'gumbel'`` for Poisson / binomial): Gumbel-softmax over the
``2 * support + 1`` integers nearest the mean, weighted by the exact log-pmf; the relaxed
count is :math:`\sum_k k\,\mathrm{softmax}_k((\log P(k) + G_k)/\tau)`. The window must cover
the distribution: it is checked at run time (``check=True``) that the window holds all
but ``1e-6`` of the probability mass, else an error is raised — the window is never
silently too narrow.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

MODES = ("exact", "gumbel", "straight_through", "gaussian")
_TINY = 1e-12


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def _check_temperature(temperature):
    if not isinstance(temperature, jax.core.Tracer) and not float(temperature) > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


def _first_bad(x, bad):
    x, bad = np.ravel(np.asarray(x)), np.ravel(bad)
    return f"{int(bad.sum())} invalid value(s), e.g. {float(x[np.argmax(bad)])!r}"


def _check_prob(p, name="p"):
    """``p`` in [0, 1] (NaN rejected): ``ValueError`` for concrete input, a run-time error under ``jit``."""
    if not isinstance(p, jax.core.Tracer):
        bad = ~((np.asarray(p) >= 0) & (np.asarray(p) <= 1))  # NaN fails both comparisons
        if np.any(bad):
            raise ValueError(f"{name}: probabilities must lie in [0, 1] (NaN not allowed), got {_first_bad(p, bad)}")
        return p
    return eqx.error_if(p, ~jnp.all((p >= 0) & (p <= 1)), f"{name}: probabilities must lie in [0, 1]")


def _check_mean(mean, name="mean"):
    """``mean >= 0`` (NaN rejected): ``ValueError`` for concrete input, a run-time error under ``jit``."""
    if not isinstance(mean, jax.core.Tracer):
        bad = ~(np.asarray(mean) >= 0)
        if np.any(bad):
            raise ValueError(f"{name} must be >= 0 (NaN not allowed), got {_first_bad(mean, bad)}")
        return mean
    return eqx.error_if(mean, ~jnp.all(mean >= 0), f"poisson: {name} must be >= 0")


def _straight_through(hard, surrogate):
    """``hard`` in the forward pass (bit for bit), the gradient of ``surrogate`` in the backward pass."""
    return hard + (surrogate - jax.lax.stop_gradient(surrogate))


def _safe_sqrt(x):
    """``sqrt(max(x, 0))`` with gradient 0 (not NaN) where ``x <= 0`` (a variance that vanishes at p = 0 or 1)."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def escape_probability(rate, dt):
    r"""Probability of at least one spike in ``dt`` for hazard ``rate``: :math:`1 - e^{-\rho\,dt}`."""
    return -jnp.expm1(-rate * dt)


def bernoulli(key, p, *, mode: str = "exact", temperature: float = 0.1, check: bool = True):
    """Sample spikes ``x ~ Bernoulli(p)`` (elementwise); returns floats.

    Parameters
    ----------
    key : PRNG key
    p : array
        Spike probabilities in [0, 1] (an error is raised otherwise when ``check``).
    mode : str
        One of :data:`MODES` (see the module docstring).
    temperature : float
        Relaxation temperature of ``'gumbel'`` and ``'straight_through'``.
    """
    check_mode(mode)
    p = jnp.asarray(p, dtype=float)
    if check:
        p = _check_prob(p)
    if mode == "gaussian":
        eps = jax.random.normal(key, p.shape, p.dtype)
        return p + _safe_sqrt(p * (1 - p)) * eps
    u = jax.random.uniform(key, p.shape, p.dtype, minval=_TINY, maxval=1 - _TINY)
    # L = log((1-u)/u) is logistic, and  logit p + L > 0  <=>  u < p: the relaxed sample is
    # coupled to the exact sample drawn from the same u (straight-through needs that coupling)
    logistic = jnp.log1p(-u) - jnp.log(u)
    if mode == "exact":
        return jax.lax.stop_gradient((u < p).astype(p.dtype))
    _check_temperature(temperature)
    logit = jnp.log(p + _TINY) - jnp.log1p(-p + _TINY)
    soft = jax.nn.sigmoid((logit + logistic) / temperature)
    if mode == "gumbel":
        return soft
    # straight-through: the exact sample (u < p  <=>  logit + L > 0, the same noise) forward, soft gradient backward
    hard = (u < p).astype(p.dtype)
    return _straight_through(hard, soft)


def _relaxed_count(key, logpmf, mean, upper, temperature, support, check):
    shape = jnp.shape(mean)
    offsets = jnp.arange(-support, support + 1, dtype=float)
    ks = jnp.floor(jax.lax.stop_gradient(mean))[..., None] + offsets
    valid = (ks >= 0) & (ks <= upper[..., None])
    ks_safe = jnp.where(valid, ks, 0.0)
    logits = jnp.where(valid, logpmf(ks_safe), -jnp.inf)
    if check:
        mass = jnp.sum(jnp.exp(logits), axis=-1)
        logits = eqx.error_if(
            logits, jnp.any(mass < 1 - 1e-6),
            "count relaxation: the window of 2*support+1 counts misses probability mass; increase `support`",
        )
    g = jax.random.gumbel(key, shape + (2 * support + 1,), dtype=float)
    w = jax.nn.softmax((logits + g) / temperature, axis=-1)
    return jnp.sum(w * ks_safe, axis=-1)


def poisson(key, mean, *, mode: str = "exact", temperature: float = 0.5, support: int = 32, check: bool = True):
    """Sample counts ``k ~ Poisson(mean)`` (elementwise); returns floats.

    ``'straight_through'`` returns the exact count with the gradient of the mean
    (``d k / d mean = 1``); ``'gaussian'`` returns ``mean + sqrt(mean) * eps``.
    """
    check_mode(mode)
    mean = jnp.asarray(mean, dtype=float)
    if check:
        mean = _check_mean(mean)
    if mode == "gaussian":
        return mean + _safe_sqrt(mean) * jax.random.normal(key, mean.shape, mean.dtype)
    if mode in ("exact", "straight_through"):
        hard = jax.random.poisson(key, jax.lax.stop_gradient(mean), mean.shape).astype(mean.dtype)
        return hard if mode == "exact" else _straight_through(hard, mean)
    _check_temperature(temperature)
    logpmf = lambda k: k * jnp.log(mean[..., None] + _TINY) - mean[..., None] - gammaln(k + 1)
    upper = jnp.full(mean.shape, jnp.inf)
    return _relaxed_count(key, logpmf, mean, upper, temperature, support, check)


def binomial(key, n, p, *, mode: str = "exact", temperature: float = 0.5, support: int = 32, check: bool = True):
    """Sample counts ``k ~ Binomial(n, p)`` (elementwise, broadcasting); returns floats.

    ``n`` are population sizes (non-negative integers, treated as constants); gradients
    flow into ``p``. ``'straight_through'``: exact count, gradient of the mean ``n p``;
    ``'gaussian'``: ``n p + sqrt(n p (1 - p)) * eps``.
    """
    check_mode(mode)
    p = jnp.asarray(p, dtype=float)
    n = jnp.asarray(n, dtype=float)
    if not isinstance(n, jax.core.Tracer):
        n_np = np.asarray(n)
        if not np.all((n_np >= 0) & (n_np == np.round(n_np))):
            raise ValueError(f"n must be non-negative integers (population sizes), got n={n_np!r}")
    n, p = jnp.broadcast_arrays(n, p)
    if check:
        p = _check_prob(p)
    mean = n * p
    if mode == "gaussian":
        return mean + _safe_sqrt(mean * (1 - p)) * jax.random.normal(key, p.shape, p.dtype)
    if mode in ("exact", "straight_through"):
        hard = jax.random.binomial(key, n, jax.lax.stop_gradient(p), p.shape).astype(p.dtype)
        return hard if mode == "exact" else _straight_through(hard, mean)
    _check_temperature(temperature)

    def logpmf(k):
        nn, pp = n[..., None], p[..., None]
        return (gammaln(nn + 1) - gammaln(k + 1) - gammaln(nn - k + 1)
                + k * jnp.log(pp + _TINY) + (nn - k) * jnp.log1p(-pp + _TINY))

    return _relaxed_count(key, logpmf, mean, n, temperature, support, check)
