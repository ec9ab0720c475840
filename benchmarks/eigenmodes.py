"""Benchmark: cost per step of the eigenmode model (M = 1, 3, 10 modes) against the refractory-density equation and
``SchwalgerMeso`` for the same population (issue 11, part 7).

Population: the recurrent excitatory PAR population of Pietras, Gallice & Schwalger (2020), Fig. 7 (Delta = 5 ms,
tau_h = 20 ms, tau_s = 10 ms, nu(h) = 100 Hz / (1 + exp(-(h - 5 mV)/2 mV)), J = 0.02 mV s), N = 500, dt = 0.1 ms,
driven by a 20-Hz modulation; all models in their deterministic form (the eigenmode model's closed-form PAR
coefficients, the RDE with its automatic age window) and as finite-size models (Langevin eigenmodes, the RDE with the
Λ correction and binomial counts). ``SchwalgerMeso`` runs a GIF population (escape-noise LIF, no adaptation) with its automatic age window (5 tau_m = 1000
bins; it has no PAR hazard): the cost of the age axis it shares with the RDE, whose PAR window needs only the dead time
(52 bins).

Each model runs ``--t-end`` ms for one trial and for ``--trials`` (vmapped) trials; compile time is excluded (reported
separately); best of two repeats on a shared machine. Writes benchmarks/results/eigenmodes.json.

    python benchmarks/eigenmodes.py                    # 1 and 1024 trials, 200 ms
    python benchmarks/eigenmodes.py --trials 64 --t-end 100
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import numpy as np
from _machine import cpu_model

import jaxpop
from jaxpop.analysis.renewal import PAR, RenewalFamily, Sigmoid
from jaxpop.core.gif_params import GIFParams
from jaxpop.meso import Eigenmode, RefractoryDensity, SchwalgerMeso

DT = 0.1
N = 500


def models():
    fam = RenewalFamily(PAR(100.0, 5.0), Sigmoid(100.0, 5.0, 2.0), "nu")
    kw = dict(N=N, dt=DT, tau_h=20.0, tau_s=10.0, J=0.02, h_init=5.0)
    out = {}
    for M in (1, 3, 10):
        out[f"eigenmode M={M}"] = Eigenmode(fam, M=M, **kw)
        out[f"eigenmode M={M} langevin"] = Eigenmode(fam, M=M, variant="langevin", **kw)
    rd = RefractoryDensity(fam, **kw)
    out["RDE"] = rd
    out["RDE lambda"] = RefractoryDensity(fam, variant="lambda", history=rd.K, **kw)
    gif = GIFParams((N,), mu=20.0, tau_m=20.0, t_ref=5.0, lambda_0=10.0, Delta_V=2.5, V_T_star=15.0, V_reset=0.0)
    out["SchwalgerMeso"] = SchwalgerMeso(gif, dt=DT, variant="mean_field")
    out["SchwalgerMeso lambda"] = SchwalgerMeso(gif, dt=DT)
    return out, {"RDE": rd.K, "SchwalgerMeso": out["SchwalgerMeso"].K[0]}


def time_model(model, t_end, trials):
    drive = jaxpop.Sinusoid(1.0, 2 * np.pi * 20e-3, offset=5.0)
    if isinstance(model, SchwalgerMeso):
        drive = jaxpop.Sinusoid(1.0, 2 * np.pi * 20e-3)
    f = jax.jit(lambda key: jaxpop.simulate(model, t_end, DT, key=key, drive=drive, record="A",
                                            record_every=int(round(t_end / DT)), trials=trials)["A"])
    t0 = time.perf_counter()
    jax.block_until_ready(f(jax.random.PRNGKey(0)))
    first = time.perf_counter() - t0
    wall = np.inf
    for r in range(2):
        t0 = time.perf_counter()
        jax.block_until_ready(f(jax.random.PRNGKey(1 + r)))
        wall = min(wall, time.perf_counter() - t0)
    steps = int(round(t_end / DT))
    return wall / steps, max(first - wall, 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t-end", type=float, default=200.0)
    ap.add_argument("--trials", type=int, nargs="+", default=[1, 1024])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "eigenmodes.json"))
    args = ap.parse_args()
    ms, K = models()
    rows = []
    print(f"{'model':28s} {'trials':>6s} {'us/step':>10s} {'us/step/trial':>14s} {'compile s':>10s}")
    for trials in args.trials:
        for name, model in ms.items():
            per_step, compile_s = time_model(model, args.t_end, None if trials == 1 else trials)
            rows.append(dict(model=name, trials=trials, seconds_per_step=per_step, compile_seconds=compile_s))
            print(f"{name:28s} {trials:6d} {per_step * 1e6:10.2f} {per_step / trials * 1e6:14.3f} {compile_s:10.1f}",
                  flush=True)
    ratios = {}
    for trials in args.trials:
        cost = {r["model"]: r["seconds_per_step"] for r in rows if r["trials"] == trials}
        ratios[str(trials)] = {"RDE / eigenmode M=3": cost["RDE"] / cost["eigenmode M=3"],
                               "RDE lambda / eigenmode M=3 langevin":
                                   cost["RDE lambda"] / cost["eigenmode M=3 langevin"]}
        print(f"trials {trials}: RDE / 3 modes = {ratios[str(trials)]['RDE / eigenmode M=3']:.1f}x, finite size "
              f"{ratios[str(trials)]['RDE lambda / eigenmode M=3 langevin']:.1f}x")
    out = dict(machine=dict(cpu=cpu_model(), cores=os.cpu_count(), platform=platform.platform(),
                            device=str(jax.devices()[0]), load_average=os.getloadavg()),
               jax=jax.__version__, t_end_ms=args.t_end, dt_ms=DT, N=N, age_bins=K, rows=rows, ratios=ratios)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
