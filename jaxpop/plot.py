"""Plots a researcher would put in a paper. Every function takes ``ax=None`` and returns the axes."""

from __future__ import annotations

import numpy as np


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def trace(ts, x, *, ax=None, label=None, color=None, lw=1.0, ylabel=None, **kwargs):
    """A time series ``x(t)``."""
    ax = _ax(ax)
    ax.plot(np.asarray(ts), np.asarray(x), label=label, color=color, lw=lw, **kwargs)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax


def raster(neurons, times, *, ax=None, color="k", ms=1.5, max_neurons=None, key_order=None):
    """Spike raster from ``(neuron, time)`` arrays (see :meth:`jaxpop.Result.spike_trains`).

    ``max_neurons`` keeps the first that many neuron indices (or, with ``key_order``, a
    permutation array, plots neurons in that order).
    """
    ax = _ax(ax)
    neurons = np.asarray(neurons)
    times = np.asarray(times)
    if key_order is not None:
        rank = np.empty_like(np.asarray(key_order))
        rank[np.asarray(key_order)] = np.arange(len(key_order))
        neurons = rank[neurons]
    if max_neurons is not None:
        keep = neurons < max_neurons
        neurons, times = neurons[keep], times[keep]
    ax.plot(times, neurons, "|", color=color, ms=ms, mew=0.4, rasterized=True)
    ax.set_ylabel("neuron")
    return ax


def raster_and_activity(ts, activity, neurons=None, times=None, *, axes=None, fig=None, label=None, color="k"):
    """Raster above population activity, 4:1 height ratio, shared time axis. Returns (ax_raster, ax_activity)."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(2, 1, sharex=True, figsize=(6, 4), gridspec_kw={"height_ratios": [4, 1]})
    ax_r, ax_a = axes
    if neurons is not None:
        raster(neurons, times, ax=ax_r)
    trace(ts, activity, ax=ax_a, label=label, color=color)
    ax_a.set_xlabel("time")
    ax_a.set_ylabel("activity")
    return ax_r, ax_a


def spectrum(freqs, power, *, ax=None, label=None, color=None, **kwargs):
    """Power spectral density on log–log axes (the zero frequency is dropped)."""
    ax = _ax(ax)
    f = np.asarray(freqs)
    p = np.asarray(power)
    keep = f > 0
    ax.loglog(f[keep], p[keep], label=label, color=color, **kwargs)
    ax.set_xlabel("frequency")
    ax.set_ylabel("PSD")
    return ax


def phase_diagram(x, y, z, *, ax=None, cmap="Greys", xlabel=None, ylabel=None, **kwargs):
    """A phase diagram: ``z`` of shape (len(y), len(x)) drawn with ``pcolormesh``."""
    ax = _ax(ax)
    ax.pcolormesh(np.asarray(x), np.asarray(y), np.asarray(z), cmap=cmap, shading="auto", **kwargs)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax
