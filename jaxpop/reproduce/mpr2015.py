r"""Figures of Montbrió, Pazó & Roxin (2015): ``jaxpop reproduce mpr-fig1 ... mpr-fig9``.

Every target ``figN(outdir, *, quick=False) -> dict`` writes ``mpr2015_figN.png`` (and a JSON of
its numbers) into ``outdir`` and returns the numbers the figure rests on. ``quick=True`` shrinks
networks, times and grids so that a target runs in seconds (the test suite and CI use it); the
full mode uses the paper's sizes (:math:`N = 10^4` QIF neurons, Euler with :math:`dt = 10^{-4}`,
App. A) and takes minutes on a CPU.

All models are dimensionless (time in units of the membrane time constant, :math:`\tau = 1`) and
have Lorentzian excitabilities of half-width :math:`\Delta = 1` unless stated. The firing-rate
equations (FREs, MPR Eq. 12) are

.. math:: \dot r = \frac{\Delta}{\pi} + 2 r v,\qquad \dot v = v^2 + \bar\eta + J r + I(t) - \pi^2 r^2 .

Network rates are spike counts in a centred sliding window of width :math:`2\times10^{-2}`
divided by :math:`N` (App. A); the agreement of a network and its FREs is the normalised RMS
error (``jaxpop.analysis.rates.nrmse``: RMS difference over the standard deviation of the FRE
trace).

The shared building blocks are public so that the notebook
``notebooks/01_montbrio_pazo_roxin_2015.ipynb`` can use them: :class:`RasterSubset`,
:func:`network_vs_fre`, :func:`plot_network_vs_fre`, :func:`staircase_continuation`.

References: E. Montbrió, D. Pazó, A. Roxin, *Macroscopic description for networks of spiking
neurons*, Phys. Rev. X 5, 021028 (2015), doi:10.1103/PhysRevX.5.021028.
"""

from __future__ import annotations

import functools
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxpop
from jaxpop.analysis.rates import nrmse, smooth_rate
from jaxpop.core.model import AbstractModel
from jaxpop.micro import QIFNetwork
from jaxpop.reproduce._common import figure as _figure
from jaxpop.reproduce._common import save_figure, write_numbers

#: Parameters of Fig. 1(d) and Fig. 2.
ETA_BAR, J, DELTA = -5.0, 15.0, 1.0
#: Sliding window of the network rate (App. A).
SMOOTH = 2e-2
#: Wider window for a noise-robust comparison of network and FRE rates.
COARSE = 0.2
#: Neurons shown in the rasters.
N_RASTER = 300
#: Colours of the paper: network black, FREs orange, bistable region cyan, focus region grey.
C_NET, C_FRE, C_BISTABLE, C_FOCUS = "k", "tab:orange", "#9ee3e8", "0.85"

#: PNGs at 130 dpi; NaN and infinities in the JSON as Python's ``json`` writes them (``NaN``, ``Infinity``).
_save = functools.partial(save_figure, dpi=130)
_write_numbers = functools.partial(write_numbers, strict=False)


# ============================================================================================
# shared building blocks
# ============================================================================================


class RasterSubset(AbstractModel):
    """A spiking network that records the spikes of a subset of its neurons only.

    Wraps any network with observables ``r``, ``v`` and per-neuron ``spikes`` (e.g.
    :class:`jaxpop.micro.QIFNetwork`); dynamics are the wrapped network's. The raster of the
    ``idx`` neurons is recorded as ``int8`` spike counts *summed* over each recording block, so a
    300-neuron raster of a :math:`10^4`-neuron network costs 300 bytes per record.
    """

    net: AbstractModel
    idx: jax.Array

    accumulated = ("r",)
    summed = ("spikes",)
    default_record = ("r", "v", "spikes")

    @property
    def drive_shape(self):
        return self.net.drive_shape

    def check_dt(self, dt):
        self.net.check_dt(dt)

    def observable_dims(self):
        return {"r": (), "v": (), "spikes": ("neuron",)}

    def init(self, key):
        return self.net.init(key)

    def step(self, state, t, dt, drive, key):
        return self.net.step(state, t, dt, drive, key)

    def observe(self, state):
        obs = self.net.observe(state)
        return {"r": obs["r"], "v": obs["v"], "spikes": obs["spikes"][self.idx].astype(jnp.int8)}


def simulate_raster(net, *, t0, t_end, dt, key, drive, every, n_raster=N_RASTER, raster_seed=0):
    """Simulate ``net`` recording ``r``, ``v`` every ``every`` steps and the spikes of ``n_raster``
    neurons drawn at random (``raster_seed``) through :class:`RasterSubset`.

    Returns the :class:`jaxpop.Result`, the sorted indices of the recorded neurons and the wall
    time (s) of the run.
    """
    n_total = int(net.n_neurons)
    idx = np.sort(np.random.default_rng(raster_seed).choice(n_total, size=min(n_raster, n_total), replace=False))
    model = RasterSubset(net, jnp.asarray(idx))
    tic = time.perf_counter()
    micro = jaxpop.simulate(model, t_end, dt, t0=t0, key=key, drive=drive, record=("r", "v", "spikes"),
                            record_every=every)
    jax.block_until_ready(micro.data)
    return micro, idx, time.perf_counter() - tic


def network_vs_fre(net, fre, drive, *, t0, t_end, dt=1e-4, key, record_dt=1e-3, smooth=SMOOTH,
                   n_raster=N_RASTER, compare_from=None, fre_y0=None, name="", raster_seed=0):
    """Simulate a QIF network and its firing-rate equations under the same drive and compare them.

    The network runs with fixed-step Euler (:func:`jaxpop.simulate`), the FREs (any ODE model:
    :class:`jaxpop.MontbrioPazoRoxin`, :class:`jaxpop.FREEnsemble`) adaptively
    (:func:`jaxpop.solve`, Tsit5, rtol 1e-8) at the network's recording times. (A fixed RK4 step of
    1e-3 is not enough for the sharp bursts of the uniform-:math:`g` ensemble of Fig. 6.)

    Parameters
    ----------
    net : QIFNetwork
    fre : AbstractODEModel
    drive : drive
        External input :math:`I(t)`, shared by both.
    t0, t_end, dt : float
        Time window and the network's time step.
    record_dt : float
        Recording interval of the network (a multiple of ``dt``).
    compare_from : float, optional
        Errors are computed on ``t >= compare_from`` (default: the whole window).
    fre_y0 : pytree, optional
        Initial state of the FREs (default ``fre.init()``).
    n_raster : int
        Number of randomly chosen neurons whose spikes are kept.

    Returns
    -------
    dict with ``ts``, ``r_net`` (smoothed), ``v_net``, ``r_fre``, ``v_fre``, ``drive``,
    ``neurons``/``times`` (raster of the chosen neurons, indices 0..n_raster-1), ``eta`` (their
    excitabilities), ``nrmse_r``, ``nrmse_v``, ``nrmse_r_coarse`` (both rates further smoothed over
    ``COARSE`` = 0.2 time units: the mismatch with most of the finite-size counting noise removed),
    ``wall`` (network seconds) and ``steps``.
    """
    every = int(round(record_dt / dt))
    if abs(every * dt - record_dt) > 1e-9 * record_dt or every < 1:
        raise ValueError(f"record_dt={record_dt!r} must be a positive multiple of dt={dt!r}")
    micro, idx, wall = simulate_raster(net, t0=t0, t_end=t_end, dt=dt, key=key, drive=drive, every=every,
                                       n_raster=n_raster, raster_seed=raster_seed)
    n_total = int(net.n_neurons)
    macro = jaxpop.solve(fre, t_end, t0=t0, drive=drive, ts=micro.ts, y0=fre_y0)
    ts = np.asarray(micro.ts)
    r_net = np.asarray(smooth_rate(micro.r, micro.bin_width, smooth))
    v_net = np.asarray(micro.v)
    r_fre, v_fre = np.asarray(macro.r), np.asarray(macro.v)
    sel = np.ones_like(ts, dtype=bool) if compare_from is None else ts >= compare_from
    neurons, times = micro.spike_trains()
    r_fre_coarse = smooth_rate(smooth_rate(r_fre, micro.bin_width, smooth), micro.bin_width, COARSE)
    return dict(
        name=name, N=n_total, ts=ts, r_net=r_net, v_net=v_net, r_fre=r_fre, v_fre=v_fre,
        drive=np.asarray(jax.vmap(drive)(micro.ts)), neurons=np.asarray(neurons), times=np.asarray(times),
        eta=np.asarray(net.eta)[idx],
        nrmse_r=float(nrmse(r_net[sel], r_fre[sel])), nrmse_v=float(nrmse(v_net[sel], v_fre[sel])),
        nrmse_r_coarse=float(nrmse(smooth_rate(r_net, micro.bin_width, COARSE)[sel], r_fre_coarse[sel])),
        wall=wall, steps=int(round((t_end - t0) / dt)),
    )


def _raster(ax, run, *, sort_by_eta=False, s=0.4):
    neurons, times = run["neurons"], run["times"]
    if sort_by_eta:
        rank = np.argsort(np.argsort(run["eta"], kind="stable"))
    else:  # a fixed random order (neuron indices follow the quantiles of eta)
        rank = np.random.default_rng(1).permutation(len(run["eta"]))
    ax.scatter(times, rank[neurons], s=s, c="k", marker="|", linewidths=0.4, rasterized=True)
    ax.set_ylim(-1, len(run["eta"]))
    ax.set_ylabel("neuron" + (" (sorted by $\\eta$)" if sort_by_eta else ""))


