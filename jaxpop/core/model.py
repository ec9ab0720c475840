"""The model interface every jaxpop model implements, and the contract it keeps.

A model is a final :class:`equinox.Module`. The engine (:func:`jaxpop.simulate`,
:func:`jaxpop.sweep`, :func:`jaxpop.solve`) only ever calls the methods below.

.. code-block:: python

    state = model.init(key)                         # pytree
    state = model.step(state, t, dt, drive, key)    # one step of length dt
    obs   = model.observe(state)                    # dict of named observables

``drive`` is a callable ``drive(t) -> array`` (a :class:`jaxpop.core.drives.AbstractDrive`)
returning the external input at time ``t``, shaped ``model.drive_shape``. Passing the
callable, not its value, lets a Runge–Kutta step evaluate the input inside the step.

**Parameters and structure** (the contract; enforced for every model by
``tests/test_model_contract.py``):

* A *parameter* is a real-valued (floating-point) array leaf of the model, or of a parameter
  object it holds (``model.params.mu``). Sweeping it (:func:`jaxpop.sweep`), vmapping over it,
  replacing it with :func:`equinox.tree_at` and differentiating with respect to it all work, and
  change the output exactly as building the model with that value would. :func:`parameters`
  lists them by dotted path.
* *Structure* is everything that sets shapes, step counts or control flow: population sizes
  ``N``, refractory periods and delays (whole numbers of steps), history lengths, connectivity
  indices, sampling modes and ``dt``. It is stored in static fields (or integer arrays), so it is
  not a leaf that a sweep or ``tree_at`` could change and have ignored: changing it means building
  a new model (``params.replace(t_ref=...)`` rebuilds a parameter object through its constructor).
  :func:`jaxpop.sweep` refuses a structural field, naming it.
* A structure *derived from parameter values* (the mesoscopic history window from the adaptation
  kernels; a fixed in-degree graph drawn from the connection probabilities) is recorded at
  construction and re-checked against the current values at run time by
  :meth:`AbstractModel.runtime_checks` (so are limits of ``dt`` that depend on parameter values,
  as the QIF network's): :func:`jaxpop.simulate` raises ``ValueError`` before
  running for concrete values, and an :func:`equinox.error_if` runtime error inside ``jit`` /
  ``vmap`` / ``grad`` — never a silently wrong answer.
* Parameter values are validated at construction on concrete values (naming the parameter and
  the allowed range). Nothing on the ``simulate`` path converts a leaf to NumPy, so a model can
  be swept, vmapped and differentiated; a model can be built from traced values (inside ``jit`` /
  ``grad``) where its structure is given explicitly (validation of traced values is skipped).

**The time step** ``dt``: a model whose structure depends on it (delay lines, refractory
counters, history windows: :class:`~jaxpop.micro.GIFNetwork`, :class:`~jaxpop.meso.SchwalgerMeso`,
:class:`~jaxpop.micro.HawkesNetwork`, :class:`~jaxpop.meso.HawkesMeso`,
:class:`~jaxpop.micro.microcircuit.MicrocircuitNetwork`) takes ``dt`` as a required keyword of its
constructor, and :func:`jaxpop.simulate` checks that it is called with the same ``dt``
(:meth:`AbstractModel.check_dt`). Every other model (ODE models, the QIF network) takes ``dt``
from :func:`jaxpop.simulate` only.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


class AbstractModel(eqx.Module):
    """Base class of all jaxpop models (micro, meso and macro).

    Subclasses implement :meth:`init`, :meth:`step` and :meth:`observe`, and declare
    ``drive_shape`` (the shape of the external input, ``()`` for a single population).

    Class attributes
    ----------------
    accumulated : tuple of str
        Observables that are *averaged* over a recording block when
        ``record_every > 1`` (population activity, spike counts): recording them by
        sub-sampling would throw spikes away. All other observables are sampled at the
        end of each block.
    summed : tuple of str
        Observables *summed* over a recording block (spike counts per neuron), so that a
        decimated raster still holds every spike.
    default_record : tuple of str
        Observables recorded when ``simulate(record=None)``.
    """

    accumulated: ClassVar[tuple[str, ...]] = ()
    summed: ClassVar[tuple[str, ...]] = ()
    default_record: ClassVar[tuple[str, ...]] = ()

    @property
    def drive_shape(self) -> tuple[int, ...]:
        return ()

    @abc.abstractmethod
    def init(self, key: jax.Array) -> PyTree:
        """Initial state (a pytree of arrays)."""

    @abc.abstractmethod
    def step(self, state: PyTree, t: jax.Array, dt: float, drive, key: jax.Array) -> PyTree:
        """Advance ``state`` from ``t`` to ``t + dt``. Pure: no side effects."""

    @abc.abstractmethod
    def observe(self, state: PyTree) -> dict[str, jax.Array]:
        """Named observables of ``state``."""

    def check_dt(self, dt: float) -> None:
        """Raise ``ValueError`` if ``dt`` is unusable for this model (default: dt > 0).

        Reads structure only (static fields), never a parameter leaf: it runs on the host before
        every simulation, also when the model's parameters are traced."""
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got dt={dt!r}")

    def runtime_checks(self, dt: float) -> tuple[tuple[jax.Array, str], ...]:
        """Conditions that the current parameter values must meet for the model's structure and for
        the step ``dt`` of the simulation.

        Returns ``((bad, message), ...)``: ``bad`` a boolean array computed from the parameter
        leaves (traceable: no NumPy), ``message`` what is wrong and what to do. Used for
        structures derived from parameter values at construction and for limits of ``dt`` that
        depend on parameter values (see the module docs); :func:`check_runtime` applies them.
        Default: none.
        """
        return ()

    def final_checks(self, state: PyTree) -> tuple[tuple[jax.Array, str], ...]:
        """Conditions on the final state of a run that make the whole run invalid (e.g. a spike or
        event buffer that overflowed in some step, counted in the state).

        Returns ``((bad, message), ...)`` like :meth:`runtime_checks`; :func:`jaxpop.simulate`
        turns a ``bad`` condition into an error when the run ends (:func:`equinox.error_if`: eagerly
        or under ``jit`` / ``vmap`` / ``grad``), so an overflow is never silently ignored.
        Default: none.
        """
        return ()


