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
silently too narrow. :func:`count_support` sizes the window for a population of ``N`` neurons
(the models size it from their static population sizes).

One default relaxation temperature, :data:`DEFAULT_TEMPERATURE` = 0.5, for every sampler and
every model.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

MODES = ("exact", "gumbel", "straight_through", "gaussian")
DEFAULT_TEMPERATURE = 0.5
_TINY = 1e-12


def count_support(n, law: str = "binomial") -> int:
    r"""Half-width of the Gumbel-softmax count window that covers any count law of ``n`` trials.

    ``'binomial'``: :math:`\mathrm{Bin}(n, p)` has :math:`\sigma \le \sqrt{n/4}`; ``'poisson'``
    (a Poisson count of ``n`` neurons with at most one expected spike each, mean :math:`\le n`):
    :math:`\sigma \le \sqrt n`. The window :math:`\lfloor\text{mean}\rfloor + [-s, s]`,
    :math:`s = \lceil 6\sigma_{\max}\rceil + 3` (never more than ``n``), then holds all but far less
    than the ``1e-6`` of the mass that the run-time check of :func:`poisson` / :func:`binomial`
    allows. ``n`` is a static (concrete) population size; the largest entry is used.
    """
    n_max = int(np.max(np.asarray(n)))
    if n_max < 0:
        raise ValueError(f"n must be a non-negative population size, got {n!r}")
    if law not in ("binomial", "poisson"):
        raise ValueError(f"law must be 'binomial' or 'poisson', got {law!r}")
    sigma = math.sqrt(n_max / 4 if law == "binomial" else n_max)
    s = int(math.ceil(6 * sigma)) + 3
    return max(1, min(s, n_max) if law == "binomial" else s)


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


def _as_float(x):
    """``x`` as a JAX array of a floating dtype (its own if it has one, else the default float)."""
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(float)


def escape_probability(rate, dt):
    r"""Probability of at least one spike in ``dt`` for hazard ``rate``: :math:`1 - e^{-\rho\,dt}`."""
    return -jnp.expm1(-rate * dt)


def bernoulli(key, p, *, mode: str = "exact", temperature: float = DEFAULT_TEMPERATURE, check: bool = True):
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
            "count relaxation: the window of 2*support+1 counts misses probability mass; increase `support` "
            "(models: the `support` argument, default spikes.count_support(N))",
        )
    g = jax.random.gumbel(key, shape + (2 * support + 1,), dtype=float)
    w = jax.nn.softmax((logits + g) / temperature, axis=-1)
    return jnp.sum(w * ks_safe, axis=-1)


def poisson(key, mean, *, mode: str = "exact", temperature: float = DEFAULT_TEMPERATURE, support: int = 32,
            check: bool = True):
    """Sample counts ``k ~ Poisson(mean)`` (elementwise); returns floats.

    ``'straight_through'`` returns the exact count with the gradient of the mean
    (``d k / d mean = 1``); ``'gaussian'`` returns ``mean + sqrt(mean) * eps``.
    """
    check_mode(mode)
    mean = _as_float(mean)
    if check:
        mean = _check_mean(mean)
    if mode == "gaussian":
        return mean + _safe_sqrt(mean) * jax.random.normal(key, mean.shape, mean.dtype)
    if mode in ("exact", "straight_through"):
        hard = jax.lax.stop_gradient(_poisson_exact(key, jax.lax.stop_gradient(mean)))
        return hard if mode == "exact" else _straight_through(hard, mean)
    _check_temperature(temperature)
    logpmf = lambda k: k * jnp.log(mean[..., None] + _TINY) - mean[..., None] - gammaln(k + 1)
    upper = jnp.full(mean.shape, jnp.inf)
    return _relaxed_count(key, logpmf, mean, upper, temperature, support, check)


