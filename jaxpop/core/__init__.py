"""The jaxpop engine: model interface, simulation, sweeps, drives, spike sampling."""

from . import distributions, drives, spikes
from .model import AbstractModel, AbstractODEModel
from .result import Result
from .simulate import simulate, solve
from .sweep import SweepResult, sweep

__all__ = ["AbstractModel", "AbstractODEModel", "Result", "simulate", "solve", "drives", "spikes", "distributions",
           "sweep", "SweepResult"]
