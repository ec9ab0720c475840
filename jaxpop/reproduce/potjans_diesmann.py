r"""The Potjans–Diesmann (2014) cortical microcircuit in LIF neurons: ``jaxpop reproduce potjans-diesmann``.

A figure in the manner of PD14's Fig. 6 and of NEST's ``Potjans_2014`` example, from one simulation of
:class:`jaxpop.micro.MicrocircuitNetwork` (NEST ``iaf_psc_exp``, Poisson background, optimized initial
voltages, dt = 0.1 ms):

* a **raster** of a 100-ms window, a subsample of each population (the first neurons of each: neuron ids
  carry no structure in the random connectivity), excitatory and inhibitory in two colours, layers
  labelled;
* a **box plot of the per-neuron rates** of every population (silent neurons included), with the
  population means of jaxpop and of NEST;
* the **irregularity** (mean CV of the inter-spike intervals) and the **synchrony** (variance / mean of
  the population spike count in 3-ms bins, 1000 neurons per population) per population,
  :mod:`jaxpop.analysis.spiketrains`, next to NEST's numbers where the scale matches;
* the **power spectra of the population activities** (1-ms bins, Welch, one-sided, log–log), with the
  Poisson level :math:`2r/N` of independent neurons;
* the response to the **thalamic pulse** (PD14: 902 thalamic neurons firing Poisson trains of 120 Hz for
  10 ms into L4 and L6): the population activity (1-ms bins) around the pulse.

**Protocol** (NEST's example): a warm-up ``t_warm`` (discarded), then the statistics window
:math:`[t_{warm}, t_{warm} + t_{sim}]`; spikes are taken as NEST's spike recorder reports them
(:func:`jaxpop.micro.microcircuit.spike_times`: time of the step end, global ids). The thalamic
pulse starts right at the end of the statistics window, :math:`t_{th} = t_{warm} + t_{sim}` (PD14 and NEST
put it at 700 ms; only its time is moved, the response of a stationary circuit does not depend on it), so the
window's statistics are those
of the circuit without thalamic input (the thalamic neurons are silent before the pulse and their
synapses are extra, so the recurrent network is the one NEST's reference runs simulate) and
``t_pulse`` ms after its onset are recorded for the response. The spike buffer is enlarged to
:math:`N/25` spikes per step for the pulse (the synchronous response of L4 overflows the default buffer at
0.1 scale); any overflow raises (:func:`~jaxpop.micro.microcircuit.check_dropped`).

**References to compare with** (NEST 3.10 runs shipped with jaxpop, :func:`nest_reference`). At 0.1 scale
(``N_scaling = K_scaling = 0.1``: 5 seeds, window [500, 1500] ms) the figure and the numbers show NEST's mean
and SD over seeds of the rates, the CV of the ISIs and the synchrony; at full scale NEST's run of the
benchmark (one seed). The issue's full-scale acceptance compares the rates with the full-scale reference
rates of NEST's ``Potjans_2014`` example (``full_mean_rates``, one full-scale NEST run;
:data:`jaxpop.presets.potjans_diesmann.FULL_MEAN_RATES`): ``rate_rel_diff_reference`` in the numbers.

Modes: **full** (``quick=False``) is the full-scale circuit (77,169 neurons, :math:`3\times10^8` synapses,
7 bytes each: 2.1 GB), 0.5 s warm-up, 1 s of statistics, 150 ms of pulse response. **quick** is the
0.1-scale circuit, 0.1 s warm-up (with the optimized initial voltages the start-up transient is over within
~50 ms), 1 s of statistics (the CV of the ISIs depends on the window's length, so it stays NEST's 1 s), 100 ms
of pulse response. Build and run times of both modes: ``benchmarks/README.md``.

The computations and the figure are public (:func:`run_microcircuit`, :func:`microcircuit_numbers`,
:func:`population_spectra`, :func:`neuron_rates`, :func:`plot_microcircuit`, :func:`nest_reference`) for
``notebooks/03_potjans_diesmann_microcircuit.ipynb``.

Units: ms, Hz (rates, activities, frequencies), PSDs in Hz²/Hz = Hz.

References: T. C. Potjans, M. Diesmann, *The cell-type specific cortical microcircuit: relating structure and
activity in a full-scale spiking network model*, Cereb. Cortex 24, 785 (2014), doi:10.1093/cercor/bhs358;
S. J. van Albada, M. Helias, M. Diesmann, PLoS Comput. Biol. 11, e1004490 (2015),
doi:10.1371/journal.pcbi.1004490 (down-scaling).
"""

