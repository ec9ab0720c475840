"""Benchmark: the QIF network of Montbrió, Pazó & Roxin (2015), Fig. 2 step protocol, against the FREs.

N = 10^4 Lorentzian QIF neurons (eta_bar = -5, J = 15, Delta = 1), Euler with dt = 1e-4 (App. A),
started in the low-activity state at t = -2, step current I = 3 on 0 <= t < 30, run to t = 40.

* jaxpop: ``jaxpop.simulate(QIFNetwork.from_fre(...))``; wall time per simulated time unit with
  the compiled function cached (compile time reported separately), and the NRMSE of the smoothed
  rate (window 2e-2, App. A) and of the mean voltage against ``jaxpop.solve`` of the FREs.
  Also against the FREs corrected for the quantile tail truncation (eta_bar - J b, r - b,
  v + pi b, b = |zeta(1/2)|/pi sqrt(Delta/(pi N)); see tests/test_qif_network.py).
* peer: the paper's algorithm as a plain NumPy vectorised Euler loop (integer-step hold of
  2/(V_j dt) steps, spike counted 1/(V_j dt) steps after the crossing, ring buffer of per-step
  spike counts for the rectangular synapse), run on the first ``--t-peer`` time units from the
  same initial state; its NRMSE on that window is printed next to jaxpop's on the same window.

    python benchmarks/qif_network.py                 # full protocol
    python benchmarks/qif_network.py --t-end 10      # shorter

Prints one table and writes benchmarks/results/qif_network.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import numpy as np
from _machine import cpu_model

import jaxpop
from jaxpop.analysis.rates import nrmse, smooth_rate
from jaxpop.micro import QIFNetwork

ETA, J, DELTA, I_STEP, T_OFF = -5.0, 15.0, 1.0, 3.0, 30.0
T0, DT, RECORD_EVERY, WINDOW = -2.0, 1e-4, 10, 2e-2
_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_to_mlir_module_duration", "/jax/core/compile/backend_compile_duration")


def quantile_tail_bias(N):
    """Rate the quantile samples lack from the Lorentzian tail (|zeta(1/2)|/pi sqrt(Delta/(pi N));
    derivation in tests/test_qif_network.py): the network is the FRE with eta_bar - J b, read out
    as r - b, v + pi b."""
    return 1.4603545088095868 / np.pi * np.sqrt(DELTA / (np.pi * N))


def low_state(eta=ETA):
    roots = np.roots([np.pi**2, -J, -eta, 0.0, -(DELTA**2) / (4 * np.pi**2)])
    r = min(z.real for z in roots if abs(z.imag) < 1e-10 and z.real > 0)
    return r, -DELTA / (2 * np.pi * r)


def numpy_peer(net, state, t0, n_steps, dt):
    """The paper's algorithm (App. A) in NumPy; returns per-step rate r and mean voltage v."""
    N = net.n_neurons
    eta = np.asarray(net.eta)
    Vp, tau_s = float(net.V_peak), float(net.tau_s[0])
    L = int(round(tau_s / dt))
    V = np.array(state["V"])
    ref = np.asarray(state["ref"])
    held = ref > 0
    hold_left = np.where(held, np.rint(ref / dt), 0).astype(np.int64)
    half = np.where(held, 1.0 / np.where(held, -V, 1.0), 0.0)
    spike_left = np.where(held & (ref > half), np.rint((ref - half) / dt), -1).astype(np.int64)
    ring = np.zeros(L)
    since = np.asarray(state["since"])
    for age in range(L):  # spikes of the last tau_s before t0, by age in steps
        ring[(-1 - age) % L] = np.sum((since >= age * dt) & (since < (age + 1) * dt))
    r = np.empty(n_steps)
    v = np.empty(n_steps)
    for k in range(n_steps):
        t = t0 + k * dt
        s = ring.sum() / (N * tau_s)
        I = I_STEP if 0.0 <= t < T_OFF else 0.0
        free = hold_left == 0
        V = np.where(free, V + dt * (V * V + eta + J * s + I), V)
        spike = spike_left == 0
        spike_left = np.where(spike_left >= 0, spike_left - 1, -1)
        hold_left = np.where(hold_left > 0, hold_left - 1, 0)
        cross = free & (V >= Vp)
        Vc = np.where(cross, V, 1.0)
        hold_left = np.where(cross, np.rint(2.0 / (Vc * dt)).astype(np.int64), hold_left)
        spike_left = np.where(cross, np.rint(1.0 / (Vc * dt)).astype(np.int64) - 1, spike_left)
        V = np.where(cross, -V, V)
        count = spike.sum()
        ring[k % L] = count
        r[k] = count / (N * dt)
        active = hold_left == 0
        v[k] = V[active].mean()
    return r, v




