r"""Free parameters of a fit: which fields of a model move, in which coordinates, with which prior.

A fit moves some parameter fields of a model (dotted paths, as :func:`jaxpop.sweep` names them:
``"params.mu"``, ``"params.J"``) and keeps every other field fixed. Each free field has a
*transform* from an unconstrained coordinate :math:`u \in \mathbb R` to the parameter :math:`x`:

* :class:`Real`: :math:`x = u`;
* :class:`Positive`: :math:`x = e^u` (``'log'``, default: time constants and other scales are fitted
  in log space) or :math:`x = \log(1 + e^u)` (``'softplus'``);
* :class:`Bounded`: :math:`x = a + (b - a)\,\sigma(u)`.

Options per field (:class:`Free`): ``tie=True`` fits one value for every entry of the field (e.g. one
membrane time constant for all populations); ``mask`` frees some entries and keeps the others at
their current values (e.g. only the connections that exist); ``prior`` adds a log-prior
:math:`\log p(x)` (a fit of log-likelihood + log-prior is a MAP estimate).

Structure is refused by name (:func:`jaxpop.core.model.resolve_path`), and the model's current value
of each free field must lie in the range of its transform. The transforms keep values in their range,
but they do not know a constructor's other rules: :meth:`Parameters.validate` rebuilds parameter
objects through their constructors (concrete values), and the fitting driver calls it on every
start and on the result, so the constructors' validation is never bypassed silently.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.model import AbstractModel, ParamsBase, get_path, is_concrete, resolve_path

__all__ = ["Real", "Positive", "Bounded", "Free", "Parameters"]


class Real(eqx.Module):
    """Unconstrained: :math:`x = u`."""

    def forward(self, u):
        return u

    def inverse(self, x):
        return x

    def contains(self, x) -> bool:
        return bool(np.all(np.isfinite(x)))

    def describe(self) -> str:
        return "real"


class Positive(eqx.Module):
    r"""Positive: :math:`x = e^u` (``kind='log'``) or :math:`\log(1 + e^u)` (``kind='softplus'``)."""

    kind: str = eqx.field(static=True, default="log")

    def __check_init__(self):
        if self.kind not in ("log", "softplus"):
            raise ValueError(f"Positive(kind=...) must be 'log' or 'softplus', got {self.kind!r}")

    def forward(self, u):
        return jnp.exp(u) if self.kind == "log" else jax.nn.softplus(u)

    def inverse(self, x):
        x = jnp.asarray(x)
        return jnp.log(x) if self.kind == "log" else x + jnp.log(-jnp.expm1(-x))

    def contains(self, x) -> bool:
        return bool(np.all(np.asarray(x) > 0) and np.all(np.isfinite(x)))

    def describe(self) -> str:
        return "> 0"


class Bounded(eqx.Module):
    r"""In :math:`(a, b)`: :math:`x = a + (b - a)\,\sigma(u)`."""

    low: float = eqx.field(static=True)
    high: float = eqx.field(static=True)

    def __check_init__(self):
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"Bounded(low, high) needs finite low < high, got ({self.low}, {self.high})")

    def forward(self, u):
        return self.low + (self.high - self.low) * jax.nn.sigmoid(u)

    def inverse(self, x):
        y = (jnp.asarray(x) - self.low) / (self.high - self.low)
        return jnp.log(y) - jnp.log1p(-y)

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return bool(np.all((x > self.low) & (x < self.high)))

    def describe(self) -> str:
        return f"in ({self.low}, {self.high})"


Transform = Real | Positive | Bounded


@dataclasses.dataclass(frozen=True)
class Free:
    """A free field: its transform, whether its entries are tied to one value, which entries are free,
    and an optional log-prior :math:`\\log p(x)` of the field's (full, constrained) value."""

    transform: Transform = dataclasses.field(default_factory=Real)
    tie: bool = False
    mask: np.ndarray | None = None
    prior: Callable | None = None


