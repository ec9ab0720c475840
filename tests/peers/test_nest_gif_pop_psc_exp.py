"""jaxpop's SchwalgerMeso vs NEST's ``gif_pop_psc_exp`` on the same parameters (NEST's
``models/gif_pop_psc_exp.cpp`` and its example ``pynest/examples/gif_pop_psc_exp.py``; Schwalger's
``uncoupled_py/lif_adap.py`` in ``schwalger/mesopopdyn_gif``).

Both simulators implement the same stochastic algorithm, so the statistics of their population
activities must agree: stationary mean rates and variances of the activity in 1-ms bins, each with a
standard error from batch means (batches of 500 ms, much longer than the correlation time of the
activity). Tolerance: |difference| <= Z * sqrt(SE_jaxpop^2 + SE_NEST^2) with Z = 4; with ~8 batches
per simulator the Welch t-statistic has ~14 degrees of freedom, for which |t| > 4 has probability
~1e-3 when the two agree — and the seeds are fixed, so the test is deterministic.
"""

import time

import jax
import numpy as np
import pytest

import jaxpop
from jaxpop.meso import SchwalgerMeso
from jaxpop.presets import schwalger_2017

nest = pytest.importorskip("nest")

C_M = 250.0  # pF; cancels out of the dynamics
Z = 4.0
BATCH_MS = 500.0


def run_nest(params, dt, t_end, seed):
    """Spike counts per step (n_steps, n_pop) of NEST gif_pop_psc_exp nodes with ``params`` (GIFParams)."""
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": dt, "rng_seed": seed, "local_num_threads": 1, "print_time": False})
    f = lambda name: np.asarray(getattr(params, name))
    pops = []
    for a in range(params.n_pop):
        tau_sfa, q_sfa = f("tau_sfa")[a].tolist(), f("q_sfa")[a].tolist()
        pops.append(nest.Create("gif_pop_psc_exp", params=dict(
            N=int(params.N[a]), tau_m=f("tau_m")[a], C_m=C_M, t_ref=f("t_ref")[a], lambda_0=f("lambda_0")[a],
            Delta_V=f("Delta_V")[a], len_kernel=-1, I_e=f("mu")[a] * C_M / f("tau_m")[a], E_L=0.0,
            V_reset=f("V_reset")[a], V_T_star=f("V_T_star")[a], tau_syn_ex=f("tau_syn_ex")[a],
            tau_syn_in=f("tau_syn_in")[a], tau_sfa=tau_sfa or [100.0], q_sfa=q_sfa or [0.0], BinoRand=True)))
    J, p, delay = f("J"), f("p"), f("delay")
    for a in range(params.n_pop):
        for b in range(params.n_pop):
            if J[a, b] * p[a, b] != 0:
                tau_s = f("tau_syn_ex")[a] if J[a, b] >= 0 else f("tau_syn_in")[a]
                # mean-field coupling J p N (eps * A): one event of multiplicity n, weight J p C_m / tau_s (pA)
                nest.Connect(pops[b], pops[a], syn_spec={"weight": J[a, b] * p[a, b] * C_M / tau_s,
                                                         "delay": delay[a, b]})
    mm = nest.Create("multimeter", params={"record_from": ["n_events"], "interval": dt})
    nest.Connect(mm, nest.NodeCollection([p_.global_id for p_ in pops]))
    t0 = time.perf_counter()
    nest.Simulate(t_end)
    wall = time.perf_counter() - t0
    ev = mm.get("events")
    senders, n = np.asarray(ev["senders"]), np.asarray(ev["n_events"], dtype=float)
    counts = np.stack([n[senders == p_.global_id] for p_ in pops], axis=1)
    return counts, wall


def run_jaxpop(params, dt, t_end, seed):
    res = jaxpop.simulate(SchwalgerMeso(params, dt=dt), t_end, dt, key=jax.random.PRNGKey(seed), record="n")
    return np.asarray(res["n"])