class AbstractODEModel(AbstractModel):
    """A deterministic model given by an ODE ``dy/dt = vector_field(t, y, drive)``.

    The fixed-step :meth:`step` is derived from :meth:`vector_field` (classical RK4, or
    Euler when ``integrator='euler'``) so the equations are written once; adaptive
    solves go through :func:`jaxpop.solve` (diffrax) using the same ``vector_field``.
    The state of an ODE model *is* ``y``.
    """

    integrator: eqx.AbstractVar[str]

    @abc.abstractmethod
    def vector_field(self, t: jax.Array, y: PyTree, drive) -> PyTree:
        """Right-hand side ``dy/dt``; ``drive`` is a callable of time."""

    def step(self, state, t, dt, drive, key=None):
        f = self.vector_field
        # Sample the input strictly inside the step (stage times clamped to
        # [t + e, t + dt - e], e = 1e-8 dt): an input that jumps at a grid time (a Step with
        # t_on = k dt) then acts on whole steps, and RK4 keeps its order 4 — without this the
        # last stage of the step ending at t_on already sees the new value, an O(dt) error.
        # For smooth inputs the shift is far below the truncation error.
        edge = max(_EDGE, 1e3 * float(jnp.finfo(jnp.result_type(t)).eps))  # float32: 1.2e-4
        lo, hi = t + edge * dt, t + (1 - edge) * dt
        drive = _clamped(drive, lo, hi)
        if self.integrator == "euler":
            return _axpy(dt, f(t, state, drive), state)
        if self.integrator == "rk4":
            k1 = f(t, state, drive)
            k2 = f(t + dt / 2, _axpy(dt / 2, k1, state), drive)
            k3 = f(t + dt / 2, _axpy(dt / 2, k2, state), drive)
            k4 = f(t + dt, _axpy(dt, k3, state), drive)
            incr = jax.tree.map(lambda a, b, c, d: (a + 2 * b + 2 * c + d) / 6, k1, k2, k3, k4)
            return _axpy(dt, incr, state)
        raise ValueError(f"integrator must be 'rk4' or 'euler', got {self.integrator!r}")


_EDGE = 1e-8


def _clamped(drive, lo, hi):
    return lambda s: drive(jnp.clip(s, lo, hi))