def plot_network_vs_fre(runs, *, title=None, fig=None):
    """Rate, mean voltage, raster and input of one or several :func:`network_vs_fre` runs
    (one column each), network black, FREs orange — the layout of MPR Figs. 2, 6 and 8."""
    fig = fig or _figure(figsize=(4.6 * len(runs), 7.2), layout="constrained")
    axes = fig.subplots(4, len(runs), sharex="col", squeeze=False,
                        gridspec_kw={"height_ratios": [2, 2, 3, 1]})
    for col, run in enumerate(runs):
        ts = run["ts"]
        ax = axes[0, col]
        ax.plot(ts, run["r_net"], color=C_NET, lw=0.7, label=f"QIF network (N = {run['N']})")
        ax.plot(ts, run["r_fre"], color=C_FRE, lw=1.2, label="FREs")
        ax.set_ylabel("$r$")
        ax.set_title(f"{run['name']}\nNRMSE $r$ = {run['nrmse_r']:.3f}, $v$ = {run['nrmse_v']:.3f}", fontsize=9)
        ax = axes[1, col]
        ax.plot(ts, run["v_net"], color=C_NET, lw=0.7)
        ax.plot(ts, run["v_fre"], color=C_FRE, lw=1.2)
        ax.set_ylabel("$v$")
        _raster(axes[2, col], run)
        axes[3, col].plot(ts, run["drive"], color="k", lw=1)
        axes[3, col].set_ylabel("$I(t)$")
        axes[3, col].set_xlabel("time")
        axes[3, col].set_xlim(ts[0], ts[-1])
    axes[0, 0].legend(loc="upper right", fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _low_state(eta_bar=ETA_BAR, J_=J, delta=DELTA):
    """The low-activity fixed point (r*, v*) of the Lorentzian FREs (closed form)."""
    from jaxpop.analysis.fixed_points import mpr_fixed_points

    r, v, _ = mpr_fixed_points(eta_bar, J_, delta)
    return float(r[0]), float(v[0])


# ============================================================================================
# Fig. 1: phase diagram, bifurcation diagrams with network squares, phase portrait
# ============================================================================================


def numeric_phase_diagram(eta_grid, J_grid, delta=DELTA):
    r"""Fig. 1(a) computed numerically: at every grid point the fixed points of the FREs
    (companion-matrix roots of the quartic, :func:`~jaxpop.analysis.mpr_fixed_points`) and their
    stability from the autodiff Jacobian of ``MontbrioPazoRoxin.vector_field``
    (:func:`~jaxpop.analysis.stability`), vmapped over the grid.

    Returns a dict of arrays shaped ``(len(J_grid), len(eta_grid))``: ``n_stable``, ``bistable``
    (two stable fixed points), ``focus`` (the fixed point of highest rate is a stable focus) and
    ``region`` (0 single stable node, 1 single stable focus, 2 bistable).
    """
    from jaxpop.analysis import mpr_fixed_points, stability

    base = jaxpop.MontbrioPazoRoxin(0.0, delta, 0.0)

    def one(eta, J_):
        model = eqx.tree_at(lambda m: (m.eta_bar, m.J), base, (jnp.reshape(eta, (1,)), jnp.reshape(J_, (1, 1))))
        r, v, n = mpr_fixed_points(eta, J_, delta)
        st = jax.vmap(lambda ri, vi: stability(model, {"r": jnp.where(jnp.isfinite(ri), ri, 1.0)[None],
                                                       "v": jnp.where(jnp.isfinite(vi), vi, -1.0)[None]}))(r, v)
        valid = jnp.isfinite(r)
        stable = valid & st.stable
        k = jnp.maximum(n - 1, 0)
        focus = stable[k] & st.focus[k]
        n_stable = jnp.sum(stable)
        return dict(n_stable=n_stable, bistable=n_stable >= 2, focus=focus,
                    region=jnp.where(n_stable >= 2, 2, jnp.where(focus, 1, 0)))

    E, JJ = np.meshgrid(np.asarray(eta_grid, float), np.asarray(J_grid, float))
    out = jax.jit(jax.vmap(one))(jnp.asarray(E.ravel()), jnp.asarray(JJ.ravel()))
    return {k: np.asarray(a).reshape(E.shape) for k, a in out.items()}


def _cusp_from_fold_integrals(distribution):
    r"""Cusp of the App. C saddle-node curve :math:`(\bar\eta_{\rm SN}(s), J_{\rm SN}(s))` found
    numerically: the maximum of :math:`\bar\eta_{\rm SN}(s)` (:func:`~jaxpop.analysis.saddle_node_curve`,
    quadrature of Eqs. C5-C6) by golden-section search. Returns ``(eta_bar, J)``."""
    from jaxpop.analysis import saddle_node_curve

    eta_of_s = jax.jit(lambda s: saddle_node_curve(distribution, s)[0])
    scale = distribution_scale(distribution)
    s_grid = np.linspace(-3.0, 3.0, 241) * scale
    k = int(np.nanargmax(np.asarray(eta_of_s(jnp.asarray(s_grid)))))
    a, b = s_grid[max(k - 1, 0)], s_grid[min(k + 1, len(s_grid) - 1)]
    g = (np.sqrt(5.0) - 1) / 2
    c1, c2 = b - g * (b - a), a + g * (b - a)
    f1, f2 = float(eta_of_s(c1)), float(eta_of_s(c2))
    for _ in range(80):
        if f1 > f2:
            b, c2, f2 = c2, c1, f1
            c1 = b - g * (b - a)
            f1 = float(eta_of_s(c1))
        else:
            a, c1, f1 = c1, c2, f2
            c2 = a + g * (b - a)
            f2 = float(eta_of_s(c2))
    e, J_, _ = saddle_node_curve(distribution, 0.5 * (a + b))
    return float(e), float(J_)


def distribution_scale(distribution) -> float:
    """Width parameter of a jaxpop distribution (half-width, or SD for the Gaussian)."""
    for name in ("half_width", "sd"):
        if hasattr(distribution, name):
            return float(getattr(distribution, name))
    return 1.0


def network_branches(etas, *, J_=J, delta=DELTA, N=10_000, dt=1e-4, t_transient=5.0, t_avg=5.0, key=None):
    r"""Network squares of Fig. 1(b, c): for each :math:`\bar\eta` the time-averaged rate and mean
    voltage of a QIF network started in each fixed point of the FREs (the low and, where it
    exists, the high state; ``QIFNetwork.init`` puts the network in the stationary state whose
    recurrent input is that fixed point's rate), averaged over ``t_avg`` after a transient
    ``t_transient``. All starts run as one vmapped :func:`jaxpop.sweep`.

    Returns a dict with arrays ``eta``, ``start`` ('low'/'high' in the bistable range, else
    'single'), ``r_fre``, ``v_fre`` (the fixed point it started from), ``r_net``, ``v_net``.
    """
    from jaxpop.analysis import mpr_fixed_points

    key = jax.random.PRNGKey(1) if key is None else key
    r, v, n = jax.vmap(lambda e: mpr_fixed_points(e, J_, delta))(jnp.asarray(etas, float))
    r, v, n = np.asarray(r), np.asarray(v), np.asarray(n)
    points = []  # (eta, r0, v0, start)
    for i, e in enumerate(np.asarray(etas, float)):
        points.append((e, r[i, 0], v[i, 0], "low" if n[i] > 1 else "single"))
        if n[i] == 3:
            points.append((e, r[i, 2], v[i, 2], "high"))
    eta_pts, r0, v0, start = (list(x) for x in zip(*points))
    net = QIFNetwork(N, -5.0, delta, J_)
    every = int(round(1e-2 / dt))
    n_avg = int(round(t_avg / 1e-2))

    def reduce(res):
        return {"r": jnp.mean(res.r[-n_avg:]), "v": jnp.mean(res.v[-n_avg:])}

    out = jaxpop.sweep(net, {"eta_bar": np.array(eta_pts), "r0": np.array(r0)}, t_transient + t_avg, dt,
                       key=key, record=("r", "v"), record_every=every, reduce=reduce, product=False)
    return dict(eta=np.array(eta_pts), start=np.array(start), r_fre=np.array(r0), v_fre=np.array(v0),
                r_net=np.asarray(out["r"]), v_net=np.asarray(out["v"]))


def fre_branches(eta_line, J_=J, delta=DELTA):
    r"""Fixed-point branches of the FREs along ``eta_line`` (MPR Fig. 1(b, c)): closed-form roots
    (:func:`~jaxpop.analysis.mpr_fixed_points`) sorted into the low, middle and high branch, with
    their stability from the closed-form eigenvalues. Returns ``r, v, stable``, each
    ``(len(eta_line), 3)`` (columns low / middle / high, NaN where a branch does not exist)."""
    from jaxpop.analysis import mpr_eigenvalues, mpr_fixed_points

    eta_line = np.asarray(eta_line, dtype=float)
    r, v, n = (np.asarray(x) for x in jax.vmap(lambda e: mpr_fixed_points(e, J_, delta))(jnp.asarray(eta_line)))
    e_lo, e_hi = (float(x[0]) for x in folds_at(J_, delta))
    mid = 0.5 * (e_lo + e_hi) if np.isfinite(e_lo) else np.inf
    single = n == 1
    on_high = single & (eta_line >= mid)
    cols = []
    for x in (r, v):
        low = np.where(single, np.where(on_high, np.nan, x[:, 0]), x[:, 0])
        middle = np.where(n == 3, x[:, 1], np.nan)
        high = np.where(n == 3, x[:, 2], np.where(on_high, x[:, 0], np.nan))
        cols.append(np.stack([low, middle, high], axis=1))
    rb, vb = cols
    lam = np.asarray(mpr_eigenvalues(np.where(np.isfinite(rb), rb, 1.0), J_, delta))
    stable = np.isfinite(rb) & np.all(lam.real < 0, axis=-1)
    return rb, vb, stable


def fig1(outdir, *, quick=False) -> dict:
    """MPR Fig. 1: phase diagram, bifurcation diagrams with QIF-network squares, phase portrait."""
    from matplotlib.colors import ListedColormap

    from jaxpop.analysis import mpr_cusp, mpr_fixed_points, mpr_focus_boundary, mpr_saddle_node
    from jaxpop.micro.qif import quantile_tail_bias

    tic = time.perf_counter()
    # (a) numerical phase diagram vs the analytic curves
    n_eta, n_J = (121, 101) if quick else (401, 301)
    eta_grid = np.linspace(-12.0, 2.0, n_eta)
    J_grid = np.linspace(0.0, 20.0, n_J)
    numeric = numeric_phase_diagram(eta_grid, J_grid)
    e_lo, e_hi = folds_at(J_grid)
    EE, JJ = eta_grid[None, :], J_grid[:, None]
    analytic_bistable = (EE > e_lo[:, None]) & (EE < e_hi[:, None])
    analytic_focus = EE > np.asarray(mpr_focus_boundary(np.maximum(JJ, 1e-9)))
    mismatch_bistable = int(np.sum(numeric["bistable"] != analytic_bistable))
    mismatch_focus = int(np.sum(numeric["focus"] != analytic_focus))
    eta_c, J_c, r_c = (float(x) for x in mpr_cusp(DELTA))
    eta_c_num, J_c_num = _cusp_from_fold_integrals(jaxpop.Lorentzian(0.0, DELTA))

    # (b, c) bifurcation diagrams at J = 15 with network squares
    eta_line = np.linspace(-9.0, 1.0, 2001)
    r_b, v_b, stable_b = fre_branches(eta_line)
    if quick:
        net_etas, N, t_tr, t_av = np.array([-8.0, -5.0, -4.0, -1.0]), 1_000, 2.0, 2.0
    else:
        net_etas, N, t_tr, t_av = np.arange(-9.0, 1.01, 0.5), 10_000, 5.0, 5.0
    net = network_branches(net_etas, N=N, dt=1e-4, t_transient=t_tr, t_avg=t_av)
    rel_err_r = np.abs(net["r_net"] - net["r_fre"]) / net["r_fre"]
    abs_err_v = np.abs(net["v_net"] - net["v_fre"])
    # finite-N twin (QIFNetwork docs): the FREs at eta - J b, read out as r - b, b = quantile-tail deficit
    b = float(quantile_tail_bias(N, DELTA))
    r_twin = np.array([np.nanmax(r) if s_ == "high" else np.nanmin(r) for r, s_ in zip(
        np.asarray(jax.vmap(lambda e: mpr_fixed_points(e - J * b, J, DELTA)[0])(jnp.asarray(net["eta"]))),
        net["start"])]) - b
    rel_err_twin = np.abs(net["r_net"] - r_twin) / r_twin

    # (d) phase portrait at eta = -5, J = 15: basin of the focus = final states of a grid of
    # initial conditions (one vmapped sweep of RK4 runs), and a few trajectories
    fre = jaxpop.MontbrioPazoRoxin(ETA_BAR, DELTA, J)
    r_fp, v_fp, _ = (np.asarray(x) for x in mpr_fixed_points(ETA_BAR, J, DELTA))
    n_ph = 30 if quick else 100
    r_ax, v_ax = np.linspace(1e-3, 2.0, n_ph), np.linspace(-3.0, 1.5, n_ph)
    basin = jaxpop.sweep(fre, {"r0": r_ax, "v0": v_ax}, 40.0, 1e-2, key=jax.random.PRNGKey(0), record="r",
                         record_every=100, reduce=lambda res: res.r[-1])
    to_high = np.asarray(basin["value"]).T > r_fp[1]  # (v, r)
    starts = np.array([(0.05, 1.2), (1.9, -2.8), (0.6, -3.0), (0.02, -0.5), (0.3, 1.5), (1.2, 1.5)])
    traj = jaxpop.sweep(fre, {"r0": starts[:, 0], "v0": starts[:, 1]}, 30.0, 1e-2, key=jax.random.PRNGKey(0),
                        record=("r", "v"), product=False)

    fig = _figure(figsize=(10, 8.2))
    axes = fig.subplots(2, 2)
    ax = axes[0, 0]
    ax.pcolormesh(eta_grid, J_grid, numeric["region"], cmap=ListedColormap(["white", C_FOCUS, C_BISTABLE]),
                  vmin=-0.5, vmax=2.5, shading="nearest", rasterized=True)
    rr = np.geomspace(0.02, 3.0, 2000)
    e_sn, J_sn = (np.asarray(x) for x in mpr_saddle_node(rr, DELTA))
    ax.plot(e_sn, J_sn, "k", lw=1.2, label="saddle-node (analytic)")
    Jf = np.linspace(0.5, 20, 400)
    ax.plot(np.asarray(mpr_focus_boundary(Jf, DELTA)), Jf, "k--", lw=1, label="$\\bar\\eta_f$ (node/focus)")
    ax.plot([ETA_BAR], [J], "k^", ms=7)
    ax.set_xlim(eta_grid[0], eta_grid[-1])
    ax.set_ylim(J_grid[0], J_grid[-1])
    ax.set_xlabel("$\\bar\\eta/\\Delta$")
    ax.set_ylabel("$J/\\sqrt{\\Delta}$")
    ax.set_title(f"(a) shading: numerical {n_eta}x{n_J} grid (white node, grey focus, cyan bistable)\n"
                 f"lines: analytic; cusp ({eta_c:.5f}, {J_c:.5f}); grid mismatches {mismatch_bistable}, "
                 f"{mismatch_focus}", fontsize=8)
    ax.legend(loc="upper left", fontsize=7, framealpha=0.9)
    hi = net["start"] == "high"
    for ax, name, ylab, fp, key_ in ((axes[0, 1], "b", "$r$", r_b, "r_net"), (axes[1, 0], "c", "$v$", v_b, "v_net")):
        for j in range(3):
            ax.plot(eta_line, np.where(stable_b[:, j], fp[:, j], np.nan), "k-", lw=1.3)
            ax.plot(eta_line, np.where(~stable_b[:, j], fp[:, j], np.nan), "k--", lw=1)
        ax.plot(net["eta"][~hi], net[key_][~hi], "s", mfc="none", mec="tab:red", ms=6,
                label=f"QIF network (N = {N}), from the low state")
        ax.plot(net["eta"][hi], net[key_][hi], "s", mfc="tab:red", mec="tab:red", ms=4,
                label="from the high state")
        ax.set_xlabel("$\\bar\\eta$")
        ax.set_ylabel(ylab)
        ax.set_title(f"({name}) $J = 15$: FRE fixed points (solid stable, dashed saddle), network squares",
                     fontsize=8)
    axes[0, 1].legend(loc="upper left", fontsize=7, frameon=False)
    ax = axes[1, 1]
    ax.contourf(r_ax, v_ax, to_high.astype(float), levels=[0.5, 1.5], colors=[C_BISTABLE])
    Rg, Vg = np.meshgrid(np.linspace(1e-3, 2.0, 40), np.linspace(-3.0, 1.5, 40))
    field = jax.vmap(lambda a, b: fre.vector_field(0.0, {"r": a[None], "v": b[None]}, jaxpop.drives.Zero()))(
        jnp.asarray(Rg.ravel()), jnp.asarray(Vg.ravel()))
    ax.streamplot(Rg, Vg, np.asarray(field["r"]).reshape(Rg.shape), np.asarray(field["v"]).reshape(Rg.shape),
                  color="0.65", density=0.9, linewidth=0.6, arrowsize=0.6)
    for tr_r, tr_v in zip(np.asarray(traj["r"]), np.asarray(traj["v"])):
        ax.plot(tr_r, tr_v, "k", lw=0.8)
    for j, (mk, fc, lab) in enumerate((("o", "k", "stable node"), ("X", "w", "saddle"), ("D", "k", "stable focus"))):
        ax.plot(r_fp[j], v_fp[j], mk, mec="k", mfc=fc, ms=7, label=lab, zorder=5)
    ax.set_xlim(0, 2.0)
    ax.set_ylim(-3.0, 1.5)
    ax.set_xlabel("$r$")
    ax.set_ylabel("$v$")
    ax.set_title("(d) $\\bar\\eta = -5$, $J = 15$: cyan = basin of the stable focus", fontsize=8)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
    fig.suptitle("MPR 2015 Fig. 1: steady states of the FREs (Eq. 12) and of the QIF network", fontsize=10)
    fig.tight_layout()
    path = _save(fig, outdir, "mpr2015_fig1.png")

    numbers = {
        "quick": quick,
        "cusp": [eta_c, J_c], "cusp_r": r_c, "cusp_fold_integrals": [eta_c_num, J_c_num],
        "cusp_exact": [-np.sqrt(3.0), 2 * np.pi * (4 / 3) ** 0.75],
        "grid": [n_eta, n_J], "grid_mismatch_bistable": mismatch_bistable, "grid_mismatch_focus": mismatch_focus,
        "fold_eta_at_J15": [float(x[0]) for x in folds_at(J)],
        "fixed_points_fig1d_r": r_fp.tolist(), "fixed_points_fig1d_v": v_fp.tolist(),
        "network_N": N, "network_t_avg": t_av, "network_eta": net["eta"], "network_start": net["start"].tolist(),
        "network_r": net["r_net"], "fre_r": net["r_fre"], "network_v": net["v_net"], "fre_v": net["v_fre"],
        "network_rel_err_r": rel_err_r, "network_abs_err_v": abs_err_v,
        "network_max_rel_err_r": float(np.max(rel_err_r)), "network_max_abs_err_v": float(np.max(abs_err_v)),
        "quantile_tail_bias": b, "network_max_rel_err_r_vs_finite_N_fre": float(np.max(rel_err_twin)),
        "basin_fraction_high": float(np.mean(to_high)),
        "wall": time.perf_counter() - tic, "figure": str(path),
    }
    _write_numbers(outdir, "mpr2015_fig1.json", numbers)
    return numbers


def folds_at(J_values, delta=DELTA, Gamma=0.0):
    r""":math:`\bar\eta` of the two saddle-node points at each coupling in ``J_values``: the closed-form
    curve :func:`~jaxpop.analysis.mpr_saddle_node` solved for its parameter :math:`r` by bisection on
    either side of the cusp rate (vectorised). Returns ``(eta_low, eta_high)``; the system is
    bistable for ``eta_low < eta_bar < eta_high``; NaN where ``J`` is not above the cusp."""
    from jaxpop.analysis import mpr_cusp, mpr_saddle_node

    J_values = np.atleast_1d(np.asarray(J_values, dtype=float))
    _, J_c, r_c = (float(x) for x in mpr_cusp(delta, Gamma))
    J_of = lambda r: np.asarray(mpr_saddle_node(r, delta, Gamma)[1])  # noqa: E731
    out = []
    for lo0, hi0 in ((1e-6 * r_c, r_c), (r_c, 1e3 * max(r_c, 1.0))):
        lo = np.full_like(J_values, lo0)
        hi = np.full_like(J_values, hi0)
        sign_lo = np.sign(J_of(lo) - J_values)
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            same = np.sign(J_of(mid) - J_values) == sign_lo
            lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
        out.append(np.asarray(mpr_saddle_node(0.5 * (lo + hi), delta, Gamma)[0]))
    e1, e2 = np.minimum(*out), np.maximum(*out)
    bad = J_values <= J_c
    return np.where(bad, np.nan, e1), np.where(bad, np.nan, e2)


# ============================================================================================
# Fig. 2: step and sinusoid
# ============================================================================================


def fig2_runs(*, N=10_000, dt=1e-4, t_step=(-10.0, 40.0), t_sin=(-10.0, 80.0), key=None, n_raster=N_RASTER):
    r"""The two protocols of MPR Fig. 2 at :math:`\bar\eta = -5`, :math:`J = 15`, :math:`\Delta = 1`,
    network and FREs started in the low-activity state: a step :math:`I = 3` on :math:`0 \le t < 30`
    and a sinusoid :math:`I(t) = 3\sin(\pi t/20)` from :math:`t = 0`. Returns two
    :func:`network_vs_fre` dicts."""
    key = jax.random.PRNGKey(2015) if key is None else key
    r_low, v_low = _low_state()
    fre = jaxpop.MontbrioPazoRoxin(ETA_BAR, DELTA, J, r0=r_low, v0=v_low)
    net = QIFNetwork.from_fre(fre, N=N)
    return [
        network_vs_fre(net, fre, jaxpop.Step(3.0, 0.0, 30.0), t0=t_step[0], t_end=t_step[1], dt=dt,
                       key=jax.random.fold_in(key, 0), n_raster=n_raster, name="step $I = 3$ on $[0, 30)$"),
        network_vs_fre(net, fre, jaxpop.Sinusoid(3.0, np.pi / 20), t0=t_sin[0], t_end=t_sin[1], dt=dt,
                       key=jax.random.fold_in(key, 1), n_raster=n_raster, name="$I(t) = 3\\sin(\\pi t/20)$"),
    ]


def fig2(outdir, *, quick=False) -> dict:
    """MPR Fig. 2: a QIF network (N = 10^4) follows its FREs through a step and a slow sinusoid."""
    if quick:
        runs = fig2_runs(N=1_000, dt=1e-4, t_step=(-2.0, 36.0), t_sin=(-2.0, 40.0))
    else:
        runs = fig2_runs()
    fig = plot_network_vs_fre(runs, title=f"MPR 2015 Fig. 2: QIF network (N = {runs[0]['N']}) vs FREs "
                                          f"($\\bar\\eta = -5$, $J = 15$, $\\Delta = 1$)")
    path = _save(fig, outdir, "mpr2015_fig2.png")
    numbers = {"N": runs[0]["N"], "dt": 1e-4, "quick": quick}
    for run, tag in zip(runs, ("step", "sinusoid")):
        numbers[f"nrmse_r_{tag}"] = run["nrmse_r"]
        numbers[f"nrmse_v_{tag}"] = run["nrmse_v"]
        numbers[f"nrmse_r_coarse_{tag}"] = run["nrmse_r_coarse"]
        numbers[f"wall_{tag}"] = run["wall"]
    # stationary rates and the first peak of the step response (insensitive to finite-size noise)
    step = runs[0]
    ts = step["ts"]
    before, on, rise = ts < 0, (ts >= 20.0) & (ts < 30.0), (ts >= 0) & (ts < 5.0)
    numbers["mean_r_net_before_step"] = float(np.mean(step["r_net"][before]))
    numbers["mean_r_fre_before_step"] = float(np.mean(step["r_fre"][before]))
    numbers["mean_r_net_step_on"] = float(np.mean(step["r_net"][on]))
    numbers["mean_r_fre_step_on"] = float(np.mean(step["r_fre"][on]))
    numbers["duration_before_step"] = float(np.sum(before) * 1e-3)
    numbers["t_first_peak_net"] = float(ts[rise][np.argmax(step["r_net"][rise])])
    numbers["t_first_peak_fre"] = float(ts[rise][np.argmax(step["r_fre"][rise])])
    numbers["figure"] = str(path)
    _write_numbers(outdir, "mpr2015_fig2.json", numbers)
    return numbers


# ============================================================================================
# Fig. 3: macroscopic chaos under periodic forcing
# ============================================================================================

#: Fig. 3 forcing and parameters (triangle of Fig. 3(a)).
FIG3_I0, FIG3_OMEGA, FIG3_ETA, FIG3_J = 3.0, np.pi, -2.5, 10.5
#: Largest Lyapunov exponent the paper reports at the triangle.
FIG3_LAMBDA_PAPER = 0.183


def lyapunov_grid(eta_grid, J_grid, starts, *, t_transient, t_total, dt=1e-2, I0=FIG3_I0, omega=FIG3_OMEGA,
                  delta=DELTA, n_segments=5):
    r"""Largest Lyapunov exponent of the forced FREs, :math:`I(t) = I_0\sin\omega t`, at every
    :math:`(\bar\eta, J)` of a grid and from every initial state in ``starts`` (a sequence of
    ``(r0, v0)``): :func:`~jaxpop.analysis.lyapunov_exponent`, vmapped over the grid and the starts.
    Returns an array ``(len(starts), len(J_grid), len(eta_grid))``."""
    from jaxpop.analysis import lyapunov_exponent

    drive = jaxpop.Sinusoid(I0, omega)
    base = jaxpop.MontbrioPazoRoxin(0.0, delta, 0.0)

    def one(eta, J_, r0, v0):
        model = eqx.tree_at(lambda m: (m.eta_bar, m.J, m.r0, m.v0), base,
                            (eta[None], J_[None, None], r0[None], v0[None]))
        return lyapunov_exponent(model, t_transient, t_total, dt, drive=drive, n_segments=n_segments).exponent

    E, JJ = np.meshgrid(np.asarray(eta_grid, float), np.asarray(J_grid, float))
    f = jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, 0, None, None)), in_axes=(None, None, 0, 0)))
    starts = np.asarray(starts, dtype=float)
    out = f(jnp.asarray(E.ravel()), jnp.asarray(JJ.ravel()), jnp.asarray(starts[:, 0]), jnp.asarray(starts[:, 1]))
    return np.asarray(out).reshape((len(starts),) + E.shape)


