r"""Power spectral densities (Welch's method) in pure ``jnp``.

:func:`power_spectrum` splits the signal into overlapping segments of ``nperseg`` samples,
removes each segment's mean (or linear trend), multiplies by a window :math:`w_n`, and averages
the periodograms

.. math:: P(f_k) = \frac{c_k\,dt}{\sum_n w_n^2}\Big|\sum_{n} w_n x_n e^{-2\pi i k n/N_{\rm fft}}\Big|^2,
          \qquad f_k = \frac{k}{N_{\rm fft}\,dt},\quad k = 0..\lfloor N_{\rm fft}/2\rfloor,

with :math:`c_k = 2` for :math:`0 < f_k < f_{\rm Nyquist}` and :math:`c_k = 1` at :math:`f = 0` and at
the Nyquist frequency (even :math:`N_{\rm fft}`): the **one-sided density**, in units of
[x]²·[time] (e.g. Hz²/Hz = Hz for a rate in Hz with ``dt`` in s; for a dimensionless model,
[x]² per model time unit⁻¹). :math:`\int_0^{f_{\rm Nyquist}} P\,df` is the variance of ``x``. A
white sequence of variance :math:`\sigma^2` sampled every ``dt`` has :math:`P(f) = 2\sigma^2 dt` for
:math:`0 < f < f_{\rm Nyquist}` (:math:`\sigma^2 dt` at the Nyquist bin). Identical to
``scipy.signal.welch(x, fs=1/dt, ..., scaling='density', average='mean')``.

References: P. D. Welch, IEEE Trans. Audio Electroacoust. 15, 70 (1967), doi:10.1109/TAU.1967.1161901.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["power_spectrum", "get_window"]


def get_window(name, n):
    """Periodic ("DFT-even") window of length ``n``, as ``scipy.signal.get_window(name, n)``:
    ``'hann'``, ``'hamming'`` or ``'boxcar'``."""
    k = np.arange(n)
    if name in ("hann", "hanning"):
        return 0.5 - 0.5 * np.cos(2 * np.pi * k / n)
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * k / n)
    if name in ("boxcar", "rect", "rectangular", "ones"):
        return np.ones(n)
    raise ValueError(f"window must be 'hann', 'hamming', 'boxcar' or an array, got {name!r}")


def power_spectrum(x, dt, *, nperseg=256, noverlap=None, nfft=None, window="hann", detrend="constant", axis=-1):
    """One-sided Welch power spectral density of ``x`` sampled every ``dt``.

    Parameters
    ----------
    x : array (..., n_samples)
        Signal(s); every axis other than ``axis`` is a batch axis (trials, populations, ...).
    dt : float
        Sampling interval (model time units; ``fs = 1/dt``).
    nperseg : int
        Samples per segment (if larger than the signal, the signal length is used, as scipy does).
    noverlap : int, optional
        Overlap between segments (default ``nperseg // 2``); ``0 <= noverlap < nperseg``.
    nfft : int, optional
        FFT length (zero padding; default ``nperseg``).
    window : str or array
        ``'hann'`` (default), ``'hamming'``, ``'boxcar'`` or an array of length ``nperseg``.
    detrend : {'constant', 'linear', None}
        What to remove from each segment before windowing.
    axis : int
        Time axis of ``x`` (default last, as scipy; for a :class:`~jaxpop.Result`, whose data
        are time-major, pass ``axis=0``).

    Returns
    -------
    f : array (n_freq,)
        Frequencies, ``k / (nfft * dt)``.
    psd : array (..., n_freq)
        One-sided density (see module docstring); the time axis is replaced by the last axis.
    """
    x = jnp.moveaxis(jnp.asarray(x), axis, -1)
    n = x.shape[-1]
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    if not (isinstance(nperseg, (int, np.integer)) and nperseg >= 1):
        raise ValueError(f"nperseg must be a positive integer, got {nperseg!r}")
    nperseg = int(min(nperseg, n))
    noverlap = nperseg // 2 if noverlap is None else int(noverlap)
    if not 0 <= noverlap < nperseg:
        raise ValueError(f"noverlap must satisfy 0 <= noverlap < nperseg={nperseg}, got {noverlap}")
    nfft = nperseg if nfft is None else int(nfft)
    if nfft < nperseg:
        raise ValueError(f"nfft must be >= nperseg={nperseg}, got {nfft}")
    win = _window(window, nperseg)
    step = nperseg - noverlap
    n_seg = (n - noverlap) // step
    idx = step * np.arange(n_seg)[:, None] + np.arange(nperseg)[None, :]
    seg = x[..., idx]  # (..., n_seg, nperseg)
    if detrend == "constant":
        seg = seg - jnp.mean(seg, axis=-1, keepdims=True)
    elif detrend == "linear":
        t = np.arange(nperseg) - (nperseg - 1) / 2
        denom = np.sum(t**2) if nperseg > 1 else 1.0
        slope = jnp.sum(seg * t, axis=-1, keepdims=True) / denom
        seg = seg - jnp.mean(seg, axis=-1, keepdims=True) - slope * t
    elif detrend not in (None, False):
        raise ValueError(f"detrend must be 'constant', 'linear' or None, got {detrend!r}")
    spec = jnp.fft.rfft(seg * win, n=nfft, axis=-1)
    p = (spec.real**2 + spec.imag**2) * (dt / np.sum(win**2))
    fac = np.full(nfft // 2 + 1, 2.0)
    fac[0] = 1.0
    if nfft % 2 == 0:
        fac[-1] = 1.0
    psd = jnp.mean(p, axis=-2) * fac
    f = np.fft.rfftfreq(nfft, dt)
    return jnp.asarray(f), psd


def _window(w, n):
    if isinstance(w, str):
        return get_window(w, n)
    arr = np.asarray(w, dtype=float)
    if arr.shape != (n,):
        raise ValueError(f"window array must have shape (nperseg,) = ({n},), got {arr.shape}")
    return arr
