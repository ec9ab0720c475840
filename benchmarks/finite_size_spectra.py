"""Finite-size population spectra of renewal populations: RenewalNetwork (micro) vs RefractoryDensity (Λ) vs Langevin
eigenmodes (issue 11; docs/measurements.md, "Refractory density and eigenmodes").

N = 500 neurons, constant input, dt = 0.2 ms, 4 trials of ``--t-end`` ms (the first 500 ms dropped); one-sided Welch
PSD of the population activity (1-s segments), averaged in octave bands 2-4 ... 128-256 Hz, with the renewal spectrum
r0 (1 - |P_L|^2) / |1 - P_L|^2 / N of independent neurons as the reference the micro network must match.

    python benchmarks/finite_size_spectra.py PAR micro lambda em1 em3
    python benchmarks/finite_size_spectra.py PIF micro lambda em1 em2 --t-end 10000

Models: ``micro`` (RenewalNetwork), ``lambda`` / ``naive`` (RefractoryDensity variants), ``emM`` (Eigenmode, M modes,
Langevin). Populations: ``PAR`` (Pietras et al. Fig. 6: Delta = 15 ms, nu(1.2 mV) = 59.9 Hz), ``PIF`` (75 Hz, C_V =
1/sqrt(15)), ``LIF`` (the lecture's escape-noise LIF, mu = 24 mV). Prints a table (no results file: a correctness
measurement, not a timing).
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxpop
from jaxpop.analysis import power_spectrum
from jaxpop.analysis.renewal import PAR, PIF, EscapeLIF, Linear, RenewalFamily, Sigmoid
from jaxpop.meso import Eigenmode, RefractoryDensity
from jaxpop.micro import RenewalNetwork

POPULATIONS = {
    "PIF": (lambda: RenewalFamily(PIF.from_rate_cv(75.0, 15**-0.5), Linear(), "mu"), 0.75),
    "PAR": (lambda: RenewalFamily(PAR(100.0, 15.0), Sigmoid(100.0, 1.0, 0.5), "nu"), 1.2),
    "LIF": (lambda: RenewalFamily(EscapeLIF(24.0)), 24.0),
}
BANDS = [(2 * 2**k, 2 * 2**(k + 1)) for k in range(7)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("population", choices=sorted(POPULATIONS))
    ap.add_argument("models", nargs="+")
    ap.add_argument("--t-end", type=float, default=20000.0)
    ap.add_argument("--N", type=int, default=500)
    args = ap.parse_args()
    make, h0 = POPULATIONS[args.population]
    fam, dt, N = make(), 0.2, args.N
    r0 = fam.at(h0)
    f = np.linspace(2, 256, 4000)
    PL = np.asarray(r0.laplace_isi(jnp.asarray(2j * np.pi * f)))
    theory = 2 * float(r0.rate()) * (1 - np.abs(PL) ** 2) / np.abs(1 - PL) ** 2 / N
    print(f"{args.population}: r0 = {float(r0.rate()):.3f} Hz; renewal spectrum in bands:",
          np.round([theory[(f >= a) & (f < b)].mean() for a, b in BANDS], 4))
    kw = dict(N=N, dt=dt, tau_h=8.0, h_init=h0)
    res = {}
    for name in args.models:
        if name == "micro":
            m = RenewalNetwork(fam, init="stationary", **kw)
        elif name.startswith("em"):  # constant input: the coupling coefficients do not enter, few quadrature ages
            m = Eigenmode(fam, M=int(name[2:]), variant="langevin", n_age=33, **kw)
        else:
            m = RefractoryDensity(fam, variant=name, init="stationary", **kw)
        t0 = time.time()
        A = np.asarray(jaxpop.simulate(m, args.t_end, dt, key=jax.random.PRNGKey(11), drive=h0, record="A",
                                       trials=4)["A"])[:, int(round(500 / dt)):, 0]
        fr, P = power_spectrum(A, dt * 1e-3, nperseg=int(round(1000 / dt)))
        P = np.asarray(P).mean(0)
        res[name] = A.mean(), np.array([P[(fr >= a) & (fr < b)].mean() for a, b in BANDS])
        print(f"{name:8s} rate {A.mean():8.3f} Hz  ({time.time() - t0:5.1f} s)  bands", np.round(res[name][1], 4))
    if "micro" in res:
        for k, (rate, bands) in res.items():
            if k != "micro":
                print(f"{k:8s} vs micro: rate {rate / res['micro'][0] - 1:+.4f}, bands",
                      np.round(bands / res["micro"][1] - 1, 3))


if __name__ == "__main__":
    main()
