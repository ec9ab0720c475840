"""Microscopic spiking-network models."""