def binomial(key, n, p, *, mode: str = "exact", temperature: float = DEFAULT_TEMPERATURE, support: int = 32,
             check: bool = True):
    """Sample counts ``k ~ Binomial(n, p)`` (elementwise, broadcasting); returns floats.

    ``n`` are population sizes (non-negative integers, treated as constants); gradients
    flow into ``p``. ``'straight_through'``: exact count, gradient of the mean ``n p``;
    ``'gaussian'``: ``n p + sqrt(n p (1 - p)) * eps``.
    """
    check_mode(mode)
    p = _as_float(p)
    n = jnp.asarray(n, dtype=p.dtype)
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
        hard = jax.lax.stop_gradient(_binomial_exact(key, n, jax.lax.stop_gradient(p)))
        return hard if mode == "exact" else _straight_through(hard, mean)
    _check_temperature(temperature)

    def logpmf(k):
        nn, pp = n[..., None], p[..., None]
        return (gammaln(nn + 1) - gammaln(k + 1) - gammaln(nn - k + 1)
                + k * jnp.log(pp + _TINY) + (nn - k) * jnp.log1p(-pp + _TINY))

    return _relaxed_count(key, logpmf, mean, n, temperature, support, check)


# ---------------------------------------------------------------------------------------- exact binomial sampler
_INV_MAX_MEAN = 10.0  # inversion below this mean n min(p, 1 - p); BTRS rejection above
# log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2] for k = 0 .. 9, exact (float64)
_STIRLING_TAIL = tuple(math.lgamma(k + 1) - ((k + 0.5) * math.log(k + 1) - (k + 1) + 0.5 * math.log(2 * math.pi))
                       for k in range(10))


def _stirling_tail(k):
    r"""Stirling's tail of :math:`\log k!` for integer-valued ``k >= 0``: exact values below 10, the
    asymptotic series (4 terms, error < 1e-12) above. Elementwise selects, no table gather, so that
    it fuses with the rest of the sampler."""
    z = k + 1.0
    z2 = z * z
    out = (1 / 12 - (1 / 360 - (1 / 1260 - 1 / (1680 * z2)) / z2) / z2) / z
    for j, value in enumerate(_STIRLING_TAIL):
        out = jnp.where(k == j, value, out)
    return out


def _btrs_setup(n, q):
    """Per-sample constants of Hörmann's BTRS sampler for ``Bin(n, q)``, ``q <= 1/2``, ``n q >= 10``."""
    spq = jnp.sqrt(n * q * (1 - q))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * q
    r = q / (1 - q)
    m = jnp.floor((n + 1) * q)
    # log P(m) up to the terms that depend on the candidate (see _btrs)
    c0 = (m + 0.5) * jnp.log((m + 1) / (r * (n - m + 1))) + _stirling_tail(m) + _stirling_tail(n - m)
    return dict(n=n, a=a, b=b, c=n * q + 0.5, v_r=0.92 - 4.2 / b, alpha=(2.83 + 5.1 / b) * spq, r=r, m=m, c0=c0)


def _btrs(u, v, s):
    r"""One candidate of BTRS (constants ``s`` from :func:`_btrs_setup`) from ``u ~ U(-1/2, 1/2)``,
    ``v ~ U(0, 1)``: returns the candidate and whether it is accepted.

    The acceptance test compares :math:`\log v` (scaled by the hat function) with
    :math:`\log[P(k)/P(m)]`, :math:`m = \lfloor (n+1) q\rfloor`, written with Stirling's formula so
    that it stays accurate in float32 (logs of ratios of :math:`O(1)` instead of differences of
    log-factorials of :math:`O(n \log n)`).
    """
    n, a, b, m, r = s["n"], s["a"], s["b"], s["m"], s["r"]
    us = 0.5 - jnp.abs(u)
    k = jnp.floor((2 * a / us + b) * u + s["c"])
    inside = (k >= 0) & (k <= n)
    quick = (us >= 0.07) & (v <= s["v_r"])
    ks = jnp.clip(k, 0, n)
    log_v = jnp.log(v * s["alpha"] / (a / (us * us) + b))
    log_ratio = (s["c0"] + (n + 1) * jnp.log1p((ks - m) / (n - ks + 1)) + (ks + 0.5) * jnp.log(r * (n - ks + 1) / (ks + 1))
                 - _stirling_tail(ks) - _stirling_tail(n - ks))
    return k, inside & (quick | (log_v <= log_ratio))


