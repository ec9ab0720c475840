r"""Age-cohort machinery shared by the age-structured mesoscopic models (:class:`~jaxpop.meso.SchwalgerMeso`,
:class:`~jaxpop.meso.RefractoryDensity`).

Both models discretise the same PDE, the refractory-density equation with finite-size counts,

.. math::

    \partial_t q + \partial_\tau q = -\rho(\tau, t)\,q, \qquad q(0, t) = A_N(t),

on an age axis of :math:`K` bins of width :math:`h` (the time step) per population, kept as a ring buffer of
cohorts: slot ``s`` holds the cohort of age index :math:`a = (o - 1 - s) \bmod K` (``o`` = ``oldest``, the slot
retired and overwritten this step). Per cohort the models keep the expected number of survivors :math:`m` and
their variance :math:`v`; the neurons older than the window form the *free pool* :math:`x` (variance :math:`z`).
What differs between the models is only the hazard :math:`\rho` of each cohort; given the escape probabilities
:math:`P_a` of the cohorts and :math:`P_{free}` of the pool over one step, this module advances the survivors and
returns the expected count (Schwalger, Deger & Gerstner 2017, Eqs. of the algorithm; NEST ``gif_pop_psc_exp``):

.. math::

    \bar n = \sum_a P_a m_a + P_{free}\,x + \Lambda\text{-term}, \qquad
    \Lambda\text{-term} = \frac{\sum_a P_a v_a + P_{free} z}{\sum_a v_a + z}\Big(N - \sum_a m_a - x\Big),

    m_a \leftarrow (1 - P_a)\,m_a, \qquad v_a \leftarrow (1 - P_a)^2 v_a + P_a m_a,

and the oldest cohort joins the free pool, :math:`x \leftarrow (1 - P_{free})x + m_{o}`,
:math:`z \leftarrow (1 - P_{free})^2 z + P_{free}x + v_{o}`. The Λ-term is dropped in the ``'naive'`` variant.

Escape probability over a step (``scheme``) from the hazard :math:`\lambda_s` at the start and :math:`\lambda_e` at
the end of the cohort's active part of the step, a fraction :math:`f` of it:
:math:`P = \tfrac12(\lambda_s + \lambda_e)\,f h`; ``'nest'`` uses :math:`P` itself for :math:`P \le 0.01` and
:math:`1 - e^{-P}` above (NEST), ``'midpoint'`` always the exact :math:`1 - e^{-P}`.

Count laws (:func:`sample_count`, :func:`count_law`): binomial :math:`\mathrm{Bin}(N, \mathrm{clip}(\bar n/N, 0, 1))`,
Poisson (clipped to ``[0, N]``), Gaussian (diffusion approximation), or the expectation itself (``'mean_field'``).

Units: hazards in Hz, ``dt`` in ms.

References: T. Schwalger, M. Deger, W. Gerstner, PLoS Comput. Biol. 13, e1005507 (2017),
doi:10.1371/journal.pcbi.1005507.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core import spikes

VARIANTS = ("lambda", "naive", "mean_field")
COUNTS = ("binomial", "poisson", "gaussian")
SCHEMES = ("nest", "midpoint")
_MS = 1e-3  # Hz * ms -> dimensionless


def check_options(variant, counts, scheme, mode, owner):
    """Validate the shared static options (raises ``ValueError`` naming the option)."""
    if variant not in VARIANTS:
        raise ValueError(f"{owner}: variant must be one of {VARIANTS}, got {variant!r}")
    if counts not in COUNTS:
        raise ValueError(f"{owner}: counts must be one of {COUNTS}, got {counts!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"{owner}: scheme must be one of {SCHEMES}, got {scheme!r}")
    spikes.check_mode(mode)
    if counts == "gaussian" and mode not in ("exact", "gaussian"):
        raise ValueError(f"{owner}: counts='gaussian' is already reparameterised; mode must be 'exact' or 'gaussian', "
                         f"got {mode!r}")


def ring(K: tuple[int, ...], oldest):
    """Valid-slot mask and age index of the ring slots for the current step (both ``(n_pop, max(K))``).

    Slot ``s`` of population ``i`` holds the cohort of age index ``(oldest_i - 1 - s) mod K_i``; slots
    ``s >= K_i`` are padding."""
    K_arr = np.asarray(K, np.int32)[:, None]
    slot = np.arange(max(K), dtype=np.int32)[None, :]
    age = oldest[:, None] - 1 - slot
    age = jnp.where(age < 0, age + K_arr, age)  # (oldest - 1 - s) mod K without an integer division
    return slot < K_arr, age


def at(arr, slot):
    """``arr[i, slot[i]]`` for each population ``i``."""
    return jnp.take_along_axis(arr, slot[:, None], axis=1)[:, 0]


def escape_probability(lam_start, lam_end, frac, dt: float, scheme: str):
    """Escape probability over a step from the trapezoidal hazard integral over its active fraction ``frac``
    (module docs); 0 where ``frac == 0``."""
    P = 0.5 * (lam_end + lam_start) * dt * _MS * frac
    if scheme == "nest":
        # 1 - exp(-P) costs one exp (not expm1) and loses nothing for P > 0.01 (relative round-off eps / P <= 100 eps)
        P = jnp.where(P > 0.01, 1 - jnp.exp(-P), P)
    else:
        P = -jnp.expm1(-P)
    return jnp.where(frac > 0, P, 0.0)


class Survival(NamedTuple):
    m: jax.Array  # (n_pop, K) survivors after the step
    v: jax.Array  # (n_pop, K) their variance
    x: jax.Array  # (n_pop,) free pool after the oldest cohort joined it
    z: jax.Array  # (n_pop,)
    n_bar: jax.Array  # (n_pop,) expected count of the step
    mass: jax.Array  # (n_pop,) (sum m + x) / N before the step


def survive(m, v, x, z, P, P_free, oldest, N, *, naive: bool) -> Survival:
    r"""Advance the cohorts ``m, v`` and the free pool ``x, z`` over one step with escape probabilities ``P``
    (cohorts) and ``P_free`` (pool); the expected count with the Λ correction unless ``naive`` (module docs)."""
    X = jnp.sum(m, axis=1)
    W = jnp.sum(P * m, axis=1)
    Y = jnp.sum(P * v, axis=1)
    Z = jnp.sum(v, axis=1)
    v_new = (1 - P) ** 2 * v + P * m
    m_new = (1 - P) * m
    denom = Z + z
    safe = jnp.where(denom > 0, denom, 1.0)
    P_lam = jnp.where(denom > 0, (Y + P_free * z) / safe, 0.0)
    n_bar = W + P_free * x
    if not naive:
        n_bar = n_bar + P_lam * (N - X - x)
    # retire the oldest cohort into the free pool (its values after the update)
    v_old, m_old = at(v_new, oldest), at(m_new, oldest)
    z_new = (1 - P_free) ** 2 * z + P_free * x + v_old
    x_new = (1 - P_free) * x + m_old
    return Survival(m_new, v_new, x_new, z_new, n_bar, (X + x) / N)


def write(arr, oldest, value):
    """``arr`` with slot ``oldest[i]`` of population ``i`` set to ``value[i]`` (the new cohort), in place."""
    pops = np.arange(arr.shape[0])
    return arr.at[pops, oldest].set(value, unique_indices=True)


def advance_ring(oldest, K):
    """The ring's oldest slot after a step."""
    return jnp.mod(oldest + 1, jnp.asarray(K, jnp.int32))