def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, default=10_000)
    ap.add_argument("--t-end", type=float, default=40.0)
    ap.add_argument("--t-peer", type=float, default=8.0, help="time units after t0 = -2 run by the NumPy peer")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "qif_network.json"))
    args = ap.parse_args()

    r_lo, v_lo = low_state()
    fre = jaxpop.MontbrioPazoRoxin(ETA, DELTA, J, r0=r_lo, v0=v_lo)
    net = QIFNetwork.from_fre(fre, N=args.N)
    drive = jaxpop.Step(I_STEP, 0.0, T_OFF)
    key = jax.random.PRNGKey(1)
    kw = dict(t0=T0, key=key, drive=drive, record_every=RECORD_EVERY)
    T_sim = args.t_end - T0

    compile_events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, secs, **k: compile_events.append(secs) if name in _COMPILE_EVENTS else None)
    t = time.perf_counter()
    res = jaxpop.simulate(net, args.t_end, DT, **kw)
    res.r.block_until_ready()
    t_first = time.perf_counter() - t
    t_compile = sum(compile_events)
    t, c = time.perf_counter(), time.process_time()
    res = jaxpop.simulate(net, args.t_end, DT, **kw)
    res.r.block_until_ready()
    t_run, cpu_run = time.perf_counter() - t, time.process_time() - c
    recompiled = sum(compile_events) != t_compile

    ts = np.asarray(res.ts)
    sol = jaxpop.solve(fre, args.t_end, t0=T0, drive=drive, ts=ts - res.bin_width / 2)
    rs = np.asarray(smooth_rate(res.r, res.bin_width, WINDOW))
    m = ts > 0
    e_r, e_v = float(nrmse(rs[m], sol.r[m])), float(nrmse(res.v[m], sol.v[m]))
    b = quantile_tail_bias(args.N)
    fre_c = jaxpop.MontbrioPazoRoxin(ETA - J * b, DELTA, J, r0=low_state(ETA - J * b)[0], v0=low_state(ETA - J * b)[1])
    sol_c = jaxpop.solve(fre_c, args.t_end, t0=T0, drive=drive, ts=ts - res.bin_width / 2)
    e_r_c = float(nrmse(rs[m], np.asarray(sol_c.r)[m] - b))
    e_v_c = float(nrmse(np.asarray(res.v)[m], np.asarray(sol_c.v)[m] + np.pi * b))
    # the alternative normalisation RMS(x - y)/RMS(y), for reference
    rms = lambda x: float(np.sqrt(np.mean(np.square(x))))  # noqa: E731
    e_r_alt = rms(rs[m] - sol.r[m]) / rms(sol.r[m])
    e_v_alt = rms(res.v[m] - sol.v[m]) / rms(sol.v[m])

    # NumPy peer on the first t_peer time units, same initial state
    n_peer = int(round(args.t_peer / DT))
    state0 = net.init(jax.random.split(key)[0])
    state0 = {k: np.asarray(v) for k, v in state0.items()}
    t, c = time.perf_counter(), time.process_time()
    r_np, v_np = numpy_peer(net, state0, T0, n_peer, DT)
    t_np, cpu_np = time.perf_counter() - t, time.process_time() - c
    r_np_b = r_np.reshape(-1, RECORD_EVERY).mean(1)
    v_np_b = v_np[RECORD_EVERY - 1::RECORD_EVERY]
    n_b = len(r_np_b)
    mp = m[:n_b]
    rs_np = np.asarray(smooth_rate(r_np_b, res.bin_width, WINDOW))
    rs_jx = np.asarray(smooth_rate(np.asarray(res.r)[:n_b], res.bin_width, WINDOW))
    fr, fv = np.asarray(sol.r)[:n_b], np.asarray(sol.v)[:n_b]
    peer = dict(
        t_window=[0.0, T0 + args.t_peer],
        nrmse_r_numpy=float(nrmse(rs_np[mp], fr[mp])), nrmse_v_numpy=float(nrmse(v_np_b[mp], fv[mp])),
        nrmse_r_jaxpop=float(nrmse(rs_jx[mp], fr[mp])), nrmse_v_jaxpop=float(nrmse(np.asarray(res.v)[:n_b][mp], fv[mp])),
        nrmse_r_jaxpop_vs_numpy=float(nrmse(rs_jx[mp], rs_np[mp])),
    )

    per_unit_jax = t_run / T_sim
    per_unit_np = t_np / args.t_peer
    dev = jax.devices()[0]
    out = dict(
        benchmark="qif_network",
        protocol=dict(N=args.N, dt=DT, t0=T0, t_end=args.t_end, eta_bar=ETA, J=J, delta=DELTA,
                      I=I_STEP, t_off=T_OFF, window=WINDOW, record_every=RECORD_EVERY),
        jaxpop=dict(compile_s=t_compile, first_call_s=t_first, run_s=t_run, cpu_s=cpu_run,
                    s_per_time_unit=per_unit_jax, us_per_step=1e6 * t_run / (T_sim / DT),
                    recompiled_on_second_call=recompiled,
                    nrmse_r=e_r, nrmse_v=e_v, nrmse_r_rms_normalised=e_r_alt, nrmse_v_rms_normalised=e_v_alt,
                    nrmse_r_vs_tail_corrected_fre=e_r_c, nrmse_v_vs_tail_corrected_fre=e_v_c, tail_bias_b=b),
        numpy_peer=dict(t_sim=args.t_peer, run_s=t_np, cpu_s=cpu_np, s_per_time_unit=per_unit_np,
                        us_per_step=1e6 * t_np / n_peer, **peer),
        speedup_wall=per_unit_np / per_unit_jax,
        speedup_cpu=(cpu_np / args.t_peer) / (cpu_run / T_sim),
        nrmse_definition="RMS(x - y) / std(y), y = FRE (jaxpop.analysis.rates.nrmse), t > 0",
        machine=dict(platform=platform.platform(), python=platform.python_version(), cpu=cpu_model(),
                     cpu_count=os.cpu_count(), load_avg=os.getloadavg(), jax=jax.__version__,
                     device=f"{dev.platform}:{dev.device_kind}", numpy=np.__version__),
    )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)

    print(f"QIF network, Fig. 2 step protocol: N = {args.N}, dt = {DT}, t in [{T0}, {args.t_end}] "
          f"({out['machine']['device']}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    print(f"{'':28s}{'s / time unit':>14s}{'us / step':>11s}{'NRMSE r':>9s}{'NRMSE v':>9s}")
    print(f"{'jaxpop (compiled)':28s}{per_unit_jax:14.3f}{out['jaxpop']['us_per_step']:11.1f}{e_r:9.3f}{e_v:9.3f}")
    print(f"{'  vs tail-corrected FREs':28s}{'':14s}{'':11s}{e_r_c:9.3f}{e_v_c:9.3f}")
    print(f"{'jaxpop, first ' + str(args.t_peer) + ' units':28s}{'':14s}{'':11s}"
          f"{peer['nrmse_r_jaxpop']:9.3f}{peer['nrmse_v_jaxpop']:9.3f}")
    print(f"{'NumPy peer, first ' + str(args.t_peer) + ' units':28s}{per_unit_np:14.3f}"
          f"{out['numpy_peer']['us_per_step']:11.1f}{peer['nrmse_r_numpy']:9.3f}{peer['nrmse_v_numpy']:9.3f}")
    print(f"compile {t_compile:.2f} s (first call {t_first:.1f} s); speed-up vs NumPy: "
          f"{out['speedup_wall']:.1f}x wall, {out['speedup_cpu']:.1f}x CPU time; "
          f"RMS-normalised NRMSE r {e_r_alt:.3f}, v {e_v_alt:.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
