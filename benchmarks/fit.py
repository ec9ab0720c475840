"""Benchmark: the exact mesoscopic likelihood and a multi-start fit of René et al.'s E–I network (issue 10).

Data: ``SchwalgerMeso(rene_2020.ei_network(), dt=1.0, scheme='midpoint')`` (N = (500, 100), 14 free parameters,
:mod:`jaxpop.presets.rene_2020`) driven by ``rene_2020.training_input`` for ``--t-data`` ms (default 9 s),
counts in 1-ms bins, simulated by the model itself (meso -> meso: the truth is known).

1. Time of one log-likelihood and of one log-likelihood + gradient (14 parameters, reverse mode) over the whole
   data, compile time excluded, best of ``--repeats`` calls, for the history window sized at the truth and the one
   sized for the fit's starting box (``--factor``: adaptation q, tau and tau_m up to ``factor`` x, Delta_u down to
   1/``factor``; the window must stay long enough for every start, :func:`jaxpop.meso.window_too_short`).
2. Wall time of a whole fit (compile included): ``--starts`` starts drawn by ``rene_2020.prior_starts`` (each
   parameter log-uniform within ``--factor`` of the truth, mu within +-2 mV), ``--steps`` Adam steps on random
   windows of ``--window`` ms after ``--window-burn-in`` ms unscored, L-BFGS polish (``--polish`` steps) of the best
   ``--polish-starts`` on the whole data, Laplace errors. Estimates, relative errors, Laplace SEs and z-scores are
   recorded.

No peer runs here: René et al.'s implementation (Theano-based ``sinn`` / ``mesoGIF``) reports 5-16 hours per fit on
a CPU (their paper); that figure is quoted, not re-measured.

    python benchmarks/fit.py                                   # defaults: 20 starts
    python benchmarks/fit.py --starts 4 --steps 60 --polish 30 --polish-starts 2

Writes benchmarks/results/fit.json (with machine and load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import equinox as eqx
import jax
import numpy as np
from _machine import cache_sizes, cpu_model, repo_relative

import jaxpop
from jaxpop.fit import Parameters, PopulationData, fit, log_likelihood
from jaxpop.meso import SchwalgerMeso, history_length
from jaxpop.presets import rene_2020


def _best_of(fn, repeats):
    jax.block_until_ready(fn())  # compile
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t)
    return min(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t-data", type=float, default=9000.0, help="ms of data (1-ms bins)")
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--window", type=float, default=1000.0)
    ap.add_argument("--window-burn-in", type=float, default=500.0,
                    help="ms run unscored before each window (2.5 tau_theta of the truth)")
    ap.add_argument("--polish", type=int, default=30)
    ap.add_argument("--polish-starts", type=int, default=2)
    ap.add_argument("--factor", type=float, default=1.5)
    ap.add_argument("--learning-rate", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-fit", action="store_true")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "fit.json"))
    args = ap.parse_args()
    out = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "caches": cache_sizes(),
                       "platform": platform.platform(), "jax": jax.__version__,
                       "devices": [str(d) for d in jax.devices()], "load_average_at_start": os.getloadavg()},
           "args": dict(vars(args), out=repo_relative(args.out))}
    P = rene_2020.ei_network()
    truth_model = SchwalgerMeso(P, dt=1.0, scheme="midpoint")
    drive = rene_2020.training_input(args.t_data, seed=1)
    res = jaxpop.simulate(truth_model, args.t_data, 1.0, key=jax.random.PRNGKey(0), record="n", drive=drive)
    data = PopulationData.from_result(res, model=truth_model, drive=drive)
    f = args.factor
    box = P.replace(q_sfa=np.asarray(P.q_sfa) * f, tau_sfa=np.asarray(P.tau_sfa) * f,
                    Delta_V=np.asarray(P.Delta_V) / f, tau_m=np.asarray(P.tau_m) * f)
    K_box = history_length(box, 1.0)
    timings = {}
    for name, K in (("history_at_truth", truth_model.K), ("history_for_starts", K_box)):
        model = SchwalgerMeso(P, dt=1.0, scheme="midpoint", history=K)
        spec = Parameters(model, rene_2020.free_parameters())
        u0 = spec.init()
        ll = eqx.filter_jit(lambda u, spec=spec: log_likelihood(spec.model_at(u), data))
        vg = eqx.filter_jit(jax.value_and_grad(lambda u, spec=spec: log_likelihood(spec.model_at(u), data)))
        timings[name] = {"K": list(K), "loglik_s": _best_of(lambda: ll(u0), args.repeats),
                         "loglik_and_grad_s": _best_of(lambda: vg(u0), args.repeats)}
        print(name, timings[name], flush=True)
    out["timings"] = timings
    if not args.skip_fit:
        model = SchwalgerMeso(P, dt=1.0, scheme="midpoint", history=K_box)
        spec = Parameters(model, rene_2020.free_parameters())
        truth = np.asarray(spec.flatten(spec.values(spec.init())))
        starts = rene_2020.prior_starts(model, jax.random.PRNGKey(5), args.starts, factor=args.factor)
        t = time.perf_counter()
        r = fit(model, data, spec, key=jax.random.PRNGKey(1), starts=starts, steps=args.steps,
                learning_rate=args.learning_rate, window=args.window, window_burn_in=args.window_burn_in,
                polish=args.polish, polish_starts=args.polish_starts, batch=1, progress=True)
        wall = time.perf_counter() - t
        print(r.summary())
        z = (r.estimate - truth) / r.se
        out["fit"] = {"wall_s": wall, "labels": list(r.labels), "truth": truth, "estimate": r.estimate, "se": r.se,
                      "relative_error": r.estimate / truth - 1, "z": z,
                      "within_3_se_fraction": float(np.mean(np.abs(z) <= 3)),
                      "final_objective": r.final_objective, "best_start": r.best_start,
                      "diverged": int(r.diverged.sum())}
        print(f"wall {wall:.1f} s; |z| <= 3 for {100 * out['fit']['within_3_se_fraction']:.0f} % of the parameters")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2, default=lambda x: np.asarray(x).tolist())


if __name__ == "__main__":
    main()
