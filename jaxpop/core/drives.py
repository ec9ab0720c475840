"""External inputs ("drives") as pure callables of time.

Every drive is an :class:`equinox.Module` with ``__call__(t) -> array``; its amplitudes
are array leaves, so gradients flow into them and sweeps can vary them. Drives add:
``Step(3.0, 0.0, 30.0) + Sinusoid(1.0, omega=jnp.pi)``.

The value returned must broadcast to the model's ``drive_shape`` (``()`` for a single
population, ``(n_pop,)`` for several); :func:`check_drive` verifies this once, before
anything is compiled.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class AbstractDrive(eqx.Module):
    """Base class: a pure function of time returning the external input."""

    @abc.abstractmethod
    def __call__(self, t: jax.Array) -> jax.Array: ...

    def __add__(self, other: "AbstractDrive") -> "Sum":
        if not isinstance(other, AbstractDrive):
            return NotImplemented
        left = self.drives if isinstance(self, Sum) else (self,)
        right = other.drives if isinstance(other, Sum) else (other,)
        return Sum(left + right)

    def discontinuities(self) -> tuple[float, ...]:
        """Times where the drive jumps (given to adaptive solvers as ``jump_ts``)."""
        return ()


class Constant(AbstractDrive):
    """``I(t) = value``."""

    value: jax.Array

    def __init__(self, value=0.0):
        self.value = jnp.asarray(value, dtype=float)

    def __call__(self, t):
        return self.value


class Zero(Constant):
    """No external input."""

    def __init__(self):
        super().__init__(0.0)


class Step(AbstractDrive):
    """A step or rectangular pulse: ``I(t) = amplitude`` for ``t_on <= t < t_off``, else 0.

    Parameters
    ----------
    amplitude : float or array
        Height of the step (model input units; broadcast to the model's drive shape).
    t_on, t_off : float
        Switch-on and switch-off times; ``t_off=inf`` gives a step that stays on.
    """

    amplitude: jax.Array
    t_on: float = eqx.field(static=True)
    t_off: float = eqx.field(static=True)

    def __init__(self, amplitude, t_on=0.0, t_off=float("inf")):
        if not t_off > t_on:
            raise ValueError(f"Step needs t_off > t_on, got t_on={t_on}, t_off={t_off}")
        self.amplitude = jnp.asarray(amplitude, dtype=float)
        self.t_on = float(t_on)
        self.t_off = float(t_off)

    def __call__(self, t):
        on = (t >= self.t_on) & (t < self.t_off)
        return jnp.where(on, self.amplitude, jnp.zeros_like(self.amplitude))

    def discontinuities(self):
        return tuple(x for x in (self.t_on, self.t_off) if np.isfinite(x))


Pulse = Step


class Sinusoid(AbstractDrive):
    """``I(t) = offset + amplitude * sin(omega * (t - t_on) + phase)`` for ``t >= t_on``.

    ``omega`` is the angular frequency (rad per model time unit). Before ``t_on`` the
    input is ``offset``.
    """

    amplitude: jax.Array
    omega: jax.Array
    phase: jax.Array
    offset: jax.Array
    t_on: float = eqx.field(static=True)

    def __init__(self, amplitude, omega, phase=0.0, offset=0.0, t_on=0.0):
        self.amplitude = jnp.asarray(amplitude, dtype=float)
        self.omega = jnp.asarray(omega, dtype=float)
        self.phase = jnp.asarray(phase, dtype=float)
        self.offset = jnp.asarray(offset, dtype=float)
        self.t_on = float(t_on)

    def __call__(self, t):
        osc = self.amplitude * jnp.sin(self.omega * (t - self.t_on) + self.phase)
        return self.offset + jnp.where(t >= self.t_on, osc, jnp.zeros_like(osc))

    def discontinuities(self):
        return (self.t_on,) if np.isfinite(self.t_on) else ()


class Piecewise(AbstractDrive):
    """Input given as samples ``values[k]`` on the grid ``t0 + k * dt``.

    ``values`` has shape ``(n_samples, *drive_shape)``. Between samples the input is held
    (``interpolation='hold'``, zero-order hold: the value of sample k applies on
    ``[t0 + k dt, t0 + (k+1) dt)``) or linearly interpolated (``'linear'``). Outside the
    sampled range, ``outside`` decides: ``'hold'`` keeps the first/last value, ``'zero'``
    gives 0, ``'error'`` makes :func:`check_drive` reject a simulation window not covered
    by the samples.
    """

    values: jax.Array
    t0: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    interpolation: str = eqx.field(static=True)
    outside: str = eqx.field(static=True)

    def __init__(self, values, dt, t0=0.0, interpolation="hold", outside="error"):
        values = jnp.asarray(values, dtype=float)
        if values.ndim < 1 or values.shape[0] < 1:
            raise ValueError(f"Piecewise drive: values must have shape (n_samples, ...), got {values.shape}")
        if not dt > 0:
            raise ValueError(f"Piecewise drive: dt must be > 0, got {dt}")
        if interpolation not in ("hold", "linear"):
            raise ValueError(f"Piecewise drive: interpolation must be 'hold' or 'linear', got {interpolation!r}")
        if outside not in ("hold", "zero", "error"):
            raise ValueError(f"Piecewise drive: outside must be 'hold', 'zero' or 'error', got {outside!r}")
        self.values = values
        self.t0 = float(t0)
        self.dt = float(dt)
        self.interpolation = interpolation
        self.outside = outside

    @property
    def t_end(self) -> float:
        return self.t0 + self.values.shape[0] * self.dt

    def __call__(self, t):
        n = self.values.shape[0]
        x = (t - self.t0) / self.dt
        if self.interpolation == "hold":
            # a tolerance at the rounding level of t, so that t = t0 + k*dt computed in floating
            # point selects sample k (kept far below the 1e-8 dt by which ODE steps sample
            # their input inside the step, see AbstractODEModel.step)
            eps = jnp.finfo(jnp.result_type(x)).eps
            tol = 16 * eps * (jnp.abs(t) + abs(self.t0) + self.dt) / self.dt
            k = jnp.clip(jnp.floor(x + tol).astype(jnp.int32), 0, n - 1)
            val = self.values[k]
        else:
            k = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, max(n - 2, 0))
            frac = jnp.clip(x - k, 0.0, 1.0)
            hi = self.values[jnp.minimum(k + 1, n - 1)]
            val = self.values[k] + (hi - self.values[k]) * frac
        if self.outside == "zero":
            inside = (t >= self.t0) & (t < self.t_end)
            val = jnp.where(inside, val, jnp.zeros_like(val))
        return val

    def discontinuities(self):
        """Sample boundaries ``t0 + k dt`` where the held input jumps (``'hold'``), and the
        ends of the sampled range where ``outside='zero'`` switches the input off."""
        n = self.values.shape[0]
        ks = range(1, n) if self.interpolation == "hold" else ()
        ends = (0, n) if self.outside == "zero" else ()
        return tuple(self.t0 + k * self.dt for k in sorted(set(ks) | set(ends)))


class Sum(AbstractDrive):
    """The sum of several drives (``a + b`` builds one)."""

    drives: tuple[AbstractDrive, ...]

    def __call__(self, t):
        out = self.drives[0](t)
        for d in self.drives[1:]:
            out = out + d(t)
        return out

    def discontinuities(self):
        return tuple(sorted({x for d in self.drives for x in d.discontinuities()}))


def as_drive(drive) -> AbstractDrive:
    """Coerce ``None``, a number, an array or a drive into an :class:`AbstractDrive`."""
    if drive is None:
        return Zero()
    if isinstance(drive, AbstractDrive):
        return drive
    if callable(drive):
        raise TypeError(
            "drive must be a jaxpop drive (Constant, Step, Sinusoid, Piecewise, or a sum of them), "
            f"a number or an array; got the callable {drive!r}. Wrap arbitrary functions in a "
            "subclass of jaxpop.drives.AbstractDrive."
        )
    return Constant(drive)


def check_drive(drive: AbstractDrive, drive_shape: tuple[int, ...], t0: float = 0.0, t_end: float | None = None) -> None:
    """Raise ``ValueError`` if ``drive(t)`` does not broadcast to ``drive_shape``."""
    out = jax.eval_shape(drive, jnp.asarray(t0, dtype=float))
    try:
        b = np.broadcast_shapes(out.shape, tuple(drive_shape))
    except ValueError:
        b = None
    if b != tuple(drive_shape):
        raise ValueError(
            f"drive returns shape {out.shape}, but this model expects drive_shape={tuple(drive_shape)} "
            "(one input per population; a scalar is broadcast)."
        )
    for d in drive.drives if isinstance(drive, Sum) else (drive,):
        if isinstance(d, Piecewise) and d.outside == "error" and t_end is not None:
            tol = 1e-9 * max(1.0, abs(t_end))
            if t0 < d.t0 - tol or t_end > d.t_end + tol:
                raise ValueError(
                    f"Piecewise drive covers [{d.t0}, {d.t_end}) but the simulation runs over [{t0}, {t_end}]; "
                    "pass outside='hold' or 'zero' to extend it explicitly."
                )