from __future__ import annotations

import dataclasses
import json
import resource
import time
from pathlib import Path

import jax
import numpy as np

import jaxpop
from jaxpop.analysis import cv_isi, population_rates, synchrony
from jaxpop.micro.microcircuit import MicrocircuitNetwork, check_dropped, spike_times
from jaxpop.presets import potjans_diesmann as pd
from jaxpop.reproduce._common import figure as _figure
from jaxpop.reproduce._common import save_figure as _save  # 120 dpi
from jaxpop.reproduce._common import write_numbers as _write_numbers
from jaxpop.reproduce.schwalger2017 import _spectrum_trials

POPULATIONS = pd.POPULATIONS
LAYERS = ("L2/3", "L4", "L5", "L6")
#: Time step (ms), synchrony bin (ms) and the number of neurons pooled for the synchrony (PD14 Fig. 6).
DT, SYNC_BIN, SYNC_NEURONS = 0.1, 3.0, 1000
#: Colours of excitatory and inhibitory populations.
C_E, C_I = "#3b5b92", "#c0392b"
#: Where NEST's reference runs of ``benchmarks/_nest_microcircuit.py`` are stored (a source checkout).
NEST_REFERENCE = Path(__file__).resolve().parents[1] / "presets" / "nest_reference_pd14.json"


def nest_reference(N_scaling: float) -> dict | None:
    """NEST's numbers for the microcircuit at ``N_scaling`` (= ``K_scaling``), Poisson background.

    Returns ``{"source", "window_ms", "seeds", "rates", "cv_isi", "synchrony"}``, each statistic a per-population
    ``{"mean", "sd"}`` (``sd`` over seeds, None for one run), from the NEST 3.10 runs shipped with jaxpop
    (``jaxpop/presets/nest_reference_pd14.json``: 0.1 scale, 5 seeds, from ``benchmarks/_nest_microcircuit.py``;
    full scale, one run of ``benchmarks/microcircuit.py``). ``None`` for any other scale.
    """
    ref = json.loads(NEST_REFERENCE.read_text())
    for key in (f"{N_scaling:g}",):
        if key in ref:
            r = ref[key]
            out = {"source": r["source"], "window_ms": r["window_ms"], "seeds": r["seeds"]}
            for k in ("rates", "cv_isi", "synchrony"):
                sd = r[k]["sd"]
                out[k] = {"mean": np.asarray(r[k]["mean"], float), "sd": None if sd is None else np.asarray(sd, float)}
            return out
    return None


# ============================================================================================
# simulation
# ============================================================================================


