"""Benchmark: automatic chunking of trials on a CPU (``simulate(trials_per_chunk=None)``) vs explicit chunks.

``jaxpop.simulate(meso_EI, t_end, 0.5, trials=1024)`` with ``meso_EI = SchwalgerMeso(
schwalger_2017.ei_network(adaptation=True), dt=0.5)`` (NEST's E–I example, 2 populations, 2 x 2772 age
bins, 222 kB of state per trial in float64), run with no ``trials_per_chunk`` (the default:
``jaxpop.core.simulate.auto_chunk``) and with explicit ``trials_per_chunk`` in ``--chunks``
(1024 = one batch), in float64 and float32. Cost per trial and time step (µs), compile time excluded
(each configuration is compiled ahead of time, then called), best of ``--repeats`` calls; the calls go
round-robin over the configurations so that a change of load on a shared machine hits all of them.
The target: the default within 1.2x of the best explicit chunking.

    python benchmarks/chunking.py                          # 100 ms, 1024 trials, float64 and float32
    python benchmarks/chunking.py --repeats 4 --dtypes float32 --chunks 1024 16 32

The cost per trial and step does not depend on the run length: 100 ms (200 steps) is the default because
one 500-ms call of 1024 trials takes about 100 s on a 2-core CPU (the issue's protocol, 500 ms, with
``--t-end 500``).

Prints one table and writes benchmarks/results/chunking.json (with machine, caches and load average);
a run with some ``--dtypes`` replaces those entries and keeps the others of an existing file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import jax
import numpy as np
from _machine import cache_sizes, cpu_model

import jaxpop
from jaxpop.core.simulate import auto_chunk
from jaxpop.meso import SchwalgerMeso
from jaxpop.presets import schwalger_2017


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t-end", type=float, default=100.0, help="ms (the cost per step does not depend on it)")
    ap.add_argument("--dt", type=float, default=0.5)
    ap.add_argument("--trials", type=int, default=1024)
    ap.add_argument("--chunks", type=int, nargs="*", default=[1024, 8, 16, 32, 64, 128, 256])
    ap.add_argument("--dtypes", nargs="*", default=["float64", "float32"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "chunking.json"))
    args = ap.parse_args()
    out = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "caches": cache_sizes(),
                       "platform": platform.platform(), "jax": jax.__version__,
                       "devices": [str(d) for d in jax.devices()], "load_average_at_start": os.getloadavg()},
           "t_end_ms": args.t_end, "dt_ms": args.dt, "trials": args.trials, "repeats": args.repeats, "results": {}}
    n_steps = int(round(args.t_end / args.dt))
    key = jax.random.PRNGKey(0)
    rows = []
    for dtype in args.dtypes:
        model = SchwalgerMeso(schwalger_2017.ei_network(adaptation=True), dt=args.dt, dtype=dtype)
        state = jax.eval_shape(model.init, key)
        state_bytes = sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(state))
        auto = auto_chunk(args.trials, state_bytes, jax.default_backend())
        configs = [None] + [c for c in args.chunks if args.trials % c == 0]
        load_start, date = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M")
        compiled, compile_s = {}, {}
        for c in configs:
            f = jax.jit(lambda key, c=c: jaxpop.simulate(model, args.t_end, args.dt, key=key, trials=args.trials,
                                                         trials_per_chunk=c)["A"])
            t0 = time.perf_counter()
            compiled[c] = f.lower(key).compile()
            compile_s[c] = time.perf_counter() - t0
        best = {c: np.inf for c in configs}
        for r in range(args.repeats):  # round-robin: the machine is shared
            for c in configs:
                t0 = time.perf_counter()
                jax.block_until_ready(compiled[c](jax.random.PRNGKey(1 + r)))
                best[c] = min(best[c], time.perf_counter() - t0)
                print(f"{dtype} {'default' if c is None else c}: {best[c] / n_steps / args.trials * 1e6:.2f} "
                      f"us per trial-step (best so far), load {os.getloadavg()[0]:.1f}", flush=True)
        per = {c: best[c] / n_steps / args.trials * 1e6 for c in configs}
        best_explicit = min(per[c] for c in configs if c is not None)
        res = {"date": date, "load_average_at_start": load_start, "load_average_at_end": os.getloadavg(),
               "state_bytes_per_trial": state_bytes, "auto_chunk": auto,
               "default_over_best_explicit": per[None] / best_explicit, "configs": []}
        for c in configs:
            res["configs"].append({"trials_per_chunk": c, "us_per_trial_step": per[c], "wall_s": best[c],
                                   "compile_s": compile_s[c], "x_best_explicit": per[c] / best_explicit})
            label = f"default (= {auto})" if c is None else (f"{c} (one batch)" if c == args.trials else str(c))
            rows.append((dtype, label, c if c is not None else auto, state_bytes, per[c], per[c] / best_explicit))
        out["results"][dtype] = res
    out["machine"]["load_average_at_end"] = os.getloadavg()
    print(f"\nSchwalgerMeso E-I (adaptation), {args.trials} trials x {n_steps} steps, best of {args.repeats}; "
          f"{cpu_model()}, {os.cpu_count()} cores")
    print(f"{'dtype':8} {'trials_per_chunk':18} {'state/chunk (MiB)':>17} {'us/trial-step':>14} {'x best explicit':>16}")
    for dtype, label, c, b, p, x in rows:
        print(f"{dtype:8} {label:18} {b * c / 2**20:17.2f} {p:14.2f} {x:16.2f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    if os.path.exists(args.out):  # keep the other dtypes of an earlier run with the same settings
        with open(args.out) as f:
            old = json.load(f)
        if all(old.get(k) == out[k] for k in ("t_end_ms", "dt_ms", "trials")):
            out["results"] = {**{k: v for k, v in old.get("results", {}).items() if k not in out["results"]},
                              **out["results"]}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
