r"""The mesoscopic twin of the Potjans–Diesmann microcircuit: ``jaxpop reproduce potjans-diesmann-meso``.

The lecture's slide (Schwalger, Deger & Gerstner 2017, Figs. 1 and 8): eight mesoscopic populations
reproduce the population activities of a cortical microcircuit of spiking neurons. Both levels here
run one parameter set, the escape-noise (GIF) version of the Potjans–Diesmann circuit of Schwalger's
``PDmodel_*`` scripts (``schwalger/mesopopdyn_microcircuit``,
:func:`jaxpop.presets.schwalger_2017.potjans_diesmann_gif`):

* **micro**: :class:`jaxpop.micro.GIFNetwork` with ``connectivity='all_to_all'`` — every neuron of
  population :math:`\beta` projects to every neuron of :math:`\alpha` with weight
  :math:`J^{\alpha\beta}p^{\alpha\beta}` (Schwalger's ``meanfield_connectivity=True``: the "mean-field"
  coupling :math:`J\cdot p` all-to-all), :math:`N` = the PD sizes times ``scaling`` (0.1 in the
  scripts: 7,717 neurons), couplings divided by ``scaling``;
* **meso**: :class:`jaxpop.meso.SchwalgerMeso` (Λ variant, binomial counts) from the same
  :class:`~jaxpop.core.gif_params.GIFParams` and ``dt`` (``SchwalgerMeso.from_micro``).

Both at dt = 0.1 ms with the activity recorded in 1-ms bins, as in the scripts. No adaptation (the
scripts' setting): the mesoscopic model differs from the network by its finite-size approximation
(the Λ correction) and by the two discretisations, which are NEST's: the network's PSC jumps at the
start of the step its spike arrives in and its escape probability uses the hazard at the end of the
step (``gif_psc_exp``); the mesoscopic input is a constant current over that step and its hazard is
trapezoidal (``gif_pop_psc_exp``). The network therefore answers about one step (0.1 ms) earlier per
synaptic hop.

**Protocol.** Each trial runs ``t_warm`` from the initial state (discarded), then a *stationary*
segment of ``t_stat`` without input, then ``n_pulses`` epochs of ``PERIOD`` = 300 ms, each with the
thalamic-like step of the scripts (:func:`~jaxpop.presets.schwalger_2017.potjans_diesmann_thalamic_step`,
B = 15 mV into L4E, 9.4 mV L4I, 7.8 mV L6E, 3.0 mV L6I) from 60 to 90 ms of the epoch (the
scripts' :math:`t_0` + 60 … 90 ms).

* **Spectra come from the stationary segments only**: the pulses are a deterministic, periodic
  input whose response would add lines at the harmonics of 1/300 ms to every band, and the gaps
  between pulses (210 ms) are too short for the 1-Hz resolution of the spectra. Welch PSDs of the
  1-ms activity (``nperseg`` = 1024 bins, Hann, one-sided, Hz²/Hz = Hz) are computed per
  *chunk* of ``CHUNK`` ms (the chunks are independent samples: without adaptation the activity's
  correlation time is tens of ms, except for the rare bursts below), averaged over chunks and trials;
  micro/meso ratios of the band averages in the octave-like bands of :data:`jaxpop.reproduce.schwalger2017.BANDS`
  (5–10, 10–20, 20–50, 50–100, 100–200 and 5–200 Hz) with their standard errors
  (:func:`~jaxpop.reproduce.schwalger2017.band_ratios`, delta method over chunks).
* **Step response**: the trial- and epoch-averaged PSTH (1-ms bins) around the pulse, micro vs meso;
  the epochs of a trial follow each other, 210 ms after the previous pulse ended (the response
  relaxes within ~50 ms: no adaptation), and the 60 ms before each onset serve as baseline.
* **Rates**: per-population mean activity of the stationary segments, SE from 500-ms batch means.
* **Bursts** (a diagnostic): with these down-scaled populations (L5I: 106 neurons) the circuit
  occasionally fires a network-wide population burst ignited in L5 (L5E above 200 Hz for a few ms,
  then L2/3I, L4I and L6 follow, then ~10 ms of silence); a few such events in a run carry most of
  the low-frequency power of the populations with little power of their own (L2/3I). The numbers
  count the episodes in which a population's 5-ms activity exceeds ``BURST_FACTOR`` times its mean.

**Results**: the measured agreement of the two levels (rates, band ratios, and the two systematic
features diagnosed: the O(dt) latency difference of the discretisations above in 20–100 Hz, and the
rare bursts in L2/3I below 20 Hz) is recorded in ``docs/measurements.md``; the asserted numbers are in
``tests/test_reproduce_pd_meso.py``.

The computations are public functions with explicit sizes (:func:`pd_meso_comparison`,
:func:`pd_meso_numbers`) and so is the figure (:func:`plot_pd_meso`).

Units: ms, mV, Hz (activities and frequencies); PSDs in Hz²/Hz = Hz.

References: T. Schwalger, M. Deger, W. Gerstner, *Towards a theory of cortical columns: From
spiking neurons to interacting neural populations of finite size*, PLoS Comput. Biol. 13, e1005507
(2017), doi:10.1371/journal.pcbi.1005507; T. C. Potjans, M. Diesmann, *The cell-type specific
cortical microcircuit*, Cereb. Cortex 24, 785 (2014), doi:10.1093/cercor/bhs358.
"""