def _axpy(a, x, y):
    return jax.tree.map(lambda xi, yi: yi + a * xi, x, y)


def check_runtime(model: AbstractModel, dt: float, out=None):
    """Apply ``model.runtime_checks(dt)``: raise ``ValueError`` now if a concrete condition fails;
    for traced values, return ``out`` wrapped in :func:`equinox.error_if` (a runtime error when the
    compiled computation runs; with ``out=None`` traced conditions are left for a later call).
    Returns ``out``."""
    for bad, message in model.runtime_checks(dt):
        name = type(model).__name__
        if is_concrete(bad):
            if bool(np.any(np.asarray(bad))):
                raise ValueError(f"{name}: {message}")
        elif out is not None:
            out = eqx.error_if(out, jnp.any(bad), f"{name}: {message}")
    return out


def parameters(model) -> dict[str, jax.Array]:
    """The parameters of ``model`` (see the module docs) by dotted path, e.g. ``{"params.mu": ...}``.

    Floating-point array leaves reached through module / dataclass fields and tuples (integer
    indices in the path); static fields and integer arrays (structure) are left out. These are the
    names :func:`jaxpop.sweep` accepts in its grid."""
    out: dict[str, jax.Array] = {}

    def walk(obj, prefix):
        if isinstance(obj, (jax.Array, np.ndarray)):
            if jnp.issubdtype(obj.dtype, jnp.inexact) and prefix:
                out[prefix] = obj
            return
        if isinstance(obj, (tuple, list)):
            for i, x in enumerate(obj):
                walk(x, f"{prefix}.{i}" if prefix else str(i))
            return
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for f in dataclasses.fields(obj):
                if f.metadata.get("static", False):
                    continue
                walk(getattr(obj, f.name), f"{prefix}.{f.name}" if prefix else f.name)

    walk(model, "")
    return out


def structure_error(owner: str, field: str, what: str = "") -> str:
    """The message for an attempt to sweep / replace the structural field ``field`` of ``owner``."""
    return (f"{field!r} is structure of {owner}, not a parameter: {what or 'it sets shapes, step counts or control flow'}. "
            "Sweeps, tree_at and gradients change parameter values only; build one model per value instead "
            "(parameter objects: params.replace(...)).")


def get_path(obj, path):
    """The value at ``path`` (a tuple from :func:`resolve_path`) in ``obj``."""
    for p in path:
        obj = obj[p] if isinstance(p, int) else getattr(obj, p)
    return obj


