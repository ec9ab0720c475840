"""Mesoscopic (finite-size) population models."""

from .schwalger import SchwalgerMeso, history_length

__all__ = ["SchwalgerMeso", "history_length"]
from .hawkes import HawkesMeso  # noqa: E402

__all__ += ["HawkesMeso"]
from .refractory_density import RefractoryDensity  # noqa: E402

__all__ += ["RefractoryDensity"]
from .eigenmode import Eigenmode  # noqa: E402

__all__ += ["Eigenmode"]
