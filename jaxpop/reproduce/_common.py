"""Helpers shared by the reproduction targets: figures without pyplot, PNG and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def figure(*args, **kwargs):
    """A matplotlib figure without pyplot (no global state, no backend switch)."""
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def save_figure(fig, outdir: Path, name: str, *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``outdir / name`` at ``dpi`` dots per inch; returns the path."""
    path = Path(outdir) / name
    fig.savefig(path, dpi=dpi)
    return path


def json_ready(x, *, strict: bool = True):
    """``x`` with NumPy scalars and arrays (also inside dicts, lists and tuples) turned into Python
    numbers and lists. ``strict``: non-finite floats become ``None`` (NaN), ``"inf"`` or ``"-inf"``,
    which standard JSON can hold; otherwise they stay floats (``json`` writes ``NaN`` / ``Infinity``)."""
    if isinstance(x, dict):
        return {k: json_ready(v, strict=strict) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v, strict=strict) for v in x]
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        x = x.item()
    if isinstance(x, np.ndarray):
        return json_ready(x.tolist(), strict=strict)
    if strict and isinstance(x, float) and not np.isfinite(x):
        return None if np.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def write_numbers(outdir: Path, name: str, numbers: dict, *, strict: bool = True) -> None:
    """Write ``numbers`` as indented JSON to ``outdir / name`` (see :func:`json_ready` for ``strict``)."""
    (Path(outdir) / name).write_text(json.dumps(json_ready(numbers, strict=strict), indent=2))
