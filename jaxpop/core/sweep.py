r"""Parameter sweeps: one model over a grid of parameter values, vmapped, chunked, sharded, resumable.

.. code-block:: python

    res = jaxpop.sweep(model, {"eta_bar": etas, "J": Js}, t_end=100.0, dt=1e-3, key=key,
                       record="r", record_every=100,
                       reduce=lambda r: r["r"][-200:].mean(axis=-1))
    res["value"]          # shape (len(etas), len(Js))
    res.to_xarray()       # labelled with the grid dims eta_bar, J

Every grid point is a :func:`jaxpop.simulate` (or :func:`jaxpop.solve`) of the model with the
swept fields replaced (:func:`equinox.tree_at`). Point ``i`` of the flattened grid (C order,
dims in dict order) uses the key ``fold_in(key, i)``, so results do not depend on the chunk
size, on the number of devices, or on whether the sweep is jitted.

Two execution paths share the same per-point function:

* **host path** (concrete inputs, the usual call): the grid is cut into chunks that fit
  ``memory_budget``; each chunk is padded to a multiple of the device count, its parameter
  values are placed with ``NamedSharding(Mesh(devices, ("p",)), P("p"))`` and one jitted,
  vmapped function runs it data-parallel on all devices. Finished chunks are gathered into
  host (numpy) arrays and, with ``checkpoint_dir``, written to disk, so an interrupted sweep
  resumes where it stopped.
* **traced path** (some input is a JAX tracer: inside ``jax.jit``, ``jax.grad``, ``jax.vmap``):
  a pure function of its inputs, chunks run by :func:`jax.lax.map`; results are JAX arrays
  and gradients flow to the model's parameters and to the grid values. No disk, no explicit
  sharding (the enclosing transformation decides placement).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import sys
import time
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .drives import AbstractDrive, as_drive
from .model import AbstractModel, AbstractODEModel, get_path, resolve_path
from .result import Result
from .simulate import _MIN_CHUNK, _check_record, _n_steps, auto_chunk, simulate, solve

__all__ = ["sweep", "SweepResult", "SweepProgress"]

_METHODS = ("simulate", "solve")
# Safety factor of the memory heuristic and the number of state-sized temporaries per point
# (an RK4 step holds the state, four stages and their partial sums).
_SAFETY = 2.0
_STATE_COPIES = 8
# Per-device chunk lengths from this size on are padded to a multiple of 8 (vector-friendly).
_ALIGN_FROM = 64


# ------------------------------------------------------------------------------------------
# Result
# ------------------------------------------------------------------------------------------


class SweepResult(eqx.Module):
    """The output of :func:`jaxpop.sweep`.

    Attributes
    ----------
    coords : dict[str, array]
        Grid values per swept parameter. For a product grid ``coords[name]`` labels the grid
        dim ``name``; for ``product=False`` every ``coords[name]`` runs along the one dim
        ``"point"``.
    data : dict[str, array]
        Without ``reduce``: the recorded observables, shaped
        ``(*grid_shape, [trials,] n_records, *observable_shape)``. With ``reduce``: its output
        per point with ``grid_shape`` in front (a dict keeps its keys, a single array is
        named ``"value"``, other pytrees are named by their key paths).
    status : array of bool, shape ``grid_shape``
        ``True`` where every recorded and reduced value of the point is finite.
    ts : array, shape (n_records,)
        Recording times of the underlying simulations (ends of recording blocks).
    dims : tuple of str
        Names of the grid dims (``tuple(coords)``, or ``("point",)`` for ``product=False``).
    info : dict
        How the sweep ran: ``n_devices``, ``chunk_points`` (grid points per chunk),
        ``chunk_padded``, ``n_chunks`` (computed in this call), ``loaded_points`` (from
        ``checkpoint_dir``), ``point_bytes`` (the memory estimate per point), ``run_s``.
    """

    coords: dict[str, Any]
    data: dict[str, Any]
    status: Any
    ts: Any
    dims: tuple[str, ...] = eqx.field(static=True)
    observable_dims: dict[str, tuple[str, ...]] = eqx.field(static=True)
    reduced: bool = eqx.field(static=True)
    trials: int | None = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    record_every: int = eqx.field(static=True)
    info: dict[str, Any] = eqx.field(static=True)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.status))

    def __getitem__(self, name: str):
        try:
            return self.data[name]
        except KeyError:
            raise KeyError(f"{name!r} is not in the sweep's data; available: {sorted(self.data)}") from None

    def __getattr__(self, name: str) -> Any:
        data = self.__dict__.get("data")
        if data is not None and name in data:
            return data[name]
        raise AttributeError(name)

    def keys(self):
        return self.data.keys()

    def to_xarray(self):
        """An :class:`xarray.Dataset` with the grid dims (and trial / time / observable dims) labelled."""
        try:
            import xarray as xr
        except ImportError as e:  # pragma: no cover - exercised only without xarray
            raise ImportError("SweepResult.to_xarray needs xarray: pip install 'jaxpop[xarray]'") from e
        if self.dims == ("point",):
            coords = {name: ("point", np.asarray(v)) for name, v in self.coords.items()}
        else:
            coords = {name: np.asarray(v) for name, v in self.coords.items()}
        variables = {}
        n_grid = len(self.dims)
        for name, arr in self.data.items():
            arr = np.asarray(arr)
            n_rest = arr.ndim - n_grid
            if not self.reduced:
                inner = tuple(self.observable_dims.get(name, ()))
                rest = (("trial",) if self.trials is not None else ()) + ("time",) + inner
                if len(rest) != n_rest:
                    rest = None
            else:
                rest = None
            if rest is None:
                rest = tuple(f"{name}_dim_{k}" for k in range(n_rest))
            variables[name] = (self.dims + rest, arr)
        variables["status"] = (self.dims, np.asarray(self.status))
        if not self.reduced:
            coords["time"] = np.asarray(self.ts)
        attrs = {"dt": self.dt, "record_every": self.record_every}
        return xr.Dataset(variables, coords=coords, attrs=attrs)


class SweepProgress(NamedTuple):
    """What a ``progress`` callable receives after each finished chunk."""

    chunk: int  #: chunks finished in this call (1-based)
    n_chunks: int  #: chunks this call computes
    points_done: int  #: grid points finished, including those loaded from ``checkpoint_dir``
    n_points: int  #: grid points in all
    loaded: int  #: points loaded from ``checkpoint_dir`` at the start of this call
    elapsed: float  #: seconds since the first chunk started


# ------------------------------------------------------------------------------------------
# Grid parsing: names -> how to set them
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Param:
    name: str
    target: str  # "model", "drive" or "setter"
    path: tuple = ()
    setter: Callable | None = None


def _parse_grid(model, drive, grid, product):
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a dict mapping field names to 1-D arrays, got {type(grid).__name__}")
    if len(grid) == 0:
        raise ValueError("grid is empty: give at least one parameter to sweep, e.g. {'eta_bar': etas}")
    params, values = [], []
    for name, spec in grid.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"grid keys must be non-empty strings (field paths or labels), got {name!r}")
        if isinstance(spec, tuple) and len(spec) == 2 and callable(spec[0]):
            setter, vals = spec
            param = _Param(name, "setter", (), setter)
        else:
            vals = spec
            if name.startswith("drive."):
                param = _Param(name, "drive", resolve_path(drive, name, name[len("drive."):], "the drive"))
            else:
                param = _Param(name, "model", resolve_path(model, name, name, "the model"))
        if not isinstance(vals, jax.Array):
            vals = np.asarray(vals)
        if vals.ndim != 1:
            raise ValueError(f"grid[{name!r}] must be a 1-D array of values, got shape {tuple(vals.shape)}")
        if vals.shape[0] == 0:
            raise ValueError(f"grid[{name!r}] is empty: give at least one value")
        if not jnp.issubdtype(vals.dtype, jnp.number):
            raise ValueError(f"grid[{name!r}] must hold numbers, got dtype {vals.dtype}")
        params.append(param)
        values.append(vals)
    seen = [(p.target, p.path) for p in params if p.target != "setter"]
    if len(set(seen)) != len(seen):
        raise ValueError(f"grid sets the same field twice: {list(grid)}")
    if product:
        shape = tuple(int(v.shape[0]) for v in values)
    else:
        lengths = {p.name: int(v.shape[0]) for p, v in zip(params, values)}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"product=False needs grid arrays of equal length, got lengths {lengths}")
        shape = (int(values[0].shape[0]),)
    return tuple(params), values, shape


def _apply(model, drive, params, point_values):
    """The model and drive of one grid point (values broadcast like the fields they replace)."""
    for p, x in zip(params, point_values):
        if p.target == "setter":
            model = p.setter(model, x)
            continue
        root = model if p.target == "model" else drive
        old = get_path(root, p.path)
        new = jnp.broadcast_to(jnp.asarray(x, dtype=jnp.result_type(old)), jnp.shape(old))
        root = eqx.tree_at(lambda r, path=p.path: get_path(r, path), root, new)
        if p.target == "model":
            model = root
        else:
            drive = root
    if not isinstance(model, AbstractModel):
        raise TypeError(f"a grid setter returned {type(model).__name__}, not a jaxpop model")
    return model, drive


# ------------------------------------------------------------------------------------------
# The per-point function (shared by both paths)
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Spec:
    params: tuple
    method: str
    t_end: float
    dt: float
    t0: float
    record: tuple
    record_every: int
    trials: int | None
    reduce: Callable | None


def _run_point(model, drive, key, spec: _Spec) -> Result:
    if spec.method == "simulate":
        return simulate(model, spec.t_end, spec.dt, key=key, drive=drive, t0=spec.t0, record=spec.record,
                        record_every=spec.record_every, trials=spec.trials)
    n_rec = _n_steps(spec.t0, spec.t_end, spec.dt) // spec.record_every
    ts = spec.t0 + spec.dt * spec.record_every * jnp.arange(1, n_rec + 1)
    res = solve(model, spec.t_end, t0=spec.t0, drive=drive, ts=ts, key=key)
    return Result(res.ts, {k: res.data[k] for k in spec.record}, spec.dt, spec.record_every,
                  {k: res.dims[k] for k in spec.record})


def _as_named(out) -> dict:
    if isinstance(out, dict):
        return dict(out)
    leaves = jax.tree_util.tree_leaves_with_path(out)
    if len(leaves) == 1 and leaves[0][0] == ():
        return {"value": out}
    return {jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def _all_finite(tree):
    ok = jnp.array(True)
    for leaf in jax.tree.leaves(tree):
        ok = ok & jnp.all(jnp.isfinite(leaf))
    return ok


def _point_full(model, drive, key, values, index, spec: _Spec):
    """Grid point ``index`` with parameter ``values``: (Result, kept output, finite flag)."""
    m, d = _apply(model, drive, spec.params, values)
    res = _run_point(m, d, jax.random.fold_in(key, index), spec)
    out = _as_named(spec.reduce(res)) if spec.reduce is not None else dict(res.data)
    return res, out, _all_finite(res.data) & _all_finite(out)


def _point(model, drive, key, values, index, spec: _Spec):
    _, out, ok = _point_full(model, drive, key, values, index, spec)
    return out, ok


def _vmapped(model, drive, key, values, indices, spec):
    return jax.vmap(lambda v, i: _point(model, drive, key, v, i, spec))(values, indices)


_chunk_jit = eqx.filter_jit(_vmapped)


def _nbytes(tree) -> int:
    return int(sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)))


def _point_bytes(recorded, output, state, trials, reduced: bool) -> int:
    r"""Device bytes one grid point needs: the heuristic behind ``memory_budget``.

    .. math:: b = 2\,\big(b_\text{recorded} + b_\text{output} + 8\, n_\text{trials}\, b_\text{state}\big)

    ``recorded``: the recorded time series of one point (they exist in full before ``reduce``
    runs); ``output``: what is kept, if reduced (plus the status flag); ``state``: one model
    state (an RK4 step holds about eight state-sized arrays); the factor 2 covers XLA
    temporaries and the previous chunk's output still being copied to the host. The
    arguments are :func:`jax.eval_shape` structures: nothing runs.
    """
    out = _nbytes(output) if reduced else _nbytes(output[1])
    return int(_SAFETY * (_nbytes(recorded) + out + _STATE_COPIES * (trials or 1) * _nbytes(state)))


# ------------------------------------------------------------------------------------------
# Planning
# ------------------------------------------------------------------------------------------


def _is_traced(*trees) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(trees))


def _cache_points(n, n_dev, state, trials, platform) -> int:
    """Grid points per device whose states fit the cache (:func:`.simulate.auto_chunk`; CPU only).

    A point holds the trials of one inner chunk (``simulate`` chunks a point's trials by the same rule),
    and the shortest chunk counts trials: ``min_chunk`` is ``_MIN_CHUNK`` trials' worth of points.
    """
    b = _nbytes(state)
    inner = 1 if trials is None else auto_chunk(int(trials), b, jax.default_backend())
    return auto_chunk(-(-n // n_dev), inner * b, platform, min_chunk=max(1, _MIN_CHUNK // inner))


def _chunk_plan(n_todo, n_dev, chunk_size, per_point_bytes, memory_budget, cache_points=None):
    """(points per chunk, padded chunk length): balanced chunks, padded to a multiple of n_dev."""
    if chunk_size is None:
        cap = int(memory_budget // max(per_point_bytes, 1))
        if cache_points is not None:
            cap = min(cap, int(cache_points) * n_dev)
        cap = max(n_dev, cap - cap % n_dev)
    else:
        cap = int(chunk_size)
    cap = max(1, min(cap, n_todo))
    n_chunks = -(-n_todo // cap)
    per_chunk = -(-n_todo // n_chunks)
    per_device = -(-per_chunk // n_dev)
    if per_device >= _ALIGN_FROM:
        # XLA:CPU runs odd batch lengths 2-3x slower (scalar remainder loops); pad to a multiple of 8
        per_device = -(-per_device // 8) * 8
    return per_chunk, per_device * n_dev


def _flat_values(values, shape, product, flat_idx, xp):
    """Per-point parameter values at flat grid indices (numpy or jax arrays)."""
    if product:
        multi = np.unravel_index(np.asarray(flat_idx), shape)
        return tuple(xp.asarray(v)[m] for v, m in zip(values, multi))
    return tuple(xp.asarray(v)[np.asarray(flat_idx)] for v in values)


# ------------------------------------------------------------------------------------------
# Checkpoint directory
# ------------------------------------------------------------------------------------------


def _hash_bytes(h, tree):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    h.update(re.sub(r" at 0x[0-9a-fA-F]+", "", str(treedef)).encode())
    for leaf in leaves:
        if isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        if isinstance(leaf, (jax.Array, np.ndarray, np.generic, float, int, complex, bool)):
            arr = np.asarray(leaf)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        else:
            h.update(re.sub(r" at 0x[0-9a-fA-F]+", "", repr(leaf)).encode())


def _function_id(f) -> str:
    if f is None:
        return "None"
    code = getattr(f, "__code__", None)
    ident = f"{getattr(f, '__module__', '')}.{getattr(f, '__qualname__', type(f).__name__)}"
    if code is not None:
        ident += ":" + hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:16]
    return ident


def _manifest(model, drive, key, spec, values, product, out_struct):
    parts = {}
    for label, tree in (("model", model), ("drive", drive), ("key", key), ("grid", values)):
        h = hashlib.sha256()
        _hash_bytes(h, tree)
        parts[label] = h.hexdigest()
    h = hashlib.sha256()
    h.update(str(out_struct).encode())
    parts["output_structure"] = h.hexdigest()
    settings = {
        "grid_names": [p.name for p in spec.params],
        "grid_targets": [[p.target, list(map(str, p.path)), _function_id(p.setter)] for p in spec.params],
        "grid_shape": [int(v.shape[0]) for v in values],
        "product": bool(product),
        "method": spec.method, "t0": spec.t0, "t_end": spec.t_end, "dt": spec.dt,
        "record": list(spec.record), "record_every": spec.record_every, "trials": spec.trials,
        "reduce": _function_id(spec.reduce), "model_type": type(model).__name__,
    }
    return {"format": "jaxpop.sweep/1", "hashes": parts, "settings": settings}


def _open_checkpoint(directory, manifest):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "manifest.json")
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        if old != json.loads(json.dumps(manifest)):
            diff = [k for k in manifest["hashes"] if old.get("hashes", {}).get(k) != manifest["hashes"][k]]
            diff += [k for k in manifest["settings"]
                     if old.get("settings", {}).get(k) != json.loads(json.dumps(manifest["settings"][k]))]
            raise ValueError(
                f"checkpoint_dir {directory!r} holds a different sweep (differs in: {diff or ['format']}); "
                "use another directory or delete this one"
            )
    else:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=1)
        os.replace(tmp, path)


def _chunk_files(directory):
    return sorted(f for f in os.listdir(directory) if f.startswith("chunk_") and f.endswith(".npz"))


def _load_chunks(directory, buffers, status, done):
    for fname in _chunk_files(directory):
        with np.load(os.path.join(directory, fname)) as z:
            idx = z["indices"]
            for i, buf in enumerate(buffers):
                arr = z[f"leaf{i}"]
                if arr.shape[1:] != buf.shape[1:] or arr.shape[0] != idx.shape[0]:
                    raise ValueError(f"checkpoint file {fname} does not match this sweep's output shapes")
                buf[idx] = arr
            status[idx] = z["status"]
            done[idx] = True


def _save_chunk(directory, idx, leaves, status):
    fname = os.path.join(directory, f"chunk_{int(idx[0]):010d}_{len(idx)}.npz")
    tmp = fname + ".tmp"
    with open(tmp, "wb") as f:
        np.savez(f, indices=idx, status=status, **{f"leaf{i}": a for i, a in enumerate(leaves)})
    os.replace(tmp, fname)


# ------------------------------------------------------------------------------------------
# The two execution paths
# ------------------------------------------------------------------------------------------


def _traced_path(model, drive, key, spec, values, shape, product, n, chunk_real):
    """Pure JAX: jit/grad/vmap compatible. Chunks run sequentially with lax.map."""
    n_chunks = -(-n // chunk_real)
    total = n_chunks * chunk_real
    idx = np.minimum(np.arange(total), n - 1)  # pad by repeating the last point
    vals = _flat_values(values, shape, product, idx, jnp)
    indices = jnp.asarray(idx, dtype=jnp.uint32)
    if n_chunks == 1:
        out, ok = _vmapped(model, drive, key, vals, indices, spec)
    else:
        resh = lambda x: x.reshape((n_chunks, chunk_real) + x.shape[1:])  # noqa: E731
        out, ok = jax.lax.map(lambda a: _vmapped(model, drive, key, a[0], a[1], spec),
                              (tuple(resh(v) for v in vals), resh(indices)))
        out, ok = jax.tree.map(lambda x: x.reshape((total,) + x.shape[2:]), (out, ok))
    return jax.tree.map(lambda x: x[:n], out), ok[:n]


def _host_path(model, drive, key, spec, values, shape, product, n, per_chunk, padded, devices, checkpoint_dir,
               progress, manifest, out_struct):
    mesh = Mesh(np.asarray(devices), ("p",))
    shard, repl = NamedSharding(mesh, P("p")), NamedSharding(mesh, P())
    leaves_struct, treedef = jax.tree.flatten(out_struct)
    buffers = [np.empty((n,) + s.shape, s.dtype) for s in leaves_struct]
    status = np.zeros(n, bool)
    done = np.zeros(n, bool)
    if checkpoint_dir is not None:
        _open_checkpoint(checkpoint_dir, manifest)
        _load_chunks(checkpoint_dir, buffers, status, done)
    loaded = int(done.sum())
    todo = np.flatnonzero(~done)
    chunks = [todo[i:i + per_chunk] for i in range(0, len(todo), per_chunk)]
    np_values = [np.asarray(v) for v in values]

    dyn, static = eqx.partition((model, drive, key), eqx.is_array)
    model_d, drive_d, key_d = eqx.combine(jax.device_put(dyn, repl), static)

    def dispatch(idx):
        idx_p = np.concatenate([idx, np.repeat(idx[-1:], padded - len(idx))])
        vals = _flat_values(np_values, shape, product, idx_p, np)
        vals = jax.device_put(vals, shard)
        ind = jax.device_put(idx_p.astype(np.uint32), shard)
        return _chunk_jit(model_d, drive_d, key_d, vals, ind, spec)

    info = {"n_devices": len(devices), "chunk_points": per_chunk, "chunk_padded": padded,
            "n_chunks": len(chunks), "loaded_points": loaded}
    t_start = time.perf_counter()
    for k, idx in enumerate(chunks):
        # one chunk at a time: each is stored (and on disk) before the next starts
        out, ok = dispatch(idx)
        if k == 0:
            info["output_devices"] = len(ok.sharding.device_set)
        m = len(idx)
        leaves = [np.asarray(x)[:m] for x in jax.tree.leaves(out)]
        ok = np.asarray(ok)[:m]
        for buf, arr in zip(buffers, leaves):
            buf[idx] = arr
        status[idx] = ok
        done[idx] = True
        if checkpoint_dir is not None:
            _save_chunk(checkpoint_dir, idx, leaves, ok)
        elapsed = time.perf_counter() - t_start
        if progress:
            p = SweepProgress(k + 1, len(chunks), int(done.sum()), n, loaded, elapsed)
            if callable(progress):
                progress(p)
            else:
                sys.stderr.write(f"\rjaxpop.sweep: chunk {p.chunk}/{p.n_chunks}, {p.points_done}/{n} points, "
                                 f"{elapsed:.1f} s")
                if k + 1 == len(chunks):
                    sys.stderr.write("\n")
                sys.stderr.flush()
    info["run_s"] = time.perf_counter() - t_start
    return jax.tree.unflatten(treedef, buffers), status, info


# ------------------------------------------------------------------------------------------
# Public entry point
# ------------------------------------------------------------------------------------------


def sweep(
    model: AbstractModel,
    grid: Mapping[str, Any],
    t_end: float,
    dt: float,
    *,
    key: jax.Array,
    drive: AbstractDrive | float | jax.Array | None = None,
    t0: float = 0.0,
    record: str | Sequence[str] | None = None,
    record_every: int = 1,
    trials: int | None = None,
    reduce: Callable[[Result], Any] | None = None,
    product: bool = True,
    chunk_size: int | None = None,
    memory_budget: float = 2**30,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool | Callable[[SweepProgress], None] = False,
    throw: bool = True,
    method: str = "simulate",
) -> SweepResult:
    r"""Run ``model`` at every point of a parameter grid.

    Each point is ``simulate(model_i, t_end, dt, key=fold_in(key, i), ...)`` where
    ``model_i`` has the swept fields replaced by the point's values and ``i`` is the point's
    index in the flattened grid (C order, dims in the order of ``grid``). Same ``key``, same
    numbers: with or without ``jit``, for any ``chunk_size`` and any number of devices.

    Parameters
    ----------
    model : AbstractModel
        Any jaxpop model; fields not in ``grid`` are shared by all points.
    grid : dict
        ``name -> 1-D array of values``. ``name`` is a field of the model, a dotted path
        into nested modules (``"distribution.center"``; integers index tuples) or of the drive
        (``"drive.amplitude"``). A scalar value is broadcast to the field's shape (a swept
        ``eta_bar`` sets every population). For anything else give ``name -> (setter,
        values)`` with ``setter(model, value) -> model``, e.g.
        ``lambda m, x: eqx.tree_at(lambda m: m.J, m, m.J.at[0, 1].set(x))``.
    t_end, dt, t0, record, record_every, trials, drive :
        As in :func:`jaxpop.simulate`. ``record`` and ``record_every`` also apply to
        ``method="solve"`` (observables sampled at the same times).
    reduce : callable, optional
        ``Result -> array or dict of arrays``, applied to each point inside the vmap (e.g. a
        time average after a transient), so only its output is kept.
    product : bool
        ``True``: the outer product of the grid arrays (result dims = grid dims, in order).
        ``False``: zip arrays of equal length into one dim ``"point"``.
    chunk_size : int, optional
        Largest number of grid points run at once. Default: on a CPU (``method="simulate"``) at
        most as many per device as keep their states in the cache (:func:`jaxpop.simulate`'s
        :func:`~jaxpop.core.simulate.auto_chunk`, with a point's trials counted), and as many as
        fit ``memory_budget`` (bytes, all devices together) by the estimate
        :math:`b = 2\,(b_\text{recorded} + b_\text{reduced} + 8\,n_\text{trials}\,b_\text{state})`
        per point, all sizes from :func:`jax.eval_shape`: the recorded series exist in full
        before ``reduce`` runs, an RK4 step holds about eight state-sized arrays, and the factor
        2 covers XLA temporaries and the previous chunk's output still being copied to the host.
        Chunks are balanced and padded to a multiple of the device count (of 8 per device
        from 64 points per device on); the padding repeats the last point and is dropped.
    devices : sequence of jax.Device, optional
        Devices to shard each chunk over (default ``jax.devices()``).
    checkpoint_dir : path, optional
        Write every finished chunk to ``checkpoint_dir/chunk_*.npz``, next to a
        ``manifest.json`` that fingerprints the sweep (model leaves and structure, drive, key,
        grid values, times, recording, ``reduce`` by name and bytecode). A rerun loads the
        finished points and computes only the rest; a different sweep in the same directory
        raises ``ValueError``. (The fingerprint cannot see values captured by closures in
        ``reduce`` or setters: change the directory when you change those.)
    progress : bool or callable
        ``True`` prints one line per chunk on stderr; a callable receives a
        :class:`SweepProgress` after each chunk is stored (an exception it raises stops the
        sweep, finished chunks stay on disk).
    throw : bool
        ``True``: raise ``ValueError`` naming the first grid points whose output is not
        finite (inside ``jit``/``grad``: an :func:`equinox.error_if` runtime error).
        ``False``: return them, flagged in ``SweepResult.status``.
    method : {'simulate', 'solve'}
        Fixed-step :func:`jaxpop.simulate`, or adaptive :func:`jaxpop.solve` (ODE models only,
        deterministic: no ``trials``).

    Returns
    -------
    SweepResult
        Numpy arrays on the host path; JAX arrays when called inside a JAX transformation
        (any input a tracer), where the sweep is a pure function: ``jax.grad`` flows to the
        model's fields and to grid values passed as JAX arrays. ``checkpoint_dir``, ``devices``
        and ``progress`` need concrete inputs. (Reverse mode stores every step's state of a
        chunk: give a small ``chunk_size`` for long gradients.)
    """
    if not isinstance(model, AbstractModel):
        raise TypeError(f"model must be a jaxpop model, got {type(model).__name__}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if method == "solve":
        if not isinstance(model, AbstractODEModel):
            raise ValueError(f"method='solve' needs an ODE model, got {type(model).__name__}")
        if trials is not None:
            raise ValueError("method='solve' is deterministic: trials must be None")
    if chunk_size is not None and not (isinstance(chunk_size, (int, np.integer)) and chunk_size >= 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    if not (isinstance(memory_budget, (int, float, np.number)) and memory_budget > 0):
        raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
    if not isinstance(record_every, (int, np.integer)) or record_every < 1:
        raise ValueError(f"record_every must be a positive integer, got {record_every!r}")
    drive = as_drive(drive)
    params, values, shape = _parse_grid(model, drive, grid, product)
    n = math.prod(shape)
    t0, t_end, dt = float(t0), float(t_end), float(dt)

    state_shape = eqx.filter_eval_shape(model.init, key)
    rec = _check_record(model, record, state_shape)
    spec = _Spec(params, method, t_end, dt, t0, rec, int(record_every),
                 None if trials is None else int(trials), reduce)
    example = tuple(jax.ShapeDtypeStruct((), v.dtype) for v in values)
    # Validates everything (times, drive, record, reduce) by tracing one point; nothing runs.
    raw, out_struct, ok_struct = eqx.filter_eval_shape(
        lambda m, d, k, v: _point_full(m, d, k, v, jnp.uint32(0), spec), model, drive, key, example)
    per_point = _point_bytes(raw.data, (out_struct, ok_struct), state_shape, spec.trials, reduce is not None)
    n_rec = _n_steps(t0, t_end, dt) // int(record_every)
    ts_np = t0 + dt * int(record_every) * np.arange(1, n_rec + 1)

    traced = _is_traced(model, drive, key, values)
    if traced:
        for name, val in (("checkpoint_dir", checkpoint_dir), ("devices", devices), ("progress", progress or None)):
            if val is not None:
                raise ValueError(f"{name}= needs concrete inputs: it cannot be used inside jit/grad/vmap "
                                 "(there the enclosing transformation places and runs the sweep)")
        cache = _cache_points(n, 1, state_shape, spec.trials, jax.default_backend()) if method == "simulate" else None
        per_chunk, _ = _chunk_plan(n, 1, chunk_size, per_point, memory_budget, cache)
        out, ok = _traced_path(model, drive, key, spec, values, shape, product, n, per_chunk)
        if throw:
            out = eqx.error_if(out, ~jnp.all(ok), "jaxpop.sweep: some grid points produced non-finite values; "
                               "pass throw=False to get the per-point status")
        info = {"traced": True, "chunk_points": per_chunk, "point_bytes": per_point}
        coords = {p.name: jnp.asarray(v) for p, v in zip(params, values)}
        ts = jnp.asarray(ts_np)
    else:
        devices = list(jax.devices() if devices is None else devices)
        if not devices:
            raise ValueError("devices must be a non-empty sequence of jax devices")
        cache = _cache_points(n, len(devices), state_shape, spec.trials, devices[0].platform) \
            if method == "simulate" else None
        per_chunk, padded = _chunk_plan(n, len(devices), chunk_size, per_point, memory_budget, cache)
        manifest = None
        if checkpoint_dir is not None:
            checkpoint_dir = os.fspath(checkpoint_dir)
            manifest = _manifest(model, drive, key, spec, values, product, out_struct)
        out, ok, info = _host_path(model, drive, key, spec, values, shape, product, n, per_chunk, padded, devices,
                                   checkpoint_dir, progress, manifest, out_struct)
        info["point_bytes"] = per_point
        coords = {p.name: np.asarray(v) for p, v in zip(params, values)}
        ts = ts_np
        if throw and not ok.all():
            bad = np.flatnonzero(~ok)
            pts = []
            for i in bad[:5]:
                sel = np.unravel_index(i, shape) if product else (i,) * len(params)
                pts.append("{" + ", ".join(f"{p.name}={np.asarray(v)[j].item()!r}"
                                            for p, v, j in zip(params, values, sel)) + "}")
            raise ValueError(
                f"jaxpop.sweep: {bad.size} of {n} grid points produced non-finite values, first: {', '.join(pts)}. "
                "Pass throw=False to get them flagged in SweepResult.status."
            )
    reshape = lambda x: x.reshape(shape + x.shape[1:])  # noqa: E731
    data = {k: reshape(v) for k, v in out.items()}
    return SweepResult(
        coords=coords,
        data=data,
        status=reshape(ok),
        ts=ts,
        dims=tuple(coords) if product else ("point",),
        observable_dims=dict(raw.dims),
        reduced=reduce is not None,
        trials=spec.trials,
        dt=dt,
        record_every=int(record_every),
        info=info,
    )
