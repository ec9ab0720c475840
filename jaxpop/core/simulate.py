"""The one engine: fixed-step scans (:func:`simulate`) and adaptive ODE solves (:func:`solve`)."""

from __future__ import annotations

import math
import sys
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .drives import AbstractDrive, as_drive, check_drive
from .model import AbstractModel, AbstractODEModel, check_runtime
from .result import Result


def step_key(key: jax.Array, k) -> jax.Array:
    """Key of global step ``k``: ``fold_in(key, k)``. Independent of chunking and recording."""
    return jax.random.fold_in(key, k)


def _n_steps(t0: float, t_end: float, dt: float) -> int:
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got dt={dt!r}")
    if not t_end > t0:
        raise ValueError(f"t_end must be > t0, got t0={t0!r}, t_end={t_end!r}")
    n = (t_end - t0) / dt
    n_int = int(round(n))
    if abs(n - n_int) > 1e-6 * max(1.0, n):
        raise ValueError(f"(t_end - t0) = {t_end - t0!r} is not a whole number of steps dt = {dt!r}")
    return n_int


def _check_record(model: AbstractModel, record, state_shape) -> tuple[str, ...]:
    obs_shape = jax.eval_shape(model.observe, state_shape)
    if record is None:
        record = model.default_record or tuple(obs_shape)
    elif isinstance(record, str):
        record = (record,)
    record = tuple(record)
    unknown = [r for r in record if r not in obs_shape]
    if unknown:
        raise ValueError(f"record: unknown observable(s) {unknown}; {type(model).__name__} offers {sorted(obs_shape)}")
    return record


def _observable_dims(model, record):
    dims = getattr(model, "observable_dims", None)
    dims = dims() if callable(dims) else (dims or {})
    return {name: tuple(dims.get(name, ())) for name in record}


def _progress_callback(i, n):
    done = int(i) + 1
    sys.stderr.write(f"\rjaxpop: {100.0 * done / int(n):5.1f} % ({done}/{int(n)} blocks)")
    if done == int(n):
        sys.stderr.write("\n")
    sys.stderr.flush()


# Automatic chunking on a CPU (:func:`auto_chunk`): a chunk's working set, taken as _CHUNK_STATE_COPIES
# states per item (the state a step reads, the one it writes, the step's temporaries), must fit
# _CHUNK_CACHE_BYTES; chunks are never shorter than _MIN_CHUNK items (per-step overhead).
_CHUNK_CACHE_BYTES = 12 * 2**20
_CHUNK_STATE_COPIES = 2
_MIN_CHUNK = 16


def auto_chunk(n: int, item_bytes: int, platform: str, min_chunk: int | None = None) -> int:
    """Chunk length for ``n`` independent vmapped items run in sequential chunks (the default of
    :func:`simulate`'s ``trials_per_chunk``; also caps the grid points per device of :func:`jaxpop.sweep`).

    Rule: on a GPU or TPU (any ``platform`` but ``"cpu"``) ``n``: one batch. On a CPU the largest
    length ``c`` with ``_CHUNK_STATE_COPIES * item_bytes * c <= _CHUNK_CACHE_BYTES``, but at least
    ``min_chunk`` (default ``_MIN_CHUNK``); ``item_bytes`` is one item's state (one trial: :func:`jax.eval_shape` of
    ``model.init``). If ``c >= n``: ``n``, one batch. Otherwise the largest divisor of ``n`` in
    ``[c/2, c]`` if there is one, else ``c`` balanced over ``ceil(n / c)`` chunks
    (``ceil(n / n_chunks)`` each, the last chunk padded with fewer than ``n_chunks`` extra items).

    Measurement it is based on (``benchmarks/chunking.py``; the figures, the machine and the scans
    over chunk lengths of several models are in ``benchmarks/README.md``): on a CPU the cost per
    trial and step of the mesoscopic GIF models (E-I and Potjans-Diesmann, float64 and float32) is
    lowest, and flat, for chunks whose state lies between the per-core L2 and the shared L3 cache,
    well below that of one large batch; short chunks lose more to the per-step overhead of a chunk
    (loop, launches, vectorisation) than they gain in cache (hence ``min_chunk``); small states
    run as one batch; and an event-driven model with a large but sparsely touched state (the
    Potjans-Diesmann microcircuit) runs fastest in the largest batch, which ``min_chunk`` keeps
    for a few trials. The same budget measured best for :func:`jaxpop.sweep`'s grid points.
    """
    if platform != "cpu" or n <= 1:
        return n
    min_chunk = _MIN_CHUNK if min_chunk is None else min_chunk
    c = max(int(min_chunk), 1, int(_CHUNK_CACHE_BYTES // max(1, _CHUNK_STATE_COPIES * int(item_bytes))))
    if c >= n:
        return n
    for d in range(c, (c + 1) // 2 - 1, -1):
        if n % d == 0:
            return d
    n_chunks = -(-n // c)
    return -(-n // n_chunks)


def _platform(key) -> str:
    """Platform that runs a simulation keyed by ``key``: its device's, or the default backend's."""
    if isinstance(key, jax.Array) and not isinstance(key, jax.core.Tracer):
        try:
            return next(iter(key.devices())).platform
        except Exception:  # pragma: no cover - a key without a device
            pass
    return jax.default_backend()


@eqx.filter_jit
def _run(model, drive, key, state0, *, t0, dt, n_blocks, record_every, record, progress, checkpoint, trials,
         trials_per_chunk=None):
    def one_trial(key):
        k_init, k_steps = jax.random.split(key)
        state = model.init(k_init) if state0 is None else state0
        acc_names = tuple(r for r in record if r in model.accumulated or r in model.summed)

        def block(state, i):
            def inner(carry, j):
                state, acc = carry
                k = i * record_every + j
                t = t0 + k * dt
                state = model.step(state, t, dt, drive, step_key(k_steps, k))
                if acc_names:
                    obs = model.observe(state)
                    acc = {n: acc[n] + obs[n] for n in acc_names}
                return (state, acc), None

            obs0 = jax.eval_shape(model.observe, state)
            acc0 = {n: jnp.zeros(obs0[n].shape, obs0[n].dtype) for n in acc_names}
            (state, acc), _ = jax.lax.scan(inner, (state, acc0), jnp.arange(record_every))
            obs = model.observe(state)
            out = {
                n: (acc[n] if n in model.summed else acc[n] / record_every) if n in acc else obs[n] for n in record
            }
            if progress:
                stride = max(1, n_blocks // 100)
                jax.lax.cond(
                    (i % stride == 0) | (i == n_blocks - 1),
                    lambda: jax.debug.callback(_progress_callback, i, n_blocks),
                    lambda: None,
                )
            return state, out

        if checkpoint:
            block = jax.checkpoint(block)
        final, recorded = jax.lax.scan(block, state, jnp.arange(n_blocks))
        for bad, message in model.final_checks(final):  # e.g. a spike buffer that overflowed: the run is invalid
            recorded = eqx.error_if(recorded, jnp.any(bad), f"{type(model).__name__}: {message}")
        return recorded

    if trials is None:
        return one_trial(key)
    # trial i is exactly the single run with key split(key, trials)[i]
    keys = jax.random.split(key, trials)
    if trials_per_chunk is None or trials_per_chunk >= trials:
        return jax.vmap(one_trial)(keys)
    # chunks of trials one after the other: the same keys, so the same numbers, with a working set that
    # stays in the CPU's caches (a large batch streams its whole state through memory at every step).
    # A chunk length that does not divide `trials` (automatic chunking only): the last chunk is filled
    # up with copies of the last key, and those extra trials are dropped.
    n_chunks = -(-trials // trials_per_chunk)
    padded = n_chunks * trials_per_chunk
    if padded > trials:
        keys = keys[np.minimum(np.arange(padded), trials - 1)]
    chunked = jax.lax.map(jax.vmap(one_trial), keys.reshape((n_chunks, trials_per_chunk) + keys.shape[1:]))
    return jax.tree_util.tree_map(lambda x: x.reshape((padded,) + x.shape[2:])[:trials], chunked)


def simulate(
    model: AbstractModel,
    t_end: float,
    dt: float,
    *,
    key: jax.Array,
    drive: AbstractDrive | float | jax.Array | None = None,
    t0: float = 0.0,
    record: str | Sequence[str] | None = None,
    record_every: int = 1,
    trials: int | None = None,
    trials_per_chunk: int | None = None,
    state0=None,
    progress: bool = False,
    checkpoint: bool = False,
) -> Result:
    """Simulate ``model`` from ``t0`` to ``t_end`` with fixed step ``dt``.

    The time loop is a :func:`jax.lax.scan` of ``model.step``; observables are recorded
    every ``record_every`` steps inside the scan, so memory grows with the number of
    records, not of steps. Keys: ``k_init, k_steps = split(key)``; ``init`` gets ``k_init``
    and step ``k`` gets ``fold_in(k_steps, k)``, so the same ``key`` gives the same result
    with or without ``jit`` or recording decimation. Trial ``i`` of ``trials=n`` is exactly
    the single run with ``key=jax.random.split(key, n)[i]`` (vmap or loop, same numbers).

    Parameters
    ----------
    model : AbstractModel
        Any jaxpop model.
    t_end, dt : float
        End time and time step (model time units: ms for biophysical models,
        dimensionless for QIF / MPR). ``t_end - t0`` must be a whole number of steps.
    key : jax.random.PRNGKey
        Keyword-only. Also needed by deterministic models (used for ``init``).
    drive : drive, number, array or None
        External input ``I(t)``, shaped ``model.drive_shape`` (a scalar broadcasts).
    record : str or sequence of str, optional
        Observables to keep (default: ``model.default_record``).
    record_every : int
        Decimation. Accumulated observables (``model.accumulated``, e.g. population
        activity) are averaged over each block, summed ones (``model.summed``, spike
        counts) are summed over it, others are sampled at its end.
    trials : int, optional
        Run ``trials`` independent trials (vmapped over keys); arrays gain a leading
        trial axis.
    trials_per_chunk : int, optional
        Run the trials in sequential chunks of this many (vmapped within a chunk; must divide
        ``trials``); ``trials_per_chunk=trials`` runs them as one batch. Same numbers in every
        case. Default: :func:`auto_chunk` — on a GPU or TPU one batch; on a CPU chunks of at
        least 16 trials whose state fits in the cache (a few MiB), up to about twice as fast per
        trial as one large batch, which streams its whole state through memory at every step (a
        chunk length that does not divide ``trials`` pads the last chunk with extra trials that
        are dropped).
    state0 : pytree, optional
        Initial state (default ``model.init(key)``); shared by all trials.
    progress : bool
        Print a progress bar on stderr (a host callback about every 1 % of the run).
    checkpoint : bool
        Rematerialise each recording block in the backward pass (``jax.checkpoint``), so
        the memory of reverse-mode gradients grows with the number of blocks only.

    Returns
    -------
    Result
    """
    if not isinstance(model, AbstractModel):
        raise TypeError(f"model must be a jaxpop model, got {type(model).__name__}")
    model.check_dt(dt)
    t0 = float(t0)
    n_steps = _n_steps(t0, float(t_end), float(dt))
    if not (isinstance(record_every, (int, np.integer)) and record_every >= 1):
        raise ValueError(f"record_every must be a positive integer, got {record_every!r}")
    if n_steps % record_every:
        raise ValueError(f"record_every={record_every} does not divide the number of steps {n_steps}")
    if trials is not None and not (isinstance(trials, (int, np.integer)) and trials >= 1):
        raise ValueError(f"trials must be a positive integer or None, got {trials!r}")
    if trials_per_chunk is not None:
        if trials is None:
            raise ValueError("trials_per_chunk needs trials")
        if not (isinstance(trials_per_chunk, (int, np.integer)) and trials_per_chunk >= 1 and trials % trials_per_chunk == 0):
            raise ValueError(f"trials_per_chunk must be a positive divisor of trials={trials}, got {trials_per_chunk!r}")
    drive = as_drive(drive)
    check_drive(drive, model.drive_shape, t0, float(t_end))
    state_shape = jax.eval_shape(model.init, key) if state0 is None else state0
    record = _check_record(model, record, state_shape)
    if trials is not None and trials_per_chunk is None:
        state_bytes = sum(math.prod(jnp.shape(x)) * jnp.result_type(x).itemsize for x in jax.tree.leaves(state_shape))
        trials_per_chunk = auto_chunk(int(trials), state_bytes, _platform(key))
    n_blocks = n_steps // record_every
    # parameter values against the structure built from them (raises now if concrete)
    check_runtime(model, float(dt))
    data = _run(
        model, drive, key, state0,
        t0=t0, dt=float(dt), n_blocks=n_blocks, record_every=int(record_every), record=record,
        progress=bool(progress), checkpoint=bool(checkpoint), trials=None if trials is None else int(trials),
        trials_per_chunk=None if trials_per_chunk is None else int(trials_per_chunk),
    )
    data = check_runtime(model, float(dt), data)  # traced parameters (inside jit / vmap / grad): a runtime error
    ts = t0 + float(dt) * record_every * jnp.arange(1, n_blocks + 1)
    return Result(ts, data, float(dt), int(record_every), _observable_dims(model, record))


def _ode_rhs(t, y, args):
    model, drive = args
    return model.vector_field(t, y, drive)


def _ode_rhs_shifted(s, y, args):
    # the solver's clock s = t - shift (see solve); the model and the drive see t = s + shift
    model, drive, shift = args
    return model.vector_field(s + shift, y, drive)


def solve(
    model: AbstractODEModel,
    t_end: float,
    *,
    t0: float = 0.0,
    y0=None,
    drive=None,
    ts=None,
    n_save: int = 1001,
    solver=None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    dt0: float | None = None,
    max_steps: int = 1_000_000,
    key: jax.Array | None = None,
    adjoint=None,
) -> Result:
    """Solve an ODE model adaptively with diffrax.

    Uses ``model.vector_field`` (the same equations as the fixed-step :meth:`step`),
    Tsit5 with a PID step-size controller by default, and tells the controller where the
    drive jumps (``drive.discontinuities()``), so a step input is resolved exactly.

    Parameters
    ----------
    ts : array, optional
        Output times (default ``n_save`` equally spaced points on ``[t0, t_end]``).
    y0 : pytree, optional
        Initial state (default ``model.init(key)``).
    rtol, atol : float
        Tolerances of the step-size controller.
    adjoint : diffrax adjoint, optional
        For reverse-mode gradients; default ``diffrax.RecursiveCheckpointAdjoint()``.

    Notes
    -----
    A jump at ``t = 0`` (e.g. ``Step(a)`` or ``Sinusoid(a, w)`` with the default
    ``t_on=0`` and ``t0 < 0``) cannot be stepped over on the clock ``t``: diffrax steps to
    the float just before the jump and back over it with ``nextafter``, which near 0 gives
    subnormal numbers, and whether they compare equal to 0 depends on how XLA compiled the
    solve (it did eagerly, it did not under ``jax.jit`` with the drive built inside, and
    the solve never finished). So when a jump lies within ``4 * finfo.tiny`` of 0, the
    solver runs on the shifted clock ``s = t - P``, with ``P`` the power of two above
    ``2 * max(|t0|, |t_end|)``: every ``s`` then maps back to ``t = s + P`` exactly
    (Sterbenz), the model and the drive are evaluated at ``t`` (before a jump strictly
    before it, after it at or after it, as on the clock ``t``), and ``ts`` is returned as
    given; the output times are resolved to ``ulp(P)`` instead (``~3e-14`` for ``P = 128``),
    far below the solver tolerance.
    """
    import diffrax

    if not isinstance(model, AbstractODEModel):
        raise TypeError(f"solve() needs an ODE model (AbstractODEModel), got {type(model).__name__}")
    t0, t_end = float(t0), float(t_end)
    if not t_end > t0:
        raise ValueError(f"t_end must be > t0, got t0={t0}, t_end={t_end}")
    drive = as_drive(drive)
    check_drive(drive, model.drive_shape, t0, t_end)
    if y0 is None:
        y0 = model.init(jax.random.PRNGKey(0) if key is None else key)
    ts = jnp.linspace(t0, t_end, n_save) if ts is None else jnp.asarray(ts, dtype=float)
    jumps = [x for x in drive.discontinuities() if t0 < x < t_end]
    # a jump at (or within a few floats of) 0: solve on the clock s = t - shift (see Notes)
    shift = 0.0
    if any(abs(x) < 4 * np.finfo(float).tiny for x in jumps):
        shift = math.ldexp(1.0, math.frexp(2 * max(abs(t0), abs(t_end)))[1])
    pid = diffrax.PIDController(rtol=rtol, atol=atol)
    controller = pid
    if jumps:
        controller = diffrax.ClipStepSizeController(pid, jump_ts=jnp.asarray([x - shift for x in jumps]))
    # module-level functions: compiled solves are reused across calls
    term = diffrax.ODETerm(_ode_rhs_shifted if shift else _ode_rhs)
    sol = diffrax.diffeqsolve(
        term,
        diffrax.Tsit5() if solver is None else solver,
        t0 - shift, t_end - shift,
        dt0=(t_end - t0) / 1000 if dt0 is None else dt0,
        y0=y0,
        args=(model, drive, shift) if shift else (model, drive),
        saveat=diffrax.SaveAt(ts=ts - shift if shift else ts),
        stepsize_controller=controller,
        max_steps=max_steps,
        adjoint=diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint,
    )
    obs = jax.vmap(model.observe)(sol.ys)
    return Result(ts if shift else sol.ts, dict(obs), math.nan, 1, _observable_dims(model, tuple(obs)))
