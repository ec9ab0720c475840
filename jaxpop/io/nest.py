"""Spike data written by NEST's ``spike_recorder``.

NEST records spikes in memory (``recorder.get("events")``: a dict with ``"senders"`` and
``"times"``) or, with ``record_to="ascii"``, in text files, one per virtual process, named
``<label>-<node id>-<vp>.dat``. A file starts with comment lines (``# NEST version: ...``,
``# RecordingBackendASCII version: ...``), then a line of column names (``sender time_ms``, or
``sender time_step offset`` with ``time_in_steps=True``), then one row per spike, tab-separated.

Times are in ms. NEST stamps a spike emitted during the step :math:`(t - h, t]` with the time
:math:`t` at the end of the step (grid-constrained neurons).

References: NEST Simulator documentation, "Recording from simulations"
(https://nest-simulator.readthedocs.io, recording backends: ``ascii``).
"""

from __future__ import annotations

import glob
import os
from typing import Iterable

import numpy as np

__all__ = ["read_spike_files", "spike_events"]


def _paths(paths) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            hits = sorted(glob.glob(os.path.join(p, "*.dat")))
        elif any(c in p for c in "*?["):
            hits = sorted(glob.glob(p))
        else:
            hits = [p]
        if not hits:
            raise FileNotFoundError(f"no NEST spike files (*.dat) match {p!r}")
        out.extend(hits)
    return out


def read_spike_files(paths: str | os.PathLike | Iterable[str | os.PathLike], *, resolution: float | None = None):
    """Read NEST ``spike_recorder`` ASCII files (``.dat``).

    Parameters
    ----------
    paths : path, glob pattern, directory or list of them
        The files of one recorder (one per virtual process) or of several; a directory means all
        its ``*.dat`` files.
    resolution : float, optional
        Simulation step (ms); needed only for files written with ``time_in_steps=True``
        (columns ``sender time_step offset``: time = step * resolution - offset).

    Returns
    -------
    times, senders : ndarray (float64, ms), ndarray (int64)
        All spikes of all files, sorted by time (then sender).
    """
    times, senders = [], []
    for path in _paths(paths):
        with open(path) as f:
            header = None
            rows = []
            for lineno, line in enumerate(f, 1):
                s = line.strip()
                if not s or s.startswith("#"):
                    continue
                fields = s.split()
                if header is None and not _is_number(fields[0]):
                    header = fields
                    continue
                rows.append(fields)
        if header is None:
            header = ["sender", "time_ms"]  # NEST 2 wrote no column names
        try:
            data = np.asarray(rows, dtype=float).reshape(len(rows), len(header))
        except ValueError as err:
            raise ValueError(f"{path}: rows do not match the columns {header} ({err})") from None
        cols = {name: data[:, i] for i, name in enumerate(header)}
        if "sender" not in cols:
            raise ValueError(f"{path}: no 'sender' column (columns: {header})")
        if "time_ms" in cols:
            t = cols["time_ms"]
        elif "time_step" in cols:
            if resolution is None:
                raise ValueError(f"{path} holds time steps (time_in_steps=True): pass resolution= (ms)")
            t = cols["time_step"] * float(resolution) - cols.get("offset", 0.0)
        else:
            raise ValueError(f"{path}: no time column ('time_ms' or 'time_step'; columns: {header})")
        times.append(t)
        senders.append(cols["sender"].astype(np.int64))
    times, senders = np.concatenate(times), np.concatenate(senders)
    order = np.lexsort((senders, times))
    return times[order], senders[order]


def spike_events(events) -> tuple[np.ndarray, np.ndarray]:
    """``(times, senders)`` from NEST's in-memory events (``recorder.get("events")``, or a list of
    them, one per recorder), sorted by time."""
    if isinstance(events, dict):
        events = [events]
    try:
        times = np.concatenate([np.asarray(e["times"], float).reshape(-1) for e in events])
        senders = np.concatenate([np.asarray(e["senders"]).reshape(-1).astype(np.int64) for e in events])
    except KeyError as err:
        raise ValueError(f"NEST events need 'times' and 'senders' (spike_recorder.get('events')), missing {err}") from None
    order = np.lexsort((senders, times))
    return times[order], senders[order]


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
