"""Import of spike data from other simulators (:mod:`jaxpop.io.nest`: NEST ``spike_recorder`` output)."""

from . import nest

__all__ = ["nest"]
