r"""Fitting demonstrations: Montbrió–Pazó–Roxin firing-rate equations fitted to their own trajectories and to a
QIF network (the protocol of Baldy et al. 2024).

Protocol: one population, :math:`(\Delta, \bar\eta, J) = (0.7, -4.6, 14.5)`, :math:`\tau = 1`, 100 time units
sampled every :math:`dt = 0.01`, a step current :math:`I = 3` on :math:`[30, 60)`; the rate :math:`r` is the
data. The fit is :func:`jaxpop.fit.fit` on :func:`jaxpop.fit.trajectory_loss` (RK4 at the data step) over
:class:`~jaxpop.fit.Bounded` parameters (:data:`BOUNDS`): a scrambled Sobol design of ``global_points``
points, Adam from the best ``starts`` of them, L-BFGS on the best ``polish_starts`` after Adam. A single
start is not enough: along the ridge :math:`\bar\eta/\Delta \approx` const, :math:`J/\sqrt\Delta \approx`
const the loss has a local minimum about every 0.2 in :math:`\Delta` (the bursts of the step response move in
and out of phase).

* **FRE data** (:func:`fre_data`): the FREs solved adaptively (:func:`jaxpop.solve`, tolerance 1e-10) from
  Baldy's initial state :math:`(r, v) = (0.5, -3)`.
* **QIF network data** (:func:`qif_data`): :class:`jaxpop.micro.QIFNetwork` (Euler, :math:`dt = 10^{-4}`,
  :math:`V_p = 100`, quantile-sampled Lorentzian :math:`\eta_j`) started in the low-activity state, its rate
  averaged over the 0.01 bins; the FREs start :math:`t_{burn}` earlier in the same state (they relax to their
  own low state before the data window) and are compared by bin averages. Quantile samples miss the
  Lorentzian's tails: the network follows the FREs at :math:`\bar\eta - J b` read out as :math:`r - b`, with
  :math:`b = |\zeta(\tfrac12)|\,\pi^{-1}\sqrt{\Delta/(\pi N)}`
  (:func:`jaxpop.micro.qif.quantile_tail_bias`). The *raw* fit uses the plain FREs; the *corrected* fit
  fits this finite-N twin (same three parameters, no extra freedom), so its estimates are directly the
  network's :math:`(\Delta, \bar\eta, J)`.

References: N. Baldy, M. Breyton, M. M. Woodman, V. K. Jirsa, M. Hashemi, Neural Comput. 36(10), 2030 (2024);
E. Montbrió, D. Pazó, A. Roxin, Phys. Rev. X 5, 021028 (2015),
doi:10.1103/PhysRevX.5.021028.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import numpy as np

TRUTH = {"delta": 0.7, "eta_bar": -4.6, "J": 14.5}
BOUNDS = {"delta": (0.1, 3.0), "eta_bar": (-10.0, 0.0), "J": (5.0, 25.0)}
T_END, DT = 100.0, 0.01
STEP = (3.0, 30.0, 60.0)  # amplitude, on, off
BALDY_INIT = (0.5, -3.0)  # (r0, v0) of the FRE data


def _drive():
    import jaxpop

    return jaxpop.Step(*STEP)


def _fre(params, r0, v0):
    import jaxpop

    return jaxpop.MontbrioPazoRoxin(params["eta_bar"], params["delta"], params["J"], r0=r0, v0=v0)


def low_state(params=TRUTH):
    """The low-activity fixed point ``(r, v)`` of the FREs at ``params`` without input."""
    from jaxpop.analysis.fixed_points import mpr_fixed_points

    r, v, _ = mpr_fixed_points(params["eta_bar"], params["J"], params["delta"])
    return float(r[0]), float(v[0])


def fre_data(params=TRUTH, *, t_end: float = T_END, dt: float = DT) -> np.ndarray:
    """The rate of the FREs at ``params`` from Baldy's initial state, at ``dt, 2 dt, ..., t_end`` (adaptive solve)."""
    import jaxpop

    ts = dt * np.arange(1, int(round(t_end / dt)) + 1)
    sol = jaxpop.solve(_fre(params, *BALDY_INIT), t_end, drive=_drive(), ts=ts, rtol=1e-10, atol=1e-12)
    return np.asarray(sol.r)


