"""Simulation results: a time axis and named observables."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class Result(eqx.Module):
    """The output of :func:`jaxpop.simulate` / :func:`jaxpop.solve`.

    Attributes
    ----------
    ts : array, shape (n_records,)
        Recording times. With ``record_every = k`` these are the *ends* of the recording
        blocks ``t0 + (i + 1) k dt``; accumulated observables (population activity, spike
        counts) are averages over the block ``(ts[i] - k dt, ts[i]]``.
    data : dict[str, array]
        Observables, time-major: ``(n_records, ...)``, or ``(trials, n_records, ...)`` for
        ``trials=n``.
    dt : float
        Integration time step (``nan`` for adaptive solves).
    record_every : int
        Decimation factor.
    dims : dict[str, tuple[str, ...]]
        Dimension names of each observable (used by :meth:`to_xarray`).
    """

    ts: jax.Array
    data: dict[str, jax.Array]
    dt: float = eqx.field(static=True)
    record_every: int = eqx.field(static=True)
    dims: dict[str, tuple[str, ...]] = eqx.field(static=True)

    def __getitem__(self, name: str) -> jax.Array:
        try:
            return self.data[name]
        except KeyError:
            raise KeyError(f"observable {name!r} was not recorded; recorded: {sorted(self.data)}") from None

    def __getattr__(self, name: str) -> Any:
        # convenient `res.r`, `res.v`; only reached when normal lookup fails
        data = self.__dict__.get("data")
        if data is not None and name in data:
            return data[name]
        raise AttributeError(name)

    def keys(self):
        return self.data.keys()

    @property
    def bin_width(self) -> float:
        """Width of one recording block (``dt * record_every``)."""
        return self.dt * self.record_every

    def spike_trains(self, name: str = "spikes", trial: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Spikes as ``(neuron, time)`` arrays of equal length, sorted by time.

        ``time`` is the end of the recording block in which the spike fell; a neuron that
        fired ``c`` times in one block appears ``c`` times.
        """
        raster = np.asarray(self[name])
        if trial is not None:
            raster = raster[trial]
        elif raster.ndim != 2:
            raise ValueError(f"{name!r} has shape {raster.shape}; pass trial= to pick one trial")
        counts = np.rint(raster).astype(np.int64)
        if np.any(counts < 0):
            raise ValueError("negative spike counts in the raster")
        ti, ni = np.nonzero(counts)
        reps = counts[ti, ni]
        ti = np.repeat(ti, reps)
        ni = np.repeat(ni, reps)
        return ni, np.asarray(self.ts)[ti]

    def to_xarray(self):
        """An :class:`xarray.Dataset` with labelled dimensions (needs ``xarray``)."""
        try:
            import xarray as xr
        except ImportError as e:  # pragma: no cover - exercised only without xarray
            raise ImportError("Result.to_xarray needs xarray: pip install 'jaxpop[xarray]'") from e
        coords = {"time": np.asarray(self.ts)}
        variables = {}
        for name, arr in self.data.items():
            arr = np.asarray(arr)
            inner = self.dims.get(name, ())
            n_lead = arr.ndim - len(inner)
            lead = ("time",) if n_lead == 1 else ("trial", "time") if n_lead == 2 else None
            if lead is None:
                lead = tuple(f"batch_{i}" for i in range(n_lead - 1)) + ("time",)
            variables[name] = (lead + tuple(inner), arr)
        return xr.Dataset(variables, coords=coords, attrs={"dt": self.dt, "record_every": self.record_every})


def as_numpy(tree):
    """Convert every array leaf of ``tree`` to numpy."""
    return jax.tree.map(lambda x: np.asarray(x) if isinstance(x, (jax.Array, np.ndarray)) else x, tree)


def stack_results(results: list[Result]) -> Result:
    """Stack results of identical layout along a new leading axis."""
    first = results[0]
    data = {k: jnp.stack([r.data[k] for r in results]) for k in first.data}
    return Result(first.ts, data, first.dt, first.record_every, first.dims)
