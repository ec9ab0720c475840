"""Benchmark: the mesoscopic GIF model (Schwalger et al. 2017) in jaxpop vs NEST ``gif_pop_psc_exp``.

Models (facts §2.6, §2.4):

* ``pd``: the 8-population GIF Potjans–Diesmann microcircuit (full scale, no adaptation), dt = 0.1 ms;
* ``ei``: the E–I example of NEST's ``gif_pop_psc_exp`` (N = (800, 200), adaptation), dt = 0.5 ms;

each run for ``--t-end`` ms of biological time: NEST single trial (one thread) and jaxpop single trial and
batches of ``--trials`` (vmapped). Compile time is reported separately; wall times are for the compiled
function. Mean rates (after ``--t-warm`` ms) of jaxpop (single trial and batch mean) and NEST are printed
side by side. The work per step is counted as age bins updated per step (sum of the history lengths):
the per-step cost of the algorithm is O(sum K) in both simulators.

    python benchmarks/meso.py                         # 10 s, trials 64 and 1024
    python benchmarks/meso.py --t-end 1000 --trials 64

Prints one table and writes benchmarks/results/meso.json (with machine info).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time

import jax
import numpy as np
from _machine import cpu_model

import jaxpop
from jaxpop.meso import SchwalgerMeso
from jaxpop.presets import schwalger_2017

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "peers"))

MODELS = {"pd": (lambda: schwalger_2017.potjans_diesmann_gif(1.0), 0.1),
          "ei": (lambda: schwalger_2017.ei_network(adaptation=True), 0.5)}




def run_jax(model, t_end, dt, trials, t_warm):
    block = int(round(t_warm / dt))
    kw = dict(key=jax.random.PRNGKey(0), record="A", record_every=block, trials=trials)
    t0 = time.perf_counter()
    jax.block_until_ready(jaxpop.simulate(model, t_end, dt, **kw)["A"])
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    A = np.asarray(jax.block_until_ready(jaxpop.simulate(model, t_end, dt, **kw)["A"]))
    wall = time.perf_counter() - t0
    rates = A[..., 1:, :].mean(axis=-2)  # drop the warm-up block
    return wall, first - wall, rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t-end", type=float, default=10000.0)
    ap.add_argument("--t-warm", type=float, default=500.0)
    ap.add_argument("--trials", type=int, nargs="*", default=[64, 1024])
    ap.add_argument("--models", nargs="*", default=["pd", "ei"])
    ap.add_argument("--no-nest", action="store_true")
    ap.add_argument("--counts", default="binomial", choices=["binomial", "poisson", "gaussian"],
                    help="jaxpop count distribution (NEST: binomial)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "meso.json"))
    args = ap.parse_args()
    out = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                       "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]},
           "t_end_ms": args.t_end, "counts": args.counts, "results": {}}
    rows = []
    for name in args.models:
        make, dt = MODELS[name]
        params = make()
        model = SchwalgerMeso(params, dt=dt, counts=args.counts)
        n_steps = int(round(args.t_end / dt))
        bins = int(sum(model.K))
        res = {"dt": dt, "K": list(model.K), "bins_per_step": bins, "n_steps": n_steps}
        if not args.no_nest:
            if importlib.util.find_spec("nest") is None:
                print("NEST not importable: peer skipped")
            else:
                from test_nest_gif_pop_psc_exp import run_nest
                counts, wall = run_nest(params, dt, args.t_end, seed=1)
                rates = counts[int(round(args.t_warm / dt)):].mean(0) / (np.asarray(params.N) * dt * 1e-3)
                res["nest"] = {"wall_s": wall, "rates_hz": rates.tolist()}
                rows.append((name, "NEST", 1, wall, wall, rates))
        for trials in [None] + list(args.trials):
            wall, compile_s, rates = run_jax(model, args.t_end, dt, trials, args.t_warm)
            n = 1 if trials is None else trials
            mean_rates = rates if trials is None else rates.mean(0)
            res[f"jaxpop_{n}"] = {"wall_s": wall, "compile_s": compile_s, "per_trial_s": wall / n,
                                  "bin_updates_per_s": bins * n_steps * n / wall, "rates_hz": mean_rates.tolist()}
            rows.append((name, "jaxpop", n, wall, wall / n, mean_rates))
        out["results"][name] = res
    print(f"{'model':5} {'sim':7} {'trials':>6} {'wall s':>9} {'s/trial':>9} {'x NEST/trial':>12}  rates (Hz)")
    for name, sim, n, wall, per, rates in rows:
        nest_wall = out["results"][name].get("nest", {}).get("wall_s")
        speed = f"{nest_wall / per:12.2f}" if nest_wall else f"{'-':>12}"
        print(f"{name:5} {sim:7} {n:6d} {wall:9.3f} {per:9.4f} {speed}  " + " ".join(f"{r:6.3f}" for r in rates))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
