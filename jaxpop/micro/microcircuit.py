r"""Large current-based LIF networks (the Potjans–Diesmann microcircuit): connectivity and network.

**Connectivity.** :func:`build_connectivity` draws the synapses of a
:class:`~jaxpop.presets.potjans_diesmann.MicrocircuitConfig` with the *fixed total number* rule (multapses
and autapses allowed): for every population pair :math:`(x \to y)`, :math:`Q_{yx}` (source, target) pairs
drawn independently and uniformly with replacement. The draw is organised by source: the number of
synapses each source neuron of :math:`x` sends to :math:`y` is multinomial, :math:`(c_{iy})_i \sim
\mathrm{Mult}(Q_{yx}; 1/N_x, \dots)`, and, given those counts, the targets are independent and uniform in
:math:`y` — the same law as drawing the :math:`Q_{yx}` pairs, without sorting :math:`3\times10^8` of them.
Weights are normal with the pair's mean and SD, conditioned on keeping the sign of the mean (NEST redraws
until the sign is right; the conditional law, a truncated normal, is sampled directly). Delays are normal,
conditioned on :math:`d \ge h/2` (NEST's redraw) and rounded to the grid, so the minimum is one step.

Storage, shared by all vmapped trials: the synapses of source neuron :math:`i` to target population
:math:`y` are the contiguous segment ``seg_ptr[P i + y] : seg_ptr[P i + y + 1]`` (:math:`P` target
populations); per synapse the target's index *within its population* (``uint16`` when every population
has fewer than 65,536 neurons), the PSC amplitude (``float32``, pA) and the delay in steps (``uint8`` when
below 256 steps). That is 7 bytes per synapse: 2.1 GB for the full-scale circuit's :math:`2.99\times10^8`
synapses. The arrays are filled chunk by chunk in place (``chunk`` synapses at a time; every chunk's
random numbers come from ``fold_in(key, chunk index)``), so building never holds more than the result
and one chunk. Everything is vectorised in JAX: the Python loops run over population pairs and chunks,
never over neurons or synapses.

**Network.** :class:`MicrocircuitNetwork` integrates NEST's ``iaf_psc_exp`` exactly and propagates each
step's spikes event by event through a delay ring buffer (see its docstring).

References: T. C. Potjans, M. Diesmann, Cereb. Cortex 24, 785 (2014), doi:10.1093/cercor/bhs358;
F. Zenke, S. Ganguli, Neural Comput. 30, 1514 (2018), doi:10.1162/neco_a_01086 (surrogate derivatives);
H. E. Plesser, W. Gerstner, Neural Comput. 12, 367 (2000), doi:10.1162/089976600300015835 (escape noise);
S. Rotter, M. Diesmann, *Exact digital simulation of time-invariant linear systems with applications to
neuronal modeling*, Biol. Cybern. 81, 381 (1999), doi:10.1007/s004220050570 (exact integration);
T. Schwalger, M. Deger, W. Gerstner, PLoS Comput. Biol. 13, e1005507 (2017), doi:10.1371/journal.pcbi.1005507
(GIF neurons with escape noise).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap

from ..core.lif_params import LIFParams
from ..core.model import AbstractModel
from ..core.spikes import _poisson_exact, poisson

if TYPE_CHECKING:  # the config is duck-typed: a model does not import a preset
    from ..presets.potjans_diesmann import MicrocircuitConfig

DEFAULT_CHUNK = 2**22  # synapses drawn per chunk when building


class Connectivity(NamedTuple):
    """Synapses grouped by (source neuron, target population); see the module docstring.

    Sources are the network's neurons (global ids, populations in order) followed by the thalamic
    neurons, if any; targets are network neurons. The arrays ``target``, ``weight``, ``delay`` may be
    longer than ``n_synapses`` (padding of the in-place fill; never read)."""

    seg_ptr: jax.Array  # (n_src * P + 1 + P,): segment offsets; P padding entries give the fill id empty segments
    target: jax.Array  # (>= n_synapses,) index of the target within its population (uint16 or int32)
    weight: jax.Array  # (>= n_synapses,) PSC amplitude (pA)
    delay: jax.Array  # (>= n_synapses,) delay in steps (>= 1; uint8 or int16)
    offsets: np.ndarray  # (P + 1,) first global id of each target population
    n_sources: int  # network neurons + thalamic neurons
    n_synapses: int

    @property
    def indptr(self) -> np.ndarray:
        """CSR offsets by source neuron, ``(n_sources + 1,)``: neuron ``i``'s synapses are ``indptr[i]:indptr[i+1]``."""
        P = len(self.offsets) - 1
        return np.asarray(self.seg_ptr)[: self.n_sources * P + 1 : P]

    def source_ids(self) -> np.ndarray:
        """Source id of every synapse (numpy, ``(n_synapses,)``; for analysis and tests)."""
        return np.repeat(np.arange(self.n_sources), np.diff(self.indptr))

    def target_ids(self) -> np.ndarray:
        """Global id of every synapse's target (numpy, ``(n_synapses,)``)."""
        P = len(self.offsets) - 1
        seg = np.diff(np.asarray(self.seg_ptr)[: self.n_sources * P + 1])
        pop = np.repeat(np.tile(np.arange(P), self.n_sources), seg)
        return self.offsets[pop] + np.asarray(self.target)[: self.n_synapses].astype(np.int64)


