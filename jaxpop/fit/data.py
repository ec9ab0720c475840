r"""Population spike-count data: what a mesoscopic model is fitted to.

:class:`PopulationData` holds the spike counts :math:`n_\alpha(t_k)` of each population
:math:`\alpha` (size :math:`N_\alpha`) in bins of width :math:`b` (ms), for one or several trials,
with the external drive of the experiment. Bin :math:`k` is the interval
:math:`(t_0 + k b,\ t_0 + (k + 1) b]`: a spike stamped at the end of a simulation step (NEST's
convention, and jaxpop's :class:`~jaxpop.Result` time axis) falls in the bin that holds that step.

Build it from a jaxpop :class:`~jaxpop.Result` (:meth:`PopulationData.from_result`), from count
arrays (:meth:`PopulationData.from_counts`) or from spike trains (:meth:`PopulationData.from_spikes`,
:meth:`PopulationData.from_nest` for NEST's ``spike_recorder``: in-memory events or ASCII files).
Bad data raise a ``ValueError`` naming the problem: negative counts, counts above :math:`N`,
non-integer or non-finite counts, bins that are not a whole number of model steps, a wrong :math:`N`.

The population activity is :math:`A_\alpha(t_k) = n_\alpha(t_k) / (N_\alpha b)` (Hz with :math:`b`
in ms: :attr:`PopulationData.A`).
"""

from __future__ import annotations

import math
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.drives import AbstractDrive, as_drive
from ..io import nest as _nest

__all__ = ["PopulationData"]

_REL = 1e-9  # relative tolerance of "whole number of steps / bins"


def _whole(x: float, unit: float) -> int | None:
    """``x / unit`` if it is a whole number (to ``_REL``), else None."""
    q = x / unit
    k = int(round(q))
    return k if k >= 1 and abs(q - k) <= _REL * max(1.0, abs(q)) else None


