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
from .model import AbstractModel, AbstractODEModel
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
        _, recorded = jax.lax.scan(block, state, jnp.arange(n_blocks))
        return recorded

    if trials is None:
        return one_trial(key)
    # trial i is exactly the single run with key split(key, trials)[i]
    keys = jax.random.split(key, trials)
    if trials_per_chunk is None or trials_per_chunk >= trials:
        return jax.vmap(one_trial)(keys)
    # chunks of trials one after the other: the same keys, so the same numbers, with a working set that
    # stays in the CPU's caches (a large batch streams its whole state through memory at every step)
    n_chunks = trials // trials_per_chunk
    chunked = jax.lax.map(jax.vmap(one_trial), keys.reshape((n_chunks, trials_per_chunk) + keys.shape[1:]))
    return jax.tree_util.tree_map(lambda x: x.reshape((trials,) + x.shape[2:]), chunked)


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
        ``trials``). Same numbers as one batch. On a CPU a chunk whose state fits in the cache
        can be several times faster per trial than one large batch, which streams its whole
        state through memory at every step; on a GPU leave it unset.
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
    n_blocks = n_steps // record_every
    data = _run(
        model, drive, key, state0,
        t0=t0, dt=float(dt), n_blocks=n_blocks, record_every=int(record_every), record=record,
        progress=bool(progress), checkpoint=bool(checkpoint), trials=None if trials is None else int(trials),
        trials_per_chunk=None if trials_per_chunk is None else int(trials_per_chunk),
    )
    ts = t0 + float(dt) * record_every * jnp.arange(1, n_blocks + 1)
    return Result(ts, data, float(dt), int(record_every), _observable_dims(model, record))


def _ode_rhs(t, y, args):
    model, drive = args
    return model.vector_field(t, y, drive)


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
    pid = diffrax.PIDController(rtol=rtol, atol=atol)
    controller = diffrax.ClipStepSizeController(pid, jump_ts=jnp.asarray(jumps)) if jumps else pid
    term = diffrax.ODETerm(_ode_rhs)  # a module-level function: compiled solves are reused across calls
    sol = diffrax.diffeqsolve(
        term,
        diffrax.Tsit5() if solver is None else solver,
        t0, t_end,
        dt0=(t_end - t0) / 1000 if dt0 is None else dt0,
        y0=y0,
        args=(model, drive),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=controller,
        max_steps=max_steps,
        adjoint=diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint,
    )
    obs = jax.vmap(model.observe)(sol.ys)
    return Result(sol.ts, dict(obs), math.nan, 1, _observable_dims(model, tuple(obs)))
