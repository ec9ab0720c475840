r"""Statistics of recorded spike trains per population: mean rates, irregularity (CV of the
inter-spike intervals) and synchrony (Fano factor of the population spike count), as used to
characterise the Potjans–Diesmann microcircuit.

Input is spike data in NEST's spike-recorder layout: ``times`` (ms) and ``senders`` (global neuron ids
``0 .. N-1``, one entry per spike, in any order), and the population boundaries ``offsets``
(``(n_pop + 1,)``, population ``p`` holds the ids ``offsets[p] .. offsets[p+1] - 1``). NumPy in, NumPy
out: these functions run on recorded data (NEST's, or jaxpop's after conversion to ``(times, senders)``).

Conventions (all windows in ms):

* **rates** — NEST's ``Potjans_2014`` example (``helpers.firing_rates``): the spikes with
  :math:`t_{start} \le t \le t_{stop}` (both ends included) counted per neuron, divided by
  :math:`t_{stop} - t_{start}`, then averaged over **all** neurons of the population, silent ones
  included.
* **CV of the ISIs** — per neuron :math:`CV_i = \sigma(\mathrm{ISI})/\langle\mathrm{ISI}\rangle`
  (population SD, ``ddof = 0``) from its spikes in :math:`[t_{start}, t_{stop}]`, for neurons with at
  least ``min_spikes`` spikes (default 3, i.e. at least two intervals: the INM-6
  ``microcircuit-PD14-model`` reference analysis, ``helpers.single_neuron_isi_cvs``, keeps neurons with
  more than two spikes); the population value is the mean over those neurons. PD14 (Fig. 6) measure
  spike-train irregularity by this CV. A Poisson process has CV = 1, a regular train CV = 0.
* **synchrony** — the variance of the population spike-count histogram divided by its mean,
  :math:`\mathrm{Var}[n_k]/\langle n_k\rangle` with :math:`n_k` the number of spikes of the population's
  neurons in bin :math:`k` (PD14, Fig. 6, with 3-ms bins and 1000 neurons per population — these two
  numbers are not verified against the paper's text; the same ratio, with the population variance
  ``ddof = 0``, is the ``synchrony`` of INM-6's multi-area-model analysis code, whose default bin is 1 ms). The bins tile :math:`[t_{start}, t_{start} + B\,w)` with :math:`B = \lfloor (t_{stop}-t_{start})/w
  \rfloor` (a trailing partial bin is dropped). For independent Poisson neurons the pooled count is
  Poisson and the ratio is 1; correlated firing raises it (``n`` perfectly synchronous neurons firing in
  a fraction :math:`p` of the bins give :math:`n(1 - p)`). The value grows with the number of neurons
  pooled when they are correlated, so compare populations of equal size (``n_neurons``).

References: T. C. Potjans, M. Diesmann, *The cell-type specific cortical microcircuit: relating structure
and activity in a full-scale spiking network model*, Cereb. Cortex 24, 785 (2014),
doi:10.1093/cercor/bhs358.
"""

from __future__ import annotations

import numpy as np

__all__ = ["population_rates", "cv_isi", "single_neuron_cv_isi", "synchrony"]


