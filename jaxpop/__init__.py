"""jaxpop: differentiable, GPU-ready simulation of neural population dynamics in JAX.

Three levels of description that talk to each other:

* ``jaxpop.micro`` — spiking networks (QIF, ...);
* ``jaxpop.meso``  — finite-size population equations;
* ``jaxpop.macro`` — firing-rate equations (Montbrió–Pazó–Roxin, Wilson–Cowan).

One engine runs them all: :func:`simulate` (fixed-step scans), :func:`solve` (adaptive ODE
solves with diffrax) and :func:`sweep` (vmapped, chunked, sharded parameter grids).
"""

import jax as _jax

# Scientific defaults: double precision. Set JAXPOP_X64=0 before import to keep float32.
import os as _os

if _os.environ.get("JAXPOP_X64", "1") != "0":
    _jax.config.update("jax_enable_x64", True)

from . import analysis, fit, io, macro, meso, micro, plot  # noqa: E402
from .core import distributions, drives, spikes  # noqa: E402
from .core.distributions import Delta, Gaussian, Lorentzian, Uniform  # noqa: E402
from .core.drives import Constant, Piecewise, Sinusoid, Step  # noqa: E402
from .core.model import AbstractModel, AbstractODEModel  # noqa: E402
from .core.result import Result  # noqa: E402
from .core.simulate import simulate, solve  # noqa: E402
from .core.sweep import SweepResult, sweep  # noqa: E402
from .macro import FREEnsemble, MontbrioPazoRoxin, WilsonCowan  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "simulate", "solve", "sweep", "SweepResult", "Result", "AbstractModel", "AbstractODEModel",
    "drives", "spikes", "distributions", "Constant", "Step", "Sinusoid", "Piecewise",
    "Lorentzian", "Uniform", "Gaussian", "Delta",
    "MontbrioPazoRoxin", "FREEnsemble", "WilsonCowan",
    "macro", "meso", "micro", "analysis", "plot", "fit", "io",
]