def fig3(outdir, *, quick=False) -> dict:
    r"""MPR Fig. 3: macroscopic chaos of the FREs and of the QIF network under periodic forcing
    :math:`I(t) = 3\sin(\pi t)` at :math:`\bar\eta = -2.5`, :math:`J = 10.5`.

    (a) largest Lyapunov exponent on a :math:`(\bar\eta, J)` grid from a low and a high initial
    state: black where both runs are chaotic (:math:`\lambda > \lambda_{\rm th}`), cyan where only one
    is (a chaotic attractor coexisting with a periodic one); (b) the chaotic FRE trajectory;
    (c, d) the network and the FREs, the FREs started at :math:`t = 0` from the network's
    :math:`(r, v)` after a long transient (as in the paper); (e, f) raster of 300 neurons in random
    order and sorted by :math:`\eta`."""
    from matplotlib.colors import ListedColormap

    from jaxpop.analysis import lyapunov_exponent, mpr_saddle_node

    tic = time.perf_counter()
    drive_fre = jaxpop.Sinusoid(FIG3_I0, FIG3_OMEGA)
    fre = jaxpop.MontbrioPazoRoxin(FIG3_ETA, DELTA, FIG3_J, r0=0.1, v0=-2.0)
    # the exponent at the triangle, with its standard error over segments
    t_meas = 1000.0 if quick else 5000.0
    est = lyapunov_exponent(fre, 100.0, t_meas, 1e-2, drive=drive_fre, n_segments=10)
    lam, lam_se = float(est.exponent), float(est.stderr)

    # (a) phase diagram
    if quick:
        eta_grid, J_grid, t_tr, t_tot = np.linspace(-4.5, -1.0, 15), np.linspace(6.0, 18.0, 13), 50.0, 200.0
    else:
        eta_grid, J_grid, t_tr, t_tot = np.linspace(-4.5, -1.0, 71), np.linspace(6.0, 18.0, 61), 200.0, 1000.0
    starts = [(0.05, -2.0), (1.5, 0.0)]
    lam_grid = lyapunov_grid(eta_grid, J_grid, starts, t_transient=t_tr, t_total=t_tot)
    lam_th = 0.02
    n_chaotic = np.sum(lam_grid > lam_th, axis=0)
    region = np.where(n_chaotic == len(starts), 2, np.where(n_chaotic > 0, 1, 0))

    # (b) the FRE attractor; (c-f) network vs FREs
    N, dt = (1_000, 1e-4) if quick else (10_000, 1e-4)
    t0, t_end = (-10.0, 10.0) if quick else (-40.0, 30.0)
    att = jaxpop.simulate(fre, 300.0 if not quick else 100.0, 1e-3, key=jax.random.PRNGKey(0), drive=drive_fre,
                          record=("r", "v"), record_every=10)
    keep = np.asarray(att.ts) > (100.0 if not quick else 40.0)
    # the network is forced from t0 on with the same phase as the FREs: I = I0 sin(omega (t - t0)) = I0 sin(omega t)
    drive_net = jaxpop.Sinusoid(FIG3_I0, FIG3_OMEGA, t_on=t0)
    r_start = float(np.asarray(att.r)[keep][0])
    net = QIFNetwork(N, FIG3_ETA, DELTA, FIG3_J, r0=r_start)
    idx = np.sort(np.random.default_rng(3).choice(N, size=min(N_RASTER, N), replace=False))
    micro = jaxpop.simulate(RasterSubset(net, jnp.asarray(idx)), t_end, dt, t0=t0, key=jax.random.PRNGKey(3),
                            drive=drive_net, record=("r", "v", "spikes"), record_every=int(round(1e-3 / dt)))
    ts = np.asarray(micro.ts)
    r_net = np.asarray(smooth_rate(micro.r, micro.bin_width, SMOOTH))
    v_net = np.asarray(micro.v)
    i0 = int(np.argmin(np.abs(ts)))
    y0 = {"r": jnp.asarray([r_net[i0]]), "v": jnp.asarray([v_net[i0]])}
    after = ts >= ts[i0]
    macro = jaxpop.solve(fre, float(ts[-1]), t0=float(ts[i0]), y0=y0, drive=drive_fre, ts=ts[after])
    r_fre, v_fre = np.asarray(macro.r), np.asarray(macro.v)
    err = np.abs(r_net[after] - r_fre)
    diverge = np.flatnonzero(err > 0.5)
    t_diverge = float(ts[after][diverge[0]]) if diverge.size else float("inf")
    neurons, times = micro.spike_trains()
    run = dict(neurons=np.asarray(neurons), times=np.asarray(times), eta=np.asarray(net.eta)[idx])
    lam_net_window = ts >= 0

    fig = _figure(figsize=(11, 9))
    gs = fig.add_gridspec(4, 3, height_ratios=[3, 3, 2, 2])
    ax = fig.add_subplot(gs[0:2, 0])
    ax.pcolormesh(eta_grid, J_grid, region, cmap=ListedColormap(["white", C_BISTABLE, "k"]), vmin=-0.5, vmax=2.5,
                  shading="nearest", rasterized=True)
    rr = np.geomspace(0.02, 3.0, 2000)
    e_sn, J_sn = (np.asarray(x) for x in mpr_saddle_node(rr, DELTA))
    ax.plot(e_sn, J_sn, "k--", lw=1)
    ax.plot([FIG3_ETA], [FIG3_J], "^", color="gold", mec="k", ms=8)
    ax.set_xlim(eta_grid[0], eta_grid[-1])
    ax.set_ylim(J_grid[0], J_grid[-1])
    ax.set_xlabel("$\\bar\\eta$")
    ax.set_ylabel("$J$")
    ax.set_title(f"(a) $\\lambda_{{\\max}} > {lam_th:g}$: black from both starts,\ncyan from one "
                 f"(grid {len(eta_grid)}x{len(J_grid)}, $T = {t_tot:g}$)", fontsize=8)
    ax = fig.add_subplot(gs[0:2, 1])
    ax.plot(np.asarray(att.r)[keep], np.asarray(att.v)[keep], color=C_FRE, lw=0.4)
    ax.set_xlabel("$r$")
    ax.set_ylabel("$v$")
    ax.set_title(f"(b) FREs: chaotic attractor, $\\lambda = {lam:.3f} \\pm {lam_se:.3f}$ (paper 0.183)",
                 fontsize=8)
    ax = fig.add_subplot(gs[0:2, 2])
    ax.plot(r_net[lam_net_window], v_net[lam_net_window], color=C_NET, lw=0.3)
    ax.set_xlabel("$r$")
    ax.set_ylabel("$v$")
    ax.set_title(f"(c) QIF network (N = {N})", fontsize=8)
    ax = fig.add_subplot(gs[2, :])
    ax.plot(ts, r_net, color=C_NET, lw=0.7, label="QIF network")
    ax.plot(ts[after], r_fre, color=C_FRE, lw=1.0, label="FREs from the network's state at $t = 0$")
    ax.set_xlim(ts[0], ts[-1])
    ax.set_ylabel("$r$")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    ax.set_title(f"(d) time series; $|r_{{\\rm net}} - r_{{\\rm FRE}}| > 0.5$ first at $t = {t_diverge:.2f}$",
                 fontsize=8)
    win = (ts[0], ts[-1])
    for k, sort in enumerate((False, True)):
        ax = fig.add_subplot(gs[3, :2] if k == 0 else gs[3, 2])
        _raster(ax, run, sort_by_eta=sort, s=0.6)
        ax.set_xlim(max(win[0], 0.0), min(win[1], 10.0) if k == 0 else min(win[1], 5.0))
        ax.set_xlabel("time")
        ax.set_title("(e) 300 neurons, random order" if k == 0 else "(f) sorted by $\\eta$", fontsize=8)
    fig.suptitle("MPR 2015 Fig. 3: macroscopic chaos, $I(t) = 3\\sin(\\pi t)$, $\\bar\\eta = -2.5$, $J = 10.5$",
                 fontsize=10)
    fig.tight_layout()
    path = _save(fig, outdir, "mpr2015_fig3.png")
    numbers = {
        "quick": quick, "lambda": lam, "lambda_stderr": lam_se, "lambda_paper": FIG3_LAMBDA_PAPER,
        "lambda_T": t_meas, "grid": [len(eta_grid), len(J_grid)], "grid_T": t_tot, "lambda_threshold": lam_th,
        "fraction_chaotic_both": float(np.mean(region == 2)), "fraction_chaotic_one": float(np.mean(region == 1)),
        "lambda_grid_corner": float(np.max(lam_grid[:, 0, 0])),
        "lambda_grid_at_triangle": [float(lam_grid[s][np.argmin(np.abs(J_grid - FIG3_J)),
                                                       np.argmin(np.abs(eta_grid - FIG3_ETA))])
                                    for s in range(len(starts))],
        "N": N, "t_diverge": t_diverge, "wall": time.perf_counter() - tic, "figure": str(path),
    }
    _write_numbers(outdir, "mpr2015_fig3.json", numbers)
    return numbers


