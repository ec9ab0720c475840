"""Reproductions of the founding papers' figures: ``jaxpop reproduce TARGET``.

Each target is a function ``run(outdir, *, quick=False) -> dict`` that writes PNGs into
``outdir`` and returns the numbers the figure rests on (printed by the CLI). Targets are
registered by name and imported lazily, so ``jaxpop --help`` stays fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# name -> (module, function, one-line description)
TARGETS: dict[str, tuple[str, str, str]] = {
    "mpr-fig1": ("jaxpop.reproduce.mpr2015", "fig1", "MPR 2015 Fig. 1: phase diagram, bifurcation diagrams vs QIF network, phase portrait"),
    "mpr-fig2": ("jaxpop.reproduce.mpr2015", "fig2", "MPR 2015 Fig. 2: QIF network vs FREs, step and sinusoidal input"),
    "mpr-fig3": ("jaxpop.reproduce.mpr2015", "fig3", "MPR 2015 Fig. 3: macroscopic chaos under periodic forcing, Lyapunov exponent"),
    "mpr-fig5": ("jaxpop.reproduce.mpr2015", "fig5", "MPR 2015 Fig. 5: bistability regions for uniform and Gaussian g(eta)"),
    "mpr-fig6": ("jaxpop.reproduce.mpr2015", "fig6", "MPR 2015 Fig. 6: networks with uniform / Gaussian g(eta) under sinusoidal forcing"),
    "mpr-fig8": ("jaxpop.reproduce.mpr2015", "fig8", "MPR 2015 Fig. 8: identical QIF neurons with independent noise vs FREs"),
    "mpr-fig9": ("jaxpop.reproduce.mpr2015", "fig9", "MPR 2015 Fig. 9: bistability with Lorentzian-distributed coupling"),
    "meso-step": ("jaxpop.reproduce.schwalger2017", "step", "Schwalger 2017 / lecture: micro vs meso vs naive vs N->inf, step stimulus"),
    "meso-mass": ("jaxpop.reproduce.schwalger2017", "mass", "lecture: neural mass, hitting time of r = 0 in the naive model vs the Lambda model"),
    "meso-bistable": ("jaxpop.reproduce.schwalger2017", "bistable", "lecture: finite-size noise hops a bistable population, dwell times micro vs meso"),
    "meso-spectra": ("jaxpop.reproduce.schwalger2017", "spectra", "lecture: activity spectra micro vs meso (E-I network), meso Potjans-Diesmann"),
    "potjans-diesmann": ("jaxpop.reproduce.potjans_diesmann", "lif", "PD14 Fig. 6 / NEST Potjans_2014: LIF microcircuit raster, rates, CV ISI, synchrony, spectra, thalamic pulse"),
    "fit-micro-meso": ("jaxpop.reproduce.fitting", "micro_meso", "René 2020: GIFNetwork data -> SchwalgerMeso likelihood fit -> prediction under a held-back input"),
    "fit-mpr-qif": ("jaxpop.reproduce.fitting", "mpr_qif", "Baldy 2024 protocol: MPR FREs fitted to their own trajectory and to a QIF network (global stage + Adam + L-BFGS)"),
    "fit-relaxed": ("jaxpop.reproduce.fit_relaxed", "relaxed_vs_likelihood", "statistics matching with relaxed counts (gumbel, straight-through) vs the exact likelihood, one Hawkes population"),
    "potjans-diesmann-meso": ("jaxpop.reproduce.potjans_diesmann_meso", "meso", "lecture: GIF Potjans-Diesmann microcircuit, micro vs 8-population meso: spectra and thalamic pulse"),
    "eig-relaxation": ("jaxpop.reproduce.pietras2020", "relaxation", "Pietras 2020 Fig. 5: relaxation from a synchronous start, micro vs RDE vs 1-10 eigenmodes (PAR, Gamma, PIF)"),
    "eig-response": ("jaxpop.reproduce.pietras2020", "linear_response", "Pietras 2020 Fig. 6: PAR linear response, exact vs RDE vs 0th/1st/2nd-order eigenmode models"),
    "eig-onset": ("jaxpop.reproduce.pietras2020", "onset", "Pietras 2020 Fig. 7: onset of oscillations in a recurrent PAR population, linear condition vs RDE and eigenmode simulations"),
    "eig-spectra": ("jaxpop.reproduce.pietras2020", "spectra", "lecture part 4: eigenvalues (same rate and CV; LIF turning real), finite-size spectrum micro vs Langevin eigenmodes"),
}


def available() -> list[str]:
    """Names of the reproduction targets whose module is installed."""
    out = []
    for name, (mod, _, _) in TARGETS.items():
        if importlib.util.find_spec(mod) is not None:
            out.append(name)
    return out


def run(name: str, outdir: str | Path = "figures", *, quick: bool = False) -> dict:
    """Run one reproduction target; returns its numbers."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; available: {', '.join(TARGETS)}")
    mod, fn, _ = TARGETS[name]
    try:
        module = importlib.import_module(mod)
    except ModuleNotFoundError as e:
        raise ValueError(f"target {name!r} is not available in this version ({e})") from e
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return getattr(module, fn)(outdir, quick=quick)
