"""Run each ``jaxpop reproduce`` target once per test session (quick mode) and check the files it promises."""

import json

from jaxpop import reproduce

CACHE: dict = {}


def run_quick(name, outdir, stem=None, min_png_bytes=20_000):
    """Numbers of target ``name`` in quick mode; its PNG and JSON (``stem``, by default ``<module>_<figure>``)
    must be in ``outdir``."""
    if name not in CACHE:
        numbers = reproduce.run(name, outdir, quick=True)
        stem = stem or reproduce.TARGETS[name][0].rsplit(".", 1)[1] + "_" + name.split("-", 1)[1]
        png = outdir / f"{stem}.png"
        assert png.exists() and png.stat().st_size > min_png_bytes, f"{png} missing or empty"
        saved = json.loads((outdir / f"{stem}.json").read_text())
        assert saved["quick"] is True and set(saved) == set(numbers)
        CACHE[name] = numbers
    return CACHE[name]