# ============================================================================================
# Bistability boundaries of networks by adiabatic continuation (Figs. 5 and 8(a))
# ============================================================================================


@functools.lru_cache(maxsize=None)
def _hold_means(n_holds, per_hold, n_avg):
    """``reduce`` for :func:`staircase_continuation`: the mean rate over the last ``n_avg`` records of
    each hold (one function object per shape, so repeated sweeps reuse their compilation)."""

    def reduce(res):
        return jnp.mean(res.r.reshape(n_holds, per_hold)[:, -n_avg:], axis=1)

    return reduce


def staircase_continuation(net, J_values, eta_start, *, step, n_steps, hold, dt=1e-4, key, r0=None, avg=1.0,
                           relax=None, record_dt=1e-2, rel_jump=0.5, r_floor=0.2):
    r"""Adiabatic continuation of a QIF network in :math:`\bar\eta` (the protocol of MPR Fig. 8's
    caption, used for the squares of Figs. 5 and 8(a)).

    For each pair ``(J_values[i], eta_start[i])`` the network starts in the stationary state of
    neurons receiving the recurrent input of rate ``r0[i]`` (default: ``net.r0``; see
    :class:`~jaxpop.micro.QIFNetwork`: a rate near the attractor's avoids the long-lived collective
    oscillations that a synchronous start excites), relaxes for ``relax`` time units at ``eta_start``, and
    then :math:`\bar\eta` is changed by ``step`` every ``hold`` time units, ``n_steps`` times. The
    change is applied as a staircase input :math:`I(t)` (:class:`jaxpop.Piecewise`), which is the same
    as changing :math:`\bar\eta` since every neuron receives :math:`\eta_j + I(t)`; so one simulation
    per ``J`` carries the state along, and all ``J`` run as one vmapped :func:`jaxpop.sweep`.

    The mean rate :math:`m_k` over the last ``avg`` time units of every hold is recorded; the
    branch is lost at the first :math:`k` where the rate changes by more than ``rel_jump`` (50 %, as
    in the paper) in the direction of the sweep, :math:`\pm(m_k - m_{k-1}) > ` ``rel_jump``
    :math:`\cdot\max(m_{k-1},` ``r_floor``:math:`)` (``r_floor`` keeps a near-silent low state, whose
    relative fluctuations are large, from triggering), and the boundary estimate is the midpoint of
    :math:`\bar\eta_{k-1}` and :math:`\bar\eta_k` (resolution ``|step|``). Holds must be long
    compared with the slowest relaxation: near a fold, and for neurons just above their own firing
    threshold (period :math:`\pi/\sqrt{\eta + Jr}`), this is several time units — the paper holds 10.

    Returns a dict with ``etas`` (n_points, n_steps), ``rates`` (n_points, n_steps) and
    ``boundary`` (n_points,; NaN if no jump was found).
    """

    relax = hold if relax is None else relax
    n_relax = int(round(relax / hold))
    if abs(n_relax * hold - relax) > 1e-9 or n_relax < 1:
        raise ValueError(f"relax={relax!r} must be a positive multiple of hold={hold!r}")
    offsets = step * np.concatenate([np.zeros(n_relax), np.arange(n_steps)])
    drive = jaxpop.Piecewise(offsets, dt=hold, t0=0.0, outside="hold")
    every = int(round(record_dt / dt))
    per_hold = int(round(hold / record_dt))
    n_avg = int(round(avg / record_dt))
    n_holds = len(offsets)

    reduce = _hold_means(n_holds, per_hold, n_avg)
    J_values = np.asarray(J_values, dtype=float)
    eta_start = np.asarray(eta_start, dtype=float)
    r0 = np.asarray(net.r0)[0] if r0 is None else r0
    grid = {"J": J_values, "eta_bar": eta_start, "r0": np.broadcast_to(np.asarray(r0, dtype=float), J_values.shape)}
    out = jaxpop.sweep(net, grid, hold * n_holds, dt, key=key, drive=drive, record="r", record_every=every,
                       reduce=reduce, product=False)
    m = np.asarray(out["value"])[:, n_relax:]
    etas = eta_start[:, None] + step * np.arange(n_steps)[None, :]
    boundary = np.full(len(J_values), np.nan)
    for i in range(len(J_values)):
        change = np.sign(step) * np.diff(m[i])  # rises on the way up, drops on the way down
        jump = change > rel_jump * np.maximum(m[i, :-1], r_floor)
        if jump.any():
            k = int(np.argmax(jump)) + 1
            boundary[i] = 0.5 * (etas[i, k - 1] + etas[i, k])
    return dict(etas=etas, rates=m, boundary=boundary, J=J_values)


