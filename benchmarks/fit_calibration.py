"""Calibration of the Laplace standard errors: spread of maximum-likelihood estimates over replicate datasets.

René et al.'s E–I network (``SchwalgerMeso(rene_2020.ei_network(), dt=1.0, scheme='midpoint')``), ``--replicates``
datasets of ``--t-data`` ms under the same training input, each simulated with its own key; the four weights J
are fitted (the others fixed at the truth) by L-BFGS from the truth (``--polish`` steps) and their Laplace
standard errors computed (the observed information, by automatic differentiation). If the errors are calibrated,
the standard deviation of the estimates over the replicates equals the mean Laplace SE for each weight (the
issue's acceptance: within 30 %; with R replicates the sample SD has a relative standard error of about
1/sqrt(2(R - 1)), 10 % for R = 50). Also reported: the mean z-score and the fraction of |z| <= 2.

One compiled objective, optimiser and Hessian serve every replicate (the data are arguments, not constants).

    python benchmarks/fit_calibration.py                      # 50 replicates of 3 s
    python benchmarks/fit_calibration.py --replicates 100 --t-data 9000

Writes benchmarks/results/fit_calibration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _machine import cpu_model, repo_relative

import jaxpop
from jaxpop.fit import Parameters, PopulationData, Real, log_likelihood
from jaxpop.meso import SchwalgerMeso
from jaxpop.presets import rene_2020


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=50)
    ap.add_argument("--t-data", type=float, default=3000.0)
    ap.add_argument("--polish", type=int, default=25)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "fit_calibration.json"))
    args = ap.parse_args()
    model = SchwalgerMeso(rene_2020.ei_network(), dt=1.0, scheme="midpoint")
    drive = rene_2020.training_input(args.t_data, seed=1)
    spec = Parameters(model, {"params.J": Real()})
    truth = np.asarray(spec.flatten(spec.values(spec.init())))

    def neg_ll(x, data):  # per scored count, in the constrained coordinates (Real: u = x)
        return -log_likelihood(spec.model_at(spec.unflatten(x)), data) / data.counts.size

    vg = optax.value_and_grad_from_state(neg_ll)
    opt = optax.lbfgs()

    @eqx.filter_jit
    def fit_one(data):
        x0 = jnp.asarray(truth)

        def step(carry, _):
            x, state = carry
            val, g = vg(x, data, state=state)
            upd, state = opt.update(g, state, x, value=val, grad=g, value_fn=lambda y: neg_ll(y, data))
            return (optax.apply_updates(x, upd), state), val

        (x, _), _ = jax.lax.scan(step, (x0, opt.init(x0)), None, length=args.polish)
        H = jax.hessian(lambda y: -log_likelihood(spec.model_at(spec.unflatten(y)), data))(x)
        return x, H, jnp.linalg.norm(jax.grad(neg_ll)(x, data))

    simulate = eqx.filter_jit(lambda key: jaxpop.simulate(model, args.t_data, 1.0, key=key, record="n",
                                                          drive=drive)["n"])
    est, se, gnorm, times = [], [], [], []
    for r in range(args.replicates):
        t = time.perf_counter()
        n = np.asarray(simulate(jax.random.PRNGKey(1000 + r)))
        data = PopulationData.from_counts(n, bin_width=1.0, N=model.params.N, drive=drive)
        x, H, gn = fit_one(data)
        cov = np.linalg.inv(0.5 * (np.asarray(H) + np.asarray(H).T))
        est.append(np.asarray(x))
        se.append(np.sqrt(np.diag(cov)))
        gnorm.append(float(gn))
        times.append(time.perf_counter() - t)
        print(f"replicate {r}: {np.round(est[-1], 4)} +- {np.round(se[-1], 4)} (|grad| {gn:.1e}, "
              f"{times[-1]:.1f} s)", flush=True)
    est, se = np.array(est), np.array(se)
    sd, mean_se = est.std(axis=0, ddof=1), se.mean(axis=0)
    z = (est - truth) / se
    out = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                       "jax": jax.__version__, "load_average_at_start": os.getloadavg()},
           "args": dict(vars(args), out=repo_relative(args.out)), "labels": list(spec.labels), "truth": truth,
           "estimates": est, "laplace_se": se,
           "sd_over_replicates": sd, "mean_laplace_se": mean_se, "sd_over_se": sd / mean_se,
           "mean_z": z.mean(axis=0), "fraction_abs_z_le_2": np.mean(np.abs(z) <= 2, axis=0),
           "max_grad_norm": max(gnorm), "seconds_per_replicate": float(np.median(times))}
    print("labels      ", spec.labels)
    print("sd / mean SE", np.round(sd / mean_se, 3), "(acceptance: within 0.7-1.3)")
    print("mean z      ", np.round(z.mean(axis=0), 3))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2, default=lambda a: np.asarray(a).tolist())


if __name__ == "__main__":
    main()
