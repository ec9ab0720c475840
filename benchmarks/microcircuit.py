r"""Benchmark: the Potjans–Diesmann microcircuit (Potjans & Diesmann 2014), jaxpop ``MicrocircuitNetwork`` vs NEST
``iaf_psc_exp`` (same parameters, ``--nest-threads`` threads), in the same run.

Protocol (issue 4, part 6): ``N_scaling = K_scaling = --scale`` (0.1 or 1), Poisson background (or ``--background
dc``), dt = 0.1 ms, ``--t-warm`` = 500 ms of warm-up, then ``--t-sim`` = 1000 ms measured. Every run happens in a
fresh process, so that its peak resident memory (``ru_maxrss``) is one simulator's alone:

* **jaxpop**, one process per (configuration, batch size): ``baseline_rss_mb`` after ``import jaxpop``; ``build_s``
  = ``MicrocircuitNetwork(config, dt, key)`` including the connectivity, until ``block_until_ready`` (the first
  build in a process includes the compilation of the build kernels, as a user sees it); ``compile_s`` =
  ahead-of-time ``lower().compile()`` of the warm-up and of the measured scan; ``warm_s`` and ``sim_s`` = wall
  time of those two compiled calls (the measured call starts from the warm-up's final state, like NEST's two
  ``Run`` calls); ``rtf`` = ``sim_s / (t_sim / 1 s)``, and for a batch of ``n`` trials (vmapped) the aggregate
  ``rtf_per_trial = rtf / n``; ``peak_rss_mb`` after the run; on a GPU also the device's
  ``peak_bytes_in_use``. Batch size 1 is the plain (unbatched) single run.
* **NEST**: ``benchmarks/_nest_microcircuit.run_nest_subprocess`` (build = Create + Connect + Prepare, warm-up
  and measured ``Run``, peak RSS; see that module).

The jaxpop scan is :func:`jaxpop.simulate`'s (keys ``k_init, k_steps = split(key)``, step ``k`` gets
``fold_in(k_steps, k)``, the trials of a batch ``split(key, n)``), split in two at the end of the warm-up so that
the state carries over: the spikes are those ``simulate`` gives for the same key. It records ``("A", "spike_ids",
"dropped")`` at every step (:func:`~jaxpop.micro.microcircuit.check_dropped` must pass); spike times come from
:func:`~jaxpop.micro.microcircuit.spike_times`, including the last warm-up step (t = ``t_warm``), so the window
``[t_warm, t_warm + t_sim]`` is NEST's. Both sides are analysed by :mod:`jaxpop.analysis.spiketrains`: mean rates
(silent neurons included), CV of the ISIs (neurons with >= 3 spikes), synchrony (Var/mean of the population
count in 3-ms bins, first 1000 neurons of each population; ``synchrony_all``: all neurons).

The ``comparison`` block of each configuration holds the acceptance ratios of issue 4: jaxpop single-trial
``sim_s`` / NEST's, ``build_s`` / NEST's, ``peak_rss_mb`` / NEST's (target <= 1/3), and the relative difference
of the per-population rates (mean over every jaxpop trial of the configuration, and the single trial) vs NEST's;
at full scale with Poisson background also vs the full-scale reference rates of
NEST's ``Potjans_2014`` example (``full_mean_rates``, one full-scale NEST run).

    python benchmarks/microcircuit.py --scale 0.1 --trials 1 4 --nest-threads 4 \
        --out benchmarks/results/microcircuit_0.1.json
    python benchmarks/microcircuit.py --scale 1 --trials 1 --out benchmarks/results/microcircuit_1.json
    # on a GPU machine (NEST absent there): compare with the NEST side of a CPU run
    python benchmarks/microcircuit.py --scale 1 --trials 1 8 32 --device gpu --skip-nest \
        --nest-from benchmarks/results/microcircuit_1.json --out benchmarks/results/microcircuit_1_gpu.json

Timings on a shared machine are indicative (the load average at start and end is recorded). The full-scale
network needs ~14 GB in NEST and a few GB in jaxpop: run ``--scale 1`` only on a quiet machine.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from _machine import cpu_model  # noqa: E402

POPULATIONS = ("L2/3E", "L2/3I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
STATS = ("rates", "cv_isi", "cv_isi_n_neurons", "synchrony", "synchrony_all")
PLATFORMS = {"cpu": "cpu", "gpu": "cuda", "auto": None}


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# --------------------------------------------------------------------------------------------- jaxpop worker
def jaxpop_worker(a) -> dict:
    """One jaxpop configuration and batch size in this (fresh) process; see the module docstring."""
    t = time.perf_counter()
    import jax
    import jax.numpy as jnp

    import jaxpop
    from jaxpop.analysis import spiketrains as st
    from jaxpop.core.drives import as_drive
    from jaxpop.core.result import Result
    from jaxpop.core.simulate import step_key
    from jaxpop.micro.microcircuit import MicrocircuitNetwork, check_dropped, spike_times
    from jaxpop.presets.potjans_diesmann import microcircuit

    import_s = time.perf_counter() - t
    baseline = _rss_mb()
    k_scale = a.scale if a.k_scale is None else a.k_scale
    config = microcircuit(a.scale, k_scale, background=a.background)
    root = jax.random.PRNGKey(a.seed)

    t = time.perf_counter()
    net = MicrocircuitNetwork(config, dt=a.dt, key=jax.random.fold_in(root, 0))
    jax.block_until_ready(net)
    build_s = time.perf_counter() - t
    rss_build = _rss_mb()

    dt, record = float(a.dt), ("A", "spike_ids", "dropped")
    n_warm, n_sim = int(round(a.t_warm / dt)), int(round(a.t_sim / dt))
    drive = as_drive(None)

    # the network is an argument of the compiled functions, not a closure: closed-over arrays would be baked
    # into the executable as constants (2.1 GB of synapses at full scale, copied several times)
    def steps(net, state, k_steps, start, n, rec):
        def body(s, k):
            s = net.step(s, 0.0 + k * dt, dt, drive, step_key(k_steps, k))  # simulate's t = t0 + k dt
            if not rec:
                return s, None
            obs = net.observe(s)
            return s, {r: obs[r] for r in record}

        return jax.lax.scan(body, state, jnp.arange(start, start + n))

    def warm(net, key):
        k_init, k_steps = jax.random.split(key)
        return steps(net, net.init(k_init), k_steps, 0, n_warm, False)[0]

    def measure(net, state, key):
        _, k_steps = jax.random.split(key)
        obs = net.observe(state)  # the warm-up's last step (t = t_warm)
        first = {r: obs[r][None] for r in record}
        _, rec = steps(net, state, k_steps, n_warm, n_sim, True)
        return {r: jnp.concatenate([first[r], rec[r]]) for r in record}

    n = a.trials
    key = jax.random.fold_in(root, 1)
    if n > 1:  # a batch, as simulate(trials=n): the network shared, keys and states batched
        key = jax.random.split(key, n)
        warm, measure = jax.vmap(warm, in_axes=(None, 0)), jax.vmap(measure, in_axes=(None, 0, 0))
    t = time.perf_counter()
    warm_c = jax.jit(warm).lower(net, key).compile()
    measure_c = jax.jit(measure).lower(net, jax.eval_shape(warm, net, key), key).compile()
    compile_s = time.perf_counter() - t

    t = time.perf_counter()
    state = jax.block_until_ready(warm_c(net, key))
    warm_s = time.perf_counter() - t
    t = time.perf_counter()
    data = jax.block_until_ready(measure_c(net, state, key))
    sim_s = time.perf_counter() - t
    peak = _rss_mb()
    dev = jax.devices()[0]
    try:
        mem = dev.memory_stats() or {}
    except Exception:  # noqa: BLE001 (backends without memory statistics)
        mem = {}

    ts = (n_warm + np.arange(n_sim + 1)) * dt
    res = Result(jnp.asarray(ts), {r: np.asarray(v) for r, v in data.items()}, dt, 1, {})
    check_dropped(res)
    offsets = np.concatenate([[0], np.cumsum(np.asarray(config.N, np.int64))])
    t_a, t_b = float(a.t_warm), float(a.t_warm + a.t_sim)
    trials = []
    for i in range(n):
        times, senders = spike_times(res, net, trial=i if n > 1 else None)
        cv, n_cv = st.cv_isi(times, senders, offsets, t_a, t_b, return_counts=True)
        A = np.asarray(res["A"])[i] if n > 1 else np.asarray(res["A"])
        trials.append(dict(
            rates=st.population_rates(times, senders, offsets, t_a, t_b).tolist(), cv_isi=cv.tolist(),
            cv_isi_n_neurons=n_cv.tolist(),
            synchrony=st.synchrony(times, senders, offsets, t_a, t_b, 3.0, n_neurons=1000).tolist(),
            synchrony_all=st.synchrony(times, senders, offsets, t_a, t_b, 3.0).tolist(),
            rates_from_A=A[1:].mean(axis=0).tolist(), n_spikes=int(times.size)))
    rtf = sim_s / (a.t_sim * 1e-3)
    return dict(
        trials=n, platform=dev.platform, device=str(dev), devices=[str(d) for d in jax.devices()],
        jax_version=jax.__version__, jaxpop_version=jaxpop.__version__, import_s=import_s,
        build_s=build_s, compile_s=compile_s, warm_s=warm_s, sim_s=sim_s, rtf=rtf, rtf_per_trial=rtf / n,
        baseline_rss_mb=baseline, rss_after_build_mb=rss_build, peak_rss_mb=peak,
        device_peak_bytes=mem.get("peak_bytes_in_use"), device_bytes_limit=mem.get("bytes_limit"),
        n_neurons=int(offsets[-1]), n_synapses=int(np.asarray(net.seg_ptr)[-1]),
        max_spikes=net.max_spikes, event_chunk=net.event_chunk, ring_slots=net.D,
        dropped=int(np.max(np.asarray(res["dropped"]))), per_trial=trials,
        mean={k: np.mean([tr[k] for tr in trials], axis=0).tolist() for k in ("rates", "cv_isi", "synchrony")},
        sd={k: (np.std([tr[k] for tr in trials], axis=0, ddof=1).tolist() if n > 1 else None)
            for k in ("rates", "cv_isi", "synchrony")},
    )


def run_jaxpop_subprocess(a, scale, trials, device) -> dict:
    """:func:`jaxpop_worker` in a fresh Python process (``JAX_PLATFORMS`` set by ``device``)."""
    env = dict(os.environ)
    if PLATFORMS[device]:
        env["JAX_PLATFORMS"] = PLATFORMS[device]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "jaxpop.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", out, "--scale", repr(float(scale)),
               "--trials", str(int(trials)), "--background", a.background, "--seed", str(a.seed),
               "--dt", repr(a.dt), "--t-warm", repr(a.t_warm), "--t-sim", repr(a.t_sim)]
        if a.k_scale is not None:
            cmd += ["--k-scale", repr(float(a.k_scale))]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f"jaxpop microcircuit run failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                               f"{proc.stderr[-3000:]}")
        with open(out) as f:
            return json.load(f)


# ------------------------------------------------------------------------------------------------ NEST side
def run_nest(a, scale) -> dict:
    from _nest_microcircuit import run_nest_subprocess

    r = run_nest_subprocess(scale, k_scale=a.k_scale, background=a.background, seed=a.seed, threads=a.nest_threads,
                            t_warm=a.t_warm, t_sim=a.t_sim, dt=a.dt)
    keep = STATS + ("build_s", "warm_s", "sim_s", "peak_rss_mb", "baseline_rss_mb", "n_connections", "nest_version",
                    "threads", "seed")
    out = {k: (np.asarray(r[k]).tolist() if isinstance(r[k], np.ndarray) else r[k]) for k in keep}
    out["rtf"] = r["sim_s"] / (a.t_sim * 1e-3)
    out["n_spikes"] = int(np.asarray(r["times"]).size)
    return out


def nest_from_file(path, key, a) -> dict | None:
    """The NEST side of configuration ``key`` from an earlier JSON of this script (same dt and window)."""
    with open(path) as f:
        old = json.load(f)
    s = old.get("settings", {})
    if (s.get("dt"), s.get("t_warm"), s.get("t_sim")) != (a.dt, a.t_warm, a.t_sim):
        raise ValueError(f"--nest-from {path}: dt / window {s} differ from this run's")
    conf = old.get("configurations", {}).get(key, {})
    nest = conf.get("nest")
    if nest is not None:
        nest = dict(nest, source=os.path.abspath(path), machine=old.get("machine"),
                    extra_seeds=conf.get("nest_extra_seeds", {}))
    return nest


# ------------------------------------------------------------------------------------------------ comparison
def _rel(x, ref):
    x, ref = np.asarray(x, float), np.asarray(ref, float)
    with np.errstate(divide="ignore", invalid="ignore"):  # a silent population in the reference: inf / nan
        return ((x - ref) / ref).tolist()


def _mean_se(x):
    x = np.asarray(x, float)
    se = x.std(axis=0, ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.full(x.shape[1], np.nan)
    return x.mean(axis=0), se


def _over_seeds(conf) -> dict:
    """Rates over network realisations: per side one trial per seed (the main seed's single trial and the
    extra seeds'); mean, SE over seeds, the relative difference of the means and its z-score."""
    jx = [(conf["jaxpop"].get("1") or next(iter(conf["jaxpop"].values())))["per_trial"][0]["rates"]]
    jx += [r["per_trial"][0]["rates"] for r in conf["jaxpop_extra_seeds"].values()]
    nest = conf["nest"]
    ns = [nest["rates"]] + [r["rates"] for r in conf.get("nest_extra_seeds", nest.get("extra_seeds", {})).values()]
    mj, sj = _mean_se(jx)
    mn, sn = _mean_se(ns)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel, z = (mj - mn) / mn, (mj - mn) / np.sqrt(sj**2 + sn**2)
    return {"jaxpop_seeds": len(jx), "nest_seeds": len(ns), "jaxpop_rates_mean": mj.tolist(),
            "jaxpop_rates_se": sj.tolist(), "nest_rates_mean": mn.tolist(), "nest_rates_se": sn.tolist(),
            "rates_rel_diff": rel.tolist(), "rates_max_abs_rel_diff": float(np.max(np.abs(rel))),
            "z": z.tolist()}


def compare(conf, scale, k_scale, background) -> dict:
    jx, nest = conf.get("jaxpop", {}), conf.get("nest")
    out = {}
    if jx:
        single = jx.get("1") or jx[min(jx, key=int)]
        all_rates = [tr["rates"] for r in jx.values() for tr in r["per_trial"]]
        mean_rates = np.mean(all_rates, axis=0)
        out["jaxpop_trials_pooled"] = len(all_rates)
        out["jaxpop_rates_mean"] = mean_rates.tolist()
        out["best_rtf_per_trial"] = min(r["rtf_per_trial"] for r in jx.values())
        if scale == 1 and k_scale == 1 and background == "poisson":
            from importlib.util import module_from_spec, spec_from_file_location
            spec = spec_from_file_location("_pd", os.path.join(_HERE, "..", "jaxpop", "presets", "potjans_diesmann.py"))
            pd = module_from_spec(spec)
            sys.modules["_pd"] = pd
            spec.loader.exec_module(pd)
            ref = np.asarray(pd.FULL_MEAN_RATES, float)
            out["reference_rates_full_mean_rates"] = ref.tolist()
            out["rates_rel_diff_vs_reference"] = _rel(mean_rates, ref)
            out["rates_within_10pct_of_reference"] = bool(np.all(np.abs(_rel(mean_rates, ref)) <= 0.10))
    if jx and nest:
        out.update(
            jaxpop_single_trials=single["trials"],
            sim_wall_ratio=single["sim_s"] / nest["sim_s"],
            build_ratio=single["build_s"] / nest["build_s"],
            peak_rss_ratio=single["peak_rss_mb"] / nest["peak_rss_mb"],
            peak_rss_ratio_above_baseline=(single["peak_rss_mb"] - single["baseline_rss_mb"])
            / (nest["peak_rss_mb"] - nest["baseline_rss_mb"]),
            best_per_trial_sim_ratio=min(r["sim_s"] / r["trials"] for r in jx.values()) / nest["sim_s"],
            rates_rel_diff=_rel(mean_rates, nest["rates"]),
            rates_rel_diff_single_trial=_rel(single["mean"]["rates"], nest["rates"]),
        )
        out["rates_max_abs_rel_diff"] = float(np.max(np.abs(out["rates_rel_diff"])))
        out["targets"] = {"sim_wall_ratio <= 1": out["sim_wall_ratio"] <= 1,
                          "build_ratio <= 1": out["build_ratio"] <= 1,
                          "peak_rss_ratio <= 1/3": out["peak_rss_ratio"] <= 1 / 3,
                          "rates within 10 % of NEST": out["rates_max_abs_rel_diff"] <= 0.10}
        if conf.get("jaxpop_extra_seeds") and (conf.get("nest_extra_seeds") or nest.get("extra_seeds")):
            o = out["over_seeds"] = _over_seeds(conf)
            out["targets"]["rates within 10 % of NEST (over seeds)"] = o["rates_max_abs_rel_diff"] <= 0.10
        if single["platform"] != "cpu":
            out["targets"].pop("sim_wall_ratio <= 1")  # the CPU targets compare CPU runs
    return out


# ------------------------------------------------------------------------------------------------------ main
def _versions():
    v = {"python": platform.python_version()}
    for pkg in ("jax", "jaxlib", "numpy", "equinox", "nest-simulator"):
        try:
            v[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            v[pkg] = None
    return v


def _table(name, conf):
    rows = []
    if conf.get("nest"):
        r = conf["nest"]
        rows.append((f"NEST ({r['threads']} thr)", 1, r["build_s"], None, r["warm_s"], r["sim_s"], r["rtf"],
                     r["peak_rss_mb"], r["rates"]))
    for n, r in sorted(conf.get("jaxpop", {}).items(), key=lambda x: int(x[0])):
        rows.append((f"jaxpop {r['platform']}", r["trials"], r["build_s"], r["compile_s"], r["warm_s"], r["sim_s"],
                     r["rtf_per_trial"], r["peak_rss_mb"], r["mean"]["rates"]))
    print(f"\n{name}\n{'simulator':<16}{'trials':>7}{'build s':>9}{'compile':>9}{'warm s':>8}{'sim s':>8}"
          f"{'RTF/tr':>8}{'RSS MB':>8}  rates (Hz) " + " ".join(f"{p:>6}" for p in POPULATIONS))
    for who, n, b, c, w, s, rtf, rss, rates in rows:
        print(f"{who:<16}{n:>7}{b:>9.2f}{(f'{c:.2f}' if c is not None else '-'):>9}{w:>8.2f}{s:>8.2f}{rtf:>8.2f}"
              f"{rss:>8.0f}  {'':11}" + " ".join(f"{x:6.3f}" for x in rates))
    cmp = conf.get("comparison", {})
    if "sim_wall_ratio" in cmp:
        print(f"jaxpop / NEST: sim {cmp['sim_wall_ratio']:.3f}, build {cmp['build_ratio']:.3f}, peak RSS "
              f"{cmp['peak_rss_ratio']:.3f}; rates rel. diff (mean of {cmp['jaxpop_trials_pooled']} trials) "
              + " ".join(f"{x:+.3f}" for x in cmp["rates_rel_diff"]))
    if "over_seeds" in cmp:
        o = cmp["over_seeds"]
        print(f"over seeds ({o['jaxpop_seeds']} jaxpop, {o['nest_seeds']} NEST): rates rel. diff "
              + " ".join(f"{x:+.3f}" for x in o["rates_rel_diff"]) + "; z " + " ".join(f"{x:+.1f}" for x in o["z"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, nargs="+", default=[0.1], help="N_scaling (= K_scaling unless --k-scale)")
    ap.add_argument("--k-scale", type=float, default=None, help="K_scaling (default: each --scale)")
    ap.add_argument("--background", choices=("poisson", "dc"), default="poisson")
    ap.add_argument("--trials", type=int, nargs="+", default=[1, 4],
                    help="jaxpop batch sizes (vmapped trials; 1 = the plain single run)")
    ap.add_argument("--seed", type=int, default=1, help="NEST rng_seed; jaxpop keys fold_in(PRNGKey(seed), 0 | 1)")
    ap.add_argument("--extra-seeds", type=int, nargs="*", default=[],
                    help="further seeds (each side, one trial, fresh network) for rate statistics over network "
                         "realisations: the comparison then adds mean +- SE over all seeds per side")
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--t-warm", type=float, default=500.0)
    ap.add_argument("--t-sim", type=float, default=1000.0)
    ap.add_argument("--nest-threads", type=int, default=4)
    ap.add_argument("--device", choices=tuple(PLATFORMS), default="auto",
                    help="jaxpop platform (JAX_PLATFORMS=cpu / cuda); auto: JAX's default")
    ap.add_argument("--skip-nest", action="store_true")
    ap.add_argument("--skip-jaxpop", action="store_true")
    ap.add_argument("--nest-from", help="take the NEST side from this earlier JSON of the script (e.g. a GPU machine "
                                        "without NEST); implies --skip-nest")
    ap.add_argument("--out", help="JSON (default benchmarks/results/microcircuit_<scale>[_<background>].json)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        a.scale, a.trials = a.scale[0], a.trials[0]
        res = jaxpop_worker(a)
        with open(a.worker, "w") as f:
            json.dump(res, f)
        return
    if any(s <= 0 for s in a.scale) or any(n < 1 for n in a.trials) or a.nest_threads < 1:
        ap.error("--scale must be > 0, --trials >= 1, --nest-threads >= 1")
    if a.out is None:
        tag = "_".join(f"{s:g}" for s in a.scale) + ("" if a.background == "poisson" else f"_{a.background}")
        a.out = os.path.join(_HERE, "results", f"microcircuit_{tag}.json")
    out = {"benchmark": "Potjans-Diesmann microcircuit, jaxpop MicrocircuitNetwork vs NEST iaf_psc_exp",
           "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                       "memory_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
                       "load_average_at_start": os.getloadavg()},
           "versions": _versions(),
           "settings": {"dt": a.dt, "t_warm": a.t_warm, "t_sim": a.t_sim, "window_ms": [a.t_warm, a.t_warm + a.t_sim],
                        "seed": a.seed, "nest_threads": a.nest_threads, "device": a.device,
                        "background": a.background, "trials": a.trials},
           "populations": list(POPULATIONS),
           "statistics": "rates: spikes in [t_warm, t_warm + t_sim] / N / t_sim, silent neurons included; cv_isi: "
                         "mean over neurons with >= 3 spikes; synchrony: Var/mean of the population spike count in "
                         "3-ms bins, first 1000 neurons per population (synchrony_all: all neurons); "
                         "jaxpop 'mean'/'sd': over the trials of a batch",
           "configurations": {}}
    for scale in a.scale:
        k_scale = scale if a.k_scale is None else a.k_scale
        key = f"scale{scale:g}_{a.background}"
        conf = {"N_scaling": scale, "K_scaling": k_scale, "background": a.background}
        out["configurations"][key] = conf
        if not a.skip_jaxpop:
            conf["jaxpop"] = {}
            for n in a.trials:
                t = time.perf_counter()
                r = run_jaxpop_subprocess(a, scale, n, a.device)
                r["process_wall_s"] = time.perf_counter() - t
                conf["jaxpop"][str(n)] = r
                print(f"jaxpop {key} trials={n} ({r['device']}): build {r['build_s']:.2f} s, compile "
                      f"{r['compile_s']:.2f} s, warm-up {r['warm_s']:.2f} s, sim {r['sim_s']:.2f} s (RTF "
                      f"{r['rtf']:.2f}, per trial {r['rtf_per_trial']:.2f}), peak RSS {r['peak_rss_mb']:.0f} MB "
                      f"(after import {r['baseline_rss_mb']:.0f}); process {r['process_wall_s']:.1f} s", flush=True)
        for seed in a.extra_seeds if not a.skip_jaxpop else ():  # rate statistics over network realisations
            r = run_jaxpop_subprocess(argparse.Namespace(**dict(vars(a), seed=seed)), scale, 1, a.device)
            conf.setdefault("jaxpop_extra_seeds", {})[str(seed)] = r
            print(f"jaxpop {key} seed {seed}: rates " + " ".join(f"{x:.3f}" for x in r["mean"]["rates"]), flush=True)
        if a.nest_from:
            conf["nest"] = nest_from_file(a.nest_from, key, a)
        elif not a.skip_nest:
            t = time.perf_counter()
            conf["nest"] = run_nest(a, scale)
            conf["nest"]["process_wall_s"] = time.perf_counter() - t
            r = conf["nest"]
            print(f"NEST {key} ({r['threads']} threads): build {r['build_s']:.2f} s, warm-up {r['warm_s']:.2f} s, "
                  f"sim {r['sim_s']:.2f} s (RTF {r['rtf']:.2f}), peak RSS {r['peak_rss_mb']:.0f} MB "
                  f"(after import {r['baseline_rss_mb']:.0f}); process {r['process_wall_s']:.1f} s", flush=True)
        for seed in a.extra_seeds if not (a.skip_nest or a.nest_from) else ():
            r = run_nest(argparse.Namespace(**dict(vars(a), seed=seed)), scale)
            conf.setdefault("nest_extra_seeds", {})[str(seed)] = r
            print(f"NEST {key} seed {seed}: rates " + " ".join(f"{x:.3f}" for x in r["rates"]), flush=True)
        conf["comparison"] = compare(conf, scale, k_scale, a.background)
        _table(key, conf)
    out["machine"]["load_average_at_end"] = os.getloadavg()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