from __future__ import annotations

import time

import jax
import numpy as np

import jaxpop
from jaxpop.core.drives import Piecewise
from jaxpop.meso.schwalger import SchwalgerMeso
from jaxpop.micro.gif import GIFNetwork
from jaxpop.presets import schwalger_2017 as presets
from jaxpop.reproduce._common import figure as _figure
from jaxpop.reproduce._common import save_figure as _save  # 120 dpi
from jaxpop.reproduce._common import write_numbers as _write_numbers
from jaxpop.reproduce.schwalger2017 import (
    BANDS,
    C_MESO,
    C_MICRO,
    _mean_se,
    _spectrum_trials,
    band_ratios,
)

POPULATIONS = presets.PD_POPULATIONS
#: Down-scaling of Schwalger's scripts (N x 0.1, J / 0.1) and their time step (ms); activities in 1-ms bins.
SCALING, DT = 0.1, 0.1
#: Thalamic-like pulse: amplitude B (mV, L4E) on from PULSE_ON to PULSE_OFF (ms) in every epoch of PERIOD ms.
B_THALAMIC, PULSE_ON, PULSE_OFF, PERIOD = 15.0, 60.0, 90.0, 300.0
#: Spectra: Welch segments (1-ms bins) and the chunk (ms) over which one independent PSD sample is averaged.
NPERSEG, CHUNK = 1024, 4096
#: Rate standard errors from batch means of this length (ms).
BATCH = 500.0
#: A burst episode: 5-ms activity above BURST_FACTOR x the population's mean rate.
BURST_FACTOR, BURST_BIN = 8.0, 5


def pd_models(scaling: float = SCALING, dt: float = DT):
    """The microscopic network (all-to-all coupling :math:`Jp`) and its mesoscopic twin, one ``GIFParams``."""
    params = presets.potjans_diesmann_gif(scaling)
    micro = GIFNetwork(params, dt=dt, connectivity="all_to_all")
    return micro, SchwalgerMeso.from_micro(micro)


def thalamic_pulses(t_start: float, n_pulses: int, *, B: float = B_THALAMIC) -> Piecewise:
    """Drive (mV per population): ``n_pulses`` epochs of :data:`PERIOD` ms from ``t_start``, each with the
    thalamic-like step of amplitude ``B`` (L4E) from :data:`PULSE_ON` to :data:`PULSE_OFF`; zero elsewhere.

    A zero-order hold on a 30-ms grid: the pulse edges fall on step boundaries, so the network (which
    evaluates its drive at mid-step) and the mesoscopic model (at the step start) switch in the same step.
    """
    grid = 30.0
    per, on, off = (int(round(x / grid)) for x in (PERIOD, PULSE_ON, PULSE_OFF))
    epoch = np.zeros((per, len(POPULATIONS)))
    epoch[on:off] = presets.potjans_diesmann_thalamic_step(B)
    return Piecewise(np.tile(epoch, (n_pulses, 1)), grid, t0=t_start, outside="zero")


def _run(model, *, trials, t_warm, t_stat, n_pulses, seed):
    """Activity (trials, bins, pop) in 1-ms bins from t = 0 (after the warm-up) and the wall time."""
    dt = model.dt
    t_end = t_stat + n_pulses * PERIOD
    drive = thalamic_pulses(t_stat, n_pulses) if n_pulses else None
    tic = time.perf_counter()
    res = jaxpop.simulate(model, t_end, dt, t0=-t_warm, key=jax.random.PRNGKey(seed), drive=drive, trials=trials,
                          record="A", record_every=int(round(1.0 / dt)))
    A = np.asarray(res.A)
    keep = np.asarray(res.ts) > 1e-9
    return A[:, keep].astype(np.float64), time.perf_counter() - tic


