"""``jaxpop demo``: a 10,000-neuron QIF network against its exact firing-rate equations.

The protocol of Montbrió, Pazó & Roxin (2015), Fig. 2 (η̄ = −5, J = 15, Δ = 1, network started
in the low-activity state): a current step I = 3 on 0 ≤ t < 30, and a sinusoid
I(t) = 3 sin(πt/20). The network (Euler, dt = 1e-4, the paper's App. A) and the FREs (adaptive
Tsit5) are compared through the normalised RMS error of the smoothed rate and of the mean
voltage; the fixed points of the FREs are checked against the closed form (the quartic of
Sec. III C, :func:`jaxpop.analysis.fixed_points.mpr_fixed_points`).

References: E. Montbrió, D. Pazó, A. Roxin, *Macroscopic description for networks of spiking
neurons*, Phys. Rev. X 5, 021028 (2015), doi:10.1103/PhysRevX.5.021028.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxpop.reproduce._common import figure, save_figure, write_numbers

ETA_BAR, J, DELTA = -5.0, 15.0, 1.0
TARGET_NRMSE_R = 0.10
SMOOTH = 2e-2  # sliding window of App. A


def _fixed_points():
    """Fixed points from the quartic (closed form) and from Newton on the vector field."""
    import jaxpop
    from jaxpop.analysis.fixed_points import find_fixed_points, mpr_fixed_points

    r_cf, v_cf, n = mpr_fixed_points(ETA_BAR, J, DELTA)
    r_cf, v_cf = np.asarray(r_cf)[: int(n)], np.asarray(v_cf)[: int(n)]
    model = jaxpop.MontbrioPazoRoxin(ETA_BAR, DELTA, J)
    r_guess = np.array([0.05, 0.5, 1.2])
    guesses = {"r": jnp.asarray(r_guess)[:, None], "v": jnp.asarray(-DELTA / (2 * np.pi * r_guess))[:, None]}
    found = find_fixed_points(model, guesses, accept=lambda y: y["r"][0] > 0)
    r_nw = np.sort(np.asarray(found["r"]).ravel())
    err = float(np.max(np.abs(r_nw - r_cf))) if r_nw.shape == r_cf.shape else float("inf")
    return r_cf, v_cf, err


def _protocol(name, drive, t0, t_end, N, dt, key, fixed_point):
    import jaxpop
    from jaxpop.analysis.fixed_points import mpr_fixed_points
    from jaxpop.analysis.rates import nrmse, smooth_rate
    from jaxpop.micro import QIFNetwork
    from jaxpop.micro.qif import quantile_tail_bias

    r_low, v_low = fixed_point
    fre = jaxpop.MontbrioPazoRoxin(ETA_BAR, DELTA, J, r0=r_low, v0=v_low)
    from jaxpop.reproduce.mpr2015 import simulate_raster

    # record the spikes of 300 random neurons only (a full raster of 10^4 neurons would take GBs),
    # the network every 1e-3 time units
    micro, _, wall = simulate_raster(QIFNetwork.from_fre(fre, N=N), t0=t0, t_end=t_end, dt=dt, key=key, drive=drive,
                                     every=int(round(1e-3 / dt)), n_raster=300, raster_seed=0)
    ts = np.asarray(micro.ts)
    centres = ts - micro.bin_width / 2  # the network's r is averaged over (ts - bin, ts]
    macro = jaxpop.solve(fre, t_end, t0=t0, drive=drive, ts=centres)
    # finite-N twin: quantile samples miss the Lorentzian tails (jaxpop.micro.qif.quantile_tail_bias)
    b = float(quantile_tail_bias(N, DELTA))
    eta_c = ETA_BAR - J * b
    r_c, v_c, _ = mpr_fixed_points(eta_c, J, DELTA)
    fre_c = jaxpop.MontbrioPazoRoxin(eta_c, DELTA, J, r0=float(r_c[0]), v0=float(v_c[0]))
    corr = jaxpop.solve(fre_c, t_end, t0=t0, drive=drive, ts=centres)
    r_net = np.asarray(smooth_rate(micro.r, micro.bin_width, SMOOTH))
    v_net = np.asarray(micro.v)
    m = ts > 0  # from the stimulus onset on
    r_fre, v_fre = np.asarray(macro.r), np.asarray(macro.v)
    r_cor, v_cor = np.asarray(corr.r) - b, np.asarray(corr.v) + np.pi * b
    return dict(
        name=name, N=N, ts=ts, r_net=r_net, v_net=v_net, r_fre=r_fre, v_fre=v_fre, spikes=micro.spike_trains(),
        drive=np.asarray(jax.vmap(drive)(micro.ts)),
        nrmse_r=float(nrmse(r_net[m], r_fre[m])), nrmse_v=float(nrmse(v_net[m], v_fre[m])),
        nrmse_r_corr=float(nrmse(r_net[m], r_cor[m])), nrmse_v_corr=float(nrmse(v_net[m], v_cor[m])),
        wall=wall, steps=int(round((t_end - t0) / dt)),
    )


def _plot(runs, outdir: Path, name: str):
    fig = figure(figsize=(9, 7))
    axes = fig.subplots(4, 2, sharex="col", gridspec_kw={"height_ratios": [2, 2, 3, 1]})
    for col, run in enumerate(runs):
        ts = run["ts"]
        ax = axes[0, col]
        ax.plot(ts, run["r_net"], color="k", lw=0.8, label="QIF network")
        ax.plot(ts, run["r_fre"], color="tab:orange", lw=1.2, label="FREs")
        ax.set_ylabel("r")
        ax.set_title(f"{run['name']}: NRMSE r {run['nrmse_r']:.3f}, v {run['nrmse_v']:.3f}", fontsize=9)
        ax = axes[1, col]
        ax.plot(ts, run["v_net"], color="k", lw=0.8)
        ax.plot(ts, run["v_fre"], color="tab:orange", lw=1.2)
        ax.set_ylabel("v")
        neurons, times = run["spikes"]  # already a random subset of the network
        axes[2, col].plot(times, neurons, "|", color="k", ms=1.5, mew=0.4, rasterized=True)
        axes[2, col].set_ylabel("neuron")
        axes[3, col].plot(ts, run["drive"], color="k", lw=1)
        axes[3, col].set_ylabel("I(t)")
        axes[3, col].set_xlabel("time")
    axes[0, 0].legend(loc="upper right", fontsize=8, frameon=False)
    fig.suptitle("QIF network (N = %d) vs exact firing-rate equations — Montbrió, Pazó & Roxin 2015, Fig. 2"
                 % runs[0]["N"], fontsize=10)
    fig.tight_layout()
    save_figure(fig, outdir, name, dpi=130)


def run(outdir: Path, *, quick: bool = False) -> dict:
    import jaxpop

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    N, dt = (1_000, 1e-4) if quick else (10_000, 1e-4)
    t_step = (-2.0, 35.0) if quick else (-2.0, 40.0)
    t_sin = (-2.0, 25.0) if quick else (-2.0, 80.0)
    print(f"jaxpop demo: QIF network (N = {N}, dt = {dt:g}) vs exact firing-rate equations (MPR 2015, Fig. 2)")
    print(f"  parameters: eta_bar = {ETA_BAR}, J = {J}, Delta = {DELTA}; jax {jax.__version__} on {jax.devices()[0].platform}")

    r_cf, v_cf, fp_err = _fixed_points()
    print(f"  fixed points r* (closed form): {', '.join(f'{r:.6f}' for r in r_cf)};  Newton vs closed form: {fp_err:.1e}")

    key = jax.random.PRNGKey(2015)
    low = (float(r_cf[0]), float(v_cf[0]))
    runs = [
        _protocol("step I = 3 on [0, 30)", jaxpop.Step(3.0, 0.0, 30.0), *t_step, N, dt, jax.random.fold_in(key, 0), low),
        _protocol("sinusoid I = 3 sin(pi t / 20)", jaxpop.Sinusoid(3.0, np.pi / 20), *t_sin, N, dt,
                  jax.random.fold_in(key, 1), low),
    ]
    _plot(runs, outdir, "demo_mpr_fig2.png")

    numbers = {"N": N, "dt": dt, "fixed_point_error": fp_err}
    print(f"\n  NRMSE = RMS(network - FRE) / std(FRE) over t > 0; r smoothed over {SMOOTH:g} (App. A)")
    print(f"  {'':32s} {'vs FREs':>15s} {'vs finite-N FREs':>18s}")
    print(f"  {'protocol':32s} {'r':>7s} {'v':>7s} {'r':>9s} {'v':>8s} {'steps':>8s} {'wall [s]':>9s} {'us/step':>8s}")
    for r in runs:
        print(f"  {r['name']:32s} {r['nrmse_r']:7.3f} {r['nrmse_v']:7.3f} {r['nrmse_r_corr']:9.3f} {r['nrmse_v_corr']:8.3f} "
              f"{r['steps']:8d} {r['wall']:9.1f} {1e6 * r['wall'] / r['steps']:8.1f}")
        tag = "step" if r["name"].startswith("step") else "sinusoid"
        for k in ("nrmse_r", "nrmse_v", "nrmse_r_corr", "nrmse_v_corr"):
            numbers[f"{k}_{tag}"] = r[k]
    print("  finite-N FREs: eta_bar - J b, read out as r - b, v + pi b, with b = |zeta(1/2)| sqrt(Delta/(pi N))/pi the")
    print("  rate deficit of N quantile samples of the Lorentzian (jaxpop.micro.qif.quantile_tail_bias); no fit.")
    if quick:
        numbers["passed"] = None
        print("  (--quick: N = 1000, too small for the 10 % target of N = 10^4; not judged)")
    else:
        plain = all(r["nrmse_r"] <= TARGET_NRMSE_R for r in runs)
        corrected = all(r["nrmse_r_corr"] <= TARGET_NRMSE_R for r in runs)
        numbers["passed"] = bool(corrected and fp_err <= 1e-6)
        numbers["target_met_vs_plain_fre"] = bool(plain)
        print(f"  target NRMSE(r) <= {TARGET_NRMSE_R:.2f}: vs FREs {'met' if plain else 'NOT met'}; "
              f"vs finite-N FREs {'met' if corrected else 'NOT met'}; fixed points <= 1e-6 "
              f"{'met' if fp_err <= 1e-6 else 'NOT met'}")
    print(f"  figure: {outdir / 'demo_mpr_fig2.png'}")
    write_numbers(outdir, "demo_numbers.json", numbers, strict=False)
    return numbers
