r"""Fitting demonstrations (:mod:`jaxpop.fit`, issue 10): micro → meso fit and prediction.

``micro_meso``: René, Longtin & Macke (2020)'s E–I network (:mod:`jaxpop.presets.rene_2020`) simulated as a
microscopic :class:`~jaxpop.micro.GIFNetwork` (dt = 0.2 ms; all-to-all and fixed in-degree connectivity) under
the training input, counted in 1-ms bins; the mesoscopic model (:class:`~jaxpop.meso.SchwalgerMeso`,
``scheme='midpoint'``, dt = 1 ms) fitted to these counts by its exact likelihood (weights J and drives μ free,
L-BFGS from the network's values); then both levels are run under a *held-back* input (another noise seed and
sine period) and the trial-averaged activities (10-ms bins) are compared: correlation and RMSE of the fitted
meso model against the network, and the network against an independent set of its own trials (the noise floor).
The fitted J and μ are *effective* parameters: they absorb the approximations of the mesoscopic model (the
quasi-renewal approximation, and for fixed in-degree the quenched connectivity the mean-field model does not
see), so they need not equal the network's.

References: A. René, A. Longtin, J. H. Macke, Neural Comput. 32, 1448 (2020), doi:10.1162/neco_a_01292.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

from ._common import figure, save_figure, write_numbers


def _trial_average(res, n_avg):
    """Trial-averaged activity (Hz) in blocks of ``n_avg`` recorded bins: (bins, n_pop)."""
    A = np.asarray(res["A"])
    A = A if A.ndim == 3 else A[None]
    A = A.mean(axis=0)
    n = (A.shape[0] // n_avg) * n_avg
    return A[:n].reshape(-1, n_avg, A.shape[1]).mean(axis=1)


def _metrics(ref, other):
    corr = [float(np.corrcoef(ref[:, i], other[:, i])[0, 1]) for i in range(ref.shape[1])]
    rmse = [float(np.sqrt(np.mean((ref[:, i] - other[:, i]) ** 2))) for i in range(ref.shape[1])]
    return corr, rmse


def micro_meso(outdir: Path, *, quick: bool = False) -> dict:
    """Micro ``GIFNetwork`` data → meso fit → prediction under a held-back input (module docs)."""
    import jaxpop
    from jaxpop.fit import PopulationData, Real, fit
    from jaxpop.meso import SchwalgerMeso
    from jaxpop.micro import GIFNetwork
    from jaxpop.presets import rene_2020

    t_train = 3000.0 if quick else 9000.0
    t_test, burn = (1000.0, 500.0) if quick else (2000.0, 500.0)
    trials = 8 if quick else 20
    P = rene_2020.ei_network()
    train = rene_2020.training_input(t_train, seed=1)
    test = rene_2020.training_input(t_test + burn, seed=2, period=170.0)
    meso0 = SchwalgerMeso(P, dt=1.0, scheme="midpoint")
    numbers, curves = {"t_train_ms": t_train, "t_test_ms": t_test, "trials": trials}, {}
    for c, connectivity in enumerate(("all_to_all", "fixed_indegree")):
        t0 = time.perf_counter()
        net = GIFNetwork(P, dt=0.2, connectivity=connectivity, seed=c)
        res = jaxpop.simulate(net, t_train, 0.2, key=jax.random.PRNGKey(10 + c), record="A", record_every=5,
                              drive=train)
        data = PopulationData.from_result(res, model=net, drive=train, observable="A")
        r = fit(meso0, data, {"params.J": Real(), "params.mu": Real()}, key=jax.random.PRNGKey(c), starts=[meso0],
                steps=0, polish=40, burn_in=burn)
        t_fit = time.perf_counter() - t0
        keys = jax.random.split(jax.random.PRNGKey(100 + c), 3)
        run = lambda model, dt, key: jaxpop.simulate(model, t_test + burn, dt, key=key, record="A",
                                                     record_every=int(round(1.0 / dt)), drive=test, trials=trials)
        micro_a = _trial_average(run(net, 0.2, keys[0]), 10)[int(burn / 10):]
        micro_b = _trial_average(run(net, 0.2, keys[1]), 10)[int(burn / 10):]
        meso_fit = _trial_average(run(r.model, 1.0, keys[2]), 10)[int(burn / 10):]
        meso_true = _trial_average(run(meso0, 1.0, keys[2]), 10)[int(burn / 10):]
        corr, rmse = _metrics(micro_a, meso_fit)
        corr_t, rmse_t = _metrics(micro_a, meso_true)
        corr_mm, rmse_mm = _metrics(micro_a, micro_b)
        numbers[connectivity] = {
            "labels": list(r.labels), "estimate": r.estimate, "se": r.se, "network_values": np.concatenate(
                [np.ravel(P.J), np.ravel(P.mu)]), "fit_wall_s": t_fit,
            "corr_fitted_meso_vs_micro": corr, "rmse_fitted_meso_vs_micro_hz": rmse,
            "corr_true_meso_vs_micro": corr_t, "rmse_true_meso_vs_micro_hz": rmse_t,
            "corr_micro_vs_micro": corr_mm, "rmse_micro_vs_micro_hz": rmse_mm,
            "rmse_ratio": list(np.asarray(rmse) / np.asarray(rmse_mm)),
        }
        curves[connectivity] = (micro_a, micro_b, meso_fit, meso_true)
    fig = figure(figsize=(10, 6), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    ts = np.arange(curves["all_to_all"][0].shape[0]) * 10.0 + 5.0
    for col, connectivity in enumerate(curves):
        micro_a, micro_b, meso_fit, meso_true = curves[connectivity]
        for row, pop in enumerate(("E", "I")):
            ax = axes[row, col]
            ax.plot(ts, micro_a[:, row], color="k", lw=1.2, label=f"network ({trials} trials)")
            ax.plot(ts, micro_b[:, row], color="0.6", lw=0.8, label="network, other trials")
            ax.plot(ts, meso_fit[:, row], color="C3", lw=1.0, label="fitted meso")
            ax.plot(ts, meso_true[:, row], color="C0", lw=0.8, ls="--", label="meso, network's values")
            m = numbers[connectivity]
            ax.set_title(f"{connectivity}, {pop}: r = {m['corr_fitted_meso_vs_micro'][row]:.3f}, "
                         f"RMSE ratio {m['rmse_ratio'][row]:.2f}", fontsize=9)
            ax.set_ylabel("A (Hz, 10-ms bins)")
    axes[-1, 0].set_xlabel("time in the held-back input (ms)")
    axes[-1, 1].set_xlabel("time in the held-back input (ms)")
    axes[0, 0].legend(fontsize=7)
    save_figure(fig, outdir, "fit_micro_meso.png")
    write_numbers(outdir, "fit_micro_meso.json", numbers)
    return numbers


def mpr_qif(outdir: Path, *, quick: bool = False) -> dict:
    """Baldy et al. (2024)'s protocol (:mod:`jaxpop.reproduce.fit_demos`): the MPR firing-rate equations fitted by a
    global Sobol stage + Adam + L-BFGS to (a) their own trajectory and (b) a QIF network's rate (N = 10^4; quick:
    2000), raw and with the finite-N correction; figure: the data and the fitted FREs' rates."""
    import jaxpop

    from . import fit_demos as d

    N = 2_000 if quick else 10_000
    opts = dict(global_points=512, starts=8, steps=100) if quick else {}
    numbers = d.fre_from_qif_demo(N=N, dt_network=2e-4 if quick else 1e-4, **opts)
    r_net, _ = d.qif_data(N, dt=2e-4 if quick else 1e-4)
    ts = d.DT * np.arange(1, len(r_net) + 1)
    fig = figure(figsize=(9, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(ts, r_net, color="k", lw=1.0, label=f"QIF network, N = {N}")
    for name, color in (("qif_raw", "C0"), ("qif_corrected", "C3")):
        delta, eta, J = numbers[name]["estimate"]
        fre = d.finite_n_twin(d._fre(dict(delta=delta, eta_bar=eta, J=J), *d.low_state()), N) \
            if name == "qif_corrected" else d._fre(dict(delta=delta, eta_bar=eta, J=J), *d.low_state())
        sol = jaxpop.solve(fre, d.T_END, drive=d._drive(), ts=ts)
        r = np.asarray(sol.r).reshape(len(ts), -1)[:, 0]
        if name == "qif_corrected":  # the finite-N twin is read out as r - b
            from jaxpop.micro.qif import quantile_tail_bias
            r = r - float(quantile_tail_bias(N, delta))
        ax.plot(ts, r, color=color, lw=0.9, ls="--",
                label=f"fitted FREs ({name.split('_')[1]}): Δ = {delta:.3f}, η̄ = {eta:.2f}, J = {J:.2f}")
    ax.set(xlabel="time (τ)", ylabel="r")
    ax.legend(fontsize=7)
    save_figure(fig, outdir, "fit_mpr_qif.png")
    write_numbers(outdir, "fit_mpr_qif.json", numbers)
    return numbers
