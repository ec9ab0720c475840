r"""Distributions of quenched heterogeneity (e.g. the excitabilities :math:`\eta_j` of QIF neurons).

Each distribution offers its density (``pdf``), deterministic quantile samples
(``quantiles``: :math:`x_j = F^{-1}(j/(N+1))`, :math:`j = 1..N`, the scheme of
Montbrió, Pazó & Roxin 2015, App. A — for the Lorentzian this is
:math:`\bar\eta + \Delta\tan[\tfrac{\pi}{2}(2j-N-1)/(N+1)]`) and random samples
(``sample``). Parameters are array leaves (differentiable).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

from .model import check_positive


def _check_scale(name, value):
    try:
        check_positive(name, value)
    except ValueError as e:
        raise ValueError(f"{e} (for identical values use Delta(center))") from None


class AbstractDistribution(eqx.Module):
    """A one-dimensional distribution with a location and a scale."""

    name: eqx.AbstractClassVar[str]

    @abc.abstractmethod
    def ppf(self, u): ...

    @abc.abstractmethod
    def pdf(self, x): ...

    def quantiles(self, n: int) -> jax.Array:
        """Deterministic samples :math:`F^{-1}(j/(n+1))`, ``j = 1..n`` (sorted)."""
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"n must be a positive integer, got {n!r}")
        u = jnp.arange(1, n + 1, dtype=float) / (n + 1)
        return self.ppf(u)

    def sample(self, key, n: int) -> jax.Array:
        """``n`` independent random samples."""
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"n must be a positive integer, got {n!r}")
        u = jax.random.uniform(key, (n,), minval=1e-12, maxval=1 - 1e-12)
        return self.ppf(u)


class Lorentzian(AbstractDistribution):
    r"""Cauchy density :math:`g(x) = \frac{\Delta/\pi}{(x-\bar x)^2 + \Delta^2}` (``half_width`` = Δ)."""

    center: jax.Array
    half_width: jax.Array
    name = "lorentzian"

    def __init__(self, center=0.0, half_width=1.0):
        _check_scale("half_width", half_width)
        self.center = jnp.asarray(center, dtype=float)
        self.half_width = jnp.asarray(half_width, dtype=float)

    def ppf(self, u):
        return self.center + self.half_width * jnp.tan(jnp.pi * (u - 0.5))

    def pdf(self, x):
        d = self.half_width
        return d / jnp.pi / ((x - self.center) ** 2 + d**2)


class Uniform(AbstractDistribution):
    r"""Uniform density on :math:`[\bar x - \gamma, \bar x + \gamma]` (``half_width`` = γ; MPR App. C3)."""

    center: jax.Array
    half_width: jax.Array
    name = "uniform"

    def __init__(self, center=0.0, half_width=1.0):
        _check_scale("half_width", half_width)
        self.center = jnp.asarray(center, dtype=float)
        self.half_width = jnp.asarray(half_width, dtype=float)

    def ppf(self, u):
        return self.center + self.half_width * (2 * u - 1)

    def pdf(self, x):
        inside = jnp.abs(x - self.center) < self.half_width
        return jnp.where(inside, 0.5 / self.half_width, 0.0)


class Gaussian(AbstractDistribution):
    r"""Normal density with mean ``center`` and standard deviation ``sd`` (σ)."""

    center: jax.Array
    sd: jax.Array
    name = "gaussian"

    def __init__(self, center=0.0, sd=1.0):
        _check_scale("sd", sd)
        self.center = jnp.asarray(center, dtype=float)
        self.sd = jnp.asarray(sd, dtype=float)

    def ppf(self, u):
        return self.center + self.sd * ndtri(u)

    def pdf(self, x):
        z = (x - self.center) / self.sd
        return jnp.exp(-0.5 * z**2) / (jnp.sqrt(2 * jnp.pi) * self.sd)


class Delta(AbstractDistribution):
    """All samples equal to ``center`` (identical neurons)."""

    center: jax.Array
    name = "delta"

    def __init__(self, center=0.0):
        self.center = jnp.asarray(center, dtype=float)

    def ppf(self, u):
        return jnp.full(jnp.shape(u), self.center)

    def pdf(self, x):
        raise ValueError("the delta distribution has no density")


DISTRIBUTIONS = {"lorentzian": Lorentzian, "cauchy": Lorentzian, "uniform": Uniform, "gaussian": Gaussian, "normal": Gaussian, "delta": Delta}


def make_distribution(name: str, center, scale) -> AbstractDistribution:
    """Build a distribution by name: ``'lorentzian'`` (scale = half-width Δ), ``'uniform'``
    (scale = half-width γ), ``'gaussian'`` (scale = SD σ) or ``'delta'`` (scale ignored, must be 0)."""
    key = str(name).lower()
    if key not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {sorted(set(DISTRIBUTIONS))}, got {name!r}")
    cls = DISTRIBUTIONS[key]
    if cls is Delta:
        return Delta(center)
    return cls(center, scale)