class PopulationData(eqx.Module):
    """Spike counts per bin and population (module docs).

    Attributes
    ----------
    counts : jax.Array, shape (trials, bins, n_pop)
        Spike counts (float64 holding integers).
    bin_width : float
        Bin width :math:`b` (ms).
    N : tuple of int
        Population sizes.
    t0 : float
        Start of the first bin (ms).
    drive : AbstractDrive or None
        External input of the experiment (as for :func:`jaxpop.simulate`), or None.
    max_per_neuron : int
        Most spikes a neuron can fire in one bin, for the check ``counts <= max_per_neuron * N``: 1
        (default) for bins no longer than the refractory period, as the count laws of the mesoscopic
        models assume; :meth:`rebin` multiplies it by its factor.
    """

    counts: jax.Array
    drive: AbstractDrive | None
    bin_width: float = eqx.field(static=True)
    N: tuple[int, ...] = eqx.field(static=True)
    t0: float = eqx.field(static=True)
    max_per_neuron: int = eqx.field(static=True)

    def __init__(self, counts, *, bin_width: float, N, t0: float = 0.0, drive=None, integer: bool = True,
                 max_per_neuron: int = 1):
        N = tuple(int(n) for n in np.atleast_1d(np.asarray(N)))
        if not N or any(n < 1 for n in N) or not np.all(np.asarray(N) == np.round(np.asarray(N))):
            raise ValueError(f"N must be positive population sizes, got N={N!r}")
        if not (isinstance(bin_width, (int, float, np.floating)) and bin_width > 0 and math.isfinite(bin_width)):
            raise ValueError(f"bin_width must be a positive number (ms), got bin_width={bin_width!r}")
        c = np.asarray(counts, dtype=np.float64)
        if c.ndim == 1 and len(N) == 1:
            c = c[:, None]
        if c.ndim == 2:
            c = c[None]
        if c.ndim != 3 or c.shape[-1] != len(N):
            raise ValueError(f"counts must have shape (bins, n_pop) or (trials, bins, n_pop) with n_pop = len(N) = "
                             f"{len(N)}, got shape {np.shape(counts)}")
        if c.shape[1] < 1:
            raise ValueError("counts hold no bins")
        if not np.all(np.isfinite(c)):
            bad = np.argwhere(~np.isfinite(c))[0]
            raise ValueError(f"counts must be finite: NaN or inf at (trial, bin, population) = {tuple(bad)}")
        if np.any(c < 0):
            bad = np.argwhere(c < 0)[0]
            raise ValueError(f"counts must be >= 0: {c[tuple(bad)]} at (trial, bin, population) = {tuple(bad)}")
        if not (isinstance(max_per_neuron, (int, np.integer)) and max_per_neuron >= 1):
            raise ValueError(f"max_per_neuron must be a positive integer, got {max_per_neuron!r}")
        over = c > max_per_neuron * np.asarray(N, float)
        if np.any(over):
            bad = np.argwhere(over)[0]
            raise ValueError(f"counts must be <= max_per_neuron * N: {c[tuple(bad)]} spikes in a bin of population "
                             f"{bad[2]} with N = {N[bad[2]]}, max_per_neuron = {max_per_neuron}, at (trial, bin) = "
                             f"{tuple(bad[:2])} (wrong N or wrong populations?)")
        if integer and np.any(c != np.round(c)):
            bad = np.argwhere(c != np.round(c))[0]
            raise ValueError(f"counts must be whole numbers: {c[tuple(bad)]} at (trial, bin, population) = "
                             f"{tuple(bad)} (pass integer=False for relaxed or diffusion-approximation counts)")
        self.counts = jnp.asarray(c, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
        self.bin_width, self.N, self.t0, self.max_per_neuron = float(bin_width), N, float(t0), int(max_per_neuron)
        self.drive = None if drive is None else as_drive(drive)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_counts(cls, counts, *, bin_width: float, N, t0: float = 0.0, drive=None, integer: bool = True):
        """From an array of counts, shape ``(bins, n_pop)`` or ``(trials, bins, n_pop)``."""
        return cls(counts, bin_width=bin_width, N=N, t0=t0, drive=drive, integer=integer)

    @classmethod
    def from_result(cls, result, N=None, *, model=None, drive=None, observable: str = "n", integer: bool = True):
        """From a :class:`~jaxpop.Result` that recorded population counts (``"n"``, summed over each
        recording block) or the activity ``"A"`` (converted to counts, :math:`n = A N b`).

        ``N`` or ``model`` (whose ``params.N`` is used) gives the population sizes."""
        if N is None:
            if model is None:
                raise ValueError("give N (population sizes) or the model that made the result")
            N = model.params.N
        if observable not in result.data:
            raise ValueError(f"the result has no {observable!r} (recorded: {sorted(result.data)}); record 'n'")
        b = float(result.dt) * int(result.record_every)
        x = np.asarray(result[observable], np.float64)
        if observable == "A":
            x = x * np.asarray(N, float) * b * 1e-3
            x = np.where(np.abs(x - np.round(x)) < 1e-6 * np.maximum(1.0, np.abs(x)), np.round(x), x) if integer else x
        elif observable != "n":
            raise ValueError(f"observable must be 'n' (counts) or 'A' (Hz), got {observable!r}")
        t0 = float(np.asarray(result.ts)[0]) - b
        return cls(x, bin_width=b, N=N, t0=t0, drive=drive, integer=integer)

    @classmethod
    def from_spikes(cls, times, senders, *, populations: Sequence, bin_width: float, t_start: float, t_stop: float,
                    drive=None):
        """From one spike train ``(times, senders)`` (ms, neuron ids).

        ``populations``: one collection of neuron ids per population (a ``range``, an array, or a pair
        ``(first, last)`` inclusive, as NEST's node collections print); :math:`N_\\alpha` is its size.
        The bins ``(t_start + k b, t_start + (k + 1) b]`` cover ``(t_start, t_stop]``, which must be a
        whole number of bins. Spikes of neurons in no population raise (pass the ids you recorded);
        spikes outside ``(t_start, t_stop]`` are not counted.
        """
        times = np.asarray(times, np.float64).reshape(-1)
        senders = np.asarray(senders).reshape(-1)
        if times.shape != senders.shape:
            raise ValueError(f"times and senders must have the same length, got {times.shape} and {senders.shape}")
        if not np.all(np.isfinite(times)):
            raise ValueError("spike times must be finite")
        n_bins = _whole(float(t_stop) - float(t_start), float(bin_width))
        if n_bins is None:
            raise ValueError(f"t_stop - t_start = {t_stop - t_start} ms must be a whole number of bins of "
                             f"bin_width = {bin_width} ms")
        ids = []
        for k, pop in enumerate(populations):
            if isinstance(pop, tuple) and len(pop) == 2 and all(np.ndim(x) == 0 for x in pop):
                pop = np.arange(int(pop[0]), int(pop[1]) + 1)
            arr = np.unique(np.asarray(list(pop) if isinstance(pop, range) else pop).reshape(-1))
            if arr.size == 0:
                raise ValueError(f"population {k} has no neurons")
            ids.append(arr)
        all_ids = np.concatenate(ids)
        if len(np.unique(all_ids)) != len(all_ids):
            raise ValueError("populations overlap: a neuron id is in two populations")
        pop_of = np.full(int(max(all_ids.max(), senders.max(initial=0))) + 1, -1)
        for k, arr in enumerate(ids):
            pop_of[arr] = k
        if senders.size and (senders.min() < 0 or np.any(pop_of[senders] < 0)):
            bad = senders[(senders < 0) | (pop_of[np.clip(senders, 0, None)] < 0)][:5]
            raise ValueError(f"spikes of neurons in no population (ids {bad.tolist()} ...): give every recorded id a "
                             "population, or select the spikes first")
        keep = (times > t_start) & (times <= t_stop)
        t, p = times[keep], pop_of[senders[keep]]
        k = np.ceil((t - t_start) / bin_width - _REL).astype(np.int64) - 1
        k = np.clip(k, 0, n_bins - 1)  # t = t_start + k b exactly (up to round-off) belongs to bin k - 1
        counts = np.zeros((n_bins, len(ids)))
        np.add.at(counts, (k, p), 1.0)
        return cls(counts, bin_width=bin_width, N=tuple(len(a) for a in ids), t0=t_start, drive=drive)

    @classmethod
    def from_nest(cls, source, *, populations: Sequence, bin_width: float, t_start: float, t_stop: float,
                  drive=None, resolution: float | None = None):
        """From NEST ``spike_recorder`` output: the in-memory events (``recorder.get("events")``, a dict,
        or a list of them) or ASCII files (a path, glob, directory or list; :func:`jaxpop.io.nest.read_spike_files`).
        Other arguments as :meth:`from_spikes`."""
        if isinstance(source, dict) or (isinstance(source, (list, tuple)) and source and isinstance(source[0], dict)):
            times, senders = _nest.spike_events(source)
        else:
            times, senders = _nest.read_spike_files(source, resolution=resolution)
        return cls.from_spikes(times, senders, populations=populations, bin_width=bin_width, t_start=t_start,
                               t_stop=t_stop, drive=drive)

    # ------------------------------------------------------------------ views
    @property
    def n_trials(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_bins(self) -> int:
        return int(self.counts.shape[1])

    @property
    def n_pop(self) -> int:
        return len(self.N)

    @property
    def t_end(self) -> float:
        return self.t0 + self.n_bins * self.bin_width

    @property
    def ts(self) -> np.ndarray:
        """Bin ends (ms), shape (bins,)."""
        return self.t0 + self.bin_width * np.arange(1, self.n_bins + 1)

    @property
    def A(self) -> jax.Array:
        """Population activity (Hz), shape (trials, bins, n_pop)."""
        return self.counts / (jnp.asarray(self.N, self.counts.dtype) * self.bin_width * 1e-3)

    def steps_per_bin(self, dt: float) -> int:
        """Model steps of ``dt`` (ms) in one bin; raises if the bin is not a whole number of steps."""
        k = _whole(self.bin_width, float(dt))
        if k is None:
            raise ValueError(f"the bin width {self.bin_width} ms is not a whole number of model steps dt = {dt} ms")
        return k

    def rebin(self, factor: int) -> "PopulationData":
        """Sum groups of ``factor`` consecutive bins (the number of bins must be a multiple of it)."""
        if not (isinstance(factor, (int, np.integer)) and factor >= 1):
            raise ValueError(f"factor must be a positive integer, got {factor!r}")
        if self.n_bins % factor:
            raise ValueError(f"{self.n_bins} bins are not a multiple of factor = {factor}: select a window first "
                             "(nothing is dropped silently)")
        c = self.counts.reshape(self.n_trials, self.n_bins // factor, factor, self.n_pop).sum(2)
        return PopulationData(c, bin_width=self.bin_width * factor, N=self.N, t0=self.t0, drive=self.drive,
                              integer=False, max_per_neuron=self.max_per_neuron * factor)

    def window(self, t_start: float, t_stop: float) -> "PopulationData":
        """The bins in ``(t_start, t_stop]`` (both on bin edges)."""
        i = _whole(float(t_start) - self.t0 + self.bin_width, self.bin_width)
        j = _whole(float(t_stop) - self.t0 + self.bin_width, self.bin_width)
        if i is None or j is None or not (1 <= i < j <= self.n_bins + 1):
            raise ValueError(f"window ({t_start}, {t_stop}] must lie on bin edges within ({self.t0}, {self.t_end}] "
                             f"(bin width {self.bin_width} ms)")
        return PopulationData(self.counts[:, i - 1:j - 1], bin_width=self.bin_width, N=self.N, t0=float(t_start),
                              drive=self.drive, integer=False, max_per_neuron=self.max_per_neuron)

    def split(self, t: float) -> tuple["PopulationData", "PopulationData"]:
        """``(train, test)``: the bins up to ``t`` and those after it."""
        return self.window(self.t0, t), self.window(t, self.t_end)

    def trial(self, i) -> "PopulationData":
        """The trials ``i`` (an int or a slice / index array)."""
        c = self.counts[i]
        return PopulationData(c if c.ndim == 3 else c[None], bin_width=self.bin_width, N=self.N, t0=self.t0,
                              drive=self.drive, integer=False, max_per_neuron=self.max_per_neuron)

    def __repr__(self) -> str:
        return (f"PopulationData({self.n_trials} trial(s) x {self.n_bins} bins of {self.bin_width} ms, N={self.N}, "
                f"t0={self.t0} ms, drive={'none' if self.drive is None else type(self.drive).__name__})")