def _pair_tables(config: MicrocircuitConfig, dt: float):
    """Per (target y, source x) pair, x over the network's populations then the thalamus (if on): synapse
    counts, source ranges and the standard-normal bounds of the weight sign rule and the delay cut."""
    N = np.asarray(config.N, np.int64)
    P = len(N)
    th = bool(np.any(np.asarray(config.Q_th) > 0))
    Q = np.asarray(config.Q, np.int64)
    w_mean, w_sd = np.asarray(config.weight_mean, float), np.asarray(config.weight_sd, float)
    d_mean, d_sd = np.asarray(config.delay_mean, float), np.asarray(config.delay_sd, float)
    N_src = N
    if th:
        Q = np.concatenate([Q, np.asarray(config.Q_th, np.int64)[:, None]], axis=1)
        w_mean = np.concatenate([w_mean, np.full((P, 1), config.w_th)], axis=1)
        w_sd = np.concatenate([w_sd, np.full((P, 1), config.w_th_sd)], axis=1)
        d_mean = np.concatenate([d_mean, np.full((P, 1), config.th_delay_mean)], axis=1)
        d_sd = np.concatenate([d_sd, np.full((P, 1), config.th_delay_sd)], axis=1)
        N_src = np.concatenate([N, [int(config.N_th)]])
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(w_sd > 0, -w_mean / np.where(w_sd > 0, w_sd, 1), 0.0)
    w_lo = np.where(w_mean > 0, bound, -np.inf)
    w_hi = np.where(w_mean > 0, np.inf, bound)
    d_lo = np.where(d_sd > 0, (0.5 * dt - d_mean) / np.where(d_sd > 0, d_sd, 1), 0.0)
    return N, N_src, Q, (w_mean, w_sd, w_lo, w_hi, d_mean, d_sd, d_lo)


def build_connectivity(config: MicrocircuitConfig, dt: float, key, *, chunk: int = DEFAULT_CHUNK) -> Connectivity:
    """Draw the recurrent (and thalamic) synapses of ``config`` on a grid of step ``dt`` (ms); see the module
    docstring. ``chunk`` (synapses per chunk) trades peak memory for the number of kernel launches."""
    if not dt > 0:
        raise ValueError(f"dt must be > 0 (ms), got dt={dt!r}")
    if not (isinstance(chunk, int) and chunk >= 1024):
        raise ValueError(f"chunk must be an int >= 1024, got chunk={chunk!r}")
    N, N_src, Q, (w_mean, w_sd, w_lo, w_hi, d_mean, d_sd, d_lo) = _pair_tables(config, dt)
    P, P_src = len(N), len(N_src)
    offsets = np.concatenate([[0], np.cumsum(N)])
    src_offsets = np.concatenate([[0], np.cumsum(N_src)])
    n_src = int(src_offsets[-1])
    q_total = int(Q.sum())
    idx_dtype = jnp.int32 if q_total + chunk < 2**31 else jnp.int64
    if idx_dtype == jnp.int64 and not jax.config.jax_enable_x64:
        raise ValueError(f"{q_total} synapses need 64-bit offsets: enable jax_enable_x64")
    if n_src * P >= 2**31:
        raise ValueError(f"{n_src} source neurons x {P} populations do not fit int32 segment ids")
    max_d = float(np.max(d_mean + 12 * d_sd)) / dt
    if max_d >= 2**15:
        raise ValueError(f"the delays are too many steps of dt = {dt} ms for int16 (dt too small)")
    d_dtype = jnp.uint8 if max_d < 255 else jnp.int16
    t_dtype = jnp.uint16 if N.max() < 2**16 else jnp.int32
    k_count, k_fill = jax.random.split(key)

    # 1. multinomial counts c[i, y]: synapses from source neuron i to population y
    counts = np.zeros((n_src, P), np.int64)
    n_max = int(N_src.max())
    for x in range(P_src):
        n_x = int(N_src[x])
        for y in range(P):
            q = int(Q[y, x])
            if q == 0:
                continue
            c = jnp.zeros(n_max + 1, jnp.int32)  # one shape for every source population (one compilation)
            cq = _chunk_size(q, chunk)
            for j in range(-(-q // cq)):
                c = _count_chunk(jax.random.fold_in(k_count, (x * P + y) * 2**20 + j), c, q - j * cq, n_x, chunk=cq)
            counts[src_offsets[x]:src_offsets[x + 1], y] = np.asarray(c)[:n_x]
    seg_ptr = np.concatenate([[0], np.cumsum(counts.ravel())])
    seg_ptr = np.concatenate([seg_ptr, np.full(P, seg_ptr[-1])]).astype(np.dtype(idx_dtype))

    # 2. synapse attributes in layout order, chunk by chunk, written in place
    src_pop = np.repeat(np.arange(P_src), N_src).astype(np.int32)
    tables = tuple(jnp.asarray(a) for a in (
        N.astype(np.int32), w_mean.ravel(), w_sd.ravel(), w_lo.ravel(), w_hi.ravel(),
        d_mean.ravel(), d_sd.ravel(), d_lo.ravel()))
    chunk = _chunk_size(q_total, chunk)
    n_chunks = max(1, -(-q_total // chunk))
    size = n_chunks * chunk
    target = jnp.zeros(size, t_dtype)
    weight = jnp.zeros(size, jnp.float32)
    delay = jnp.zeros(size, d_dtype)
    starts = jnp.asarray(seg_ptr[: n_src * P])
    src_pop_j = jnp.asarray(src_pop)
    max_steps = jnp.zeros((), jnp.int32)  # reduced on the device: no host sync per chunk
    for j in range(n_chunks if q_total else 0):
        target, weight, delay, m = _fill_chunk(jax.random.fold_in(k_fill, j), target, weight, delay, starts, src_pop_j,
                                               tables, jnp.asarray(j * chunk, idx_dtype), jnp.asarray(q_total, idx_dtype),
                                               chunk=chunk, P=P, P_src=P_src, dt=float(dt))
        max_steps = jnp.maximum(max_steps, m)
    max_steps = int(max_steps)
    if max_steps > int(jnp.iinfo(d_dtype).max):  # probability < 1e-20 at 12 SD; never clipped silently
        raise RuntimeError(f"a drawn delay of {max_steps} steps does not fit {jnp.dtype(d_dtype).name}")
    return Connectivity(seg_ptr=jnp.asarray(seg_ptr), target=target, weight=weight, delay=delay, offsets=offsets,
                        n_sources=n_src, n_synapses=q_total)


def _chunk_size(q, cap):
    """The smallest 1024 * 16^k >= q, at most ``cap``: few distinct compiled chunk sizes."""
    size = 1024
    while size < q and size < cap:
        size *= 16
    return int(min(size, cap))


@functools.partial(jax.jit, static_argnames=("chunk",), donate_argnums=(1,))
def _count_chunk(key, counts, q_left, n, *, chunk):
    src = jax.random.randint(key, (chunk,), 0, n)
    return counts.at[jnp.where(jnp.arange(chunk) < q_left, src, counts.shape[0])].add(1, mode="drop")


def _segment_of(starts, s0, chunk):
    """Segment index of positions ``s0 + arange(chunk)`` given non-decreasing segment ``starts``: the number of
    starts <= s, minus one. One scalar search for ``s0`` and a cumulative sum over marks at the starts inside
    the chunk: O(len(starts) + chunk) instead of a binary search per position."""
    pos = starts - s0
    inside = (pos > 0) & (pos < chunk)
    marks = jnp.zeros(chunk, jnp.int32).at[jnp.where(inside, pos, chunk)].add(1, mode="drop")
    base = jnp.searchsorted(starts, s0, side="right").astype(jnp.int32)
    return base - 1 + jnp.cumsum(marks)


@functools.partial(jax.jit, static_argnames=("chunk", "P", "P_src", "dt"), donate_argnums=(1, 2, 3))
def _fill_chunk(key, target, weight, delay, starts, src_pop, tables, s0, q_total, *, chunk, P, P_src, dt):
    N, w_mean, w_sd, w_lo, w_hi, d_mean, d_sd, d_lo = tables
    seg = _segment_of(starts, s0, chunk)
    valid = (s0 + jnp.arange(chunk, dtype=s0.dtype)) < q_total
    seg = jnp.where(valid, seg, 0)
    y = seg % P
    pair = y * P_src + src_pop[seg // P]
    k = jax.random.split(key, 3)
    tgt = jax.random.randint(k[0], (chunk,), 0, N[y])
    zw = jax.random.truncated_normal(k[1], w_lo[pair], w_hi[pair], (chunk,), jnp.float32)
    w = (w_mean[pair] + w_sd[pair] * zw).astype(jnp.float32)
    zd = jax.random.truncated_normal(k[2], d_lo[pair], jnp.inf, (chunk,), jnp.float32)
    d = jnp.maximum(jnp.round((d_mean[pair] + d_sd[pair] * zd) / dt), 1).astype(jnp.int32)
    d = jnp.where(valid, d, 0)
    target = jax.lax.dynamic_update_slice(target, tgt.astype(target.dtype), (s0,))
    weight = jax.lax.dynamic_update_slice(weight, jnp.where(valid, w, 0.0), (s0,))
    delay = jax.lax.dynamic_update_slice(delay, d.astype(delay.dtype), (s0,))
    return target, weight, delay, jnp.max(d)


# ------------------------------------------------------------------------------------------ event propagation
def _scatter_events(ring, e0, head, ids, vals, total, starts, excl, conn, *, chunk, P):
    """Add the events ``e0 .. e0 + chunk`` (of ``total``, laid out segment after segment) into the ring buffers
    ``ring (B, D, N)``. ``ids`` (B, S) spiking sources, ``vals`` (B, S) their spike values (1, a multiplicity,
    or a surrogate-carrying 1); ``starts``/``excl`` per (trial, spike, target population) segment: first synapse
    and first event index. (The scatter keeps the ring's shape: through a flattening reshape XLA would copy it.)"""
    seg_ptr, target, weight, delay, pop_off = conn
    single = ring.ndim == 2  # one trial: ring (D, N), head (), ids and vals (S,); kept unbatched (no reshape copies)
    if single:
        head, ids, vals = head[None], ids[None], vals[None]
    B, D = ids.shape[0], ring.shape[-2]
    S = ids.shape[1]
    k = _segment_of(excl, e0, chunk)
    e = e0 + jnp.arange(chunk, dtype=excl.dtype)
    valid = e < total
    k = jnp.where(valid, k, 0)
    s = jnp.where(valid, starts[k] + (e - excl[k]), 0)
    b = jnp.where(valid, k // (S * P), B)  # B: out of bounds, dropped
    tgt = pop_off[k % P] + target[s].astype(jnp.int32)
    slot = (head[jnp.minimum(b, B - 1)] + delay[s].astype(jnp.int32)) % D
    val = (weight[s] * vals.reshape(-1)[k // P]).astype(ring.dtype)
    if single:
        return ring.at[jnp.where(valid, slot, D), tgt].add(val, mode="drop")
    return ring.at[b, slot, tgt].add(val, mode="drop")


def _segments(ids, conn, P):
    """Per (spike, target population) segment, flattened over any leading axes: first synapse, first event
    index, and the total number of events."""
    seg_ptr = conn[0]
    seg = (ids[..., None] * P + jnp.arange(P, dtype=ids.dtype)).reshape(-1)
    starts = seg_ptr[seg]
    cnt = seg_ptr[seg + 1] - starts
    cum = jnp.cumsum(cnt)
    return starts, cum - cnt, cum[-1]


def _propagate_all(ring, head, ids, vals, conn, *, chunk, P):
    """Every event of the batch ``ring (B, D, N)`` (or one trial, ``(D, N)``), in chunks, with a loop whose trip count is the batch's
    total event count over ``chunk``: the work follows the spikes, not a worst-case buffer."""
    starts, excl, total = _segments(ids, conn, P)
    body = lambda c, r: _scatter_events(r, c * chunk, head, ids, vals, total, starts, excl, conn, chunk=chunk, P=P)
    return jax.lax.fori_loop(0, (total + chunk - 1) // chunk, body, ring)


@functools.lru_cache(maxsize=None)
def _propagator(chunk: int, P: int):
    """``propagate(ring (D, N), head (), ids (S,), vals (S,), conn)`` (or a batch: leading ``B``) with a batching rule that merges a
    vmapped axis into ``B``: vmapped trials share one loop over their pooled events (a plain vmap of the
    loop would run every trial to the longest one and copy every ring buffer at each iteration)."""

    @custom_vmap
    def propagate(ring, head, ids, vals, conn):
        return _propagate_all(ring, head, ids, vals, conn, chunk=chunk, P=P)

    @propagate.def_vmap
    def _rule(axis_size, in_batched, ring, head, ids, vals, conn):
        rb, hb, ib, vb, cb = in_batched
        bcast = lambda x, b: x if b else jnp.broadcast_to(x, (axis_size,) + x.shape)
        ring, head, ids, vals = bcast(ring, rb), bcast(head, hb), bcast(ids, ib), bcast(vals, vb)
        if any(jax.tree_util.tree_leaves(cb)):  # vmapped connectivity: trials one after the other
            conn = jax.tree_util.tree_map(bcast, conn, cb)
            return jax.lax.map(lambda args: propagate(*args), (ring, head, ids, vals, conn)), True
        if ring.ndim == 3:  # first vmap: (A, D, N) is the batch
            return propagate(ring, head, ids, vals, conn), True
        A, B = ring.shape[:2]  # nested vmaps: merge the new axis into the batch
        out = propagate(ring.reshape((A * B,) + ring.shape[2:]), head.reshape(A * B), ids.reshape((A * B,) + ids.shape[2:]),
                        vals.reshape((A * B,) + vals.shape[2:]), conn)
        return out.reshape(ring.shape), True

    # the loop over a dynamic number of events has no derivative (reverse mode needs static shapes): say so
    # by name instead of JAX's "Linearization failed"
    guarded = jax.custom_jvp(propagate)

    @guarded.defjvp
    def _no_jvp(primals, tangents):
        raise ValueError(NOT_DIFFERENTIABLE)

    return guarded


NOT_DIFFERENTIABLE = (
    "MicrocircuitNetwork(surrogate=None) cannot be differentiated: its exact, event-driven propagation loops over "
    "a number of synapse events known only at run time. Build the network with surrogate=<width in mV> (e.g. "
    "surrogate=2.0: same forward run, spike-triggered surrogate derivative, events through a static buffer of "
    "max_events) to take gradients.")


# ---------------------------------------------------------------------------------------------- network model
@jax.custom_jvp
def _spike_fn(x, width):
    """Heaviside step of ``x = V - V_th`` (mV) whose derivative is the spike-triggered ``s / width``."""
    return (x >= 0).astype(x.dtype)


@_spike_fn.defjvp
def _spike_fn_jvp(primals, tangents):
    x, width = primals
    dx, _ = tangents
    hard = _spike_fn(x, width)
    return hard, dx * hard / width


class MicrocircuitState(NamedTuple):
    V: jax.Array  # (N,) membrane potential (mV)
    I: jax.Array  # (N,) synaptic current (pA)
    ref: jax.Array  # (N,) int32 refractory steps left
    ring: jax.Array  # (D, N) synaptic input (pA) arriving in the coming steps; row `head` arrives now
    head: jax.Array  # int32
    spikes: jax.Array  # (N,) spikes of the last step (0/1; carries the surrogate gradient if any)
    spike_ids: jax.Array  # (max_spikes,) int32 ids of the last step's spiking sources, padded with n_sources
    dropped: jax.Array  # int32: spikes or synapse events that did not fit the buffers (must stay 0)


class MicrocircuitNetwork(AbstractModel):
    r"""Current-based LIF network with exponential PSCs (NEST ``iaf_psc_exp``) on a sparse connectivity.

    Exact integration on the grid (Rotter & Diesmann 1999), with :math:`v = V - E_L` (mV), :math:`I` (pA), step :math:`h`:
    :math:`v \leftarrow e^{-h/\tau_m}v + \frac{\tau_s\tau_m}{C_m(\tau_m-\tau_s)}(e^{-h/\tau_m}-e^{-h/\tau_s})I
    + \frac{\tau_m}{C_m}(1-e^{-h/\tau_m})(I_{DC} + I_{drive})` (skipped while refractory, :math:`V` clamped
    at :math:`V_{reset}`), then :math:`I \leftarrow e^{-h/\tau_s}I + ` the PSC amplitudes arriving in this step
    (recurrent, through the delay ring buffer, and Poisson background counts :math:`\times\,w_{ext}`),
    then a spike where :math:`V \ge V_{th}` (reset, :math:`t_{ref}` refractory), as NEST orders it. A spike in
    step :math:`k` with delay :math:`d` steps is read in step :math:`k + d` (NEST's convention).

    **Propagation** is event-driven: the step's spiking sources (at most ``max_spikes``; network neurons and
    thalamic neurons) are laid out by (source, target population) segment and their events are scatter-added
    into the ring buffer at ``(head + delay) mod D`` in chunks of ``event_chunk``, in a loop whose length
    follows the number of events; vmapped trials pool their events in one loop (a custom batching rule). Spikes
    beyond ``max_spikes`` (and, with ``surrogate``, events beyond ``max_events``) are counted in
    ``state.dropped``, and :func:`jaxpop.simulate` raises at the end of a run in which any were (the
    :meth:`final_checks` of the model; :func:`check_dropped` checks a recorded ``"dropped"``) — nothing
    is dropped silently. The connectivity is a field of the model, so every vmapped trial shares it.

    **Background**: per neuron a Poisson count of mean :math:`\nu_{bg}K_{ext}h` per step (exact sampler),
    times :math:`w_{ext}`; or the DC of the config. **Thalamus** (config built with ``thalamus=True``):
    ``N_th`` sources, each an independent Poisson train of ``th_rate`` during the pulse (spike counts per step,
    multiplicity weighting the PSC as in NEST's parrot neurons).

    **Gradients** (``surrogate=width``, mV; without it, differentiation raises a ``ValueError`` that says
    so): the forward pass is unchanged (hard threshold); the backward pass
    uses the spike-triggered escape-noise derivative :math:`\partial s/\partial V := s/\Delta` with
    :math:`\Delta` = ``width``: for a neuron with exponential escape noise, hazard
    :math:`\rho \propto e^{(V - V_{th})/\Delta}`, the expected spike count changes as
    :math:`E[\sum_t s_t\,\partial_\theta V_t]/\Delta`, which this estimates on the simulated spikes (the
    escape-noise link of Plesser & Gerstner 2000: :math:`\Delta` plays the role of the GIF model's
    :math:`\Delta_u`, Schwalger et al. 2017). The reset is
    not differentiated (detached); background counts pass the gradient of their mean (straight-through), so
    gradients with respect to the weights, ``bg_rate`` and the drive are defined. Gradients flow through spikes
    only — an event-driven network has no synapse path for the others — and events go through one static
    buffer of ``max_events`` per step (reverse mode needs static shapes), overflow counted in ``dropped``.
    Smooth surrogates of the threshold (SuperSpike's :math:`1/(1+\beta|V-V_{th}|)^2`, Zenke & Ganguli 2018)
    measure the density of :math:`V` at threshold rather than the flux across it, and are not used (their
    measured error on the down-scaled circuit: ``docs/measurements.md``); the spike-triggered derivative's
    comparison with finite differences is in ``tests/test_microcircuit_gradients.py``.

    ``drive`` is an extra current per population (pA). Observables: ``"A"`` (population rates, Hz,
    averaged), ``"spikes"`` (per neuron, summed), ``"spike_ids"`` (per step, see :func:`spike_times`),
    ``"V"`` (mV), ``"dropped"``.
    """

    seg_ptr: jax.Array
    target: jax.Array
    weight: jax.Array
    delay: jax.Array
    pop_off: jax.Array  # (P,) first id of each population
    pop: jax.Array  # (N,) population of each neuron
    I_dc: jax.Array  # (N,) pA
    K_ext: jax.Array  # (N,) external in-degree of each neuron
    bg_rate: jax.Array  # Hz per external synapse
    w_ext: jax.Array  # pA
    th_rate: jax.Array | None  # Hz; None without a thalamus
    V0_mean: jax.Array
    V0_sd: jax.Array
    neuron: LIFParams
    dt: float = eqx.field(static=True)
    sizes: tuple = eqx.field(static=True)
    n_th: int = eqx.field(static=True)
    th_window: tuple = eqx.field(static=True)
    D: int = eqx.field(static=True)
    max_spikes: int = eqx.field(static=True)
    max_events: int = eqx.field(static=True)
    event_chunk: int = eqx.field(static=True)
    bg_window: int = eqx.field(static=True)
    background: str = eqx.field(static=True)
    surrogate: float | None = eqx.field(static=True)

    accumulated: ClassVar[tuple[str, ...]] = ("A",)
    summed: ClassVar[tuple[str, ...]] = ("spikes",)
    default_record: ClassVar[tuple[str, ...]] = ("A",)

    def __init__(self, config: MicrocircuitConfig, *, dt: float, key=None, max_spikes=None, max_events=None,
                 event_chunk=None, surrogate: float | None = None, connectivity: Connectivity | None = None,
                 neuron: LIFParams | None = None):
        if not (isinstance(dt, (int, float, np.floating)) and dt > 0):
            raise ValueError(f"dt must be a positive number (ms), got dt={dt!r}")
        if neuron is None:
            neuron = LIFParams(tuple(int(n) for n in config.N),
                               **{k: config.neuron[k] for k in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "tau_syn", "t_ref")})
        if not isinstance(neuron, LIFParams) or neuron.N != tuple(int(n) for n in config.N):
            raise ValueError(f"neuron must be a LIFParams with N = {tuple(int(n) for n in config.N)} (the config's sizes)")
        neuron.check_dt(float(dt))
        if surrogate is not None and not (isinstance(surrogate, (int, float)) and surrogate > 0):
            raise ValueError(f"surrogate (escape-noise width, mV) must be > 0 or None, got surrogate={surrogate!r}")
        key = jax.random.PRNGKey(0) if key is None else key
        conn = build_connectivity(config, dt, key) if connectivity is None else connectivity
        N = np.asarray(config.N)
        P, n_total = len(N), int(N.sum())
        if len(conn.offsets) != P + 1 or int(conn.offsets[-1]) != n_total:
            raise ValueError("connectivity was built for a different configuration")
        self.seg_ptr, self.target, self.weight, self.delay = conn.seg_ptr, conn.target, conn.weight, conn.delay
        self.pop_off = jnp.asarray(conn.offsets[:-1], jnp.int32)
        pop = np.repeat(np.arange(P), N)
        self.pop = jnp.asarray(pop, jnp.int32)
        self.I_dc = jnp.asarray(config.I_dc[pop], jnp.float32)
        self.K_ext = jnp.asarray(np.asarray(config.K_ext)[pop] if config.background == "poisson" else np.zeros(n_total),
                                 jnp.float32)
        self.bg_rate = jnp.asarray(config.bg_rate, jnp.float32)
        self.w_ext = jnp.asarray(config.w_ext, jnp.float32)
        self.n_th = int(conn.n_sources - n_total)
        self.th_rate = jnp.asarray(config.th_rate, jnp.float32) if self.n_th else None  # no unread parameter
        self.th_window = (float(config.th_start), float(config.th_start + config.th_duration))
        self.V0_mean = jnp.asarray(config.V0_mean[pop], jnp.float32)
        self.V0_sd = jnp.asarray(config.V0_sd[pop], jnp.float32)
        self.dt, self.sizes, self.background = float(dt), tuple(int(n) for n in N), config.background
        self.surrogate = None if surrogate is None else float(surrogate)
        indptr = conn.indptr
        self.D = int(np.max(np.asarray(conn.delay[: conn.n_synapses]), initial=1)) + 1
        out_deg = np.diff(indptr)
        # default spike buffer: 0.5 % of the neurons spiking in one step (6x the mean of a network at 8 Hz,
        # dt = 0.1 ms), plus room for the thalamic pulse; an overflow is counted in state.dropped
        th_mean = self.n_th * config.th_rate * dt * 1e-3
        self.max_spikes = int(max_spikes or (n_total // 200 + 32 + (int(th_mean + 10 * np.sqrt(th_mean) + 8) if self.n_th else 0)))
        mean_out = float(out_deg.mean()) if out_deg.size else 0.0
        self.max_events = int(max_events or max(1024, int(1.5 * self.max_spikes * mean_out)))
        # event chunk: about the events of one step of the network firing at 4 Hz (power of two, 1024 .. 65536)
        typical = n_total * 4.0 * dt * 1e-3 * mean_out
        self.event_chunk = int(event_chunk or min(65536, max(1024, 1 << int(np.ceil(np.log2(max(typical, 1)))))))
        bg = float(np.max(np.asarray(self.K_ext), initial=0.0)) * config.bg_rate * dt * 1e-3
        # inversion window of the exact Poisson sampler: a continuation beyond it is exact but costs a loop
        self.bg_window = int(np.ceil(bg + 6 * np.sqrt(bg) + 5))
        self.neuron = neuron

    @property
    def n_sources(self) -> int:
        return sum(self.sizes) + self.n_th

    @property
    def drive_shape(self):
        return (len(self.sizes),)

    def check_dt(self, dt):
        if abs(float(dt) - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"dt = {dt} differs from the dt = {self.dt} ms this network was built for")

    def final_checks(self, state):
        return ((state.dropped > 0,
                 f"spikes or synapse events exceeded the buffers (max_spikes={self.max_spikes}, "
                 f"max_events={self.max_events}) in some step: the run is invalid; build the network with larger "
                 "max_spikes / max_events (record 'dropped' to see how many were lost)"),)

    def observable_dims(self):
        return {"A": ("population",), "spikes": ("neuron",), "spike_ids": ("slot",), "V": ("neuron",), "dropped": ()}

    def init(self, key) -> MicrocircuitState:
        n = sum(self.sizes)
        V = self.V0_mean + self.V0_sd * jax.random.normal(key, (n,), jnp.float32)
        z = jnp.zeros(n, jnp.float32)
        return MicrocircuitState(V=V, I=z, ref=jnp.zeros(n, jnp.int32), ring=jnp.zeros((self.D, n), jnp.float32),
                                 head=jnp.asarray(0, jnp.int32), spikes=z,
                                 spike_ids=jnp.full(self.max_spikes, self.n_sources, jnp.int32),
                                 dropped=jnp.asarray(0, jnp.int32))

    def step(self, state, t, dt, drive, key):
        h = self.dt
        P22, P11, P21, P20 = self._propagators()
        nr, pop = self.neuron, self.pop
        E_L, V_th, V_reset = nr.E_L[pop], nr.V_th[pop], nr.V_reset[pop]
        ref_steps = jnp.asarray(np.rint(np.asarray(nr.t_ref) / h).astype(np.int32))[pop]
        P = len(self.sizes)
        k_bg, k_th = jax.random.split(key)
        arriving = jax.lax.dynamic_index_in_dim(state.ring, state.head, 0, keepdims=False)
        if self.background == "poisson":
            mean = self.bg_rate * self.K_ext * (h * 1e-3)
            if self.surrogate is None:
                counts = _poisson_exact(k_bg, mean, window=self.bg_window)
            else:
                counts = poisson(k_bg, mean, mode="straight_through", check=False)
            arriving = arriving + self.w_ext * counts
        I_ext = self.I_dc + jnp.broadcast_to(jnp.asarray(drive(t + 0.5 * h), jnp.float32), (P,))[self.pop]  # step midpoint
        v = state.V - E_L
        free = state.ref == 0
        v = jnp.where(free, P22 * v + P21 * state.I + P20 * I_ext, v)
        ref = jnp.where(free, 0, state.ref - 1)
        I = P11 * state.I + arriving
        if self.surrogate is None:
            spk = (v + E_L >= V_th).astype(jnp.float32)
        else:
            spk = _spike_fn(v + E_L - V_th, jnp.float32(self.surrogate))
        fired = v + E_L >= V_th
        V = jnp.where(fired, V_reset, v + E_L)
        ref = jnp.where(fired, ref_steps, ref)
        # sources of this step: network spikes, then thalamic spike counts (multiplicities), then a 0 for the fill id
        values = [spk]
        if self.n_th:
            on = (t + h > self.th_window[0]) & (t + h <= self.th_window[1])
            th = _poisson_exact(k_th, jnp.full(self.n_th, self.th_rate * h * 1e-3, jnp.float32) * on, window=8)
            values.append(th)
        values = jnp.concatenate(values + [jnp.zeros(1, jnp.float32)])
        # zero this step's row, written as I - I (= 0): the write then depends on I, the row's reader, which orders
        # the read before the in-place writes; with a plain zero XLA copies the whole ring buffer every step
        ring = jax.lax.dynamic_update_index_in_dim(state.ring, I - I, state.head, 0)
        n_src = self.n_sources
        n_spk = jnp.sum(jax.lax.stop_gradient(values) > 0)
        ids = jnp.nonzero(jax.lax.stop_gradient(values) > 0, size=self.max_spikes, fill_value=n_src)[0].astype(jnp.int32)
        vals = values[ids]
        dropped = state.dropped + jnp.maximum(n_spk - self.max_spikes, 0)
        conn = (self.seg_ptr, self.target, self.weight, self.delay, self.pop_off)
        if self.surrogate is None:
            ring = _propagator(self.event_chunk, P)(ring, state.head, ids, vals, conn)
        else:  # one static buffer of max_events (differentiable)
            starts, excl, total = _segments(ids, conn, P)
            ring = _scatter_events(ring, jnp.zeros((), excl.dtype), state.head, ids, vals,
                                   jnp.minimum(total, self.max_events), starts, excl, conn, chunk=self.max_events, P=P)
            dropped = dropped + jnp.maximum(total - self.max_events, 0)
        return MicrocircuitState(V=V, I=I, ref=ref, ring=ring, head=(state.head + 1) % self.D, spikes=spk,
                                 spike_ids=ids, dropped=dropped.astype(jnp.int32))

    def _propagators(self):
        r"""Exact-integration propagators per neuron (float32; computed in float64 when available, so a
        parameter's float32 value gives the same numbers as NEST's double-precision constants rounded once):
        :math:`P_{22} = e^{-h/\tau_m}`, :math:`P_{11} = e^{-h/\tau_s}`,
        :math:`P_{21} = \frac{\tau_s\tau_m}{C_m(\tau_m - \tau_s)}(P_{22} - P_{11})`,
        :math:`P_{20} = \frac{\tau_m}{C_m}(1 - P_{22})`."""
        nr, h = self.neuron, self.dt
        wide = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
        C_m, tau_m, tau_s = (x.astype(wide) for x in (nr.C_m, nr.tau_m, nr.tau_syn))
        P22, P11 = jnp.exp(-h / tau_m), jnp.exp(-h / tau_s)
        P21 = tau_s * tau_m / (C_m * (tau_m - tau_s)) * (P22 - P11)
        P20 = tau_m / C_m * (1 - P22)
        return tuple(x.astype(jnp.float32)[self.pop] for x in (P22, P11, P21, P20))

    def observe(self, state):
        sizes = jnp.asarray(self.sizes, jnp.float32)
        A = jax.ops.segment_sum(state.spikes, self.pop, num_segments=len(self.sizes)) / sizes / (self.dt * 1e-3)
        return {"A": A, "spikes": state.spikes, "spike_ids": state.spike_ids, "V": state.V, "dropped": state.dropped}


def check_dropped(result) -> None:
    """Raise if a simulation recorded with ``"dropped"`` overflowed its spike or event buffers."""
    d = np.asarray(result["dropped"])
    if np.any(d > 0):
        raise RuntimeError(f"{int(d.max())} spikes / synapse events exceeded the buffers (max_spikes, max_events): "
                           "the run is invalid; build the network with larger buffers")


def spike_times(result, net: MicrocircuitNetwork, *, trial: int | None = None, thalamus: bool = False):
    """Spike times (ms, the end of the step) and senders (global ids) from a run recorded with ``"spike_ids"`` at
    ``record_every=1`` — NEST's spike-recorder format. Thalamic sources (ids >= N) only with ``thalamus=True``."""
    ids = np.asarray(result["spike_ids"])
    ts = np.asarray(result.ts)
    if ts.size > 1 and not np.allclose(np.diff(ts), net.dt):
        raise ValueError("spike_times needs a run recorded with record_every=1 (spike_ids are per step)")
    if ids.ndim == 3:
        if trial is None:
            raise ValueError("the result holds several trials: pass trial=")
        ids = ids[trial]
    step, slot = np.nonzero(ids < (net.n_sources if thalamus else sum(net.sizes)))
    return ts[step], ids[step, slot]