def _uniform32(key, shape, dtype):
    """Uniforms in (0, 1) from one 32-bit word each (``(b + 1/2) 2^-32``; 23 bits in float32), never 0 or 1.

    32-bit resolution is what NEST's samplers get from GSL's Mersenne twister; a word costs ~10 ns of
    threefry on a CPU, and drawing one flat vector is several times faster than a multi-axis shape.
    With 64-bit types enabled the words are drawn in pairs (one 64-bit draw split in two), which halves
    the threefry work on a CPU.
    """
    size = int(np.prod(shape))
    if jax.config.jax_enable_x64 and size > 1:
        pairs = jax.random.bits(key, ((size + 1) // 2,), jnp.uint64)
        bits = jax.lax.bitcast_convert_type(pairs, jnp.uint32).reshape(-1)[:size].reshape(shape)
    else:
        bits = jax.random.bits(key, (size,), jnp.uint32).reshape(shape)
    if jnp.dtype(dtype) == jnp.float32:
        return ((bits >> 9).astype(dtype) + 0.5) * jnp.asarray(2.0 ** -23, dtype)
    return (bits.astype(dtype) + 0.5) * 2.0 ** -32


def _binomial_exact(key, n, p, *, window: int = 40, proposals: int = 2):
    r"""Exact ``Binomial(n, p)`` samples (float ``n``, ``p`` of one shape) with fixed vectorised work
    in almost every call.

    With :math:`q = \min(p, 1-p)` (the sample is reflected, :math:`k \to n - k`, when :math:`p > 1/2`):

    * :math:`nq < 10`: inversion, :math:`k = \min\{k: F(k) \ge U\}`, the pmf built by the recursion
      :math:`P(k) = P(k-1)\,\frac{n-k+1}{k}\,\frac{q}{1-q}` over ``window + 1`` counts
      (:math:`P(X > 40) < 10^{-11}` for a mean below 10);
    * :math:`nq \ge 10`: Hörmann's BTRS transformed rejection (W. Hörmann, J. Stat. Comput. Simul.
      46, 101 (1993), doi:10.1080/00949659308811496), ``proposals`` candidates drawn at once and the
      first accepted one kept (each is accepted with probability ≳ 0.8).

    A sample that needs more (its uniform lies beyond the inversion window, or every candidate was
    rejected) continues in a ``while_loop`` — the search goes on count by count, fresh candidates
    are drawn — so the sampler is exact. The loop body runs with probability ~1e-5 per sample;
    otherwise it costs one condition check. (``jax.random.binomial`` runs two rejection loops per
    call, tens of microseconds per time step of a population model on a CPU.)
    """
    dtype = p.dtype
    flip = p > 0.5
    q = jnp.where(flip, 1 - p, p)
    small = n * q < _INV_MAX_MEAN
    k_draw, k_more = jax.random.split(key)
    draws = _uniform32(k_draw, (2 * proposals + 1,) + p.shape, dtype)
    u = draws[0]
    qi = jnp.where(small, q, 0.0)  # q -> 0 where BTRS is used: nothing overflows there
    # BTRS constants (n, q -> a valid dummy where inversion is used); computed only where BTRS runs
    btrs_setup = lambda: _btrs_setup(jnp.where(small, 100.0, n), jnp.where(small, 0.25, q))  # noqa: E731

    # --- inversion: an unrolled search over the first `window` counts (elementwise: one fused loop)
    odds = qi / (1 - qi)
    pm = jnp.exp(n * jnp.log1p(-qi))  # P(0)
    cd = pm
    k_small = (cd < u).astype(dtype)
    for j in range(1, window + 1):
        pm = pm * (jnp.maximum(n - (j - 1), 0.0) / j) * odds  # P(j)
        cd = cd + pm
        k_small = k_small + (cd < u)
    k_small = jnp.minimum(k_small, n)
    more_inv = small & (u > cd) & (n > window)
    k_small = jnp.where(more_inv, float(window), k_small)

    # --- BTRS, a batch of candidates; the first accepted one is kept. Skipped when no sample needs it
    # (the usual case in population models: a few spikes per step); under vmap the cond is a select
    def rejection(_):
        cand, ok = _btrs(draws[1:1 + proposals] - 0.5, draws[1 + proposals:], btrs_setup())
        k, acc = cand[-1], ok[-1]
        for i in range(proposals - 2, -1, -1):
            k, acc = jnp.where(ok[i], cand[i], k), acc | ok[i]
        return k, ~small & ~acc

    k_big, more_rej = jax.lax.cond(jnp.all(small), lambda _: (jnp.zeros_like(p), jnp.zeros(p.shape, bool)),
                                   rejection, None)
    k = jnp.where(small, k_small, k_big)

    def cond(c):
        return jnp.any(c[1] | c[2])

    def body(c):
        k, inv, rej, pm, cd, i = c
        kn = k + 1  # inversion: one more count
        pm = jnp.where(inv, pm * jnp.maximum(n - kn + 1, 0.0) / kn * odds, pm)
        cd = jnp.where(inv, cd + pm, cd)
        k = jnp.where(inv, kn, k)
        inv = inv & (cd < u) & (kn < n)
        uv = _uniform32(jax.random.fold_in(k_more, i), (2,) + p.shape, dtype)  # rejection: a fresh candidate
        kc, acc = _btrs(uv[0] - 0.5, uv[1], btrs_setup())
        k = jnp.where(rej & acc, kc, k)
        return k, inv, rej & ~acc, pm, cd, i + 1

    init = (k, more_inv, more_rej, pm, cd, jnp.asarray(0, jnp.uint32))
    k = jax.lax.while_loop(cond, body, init)[0]
    return jnp.where(flip, n - k, k)


def _poisson_exact(key, mean, *, window: int = 40):
    r"""Exact ``Poisson(mean)`` samples with fixed vectorised work for means below 10 (float ``mean``).

    Inversion, :math:`k = \min\{k: F(k) \ge U\}`, over an unrolled window of ``window + 1`` counts
    (:math:`P(X > 40) < 10^{-11}` for a mean below 10), continued count by count in a ``while_loop``
    for the rare uniform beyond the window; means of 10 and more use ``jax.random.poisson`` (skipped
    by a cond when no sample needs it). ``jax.random.poisson`` alone runs a rejection loop per call,
    which dominates the step of a network with Poisson background input on a CPU.
    """
    dtype = mean.dtype
    small = mean < _INV_MAX_MEAN
    k_draw, k_more, k_big = jax.random.split(key, 3)
    u = _uniform32(k_draw, mean.shape, dtype)
    lam = jnp.where(small, mean, 0.0)
    pm = jnp.exp(-lam)
    cd = pm
    k = (cd < u).astype(dtype)
    for j in range(1, window + 1):
        pm = pm * lam / j
        cd = cd + pm
        k = k + (cd < u)
    more = small & (u > cd)
    k = jnp.where(more, float(window), k)

    def cond(c):
        return jnp.any(c[1])

    def body(c):
        k, go, pm, cd = c
        kn = k + 1
        pm = jnp.where(go, pm * lam / kn, pm)
        cd = jnp.where(go, cd + pm, cd)
        k = jnp.where(go, kn, k)
        return k, go & (cd < u) & (pm > 0), pm, cd

    k = jax.lax.while_loop(cond, body, (k, more, pm, cd))[0]
    big = jax.lax.cond(jnp.any(~small), lambda: jax.random.poisson(k_big, jnp.where(small, 1.0, mean)).astype(dtype),
                       lambda: jnp.zeros_like(mean))
    return jnp.where(small, k, big)


# ---------------------------------------------------------------------------------------- count laws (likelihood)
NONNEG = ("none", "clip", "reflect")


class CountLaw(eqx.Module):
    r"""The distribution of the population count that a model's sampler draws in one step: the seam
    between simulation and likelihood (:mod:`jaxpop.fit`).

    Families (``family``, static):

    * ``'binomial'``: :math:`k \sim \mathrm{Bin}(n, p)`;
    * ``'poisson'``: :math:`k = \min(X, u)`, :math:`X \sim \mathrm{Poisson}(\mu)`, with an upper clip
      :math:`u` (``upper``; ``inf``: none), so :math:`P(k = u) = P(X \ge u) = P(u, \mu)`, the
      regularised lower incomplete gamma function;
    * ``'normal'``: :math:`k = g(X)`, :math:`X \sim \mathcal N(\mu, \sigma^2)` (the diffusion
      approximation), with ``nonneg``: ``'none'`` (:math:`g(x) = x`), ``'clip'`` (:math:`\max(x, 0)`:
      a point mass :math:`\Phi(-\mu/\sigma)` at 0) or ``'reflect'`` (:math:`|x|`: density
      :math:`\phi_{\mu,\sigma}(k) + \phi_{\mu,\sigma}(-k)`), then an upper clip at ``upper`` (a point
      mass :math:`1 - \Phi((u - \mu)/\sigma)` at :math:`u`).

    :meth:`log_prob` is the log-pmf (binomial, Poisson), or the log-density of the continuous part
    and the log-probability of the point masses (normal). ``n``, ``p``, ``mean``, ``var``, ``upper``
    broadcast against the count.
    """

    family: str = eqx.field(static=True)
    nonneg: str = eqx.field(static=True)
    mean: jax.Array
    var: jax.Array | None
    n: jax.Array | None
    p: jax.Array | None
    upper: jax.Array | None

    @classmethod
    def binomial(cls, n, p):
        p = _as_float(p)
        return cls("binomial", "none", jnp.asarray(n, p.dtype) * p, None, jnp.asarray(n, p.dtype), p, None)

    @classmethod
    def poisson(cls, mean, upper=None):
        mean = _as_float(mean)
        return cls("poisson", "none", mean, None, None, None, None if upper is None else jnp.asarray(upper, mean.dtype))

    @classmethod
    def normal(cls, mean, var, *, nonneg: str = "none", upper=None):
        if nonneg not in NONNEG:
            raise ValueError(f"nonneg must be one of {NONNEG}, got {nonneg!r}")
        mean = _as_float(mean)
        return cls("normal", nonneg, mean, jnp.asarray(var, mean.dtype), None, None,
                   None if upper is None else jnp.asarray(upper, mean.dtype))

    def log_prob(self, k):
        """Log-probability (log-density for the continuous part of ``'normal'``) of the counts ``k``."""
        from jax.scipy.special import gammainc, xlog1py, xlogy
        from jax.scipy.stats import norm

        k = jnp.asarray(k, self.mean.dtype)
        if self.family == "binomial":
            n, p = self.n, self.p
            lp = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + xlogy(k, p) + xlog1py(n - k, -p)
            return jnp.where((k >= 0) & (k <= n), lp, -jnp.inf)
        if self.family == "poisson":
            mu = self.mean
            lp = xlogy(k, mu) - mu - gammaln(k + 1)
            if self.upper is not None:  # P(X >= u) = P(u, mu); safe where k != u (no NaN in the unused branch)
                at = k >= self.upper
                tail = jnp.log(gammainc(jnp.where(at, self.upper, 1.0), jnp.where(at, mu, 1.0)))
                lp = jnp.where(at, tail, lp)
                lp = jnp.where(k > self.upper, -jnp.inf, lp)
            return jnp.where(k >= 0, lp, -jnp.inf)
        # normal: the diffusion approximation
        sd = _safe_sqrt(self.var)
        sd = jnp.where(sd > 0, sd, jnp.finfo(self.mean.dtype).tiny)
        z = (k - self.mean) / sd
        lp = norm.logpdf(z) - jnp.log(sd)
        if self.nonneg == "clip":
            lp = jnp.where(k == 0, norm.logcdf(-self.mean / sd), lp)
            lp = jnp.where(k < 0, -jnp.inf, lp)
        elif self.nonneg == "reflect":
            lp = jnp.logaddexp(lp, norm.logpdf((-k - self.mean) / sd) - jnp.log(sd))
            lp = jnp.where(k < 0, -jnp.inf, lp)
        if self.upper is not None:
            lp = jnp.where(k == self.upper, norm.logcdf((self.mean - self.upper) / sd), lp)
            lp = jnp.where(k > self.upper, -jnp.inf, lp)
        return lp
