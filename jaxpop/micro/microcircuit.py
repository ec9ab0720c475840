r"""Large current-based LIF networks (the Potjans–Diesmann microcircuit): connectivity.

:func:`build_connectivity` draws the synapses of a :class:`~jaxpop.presets.potjans_diesmann.MicrocircuitConfig`
with the *fixed total number* rule (multapses and autapses allowed): for every population pair
:math:`(x \to y)`, :math:`Q_{yx}` (source, target) pairs drawn independently and uniformly with
replacement. Weights are normal with the pair's mean and SD, conditioned on keeping the sign of the
mean (NEST redraws until the sign is right: the conditional law is the truncated normal, which is
sampled directly). Delays are normal, conditioned on :math:`d \ge h/2` (NEST's redraw) and rounded to
the grid, so the minimum is one step :math:`h`.

Everything is vectorised in JAX (one draw per population pair, never a loop over neurons or
synapses), and the result is stored by presynaptic neuron (CSR: ``indptr``, ``target``, ``weight``,
``delay``), the layout event-driven propagation needs: the synapses of the neurons that spiked in a
step are contiguous. Memory: 13 bytes per synapse in float32 (4.0 GB at full scale, 2.99e8 synapses).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..presets.potjans_diesmann import MicrocircuitConfig


class Connectivity(NamedTuple):
    """Synapses sorted by presynaptic neuron (global ids: populations in order)."""

    indptr: jax.Array  # (N_total + 1,) int: synapses of neuron i are indptr[i]:indptr[i+1]
    target: jax.Array  # (Q_total,) int32 postsynaptic neuron
    weight: jax.Array  # (Q_total,) PSC amplitude (pA)
    delay: jax.Array  # (Q_total,) int16 delay in steps (>= 1)
    offsets: np.ndarray  # (n_pop + 1,) first global id of each population


def build_connectivity(config: MicrocircuitConfig, dt: float, key, *, dtype=jnp.float32) -> Connectivity:
    """Draw the recurrent synapses of ``config`` on a grid of step ``dt`` (ms); see the module docstring."""
    if not dt > 0:
        raise ValueError(f"dt must be > 0 (ms), got dt={dt!r}")
    N = np.asarray(config.N, np.int64)
    n_pop = len(N)
    offsets = np.concatenate([[0], np.cumsum(N)])
    n_total = int(offsets[-1])
    if n_total >= 2**31:
        raise ValueError(f"{n_total} neurons do not fit int32 ids")
    if float(np.max(config.delay_mean + 10 * config.delay_sd)) / dt >= 2**15:
        raise ValueError(f"the delays are too many steps of dt = {dt} ms for int16")
    q = np.asarray(config.Q, np.int64).ravel()  # pair p = y * n_pop + x
    ty, sx = np.divmod(np.arange(n_pop * n_pop), n_pop)
    w_mean, w_sd = config.weight_mean.ravel(), config.weight_sd.ravel()
    d_mean, d_sd = config.delay_mean.ravel(), config.delay_sd.ravel()
    # per pair: standard-normal bounds of the sign rule (weights) and of d >= dt/2 (delays)
    with np.errstate(divide="ignore"):
        bound = np.where(w_sd > 0, -w_mean / np.where(w_sd > 0, w_sd, 1), 0.0)
    w_lo = np.where(w_mean > 0, bound, -np.inf)
    w_hi = np.where(w_mean > 0, np.inf, bound)
    d_lo = np.where(d_sd > 0, (0.5 * dt - d_mean) / np.where(d_sd > 0, d_sd, 1), 0.0)
    tables = tuple(jnp.asarray(a) for a in (offsets[sx], N[sx], offsets[ty], N[ty], w_mean, w_sd, w_lo, w_hi,
                                             d_mean, d_sd, d_lo))
    return _draw(key, jnp.asarray(q), tables, int(q.sum()), n_total, float(dt), jnp.dtype(dtype), offsets)


def _draw(key, q, tables, q_total, n_total, dt, dtype, offsets):
    conn = _draw_jit(key, q, tables, q_total=q_total, n_total=n_total, dt=dt, dtype=dtype)
    return Connectivity(*conn, offsets=offsets)


@partial(jax.jit, static_argnames=("q_total", "n_total", "dt", "dtype"))
def _draw_jit(key, q, tables, *, q_total, n_total, dt, dtype):
    src_off, src_n, tgt_off, tgt_n, w_mean, w_sd, w_lo, w_hi, d_mean, d_sd, d_lo = tables
    pair = jnp.repeat(jnp.arange(q.size, dtype=jnp.int32), q, total_repeat_length=q_total)
    k = jax.random.split(key, 4)
    src = (src_off[pair] + jax.random.randint(k[0], (q_total,), 0, src_n[pair])).astype(jnp.int32)
    tgt = (tgt_off[pair] + jax.random.randint(k[1], (q_total,), 0, tgt_n[pair])).astype(jnp.int32)
    zw = jax.random.truncated_normal(k[2], w_lo[pair], w_hi[pair], (q_total,), jnp.float32)
    w = (w_mean[pair] + w_sd[pair] * zw).astype(dtype)
    zd = jax.random.truncated_normal(k[3], d_lo[pair], jnp.inf, (q_total,), jnp.float32)
    d = jnp.maximum(jnp.round((d_mean[pair] + d_sd[pair] * zd) / dt), 1).astype(jnp.int16)
    order = jnp.argsort(src, stable=True)
    src = src[order]
    indptr = jnp.searchsorted(src, jnp.arange(n_total + 1, dtype=jnp.int32), side="left")
    return indptr, tgt[order], w[order], d[order]