def _check(times, senders, offsets, t_start, t_stop):
    """Validate the common arguments; return (times, senders, offsets) as float / int64 arrays."""
    times = np.asarray(times, dtype=float)
    senders_in = np.asarray(senders)
    offsets = np.asarray(offsets)
    if times.ndim != 1 or senders_in.ndim != 1 or times.shape != senders_in.shape:
        raise ValueError(f"times and senders must be 1-D arrays of equal length, got shapes {times.shape} and "
                         f"{senders_in.shape}")
    if not np.all(np.isfinite(times)):
        raise ValueError("times must be finite (ms)")
    if senders_in.size and not (np.issubdtype(senders_in.dtype, np.integer)
                                or np.all(senders_in == np.round(senders_in))):
        raise ValueError("senders must be integer neuron ids")
    senders = senders_in.astype(np.int64)
    if offsets.ndim != 1 or offsets.size < 2:
        raise ValueError(f"offsets must be a 1-D array (n_pop + 1,) of population boundaries, "
                         f"got shape {offsets.shape}")
    if not (np.issubdtype(offsets.dtype, np.integer) or np.all(offsets == np.round(offsets))):
        raise ValueError(f"offsets must be integers, got {offsets!r}")
    offsets = offsets.astype(np.int64)
    if offsets[0] != 0 or np.any(np.diff(offsets) <= 0):
        raise ValueError(f"offsets must start at 0 and increase strictly (every population non-empty), "
                         f"got {offsets.tolist()}")
    if senders.size and (senders.min() < 0 or senders.max() >= offsets[-1]):
        raise ValueError(f"senders must lie in [0, {offsets[-1]}) (= offsets[-1]), got ids in "
                         f"[{senders.min()}, {senders.max()}]")
    if not (np.isfinite(t_start) and np.isfinite(t_stop) and t_stop > t_start):
        raise ValueError(f"need finite t_start < t_stop (ms), got t_start={t_start!r}, t_stop={t_stop!r}")
    return times, senders, offsets


def population_rates(times, senders, offsets, t_start, t_stop):
    r"""Mean firing rate (Hz) of each population over :math:`[t_{start}, t_{stop}]`, silent neurons included.

    Parameters
    ----------
    times : array (n_spikes,)
        Spike times (ms).
    senders : array (n_spikes,) of int
        Global neuron ids, ``0 <= sender < offsets[-1]``.
    offsets : array (n_pop + 1,) of int
        Population boundaries (``0 = offsets[0] < offsets[1] < ...``).
    t_start, t_stop : float
        Window (ms); spikes at either end are counted (NEST's example convention).

    Returns
    -------
    array (n_pop,)
        :math:`\frac{10^3}{N_p (t_{stop} - t_{start})}\sum_{i \in p} n_i` (Hz).
    """
    times, senders, offsets = _check(times, senders, offsets, t_start, t_stop)
    keep = (times >= t_start) & (times <= t_stop)
    pop = np.searchsorted(offsets, senders[keep], side="right") - 1
    counts = np.bincount(pop, minlength=offsets.size - 1)
    return counts / np.diff(offsets) / (t_stop - t_start) * 1e3


def single_neuron_cv_isi(times, senders, n_neurons, t_start, t_stop, *, min_spikes=3):
    r"""CV of the inter-spike intervals of every neuron ``0 .. n_neurons-1`` (NaN where it has fewer than
    ``min_spikes`` spikes in :math:`[t_{start}, t_{stop}]`).

    :math:`CV_i = \sqrt{\langle (\Delta_i - \bar\Delta_i)^2\rangle}/\bar\Delta_i` over the neuron's consecutive
    intervals :math:`\Delta_i` (``ddof = 0``). ``min_spikes`` must be an integer >= 3 (two intervals at least).
    """
    n_neurons = int(n_neurons)
    times, senders, _ = _check(times, senders, np.array([0, max(n_neurons, 1)]), t_start, t_stop)
    if n_neurons < 1:
        raise ValueError(f"n_neurons must be >= 1, got {n_neurons}")
    if not (isinstance(min_spikes, (int, np.integer)) and min_spikes >= 3):
        raise ValueError(f"min_spikes must be an integer >= 3 (two intervals at least), got min_spikes={min_spikes!r}")
    keep = (times >= t_start) & (times <= t_stop)
    t, s = times[keep], senders[keep]
    order = np.lexsort((t, s))
    t, s = t[order], s[order]
    counts = np.bincount(s, minlength=n_neurons)
    same = s[1:] == s[:-1]
    isi, owner = np.diff(t)[same], s[1:][same]
    n_isi = np.bincount(owner, minlength=n_neurons)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(owner, weights=isi, minlength=n_neurons) / n_isi
        var = np.bincount(owner, weights=(isi - mean[owner]) ** 2, minlength=n_neurons) / n_isi  # two-pass, exact 0
        cv = np.sqrt(var) / mean
    return np.where(counts >= min_spikes, cv, np.nan)


