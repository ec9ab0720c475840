"""Microscopic spiking-network models."""

from .qif import QIFNetwork

__all__ = ["QIFNetwork"]