def run_microcircuit(*, N_scaling=0.1, K_scaling=None, t_warm=500.0, t_sim=1000.0, t_pulse=150.0, trials=None,
                     seed=0, max_spikes=None, progress=False) -> dict:
    r"""Build the microcircuit (Poisson background) and simulate ``t_warm + t_sim (+ t_pulse)`` ms.

    ``t_pulse > 0`` adds the thalamic neurons and their pulse at :math:`t_{warm} + t_{sim}` (see the module
    docs) and records ``t_pulse`` ms after it; ``t_pulse = 0`` leaves the thalamus out. ``trials`` vmaps
    independent trials over one connectivity. The network and the trials' keys derive from ``seed``.

    Returns a dict: ``config``, ``N`` (neurons per population), ``offsets`` (population boundaries of the
    global ids), ``ts`` (ms, step ends), ``A`` (trials, steps, pop) population activity (Hz) per step,
    ``spikes`` (one ``(times, senders)`` per trial, NEST's spike-recorder format), the windows, ``n_synapses``,
    ``max_spikes``, ``dropped`` (0: a run with dropped spikes raises), ``wall`` (s: ``build``, ``simulate``
    including compilation) and ``peak_rss_mb`` (the process's peak resident memory so far).
    """
    K_scaling = N_scaling if K_scaling is None else K_scaling
    if not (t_warm >= 0 and t_sim > 0 and t_pulse >= 0):
        raise ValueError(f"need t_warm >= 0, t_sim > 0, t_pulse >= 0 (ms), got {t_warm}, {t_sim}, {t_pulse}")
    if trials is not None and not (isinstance(trials, int) and trials >= 1):
        raise ValueError(f"trials must be a positive int or None, got trials={trials!r}")
    pulse = t_pulse > 0
    config = pd.microcircuit(N_scaling, K_scaling, thalamus=pulse)
    t_stop = t_warm + t_sim
    if pulse:
        config = dataclasses.replace(config, th_start=t_stop)
    n_total = int(np.sum(config.N))
    if max_spikes is None and pulse:
        max_spikes = n_total // 25 + 64
    k_net, k_sim = jax.random.split(jax.random.PRNGKey(seed))
    tic = time.perf_counter()
    net = MicrocircuitNetwork(config, dt=DT, key=k_net, max_spikes=max_spikes)
    jax.block_until_ready(net.weight)
    wall = {"build": time.perf_counter() - tic}
    t_end = t_stop + t_pulse
    tic = time.perf_counter()
    res = jaxpop.simulate(net, t_end, DT, key=k_sim, record=("A", "spike_ids", "dropped"), trials=trials,
                          progress=progress)
    jax.block_until_ready(res.data)
    wall["simulate"] = time.perf_counter() - tic
    check_dropped(res)
    n_tr = 1 if trials is None else trials
    A = np.asarray(res["A"], dtype=np.float64).reshape(n_tr, -1, len(config.N))
    spikes = [spike_times(res, net, trial=None if trials is None else i) for i in range(n_tr)]
    return dict(config=config, N=np.asarray(config.N), offsets=np.concatenate([[0], np.cumsum(config.N)]),
                N_scaling=float(N_scaling), K_scaling=float(K_scaling), dt=DT, t_warm=float(t_warm),
                t_sim=float(t_sim), t_stop=float(t_stop), t_pulse=float(t_pulse),
                pulse_on=float(t_stop) if pulse else None,
                trials=n_tr, seed=seed, ts=np.asarray(res.ts), A=A, spikes=spikes, n_synapses=int(np.sum(config.Q)),
                n_synapses_thalamic=int(np.sum(config.Q_th)), max_spikes=net.max_spikes,
                dropped=int(np.asarray(res["dropped"]).max()), wall=wall,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


# ============================================================================================
# analysis
# ============================================================================================


def _binned(d, lo, hi, bin_ms=1.0):
    """Population activity (trials, bins, pop) in ``bin_ms`` bins tiling (lo, hi] ms (steps whose end is inside)."""
    every = int(round(bin_ms / d["dt"]))
    sel = (d["ts"] > lo + 1e-6) & (d["ts"] <= hi + 1e-6)
    A = d["A"][:, sel]
    n = A.shape[1] // every
    return A[:, : n * every].reshape(A.shape[0], n, every, A.shape[2]).mean(axis=2)


def neuron_rates(d) -> list[np.ndarray]:
    """Per-neuron rates (Hz) in the statistics window (both ends included, silent neurons 0), averaged over
    trials; one array per population."""
    lo, hi = d["t_warm"], d["t_stop"]
    off = d["offsets"]
    counts = np.zeros(off[-1])
    for t, s in d["spikes"]:
        keep = (t >= lo) & (t <= hi)
        counts += np.bincount(s[keep], minlength=off[-1])
    r = counts / d["trials"] / (hi - lo) * 1e3
    return [r[a:b] for a, b in zip(off[:-1], off[1:])]


def population_spectra(d, *, nperseg=256, bin_ms=1.0):
    """Welch spectra (one-sided, Hz) of the population activities in ``bin_ms`` bins over the statistics window:
    ``f`` (Hz) and ``S`` (trials, pop, freq)."""
    A = _binned(d, d["t_warm"], d["t_stop"], bin_ms)
    return _spectrum_trials(A, bin_ms, min(nperseg, A.shape[1]))


def _mean_sd(x):
    x = np.asarray(x, float)
    return x.mean(axis=0), (x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.full(x.shape[1:], np.nan))


def microcircuit_numbers(d, *, nperseg=256):
    r"""The numbers of a :func:`run_microcircuit` run.

    Per population (trial means; ``*_sd`` the SD over trials when there are several): ``rates`` (Hz,
    :func:`~jaxpop.analysis.population_rates`), ``cv_isi`` (neurons with >= 3 spikes in the window; ``cv_isi_n``
    how many), ``synchrony`` (3-ms bins, the first 1000 neurons; ``synchrony_all``: every neuron), the fraction of
    silent neurons, the Poisson level ``2r/N`` of the activity spectra and the spectra's mean over 200–400 Hz relative
    to it (``psd_hf_over_poisson``), and the frequency of the spectral peak in 20–200 Hz (``psd_peak_Hz``);
    NEST's reference (:func:`nest_reference`) and ``rate_rel_diff`` = jaxpop / NEST - 1 when one matches the scale;
    the pulse response (``pulse_baseline``: the 50 ms before the onset; ``pulse_peak``: the maximum of the 1-ms
    activity in the 50 ms after it, and its latency ``pulse_peak_ms``); sizes, ``dropped``, wall times, memory.
    """
    lo, hi, off = d["t_warm"], d["t_stop"], d["offsets"]
    per = {k: [] for k in ("rates", "cv_isi", "cv_isi_n", "synchrony", "synchrony_all")}
    for t, s in d["spikes"]:
        per["rates"].append(population_rates(t, s, off, lo, hi))
        cv, used = cv_isi(t, s, off, lo, hi, return_counts=True)
        per["cv_isi"].append(cv)
        per["cv_isi_n"].append(used)
        per["synchrony"].append(synchrony(t, s, off, lo, hi, SYNC_BIN, n_neurons=SYNC_NEURONS))
        per["synchrony_all"].append(synchrony(t, s, off, lo, hi, SYNC_BIN))
    n = dict(populations=list(POPULATIONS), N=d["N"], N_scaling=d["N_scaling"], K_scaling=d["K_scaling"],
             dt=d["dt"], background="poisson", t_warm_ms=d["t_warm"], t_sim_ms=d["t_sim"], window_ms=[lo, hi],
             trials=d["trials"], seed=d["seed"], n_neurons=int(off[-1]), n_synapses=d["n_synapses"],
             n_synapses_thalamic=d["n_synapses_thalamic"], max_spikes=d["max_spikes"], dropped=d["dropped"],
             sync_bin_ms=SYNC_BIN, sync_neurons=SYNC_NEURONS)
    for k, v in per.items():
        n[k], n[k + "_sd"] = _mean_sd(v)
    n["silent_fraction"] = [float(np.mean(r == 0)) for r in neuron_rates(d)]
    f, S = population_spectra(d, nperseg=nperseg)
    Sm = S.mean(axis=0)
    n["psd_nperseg"] = int(2 * (len(f) - 1))
    n["psd_poisson_level"] = 2 * n["rates"] / d["N"]
    hf = (f >= 200.0) & (f <= 400.0)
    n["psd_hf_over_poisson"] = Sm[:, hf].mean(axis=1) / n["psd_poisson_level"]
    band = (f >= 20.0) & (f <= 200.0)
    n["psd_peak_Hz"] = f[band][np.argmax(Sm[:, band], axis=1)]
    ref = nest_reference(d["N_scaling"]) if d["N_scaling"] == d["K_scaling"] else None
    if ref is not None:
        n["nest"] = {k: (dict(mean=v["mean"], sd=v["sd"]) if isinstance(v, dict) else v) for k, v in ref.items()}
        n["rate_rel_diff"] = n["rates"] / ref["rates"]["mean"] - 1
    if d["N_scaling"] == d["K_scaling"] == 1.0:  # the acceptance: within 10 % of FULL_MEAN_RATES
        n["rate_rel_diff_reference"] = n["rates"] / np.asarray(pd.FULL_MEAN_RATES) - 1
    if d["pulse_on"] is not None:
        on = d["pulse_on"]
        pre = _binned(d, on - 50.0, on).mean(axis=0)  # (bins, pop), trial mean
        post = _binned(d, on, on + 50.0).mean(axis=0)
        n["pulse_on_ms"] = on
        n["pulse_baseline"] = pre.mean(axis=0)
        n["pulse_peak"] = post.max(axis=0)
        n["pulse_peak_ms"] = np.argmax(post, axis=0) + 0.5
        n["pulse_mean_0_20ms"] = post[:20].mean(axis=0)
    n["wall_s"] = dict(d["wall"])
    n["real_time_factor"] = d["wall"]["simulate"] / (d["trials"] * (d["t_stop"] + d["t_pulse"]) * 1e-3)
    n["peak_rss_mb"] = d["peak_rss_mb"]
    return n


# ============================================================================================
# figure
# ============================================================================================


def _colour(p):
    return C_E if p % 2 == 0 else C_I


def _raster(ax, d, window, n_raster):
    t, s = d["spikes"][0]
    off, N = d["offsets"], d["N"]
    frac = min(1.0, n_raster / off[-1])
    keep_n = np.maximum(1, np.ceil(N * frac).astype(int))
    rows = np.concatenate([[0], np.cumsum(keep_n)])
    sel = (t > window[0]) & (t <= window[1])
    t, s = t[sel], s[sel]
    pop = np.searchsorted(off, s, side="right") - 1
    local = s - off[pop]
    keep = local < keep_n[pop]
    y = rows[pop[keep]] + local[keep]
    for p in range(len(N)):
        m = pop[keep] == p
        ax.scatter(t[keep][m], -y[m], s=1.5, lw=0, color=_colour(p), rasterized=True)
    ax.set_xlim(*window)
    ax.set_ylim(-rows[-1], 0)
    centres = [-(rows[2 * k] + rows[2 * k + 2]) / 2 for k in range(len(LAYERS))]
    ax.set_yticks(centres, LAYERS)
    for k in range(1, len(LAYERS)):
        ax.axhline(-rows[2 * k], color="0.6", lw=0.6)
    ax.set_xlabel("time [ms]")
    ax.set_title(f"spikes of {rows[-1]} of {off[-1]} neurons ({100 * frac:.0f} % of each population; "
                 f"E blue, I red)", fontsize=8, loc="left")


def _per_population(ax, values, nest, label, ref_label):
    """Horizontal bars of jaxpop's ``values`` per population (L2/3E at the top) and NEST's mean ± SD."""
    P = len(values)
    y = -np.arange(P)
    ax.barh(y, values, color=[_colour(p) for p in range(P)], height=0.7, alpha=0.85, label="jaxpop")
    if nest is not None:
        ax.errorbar(nest["mean"], y, xerr=nest["sd"], fmt="kx", ms=5, lw=1, capsize=2, label=ref_label)
    top = np.nanmax(values)
    if nest is not None:
        top = max(top, np.nanmax(nest["mean"] + (0.0 if nest["sd"] is None else np.nan_to_num(nest["sd"]))))
    ax.set_xlim(0, 1.6 * top)  # room for the legend on the right
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.set_yticks(y, POPULATIONS, fontsize=7)
    ax.set_xlabel(label, fontsize=8)


def plot_microcircuit(d, numbers, *, fig=None, raster_window=None, n_raster=4000, nperseg=256):
    """Raster, per-neuron rate box plots, CV ISI, synchrony, activity spectra and pulse response of a
    :func:`run_microcircuit` run (see the module docs); returns the figure."""
    from matplotlib.ticker import NullFormatter

    fig = fig or _figure(figsize=(15, 10), layout="constrained")
    gs = fig.add_gridspec(3, 3, width_ratios=[1.35, 1.0, 1.1])
    if raster_window is None:
        mid = d["t_warm"] + 0.5 * d["t_sim"]
        raster_window = (mid, min(mid + 100.0, d["t_stop"]))
    nest = numbers.get("nest")
    ref_label = None
    if nest is not None:
        ref_label = f"NEST (mean ± SD, {nest['seeds']} seeds)" if nest["seeds"] > 1 else "NEST (one run)"
    _raster(fig.add_subplot(gs[:2, 0]), d, raster_window, n_raster)

    # rates: box plots of the per-neuron rates, jaxpop's and NEST's population means
    ax = fig.add_subplot(gs[0, 1])
    rates = neuron_rates(d)
    P = len(rates)
    y = -np.arange(P)
    import matplotlib

    new = tuple(int(x) for x in matplotlib.__version__.split(".")[:2]) >= (3, 10)  # `vert` deprecated in 3.10
    horizontal = {"orientation": "horizontal"} if new else {"vert": False}
    bp = ax.boxplot(rates, positions=y, **horizontal, widths=0.6, patch_artist=True, showfliers=True,
                    flierprops=dict(marker=".", ms=1.5, mec="0.6", mfc="0.6"), medianprops=dict(color="k", lw=0.8))
    for p, box in enumerate(bp["boxes"]):
        box.set_facecolor(_colour(p))
        box.set_alpha(0.6)
    ax.plot(numbers["rates"], y, "D", color="w", mec="k", ms=4, label="jaxpop mean")
    if nest is not None:
        ax.plot(nest["rates"]["mean"], y, "kx", ms=6, label="NEST mean")
    ax.set_yticks(y, POPULATIONS, fontsize=7)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0)
    ax.set_xlabel("firing rate [Hz] (per neuron)", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.set_title(f"rates in [{d['t_warm']:g}, {d['t_stop']:g}] ms, silent neurons included", fontsize=8, loc="left")

    ax = fig.add_subplot(gs[1, 1])
    _per_population(ax, numbers["cv_isi"], None if nest is None else nest["cv_isi"], "CV of the ISIs", ref_label)
    ax.set_title("irregularity: mean CV ISI (neurons with ≥ 3 spikes)", fontsize=8, loc="left")
    ax = fig.add_subplot(gs[2, 1])
    _per_population(ax, numbers["synchrony"], None if nest is None else nest["synchrony"],
                    f"Var / mean of the spike count ({SYNC_BIN:g}-ms bins)", ref_label)
    ax.axvline(1.0, color="0.5", lw=0.7, ls=":")
    ax.set_title(f"synchrony ({SYNC_NEURONS} neurons per population; 1 = independent Poisson)", fontsize=8, loc="left")

    # spectra, one panel per layer
    f, S = population_spectra(d, nperseg=nperseg)
    sel = (f > 0) & (f < f[-1])
    sub = gs[:, 2].subgridspec(4, 1)
    for k, layer in enumerate(LAYERS):
        ax = fig.add_subplot(sub[k])
        for j, typ in enumerate("EI"):
            p = 2 * k + j
            ax.loglog(f[sel], S[:, p].mean(axis=0)[sel], color=_colour(p), lw=0.9)
            ax.axhline(numbers["psd_poisson_level"][p], color=_colour(p), lw=0.6, ls=":")
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("PSD [Hz]", fontsize=8)
        ax.tick_params(labelsize=7)
        head = f"activity spectra (1-ms bins, Welch {numbers['psd_nperseg']} ms; dotted: 2r/N)\n" if k == 0 else ""
        ax.set_title(head + "   ".join(f"{layer}{typ}: {numbers['rates'][2 * k + j]:.2f} Hz, N = {d['N'][2 * k + j]}"
                                       for j, typ in enumerate("EI")), fontsize=8, loc="left")
    ax.set_xlabel("f [Hz]", fontsize=8)

    # thalamic pulse: activity of each population around the onset, scaled to its peak, stacked
    ax = fig.add_subplot(gs[2, 0])
    if d["pulse_on"] is not None:
        on = d["pulse_on"]
        A = _binned(d, on - 50.0, on + d["t_pulse"]).mean(axis=0)
        tt = np.arange(A.shape[0]) + 0.5 - 50.0
        ax.axvspan(0.0, d["config"].th_duration, color="0.88", lw=0)
        for p in range(P):
            top = max(A[:, p].max(), 1e-9)
            ax.plot(tt, -p + 0.85 * A[:, p] / top, color=_colour(p), lw=0.8)
            ax.text(tt[-1], -p + 0.1, f"{POPULATIONS[p]} (peak {top:.0f} Hz)", fontsize=6.5, ha="right", va="bottom")
        ax.set_yticks([])
        ax.set_xlim(tt[0], tt[-1])
        ax.set_xlabel("time after the thalamic pulse onset [ms]", fontsize=8)
        ax.set_title(f"thalamic pulse ({d['config'].N_th} neurons, {d['config'].th_rate:g} Hz for "
                     f"{d['config'].th_duration:g} ms into L4/L6): activity in 1-ms bins, scaled to its peak",
                     fontsize=8, loc="left")
    else:
        ax.set_axis_off()
    scale = "full scale" if d["N_scaling"] == 1.0 else f"N × {d['N_scaling']:g}, K × {d['K_scaling']:g}"
    fig.suptitle(f"Potjans–Diesmann microcircuit ({scale}: {numbers['n_neurons']:,} LIF neurons, "
                 f"{numbers['n_synapses']:,} synapses), Poisson background, dt = {d['dt']} ms; "
                 f"{d['trials']} trial(s), statistics over [{d['t_warm']:g}, {d['t_stop']:g}] ms"
                 + (f"\nNEST reference: {nest['source']}" if nest is not None else ""), fontsize=9)
    return fig


# ============================================================================================
# the target
# ============================================================================================


def lif(outdir, *, quick=False) -> dict:
    """``potjans-diesmann``: raster, rates, CV ISI, synchrony, spectra and the thalamic pulse of the LIF
    microcircuit; full scale (``quick=False``) or 0.1 scale (``quick=True``)."""
    tic = time.perf_counter()
    if quick:
        # ~40 s on 2 cores: 7,717 neurons, 0.1 s warm-up + 1 s + 0.1 s of pulse response
        d = run_microcircuit(N_scaling=0.1, t_warm=100.0, t_sim=1000.0, t_pulse=100.0, seed=0)
        nperseg = 256
    else:
        # full scale, NEST's protocol: ~3 GB, ~1 min to build and several minutes to simulate on a 2-core CPU
        d = run_microcircuit(N_scaling=1.0, t_warm=500.0, t_sim=1000.0, t_pulse=150.0, seed=0, progress=True)
        nperseg = 256
    numbers = microcircuit_numbers(d, nperseg=nperseg)
    _save(plot_microcircuit(d, numbers, nperseg=nperseg), outdir, "potjans_diesmann.png")
    numbers.update(quick=quick, seconds=time.perf_counter() - tic)
    _write_numbers(outdir, "potjans_diesmann.json", numbers)
    return numbers
