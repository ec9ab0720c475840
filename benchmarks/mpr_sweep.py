"""Benchmark: a 200 x 200 (eta_bar, J) sweep of the Montbrió–Pazó–Roxin firing-rate equations.

jaxpop.sweep (vmapped RK4, dt = 1e-2 by default, 100 time units, reduced on the fly to the time-averaged
rate over the last 20 units) against a loop of ``scipy.integrate.solve_ivp`` (RK45, rtol = 1e-6,
the same equations as a plain Python right-hand side) timed on a random subsample of grid
points in the same run. Both average r over the same sample times t = 80.1, 80.2, ..., 100,
so their difference measures integration error only.

    python benchmarks/mpr_sweep.py                    # full 200 x 200 grid, sharded over all CPU cores
    python benchmarks/mpr_sweep.py --cpu-devices 1    # one core (the solve_ivp loop uses one core)
    python benchmarks/mpr_sweep.py --float32          # single precision (jaxpop's default is float64)
    python benchmarks/mpr_sweep.py --n 50             # quicker 50 x 50 check

Prints one table and writes benchmarks/results/mpr_sweep.json (mpr_sweep_float32.json with --float32).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

# Shard the grid over the CPU's cores: one XLA host device per core (must be set before jax loads).
_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--cpu-devices", type=int, default=os.cpu_count())
_pre.add_argument("--float32", action="store_true")
_pre.add_argument("--dt", type=float, default=1e-2)
_PRE = _pre.parse_known_args()[0]
_CPU_DEVICES = _PRE.cpu_devices
if _PRE.float32:
    os.environ["JAXPOP_X64"] = "0"  # jaxpop's switch, read at import
if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={_CPU_DEVICES}").strip()

import jax  # noqa: E402
import numpy as np
from _machine import cpu_model  # noqa: E402
import scipy  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import jaxpop  # noqa: E402
from jaxpop.core.sweep import sweep  # noqa: E402

# RK4 at dt = 1e-2 resolves the FREs on this grid (|lambda| dt < 0.5 for rates up to ~6); the
# agreement with solve_ivp (rtol 1e-6) on the random subsample is printed and stored.
T_END, T_AVG = 100.0, 20.0
DT = _PRE.dt
RECORD_EVERY = int(round(0.1 / DT))  # record every 0.1 time units
DELTA = 1.0
_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_to_mlir_module_duration", "/jax/core/compile/backend_compile_duration")


def time_average_last(res):
    """Mean of r over the recording times in the last T_AVG time units."""
    n_avg = int(round(T_AVG / (DT * RECORD_EVERY)))
    return res.data["r"][..., -n_avg:].mean(axis=-1)


def scipy_point(eta, J):
    def rhs(t, y):
        r, v = y
        return [DELTA / math.pi + 2.0 * r * v, v * v + eta + J * r - (math.pi * r) ** 2]

    n_avg = int(round(T_AVG / (DT * RECORD_EVERY)))
    t_eval = T_END - DT * RECORD_EVERY * np.arange(n_avg)[::-1]
    sol = solve_ivp(rhs, (0.0, T_END), [0.0, -2.0], method="RK45", rtol=1e-6, t_eval=t_eval)
    if not sol.success:
        raise RuntimeError(sol.message)
    return sol.y[0].mean(), sol.nfev




def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="grid points per axis (default 200)")
    ap.add_argument("--n-scipy", type=int, default=50, help="random grid points for the solve_ivp loop")
    ap.add_argument("--cpu-devices", type=int, default=_CPU_DEVICES,
                    help="XLA host devices on CPU (default: one per core); ignored on GPU")
    ap.add_argument("--float32", action="store_true", help="single precision (jaxpop's default is float64)")
    ap.add_argument("--dt", type=float, default=1e-2, help="RK4 time step (default 1e-2; must divide 0.1)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/mpr_sweep[_float32].json)")
    args = ap.parse_args()
    if args.out is None:
        name = "mpr_sweep_float32.json" if args.float32 else "mpr_sweep.json"
        args.out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", name)
    precision = "float64" if jax.config.jax_enable_x64 else "float32"

    etas = np.linspace(-10.0, 2.0, args.n)
    Js = np.linspace(0.0, 25.0, args.n)
    model = jaxpop.MontbrioPazoRoxin(eta_bar=-5.0, delta=DELTA, J=15.0, r0=0.0, v0=-2.0, integrator="rk4")
    grid = {"eta_bar": etas, "J": Js}
    kwargs = dict(key=jax.random.PRNGKey(0), record="r", record_every=RECORD_EVERY, reduce=time_average_last)
    n_points = etas.size * Js.size

    compile_events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, secs, **kw: compile_events.append(secs) if name in _COMPILE_EVENTS else None)
    t = time.perf_counter()
    res = sweep(model, grid, T_END, DT, **kwargs)
    t_first = time.perf_counter() - t
    t_compile = sum(compile_events)  # lowering + XLA compilation of the first call
    t, c = time.perf_counter(), time.process_time()
    res = sweep(model, grid, T_END, DT, **kwargs)  # compiled function cached: run time only
    t_run, cpu_run = time.perf_counter() - t, time.process_time() - c
    assert sum(compile_events) == t_compile, "second call recompiled"
    r_avg = np.asarray(res["value"])

    rng = np.random.default_rng(0)
    sub = rng.choice(n_points, size=min(args.n_scipy, n_points), replace=False)
    ii, jj = np.unravel_index(sub, r_avg.shape)
    t, c = time.perf_counter(), time.process_time()
    sp = [scipy_point(etas[i], Js[j]) for i, j in zip(ii, jj)]
    t_scipy, cpu_scipy = time.perf_counter() - t, time.process_time() - c
    r_scipy = np.array([s[0] for s in sp])
    nfev = np.array([s[1] for s in sp])
    diff = np.abs(r_avg[ii, jj] - r_scipy)

    per_point_jax = t_run / n_points
    per_point_scipy = t_scipy / len(sub)
    speedup = per_point_scipy / per_point_jax
    n_dev = res.info["n_devices"]
    # CPU seconds (all threads of this process) per point: less sensitive to the load of other processes
    cpu_speedup = (cpu_scipy / len(sub)) / (cpu_run / n_points)
    dev = jax.devices()[0]
    machine = {
        "platform": platform.platform(), "processor": cpu_model(),
        "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
        "python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__,
        "scipy": scipy.__version__, "jax_backend": jax.default_backend(), "device_kind": dev.device_kind,
        "n_devices": len(jax.devices()), "x64": bool(jax.config.jax_enable_x64),
    }
    rows = [
        ("grid", f"{args.n} x {args.n} = {n_points} points, t_end={T_END}, dt={DT}, RK4, {precision}"),
        ("jaxpop compile (lowering + XLA, first call)", f"{t_compile:.2f} s  (first call {t_first:.2f} s)"),
        ("jaxpop run (second call)", f"{t_run:.2f} s = {n_points / t_run:,.0f} points/s"),
        ("jaxpop chunks", f"{res.info['n_chunks']} x {res.info['chunk_points']} points on {n_dev} device(s)"),
        ("solve_ivp RK45 rtol=1e-6 loop", f"{len(sub)} points in {t_scipy:.2f} s = {1 / per_point_scipy:,.1f} points/s "
                                          f"(median {int(np.median(nfev))} RHS evaluations)"),
        ("speed-up per grid point", f"{speedup:,.0f}x  (target >= 100x)"),
        ("speed-up per grid point, CPU time", f"{cpu_speedup:,.0f}x  (CPU s per point: {1e3 * cpu_run / n_points:.3f} "
                                              f"ms vs {1e3 * cpu_scipy / len(sub):.1f} ms)"),
        ("max |<r>_jaxpop - <r>_scipy| on subsample", f"{diff.max():.2e}  (max <r> = {r_scipy.max():.3f})"),
        ("non-finite points", f"{int((~np.asarray(res.status)).sum())}"),
        ("machine", f"{machine['processor']}, {machine['cpu_count']} CPUs, jax {jax.__version__} "
                    f"({machine['jax_backend']}: {machine['device_kind']}), load {machine['load_avg_1min']:.1f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print("MPR (eta_bar, J) sweep: jaxpop.sweep vs scipy solve_ivp loop")
    print("-" * (width + 60))
    for name, val in rows:
        print(f"{name:<{width}}  {val}")
    print("-" * (width + 60))

    out = {
        "benchmark": "mpr_sweep",
        "grid": {"eta_bar": [etas[0], etas[-1], args.n], "J": [Js[0], Js[-1], args.n], "delta": DELTA},
        "t_end": T_END, "dt": DT, "record_every": RECORD_EVERY, "t_average": T_AVG, "precision": precision,
        "jaxpop": {"first_call_s": t_first, "run_s": t_run, "compile_s": t_compile,
                   "points_per_s": n_points / t_run, "cpu_s": cpu_run, "n_points": n_points,
                   "chunks": res.info["n_chunks"],
                   "chunk_points": res.info["chunk_points"], "n_devices": res.info["n_devices"]},
        "scipy": {"method": "RK45", "rtol": 1e-6, "atol": 1e-6, "n_points": int(len(sub)), "total_s": t_scipy,
                  "cpu_s": cpu_scipy,
                  "points_per_s": 1 / per_point_scipy, "median_nfev": float(np.median(nfev))},
        "speedup_per_point": speedup,
        "speedup_per_point_cpu_time": cpu_speedup,
        "max_abs_diff_time_avg_r": float(diff.max()),
        "machine": machine,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2, default=float)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
