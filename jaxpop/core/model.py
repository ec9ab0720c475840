"""The model interface every jaxpop model implements.

A model is a final :class:`equinox.Module`. Its real-valued parameters are array leaves
(differentiable, vmappable); anything that changes shapes or control flow (population
sizes, sampling mode, history length) is a static field. The engine
(:func:`jaxpop.simulate`, :func:`jaxpop.sweep`) only ever calls the four methods below.

.. code-block:: python

    state = model.init(key)                         # pytree
    state = model.step(state, t, dt, drive, key)    # one step of length dt
    obs   = model.observe(state)                    # dict of named observables

``drive`` is a callable ``drive(t) -> array`` (a :class:`jaxpop.core.drives.AbstractDrive`)
returning the external input at time ``t``, shaped ``model.drive_shape``. Passing the
callable, not its value, lets a Runge–Kutta step evaluate the input inside the step.
"""

from __future__ import annotations

import abc
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
        """Raise ``ValueError`` if ``dt`` is unusable for this model (default: dt > 0)."""
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got dt={dt!r}")


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


def population_matrix(name: str, value, n: int) -> jax.Array:
    """``value`` as a float ``(n, n)`` (target, source) matrix: a scalar broadcasts to every entry."""
    arr = jnp.asarray(value, dtype=float)
    if arr.ndim == 0:
        return jnp.full((n, n), arr)
    if arr.shape != (n, n):
        raise ValueError(f"{name} must be a scalar or have shape ({n}, {n}) (target, source), got shape {arr.shape}")
    return arr