class _Entry(eqx.Module):
    name: str = eqx.field(static=True)
    path: tuple = eqx.field(static=True)
    shape: tuple = eqx.field(static=True)
    index: tuple = eqx.field(static=True)  # flat indices of the free entries (untied)
    tie: bool = eqx.field(static=True)
    transform: Transform
    prior: Callable | None = eqx.field(static=True)


class Parameters(eqx.Module):
    """The free parameters of a fit of ``model`` (module docs).

    Parameters
    ----------
    model : AbstractModel
        The model whose fields are fitted; its current values are the default start.
    free : dict
        ``{path: Transform or Free}``, e.g. ``{"params.mu": Real(), "params.tau_m": Free(Positive(), tie=True)}``.

    The unconstrained coordinates are a dict ``{path: array}`` (a pytree: optax and ``vmap`` work on it
    directly); :meth:`model_at` builds the model they describe.
    """

    model: AbstractModel
    entries: tuple

    def __init__(self, model: AbstractModel, free: Mapping):
        if not isinstance(model, AbstractModel):
            raise TypeError(f"model must be a jaxpop model, got {type(model).__name__}")
        if not isinstance(free, Mapping) or not free:
            raise ValueError("free must be a non-empty dict {path: transform}, e.g. {'params.mu': Real()}")
        entries = []
        for name, spec in free.items():
            if isinstance(spec, (Real, Positive, Bounded)):
                spec = Free(spec)
            if not isinstance(spec, Free):
                raise TypeError(f"free[{name!r}] must be Real(), Positive(), Bounded(a, b) or Free(...), got {spec!r}")
            path = resolve_path(model, name, name, "the model", context="fit")
            value = np.asarray(get_path(model, path))
            shape = value.shape
            if spec.mask is None:
                index = tuple(range(value.size))
            else:
                mask = np.broadcast_to(np.asarray(spec.mask, bool), shape).reshape(-1)
                index = tuple(int(i) for i in np.flatnonzero(mask))
                if not index:
                    raise ValueError(f"fit: the mask of {name!r} frees no entry")
            if not is_concrete(value):
                raise ValueError(f"fit: {name!r} must have a concrete value in the model (the start)")
            free_vals = value.reshape(-1)[list(index)]
            if spec.tie and not np.allclose(free_vals, free_vals[0]):
                raise ValueError(f"fit: {name!r} is tied (one value) but its free entries differ: {free_vals.tolist()}; "
                                 "set them to one value first (ParamsBase.replace)")
            if not spec.transform.contains(free_vals):
                raise ValueError(f"fit: the start value of {name!r} ({free_vals.tolist()}) is not "
                                 f"{spec.transform.describe()}, the range of its transform")
            entries.append(_Entry(name, path, shape, index, bool(spec.tie), spec.transform, spec.prior))
        paths = [e.path for e in entries]
        if len(set(paths)) != len(paths):
            raise ValueError(f"fit: a field is freed twice: {list(free)}")
        self.model = model
        self.entries = tuple(entries)

    # ------------------------------------------------------------------ coordinates
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)

    def init(self, model: AbstractModel | None = None) -> dict:
        """Unconstrained coordinates of ``model``'s values (default: the model given at construction)."""
        model = self.model if model is None else model
        out = {}
        for e in self.entries:
            x = jnp.asarray(get_path(model, e.path)).reshape(-1)[np.asarray(e.index)]
            out[e.name] = e.transform.inverse(x[:1] if e.tie else x)
        return out

    def values(self, u: Mapping) -> dict:
        """Constrained values of the free entries, ``{path: array}`` (one value for a tied field)."""
        return {e.name: e.transform.forward(u[e.name]) for e in self.entries}

    def full_values(self, u: Mapping) -> dict:
        """The full field values (free entries set, the others as in the model), ``{path: array}``."""
        out = {}
        for e in self.entries:
            x = e.transform.forward(u[e.name])
            old = jnp.asarray(get_path(self.model, e.path))
            flat = old.reshape(-1).astype(jnp.result_type(old, x))
            idx = np.asarray(e.index)
            flat = flat.at[idx].set(jnp.broadcast_to(x, idx.shape) if e.tie else x)
            out[e.name] = flat.reshape(e.shape).astype(old.dtype)
        return out

    def model_at(self, u: Mapping) -> AbstractModel:
        """The model with the free fields at the coordinates ``u`` (traceable)."""
        full = self.full_values(u)
        paths = [e.path for e in self.entries]
        return eqx.tree_at(lambda m: tuple(get_path(m, p) for p in paths), self.model,
                           tuple(full[e.name] for e in self.entries))

    def log_prior(self, u: Mapping) -> jax.Array:
        """Sum of the log-priors of the fields that have one (0 if none)."""
        full = self.full_values(u)
        total = jnp.zeros(())
        for e in self.entries:
            if e.prior is not None:
                total = total + jnp.sum(e.prior(full[e.name]))
        return total

    def flatten(self, u: Mapping) -> jax.Array:
        """The coordinates as one vector (the order of :attr:`labels`)."""
        return jnp.concatenate([jnp.atleast_1d(u[e.name]).reshape(-1) for e in self.entries])

    def unflatten(self, v) -> dict:
        out, i = {}, 0
        for e in self.entries:
            n = 1 if e.tie else len(e.index)
            out[e.name] = v[i:i + n]
            i += n
        return out

    @property
    def labels(self) -> tuple[str, ...]:
        """One label per coordinate: ``path`` (tied or scalar) or ``path[i]`` / ``path[i, j]`` (the free entries)."""
        out = []
        for e in self.entries:
            if e.tie or len(e.shape) == 0:
                out.append(e.name)
            else:
                out.extend(f"{e.name}[{', '.join(map(str, np.unravel_index(i, e.shape)))}]" for i in e.index)
        return tuple(out)

    @property
    def size(self) -> int:
        return sum(1 if e.tie else len(e.index) for e in self.entries)

    # ------------------------------------------------------------------ starts and validation
    def sample(self, key, n: int, *, spread: float = 0.5) -> dict:
        """``n`` random starts (a batch of coordinates, leading axis ``n``): uniform over the bounds of a
        :class:`Bounded` field; elsewhere the start's coordinate plus ``spread`` times a standard normal
        (for :class:`Positive` fields in log space, a factor of :math:`e^{\\pm 0.5}` by default; for
        :class:`Real` fields ``spread * max(1, |x|)``)."""
        u0 = self.init()
        out = {}
        for k, e in zip(jax.random.split(key, len(self.entries)), self.entries):
            shape = (n,) + u0[e.name].shape
            if isinstance(e.transform, Bounded):
                x = jax.random.uniform(k, shape, minval=e.transform.low, maxval=e.transform.high)
                x = jnp.clip(x, e.transform.low + 1e-6 * (e.transform.high - e.transform.low),
                             e.transform.high - 1e-6 * (e.transform.high - e.transform.low))
                out[e.name] = e.transform.inverse(x)
            else:
                scale = spread if isinstance(e.transform, Positive) else spread * jnp.maximum(1.0, jnp.abs(u0[e.name]))
                out[e.name] = u0[e.name] + scale * jax.random.normal(k, shape)
        return out

    def validate(self, u: Mapping) -> AbstractModel:
        """The model at concrete coordinates ``u``, with every parameter object that holds a free field
        rebuilt through its constructor (its validation runs; raises ``ValueError`` if it refuses)."""
        model = self.model_at(u)
        owners = {e.path[:-1] for e in self.entries}
        for owner in sorted(owners, key=len):
            obj = get_path(model, owner) if owner else model
            if isinstance(obj, ParamsBase):
                rebuilt = obj.replace()  # the constructor, with the new values
                model = eqx.tree_at(lambda m, o=owner: get_path(m, o), model, rebuilt) if owner else rebuilt
        return model