def sample_count(key, n_bar, N, *, variant, counts, mode, temperature, support, owner):
    """Draw the population counts from the expected counts ``n_bar`` (the expectation itself for
    ``variant='mean_field'``)."""
    if variant == "mean_field":
        return n_bar
    N = jnp.asarray(N, dtype=n_bar.dtype)
    # a NaN expected count (e.g. a NaN drive) must raise: check before the clipping below, which would
    # turn it into 0 (and lets XLA fold the sampler's own check max(x, 0) >= 0 to true)
    n_bar = eqx.error_if(n_bar, jnp.any(jnp.isnan(n_bar)),
                         f"{owner}: the expected count is NaN (check the drive and parameters)")
    if counts == "poisson":
        # NEST: a mean above N gives N, and the count is clipped to [0, N]
        c = spikes.poisson(key, jnp.clip(n_bar, 0.0, None), mode=mode, temperature=temperature, support=support)
        return jnp.clip(c, 0.0, N)
    # NEST clips the binomial probability to [0, 1] (n_bar leaves [0, N] when the missing mass is < 0)
    p = jnp.clip(n_bar / N, 0.0, 1.0)
    mode = "gaussian" if counts == "gaussian" else mode
    return spikes.binomial(key, N, p, mode=mode, temperature=temperature, support=support)


def count_law(n_bar, N, *, variant, counts, mode) -> spikes.CountLaw:
    r"""The law :func:`sample_count` draws from: binomial :math:`\mathrm{Bin}(N, p)`,
    :math:`p = \mathrm{clip}(\bar n/N, 0, 1)`; Poisson :math:`\min(\mathrm{Poisson}(\max(\bar n, 0)), N)`;
    with ``counts='gaussian'`` or ``mode='gaussian'`` their normal approximations (same clipping)."""
    if variant == "mean_field":
        raise ValueError("variant='mean_field' is deterministic (n = n_bar): it has no count law; use "
                         "'lambda' or 'naive' for a likelihood")
    N = jnp.asarray(N, dtype=n_bar.dtype)
    if counts == "poisson":
        mean = jnp.clip(n_bar, 0.0, None)
        if mode == "gaussian":
            return spikes.CountLaw.normal(mean, mean, nonneg="clip", upper=N)
        return spikes.CountLaw.poisson(mean, upper=N)
    p = jnp.clip(n_bar / N, 0.0, 1.0)
    if counts == "gaussian" or mode == "gaussian":
        return spikes.CountLaw.normal(N * p, N * p * (1 - p))
    return spikes.CountLaw.binomial(N, p)
