"""Macroscopic (N -> infinity) firing-rate models."""

from .mpr import FREEnsemble, MontbrioPazoRoxin, kuramoto_order
from .wilson_cowan import WilsonCowan

__all__ = ["MontbrioPazoRoxin", "FREEnsemble", "WilsonCowan", "kuramoto_order"]
