r"""The Potjans–Diesmann microcircuit in NEST (``iaf_psc_exp``), built from a jaxpop
:func:`~jaxpop.presets.potjans_diesmann.microcircuit` config: the peer of ``benchmarks/microcircuit.py`` and
of ``tests/peers/test_nest_microcircuit.py``.

The network is NEST's own ``pynest/examples/Potjans_2014`` example (after Potjans & Diesmann 2014), with every number
taken from the jaxpop config, so that both simulators run the same model as
:class:`jaxpop.micro.microcircuit.MicrocircuitNetwork`:

* populations of ``iaf_psc_exp`` with ``C_m, tau_m, E_L, V_th, V_reset, t_ref`` and
  ``tau_syn_ex = tau_syn_in`` set explicitly, ``I_e`` = the config's ``I_dc`` (DC compensation of the
  down-scaling, plus the DC background when ``background='dc'``), ``V_m`` drawn from
  :math:`\mathcal N(V_{0,mean}, V_{0,sd}^2)` per population ('optimized' or 'original');
* recurrent synapses per population pair: ``fixed_total_number`` :math:`Q_{yx}` with autapses and
  multapses allowed; weights :math:`\mathcal N(\bar w_{yx}, \sigma_{w,yx}^2)` redrawn until the sign of the
  mean is kept (``nest.math.redraw``, bounds ``[0, inf)`` / ``(-inf, 0]``); delays
  :math:`\mathcal N(\bar d_{yx}, \sigma_{d,yx}^2)` redrawn until :math:`d \ge h/2`, which NEST rounds to the
  grid (minimum delay :math:`h`). jaxpop's ``build_connectivity`` samples the same conditional laws
  (truncated normals) and rounds the delays the same way;
* background: one ``poisson_generator`` per population at :math:`\nu_{bg}K_{ext}` connected
  ``all_to_all`` (an independent train per neuron), weight ``w_ext``, delay 1.5 ms; or DC (in ``I_e``);
* optional thalamic pulse: 902 ``parrot_neuron`` s fed by a 120-Hz ``poisson_generator`` during
  [700, 710) ms, ``fixed_total_number`` :math:`Q_{th}` synapses with redrawn normal weights and delays.

Kernel: ``resolution`` dt (0.1 ms), ``rng_seed``, ``local_num_threads`` (default 4). Spikes are recorded
by one ``spike_recorder`` in memory; senders are converted to jaxpop's 0-based global ids.

Timings (wall clock, ``time.perf_counter``): ``build_s`` = Create + Connect + ``nest.Prepare()`` (NEST
builds its presynaptic connection tables in Prepare; its own example times the same span);
``warm_s`` = ``nest.Run(t_warm)``; ``sim_s`` = ``nest.Run(t_sim)`` (the measured span). Memory:
``peak_rss_mb`` = ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the NEST process after the run
(this module imports only NumPy and NEST: jaxpop's preset and analysis files are loaded by path so
that JAX is never imported into the measured process); ``baseline_rss_mb`` after ``import nest``.

Run as a script (the process writes one ``.npz``)::

    python benchmarks/_nest_microcircuit.py --scale 0.1 --background poisson --seed 1 --threads 4 \
        --t-warm 500 --t-sim 1000 --out /tmp/x.npz

or from Python with :func:`run_nest_subprocess` (a fresh process per run, so the peak memory is NEST's
alone). Validation mode (several seeds, each in a fresh process, mean +- SE over seeds into a JSON)::

    python benchmarks/_nest_microcircuit.py --scale 0.1 --threads 2 --poisson-seeds 1 2 3 4 5 --dc-seeds 1 2 3 \
        --json benchmarks/results/nest_microcircuit_0.1.json
 Never run ``--scale 1`` on a small machine: the full-scale network needs ~14 GB.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _load(name, rel):
    """Import a NumPy-only jaxpop module by path (keeps JAX out of the NEST process)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(_ROOT, rel))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def build_and_run(config, *, seed=1, threads=4, dt=0.1, t_warm=500.0, t_sim=1000.0, pd=None, st=None):
    """Build ``config`` (a MicrocircuitConfig) in a fresh NEST kernel, simulate ``t_warm + t_sim`` ms and return
    a dict of results (see the module docstring). ``pd`` / ``st``: the preset and spiketrains modules."""
    import nest

    baseline = _rss_mb()
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:  # pragma: no cover
        nest.set_verbosity("M_ERROR")
    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.local_num_threads = int(threads)
    nest.resolution = float(dt)
    nest.rng_seed = int(seed)
    nest.print_time = False
    nr = config.neuron
    n_pop = len(config.N)
    pops = []
    for i in range(n_pop):
        p = nest.Create("iaf_psc_exp", int(config.N[i]))
        p.set(C_m=nr["C_m"], tau_m=nr["tau_m"], E_L=nr["E_L"], V_th=nr["V_th"], V_reset=nr["V_reset"],
              t_ref=nr["t_ref"], tau_syn_ex=nr["tau_syn"], tau_syn_in=nr["tau_syn"], I_e=float(config.I_dc[i]))
        p.set(V_m=nest.random.normal(float(config.V0_mean[i]), float(config.V0_sd[i])))
        pops.append(p)
    first_id = pops[0][0].global_id  # neuron ids are contiguous from here, populations in order
    d_min = 0.5 * dt  # redraw bound: NEST rounds to the grid, so the effective minimum delay is dt
    for i, tgt in enumerate(pops):
        for j, src in enumerate(pops):
            q = int(config.Q[i, j])
            if q <= 0:
                continue
            w, sw = float(config.weight_mean[i, j]), float(config.weight_sd[i, j])
            lo, hi = (0.0, np.inf) if w >= 0 else (-np.inf, 0.0)
            nest.Connect(src, tgt,
                         conn_spec={"rule": "fixed_total_number", "N": q, "allow_autapses": True,
                                    "allow_multapses": True},
                         syn_spec={"synapse_model": "static_synapse",
                                   "weight": nest.math.redraw(nest.random.normal(w, sw), min=lo, max=hi),
                                   "delay": nest.math.redraw(nest.random.normal(float(config.delay_mean[i, j]),
                                                                                float(config.delay_sd[i, j])),
                                                             min=d_min, max=np.inf)})
    if config.background == "poisson":
        gens = nest.Create("poisson_generator", n_pop)
        gens.rate = (config.bg_rate * np.asarray(config.K_ext, float)).tolist()
        for i, tgt in enumerate(pops):
            nest.Connect(gens[i], tgt, conn_spec={"rule": "all_to_all"},
                         syn_spec={"synapse_model": "static_synapse", "weight": float(config.w_ext),
                                   "delay": float(pd.DELAY_POISSON)})
    if np.any(np.asarray(config.Q_th) > 0):
        c = lambda name, default: float(getattr(config, name, default))  # noqa: E731 (older configs lack them)
        th = nest.Create("parrot_neuron", int(c("N_th", pd.N_TH)))
        start = c("th_start", pd.TH_START)
        gen = nest.Create("poisson_generator", params={"rate": c("th_rate", pd.TH_RATE), "start": start,
                                                       "stop": start + c("th_duration", pd.TH_DURATION)})
        nest.Connect(gen, th)
        w_th = float(config.w_th)
        d_th, sd_th = c("th_delay_mean", pd.DELAY_MEAN[True]), c("th_delay_sd", pd.DELAY_REL_SD * pd.DELAY_MEAN[True])
        for i, tgt in enumerate(pops):
            if int(config.Q_th[i]) > 0:
                nest.Connect(th, tgt, conn_spec={"rule": "fixed_total_number", "N": int(config.Q_th[i]),
                                                 "allow_autapses": True, "allow_multapses": True},
                             syn_spec={"weight": nest.math.redraw(nest.random.normal(w_th, pd.WEIGHT_REL_SD * w_th),
                                                                  min=0.0, max=np.inf),
                                       "delay": nest.math.redraw(nest.random.normal(d_th, sd_th),
                                                                 min=d_min, max=np.inf)})
    rec = nest.Create("spike_recorder")
    for p in pops:
        nest.Connect(p, rec)
    nest.Prepare()
    build_s = time.perf_counter() - t0
    n_conn = int(nest.num_connections)  # recurrent + thalamic synapses + device connections
    t1 = time.perf_counter()
    if t_warm > 0:
        nest.Run(float(t_warm))
    warm_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    nest.Run(float(t_sim))
    sim_s = time.perf_counter() - t2
    nest.Cleanup()
    peak = _rss_mb()
    ev = rec.get("events")
    times = np.asarray(ev["times"], float)
    senders = np.asarray(ev["senders"], np.int64) - first_id
    keep = times >= t_warm
    times, senders = times[keep], senders[keep]
    order = np.argsort(times, kind="stable")
    times, senders = times[order], senders[order]
    offsets = np.concatenate([[0], np.cumsum(np.asarray(config.N, np.int64))])
    t_a, t_b = float(t_warm), float(t_warm + t_sim)
    cv, n_cv = st.cv_isi(times, senders, offsets, t_a, t_b, return_counts=True)
    return dict(
        rates=st.population_rates(times, senders, offsets, t_a, t_b), cv_isi=cv, cv_isi_n_neurons=n_cv,
        synchrony=st.synchrony(times, senders, offsets, t_a, t_b, 3.0, n_neurons=1000),
        synchrony_all=st.synchrony(times, senders, offsets, t_a, t_b, 3.0),
        times=times, senders=senders, offsets=offsets, build_s=build_s, warm_s=warm_s, sim_s=sim_s,
        peak_rss_mb=peak, baseline_rss_mb=baseline, n_connections=n_conn, nest_version=str(nest.__version__),
        threads=int(threads), seed=int(seed), dt=float(dt), t_warm=float(t_warm), t_sim=float(t_sim),
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.1, help="N_scaling (and K_scaling unless --k-scale)")
    ap.add_argument("--k-scale", type=float, default=None, help="K_scaling (default: --scale)")
    ap.add_argument("--background", choices=("poisson", "dc"), default="poisson")
    ap.add_argument("--V0", choices=("optimized", "original"), default="optimized")
    ap.add_argument("--thalamus", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--t-warm", type=float, default=500.0)
    ap.add_argument("--t-sim", type=float, default=1000.0)
    ap.add_argument("--out", help="output .npz (single run)")
    ap.add_argument("--json", help="validation mode: run --poisson-seeds and --dc-seeds (each in a fresh process) "
                                   "and write per-seed results and mean +- SE over seeds to this JSON")
    ap.add_argument("--poisson-seeds", type=int, nargs="*", default=[1, 2, 3, 4, 5])
    ap.add_argument("--dc-seeds", type=int, nargs="*", default=[1, 2, 3])
    a = ap.parse_args(argv)
    if a.json:
        return validate(a)
    if not a.out:
        ap.error("--out (or --json) is required")
    pd = _load("_jaxpop_pd_preset", "jaxpop/presets/potjans_diesmann.py")
    st = _load("_jaxpop_spiketrains", "jaxpop/analysis/spiketrains.py")
    k = a.scale if a.k_scale is None else a.k_scale
    cfg = pd.microcircuit(a.scale, k, background=a.background, V0=a.V0, thalamus=a.thalamus)
    res = build_and_run(cfg, seed=a.seed, threads=a.threads, dt=a.dt, t_warm=a.t_warm, t_sim=a.t_sim, pd=pd, st=st)
    res.update(N_scaling=float(a.scale), K_scaling=float(k), background=a.background, V0=a.V0, thalamus=a.thalamus)
    np.savez(a.out, **{key: np.asarray(v) for key, v in res.items()})
    print(f"NEST {res['nest_version']}, scale {a.scale}/{k}, {a.background} background, seed {a.seed}, "
          f"{a.threads} threads: build {res['build_s']:.2f} s, warm-up {res['warm_s']:.2f} s, "
          f"sim {res['sim_s']:.2f} s, peak RSS {res['peak_rss_mb']:.0f} MB, {res['n_connections']} connections")
    print(f"{'':<10}" + "".join(f"{p:>8}" for p in pd.POPULATIONS))
    for name in ("rates", "cv_isi", "synchrony"):
        print(f"{name:<10}" + "".join(f"{v:>8.3f}" for v in res[name]))


NEST_REFERENCE_01 = [0.402, 2.017, 3.880, 4.958, 6.575, 7.726, 0.831, 6.986]  # Potjans_2014 reference_data (seed 55, 4 threads)
_STATS = ("rates", "cv_isi", "cv_isi_n_neurons", "synchrony", "synchrony_all")


def _summary(runs):
    """Mean, SD (ddof 1) and SE = SD/sqrt(n) over seeds of each statistic and timing."""
    out = {}
    for k in _STATS + ("build_s", "warm_s", "sim_s", "peak_rss_mb"):
        x = np.asarray([r[k] for r in runs], float)
        sd = x.std(axis=0, ddof=1) if len(runs) > 1 else np.full_like(x[0], np.nan)
        out[k] = {"mean": x.mean(axis=0).tolist(), "sd": np.asarray(sd).tolist(),
                  "se": (np.asarray(sd) / np.sqrt(len(runs))).tolist()}
    return out


def validate(a):
    """Several seeds per background in fresh processes; per-seed numbers and mean +- SE into ``a.json``."""
    import json
    import platform

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _machine import cpu_model

    pd = _load("_jaxpop_pd_preset", "jaxpop/presets/potjans_diesmann.py")
    k = a.scale if a.k_scale is None else a.k_scale
    result = {"model": f"Potjans-Diesmann microcircuit in NEST iaf_psc_exp, N_scaling={a.scale}, K_scaling={k}, "
                       f"V0={a.V0}, thalamus={a.thalamus}, dt={a.dt} ms",
              "window_ms": [a.t_warm, a.t_warm + a.t_sim], "populations": list(pd.POPULATIONS),
              "statistics": "rates: spikes in [t_warm, t_warm + t_sim] / N / t_sim, silent neurons included; cv_isi: "
                            "mean over neurons with >= 3 spikes in the window (cv_isi_n_neurons of them); synchrony: "
                            "Var/mean of the spike count in 3-ms bins of the first 1000 neurons of each population "
                            "(synchrony_all: all neurons); summary: mean, SD (ddof 1) and SE over seeds",
              "nest_reference_0.1_seed55": NEST_REFERENCE_01, "threads": a.threads}
    for bg, seeds in (("poisson", a.poisson_seeds), ("dc", a.dc_seeds)):
        runs = []
        for seed in seeds:
            r = run_nest_subprocess(a.scale, k_scale=a.k_scale, background=bg, seed=seed, threads=a.threads,
                                    t_warm=a.t_warm, t_sim=a.t_sim, V0=a.V0, thalamus=a.thalamus, dt=a.dt)
            print(r["stdout"], end="", flush=True)
            runs.append(r)
        if not runs:
            continue
        result["nest_version"] = runs[0]["nest_version"]
        result[bg] = {"seeds": list(seeds), "n_connections": [r["n_connections"] for r in runs],
                      "per_seed": [{key: np.asarray(r[key]).tolist() for key in _STATS + (
                          "seed", "build_s", "warm_s", "sim_s", "peak_rss_mb", "baseline_rss_mb")} for r in runs],
                      "summary": _summary(runs)}
        m = result[bg]["summary"]
        print(f"\n{bg} background, {len(runs)} seeds: mean +- SE over seeds")
        print(f"{'':<10}" + "".join(f"{p:>15}" for p in pd.POPULATIONS))
        for name in ("rates", "cv_isi", "synchrony"):
            print(f"{name:<10}" + "".join(f"{mu:>8.3f}+-{se:<5.3f}" for mu, se in zip(m[name]["mean"], m[name]["se"])))
    result["machine"] = {"platform": platform.platform(), "cpu": cpu_model(), "cpus": os.cpu_count(),
                         "load_average": list(os.getloadavg()), "python": platform.python_version()}
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {a.json}")


def run_nest_subprocess(scale=0.1, *, k_scale=None, background="poisson", seed=1, threads=4, t_warm=500.0,
                        t_sim=1000.0, V0="optimized", thalamus=False, dt=0.1, timeout=None) -> dict:
    """Run this script in a fresh Python process and return its results as a dict (arrays, and Python scalars
    for the 0-d entries). Raises RuntimeError with the process's output if it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "nest_microcircuit.npz")
        cmd = [sys.executable, os.path.abspath(__file__), "--scale", repr(float(scale)), "--background", background,
               "--seed", str(int(seed)), "--threads", str(int(threads)), "--t-warm", repr(float(t_warm)),
               "--t-sim", repr(float(t_sim)), "--V0", V0, "--dt", repr(float(dt)), "--out", out]
        if k_scale is not None:
            cmd += ["--k-scale", repr(float(k_scale))]
        if thalamus:
            cmd.append("--thalamus")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f"NEST microcircuit run failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                               f"{proc.stderr[-3000:]}")
        with np.load(out) as z:
            res = {k: (z[k].item() if z[k].ndim == 0 else z[k].copy()) for k in z.files}
    res["stdout"] = proc.stdout
    return res


if __name__ == "__main__":
    main()
