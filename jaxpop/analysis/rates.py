r"""Population-rate helpers: sliding-window smoothing and a normalised error.

``smooth_rate`` is the sliding (boxcar) window of Montbrió, Pazó & Roxin (2015), App. A: the
instantaneous rate of a spiking network is the spike count in a window of width
:math:`\delta t` (:math:`2\times10^{-2}` in their Fig. 3) divided by :math:`N\,\delta t`. Given
the per-step (or per-block) population activity :math:`r_k` it returns

.. math:: \bar r_k = \frac{1}{\delta t}\int_{t_k-\delta t/2}^{t_k+\delta t/2} r(t')\,dt',

a *centred* window, so the smoothed network rate is not delayed by :math:`\delta t/2` against
the firing-rate equations it is compared with.

``nrmse`` is the error measure used throughout jaxpop's micro–macro comparisons:

.. math:: \mathrm{NRMSE}(x, y) = \frac{\sqrt{\langle (x-y)^2\rangle}}{\sqrt{\langle (y-\langle y\rangle)^2\rangle}},

the RMS difference in units of the standard deviation of the reference ``y`` — zero for a
perfect match, 1 for a prediction as bad as the constant :math:`\langle y\rangle`, and
independent of offsets and units (a mean voltage near -1 is not flattered by its mean).

References: E. Montbrió, D. Pazó, A. Roxin, Phys. Rev. X 5, 021028 (2015),
doi:10.1103/PhysRevX.5.021028.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _xp(*arrays):
    """``jax.numpy`` if any input is traced (inside jit/grad/vmap), else ``numpy`` (no dispatch or
    compilation for post-hoc analysis); the same code runs on both."""
    return jnp if any(isinstance(a, jax.core.Tracer) for a in arrays) else np


def _window_sum(xp, x, m, axis):
    """Sum of ``x[i-m : i+m+1]`` along ``axis`` (zero-padded at the edges)."""
    x = xp.moveaxis(x, axis, 0)
    pad = [(m + 1, m)] + [(0, 0)] * (x.ndim - 1)
    c = xp.cumsum(xp.pad(x, pad), axis=0)
    out = c[2 * m + 1:] - c[: -(2 * m + 1)]
    return xp.moveaxis(out, 0, axis)


def smooth_rate(r, dt: float, window: float, *, axis: int = 0):
    r"""Centred sliding-window (boxcar) average of a rate sampled every ``dt``.

    Parameters
    ----------
    r : array, shape (time,) or (time, pop, ...)
        Population activity (e.g. ``Result.r``) sampled every ``dt`` (``Result.bin_width``).
    dt : float
        Sampling interval of ``r``.
    window : float
        Window width :math:`\delta t` (same time unit); ``window/dt`` is rounded to an integer
        ``n >= 1``. An odd ``n`` averages ``n`` samples; an even ``n`` averages ``n + 1``
        samples with half weight on the two end samples, so the window is centred on the sample
        either way and its width is ``n dt``.
    axis : int
        Time axis of ``r``.

    Returns
    -------
    array of the shape of ``r`` (numpy for concrete input, a JAX array when traced). Near the two ends the window is truncated to the samples that
    exist (the average is over those), so no sample is lost and none is padded with zeros.
    """
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got dt={dt!r}")
    if not window > 0:
        raise ValueError(f"window must be > 0, got window={window!r}")
    n = int(round(window / dt))
    if n < 1:
        raise ValueError(f"window={window!r} is shorter than half a sample (dt={dt!r})")
    xp = _xp(r)
    r = xp.asarray(r, dtype=float)
    ones = xp.ones(r.shape[axis])
    m = n // 2
    if n % 2:
        num, den = _window_sum(xp, r, m, axis), _window_sum(xp, ones, m, 0)
    else:
        num = 0.5 * (_window_sum(xp, r, m, axis) + _window_sum(xp, r, m - 1, axis))
        den = 0.5 * (_window_sum(xp, ones, m, 0) + _window_sum(xp, ones, m - 1, 0))
    shape = [1] * r.ndim
    shape[axis] = r.shape[axis]
    return num / den.reshape(shape)


def nrmse(x, y, *, axis=None):
    r"""Normalised RMS error :math:`\sqrt{\langle(x-y)^2\rangle}/\operatorname{std}(y)` of ``x`` against the reference ``y``.

    ``axis``: the axis (or axes) to average over (default: all). NaNs are not ignored.
    """
    xp = _xp(x, y)
    x = xp.asarray(x, dtype=float)
    y = xp.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"nrmse: x and y must have the same shape, got {x.shape} and {y.shape}")
    rms = xp.sqrt(xp.mean((x - y) ** 2, axis=axis))
    return rms / xp.std(y, axis=axis)