def cv_isi(times, senders, offsets, t_start, t_stop, *, min_spikes=3, return_counts=False):
    r"""Mean CV of the inter-spike intervals per population (PD14's irregularity measure).

    Each neuron's CV comes from its spikes in :math:`[t_{start}, t_{stop}]` (:func:`single_neuron_cv_isi`);
    neurons with fewer than ``min_spikes`` spikes (default 3, as INM-6's reference analysis) are excluded,
    and the population value is the mean over the remaining neurons (NaN if none remains).

    Parameters are those of :func:`population_rates`, plus ``min_spikes`` (int >= 3). With
    ``return_counts=True`` also returns the number of neurons that entered each mean.

    Returns
    -------
    array (n_pop,) [, array (n_pop,) of int]
    """
    times, senders, offsets = _check(times, senders, offsets, t_start, t_stop)
    cv = single_neuron_cv_isi(times, senders, offsets[-1], t_start, t_stop, min_spikes=min_spikes)
    means, used = [], []
    for a, b in zip(offsets[:-1], offsets[1:]):
        c = cv[a:b][~np.isnan(cv[a:b])]
        means.append(c.mean() if c.size else np.nan)
        used.append(c.size)
    means = np.asarray(means)
    return (means, np.asarray(used)) if return_counts else means


def synchrony(times, senders, offsets, t_start, t_stop, bin_width=3.0, *, n_neurons=None):
    r"""Synchrony per population: variance / mean of the population spike-count histogram (PD14).

    Parameters
    ----------
    times, senders, offsets, t_start, t_stop
        As in :func:`population_rates`.
    bin_width : float
        Histogram bin (ms; PD14: 3 ms). Bins tile :math:`[t_{start}, t_{start} + Bw)`,
        :math:`B = \lfloor (t_{stop} - t_{start})/w\rfloor \ge 2`.
    n_neurons : int, optional
        Pool only the first ``min(n_neurons, N_p)`` neurons of each population (PD14 pool 1000 neurons
        per population); default: all neurons. Neuron ids carry no structure in the microcircuit's
        random connectivity, so the first ids are a random subsample.

    Returns
    -------
    array (n_pop,)
        :math:`\mathrm{Var}[n_k]/\langle n_k\rangle` (``ddof = 0``); NaN for a population without spikes.
    """
    times, senders, offsets = _check(times, senders, offsets, t_start, t_stop)
    if not (np.isfinite(bin_width) and bin_width > 0):
        raise ValueError(f"bin_width must be > 0 (ms), got bin_width={bin_width!r}")
    n_bins = int(np.floor((t_stop - t_start) / bin_width + 1e-9))
    if n_bins < 2:
        raise ValueError(f"bin_width = {bin_width} ms leaves fewer than 2 bins in [{t_start}, {t_stop}] ms")
    if n_neurons is not None and not (isinstance(n_neurons, (int, np.integer)) and n_neurons >= 1):
        raise ValueError(f"n_neurons must be a positive integer or None, got n_neurons={n_neurons!r}")
    n_pop = offsets.size - 1
    k = np.floor((times - t_start) / bin_width).astype(np.int64)
    pop = np.searchsorted(offsets, senders, side="right") - 1
    keep = (times >= t_start) & (k < n_bins)
    if n_neurons is not None:
        keep &= senders < offsets[:-1][pop] + n_neurons
    hist = np.bincount(pop[keep] * n_bins + k[keep], minlength=n_pop * n_bins).reshape(n_pop, n_bins)
    mean = hist.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, hist.var(axis=1) / mean, np.nan)
