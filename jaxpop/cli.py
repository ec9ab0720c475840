"""The ``jaxpop`` command: ``demo``, ``simulate``, ``sweep``, ``reproduce``.

Run ``jaxpop COMMAND --help`` for each command's options.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

MODELS = {
    "mpr": "Montbrio-Pazo-Roxin firing-rate equations (jaxpop.MontbrioPazoRoxin)",
    "fre-ensemble": "FREs for any g(eta) (jaxpop.FREEnsemble)",
    "wilson-cowan": "Wilson-Cowan rate model (jaxpop.WilsonCowan)",
    "qif": "QIF spiking network (jaxpop.micro.QIFNetwork)",
}


def _model(name: str, params: dict):
    import jaxpop

    if name == "mpr":
        return jaxpop.MontbrioPazoRoxin(**params)
    if name == "fre-ensemble":
        return jaxpop.FREEnsemble(**params)
    if name == "wilson-cowan":
        return jaxpop.WilsonCowan(**params)
    if name == "qif":
        from jaxpop.micro import QIFNetwork

        return QIFNetwork(**params)
    raise SystemExit(f"jaxpop: unknown model {name!r}; choose from {', '.join(MODELS)}")


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _params(items) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"jaxpop: --param expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def parse_drive(spec: str | None):
    """Parse a drive spec: ``const:V``, ``step:AMP,T_ON[,T_OFF]``, ``sin:AMP,OMEGA[,PHASE]``, joined by ``+``."""
    import jaxpop

    if not spec:
        return None
    total = None
    for part in spec.split("+"):
        kind, _, args = part.partition(":")
        nums = [float(a) for a in args.split(",") if a.strip()]
        kind = kind.strip().lower()
        if kind == "const" and len(nums) == 1:
            d = jaxpop.Constant(nums[0])
        elif kind == "step" and len(nums) in (2, 3):
            d = jaxpop.Step(*nums)
        elif kind in ("sin", "sinusoid") and len(nums) in (2, 3):
            d = jaxpop.Sinusoid(*nums)
        else:
            raise SystemExit(
                f"jaxpop: cannot parse drive {part!r}; use const:V, step:AMP,T_ON[,T_OFF] or sin:AMP,OMEGA[,PHASE]"
            )
        total = d if total is None else total + d
    return total


def _grid_axis(text: str):
    import numpy as np

    name, _, spec = text.partition("=")
    if not spec:
        raise SystemExit(f"jaxpop: --grid expects NAME=START:STOP:NUM or NAME=v1,v2,..., got {text!r}")
    if ":" in spec:
        a, b, n = spec.split(":")
        values = np.linspace(float(a), float(b), int(n))
    else:
        values = np.array([float(v) for v in spec.split(",")])
    return name.strip(), values


def _save(result, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".nc":
        result.to_xarray().to_netcdf(path)
    else:
        import numpy as np

        np.savez(path, ts=np.asarray(result.ts), **{k: np.asarray(v) for k, v in result.data.items()})


def cmd_demo(args) -> int:
    from jaxpop.reproduce import demo

    t = time.perf_counter()
    numbers = demo.run(Path(args.out), quick=args.quick)
    print(f"\njaxpop demo finished in {time.perf_counter() - t:.1f} s; figures in {args.out}/")
    return 1 if numbers.get("passed") is False else 0


def cmd_simulate(args) -> int:
    import jax
    import jaxpop

    model = _model(args.model, _params(args.param))
    res = jaxpop.simulate(model, args.t_end, args.dt, key=jax.random.PRNGKey(args.seed), t0=args.t0,
                          drive=parse_drive(args.drive), record=args.record or None,
                          record_every=args.record_every, trials=args.trials, progress=args.progress)
    out = Path(args.out)
    _save(res, out)
    print(f"wrote {out} ({', '.join(res.data)}; {len(res.ts)} records)")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(res.data)
        fig, axes = plt.subplots(len(names), 1, sharex=True, figsize=(6, 1.8 * len(names)), squeeze=False)
        for ax, name in zip(axes[:, 0], names):
            jaxpop.plot.trace(res.ts, res[name] if args.trials is None else res[name][0], ax=ax, ylabel=name)
        axes[-1, 0].set_xlabel("time")
        fig.tight_layout()
        fig.savefig(out.with_suffix(".png"), dpi=120)
        print(f"wrote {out.with_suffix('.png')}")
    return 0


def cmd_sweep(args) -> int:
    import jax
    import jax.numpy as jnp
    import jaxpop

    model = _model(args.model, _params(args.param))
    grid = dict(_grid_axis(g) for g in args.grid)
    t_avg = args.average_last

    def reduce(res):
        n = max(1, int(round(t_avg / (res.dt * res.record_every))))
        return {k: jnp.mean(v[-n:], axis=0) for k, v in res.data.items()}

    t = time.perf_counter()
    res = jaxpop.sweep(model, grid, args.t_end, args.dt, key=jax.random.PRNGKey(args.seed), t0=args.t0,
                       drive=parse_drive(args.drive), record=args.record or None, record_every=args.record_every,
                       reduce=reduce, chunk_size=args.chunk_size, checkpoint_dir=args.checkpoint_dir,
                       progress=args.progress)
    n = 1
    for v in grid.values():
        n *= len(v)
    print(f"swept {n} points in {time.perf_counter() - t:.1f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".nc":
        res.to_xarray().to_netcdf(out)
    else:
        import numpy as np

        np.savez(out, **{f"coord_{k}": np.asarray(v) for k, v in res.coords.items()},
                 **{k: np.asarray(v) for k, v in res.data.items()})
    print(f"wrote {out}")
    return 0


def cmd_reproduce(args) -> int:
    from jaxpop import reproduce

    if args.list or not args.targets:
        for name, (_, _, desc) in reproduce.TARGETS.items():
            print(f"  {name:12s} {desc}")
        return 0
    names = list(reproduce.TARGETS) if args.targets == ["all"] else args.targets
    for name in names:
        t = time.perf_counter()
        print(f"== {name}")
        numbers = reproduce.run(name, args.out, quick=args.quick)
        for k, v in numbers.items():
            print(f"   {k}: {v}")
        print(f"   ({time.perf_counter() - t:.1f} s; figures in {args.out}/)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxpop", description="Differentiable neural population dynamics in JAX.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="QIF network vs exact firing-rate equations (MPR 2015 Fig. 2): figures + agreement numbers",
                       description="Simulates a 10,000-neuron QIF network and its exact firing-rate equations under the "
                                   "step and sinusoidal protocols of Montbrio, Pazo & Roxin (2015) Fig. 2, checks the "
                                   "fixed points against their closed form, writes figures and prints the agreement numbers.")
    d.add_argument("--out", default="jaxpop-output", help="folder for the figures (default: jaxpop-output)")
    d.add_argument("--quick", action="store_true", help="smaller network and shorter runs (seconds; for smoke tests)")
    d.set_defaults(func=cmd_demo)

    def common(q):
        q.add_argument("model", choices=sorted(MODELS), help="; ".join(f"{k}: {v}" for k, v in MODELS.items()))
        q.add_argument("--param", action="append", metavar="NAME=VALUE",
                       help="model parameter (JSON value), e.g. --param eta_bar=-5 --param J=15; repeatable")
        q.add_argument("--t-end", type=float, required=True, help="end time (model time units)")
        q.add_argument("--t0", type=float, default=0.0, help="start time (default 0)")
        q.add_argument("--dt", type=float, required=True, help="time step")
        q.add_argument("--drive", help="external input: const:V | step:AMP,T_ON[,T_OFF] | sin:AMP,OMEGA[,PHASE], joined by +")
        q.add_argument("--record", action="append", help="observable to record (repeatable; default: the model's)")
        q.add_argument("--record-every", type=int, default=1, help="recording decimation (default 1)")
        q.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
        q.add_argument("--progress", action="store_true", help="show a progress bar")

    s = sub.add_parser("simulate", help="simulate one model and save the recorded observables",
                       description="Simulate one model with jaxpop.simulate and save its observables (.npz, or .nc with xarray).")
    common(s)
    s.add_argument("--trials", type=int, default=None, help="number of independent trials (vmapped)")
    s.add_argument("--out", default="jaxpop-output/simulation.npz", help="output file (.npz or .nc)")
    s.add_argument("--plot", action="store_true", help="also write a PNG of the traces next to --out")
    s.set_defaults(func=cmd_simulate)

    w = sub.add_parser("sweep", help="vmapped parameter sweep over a grid (chunked, sharded, resumable)",
                       description="Run jaxpop.sweep over the outer product of --grid axes; stores the time average of "
                                   "each observable over the last --average-last time units.")
    common(w)
    w.add_argument("--grid", action="append", required=True, metavar="NAME=START:STOP:NUM",
                   help="grid axis, e.g. --grid eta_bar=-10:2:200 or --grid J=5,10,15; repeatable")
    w.add_argument("--average-last", type=float, default=10.0, help="time window averaged at the end (default 10)")
    w.add_argument("--chunk-size", type=int, default=None, help="points per chunk (default: from the memory budget)")
    w.add_argument("--checkpoint-dir", default=None, help="write finished chunks here and resume from them")
    w.add_argument("--out", default="jaxpop-output/sweep.npz", help="output file (.npz or .nc)")
    w.set_defaults(func=cmd_sweep)

    r = sub.add_parser("reproduce", help="reproduce a figure of a founding paper (`jaxpop reproduce --list`)",
                       description="Reproduce figures of the founding papers; prints the numbers they rest on.")
    r.add_argument("targets", nargs="*", help="target names, or 'all'")
    r.add_argument("--list", action="store_true", help="list the targets")
    r.add_argument("--out", default="figures", help="folder for the PNGs (default: figures)")
    r.add_argument("--quick", action="store_true", help="reduced sizes (smoke test)")
    r.set_defaults(func=cmd_reproduce)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
