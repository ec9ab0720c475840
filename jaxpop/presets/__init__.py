"""Published parameter sets."""

from . import potjans_diesmann, schwalger_2017

__all__ = ["potjans_diesmann", "schwalger_2017"]
