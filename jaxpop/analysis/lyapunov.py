r"""Largest Lyapunov exponent of an ODE model by tangent-linear integration.

The state :math:`y` is advanced by classical RK4 steps :math:`y_{k+1} = \Phi_{dt}(t_k, y_k)` of
``model.vector_field`` (flattened with :func:`jax.flatten_util.ravel_pytree`), and a tangent
vector by the exact linearisation of the same step, :math:`\delta_{k+1} = D\Phi_{dt}(y_k)\,\delta_k`
(:func:`jax.jvp`). Every ``renorm_every`` steps the tangent is renormalised and its log growth
accumulated; after a transient,

.. math:: \lambda_{\max} = \frac{1}{T}\sum_j \ln\frac{\|\delta(t_j)\|}{\|\delta(t_{j-1})\|}

is the exponent of the RK4 map, which converges to that of the flow as :math:`O(dt^4)`.
The time loop is a :func:`jax.lax.scan`; everything is pure, so :func:`jax.vmap` over models
(parameter grids, e.g. MPR Fig. 3(a)) or initial states works.

A time-periodic drive adds the phase of the forcing as a neutral direction of the extended
(autonomous) system; it is *not* part of the tangent space here (the tangent lives in the
model's state space), so on a stable periodic (entrained) attractor the estimate is the
leading Floquet exponent, strictly negative, and on a chaotic attractor it is positive.

References: G. Benettin, L. Galgani, A. Giorgilli, J.-M. Strelcyn, Meccanica 15, 9 (1980),
doi:10.1007/BF02128236; MPR Fig. 3: E. Montbrió, D. Pazó, A. Roxin, Phys. Rev. X 5, 021028
(2015), doi:10.1103/PhysRevX.5.021028.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ..core.drives import as_drive
from ..core.model import AbstractODEModel
from ..core.simulate import _n_steps

__all__ = ["LyapunovEstimate", "lyapunov_exponent"]


class LyapunovEstimate(NamedTuple):
    r"""Result of :func:`lyapunov_exponent` (a pytree: vmappable).

    Attributes
    ----------
    exponent : array
        :math:`\lambda_{\max}` over the whole measured window (per model time unit).
    segments : array (n_segments,)
        The exponent measured on each of ``n_segments`` consecutive equal sub-windows
        (their mean is ``exponent``).
    stderr : array
        ``std(segments, ddof=1) / sqrt(n_segments)``: the standard error of ``exponent``
        treating the segments as independent (valid when a segment is much longer than the
        correlation time of the local expansion rate); NaN for one segment.
    y_final : pytree
        State at the end of the run (to continue, or to check which attractor was reached).
    """

    exponent: jax.Array
    segments: jax.Array
    stderr: jax.Array
    y_final: object


def lyapunov_exponent(model, t_transient, t_total, dt, *, drive=None, y0=None, t0=0.0, renorm_every=10,
                      n_segments=10, tangent0=None, key=None, unroll=1):
    r"""Largest Lyapunov exponent of ``model`` (an :class:`~jaxpop.AbstractODEModel`).

    Parameters
    ----------
    model : AbstractODEModel
    t_transient : float
        Time integrated (state only) before measuring, from ``t0``.
    t_total : float
        Length of the measuring window (model time units); a whole number of
        ``renorm_every * n_segments`` steps.
    dt : float
        RK4 step.
    drive : drive, number or None
        External input :math:`I(t)` (e.g. ``Sinusoid(3.0, jnp.pi)``).
    y0 : pytree, optional
        Initial state (default ``model.init(key)``).
    renorm_every : int
        Steps between renormalisations of the tangent vector.
    n_segments : int
        Sub-windows for :attr:`LyapunovEstimate.segments` / ``stderr``.
    tangent0 : pytree, optional
        Initial tangent direction (default: all ones, normalised).

    Returns
    -------
    LyapunovEstimate
    """
    if not isinstance(model, AbstractODEModel):
        raise TypeError(f"model must be an ODE model (jaxpop.AbstractODEModel), got {type(model).__name__}")
    if not (isinstance(renorm_every, int) and renorm_every >= 1):
        raise ValueError(f"renorm_every must be a positive integer, got {renorm_every!r}")
    if not (isinstance(n_segments, int) and n_segments >= 1):
        raise ValueError(f"n_segments must be a positive integer, got {n_segments!r}")
    if not t_transient >= 0:
        raise ValueError(f"t_transient must be >= 0, got {t_transient!r}")
    n_tr = 0 if t_transient == 0 else _n_steps(0.0, float(t_transient), float(dt))
    n_meas = _n_steps(0.0, float(t_total), float(dt))
    block = renorm_every * n_segments
    if n_meas % block:
        raise ValueError(
            f"t_total/dt = {n_meas} steps must be a multiple of renorm_every * n_segments = {block}")
    n_blocks = n_meas // block  # renormalisation blocks per segment
    drive = as_drive(drive)
    if y0 is None:
        y0 = model.init(jax.random.PRNGKey(0) if key is None else key)
    return _lyapunov(model, drive, y0, tangent0, jnp.asarray(t0, dtype=float), float(dt), n_tr, n_meas,
                     int(renorm_every), int(n_segments), n_blocks, int(unroll))


@eqx.filter_jit
def _lyapunov(model, drive, y0, tangent0, t0, dt, n_tr, n_meas, renorm_every, n_segments, n_blocks, unroll):
    x0, unravel = ravel_pytree(y0)

    def f(t, x):
        return ravel_pytree(model.vector_field(t, unravel(x), drive))[0]

    def rk4(x, t):
        k1 = f(t, x)
        k2 = f(t + dt / 2, x + dt / 2 * k1)
        k3 = f(t + dt / 2, x + dt / 2 * k2)
        k4 = f(t + dt, x + dt * k3)
        return x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    def transient(x, k):
        return rk4(x, t0 + k * dt), None

    x, _ = jax.lax.scan(transient, x0, jnp.arange(n_tr), unroll=unroll)

    def tangent_step(carry, k):
        x, d = carry
        x, d = jax.jvp(lambda z: rk4(z, t0 + k * dt), (x,), (d,))
        return (x, d), None

    def renorm_block(carry, j):
        x, d = carry
        ks = n_tr + j * renorm_every + jnp.arange(renorm_every)
        (x, d), _ = jax.lax.scan(tangent_step, (x, d), ks, unroll=unroll)
        nrm = jnp.linalg.norm(d)
        return (x, d / nrm), jnp.log(nrm)

    def segment(carry, i):
        carry, logs = jax.lax.scan(renorm_block, carry, i * n_blocks + jnp.arange(n_blocks))
        return carry, jnp.sum(logs)

    d0 = jnp.ones_like(x0) if tangent0 is None else ravel_pytree(tangent0)[0]
    d0 = d0 / jnp.linalg.norm(d0)
    (x, _), seg_logs = jax.lax.scan(segment, (x, d0), jnp.arange(n_segments))
    seg_time = n_meas // n_segments * dt
    segments = seg_logs / seg_time
    lam = jnp.sum(seg_logs) / (n_meas * dt)
    se = jnp.std(segments, ddof=1) / jnp.sqrt(n_segments) if n_segments > 1 else jnp.nan
    return LyapunovEstimate(lam, segments, jnp.asarray(se), unravel(x))
