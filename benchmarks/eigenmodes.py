"""Benchmark: cost per step of the eigenmode model (M = 1, 3, 10 modes) against the refractory-density equation and
``SchwalgerMeso`` for the same population (issue 11, part 7).

Populations, N = 500, dt = 0.1 ms, all driven by a 20-Hz modulation of the input:

* ``PAR``: the recurrent excitatory PAR population of Pietras, Gallice & Schwalger (2020), Fig. 7 (Delta = 5 ms,
  tau_h = 20 ms, tau_s = 10 ms, nu(h) = 100 Hz / (1 + exp(-(h - 5 mV)/2 mV)), J = 0.02 mV s), h = 5 + sin(2 pi 20 Hz t)
  mV; all models in their deterministic form (the eigenmode model's closed-form PAR coefficients, and tabulated:
  ``coefficients='table'``; the RDE with its automatic age window) and as finite-size models (Langevin eigenmodes, the
  RDE with the Λ correction and binomial counts). ``SchwalgerMeso`` runs a GIF population (escape-noise LIF, no
  adaptation) with its automatic age window (5 tau_m = 1000 bins; it has no PAR hazard): the cost of the age axis it
  shares with the RDE, whose PAR window needs only the dead time (52 bins).
* ``Gamma`` and ``PIF``: the Fig. 5 populations (r = 75 Hz, C_V = 1/sqrt(15)): ``RenewalFamily(GammaRenewal(75, 15),
  Linear(), 'rate_hz')`` at h = 75 + 7.5 sin(2 pi 20 Hz t), ``RenewalFamily(PIF.from_rate_cv(75, 15**-0.5), Linear(),
  'mu')`` at h = 0.75 + 0.075 sin(2 pi 20 Hz t), tau_h = 10 ms, no recurrence: the RDE (automatic age window: its
  hazard is evaluated on every bin every step) against the tabulated eigenmode model (default table; PIF: h in
  0.75 ± 10 %, the quadrature extent of h_init); the direct quadrature eigenmode model is not timed (it evaluates the
  coefficients on 4001 ages every step). A mode count the model does not have (Gamma of integer shape 15 has 7
  eigenvalues in the upper half plane) or a table that cannot be built is recorded with its error.

Each model runs ``--t-end`` ms for one trial (long enough that the call's fixed cost, ~0.1 ms, is below 0.01 µs per
step); the finite-size models also run ``--trials-batch`` vmapped trials for
``--t-end-batch`` ms (deterministic models do not depend on the key: a vmapped batch of them measures nothing).
Compile time is excluded (reported separately), best of two repeats (one where a run takes over 10 s) on a shared
machine; the load average is recorded. Whether each model's output is finite is recorded (``finite``). Writes
benchmarks/results/eigenmodes.json.

    python benchmarks/eigenmodes.py                    # 1 trial 1000 ms, 1024 trials 20 ms
    python benchmarks/eigenmodes.py --populations PAR --trials-batch 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import jax
import numpy as np
from _machine import cpu_model

import jaxpop
from jaxpop.analysis.renewal import PAR, PIF, GammaRenewal, Linear, RenewalFamily, Sigmoid
from jaxpop.core.gif_params import GIFParams
from jaxpop.meso import Eigenmode, RefractoryDensity, SchwalgerMeso
from jaxpop.meso.eigenmode import _quadrature_extent

DT = 0.1
N = 500
W = 2 * np.pi * 20e-3  # rad/ms


def models(population):
    """``{name: model or error message}``, the drive, and the age bins of the RDE-like models."""
    out, bins = {}, {}
    if population == "PAR":
        fam = RenewalFamily(PAR(100.0, 5.0), Sigmoid(100.0, 5.0, 2.0), "nu")
        kw = dict(N=N, dt=DT, tau_h=20.0, tau_s=10.0, J=0.02, h_init=5.0)
        for M in (1, 3, 10):
            out[f"eigenmode M={M}"] = Eigenmode(fam, M=M, **kw)
            out[f"eigenmode M={M} langevin"] = Eigenmode(fam, M=M, variant="langevin", **kw)
        for M in (1, 3, 10):
            for variant in ("mean_field", "langevin"):
                name = f"eigenmode M={M} table" + (" langevin" if variant == "langevin" else "")
                out[name] = build(lambda: Eigenmode(fam, M=M, variant=variant, coefficients="table", **kw))
        rd = RefractoryDensity(fam, **kw)
        out["RDE"] = rd
        out["RDE lambda"] = RefractoryDensity(fam, variant="lambda", history=rd.K, **kw)
        gif = GIFParams((N,), mu=20.0, tau_m=20.0, t_ref=5.0, lambda_0=10.0, Delta_V=2.5, V_T_star=15.0, V_reset=0.0)
        out["SchwalgerMeso"] = SchwalgerMeso(gif, dt=DT, variant="mean_field")
        out["SchwalgerMeso lambda"] = SchwalgerMeso(gif, dt=DT)
        bins = {"RDE": rd.K, "SchwalgerMeso": out["SchwalgerMeso"].K[0]}
        return out, jaxpop.Sinusoid(1.0, W, offset=5.0), bins
    if population == "Gamma":
        fam, h0, table = RenewalFamily(GammaRenewal(75.0, 15.0), Linear(), "rate_hz"), 75.0, {}
    else:
        fam, h0 = RenewalFamily(PIF.from_rate_cv(75.0, 15**-0.5), Linear(), "mu"), 0.75
        table = dict(h_range=(0.9 * h0, 1.1 * h0), t_age=_quadrature_extent(fam.at(h0)))
    kw = dict(N=N, dt=DT, tau_h=10.0, h_init=h0)
    rd = RefractoryDensity(fam, **kw)
    out["RDE"] = rd
    out["RDE lambda"] = RefractoryDensity(fam, variant="lambda", history=rd.K, **kw)
    for M in (1, 3, 10):
        for variant in ("mean_field", "langevin"):
            name = f"eigenmode M={M} table" + (" langevin" if variant == "langevin" else "")
            out[name] = build(lambda: Eigenmode(fam, M=M, variant=variant, coefficients="table", **table, **kw))
    return out, jaxpop.Sinusoid(0.1 * h0, W, offset=h0), {"RDE": rd.K}


def build(make):
    """The model, with its construction time, or the error it raised (a message)."""
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = make()
    except ValueError as err:
        return f"not built: {err}"
    return model, time.perf_counter() - t0, [str(w.message) for w in caught]


def ratios_of(rows, trial_counts):
    """``{trials: {"[population: ]RDE / eigenmode ...": cost ratio}}`` (PAR's keys without the population, as before)."""
    pairs = [("RDE", "eigenmode M=3"), ("RDE lambda", "eigenmode M=3 langevin"), ("RDE", "eigenmode M=3 table"),
             ("RDE lambda", "eigenmode M=3 table langevin"), ("RDE", "eigenmode M=1 table"),
             ("RDE lambda", "eigenmode M=1 table langevin")]
    ratios = {}
    for trials in trial_counts:
        got = ratios.setdefault(str(trials), {})
        for pop in dict.fromkeys(r["population"] for r in rows):
            cost = {r["model"]: r["seconds_per_step"] for r in rows if r["trials"] == trials and r["population"] == pop}
            prefix = "" if pop == "PAR" else f"{pop}: "
            got.update({f"{prefix}{a} / {b}": cost[a] / cost[b] for a, b in pairs if a in cost and b in cost})
    return ratios


def time_model(model, drive, t_end, trials):
    f = jax.jit(lambda key: jaxpop.simulate(model, t_end, DT, key=key, drive=drive, record="A",
                                            record_every=int(round(t_end / DT)), trials=trials)["A"])
    t0 = time.perf_counter()
    out = jax.block_until_ready(f(jax.random.PRNGKey(0)))
    first = time.perf_counter() - t0
    wall = np.inf
    for r in range(2 if first < 10 else 1):
        t0 = time.perf_counter()
        jax.block_until_ready(f(jax.random.PRNGKey(1 + r)))
        wall = min(wall, time.perf_counter() - t0)
    steps = int(round(t_end / DT))
    return wall / steps, max(first - wall, 0.0), bool(np.all(np.isfinite(np.asarray(out))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t-end", type=float, default=1000.0)
    ap.add_argument("--t-end-batch", type=float, default=20.0)
    ap.add_argument("--trials-batch", type=int, default=1024)
    ap.add_argument("--populations", nargs="+", default=["PAR", "Gamma", "PIF"])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "eigenmodes.json"))
    args = ap.parse_args()
    rows, bins, failed = [], {}, {}
    load = [os.getloadavg()]
    print(f"{'population':10s} {'model':32s} {'trials':>6s} {'us/step':>10s} {'us/step/trial':>14s} {'compile s':>10s}")
    for pop in args.populations:
        ms, drive, K = models(pop)
        bins[pop] = K
        for trials, t_end in ((1, args.t_end), (args.trials_batch, args.t_end_batch)):
            for name, entry in ms.items():
                build_s, warned = None, []
                if isinstance(entry, str):
                    failed[f"{pop}: {name}"] = entry
                    continue
                if isinstance(entry, tuple):
                    entry, build_s, warned = entry
                if trials > 1 and not (getattr(entry, "variant", "") in ("langevin", "lambda")):
                    continue  # deterministic: a batch of identical trials is not computed per trial
                try:
                    per_step, compile_s, finite = time_model(entry, drive, t_end, None if trials == 1 else trials)
                except Exception as err:  # noqa: BLE001 (e.g. the finite-size count check on a non-finite rate)
                    lines = [x for x in str(err).splitlines() if "Error:" in x] or str(err).splitlines()[:1]
                    failed[f"{pop}: {name}, {trials} trials"] = f"failed at run time: {lines[-1].strip()}"
                    print(f"{pop:10s} {name:32s} {trials:6d}  failed at run time", flush=True)
                    continue
                row = dict(population=pop, model=name, trials=trials, seconds_per_step=per_step,
                           compile_seconds=compile_s, finite=finite, t_end_ms=t_end)
                if build_s is not None:
                    row.update(build_seconds=build_s, warnings=warned)
                rows.append(row)
                print(f"{pop:10s} {name:32s} {trials:6d} {per_step * 1e6:10.2f} {per_step / trials * 1e6:14.3f} "
                      f"{compile_s:10.1f}{'' if finite else '  (non-finite output)'}", flush=True)
        load.append(os.getloadavg())
    for key, msg in failed.items():
        print(f"{key}: {msg[:160]}")
    ratios = ratios_of(rows, (1, args.trials_batch))
    for trials, got in ratios.items():
        for k, v in got.items():
            print(f"trials {trials}: {k} = {v:.1f}x")
    out = dict(machine=dict(cpu=cpu_model(), cores=os.cpu_count(), platform=platform.platform(),
                            device=str(jax.devices()[0]), load_average=load),
               jax=jax.__version__, t_end_ms=args.t_end, t_end_batch_ms=args.t_end_batch, dt_ms=DT, N=N,
               age_bins=bins, rows=rows, not_built=failed, ratios=ratios)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
