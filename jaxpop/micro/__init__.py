"""Microscopic spiking-network models."""

from .qif import QIFNetwork
from .gif import GIFNetwork

__all__ = ["QIFNetwork", "GIFNetwork"]
from .hawkes import HawkesNetwork, HawkesParams  # noqa: E402

__all__ += ["HawkesNetwork", "HawkesParams"]
from .renewal import RenewalNetwork  # noqa: E402

__all__ += ["RenewalNetwork"]
