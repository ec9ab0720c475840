"""Benchmark: the E-I GIF network of NEST's ``gif_pop_psc_exp`` example (``pynest/examples/gif_pop_psc_exp.py``;
N = 800 + 200, fixed in-degree p = 0.2, two adaptation kernels, dt = 0.5 ms), 1 s of biological time,
jaxpop ``GIFNetwork`` vs NEST ``gif_psc_exp``.

jaxpop: wall time of the first call (compile + run) and of a second call (run only), spike rasters
recorded every step. NEST: wall time of Create + Connect + Simulate in a fresh subprocess (one
thread), its import excluded. Both report the mean rates, which must agree statistically.

    python benchmarks/gif_network.py [--t-end 1000]

Prints one table and writes benchmarks/results/gif_network.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import jax
import numpy as np

import jaxpop
from jaxpop.micro import GIFNetwork

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.peers.test_nest_gif_psc_exp import ei_params, nest_config  # noqa: E402

_NEST = r"""
import json, sys, time
import nest
cfg = json.loads(sys.argv[1])
t = time.perf_counter()
nest.set_verbosity("M_ERROR"); nest.ResetKernel()
nest.SetKernelStatus({"resolution": cfg["dt"], "rng_seed": cfg["seed"], "local_num_threads": 1})
pops = [nest.Create("gif_psc_exp", n, params=p) for n, p in zip(cfg["N"], cfg["params"])]
for c in cfg["conns"]:
    nest.Connect(pops[c["source"]], pops[c["target"]], {"rule": "fixed_indegree", "indegree": c["K"]},
                 {"synapse_model": "static_synapse", "weight": c["weight"], "delay": c["delay"]})
recs = [nest.Create("spike_recorder") for _ in pops]
for p, r in zip(pops, recs):
    nest.Connect(p, r)
nest.Simulate(cfg["t_end"])
wall = time.perf_counter() - t
rates = [r.get("n_events") / n / cfg["t_end"] * 1e3 for r, n in zip(recs, cfg["N"])]
print("RESULT" + json.dumps({"wall": wall, "rates": rates}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--t-end", type=float, default=1000.0)
    args = ap.parse_args()
    P, dt = ei_params(), 0.5
    net = GIFNetwork(P, dt=dt)
    key = jax.random.PRNGKey(0)
    times = []
    for _ in range(2):
        t = time.perf_counter()
        res = jaxpop.simulate(net, args.t_end, dt, key=key, record=("A", "spikes"))
        jax.block_until_ready(res.data["A"])
        times.append(time.perf_counter() - t)
    rates_j = np.asarray(res.data["A"]).mean(axis=0).tolist()
    cfg = nest_config(P, args.t_end, dt, 1)
    out = subprocess.run([sys.executable, "-c", _NEST, json.dumps(cfg)], capture_output=True, text=True)
    line = [s for s in out.stdout.splitlines() if s.startswith("RESULT")]
    nest_res = json.loads(line[0][6:]) if line else {"wall": float("nan"), "rates": [float("nan")] * 2}
    result = {
        "model": "E-I GIF network of NEST's gif_pop_psc_exp example, N=(800,200), fixed in-degree p=0.2, dt=0.5 ms",
        "t_end_ms": args.t_end,
        "jaxpop_first_call_s": times[0], "jaxpop_run_s": times[1], "jaxpop_rates_hz": rates_j,
        "nest_wall_s": nest_res["wall"], "nest_rates_hz": nest_res["rates"],
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "jax": jax.__version__, "backend": jax.default_backend()},
    }
    print(f"{'simulator':<22}{'wall (s)':>10}{'rate E (Hz)':>14}{'rate I (Hz)':>14}")
    print(f"{'jaxpop (compile+run)':<22}{times[0]:>10.2f}{rates_j[0]:>14.2f}{rates_j[1]:>14.2f}")
    print(f"{'jaxpop (run)':<22}{times[1]:>10.2f}")
    rn = nest_res["rates"]
    print(f"{'NEST gif_psc_exp':<22}{nest_res['wall']:>10.2f}{rn[0]:>14.2f}{rn[1]:>14.2f}")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "gif_network.json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