def batch_stats(counts, N, dt, t_warm):
    """Mean rate (Hz) and variance of the 1-ms activity (Hz^2) per population, with batch-mean standard errors."""
    A = counts[int(round(t_warm / dt)):] / (np.asarray(N) * dt * 1e-3)
    per_ms = int(round(1.0 / dt))
    A1 = A[: len(A) // per_ms * per_ms].reshape(-1, per_ms, A.shape[1]).mean(1)  # 1-ms bins
    b = int(round(BATCH_MS))
    B = A1[: len(A1) // b * b].reshape(-1, b, A.shape[1])
    nb = B.shape[0]
    means, variances = B.mean(1), B.var(1, ddof=1)
    return (means.mean(0), means.std(0, ddof=1) / np.sqrt(nb), variances.mean(0),
            variances.std(0, ddof=1) / np.sqrt(nb))


def compare(params, dt, t_warm, t_rec, seed=1):
    t_end = t_warm + t_rec
    nest_counts, _ = run_nest(params, dt, t_end, seed)
    jax_counts = run_jaxpop(params, dt, t_end, seed)
    # NEST's multimeter starts at t = dt: align the ends of both records
    n = min(len(nest_counts), len(jax_counts))
    sn = batch_stats(nest_counts[-n:], params.N, dt, t_warm - (len(jax_counts) - n) * dt)
    sj = batch_stats(jax_counts[-n:], params.N, dt, t_warm - (len(jax_counts) - n) * dt)
    report = {"rate_nest": sn[0], "rate_jaxpop": sj[0], "se_rate": np.hypot(sn[1], sj[1]),
              "var_nest": sn[2], "var_jaxpop": sj[2], "se_var": np.hypot(sn[3], sj[3])}
    print({k: np.round(v, 4).tolist() for k, v in report.items()})  # shown with pytest -s
    assert np.all(np.abs(sj[0] - sn[0]) <= Z * report["se_rate"]), report
    assert np.all(np.abs(sj[2] - sn[2]) <= Z * report["se_var"]), report
    # sanity of the comparison itself: the populations are active and the errors resolve ~5 % differences
    assert np.all(sn[0] > 1.0) and np.all(report["se_rate"] < 0.02 * sn[0]), report
    return report


def test_uncoupled_adapting_population():
    # Schwalger's uncoupled_py/lif_adap.py without the step, meso dt = 1 ms as in that script
    compare(schwalger_2017.uncoupled_adapting(), dt=1.0, t_warm=1000.0, t_rec=4000.0)


def test_ei_network_with_adaptation():
    # NEST's pynest/examples/gif_pop_psc_exp.py (h = 0.5 ms, N = (800, 200)) without the stimulus step
    compare(schwalger_2017.ei_network(adaptation=True), dt=0.5, t_warm=1000.0, t_rec=4000.0)


@pytest.mark.slow
@pytest.mark.parametrize("make, dt", [(schwalger_2017.uncoupled_adapting, 1.0),
                                      (schwalger_2017.ei_network, 0.5),
                                      (schwalger_2017.ei_network_no_adaptation, 0.2)])
def test_long_runs(make, dt):
    compare(make(), dt=dt, t_warm=2000.0, t_rec=40000.0, seed=3)


@pytest.mark.slow
def test_potjans_diesmann_meso_rates():
    # Issue 3 acceptance: the 8-population mesoscopic Potjans-Diesmann model of Schwalger's
    # PDmodel_* scripts (schwalger/mesopopdyn_microcircuit; no adaptation,
    # full scale, dt = 0.1 ms, 10 s of biological time) gives the rates of NEST gif_pop_psc_exp within 2 %,
    # and within Z = 4 combined standard errors (19 batches of 500 ms after a 500-ms transient per simulator;
    # the transient of this network without adaptation lasts a few tau_m = 10 ms). The 2 % is resolved:
    # the combined SE is asserted to be below 2/3 % of the rate (a 2 % difference is >= 3 SE).
    # Measured (seed 5, 2026-11-24): NEST 0.972 2.858 4.670 5.657 8.177 9.033 0.990 7.536 Hz, jaxpop 0.975 2.859
    # 4.679 5.658 8.140 9.038 0.992 7.540 Hz (L2/3E ... L6I): max |rel. diff.| 0.45 % (L5E, 1.0 SE), SE <= 0.47 %.
    params = schwalger_2017.potjans_diesmann_gif(1.0)
    dt, t_warm, t_end = 0.1, 500.0, 10_000.0
    nest_counts, wall_nest = run_nest(params, dt, t_end, seed=5)
    t0 = time.perf_counter()
    jax_counts = run_jaxpop(params, dt, t_end, seed=5)
    wall_jax = time.perf_counter() - t0
    n = min(len(nest_counts), len(jax_counts))  # NEST's multimeter starts at t = dt: align the ends
    t_w = t_warm - (len(jax_counts) - n) * dt
    rn, sen, _, _ = batch_stats(nest_counts[-n:], params.N, dt, t_w)
    rj, sej, _, _ = batch_stats(jax_counts[-n:], params.N, dt, t_w)
    se = np.hypot(sen, sej)
    report = {"populations": list(schwalger_2017.PD_POPULATIONS), "rate_nest": rn, "rate_jaxpop": rj,
              "se": se, "rel_diff": rj / rn - 1, "wall_nest_s": wall_nest, "wall_jaxpop_s": wall_jax}
    print({k: np.round(v, 4).tolist() if isinstance(v, np.ndarray) else v for k, v in report.items()})
    assert np.all(se < 0.02 / 3 * rn), report
    assert np.all(np.abs(rj / rn - 1) <= 0.02), report
    assert np.all(np.abs(rj - rn) <= Z * se), report