def resolve_path(root, name: str, path_str: str, owner: str, context: str = "grid") -> tuple:
    """Validate a dotted path to a parameter of ``root`` (refusing structure by name); return it as a
    tuple (ints index sequences). ``context`` prefixes the error messages (``"grid"``, ``"fit"``)."""
    path = []
    obj = root
    for part in path_str.split("."):
        if isinstance(obj, (tuple, list)):
            if not (part.isdigit() and int(part) < len(obj)):
                raise ValueError(f"{context}: {name!r}: {part!r} is not an index of a sequence of length {len(obj)}")
            path.append(int(part))
            obj = obj[int(part)]
            continue
        fields = {f.name: f for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else {}
        if part not in fields:
            listing = sorted(n for n, f in fields.items() if not f.metadata.get("static", False))
            hint = " Use 'drive.<field>' for fields of the drive, or (setter, values) for anything else." \
                if owner == "the model" else ""
            raise ValueError(
                f"{context}: unknown field {name!r}: {type(obj).__name__} ({owner}) has no field {part!r}; "
                f"its array fields are {listing}.{hint}"
            )
        if fields[part].metadata.get("static", False):
            raise ValueError(f"{context}: " + structure_error(type(obj).__name__, name))
        path.append(part)
        obj = getattr(obj, part)
    if isinstance(obj, bool) or not isinstance(obj, (jax.Array, np.ndarray, np.generic, float, int)):
        raise ValueError(f"{context}: {name!r} is {type(obj).__name__}, not an array parameter")
    if not jnp.issubdtype(jnp.result_type(obj), jnp.inexact):
        raise ValueError(f"{context}: " + structure_error(type(root).__name__, name, f"an integer array "
                         f"({jnp.result_type(obj)}: indices or counts)"))
    return tuple(path)


class ParamsBase(eqx.Module):
    """Base of the parameter objects shared by a model's micro and meso twins (``GIFParams``,
    ``HawkesParams``, ``LIFParams``): every field is a constructor keyword of the same name."""

    def replace(self, **changes):
        """A copy with ``changes`` applied, built through the constructor (validation included;
        structural fields such as ``N``, ``t_ref`` or ``delay`` can be changed this way)."""
        names = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise ValueError(f"{type(self).__name__}.replace: unknown field(s) {unknown}; fields are {names}")
        kwargs = {n: getattr(self, n) for n in names}
        kwargs.update(changes)
        return type(self)(**kwargs)


def static_values(name: str, value, n: int, *, matrix: bool = False, minimum: float | None = None):
    """A structural per-population quantity (``t_ref``, ``delay``) as nested tuples of floats:
    ``(n,)`` or, with ``matrix``, ``(n, n)`` (target, source); a scalar broadcasts. It must be
    concrete (it sets step counts), finite and at least ``minimum``."""
    if not is_concrete(value):
        raise ValueError(f"{name} is structure (it sets step counts) and must be a concrete number, not a traced "
                         f"value; it cannot be swept or differentiated: build one model per value")
    arr = np.asarray(value, dtype=float)
    shape = (n, n) if matrix else (n,)
    if arr.ndim == 0:
        arr = np.full(shape, float(arr))
    if arr.shape != shape:
        what = f"({n}, {n}) (target, source)" if matrix else f"({n},) (one value per population)"
        raise ValueError(f"{name} must be a scalar or have shape {what}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or (minimum is not None and np.any(arr < minimum)):
        rng = f">= {minimum} and finite" if minimum is not None else "finite"
        raise ValueError(f"{name} must be {rng}, got {name}={arr.tolist()!r}")
    return tuple(map(tuple, arr.tolist())) if matrix else tuple(arr.tolist())


def check_positive(name: str, value, *, strict: bool = True, allow_inf: bool = False) -> None:
    """Validate that a (possibly array) parameter is positive; raise naming it.

    Skipped silently for traced values (inside jit/vmap/grad the check already ran at
    construction time on concrete values, or the caller opted into tracing).
    """
    if any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves(value)):
        return
    # numpy, not jnp: under jit even operations on constants are traced and cannot be tested
    arr = np.asarray(value, dtype=float)
    ok = (arr > 0) if strict else (arr >= 0)
    if not allow_inf:
        ok = ok & np.isfinite(arr)
    if not np.all(ok):
        rng = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {rng}{'' if allow_inf else ' and finite'}, got {name}={value!r}")


def is_concrete(*values) -> bool:
    """True if none of ``values`` is a JAX tracer (validation can run)."""
    leaves = jax.tree.leaves(values)
    return not any(isinstance(v, jax.core.Tracer) for v in leaves)


def population_vector(name: str, value, n: int) -> jax.Array:
    """``value`` as a float vector of one entry per population: a scalar broadcasts to ``(n,)``."""
    arr = jnp.asarray(value, dtype=float)
    if arr.ndim == 0:
        return jnp.full((n,), arr)
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},) (one value per population), got shape {arr.shape}")
    return arr


def population_sizes(N) -> tuple[int, ...]:
    """Neurons per population (structure) as a tuple of positive ints: one int is one population."""
    def ok(x):
        return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 1

    if ok(N):
        return (int(N),)
    if isinstance(N, (tuple, list, np.ndarray)) and len(N) >= 1 and all(ok(x) for x in N):
        return tuple(int(x) for x in N)
    raise ValueError(f"N must be a positive integer or a tuple of positive integers (neurons per population), got N={N!r}")


def population_matrix(name: str, value, n: int, *, broadcast: bool = True) -> jax.Array:
    """``value`` as a float ``(n, n)`` (target, source) matrix: a scalar broadcasts to every entry
    (with ``broadcast=False`` only for one population, where it is the 1x1 matrix)."""
    arr = jnp.asarray(value, dtype=float)
    if arr.ndim == 0 and (broadcast or n == 1):
        return jnp.full((n, n), arr)
    if arr.shape != (n, n):
        what = "be a scalar or have" if broadcast else "have"
        raise ValueError(f"{name} must {what} shape ({n}, {n}) (target, source), got shape {arr.shape}")
    return arr