def qif_data(N: int = 10_000, params=TRUTH, *, dt: float = 1e-4, t_end: float = T_END, bin_width: float = DT,
             key=None) -> tuple[np.ndarray, float]:
    """The population rate of the QIF network twin of ``params`` (``N`` neurons) started in the low state,
    averaged over bins of ``bin_width``; returns ``(rate, wall seconds)``."""
    import jaxpop
    from jaxpop.micro import QIFNetwork

    net = QIFNetwork.from_fre(_fre(params, *low_state(params)), N=N)
    every = int(round(bin_width / dt))
    tic = time.perf_counter()
    res = jaxpop.simulate(net, t_end, dt, key=jax.random.PRNGKey(0) if key is None else key, drive=_drive(),
                          record="r", record_every=every)
    r = np.asarray(res.r)
    return r, time.perf_counter() - tic


def finite_n_twin(model, N: int):
    """The FREs that a network of ``N`` quantile-sampled neurons follows: :math:`\\bar\\eta - J b(\\Delta, N)`
    (traceable; read the rate out as :math:`r - b`)."""
    from jaxpop.micro.qif import quantile_tail_bias

    b = quantile_tail_bias(N, model.delta)
    return eqx.tree_at(lambda m: m.eta_bar, model, model.eta_bar - model.J[:, 0] * b)


def fit_fre(target, *, N: int | None = None, burn_in: float = 0.0, init=BALDY_INIT, sample: str = "end",
            global_points: int = 4096, starts: int = 16, steps: int = 200, learning_rate: float = 0.05,
            polish: int = 30, polish_starts: int | None = 4, batch: int | None = 16, key=None, progress=False):
    """Fit :math:`(\\Delta, \\bar\\eta, J)` of the FREs to the rate ``target`` (module docs); ``N``: fit the
    finite-N twin of an ``N``-neuron network (None: the plain FREs). Returns the :class:`~jaxpop.fit.FitResult`."""
    from jaxpop import fit
    from jaxpop.micro.qif import quantile_tail_bias

    readout = None
    if N is not None:
        readout = lambda m, y: {"r": y["r"] - quantile_tail_bias(N, m.delta[0])}  # noqa: E731
    loss = fit.trajectory_loss(target, t_end=T_END, dt=DT, drive=_drive(), burn_in=burn_in, sample=sample,
                               readout=readout)
    objective = loss if N is None else (lambda m: loss(finite_n_twin(m, N)))
    start = _fre(TRUTH, *init)  # its free values are not used: the global stage picks the starts
    free = {name: fit.Bounded(*BOUNDS[name]) for name in ("delta", "eta_bar", "J")}
    return fit.fit(start, None, free, key=jax.random.PRNGKey(1) if key is None else key, objective=objective,
                   global_points=global_points, starts=starts, steps=steps, learning_rate=learning_rate,
                   polish=polish, polish_starts=polish_starts, batch=batch, laplace=False, progress=progress)


def _summary(res, truth=TRUTH) -> dict:
    est = np.asarray(res.estimate)
    true = np.array([truth["delta"], truth["eta_bar"], truth["J"]])
    return {"estimate": est.tolist(), "rel_err": ((est - true) / np.abs(true)).tolist(),
            "rmse": float(np.sqrt(np.mean((est - true) ** 2))), "objective": float(res.objective),
            "fit_wall_s": float(res.wall_s)}


def fre_from_qif_demo(*, N: int = 10_000, dt_network: float = 1e-4, burn_in: float = 10.0, key=None,
                      progress: bool = False, **fit_options) -> dict:
    """(a) the FREs fitted to their own trajectory, (b) to a QIF network of ``N`` neurons, raw and with the
    finite-N correction (module docs). Returns the numbers: estimates (Δ, η̄, J), relative errors, parameter
    RMSE (Baldy's measure, :math:`\\sqrt{\\langle(\\hat\\theta - \\theta)^2\\rangle}`), objectives, wall times."""
    out = {"truth": [TRUTH["delta"], TRUTH["eta_bar"], TRUTH["J"]], "bounds": BOUNDS}
    tic = time.perf_counter()
    r_fre = fre_data()
    out["fre_data_wall_s"] = time.perf_counter() - tic
    out["fre"] = _summary(fit_fre(r_fre, key=key, progress=progress, **fit_options))
    r_net, wall = qif_data(N, dt=dt_network)
    out["qif_data_wall_s"], out["N"] = wall, N
    low = low_state()
    for name, n_corr in (("qif_raw", None), ("qif_corrected", N)):
        res = fit_fre(r_net, N=n_corr, burn_in=burn_in, init=low, sample="mean", key=key, progress=progress,
                      **fit_options)
        out[name] = _summary(res)
    return out
