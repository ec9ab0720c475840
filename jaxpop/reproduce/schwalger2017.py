r"""Seed demonstrations of the mesoscopic GIF population model: ``jaxpop reproduce meso-*``.

The lecture (Gerstner, Deger, Schmutz, Löcherbach; seed ``000``) and Schwalger, Deger & Gerstner
(2017) show four things about a population of :math:`N` GIF neurons with escape noise and its
mesoscopic description (:class:`jaxpop.meso.SchwalgerMeso`); each is a target here:

* ``meso-step`` (:func:`step`): microscopic network (:class:`jaxpop.micro.GIFNetwork`) vs the
  mesoscopic model with the :math:`\Lambda` correction vs the naive finite-size extension
  (:math:`\Lambda = 0`) vs the macroscopic integral equation (:math:`N\to\infty`) for a step of
  input into an uncoupled adapting population;
* ``meso-mass`` (:func:`mass`): conservation of neural mass — the naive model's mass
  :math:`a_0 = \int S(t|\hat t) A_N(\hat t) d\hat t` is a martingale that is absorbed at
  :math:`r = 0`, while the :math:`\Lambda` model's mass relaxes to 1; hitting times against the
  Cox–Ingersoll–Ross (Feller) heuristic of the lecture;
* ``meso-bistable`` (:func:`bistable`): finite-size noise makes a bistable excitatory population
  hop between its low and high states; dwell-time histograms, micro vs meso;
* ``meso-spectra`` (:func:`spectra`): power spectra of the population activity, micro vs meso,
  for the E–I network with adaptation (NEST's ``gif_pop_psc_exp`` example,
  ``pynest/examples/gif_pop_psc_exp.py``) and the mesoscopic 8-population Potjans–Diesmann
  circuit (Schwalger's ``PDmodel_*`` scripts, ``schwalger/mesopopdyn_microcircuit``).

Every target ``name(outdir, *, quick=False) -> dict`` writes ``schwalger2017_<name>.png`` and a JSON
of its numbers into ``outdir``. ``quick=True`` shrinks trials and durations so that a target runs in
seconds (tests, CI, the notebook's small mode). The computations are public functions with explicit
sizes (:func:`step_comparison`, :func:`mass_hitting`, :func:`bistable_dwell`, :func:`ei_spectra`,
:func:`pd_spectra`) and so are the plots, for ``notebooks/02_mesoscopic_populations.ipynb``.

Units: ms, mV, Hz (activities), seconds on the plots' time axes.

References: T. Schwalger, M. Deger, W. Gerstner, *Towards a theory of cortical columns: From
spiking neurons to interacting neural populations of finite size*, PLoS Comput. Biol. 13, e1005507
(2017), doi:10.1371/journal.pcbi.1005507; V. Schmutz, E. Löcherbach, T. Schwalger, *On a finite-size
neuronal population equation*, SIAM J. Appl. Dyn. Syst. 22, 996 (2023), doi:10.1137/21M1445041.
"""

from __future__ import annotations

import time
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

import jaxpop
from jaxpop.analysis.rates import nrmse, smooth_rate
from jaxpop.analysis.spectra import power_spectrum
from jaxpop.core.gif_params import GIFParams
from jaxpop.core.model import AbstractModel
from jaxpop.meso.schwalger import SchwalgerMeso
from jaxpop.micro.gif import GIFNetwork
from jaxpop.presets import schwalger_2017 as presets
from jaxpop.reproduce._common import figure as _figure
from jaxpop.reproduce._common import save_figure as _save  # 120 dpi
from jaxpop.reproduce._common import write_numbers as _write_numbers

#: Colours: microscopic black, Λ model red, naive blue, N -> infinity grey dashed.
C_MICRO, C_MESO, C_NAIVE, C_MF = "k", "tab:red", "tab:blue", "0.45"


# ============================================================================================
# shared helpers
# ============================================================================================


def renewal_rate(h, *, tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=2.0, V_T_star=15.0, V_reset=0.0,
                 ds=0.02, t_max=None):
    r"""Stationary rate (Hz) of a GIF neuron without adaptation at constant input potential ``h`` (mV).

    Renewal theory (the stationary rate of Schwalger et al. 2017, see the module references): after
    the refractory period :math:`u(s) = h + (u_r - h)e^{-s/\tau_m}`, hazard
    :math:`\rho(s) = c\,e^{(u(s) - u_{th})/\Delta_u}`, survivor :math:`S = e^{-\int\rho}` and
    :math:`r_0 = 1/(t_{ref} + \int_0^\infty S\,ds)`. Trapezoid rule on ``s`` up to ``t_max`` (default
    :math:`20\tau_m`, where :math:`u = h` to :math:`e^{-20}`), plus the exact exponential tail
    :math:`S(t_{max})/\rho(t_{max})`. ``h`` may be an array.
    """
    h = np.asarray(h, dtype=float)
    if h.size > 64:  # chunks, to bound the memory (64 x t_max/ds floats)
        flat = h.ravel()
        kw = dict(tau_m=tau_m, t_ref=t_ref, lambda_0=lambda_0, Delta_V=Delta_V, V_T_star=V_T_star,
                  V_reset=V_reset, ds=ds, t_max=t_max)
        return np.concatenate([renewal_rate(flat[i:i + 64], **kw) for i in range(0, flat.size, 64)]).reshape(h.shape)
    h = h[..., None]
    t_max = 20.0 * tau_m if t_max is None else t_max
    s = np.arange(0.0, t_max + ds / 2, ds)
    u = h + (V_reset - h) * np.exp(-s / tau_m)
    lam = lambda_0 * 1e-3 * np.exp((u - V_T_star) / Delta_V)  # 1/ms
    cum = np.concatenate([np.zeros(h.shape), np.cumsum(0.5 * (lam[..., 1:] + lam[..., :-1]) * ds, axis=-1)], axis=-1)
    S = np.exp(-cum)
    mean_isi = t_ref + np.sum(0.5 * (S[..., 1:] + S[..., :-1]) * ds, axis=-1) + S[..., -1] / lam[..., -1]
    return 1e3 / mean_isi


def _window_mean(A, ts, lo, hi):
    sel = (ts > lo) & (ts <= hi)
    return A[..., sel].mean(axis=-1)


def _mean_se(x):
    """Mean and standard error over the first axis (trials)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    return float(np.mean(x)), float(np.std(x, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


# ============================================================================================
# meso-step: micro vs Λ vs naive vs N -> infinity for a step stimulus
# ============================================================================================

#: Step of Schwalger's ``uncoupled_py/lif_adap.py`` (``schwalger/mesopopdyn_gif``, the code of Schwalger et al.
#: 2017): +15 mV at 0.7 s into the uncoupled adapting population (N = 500).
STEP_AMPLITUDE, STEP_ON = 15.0, 700.0


def step_comparison(*, trials=20, t0=-2000.0, t_end=3500.0, dt_micro=0.2, dt_meso=1.0, seed=0,
                    params: GIFParams | None = None):
    r"""Simulate the four levels of description under the step of Schwalger's ``lif_adap.py``.

    Population: :func:`jaxpop.presets.schwalger_2017.uncoupled_adapting` (N = 500, one adaptation
    kernel with :math:`\tau_\theta` = 1 s), step of +15 mV at 0.7 s. The run starts at ``t0 < 0``
    so that the slow adaptation has settled before the step (the time before 0 is discarded).
    Microscopic network at ``dt_micro`` (0.2 ms, as Schwalger's script), mesoscopic models at
    ``dt_meso`` (1 ms); all activities are recorded in 1 ms bins.

    Returns a dict of arrays: ``ts`` (ms, bin ends), ``micro``, ``meso``, ``naive`` (trials, time),
    ``mf`` (time), ``mass_meso``, ``mass_naive`` (trials, time), and the sizes.
    """
    P = presets.uncoupled_adapting() if params is None else params
    drive = jaxpop.Step(STEP_AMPLITUDE, STEP_ON)
    key = jax.random.PRNGKey(seed)
    k_micro, k_meso, k_naive = jax.random.split(key, 3)
    out = dict(N=int(np.asarray(P.N)[0]), trials=trials, t0=t0, t_end=t_end, dt_micro=dt_micro, dt_meso=dt_meso)
    wall = {}
    tic = time.perf_counter()
    net = GIFNetwork(P, dt=dt_micro, connectivity="all_to_all")
    res = jaxpop.simulate(net, t_end, dt_micro, t0=t0, key=k_micro, drive=drive, trials=trials, record="A",
                          record_every=int(round(1.0 / dt_micro)))
    ts = np.asarray(res.ts)
    keep = ts > 0
    out["micro"] = np.asarray(res.A)[:, keep, 0]
    wall["micro"] = time.perf_counter() - tic
    every = int(round(1.0 / dt_meso))
    for name, variant, k in (("meso", "lambda", k_meso), ("naive", "naive", k_naive), ("mf", "mean_field", key)):
        tic = time.perf_counter()
        model = SchwalgerMeso(P, dt=dt_meso, variant=variant)
        res = jaxpop.simulate(model, t_end, dt_meso, t0=t0, key=k, drive=drive, record=("A", "mass"),
                              trials=None if variant == "mean_field" else trials, record_every=every)
        keep_m = np.asarray(res.ts) > 0
        out[name] = np.asarray(res.A)[..., keep_m, 0]
        if variant != "mean_field":
            out["mass_" + name] = np.asarray(res.mass)[..., keep_m, 0]
        wall[name] = time.perf_counter() - tic
    out["ts"] = ts[keep]
    out["wall"] = wall
    return out


def step_numbers(d, *, before=(200.0, 700.0), after=None, smooth=20.0):
    r"""Numbers of a :func:`step_comparison` run.

    * ``rate_before`` / ``rate_after``: mean activity (Hz) per level in the windows ``before`` and
      ``after`` (default: the last second, starting at least 0.3 s after the step), with ``*_se`` the standard error over trials;
    * ``nrmse``: NRMSE (RMS difference over the SD of the micro trace) of each level's
      trial-averaged activity, smoothed over ``smooth`` ms, against the micro trial average, over
      :math:`0 < t \le T`;
    * ``var_1ms`` / ``var_100ms``: within-trial variance of the activity in 1 ms bins and of its
      100 ms running average (the finite-size fluctuations) in the ``after`` window, averaged over
      trials (Hz²); ``sd_window_rate``: SD across trials of the window mean rate (Hz);
    * ``mass_mean`` / ``mass_sd``: mean and SD over trials of the neural mass at the end of the run
      (Λ model and naive model).
    """
    ts = d["ts"]
    after = (max(STEP_ON + 300.0, d["t_end"] - 1000.0), d["t_end"]) if after is None else after
    levels = ("micro", "meso", "naive", "mf")
    n = {"rate_before": {}, "rate_before_se": {}, "rate_after": {}, "rate_after_se": {}, "nrmse": {},
         "var_1ms": {}, "var_100ms": {}, "sd_window_rate": {}}
    avg = {}
    for lv in levels:
        A = np.atleast_2d(d[lv])
        avg[lv] = smooth_rate(A.mean(axis=0), 1.0, smooth)
        for key, win in (("rate_before", before), ("rate_after", after)):
            m = _window_mean(A, ts, *win)
            n[key][lv], n[key + "_se"][lv] = _mean_se(m)
        if lv != "mf":
            sel = (ts > after[0]) & (ts <= after[1])
            n["var_1ms"][lv] = float(np.mean(np.var(A[:, sel], axis=1)))
            n["var_100ms"][lv] = float(np.mean(np.var(smooth_rate(A[:, sel], 1.0, 100.0, axis=1), axis=1)))
            n["sd_window_rate"][lv] = float(np.std(_window_mean(A, ts, *after), ddof=1))
    for lv in ("meso", "naive", "mf"):
        n["nrmse"][lv] = float(nrmse(avg[lv], avg["micro"]))
    n["mass_mean"] = {lv: float(np.mean(d["mass_" + lv][:, -1])) for lv in ("meso", "naive")}
    n["mass_sd"] = {lv: float(np.std(d["mass_" + lv][:, -1], ddof=1)) for lv in ("meso", "naive")}
    n["windows_ms"] = {"before": list(before), "after": list(after)}
    n["smooth_ms"] = smooth
    return n, avg


def plot_step(d, numbers, avg, *, fig=None, show=(0.0, None)):
    """The lecture's comparison figure: single trials of micro / Λ / naive, trial averages of all
    four levels, and the neural mass of the Λ and naive trials."""
    fig = fig or _figure(figsize=(8.5, 9.0), layout="constrained")
    axes = fig.subplots(5, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1, 1, 1.6, 1.2]})
    ts = d["ts"] / 1e3
    stop = ts[-1] if show[1] is None else show[1]
    rows = (("micro", C_MICRO, f"microscopic (GIF network, N = {d['N']})"),
            ("meso", C_MESO, "mesoscopic (Λ correction)"),
            ("naive", C_NAIVE, "naive mesoscopic (Λ = 0)"))
    top = max(np.percentile(d[lv][0], 99.9) for lv, _, _ in rows)
    for ax, (lv, c, lab) in zip(axes[:3], rows):
        ax.plot(ts, d[lv][0], color=c, lw=0.5)
        ax.plot(ts, d["mf"], color=C_MF, lw=1.0, ls="--")
        ax.set_ylim(0, top * 1.05)
        ax.set_ylabel("$A_N$ [Hz]")
        ax.set_title(f"{lab}: one trial (1 ms bins); dashed: $N\\to\\infty$", fontsize=8, loc="left")
    ax = axes[3]
    for lv, c, lab in (("micro", C_MICRO, "micro"), ("meso", C_MESO, "meso Λ"), ("naive", C_NAIVE, "naive"),
                       ("mf", C_MF, "$N\\to\\infty$")):
        ls = "--" if lv == "mf" else "-"
        extra = "" if lv == "micro" else f" (NRMSE {numbers['nrmse'][lv]:.3f})"
        ax.plot(ts, avg[lv], color=c, lw=1.0, ls=ls, label=lab + extra)
    ax.set_ylabel("$\\langle A\\rangle$ [Hz]")
    ax.set_title(f"average over {d['trials']} trials, smoothed {numbers['smooth_ms']:.0f} ms", fontsize=8, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax = axes[4]
    for j in range(min(8, d["mass_meso"].shape[0])):
        ax.plot(ts, d["mass_meso"][j], color=C_MESO, lw=0.6, alpha=0.8, label="Λ" if j == 0 else None)
        ax.plot(ts, d["mass_naive"][j], color=C_NAIVE, lw=0.6, alpha=0.8, label="naive" if j == 0 else None)
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_ylabel("mass $a_0$")
    ax.set_xlabel("time [s]")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.set_title("neural mass $\\int S(t|\\hat t)A_N(\\hat t)d\\hat t$ of 8 trials", fontsize=8, loc="left")
    for ax in axes:
        ax.axvline(STEP_ON / 1e3, color="0.7", lw=0.6, ls=":")
    axes[-1].set_xlim(show[0], stop)
    fig.suptitle("Step stimulus (+15 mV at 0.7 s), uncoupled adapting GIF population: micro vs meso vs naive "
                 "vs $N\\to\\infty$", fontsize=9)
    return fig


def step(outdir, *, quick=False) -> dict:
    """``meso-step``: micro vs Λ vs naive vs N -> infinity for a step stimulus (Schwalger's ``lif_adap.py``)."""
    tic = time.perf_counter()
    if quick:
        d = step_comparison(trials=3, t0=-300.0, t_end=1300.0, dt_micro=0.5)
    else:
        d = step_comparison(trials=20, t0=-2000.0, t_end=3500.0)
    numbers, avg = step_numbers(d)
    fig = plot_step(d, numbers, avg)
    _save(fig, outdir, "schwalger2017_step.png")
    numbers.update(quick=quick, N=d["N"], trials=d["trials"], dt_micro=d["dt_micro"], dt_meso=d["dt_meso"],
                   wall=d["wall"], seconds=time.perf_counter() - tic)
    _write_numbers(outdir, "schwalger2017_step.json", numbers)
    return numbers


# ============================================================================================
# meso-mass: conservation of neural mass, hitting time of r = 0
# ============================================================================================


class HittingTime(AbstractModel):
    r"""A :class:`~jaxpop.meso.SchwalgerMeso` that also records the first time its expected
    activity vanishes, :math:`\tau = \inf\{t: \bar n(t) \le 0\}` (the lecture's :math:`r(t) = 0`),
    and the total time spent at :math:`\bar n \le 0`.

    Observables: those of the wrapped model (``A``, ``mass``, ...), ``t_hit`` (ms; ``inf`` before
    the first hit) and ``t_zero`` (ms at :math:`\bar n \le 0` so far), per population.
    """

    model: SchwalgerMeso

    accumulated: ClassVar[tuple[str, ...]] = ("A", "A_bar")
    summed: ClassVar[tuple[str, ...]] = ("n",)
    default_record: ClassVar[tuple[str, ...]] = ("mass", "t_hit", "t_zero")

    @property
    def drive_shape(self):
        return self.model.drive_shape

    def check_dt(self, dt):
        self.model.check_dt(dt)

    def observable_dims(self):
        dims = dict(self.model.observable_dims())
        dims.update(t_hit=("population",), t_zero=("population",))
        return dims

    def init(self, key):
        n_pop = self.model.params.n_pop
        return self.model.init(key), jnp.full((n_pop,), jnp.inf), jnp.zeros(n_pop)

    def step(self, state, t, dt, drive, key):
        s, t_hit, t_zero = state
        s = self.model.step(s, t, dt, drive, key)
        zero = self.model.observe(s)["A_bar"] <= 0  # expected count of the step just taken
        t_hit = jnp.where(jnp.isinf(t_hit) & zero, t + dt, t_hit)
        return s, t_hit, t_zero + jnp.where(zero, dt, 0.0)

    def observe(self, state):
        s, t_hit, t_zero = state
        return {**self.model.observe(s), "t_hit": t_hit, "t_zero": t_zero}


def mass_params(N: int = 20, mu: float = 12.0) -> GIFParams:
    """Uncoupled GIF population without adaptation (Schwalger's ``lif_adap.py`` otherwise): N neurons, μ = 12 mV."""
    return GIFParams(N, mu=mu, tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=2.0, V_T_star=10.0, V_reset=0.0,
                     J=0.0, p=1.0, delay=1.0)


def cir_extinction(t, *, x0, r0, N):
    r"""Extinction probability of the Feller (CIR with :math:`\Lambda = 0`) diffusion
    :math:`\dot a = \sigma\sqrt a\,\xi`, :math:`\langle\xi(t)\xi(t')\rangle = \delta(t-t')`, from
    :math:`a(0) = x_0`: :math:`P(a(t) = 0) = \exp[-2x_0/(\sigma^2 t)]`, with
    :math:`\sigma^2 = r_0/N` (mass noise :math:`\sqrt{r/N}\xi` and :math:`r \approx r_0 a`).
    ``t`` in s, ``r0`` in Hz. (The lecture writes :math:`e^{-x/(\sigma^2 t)}`; the factor 2 belongs to the
    δ-normalised white noise used here — the lecture's form is returned by :func:`cir_lecture`.)
    """
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(t > 0, np.exp(-2.0 * x0 * N / (r0 * np.where(t > 0, t, 1.0))), 0.0)


def cir_lecture(t, *, x0, r0, N):
    r"""The lecture's form :math:`e^{-x_0/(\sigma^2 t)}`, :math:`\sigma^2 = r_0/N` (for comparison)."""
    t = np.asarray(t, dtype=float)
    return np.where(t > 0, np.exp(-x0 * N / (r0 * np.where(t > 0, t, 1.0))), 0.0)


def mass_hitting(*, N=20, trials=256, t_end=20_000.0, dt=1.0, record_ms=20.0, seed=0):
    r"""Naive (:math:`\Lambda = 0`) vs Λ model with the lecture's Gaussian counts
    :math:`A_N = r + \sqrt{r(1 - r\,dt)/(N\,dt)}\,\xi` (``counts='gaussian'``; the expected count is rectified,
    :math:`p = [\bar n/N]_+`, so :math:`r \le 0` gives no spikes and no noise: the absorbing state of
    the lecture's :math:`[\cdot]_+`), ``trials`` vmapped runs of ``t_end`` ms.

    Returns ``ts`` (s), ``mass_naive``, ``mass_meso`` (trials, time), ``t_hit_naive``, ``t_hit_meso``
    (s, ``inf`` if never), ``t_zero_naive`` (s at :math:`r = 0`), ``rate_meso`` (Hz, mean activity of the
    Λ model), ``r0`` (renewal rate by quadrature, Hz) and the sizes.
    """
    P = mass_params(N)
    out = dict(N=N, trials=trials, t_end=t_end, dt=dt)
    every = int(round(record_ms / dt))
    key = jax.random.PRNGKey(seed)
    wall = {}
    for name, variant, k in (("naive", "naive", jax.random.fold_in(key, 1)), ("meso", "lambda", jax.random.fold_in(key, 2))):
        tic = time.perf_counter()
        model = HittingTime(SchwalgerMeso(P, dt=dt, variant=variant, counts="gaussian"))
        res = jaxpop.simulate(model, t_end, dt, key=k, trials=trials, record=("mass", "t_hit", "t_zero", "A"),
                              record_every=every)
        out["mass_" + name] = np.asarray(res.mass)[..., 0]
        out["t_hit_" + name] = np.asarray(res.t_hit)[:, -1, 0] / 1e3
        out["t_zero_" + name] = np.asarray(res.t_zero)[:, -1, 0] / 1e3
        out["rate_" + name] = float(np.mean(np.asarray(res.A)))
        out["A_" + name] = np.asarray(res.A)[:4, :, 0]
        wall[name] = time.perf_counter() - tic
    out["ts"] = np.asarray(res.ts) / 1e3
    out["r0"] = float(renewal_rate(P.mu[0], tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=2.0, V_T_star=10.0))
    out["wall"] = wall
    return out


def mass_numbers(d):
    """Numbers of a :func:`mass_hitting` run (see :func:`mass`)."""
    T = d["t_end"] / 1e3
    th = d["t_hit_naive"]
    hit = np.isfinite(th)
    n = dict(N=d["N"], trials=d["trials"], T_s=T, r0_renewal=d["r0"], rate_meso=d["rate_meso"])
    n["frac_collapsed_naive"] = float(hit.mean())
    n["frac_collapsed_naive_se"] = float(np.sqrt(hit.mean() * (1 - hit.mean()) / len(th)))
    n["frac_collapsed_meso"] = float(np.isfinite(d["t_hit_meso"]).mean())
    # quantiles of the hitting time over all trials (inf where that fraction did not collapse by T)
    q = [float(np.quantile(np.where(hit, th, np.inf), x, method="inverted_cdf")) for x in (0.25, 0.5, 0.75)]
    n["t_hit_median_s"], n["t_hit_quartiles_s"] = q[1], [q[0], q[2]]
    n["t_hit_mean_collapsed_s"] = float(th[hit].mean()) if hit.any() else float("nan")
    # absorption: fraction of the time after the first hit spent at r = 0
    after = T - th[hit]
    n["frac_time_at_zero_after_hit"] = float(np.sum(d["t_zero_naive"][hit]) / np.sum(after)) if hit.any() else float("nan")
    # the CIR / Feller heuristic with r0 from renewal theory and from the Λ model's mean rate
    n["cir_P_collapse_T"] = float(cir_extinction(T, x0=1.0, r0=d["r0"], N=d["N"]))
    n["cir_lecture_P_collapse_T"] = float(cir_lecture(T, x0=1.0, r0=d["r0"], N=d["N"]))
    n["cir_median_s"] = float(2 * d["N"] / (d["r0"] * np.log(2)))
    tgrid = np.linspace(0.0, T, 401)[1:]
    emp = np.mean(th[None, :] <= tgrid[:, None], axis=1)
    n["cir_ks_distance"] = float(np.max(np.abs(emp - cir_extinction(tgrid, x0=1.0, r0=d["r0"], N=d["N"]))))
    m = d["mass_meso"][:, d["ts"] > 1.0]  # after the initial relaxation (1 s)
    n["mass_meso_mean"] = float(m.mean())
    n["mass_meso_sd"] = float(m.std())
    n["mass_meso_min"] = float(m.min())
    n["mass_naive_sd_end"] = float(np.std(d["mass_naive"][:, -1]))
    n["mass_naive_mean_end"] = float(np.mean(d["mass_naive"][:, -1]))
    return n


def plot_mass(d, numbers, *, fig=None):
    """Neural mass of naive and Λ trials, hitting-time distribution, its CDF vs the CIR heuristic."""
    fig = fig or _figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(2, 2)
    ts = d["ts"]
    ax = axes[0, 0]
    for j in range(min(12, d["trials"])):
        ax.plot(ts, d["mass_meso"][j], color=C_MESO, lw=0.5, alpha=0.6)
    for j in range(min(12, d["trials"])):
        ax.plot(ts, d["mass_naive"][j], color=C_NAIVE, lw=0.7, alpha=0.9)
    ax.axhline(1.0, color="k", lw=0.5)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_ylim(-0.2, max(3.0, 1.1 * float(np.max(d["mass_meso"][:12]))))
    ax.set_xlabel("time [s]")
    ax.set_ylabel("neural mass $a_0$")
    ax.set_title(f"(a) 12 trials, N = {d['N']}: naive (blue) random walk, absorbed at 0;\n"
                 f"Λ model (red) mean {numbers['mass_meso_mean']:.3f}, SD {numbers['mass_meso_sd']:.3f}", fontsize=8)
    ax = axes[0, 1]
    for j in range(min(3, d["A_naive"].shape[0])):
        ax.plot(ts, smooth_rate(d["A_naive"][j], ts[1] - ts[0], 0.2), color=C_NAIVE, lw=0.7)
        ax.plot(ts, smooth_rate(d["A_meso"][j], ts[1] - ts[0], 0.2), color=C_MESO, lw=0.7)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("$A_N$ [Hz] (200 ms average)")
    ax.set_title(f"(b) activity of 3 trials; renewal rate $r_0$ = {d['r0']:.2f} Hz", fontsize=8)
    th = d["t_hit_naive"]
    hit = np.isfinite(th)
    T = d["t_end"] / 1e3
    ax = axes[1, 0]
    ax.hist(th[hit], bins=np.linspace(0, T, 41), color=C_NAIVE, alpha=0.8)
    ax.set_xlabel("hitting time τ of $r = 0$ [s]")
    ax.set_ylabel("trials")
    ax.set_title(f"(c) naive: {hit.sum()}/{len(th)} trials collapsed by T = {T:.0f} s; Λ model: "
                 f"{int(np.isfinite(d['t_hit_meso']).sum())}", fontsize=8)
    ax = axes[1, 1]
    tg = np.linspace(0, T, 400)
    ax.plot(np.sort(th[hit]), np.arange(1, hit.sum() + 1) / len(th), color=C_NAIVE, lw=1.5,
            label="naive model (empirical)")
    ax.plot(tg, cir_extinction(tg, x0=1.0, r0=d["r0"], N=d["N"]), "k--", lw=1,
            label="Feller/CIR $e^{-2N/(r_0 t)}$")
    ax.plot(tg, cir_lecture(tg, x0=1.0, r0=d["r0"], N=d["N"]), "k:", lw=1, label="lecture $e^{-N/(r_0 t)}$")
    ax.axhline(numbers["frac_collapsed_meso"], color=C_MESO, lw=1.2, label="Λ model")
    ax.set_xlabel("t [s]")
    ax.set_ylabel("P(τ ≤ t)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.set_title(f"(d) collapse probability; KS distance to Feller {numbers['cir_ks_distance']:.3f}", fontsize=8)
    fig.suptitle("Conservation of neural mass: naive finite-size model (Λ = 0) vs Λ model, Gaussian counts",
                 fontsize=9)
    return fig


def mass(outdir, *, quick=False) -> dict:
    r"""``meso-mass``: hitting time of :math:`r = 0` in the naive model, mass of the Λ model.

    Numbers: ``frac_collapsed_naive`` (fraction of trials with :math:`r = 0` by T, ± binomial SE),
    ``frac_collapsed_meso`` (the Λ model), hitting-time median / quartiles / mean over collapsed
    trials, ``frac_time_at_zero_after_hit`` (absorption), the Feller/CIR prediction
    :math:`e^{-2N/(r_0T)}` and the lecture's form, the KS distance between the empirical hitting-time
    CDF and the Feller one, the Λ model's mass mean / SD / min (after 1 s), and the naive mass SD at T.
    """
    tic = time.perf_counter()
    d = mass_hitting(trials=64, t_end=5_000.0) if quick else mass_hitting(trials=256, t_end=20_000.0)
    numbers = mass_numbers(d)
    _save(plot_mass(d, numbers), outdir, "schwalger2017_mass.png")
    numbers.update(quick=quick, wall=d["wall"], seconds=time.perf_counter() - tic)
    _write_numbers(outdir, "schwalger2017_mass.json", numbers)
    return numbers


# ============================================================================================
# meso-bistable: finite-size noise makes a bistable population hop
# ============================================================================================

#: One excitatory population: w = tau_m J p N = 0.5 mV/Hz of recurrent feedback; otherwise as NEST's
#: gif_pop_psc_exp example (no adaptation).
BISTABLE = dict(N=100, mu=11.5, w=0.5, Delta_V=2.0, tau_m=20.0, t_ref=4.0, lambda_0=10.0, V_T_star=15.0,
                V_reset=0.0, tau_syn=3.0, delay=1.0)


def bistable_params(N=None, mu=None) -> GIFParams:
    r"""The bistable excitatory population: ``BISTABLE`` with all-to-all coupling
    :math:`J = w/(\tau_m N)` (so that the mean-field feedback :math:`\tau_m J p N A = w A` does not depend on N)."""
    b = dict(BISTABLE)
    N = b["N"] if N is None else N
    mu = b["mu"] if mu is None else mu
    J = b["w"] / (b["tau_m"] * 1e-3 * N)
    return GIFParams(N, mu=mu, tau_m=b["tau_m"], t_ref=b["t_ref"], lambda_0=b["lambda_0"], Delta_V=b["Delta_V"],
                     V_T_star=b["V_T_star"], V_reset=b["V_reset"], J=J, p=1.0, tau_syn_ex=b["tau_syn"],
                     delay=b["delay"])


def bistable_fixed_points(mu=None, w=None):
    r"""Fixed points of the macroscopic (N -> infinity, renewal) equation :math:`A = \Phi(\mu + wA)`
    (the synaptic filter and delay do not move them); :math:`\Phi` = :func:`renewal_rate`.
    Returns (A_low, A_unstable, A_high) in Hz."""
    b = BISTABLE
    mu = b["mu"] if mu is None else mu
    w = b["w"] if w is None else w
    kw = {k: b[k] for k in ("tau_m", "t_ref", "lambda_0", "Delta_V", "V_T_star", "V_reset")}
    A = np.linspace(0.0, 1e3 / b["t_ref"] * 0.999, 1001)
    g = renewal_rate(mu + w * A, **kw) - A
    idx = np.where(np.diff(np.sign(g)) != 0)[0]
    roots = []
    for i in idx:  # refine each bracket by bisection
        lo, hi = A[i], A[i + 1]
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            if np.sign(renewal_rate(mu + w * mid, **kw) - mid) == np.sign(g[i]):
                lo = mid
            else:
                hi = mid
        roots.append(0.5 * (lo + hi))
    if len(roots) != 3:
        raise ValueError(f"mu={mu}, w={w}: expected three fixed points (bistability), found {len(roots)}")
    return tuple(float(r) for r in roots)


def classify_states(A_smooth, lo_thr, hi_thr):
    """Two-state classification with hysteresis: enter 'high' when the smoothed activity exceeds
    ``hi_thr``, 'low' when it falls below ``lo_thr``; in between, keep the previous state.
    The state before the first crossing is 'low' if the first sample is below the midpoint.
    ``A_smooth``: (trials, time). Returns a bool array (True = high)."""
    A = np.asarray(A_smooth)
    state = np.empty(A.shape, dtype=bool)
    cur = A[:, 0] > 0.5 * (lo_thr + hi_thr)
    for k in range(A.shape[1]):
        cur = np.where(A[:, k] > hi_thr, True, np.where(A[:, k] < lo_thr, False, cur))
        state[:, k] = cur
    return state


def dwell_times(state, dt):
    """Durations of the complete episodes of each state (the first and last episode of every
    trial are censored and dropped). Returns (low, high) arrays, in units of ``dt``."""
    low, high = [], []
    for s in np.asarray(state):
        edges = np.flatnonzero(np.diff(s.astype(np.int8))) + 1
        for a, b in zip(edges[:-1], edges[1:]):
            (high if s[a] else low).append((b - a) * dt)
    return np.asarray(low), np.asarray(high)


def bistable_dwell(*, trials=64, t_end=40_000.0, dt=0.5, smooth=50.0, band=0.4, alt_band=0.25, seed=0, N=None):
    r"""Micro (all-to-all :class:`~jaxpop.micro.GIFNetwork`) and meso (Λ model, binomial counts) runs of the
    bistable population, classified into low / high states.

    Threshold: the activity is smoothed over ``smooth`` ms (2.5 :math:`\tau_m`: long against the
    transition, which takes a few :math:`\tau_m`, short against the dwell times of seconds) and
    classified with hysteresis around the midpoint :math:`A_m = (A_{low} + A_{high})/2` of the two
    stable mean-field fixed points: 'high' above :math:`A_m + b(A_{high} - A_{low})`, 'low' below
    :math:`A_m - b(A_{high} - A_{low})`, ``b = band``. With the default ``b = 0.4`` the thresholds are
    *core sets* (as in transition-path theory / milestoning): a state is entered only when the activity
    comes within 10 % of the gap of its fixed point, so a fluctuation that leaves an attractor and
    falls back (a failed transition, which the unstable fixed point alone would not separate in this
    non-1-D system) is not counted; a transition is counted once it has reached the other attractor.
    The 50-ms counting noise (SD :math:`\sqrt{A/(N\cdot 50\,{\rm ms})}`: 0.8 Hz in the low, 2.6 Hz
    in the high state at N = 100) is small against the distance of each core threshold from the
    other state. The dwell times with ``b = alt_band`` (0.25: thresholds a quarter and three quarters
    of the way) are reported as a sensitivity check.
        """
    P = bistable_params(N)
    A_lo, A_u, A_hi = bistable_fixed_points()
    mid, gap = 0.5 * (A_lo + A_hi), A_hi - A_lo
    thr = (mid - band * gap, mid + band * gap)
    every = max(1, int(round(1.0 / dt)))
    key = jax.random.PRNGKey(seed)
    out = dict(N=int(np.asarray(P.N)[0]), trials=trials, t_end=t_end, dt=dt, smooth=smooth, band=band, alt_band=alt_band,
               fixed_points=(A_lo, A_u, A_hi), thresholds=thr, wall={})
    models = (("micro", GIFNetwork(P, dt=dt, connectivity="all_to_all")), ("meso", SchwalgerMeso(P, dt=dt)))
    for i, (name, model) in enumerate(models):
        tic = time.perf_counter()
        res = jaxpop.simulate(model, t_end, dt, key=jax.random.fold_in(key, i), trials=trials, record="A",
                              record_every=every)
        A = np.asarray(res.A)[..., 0]
        rec = float(res.bin_width)
        As = smooth_rate(A, rec, smooth, axis=1)
        state = classify_states(As, *thr)
        low, high = dwell_times(state, rec / 1e3)
        out[name] = dict(A_example=A[0], state_example=state[0], dwell_low=low, dwell_high=high,
                         frac_high=float(state.mean()), mean_rate=float(A.mean()),
                         transitions=int(np.sum(np.abs(np.diff(state.astype(np.int8), axis=1)))),
                         frac_high_alt=float(classify_states(As, mid - alt_band * gap, mid + alt_band * gap).mean()),
                         dwell_alt=[float(np.mean(x)) if len(x) else float("nan")
                                    for x in dwell_times(classify_states(As, mid - alt_band * gap, mid + alt_band * gap),
                                                         rec / 1e3)])
        out["wall"][name] = time.perf_counter() - tic
    out["ts"] = np.asarray(res.ts) / 1e3
    return out


def bistable_numbers(d):
    """Mean dwell times (s) ± standard error (SD/sqrt(n) of the complete episodes), counts, fractions."""
    n = dict(N=d["N"], trials=d["trials"], T_s=d["t_end"] / 1e3, dt=d["dt"], smooth_ms=d["smooth"],
             fixed_points_Hz=list(d["fixed_points"]), thresholds_Hz=list(d["thresholds"]), band=d["band"],
             alt_band=d["alt_band"])
    for lv in ("micro", "meso"):
        x = d[lv]
        for s in ("low", "high"):
            dw = x["dwell_" + s]
            n[f"{lv}_n_{s}"] = int(len(dw))
            n[f"{lv}_dwell_{s}_s"] = float(np.mean(dw)) if len(dw) else float("nan")
            n[f"{lv}_dwell_{s}_se"] = float(np.std(dw, ddof=1) / np.sqrt(len(dw))) if len(dw) > 1 else float("nan")
            n[f"{lv}_dwell_{s}_cv"] = float(np.std(dw) / np.mean(dw)) if len(dw) > 1 else float("nan")
        n[f"{lv}_frac_high"] = x["frac_high"]
        n[f"{lv}_transitions"] = x["transitions"]
        n[f"{lv}_mean_rate"] = x["mean_rate"]
        n[f"{lv}_dwell_low_high_alt_band_s"] = x["dwell_alt"]
        n[f"{lv}_frac_high_alt_band"] = x["frac_high_alt"]
    for s in ("low", "high"):
        n[f"ratio_meso_micro_dwell_{s}"] = n[f"meso_dwell_{s}_s"] / n[f"micro_dwell_{s}_s"]
    return n


def plot_bistable(d, numbers, *, fig=None, t_show=None):
    """Transfer function and fixed points, example traces with the thresholds, dwell-time histograms."""
    fig = fig or _figure(figsize=(10, 8), layout="constrained")
    gs = fig.add_gridspec(3, 2)
    b = BISTABLE
    A_lo, A_u, A_hi = d["fixed_points"]
    ax = fig.add_subplot(gs[0, 0])
    A = np.linspace(0, 1.3 * A_hi, 400)
    kw = {k: b[k] for k in ("tau_m", "t_ref", "lambda_0", "Delta_V", "V_T_star", "V_reset")}
    ax.plot(A, renewal_rate(b["mu"] + b["w"] * A, **kw), "k", lw=1.2, label="$\\Phi(\\mu + wA)$ (renewal)")
    ax.plot(A, A, color="0.5", lw=0.8, label="$A$")
    ax.plot([A_lo, A_hi], [A_lo, A_hi], "ko", ms=5, label="stable")
    ax.plot([A_u], [A_u], "o", mfc="w", mec="k", ms=5, label="unstable")
    ax.set_xlabel("A [Hz]")
    ax.set_ylabel("rate [Hz]")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(f"(a) mean-field fixed points {A_lo:.2f}, {A_u:.2f}, {A_hi:.2f} Hz\n"
                 f"μ = {b['mu']} mV, w = {b['w']} mV/Hz, Δu = {b['Delta_V']} mV", fontsize=8)
    ax = fig.add_subplot(gs[0, 1])
    ax.axis("off")
    txt = [f"N = {d['N']}, {d['trials']} trials x {d['t_end'] / 1e3:.0f} s, dt = {d['dt']} ms",
           f"thresholds (hysteresis) {d['thresholds'][0]:.1f} / {d['thresholds'][1]:.1f} Hz on {d['smooth']:.0f}-ms averages",
           ""]
    for lv in ("micro", "meso"):
        txt.append(f"{lv}: low {numbers[lv + '_dwell_low_s']:.3f} ± {numbers[lv + '_dwell_low_se']:.3f} s "
                   f"(n = {numbers[lv + '_n_low']}), high {numbers[lv + '_dwell_high_s']:.3f} ± "
                   f"{numbers[lv + '_dwell_high_se']:.3f} s (n = {numbers[lv + '_n_high']})")
        txt.append(f"      fraction of time high {numbers[lv + '_frac_high']:.2f}")
    ax.text(0.0, 0.9, "\n".join(txt), fontsize=8, va="top", family="monospace")
    ts = d["ts"]
    t_show = min(ts[-1], 20.0) if t_show is None else t_show
    sel = ts <= t_show
    for row, (lv, c) in enumerate((("micro", C_MICRO), ("meso", C_MESO))):
        ax = fig.add_subplot(gs[1, row])
        rec = ts[1] - ts[0]
        ax.plot(ts[sel], smooth_rate(d[lv]["A_example"], rec, d["smooth"] / 1e3)[sel], color=c, lw=0.6)
        ax.fill_between(ts[sel], 0, A_hi * 1.3, where=d[lv]["state_example"][sel], color=c, alpha=0.08, lw=0)
        for y in d["thresholds"]:
            ax.axhline(y, color="0.5", lw=0.6, ls="--")
        ax.set_xlabel("time [s]")
        ax.set_ylabel("$A_N$ [Hz], 50 ms avg.")
        ax.set_title(f"({'bc'[row]}) {lv}: one trial (shaded: classified high)", fontsize=8)
    for col, s in enumerate(("low", "high")):
        ax = fig.add_subplot(gs[2, col])
        both = np.concatenate([d["micro"]["dwell_" + s], d["meso"]["dwell_" + s]])
        bins = np.linspace(0, np.quantile(both, 0.98) if len(both) else 1.0, 25)
        for lv, c in (("micro", C_MICRO), ("meso", C_MESO)):
            ax.hist(d[lv]["dwell_" + s], bins=bins, density=True, histtype="step", color=c, lw=1.3,
                    label=f"{lv}: mean {numbers[lv + '_dwell_' + s + '_s']:.2f} s")
        ax.set_yscale("log")
        ax.set_xlabel(f"dwell time in the {s} state [s]")
        ax.set_ylabel("density [1/s]")
        ax.legend(fontsize=7, frameon=False)
        ax.set_title(f"({'de'[col]}) {s} state", fontsize=8)
    fig.suptitle("Finite-size noise makes a bistable GIF population hop between attractors: micro vs meso",
                 fontsize=9)
    return fig


def bistable(outdir, *, quick=False) -> dict:
    """``meso-bistable``: dwell-time statistics of the low and high states, micro vs meso."""
    tic = time.perf_counter()
    if quick:
        # dt = 1 ms halves the cost; the discrete-time models then sit at a different balance of the two
        # states (shorter high dwell times), the same for micro and meso, which is what the tests compare
        d = bistable_dwell(trials=16, t_end=10_000.0, dt=1.0)
    else:
        d = bistable_dwell(trials=64, t_end=40_000.0, dt=0.5)
    numbers = bistable_numbers(d)
    _save(plot_bistable(d, numbers), outdir, "schwalger2017_bistable.png")
    numbers.update(quick=quick, wall=d["wall"], seconds=time.perf_counter() - tic)
    _write_numbers(outdir, "schwalger2017_bistable.json", numbers)
    return numbers


# ============================================================================================
# meso-spectra: power spectra of the population activity
# ============================================================================================

#: Frequency bands (Hz) of the micro/meso spectrum ratios.
BANDS = ((5.0, 10.0), (10.0, 20.0), (20.0, 50.0), (50.0, 100.0), (100.0, 200.0), (5.0, 200.0))


def _spectrum_trials(A, rec_ms, nperseg):
    """Welch spectra (one-sided, Hz²/Hz = Hz) per trial and population of A (trials, time, pop)."""
    f, S = power_spectrum(jnp.asarray(A), rec_ms * 1e-3, nperseg=nperseg, axis=1)
    return np.asarray(f), np.asarray(S)  # S: (trials, pop, freq)


def ei_spectra(*, trials_micro=4, trials_meso=8, t_end=8_000.0, t_warm=1_000.0, dt=0.5, nperseg=1024, seed=0):
    r"""E–I network with adaptation (NEST's ``gif_pop_psc_exp`` example; no step): micro (fixed in-degree
    ``GIFNetwork``) and meso (Λ model, binomial counts), activity in 1 ms bins after a ``t_warm`` transient;
    Welch spectra per trial.

    Returns ``f`` (Hz), ``S_micro`` / ``S_meso`` (trials, pop, freq), per-trial mean rates ``rate_*``
    (trials, pop), activity variances ``var_*`` (trials, pop), a snippet of activity, and the sizes.
    """
    P = presets.ei_network(adaptation=True)
    every = int(round(1.0 / dt))
    key = jax.random.PRNGKey(seed)
    out = dict(N=[int(x) for x in np.asarray(P.N)], dt=dt, t_end=t_end, t_warm=t_warm, nperseg=nperseg,
               trials_micro=trials_micro, trials_meso=trials_meso, wall={})
    for i, (name, model, tr) in enumerate((("micro", GIFNetwork(P, dt=dt), trials_micro),
                                           ("meso", SchwalgerMeso(P, dt=dt), trials_meso))):
        tic = time.perf_counter()
        res = jaxpop.simulate(model, t_end, dt, t0=-t_warm, key=jax.random.fold_in(key, i), trials=tr, record="A",
                              record_every=every)
        keep = np.asarray(res.ts) > 0
        A = np.asarray(res.A)[:, keep]  # (trials, time, pop)
        out["f"], out["S_" + name] = _spectrum_trials(A, 1.0, nperseg)
        out["rate_" + name] = A.mean(axis=1)
        out["var_" + name] = A.var(axis=1)
        out["A_" + name] = A[0, :1000]
        out["wall"][name] = time.perf_counter() - tic
    return out


def band_ratios(f, S_a, S_b, bands=BANDS):
    """Ratio of band-averaged spectra ``mean_band(<S_a>) / mean_band(<S_b>)`` (trial means), per band and
    population, and its standard error from the per-trial band averages (delta method)."""
    ratio, se = [], []
    for lo, hi in bands:
        sel = (f >= lo) & (f <= hi)
        a, b = S_a[..., sel].mean(axis=-1), S_b[..., sel].mean(axis=-1)  # (trials, pop)
        ma, mb = a.mean(axis=0), b.mean(axis=0)
        sa, sb = a.std(axis=0, ddof=1) / np.sqrt(a.shape[0]), b.std(axis=0, ddof=1) / np.sqrt(b.shape[0])
        ratio.append(ma / mb)
        se.append(ma / mb * np.sqrt((sa / ma) ** 2 + (sb / mb) ** 2))
    return np.asarray(ratio), np.asarray(se)  # (band, pop)


def pd_spectra(*, trials=2, t_end=5_000.0, t_warm=200.0, dt=0.1, nperseg=1024, seed=0, scaling=1.0):
    """Mesoscopic 8-population Potjans–Diesmann circuit (Schwalger's ``PDmodel_*`` scripts, no stimulus),
    spectra of each population's activity (1 ms bins). Returns ``f``, ``S`` (trials, pop, freq),
    ``rate`` (trials, pop)."""
    P = presets.potjans_diesmann_gif(scaling)
    every = int(round(1.0 / dt))
    tic = time.perf_counter()
    res = jaxpop.simulate(SchwalgerMeso(P, dt=dt), t_end, dt, t0=-t_warm, key=jax.random.PRNGKey(seed),
                          trials=trials, record="A", record_every=every)
    keep = np.asarray(res.ts) > 0
    A = np.asarray(res.A)[:, keep]
    f, S = _spectrum_trials(A, 1.0, nperseg)
    return dict(f=f, S=S, rate=A.mean(axis=1), N=[int(x) for x in np.asarray(P.N)], trials=trials, t_end=t_end,
                dt=dt, wall=time.perf_counter() - tic)


def spectra_numbers(ei, pd):
    """Rates, variances and band ratios (micro/meso) of the E–I network; PD rates and high-frequency levels
    (``pd`` may be None)."""
    ratio, se = band_ratios(ei["f"], ei["S_micro"], ei["S_meso"])
    n = dict(N_ei=ei["N"], trials_micro=ei["trials_micro"], trials_meso=ei["trials_meso"], T_s=ei["t_end"] / 1e3,
             dt_ei=ei["dt"], nperseg=ei["nperseg"], bands_Hz=[list(b) for b in BANDS])
    for lv in ("micro", "meso"):
        n[f"rate_{lv}"], n[f"rate_{lv}_se"] = [], []
        for p in range(2):
            m, s = _mean_se(ei["rate_" + lv][:, p])
            n[f"rate_{lv}"].append(m)
            n[f"rate_{lv}_se"].append(s)
        n[f"var_{lv}"] = ei["var_" + lv].mean(axis=0).tolist()
    n["rate_rel_diff"] = [n["rate_micro"][p] / n["rate_meso"][p] - 1 for p in range(2)]
    n["band_ratio_E"] = ratio[:, 0].tolist()
    n["band_ratio_E_se"] = se[:, 0].tolist()
    n["band_ratio_I"] = ratio[:, 1].tolist()
    n["band_ratio_I_se"] = se[:, 1].tolist()
    n["max_band_dev"] = float(np.max(np.abs(ratio[:-1] - 1)))
    if pd is None:
        return n
    n["pd_populations"] = list(presets.PD_POPULATIONS)
    n["pd_N"] = pd["N"]
    n["pd_trials"], n["pd_T_s"], n["pd_dt"] = pd["trials"], pd["t_end"] / 1e3, pd["dt"]
    n["pd_rate"] = pd["rate"].mean(axis=0).tolist()
    hf = (pd["f"] >= 300) & (pd["f"] <= 450)
    n["pd_S_300_450Hz"] = pd["S"][..., hf].mean(axis=(0, -1)).tolist()
    n["pd_poisson_level_2r_over_N"] = (2 * pd["rate"].mean(axis=0) / np.asarray(pd["N"])).tolist()
    return n


def plot_spectra(ei, pd, numbers, *, fig=None):
    """E–I spectra micro vs meso (E, I) and the 8 PD populations' meso spectra (per layer, E and I;
    left out when ``pd`` is None)."""
    fig = fig or _figure(figsize=(10, 10) if pd is not None else (5, 10), layout="constrained")
    gs = fig.add_gridspec(4, 3 if pd is not None else 1)
    f = ei["f"]
    sel = f > 0
    for p, name in enumerate(("E", "I")):
        ax = fig.add_subplot(gs[p, 0])
        for lv, c in (("micro", C_MICRO), ("meso", C_MESO)):
            ax.loglog(f[sel], ei["S_" + lv][:, p, sel].mean(axis=0), color=c, lw=0.9,
                      label=f"{lv} ({ei['trials_' + lv]} trials)")
        r = numbers["rate_meso"][p]
        ax.axhline(2 * r / ei["N"][p], color="0.5", lw=0.7, ls=":", label="$2r/N$")
        for lo, hi in BANDS[:-1]:
            ax.axvline(lo, color="0.85", lw=0.5)
        ax.set_xlabel("f [Hz]")
        ax.set_ylabel("PSD of $A_N$ [Hz]")
        rr = numbers["band_ratio_" + name][-1]
        ax.set_title(f"E–I network, {name}: micro/meso 5–200 Hz = {rr:.3f}", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    ax = fig.add_subplot(gs[2:, 0])
    ts = np.arange(1, ei["A_micro"].shape[0] + 1) * 1e-3
    ax.plot(ts, ei["A_micro"][:, 0] + 40, color=C_MICRO, lw=0.5, label="micro E (+40 Hz)")
    ax.plot(ts, ei["A_meso"][:, 0], color=C_MESO, lw=0.5, label="meso E")
    ax.set_xlabel("time [s]")
    ax.set_ylabel("$A_N$ [Hz]")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("E–I network: 1 s of activity (1 ms bins)", fontsize=8)
    if pd is None:
        fig.suptitle("Power spectra of the population activity: E–I network (NEST's gif_pop_psc_exp example), "
                     "micro vs meso", fontsize=9)
        return fig
    fpd = pd["f"]
    s2 = fpd > 0
    for k, layer in enumerate(("L2/3", "L4", "L5", "L6")):
        for j, (typ, c) in enumerate((("E", "tab:blue"), ("I", "tab:red"))):
            p = 2 * k + j
            ax = fig.add_subplot(gs[k, 1 + j])
            ax.loglog(fpd[s2], pd["S"][:, p, s2].mean(axis=0), color=c, lw=0.8)
            ax.axhline(numbers["pd_poisson_level_2r_over_N"][p], color="0.5", lw=0.7, ls=":")
            ax.set_title(f"{layer}{typ}: meso, r = {numbers['pd_rate'][p]:.2f} Hz, N = {pd['N'][p]}", fontsize=8)
            if k == 3:
                ax.set_xlabel("f [Hz]")
            if j == 0:
                ax.set_ylabel("PSD [Hz]")
    fig.suptitle("Power spectra of the population activity: E–I network micro vs meso; mesoscopic "
                 "Potjans–Diesmann circuit (dotted: $2r/N$, the Poisson level)", fontsize=9)
    return fig


def spectra(outdir, *, quick=False) -> dict:
    """``meso-spectra``: micro vs meso spectra of the E–I network, meso spectra of the PD circuit."""
    tic = time.perf_counter()
    if quick:
        # quick: E–I network only (the PD model's compilation alone takes ~5 s; its spectra need seconds of
        # activity after its initial transient, see the full run)
        ei = ei_spectra(trials_micro=2, trials_meso=2, t_end=800.0, t_warm=200.0, nperseg=256)
        pd = None
    else:
        ei = ei_spectra()
        pd = pd_spectra()
    numbers = spectra_numbers(ei, pd)
    _save(plot_spectra(ei, pd, numbers), outdir, "schwalger2017_spectra.png")
    numbers.update(quick=quick, wall={"ei": ei["wall"], "pd": pd["wall"] if pd else None},
                   seconds=time.perf_counter() - tic)
    _write_numbers(outdir, "schwalger2017_spectra.json", numbers)
    return numbers
