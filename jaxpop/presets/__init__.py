"""Published parameter sets."""

from . import schwalger_2017

__all__ = ["schwalger_2017"]
