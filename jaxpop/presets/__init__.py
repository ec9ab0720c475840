"""Published parameter sets."""

from . import potjans_diesmann, rene_2020, schwalger_2017

__all__ = ["potjans_diesmann", "rene_2020", "schwalger_2017"]