def fold_etas(distribution, J_values, n_s=6000):
    r""":math:`\bar\eta` of the two saddle-node points of the FREs for a general :math:`g(\eta)` at each
    ``J``: the App. C curve :func:`~jaxpop.analysis.saddle_node_curve` sampled densely in its
    parameter and interpolated on each side of the cusp. Returns ``(eta_low, eta_high)`` (NaN below
    the cusp)."""
    from jaxpop.analysis import saddle_node_curve

    scale = distribution_scale(distribution)
    lo = -0.999 * scale if isinstance(distribution, jaxpop.Uniform) else -8.0 * scale
    s = np.concatenate([np.linspace(lo, 4 * scale, n_s // 2), np.geomspace(4 * scale, 400 * scale, n_s // 2)[1:]])
    e, J_, _ = (np.asarray(x) for x in saddle_node_curve(distribution, jnp.asarray(s)))
    k = int(np.nanargmax(e))
    J_values = np.atleast_1d(np.asarray(J_values, dtype=float))
    up = np.interp(J_values, J_[: k + 1][::-1], e[: k + 1][::-1], left=np.nan, right=np.nan)
    down = np.interp(J_values, J_[k:], e[k:], left=np.nan, right=np.nan)
    return np.minimum(up, down), np.maximum(up, down)


def network_bistability(net, J_values, guide_low, guide_high, *, margin, step, hold, dt, key, r_high=1.0, avg=1.0,
                        relax=None):
    r"""Both boundaries of a network's bistable region at each ``J`` by :func:`staircase_continuation`:
    an upward sweep from the low state (started ``margin`` below ``guide_low``, left of the region,
    where the low state is the only attractor) finds where the low state is lost, a downward sweep
    from the high state (started ``margin`` above ``guide_high`` in the stationary state of rate
    ``r_high``, a scalar or one per ``J``) where the high state is lost.
    ``guide_low``/``guide_high`` only position the windows (e.g. the FRE folds). Returns
    ``(eta_low_boundary, eta_high_boundary, up, down)``."""
    guide_low, guide_high = np.asarray(guide_low, float), np.asarray(guide_high, float)
    width = float(np.max(guide_high - guide_low)) + 2 * margin
    n_steps = int(np.ceil(width / step)) + 1
    up = staircase_continuation(net, J_values, guide_low - margin, step=step, n_steps=n_steps, hold=hold, dt=dt,
                                key=jax.random.fold_in(key, 0), avg=avg, relax=relax)
    down = staircase_continuation(net, J_values, guide_high + margin, step=-step, n_steps=n_steps, hold=hold,
                                  dt=dt, key=jax.random.fold_in(key, 1), r0=r_high, avg=avg, relax=relax)
    return down["boundary"], up["boundary"], up, down


def fre_rate(distribution, eta_bar, J_, *, r_guess=1.0, t_end=60.0, dt=1e-2, n_eta=400):
    r"""Rate of the attractor of the FREs for a general :math:`g(\eta)` (:class:`jaxpop.FREEnsemble`, Eq. 10)
    reached from the stationary state of uncoupled neurons with recurrent input :math:`J r_{\rm guess}`:
    RK4 (:func:`jaxpop.simulate`, compiled once per distribution type) for ``t_end``, time-averaged
    over the last 10 time units."""
    dist = eqx.tree_at(lambda d: d.center, distribution, jnp.asarray(eta_bar, dtype=float))
    fre = jaxpop.FREEnsemble(dist, J_, n_eta=n_eta, h_init=J_ * r_guess)
    every = int(round(1.0 / dt))
    res = jaxpop.simulate(fre, t_end, dt, key=jax.random.PRNGKey(0), record="r", record_every=every)
    return float(np.mean(np.asarray(res.r)[-10:]))


#: Fig. 5 panels: (name, distribution with centre 0, J values of the network squares, triangle (eta, J)).
FIG5_PANELS = (
    ("uniform", jaxpop.Uniform(0.0, 1.0), (6.0, 8.0, 10.0), (-1.0, 8.0)),
    ("gaussian", jaxpop.Gaussian(0.0, 1.0), (8.0, 10.0, 12.0), (-2.0, 10.0)),
)


def fig5(outdir, *, quick=False) -> dict:
    r"""MPR Fig. 5: bistability regions of networks with (a) uniform (:math:`\gamma = 1`) and
    (b) Gaussian (:math:`\sigma = 1`) excitabilities. Lines: the saddle-node curves of the FREs,
    App. C3 closed form (uniform, :func:`~jaxpop.analysis.uniform_saddle_node`) and Eqs. C5–C6
    (:func:`~jaxpop.analysis.saddle_node_curve`, both panels). Squares: boundaries of QIF networks
    found by adiabatic continuation in :math:`\bar\eta` (:func:`network_bistability`; open: low
    state lost on the way up, filled: high state lost on the way down)."""
    from jaxpop.analysis import saddle_node_curve, uniform_saddle_node

    tic = time.perf_counter()
    if quick:
        N, dt, hold, step, margin, avg = 500, 5e-4, 5.0, 0.2, 0.4, 2.0
        panels = [(name, dist, (tri[1],), tri) for name, dist, _, tri in FIG5_PANELS]
    else:
        # N = 2000 (the paper: 10^4) keeps the vmapped sweeps at ~5 minutes on a CPU
        N, dt, hold, step, margin, avg = 2_000, 2e-4, 5.0, 0.1, 0.3, 2.0
        panels = FIG5_PANELS
    fig = _figure(figsize=(10, 4.4))
    axes = fig.subplots(1, 2)
    numbers = {"quick": quick, "N": N, "dt": dt, "hold": hold, "step": step}
    for p, (ax, (name, dist, Js, tri)) in enumerate(zip(axes, panels)):
        scale = distribution_scale(dist)
        lo = -0.999 if name == "uniform" else -8.0
        s = np.concatenate([np.linspace(lo, 4.0, 3000), np.geomspace(4.0, 400.0, 3000)[1:]])
        e_sn, J_sn, _ = (np.asarray(x) for x in saddle_node_curve(dist, jnp.asarray(s)))
        keep = (J_sn < 16) & np.isfinite(e_sn)
        Jl = np.linspace(0.0, 16.0, 300)
        f_lo, f_hi = fold_etas(dist, Jl)
        ax.fill_betweenx(Jl, f_lo, f_hi, color=C_BISTABLE, lw=0)
        ax.plot(e_sn[keep], J_sn[keep], "k", lw=1.2, label="saddle-node, Eqs. (C5)-(C6)")
        if name == "uniform":
            et = np.linspace(-3.0, -1 / 3, 600)
            J1, J2 = (np.asarray(x) * np.sqrt(scale) for x in uniform_saddle_node(et))
            ax.plot(et * scale, J1, ":", color="tab:orange", lw=2, label="App. C3 closed form")
            ax.plot(et * scale, J2, ":", color="tab:orange", lw=2)
            # the closed form and the quadrature agree: compare at the network J values
            e1 = np.interp(Jl, J1[::-1][np.isfinite(J1[::-1])], et[::-1][np.isfinite(J1[::-1])], left=np.nan,
                           right=np.nan) * scale
            numbers["uniform_C3_vs_C5C6_max_diff"] = float(np.nanmax(np.abs(e1 - f_hi)[(Jl > 5.0) & (Jl < 15)]))
        guide_lo, guide_hi = fold_etas(dist, np.asarray(Js))
        r_high = [fre_rate(dist, e + margin, J_) for e, J_ in zip(guide_hi, Js)]
        net = QIFNetwork(N, 0.0, scale, Js[0], distribution=name)
        b_lo, b_hi, up, down = network_bistability(net, np.asarray(Js), guide_lo, guide_hi, margin=margin,
                                                   step=step, hold=hold, dt=dt, key=jax.random.PRNGKey(50 + p),
                                                   r_high=r_high, avg=avg)
        ax.plot(b_hi, Js, "s", mfc="none", mec="tab:red", ms=7, label=f"network (N = {N}): low state lost")
        ax.plot(b_lo, Js, "s", mfc="tab:red", mec="tab:red", ms=5, label="network: high state lost")
        ax.plot([tri[0]], [tri[1]], "k^", ms=7)
        ax.set_xlim(-4.0 if name == "uniform" else -4.5, 0.5)
        ax.set_ylim(0.0, 16.0)
        ax.set_xlabel("$\\bar\\eta$")
        ax.set_ylabel("$J$")
        label = "$\\gamma = 1$" if name == "uniform" else "$\\sigma = 1$"
        ax.set_title(f"({'ab'[p]}) {name} $g(\\eta)$, {label}", fontsize=9)
        ax.legend(loc="upper left", fontsize=7, frameon=False)
        numbers[f"{name}_J"] = list(Js)
        numbers[f"{name}_fre_fold_low"] = guide_lo
        numbers[f"{name}_fre_fold_high"] = guide_hi
        numbers[f"{name}_net_boundary_low"] = b_lo
        numbers[f"{name}_net_boundary_high"] = b_hi
        numbers[f"{name}_max_abs_err"] = float(np.nanmax(np.abs(np.concatenate([b_lo - guide_lo, b_hi - guide_hi]))))
    fig.suptitle("MPR 2015 Fig. 5: bistability for non-Lorentzian $g(\\eta)$; squares: QIF networks by "
                 f"continuation in $\\bar\\eta$ (steps {step:g} every {hold:g} time units)", fontsize=9)
    fig.tight_layout()
    path = _save(fig, outdir, "mpr2015_fig5.png")
    numbers["wall"] = time.perf_counter() - tic
    numbers["figure"] = str(path)
    _write_numbers(outdir, "mpr2015_fig5.json", numbers)
    return numbers


# ============================================================================================
# Fig. 6: uniform and Gaussian g(eta) under slow sinusoidal forcing
# ============================================================================================

#: Fig. 6 parameters (black triangles of Fig. 5): (distribution, centre, scale, J, I0).
FIG6_CASES = (("uniform", -1.0, 1.0, 8.0, 1.0), ("gaussian", -2.0, 1.0, 10.0, 1.5))
#: Forcing frequency of Figs. 2 and 6 (App. C4: "the same frequency" as Fig. 2; Fig. 7 raises it to pi).
OMEGA_SLOW = np.pi / 20


def burst_times(ts, r, *, window=COARSE, height=0.5, min_distance=1.0):
    """Times of the population bursts in a rate trace: maxima of the rate smoothed over ``window``
    that exceed ``height`` and are at least ``min_distance`` apart (:func:`scipy.signal.find_peaks`)."""
    from scipy.signal import find_peaks

    ts = np.asarray(ts)
    dt = float(ts[1] - ts[0])
    rs = np.asarray(smooth_rate(r, dt, window))
    peaks, _ = find_peaks(rs, height=height, distance=max(1, int(round(min_distance / dt))))
    return ts[peaks]


def fig6_runs(*, N=10_000, dt=1e-4, t0=-20.0, t_end=80.0, n_eta=2000, key=None, n_raster=N_RASTER):
    r"""MPR Fig. 6: QIF networks with uniform (:math:`\gamma = 1`, :math:`\bar\eta = -1`, :math:`J = 8`,
    :math:`I_0 = 1`) and Gaussian (:math:`\sigma = 1`, :math:`\bar\eta = -2`, :math:`J = 10`,
    :math:`I_0 = 1.5`) excitabilities under :math:`I(t) = I_0\sin(\pi t/20)` from :math:`t = 0`,
    against the firing-rate equations for the same :math:`g(\eta)` (:class:`jaxpop.FREEnsemble`,
    MPR Eq. 10 on ``n_eta`` quantile samples). Both start from the state of uncoupled neurons
    (``r0 = 0``, ``h0 = 0``) at ``t0`` and relax to the low-activity state before the forcing; errors
    are computed on ``t >= 0``."""
    key = jax.random.PRNGKey(6) if key is None else key
    runs = []
    for i, (dist, centre, scale, J_, I0) in enumerate(FIG6_CASES):
        net = QIFNetwork(N, centre, scale, J_, distribution=dist)
        fre = jaxpop.FREEnsemble(jaxpop.distributions.make_distribution(dist, centre, scale), J_, n_eta=n_eta)
        label = "$\\gamma$" if dist == "uniform" else "$\\sigma$"
        runs.append(network_vs_fre(
            net, fre, jaxpop.Sinusoid(I0, OMEGA_SLOW), t0=t0, t_end=t_end, dt=dt, key=jax.random.fold_in(key, i),
            n_raster=n_raster, compare_from=0.0,
            name=f"{dist} $g(\\eta)$: $\\bar\\eta = {centre:g}$, {label} $= {scale:g}$, $J = {J_:g}$, $I_0 = {I0:g}$"))
    return runs


def fig6(outdir, *, quick=False) -> dict:
    """MPR Fig. 6: networks with uniform / Gaussian g(eta) vs their FREs (Eq. 10) under slow forcing."""
    if quick:
        runs = fig6_runs(N=500, dt=5e-4, t0=-3.0, t_end=30.0, n_eta=200)
    else:
        runs = fig6_runs()
    fig = plot_network_vs_fre(runs, title=f"MPR 2015 Fig. 6: QIF networks (N = {runs[0]['N']}) with uniform and "
                                          "Gaussian $g(\\eta)$ vs FREs (Eq. 10), $I(t) = I_0 \\sin(\\pi t / 20)$")
    path = _save(fig, outdir, "mpr2015_fig6.png")
    numbers = {"N": runs[0]["N"], "quick": quick}
    for run, (dist, *_rest) in zip(runs, FIG6_CASES):
        numbers[f"nrmse_r_{dist}"] = run["nrmse_r"]
        numbers[f"nrmse_v_{dist}"] = run["nrmse_v"]
        numbers[f"nrmse_r_coarse_{dist}"] = run["nrmse_r_coarse"]
        numbers[f"burst_times_net_{dist}"] = burst_times(run["ts"], run["r_net"])
        numbers[f"burst_times_fre_{dist}"] = burst_times(run["ts"], run["r_fre"])
    numbers["figure"] = str(path)
    _write_numbers(outdir, "mpr2015_fig6.json", numbers)
    return numbers


# ============================================================================================
# Fig. 8: identical neurons with independent noise
# ============================================================================================


def fig8_run(*, N=10_000, dt=1e-4, t0=-10.0, t_end=40.0, D=1.0, I0=3.0, key=None, n_raster=N_RASTER):
    r"""MPR Fig. 8(b–d): :math:`N` identical QIF neurons (:math:`\eta_j = \bar\eta = -5`, :math:`J = 15`)
    driven by independent white noise of intensity :math:`D` (App. D), step :math:`I = I_0` on
    :math:`0 \le t < 30` (as in Fig. 2; the paper: :math:`I_0 = 3`), against the Lorentzian FREs with
    :math:`\Delta = 1` (the paper's orange curves). The network starts at rest (``r0 = 0``) at ``t0``
    and settles into its noisy low-activity state; the FREs start at their low fixed point. Errors
    on ``t >= 0``."""
    key = jax.random.PRNGKey(8) if key is None else key
    r_low, v_low = _low_state()
    fre = jaxpop.MontbrioPazoRoxin(ETA_BAR, DELTA, J, r0=r_low, v0=v_low)
    net = QIFNetwork(N, ETA_BAR, 0.0, J, distribution="delta", D=D)
    return network_vs_fre(net, fre, jaxpop.Step(I0, 0.0, 30.0), t0=t0, t_end=t_end, dt=dt, key=key,
                          n_raster=n_raster, compare_from=0.0,
                          name=f"noise $D = {D:g}$, step $I_0 = {I0:g}$ on $[0, 30)$")


def fig8(outdir, *, quick=False) -> dict:
    r"""MPR Fig. 8: identical QIF neurons driven by independent white noise (:math:`D = 1`, App. D).

    (a) Bistability boundaries of the noisy network by adiabatic continuation in :math:`\bar\eta`
    (:func:`network_bistability`) for a few :math:`J`, with the saddle-node curve of the Lorentzian
    FREs (:math:`\Delta = 1`) for comparison; (b–d) the step protocol of Fig. 2 at
    :math:`(\bar\eta, J) = (-5, 15)`, network vs the FREs with :math:`\Delta = 1` (:func:`fig8_run`).

    With :math:`\langle\xi_j\xi_k\rangle = 2D\delta_{jk}\delta(t-t')` and :math:`D = 1` the noisy
    network's low state survives the paper's step :math:`I_0 = 3` (:math:`\bar\eta + I_0 = -2` lies
    inside its bistable region, see (a)), so a third column repeats the protocol with
    :math:`I_0 = 4`, which crosses the boundary and shows the damped oscillations of the paper."""
    from jaxpop.analysis import mpr_fixed_points, mpr_saddle_node

    tic = time.perf_counter()
    D = 1.0
    if quick:
        kw = dict(N=500, dt=5e-4, t0=-2.0, t_end=34.0, D=D)
        Js, Nb, dtb, hold, step, avg = np.array([15.0]), 200, 5e-4, 3.0, 0.5, 1.0
    else:
        kw = dict(D=D)
        # a vmapped sweep of noisy networks costs ~0.2 us per neuron and step on a CPU: keep it small
        Js, Nb, dtb, hold, step, avg = np.array([10.0, 15.0, 20.0]), 1_000, 5e-4, 5.0, 0.25, 2.0
    runs = [fig8_run(I0=3.0, **kw), fig8_run(I0=4.0, key=jax.random.PRNGKey(84), **kw)]
    f_lo, f_hi = folds_at(Js)
    guide_lo, guide_hi = f_lo - 0.5, f_hi + 2.5  # the noisy network's low state survives beyond the FRE fold
    r_high = [float(np.nanmax(np.asarray(mpr_fixed_points(e + 0.5, J_, DELTA)[0]))) for e, J_ in zip(guide_hi, Js)]
    net = QIFNetwork(Nb, ETA_BAR, 0.0, J, distribution="delta", D=D)
    b_lo, b_hi, up, down = network_bistability(net, Js, guide_lo, guide_hi, margin=0.5, step=step, hold=hold,
                                               dt=dtb, key=jax.random.PRNGKey(81), r_high=r_high, avg=avg)

    fig = _figure(figsize=(14, 7.4), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1, 2])
    ax = left.subplots()
    rr = np.geomspace(0.02, 3.0, 2000)
    e_sn, J_sn = (np.asarray(x) for x in mpr_saddle_node(rr, DELTA))
    ax.plot(e_sn, J_sn, color=C_FRE, lw=1.2, label="FREs, Lorentzian $\\Delta = 1$")
    ax.plot(b_hi, Js, "s", mfc="none", mec="k", ms=7, label=f"noisy network (N = {Nb}): low state lost")
    ax.plot(b_lo, Js, "s", mfc="k", mec="k", ms=5, label="high state lost")
    ax.plot([ETA_BAR], [J], "k^", ms=7)
    for I0, mk in ((3.0, ">"), (4.0, ">")):
        ax.plot([ETA_BAR + I0], [J], mk, color="0.5", ms=6)
    ax.annotate("step $I_0 = 3$, $4$", (ETA_BAR + 3.5, J), textcoords="offset points", xytext=(-20, 10), fontsize=7)
    ax.set_xlim(-12, 1)
    ax.set_ylim(0, 25)
    ax.set_xlabel("$\\bar\\eta / D^{2/3}$")
    ax.set_ylabel("$J / D^{1/3}$")
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    ax.set_title(f"(a) continuation in $\\bar\\eta$ (steps {step:g} every {hold:g})", fontsize=8)
    plot_network_vs_fre(runs, fig=right)
    fig.suptitle("MPR 2015 Fig. 8: identical QIF neurons with independent white noise "
                 "$\\langle\\xi_j(t)\\xi_k(t')\\rangle = 2D\\delta_{jk}\\delta(t-t')$, $D = 1$, "
                 "vs the FREs with $\\Delta = 1$", fontsize=10)
    path = _save(fig, outdir, "mpr2015_fig8.png")
    numbers = {"quick": quick, "D": D, "N": runs[0]["N"]}
    for run, tag in zip(runs, ("I3", "I4")):
        ts = run["ts"]
        on = (ts >= 10.0) & (ts < 30.0)
        numbers[f"nrmse_r_{tag}"] = run["nrmse_r"]
        numbers[f"nrmse_v_{tag}"] = run["nrmse_v"]
        numbers[f"mean_r_net_during_step_{tag}"] = float(np.mean(run["r_net"][on]))
        numbers[f"mean_r_fre_during_step_{tag}"] = float(np.mean(run["r_fre"][on]))
        numbers[f"mean_r_net_before_step_{tag}"] = float(np.mean(run["r_net"][ts < 0]))
    numbers.update({
        "boundary_J": Js, "boundary_net_low": b_lo, "boundary_net_high": b_hi, "fre_fold_low": f_lo,
        "fre_fold_high": f_hi, "boundary_N": Nb, "wall": time.perf_counter() - tic, "figure": str(path),
    })
    _write_numbers(outdir, "mpr2015_fig8.json", numbers)
    return numbers


# ============================================================================================
# Fig. 9: Lorentzian-distributed couplings
# ============================================================================================

#: Ratios Gamma/Delta of Fig. 9.
FIG9_GAMMAS = (0.0, 0.5, 1.0, 2.0, 4.0)


def fig9(outdir, *, quick=False) -> dict:
    r"""MPR Fig. 9: bistability regions of the FREs with Lorentzian excitabilities (half-width
    :math:`\Delta`) *and* Lorentzian couplings (half-width :math:`\Gamma`), App. E1 (Eq. E1):
    :math:`\dot r = \Delta/\pi + \Gamma r/\pi + 2rv`. Curves: closed-form saddle-node curves
    :func:`~jaxpop.analysis.mpr_saddle_node` for several :math:`\Gamma/\Delta`; each is checked
    against a numerical grid (:func:`~jaxpop.analysis.mpr_phase_diagram`: quartic roots and
    eigenvalues at every point)."""
    from jaxpop.analysis import mpr_cusp, mpr_phase_diagram, mpr_saddle_node

    tic = time.perf_counter()
    n_eta, n_J = (141, 121) if quick else (401, 361)
    eta_grid = np.linspace(-14.0, 1.0, n_eta)
    J_grid = np.linspace(0.0, 30.0, n_J)
    fig = _figure(figsize=(6.0, 5.0))
    ax = fig.add_subplot()
    colors = ["k", "tab:blue", "tab:green", "tab:purple", "tab:red"]
    numbers = {"quick": quick, "gammas": list(FIG9_GAMMAS), "cusps": [], "cusps_r": [], "grid_mismatch": [],
               "grid": [n_eta, n_J]}
    for G, col in zip(FIG9_GAMMAS, colors):
        grid = mpr_phase_diagram(eta_grid[None, :], J_grid[:, None], DELTA, G)
        e_lo, e_hi = folds_at(J_grid, DELTA, G)
        analytic = (eta_grid[None, :] > e_lo[:, None]) & (eta_grid[None, :] < e_hi[:, None])
        numbers["grid_mismatch"].append(int(np.sum(np.asarray(grid["bistable"]) != analytic)))
        eta_c, J_c, r_c = (float(x) for x in mpr_cusp(DELTA, G))
        numbers["cusps"].append([eta_c, J_c])
        numbers["cusps_r"].append(r_c)
        ax.contour(eta_grid, J_grid, np.asarray(grid["bistable"]).astype(float), levels=[0.5], colors=[col],
                   linewidths=3.0, alpha=0.25)
        rr = np.geomspace(1e-2, 5.0, 4000)
        e_sn, J_sn = (np.asarray(x) for x in mpr_saddle_node(rr, DELTA, G))
        ax.plot(e_sn, J_sn, color=col, lw=1.3, label=f"$\\Gamma/\\Delta = {G:g}$")
        ax.plot([eta_c], [J_c], "o", color=col, ms=3)
    ax.set_xlim(eta_grid[0], eta_grid[-1])
    ax.set_ylim(J_grid[0], J_grid[-1])
    ax.set_xlabel("$\\bar\\eta/\\Delta$")
    ax.set_ylabel("$\\bar J/\\sqrt{\\Delta}$")
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_title("MPR 2015 Fig. 9: bistability with Lorentzian-distributed $J$ (Eq. E1)\n"
                 "thin: saddle-node curves; wide pale: boundary of the numerical grid", fontsize=9)
    fig.tight_layout()
    path = _save(fig, outdir, "mpr2015_fig9.png")
    numbers["wall"] = time.perf_counter() - tic
    numbers["figure"] = str(path)
    _write_numbers(outdir, "mpr2015_fig9.json", numbers)
    return numbers