def _chunks(A, length):
    """(trials, bins, pop) -> (trials * n_chunks, length, pop), the tail dropped."""
    n = A.shape[1] // length
    return A[:, : n * length].reshape(A.shape[0] * n, length, A.shape[2])


def _burst_windows(A, rate):
    """(samples, windows, pop) bool: the BURST_BIN-ms windows of A (samples, bins, pop) in which the activity
    exceeds BURST_FACTOR x ``rate`` (pop)."""
    y = _chunks(A, BURST_BIN).mean(axis=1).reshape(A.shape[0], A.shape[1] // BURST_BIN, A.shape[2])
    return y > BURST_FACTOR * np.asarray(rate)


def _bursts(A):
    """Episodes (rising edges) per population in which the BURST_BIN-ms activity exceeds BURST_FACTOR x its mean."""
    hi = _burst_windows(A, A.mean(axis=(0, 1)))
    return hi[:, 0].sum(axis=0) + (hi[:, 1:] & ~hi[:, :-1]).sum(axis=(0, 1))


def pd_meso_comparison(*, trials_micro=4, trials_meso=8, t_stat=8192.0, n_pulses=20, t_warm=300.0,
                       nperseg=NPERSEG, chunk=CHUNK, seed=0, scaling=SCALING, dt=DT):
    r"""Run the micro network and the mesoscopic model (see the module docs for the protocol).

    ``t_stat`` (ms) should be a multiple of ``chunk``; ``dt`` (ms) must divide 1 ms (the recording bin).
    Returns a dict: ``f`` (Hz); per level ``lv`` in (micro, meso): ``S_lv`` (chunks, pop, freq) PSDs,
    ``rate_batches_lv`` (batches, pop) 500-ms batch means, ``psth_lv`` (trials * n_pulses, PERIOD, pop)
    epoch activities, ``bursts_lv`` (pop) burst episodes of the stationary segments, ``chunk_burst_lv``
    (chunks,) whether a PSD chunk holds a burst (any population), ``epoch_burst_lv`` (epochs, pop) whether
    an epoch does (per population, relative to the stationary rate), ``T_lv`` (s of stationary activity),
    ``wall`` (s); the sizes.
    ``n_pulses = 0`` runs the stationary segment only.
    """
    if abs(1.0 / dt - round(1.0 / dt)) > 1e-9:
        raise ValueError(f"dt must divide the 1-ms recording bin, got dt={dt!r}")
    micro, meso = pd_models(scaling, dt)
    out = dict(N=[int(n) for n in micro.params.N], scaling=scaling, dt=dt, t_stat=t_stat, t_warm=t_warm,
               n_pulses=n_pulses, nperseg=nperseg, chunk=chunk, trials_micro=trials_micro, trials_meso=trials_meso,
               wall={})
    n_stat, per = int(round(t_stat)), int(round(PERIOD))
    for i, (lv, model, trials) in enumerate((("micro", micro, trials_micro), ("meso", meso, trials_meso))):
        A, out["wall"][lv] = _run(model, trials=trials, t_warm=t_warm, t_stat=t_stat, n_pulses=n_pulses,
                                  seed=seed + i)
        stat = A[:, :n_stat]
        chunks = _chunks(stat, chunk)
        out["f"], out["S_" + lv] = _spectrum_trials(chunks, 1.0, nperseg)
        rate = stat.mean(axis=(0, 1))
        out["chunk_burst_" + lv] = _burst_windows(chunks, rate).any(axis=(1, 2))  # (chunks,)
        out["rate_batches_" + lv] = _chunks(stat, int(round(BATCH))).mean(axis=1)
        out["psth_" + lv] = _chunks(A[:, n_stat:n_stat + n_pulses * per], per)
        out["epoch_burst_" + lv] = _burst_windows(out["psth_" + lv], rate).any(axis=1)  # (epochs, pop)
        out["bursts_" + lv] = _bursts(stat)
        out["T_" + lv] = stat.shape[0] * stat.shape[1] * 1e-3
    return out


def _peak(psth, lo, hi):
    """Maximum of the epoch-averaged PSTH in [lo, hi) ms of the epoch, its time (ms after onset) and the SE of
    that bin over epochs; per population."""
    m = psth.mean(axis=0)
    se = psth.std(axis=0, ddof=1) / np.sqrt(psth.shape[0])
    pops = np.arange(m.shape[1])
    j = lo + np.argmax(m[lo:hi], axis=0)
    return m[j, pops], (j + 0.5) - PULSE_ON, se[j, pops]


def pd_meso_numbers(d):
    """Rates (with SE), band ratios (with SE), step-response peaks and burst counts, micro vs meso, per population."""
    n = dict(populations=list(POPULATIONS), N=d["N"], scaling=d["scaling"], dt=d["dt"], bin_ms=1.0,
             trials_micro=d["trials_micro"], trials_meso=d["trials_meso"], t_stat_s=d["t_stat"] / 1e3,
             t_warm_ms=d["t_warm"], n_pulses=d["n_pulses"], nperseg=d["nperseg"], chunk_ms=d["chunk"],
             stationary_s={lv: d["T_" + lv] for lv in ("micro", "meso")}, bands_Hz=[list(b) for b in BANDS],
             pulse={"B_mV": B_THALAMIC, "on_ms": PULSE_ON, "off_ms": PULSE_OFF, "period_ms": PERIOD,
                    "amplitude_mV": presets.potjans_diesmann_thalamic_step(B_THALAMIC)})
    for lv in ("micro", "meso"):
        b = d["rate_batches_" + lv]
        n["rate_" + lv] = b.mean(axis=0)
        n["rate_" + lv + "_se"] = b.std(axis=0, ddof=1) / np.sqrt(b.shape[0])
    r1, r2, s1, s2 = n["rate_micro"], n["rate_meso"], n["rate_micro_se"], n["rate_meso_se"]
    n["rate_rel_diff"] = r1 / r2 - 1
    n["rate_rel_diff_se"] = r1 / r2 * np.hypot(s1 / r1, s2 / r2)
    ratio, se = band_ratios(d["f"], d["S_micro"], d["S_meso"])
    n["band_ratio"], n["band_ratio_se"] = ratio.T, se.T  # (pop, band)
    n["max_band_dev"] = float(np.max(np.abs(ratio - 1)))
    # diagnostic: the same without the chunks that hold a burst (in either level)
    calm = {lv: ~d["chunk_burst_" + lv] for lv in ("micro", "meso")}
    n["burst_chunks"] = {lv: int((~calm[lv]).sum()) for lv in calm}
    n["chunks"] = {lv: int(calm[lv].size) for lv in calm}
    if all(calm[lv].sum() > 1 for lv in calm):
        ratio, se = band_ratios(d["f"], d["S_micro"][calm["micro"]], d["S_meso"][calm["meso"]])
        n["band_ratio_without_bursts"], n["band_ratio_without_bursts_se"] = ratio.T, se.T
    n["max_rate_dev"] = float(np.max(np.abs(n["rate_rel_diff"])))
    on = int(round(PULSE_ON))
    for lv in ("micro", "meso"):
        n["bursts_per_100s_" + lv] = d["bursts_" + lv] / d["T_" + lv] * 100.0
        n["bursts_" + lv] = d["bursts_" + lv]
        if not d["n_pulses"]:
            continue
        p = d["psth_" + lv]
        n["step_epochs_" + lv] = int(p.shape[0])
        n["step_baseline_" + lv], n["step_baseline_" + lv + "_se"] = zip(*[_mean_se(p[:, :on, k].mean(axis=1))
                                                                           for k in range(p.shape[2])])
        n["step_pulse_mean_" + lv], n["step_pulse_mean_" + lv + "_se"] = zip(
            *[_mean_se(p[:, on:int(round(PULSE_OFF)), k].mean(axis=1)) for k in range(p.shape[2])])
        n["step_peak_" + lv], n["step_peak_time_ms_" + lv], n["step_peak_" + lv + "_se"] = _peak(p, on, on + 90)
        eb = d["epoch_burst_" + lv]
        n["epoch_burst_fraction_" + lv] = eb.mean(axis=0)
        n["epoch_burst_fraction_" + lv + "_se"] = np.sqrt(eb.mean(axis=0) * (1 - eb.mean(axis=0)) / eb.shape[0])
    if d["n_pulses"]:
        n["step_peak_ratio"] = n["step_peak_micro"] / n["step_peak_meso"]
    n["burst_definition"] = f"{BURST_BIN}-ms activity above {BURST_FACTOR:g} x the mean rate"
    n["wall"] = d["wall"]
    return n


def plot_pd_meso(d, numbers, *, fig=None):
    """Per layer (rows): PSDs of E and I, micro vs meso (log–log); PSTHs of E and I around the pulse."""
    from matplotlib.ticker import NullFormatter

    fig = fig or _figure(figsize=(12.5, 10.5), layout="constrained")
    axes = fig.subplots(4, 4)
    f = d["f"]
    sel = (f >= 1.0) & (f < 500.0)  # without the Nyquist bin (one-sided weight 1)
    t = np.arange(int(round(PERIOD))) + 0.5 - PULSE_ON
    for k, layer in enumerate(("L2/3", "L4", "L5", "L6")):
        for j, typ in enumerate("EI"):
            p = 2 * k + j
            ax = axes[k, j]
            for lv, c in (("micro", C_MICRO), ("meso", C_MESO)):
                S = d["S_" + lv][:, p]
                ax.loglog(f[sel], S.mean(axis=0)[sel], color=c, lw=0.9 if lv == "micro" else 1.1,
                          label=f"{lv}: {numbers['rate_' + lv][p]:.2f} Hz")
            ax.axhline(2 * numbers["rate_meso"][p] / d["N"][p], color="0.55", lw=0.7, ls=":")
            for lo, _ in BANDS[:-1]:
                ax.axvline(lo, color="0.88", lw=0.5, zorder=0)
            ax.axvline(BANDS[-2][1], color="0.88", lw=0.5, zorder=0)
            rr, rs = numbers["band_ratio"][p][-1], numbers["band_ratio_se"][p][-1]
            ax.set_title(f"{layer}{typ}, N = {d['N'][p]}: 5–200 Hz ratio {rr:.2f} ± {rs:.2f}", fontsize=8, loc="left")
            ax.legend(fontsize=7, frameon=False, loc="upper left")
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_ylabel("PSD [Hz]", fontsize=8)
            if k == 3:
                ax.set_xlabel("f [Hz]")
            ax = axes[k, 2 + j]
            ax.axvspan(0.0, PULSE_OFF - PULSE_ON, color="0.9", lw=0)
            for lv, c in (("micro", C_MICRO), ("meso", C_MESO)):
                psth = d["psth_" + lv][..., p]
                m, s = psth.mean(axis=0), psth.std(axis=0, ddof=1) / np.sqrt(psth.shape[0])
                ax.fill_between(t, m - s, m + s, color=c, alpha=0.25, lw=0)
                ax.plot(t, m, color=c, lw=0.8, label=f"{lv}: peak {numbers['step_peak_' + lv][p]:.1f} Hz")
            ax.set_xlim(-PULSE_ON, 150.0)
            ax.set_ylim(bottom=0)
            amp = numbers["pulse"]["amplitude_mV"][p]
            ax.set_title(f"{layer}{typ}: PSTH, pulse {amp:.1f} mV", fontsize=8, loc="left")
            ax.legend(fontsize=7, frameon=False, loc="upper right")
            ax.set_ylabel("$A_N$ [Hz]", fontsize=8)
            if k == 3:
                ax.set_xlabel("time after pulse onset [ms]")
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    fig.suptitle(
        f"GIF Potjans–Diesmann microcircuit (N × {d['scaling']:g}, {sum(d['N'])} neurons, all-to-all $Jp$) vs its "
        f"8-population mesoscopic model; dt = {d['dt']} ms, 1-ms bins.\nLeft: stationary PSDs "
        f"({numbers['stationary_s']['micro']:.0f} s micro, {numbers['stationary_s']['meso']:.0f} s meso; dotted: "
        f"$2r/N$). Right: trial-averaged response to the thalamic-like pulse (grey, {B_THALAMIC:g} mV into L4E), "
        f"± SE over {numbers['step_epochs_micro']} / {numbers['step_epochs_meso']} epochs",
        fontsize=9)
    return fig


def meso(outdir, *, quick=False) -> dict:
    """``potjans-diesmann-meso``: micro vs meso GIF microcircuit, PSDs per population and the thalamic pulse."""
    tic = time.perf_counter()
    if quick:
        # ~30 s: 2 trials per level, 1.5 s of stationary activity each (3 PSD chunks of 512 ms), 4 pulses
        d = pd_meso_comparison(trials_micro=2, trials_meso=2, t_stat=1536.0, n_pulses=4, t_warm=200.0,
                               nperseg=256, chunk=512)
    else:
        # a few minutes on 2 cores: 33 s (micro) and 66 s (meso) of stationary activity, 80 / 160 pulses;
        # the acceptance test (tests/test_reproduce_pd_meso.py) runs 4x / 4x longer
        d = pd_meso_comparison(trials_micro=4, trials_meso=8, t_stat=8192.0, n_pulses=20)
    numbers = pd_meso_numbers(d)
    _save(plot_pd_meso(d, numbers), outdir, "potjans_diesmann_meso.png")
    numbers.update(quick=quick, seconds=time.perf_counter() - tic)
    _write_numbers(outdir, "potjans_diesmann_meso.json", numbers)
    return numbers
