r"""Losses for free-running comparisons of a model with data: trajectories and activity statistics.

Each builder checks its data once and returns a pure ``objective(model) -> scalar`` (jit-able,
vmappable over parameter sets, differentiable in every parameter of the model) for
:func:`jaxpop.fit.fit` (``fit(model, None, free, key=..., objective=objective)``).

**Trajectory loss** (:func:`trajectory_loss`): the mean squared error between a model's trajectory
:math:`y_o(t_k;\theta)` of each observable :math:`o` and a target :math:`x_o(t_k)` on the target's
grid :math:`t_k = t_0 + k\,\Delta t`, :math:`k = 1..n`,

.. math:: L(\theta) = \sum_o \frac{1}{n\,P_o}\sum_{k=1}^{n}\sum_{p=1}^{P_o}
          w_{o,kp}\,\big(y_{o,kp}(\theta) - x_{o,kp}\big)^2

(:math:`P_o` entries per time, e.g. populations; weights :math:`w = 1` by default: with one
observable :math:`L` is the plain MSE, in the squared units of the observable, e.g. :math:`\tau^{-2}`
for the dimensionless rate of :class:`jaxpop.MontbrioPazoRoxin`). :math:`y(t_k)` is the model's value
at :math:`t_k` (``sample='end'``) or its average over the bin :math:`(t_{k-1}, t_k]`
(``sample='mean'``: what a network's population rate recorded with ``record_every`` is; instantaneous
observables are averaged by the trapezoidal rule over ``substeps`` points per bin, accumulated ones
— :attr:`~jaxpop.core.model.AbstractModel.accumulated` — exactly as :func:`jaxpop.simulate` averages
them). The model runs from :math:`t_0 - ` ``burn_in`` (its own initial state; unscored) to
:math:`t_0 + n\Delta t`, by :func:`jaxpop.simulate` (fixed steps :math:`\Delta t/`\ ``substeps``, the
model's own scheme, e.g. RK4) or :func:`jaxpop.solve` (adaptive diffrax, ODE models only).

**Statistics loss** (:func:`statistics_loss`): for stochastic models, the relative squared error of
activity statistics :math:`s` (:func:`activity_statistics`) of ``trials`` simulated trials against
those of the data,

.. math:: L(\theta) = \sum_{s} \frac{w_s}{|s|}\sum_{j}\Big(\frac{s_j(\theta) - \hat s_j}{\hat s_j}\Big)^2,

summed over the statistics :math:`s` (``'mean'``: time- and trial-averaged activity per population;
``'var'``: variance over time of the binned activity, per population, averaged over trials;
``'psd_bands'``: the one-sided Welch power spectral density of the activity,
:func:`jaxpop.analysis.spectra.power_spectrum`, averaged over each frequency band) and averaged over
their entries :math:`j` (populations, bands): each statistic contributes a dimensionless
:math:`O(\text{relative error}^2)`, so statistics of different units combine. The simulation key is fixed
when the loss is built (common random numbers): :math:`L(\theta)` is a deterministic function of the
parameters, smooth where the counts are relaxed (``mode='gumbel'``, ``'gaussian'``, or Gaussian
counts) and piecewise constant with a surrogate gradient for ``mode='straight_through'``.

**When to use which.**

* A mesoscopic model with a count law (:class:`~jaxpop.meso.SchwalgerMeso`,
  :class:`~jaxpop.meso.HawkesMeso`) fitted to population spike counts: the exact likelihood,
  :func:`jaxpop.fit.log_likelihood` (teacher-forced; René, Longtin & Macke 2020). It needs no
  relaxation, is consistent and gives Laplace standard errors; prefer it wherever it exists.
* A deterministic firing-rate model (:class:`jaxpop.MontbrioPazoRoxin`, :class:`~jaxpop.WilsonCowan`)
  fitted to rates (a QIF network's population rate, a trial average): :func:`trajectory_loss`. Its
  landscape has many local minima for oscillatory responses (Baldy et al. 2024; for the MPR step
  protocol a minimum about every 0.2 in :math:`\Delta` along :math:`\bar\eta/\Delta \approx` const,
  :math:`J/\sqrt\Delta \approx` const): fit with ``global_points=`` (a quasi-random design over
  :class:`~jaxpop.fit.Bounded` parameters) before the gradient stages.
* A stochastic model without a tractable likelihood, or data known only through summary statistics
  (rates, variances, spectra): :func:`statistics_loss` with relaxed counts. Its gradient is that of the
  relaxation (biased at a finite temperature) and its optimum is that of the chosen statistics, not the
  maximum-likelihood estimate.

Units: those of the model (time in ms and activity in Hz for the biophysical models; dimensionless for
the QIF / MPR models). Frequency bands are in Hz when the model's time unit is the ms (the default
``time_unit=1e-3``, seconds per model time unit); ``time_unit=1`` gives them in cycles per model time
unit (:func:`activity_statistics`).

References: N. Baldy, M. Breyton, M. M. Woodman, V. K. Jirsa, M. Hashemi, *Inference on the
macroscopic dynamics of spiking neurons*, Neural Comput. 36(10), 2030 (2024); J. René, A. Longtin,
J. H. Macke, *Inference of a mesoscopic population model from population spike trains*, Neural Comput. 32,
1448 (2020), doi:10.1162/neco_a_01292.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..analysis.spectra import power_spectrum
from ..core.model import AbstractModel, AbstractODEModel
from ..core.simulate import simulate, solve

__all__ = ["trajectory_loss", "statistics_loss", "activity_statistics", "DEFAULT_BANDS", "STATISTICS"]

DEFAULT_BANDS = ((1.0, 10.0), (10.0, 30.0), (30.0, 100.0), (100.0, 300.0))
"""Default frequency bands of :func:`activity_statistics` (Hz with the default ``time_unit``)."""

STATISTICS = ("mean", "var", "psd_bands")
"""The statistics :func:`activity_statistics` computes and :func:`statistics_loss` compares."""


# ---------------------------------------------------------------------------------------- checks
def _positive(name, value):
    try:
        ok = math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive finite number, got {name}={value!r}")
    return float(value)


def _whole_steps(name, length, step, what):
    n = length / step
    n_int = int(round(n))
    if abs(n - n_int) > 1e-6 * max(1.0, n):
        raise ValueError(f"{name}={length!r} is not a whole number of {what} ({step!r})")
    return n_int


def _finite_array(name, x):
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}") from None
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))
        raise ValueError(f"{name} holds {len(bad)} non-finite value(s) (NaN or inf), first at index "
                         f"{tuple(int(i) for i in bad[0])}; remove or interpolate them before fitting")
    return arr


def _observable_names(model, names, what):
    obs = jax.eval_shape(model.observe, jax.eval_shape(model.init, jax.random.PRNGKey(0)))
    unknown = [n for n in names if n not in obs]
    if unknown:
        raise ValueError(f"{what}: unknown observable(s) {unknown}; {type(model).__name__} offers {sorted(obs)}")
    return obs


# ------------------------------------------------------------------------------ trajectory loss
def trajectory_loss(target, *, t_end: float, dt: float, t0: float = 0.0, observable: str = "r", drive=None,
                    method: str = "simulate", substeps: int = 1, sample: str = "end", burn_in: float = 0.0,
                    weights=None, readout: Callable | None = None, key=None,
                    solver_options: Mapping | None = None) -> Callable:
    r"""Mean squared error of a model's trajectory against target arrays (module docs).

    Parameters
    ----------
    target : array (n, ...) or dict {observable: array (n, ...)}
        The data on the grid :math:`t_k = t_0 + k\,dt`, :math:`k = 1..n`, ``n = (t_end - t0)/dt``; time-major,
        then the observable's own shape (``()`` for a one-population model, ``(n_pop,)`` otherwise). A dict
        fits several observables at once (the losses add up).
    t_end, dt : float
        End of the data window and the target's sampling interval (model time units).
    t0 : float
        Start of the data window (default 0).
    observable : str
        The model observable compared with an array ``target`` (default ``'r'``; ``'A'`` is the
        population activity of every model).
    drive : drive, number or array, optional
        External input (absolute time: it must cover ``[t0 - burn_in, t_end]``).
    method : {'simulate', 'solve'}
        Fixed steps of ``dt / substeps`` by :func:`jaxpop.simulate` (any model), or the adaptive ODE
        solver :func:`jaxpop.solve` (``AbstractODEModel`` only; ``solver_options`` go to it).
    substeps : int
        Integration steps per target bin (``'simulate'``), or solution points per bin for the
        trapezoidal bin average (``'solve'`` with ``sample='mean'``).
    sample : {'end', 'mean'}
        Compare the target with the model's value at the end of each bin, or with its bin average.
    burn_in : float
        Unscored time before ``t0`` from which the model starts in its own initial state (a whole number of
        target steps ``dt``): lets a model relax to its own state before the data window.
    weights : array or dict, optional
        Non-negative weights broadcast to the target's shape (per observable for a dict target).
    readout : callable, optional
        Observation model ``readout(model, y) -> y``: maps the dict of model trajectories on the target grid
        (``{observable: array (n, ...)}``) to what the data measure (e.g. a known offset of a finite network).
    key : PRNG key, optional
        Key of the simulation (``init`` and stochastic steps; default ``PRNGKey(0)``): fixed, so the loss
        of a stochastic model is a deterministic function of its parameters.
    solver_options : dict, optional
        Extra keywords of :func:`jaxpop.simulate` (``checkpoint=True``) or :func:`jaxpop.solve` (``rtol``,
        ``atol``, ``solver``, ``adjoint``, ``max_steps``).

    Returns
    -------
    objective : callable ``objective(model) -> scalar``

    Examples
    --------
    >>> data = jaxpop.solve(truth, 100.0, drive=drive, ts=0.01 * np.arange(1, 10_001)).r
    >>> loss = fit.trajectory_loss(data, t_end=100.0, dt=0.01, drive=drive)
    >>> res = fit.fit(start, None, {"delta": fit.Bounded(0.1, 3.0)}, key=key, objective=loss)
    """
    dt = _positive("dt", dt)
    t0, t_end = float(t0), float(t_end)
    if not t_end > t0:
        raise ValueError(f"t_end must be > t0, got t0={t0!r}, t_end={t_end!r}")
    n = _whole_steps("t_end - t0", t_end - t0, dt, "target steps dt")
    if method not in ("simulate", "solve"):
        raise ValueError(f"method must be 'simulate' or 'solve', got {method!r}")
    if sample not in ("end", "mean"):
        raise ValueError(f"sample must be 'end' or 'mean', got {sample!r}")
    if not (isinstance(substeps, (int, np.integer)) and not isinstance(substeps, bool) and substeps >= 1):
        raise ValueError(f"substeps must be a positive integer, got substeps={substeps!r}")
    m = int(substeps)
    h = dt / m
    burn_in = float(burn_in)
    if not (math.isfinite(burn_in) and burn_in >= 0):
        raise ValueError(f"burn_in must be >= 0 (model time units), got burn_in={burn_in!r}")
    n_burn = m * _whole_steps("burn_in", burn_in, dt, "target steps dt") if burn_in else 0  # integration steps
    if readout is not None and not callable(readout):
        raise TypeError("readout must be a callable readout(model, y) -> y")
    options = dict(solver_options or {})

    if isinstance(target, Mapping):
        if not target:
            raise ValueError("target is an empty dict; give {observable: array}")
        names = tuple(target)
        targets = {k: _finite_array(f"target[{k!r}]", v) for k, v in target.items()}
    else:
        if not isinstance(observable, str):
            raise TypeError(f"observable must be a str (several: pass target as a dict), got {observable!r}")
        names = (observable,)
        targets = {observable: _finite_array("target", target)}
    for k, x in targets.items():
        label = "target" if not isinstance(target, Mapping) else f"target[{k!r}]"
        if x.ndim < 1 or x.shape[0] != n:
            raise ValueError(f"{label} has shape {x.shape}: its time axis (first) must hold n = (t_end - t0)/dt = "
                             f"{n} samples (t_k = t0 + k dt, k = 1..{n})")
    if weights is None:
        w = {k: None for k in names}
    elif isinstance(weights, Mapping):
        extra = set(weights) - set(names)
        if extra:
            raise ValueError(f"weights has keys {sorted(extra)} that are not observables of the target {list(names)}")
        w = {k: (None if weights.get(k) is None else _finite_array(f"weights[{k!r}]", weights[k])) for k in names}
    else:
        if len(names) > 1:
            raise ValueError("weights for a dict target must be a dict {observable: weights}")
        w = {names[0]: _finite_array("weights", weights)}
    for k, wk in w.items():
        if wk is None:
            continue
        if np.any(wk < 0):
            raise ValueError(f"weights for {k!r} must be >= 0, got a minimum of {wk.min()!r}")
        try:
            np.broadcast_to(wk, targets[k].shape)
        except ValueError:
            raise ValueError(f"weights for {k!r} of shape {wk.shape} do not broadcast to the target's shape "
                             f"{targets[k].shape}") from None
    targets = {k: jnp.asarray(v) for k, v in targets.items()}
    w = {k: (None if v is None else jnp.asarray(v)) for k, v in w.items()}
    key = jax.random.PRNGKey(0) if key is None else key

    def trajectories(model):
        if not isinstance(model, AbstractModel):
            raise TypeError(f"objective(model) needs a jaxpop model, got {type(model).__name__}")
        if method == "solve":
            if not isinstance(model, AbstractODEModel):
                raise ValueError(f"method='solve' needs an ODE model (AbstractODEModel); {type(model).__name__} is "
                                 "not one: use method='simulate'")
            k_pts = m if sample == "mean" else 1
            ts = t0 + (dt / k_pts) * jnp.arange(0 if sample == "mean" else 1, n * k_pts + 1)
            sol = solve(model, t_end, t0=t0 - burn_in, ts=ts, drive=drive, key=key, **options)
            missing = [k for k in names if k not in sol.data]
            if missing:
                raise ValueError(f"trajectory_loss: unknown observable(s) {missing}; {type(model).__name__} offers "
                                 f"{sorted(sol.data)}")
            if sample == "end":
                return {k: sol.data[k] for k in names}
            return {k: _trapezoid(sol.data[k], n, m) for k in names}
        _observable_names(model, names, "trajectory_loss")
        if sample == "end" or all(k in model.accumulated or k in model.summed for k in names):
            # the engine averages (sums) accumulated (summed) observables over each bin itself
            res = simulate(model, t_end, h, t0=t0 - burn_in, key=key, drive=drive, record=names, record_every=m,
                           **options)
            return {k: res.data[k][n_burn // m:] for k in names}
        res = simulate(model, t_end, h, t0=t0 - burn_in, key=key, drive=drive, record=names, **options)
        out = {}
        for k in names:
            y = res.data[k]
            if k in model.accumulated or k in model.summed:
                blocks = y[n_burn:].reshape((n, m) + y.shape[1:])
                out[k] = blocks.sum(1) if k in model.summed else blocks.mean(1)
            else:  # trapezoid: the value at the start of the first bin is the last burn-in sample or the initial one
                if n_burn:
                    first = y[n_burn - 1]
                else:
                    first = model.observe(model.init(jax.random.split(key)[0]))[k]
                out[k] = _trapezoid(jnp.concatenate([first[None], y[n_burn:]]), n, m)
        return out

    def objective(model):
        y = trajectories(model)
        if readout is not None:
            y = readout(model, y)
            if not isinstance(y, Mapping) or set(y) != set(names):
                raise ValueError(f"readout must return a dict with the keys {list(names)}")
        total = jnp.zeros(())
        for k in names:
            yk = jnp.asarray(y[k])
            if yk.shape != targets[k].shape:
                raise ValueError(f"trajectory_loss: the model's {k!r} on the target grid has shape {yk.shape}, the "
                                 f"target {targets[k].shape}; a one-population model gives (n,), several (n, n_pop)")
            err = (yk - targets[k]) ** 2
            if w[k] is not None:
                err = w[k] * err
            total = total + jnp.mean(err)
        return total

    return objective


def _trapezoid(y, n, m):
    """Bin averages by the trapezoidal rule from ``n * m + 1`` equally spaced samples (bin edges included)."""
    blocks = y[1:].reshape((n, m) + y.shape[1:])  # the m samples after each bin's start, the last at its end
    starts = y[:-1:m][:n]
    return (blocks.sum(1) - 0.5 * blocks[:, -1] + 0.5 * starts) / m


# ------------------------------------------------------------------------------------ statistics
def activity_statistics(A, dt: float, bands: Sequence = DEFAULT_BANDS, *, time_axis: int = 0,
                        time_unit: float = 1e-3, nperseg: int = 256, stats: Sequence[str] = STATISTICS) -> dict:
    r"""Statistics of a (binned) population activity: the data side of :func:`statistics_loss`.

    Parameters
    ----------
    A : array
        Activity (e.g. Hz), with time along ``time_axis``; axes before it are trials (averaged over), axes
        after it populations (kept): ``(time,)``, ``(time, n_pop)``, ``(trials, time, n_pop)`` with
        ``time_axis=1``, ... (a :class:`~jaxpop.Result` is time-major, trials first).
    dt : float
        Bin width (model time units, e.g. ms).
    bands : sequence of (low, high)
        Frequency bands :math:`[f_{lo}, f_{hi})` in :math:`1/(\text{time\_unit}\ \text{s})`: Hz for the
        default ``time_unit=1e-3`` (``dt`` in ms); pass ``time_unit=1`` for bands in cycles per model time
        unit (dimensionless models). Each band must hold at least one frequency of the Welch grid
        :math:`k/(\text{nperseg}\,dt\,\text{time\_unit})`.
    time_unit : float
        Seconds per model time unit (default 1e-3: ms).
    nperseg : int
        Welch segment length (capped at the number of bins).
    stats : sequence of str
        Which of ``'mean'``, ``'var'``, ``'psd_bands'`` to compute.

    Returns
    -------
    dict
        ``'mean'`` (populations...): mean activity; ``'var'`` (populations...): variance over time within a trial,
        averaged over trials ([A]², depends on the bin width); ``'psd_bands'`` (populations..., n_bands): the
        one-sided Welch density (:func:`jaxpop.analysis.spectra.power_spectrum`, [A]²/Hz), averaged over the
        trials and over the frequencies of each band.
    """
    A = jnp.asarray(A)
    dt = _positive("dt", dt)
    time_unit = _positive("time_unit", time_unit)
    stats = _check_stats(stats)
    if not -A.ndim <= time_axis < A.ndim:
        raise ValueError(f"time_axis={time_axis} is out of range for A of shape {A.shape}")
    time_axis = time_axis % A.ndim
    n_t = A.shape[time_axis]
    if n_t < 2:
        raise ValueError(f"A has {n_t} sample(s) along time_axis={time_axis}; need at least 2")
    trial_axes = tuple(range(time_axis))
    out = {}
    if "mean" in stats:
        out["mean"] = jnp.mean(A, axis=trial_axes + (time_axis,))
    if "var" in stats:
        out["var"] = jnp.mean(jnp.var(A, axis=time_axis), axis=trial_axes)
    if "psd_bands" in stats:
        seg = int(min(nperseg, n_t))
        mask = _band_mask(bands, seg, dt * time_unit)
        _, psd = power_spectrum(A, dt * time_unit, nperseg=seg, axis=time_axis)  # (trials..., pops..., n_freq)
        psd = jnp.mean(psd, axis=trial_axes)
        out["psd_bands"] = (psd @ mask) / mask.sum(0)
    return out


def _check_stats(stats):
    if isinstance(stats, str):
        stats = (stats,)
    stats = tuple(stats)
    bad = [s for s in stats if s not in STATISTICS]
    if bad or not stats:
        raise ValueError(f"stats must be a non-empty selection of {STATISTICS}, got {stats!r}")
    return stats


def _band_mask(bands, nperseg, dt_s):
    """(n_freq, n_bands) 0/1 matrix of the Welch frequencies inside each band."""
    try:
        b = np.asarray(bands, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"bands must be a sequence of (low, high) pairs, got {bands!r}") from None
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1:
        raise ValueError(f"bands must be a sequence of (low, high) pairs, got shape {b.shape}")
    if not np.all(np.isfinite(b)) or np.any(b[:, 0] < 0) or np.any(b[:, 1] <= b[:, 0]):
        raise ValueError(f"bands must be finite pairs with 0 <= low < high, got {b.tolist()}")
    f = np.fft.rfftfreq(nperseg, dt_s)
    mask = (f[:, None] >= b[None, :, 0]) & (f[:, None] < b[None, :, 1])
    empty = np.flatnonzero(mask.sum(0) == 0)
    if empty.size:
        raise ValueError(f"bands {b[empty].tolist()} hold no frequency of the Welch grid (spacing {f[1]:.4g}, "
                         f"Nyquist {f[-1]:.4g} in the bands' units): widen them, or use longer segments (nperseg, "
                         "a longer simulation)")
    return jnp.asarray(mask, dtype=float)


def statistics_loss(target_stats: Mapping, *, t_end: float, dt: float, key, trials: int = 1, observable: str = "A",
                    burn_in: float = 0.0, stats: Sequence[str] = STATISTICS, bands: Sequence = DEFAULT_BANDS,
                    weights: Mapping | None = None, drive=None, t0: float = 0.0, record_every: int = 1,
                    time_unit: float = 1e-3, nperseg: int = 256, trials_per_chunk: int | None = None,
                    checkpoint: bool = False) -> Callable:
    r"""Relative squared error of simulated activity statistics against the data's (module docs).

    Parameters
    ----------
    target_stats : dict
        The data's statistics, as :func:`activity_statistics` returns them (same ``bands``, ``time_unit``,
        ``nperseg`` and bin width ``dt * record_every``); every entry finite and > 0.
    t_end, dt : float
        End of the simulation and its step (the model's ``dt``; model time units).
    key : PRNG key
        The simulation key, fixed (common random numbers: the same noise at every parameter value).
    trials : int
        Simulated trials (vmapped); their statistics are averaged.
    observable : str
        The activity observable (default ``'A'``).
    burn_in : float
        Leading time of each trial (from ``t0``) left out of the statistics (a whole number of bins).
    stats : sequence of str
        Which statistics to compare (default all of ``'mean'``, ``'var'``, ``'psd_bands'``).
    bands, time_unit, nperseg
        As in :func:`activity_statistics`.
    weights : dict, optional
        ``{statistic: weight >= 0}`` (default 1 each).
    drive, t0, record_every, trials_per_chunk, checkpoint
        As in :func:`jaxpop.simulate` (the bins of the statistics are ``dt * record_every`` wide).

    Returns
    -------
    objective : callable ``objective(model) -> scalar``

    Notes
    -----
    The model must sample differentiably: relaxed counts (``mode='gumbel'`` or ``'straight_through'``),
    ``mode='gaussian'`` or Gaussian counts. With ``mode='exact'`` the counts are constants for the gradient,
    which then ignores how the noise depends on the parameters: refused.
    """
    dt = _positive("dt", dt)
    t0, t_end = float(t0), float(t_end)
    if not t_end > t0:
        raise ValueError(f"t_end must be > t0, got t0={t0!r}, t_end={t_end!r}")
    if not (isinstance(record_every, (int, np.integer)) and record_every >= 1):
        raise ValueError(f"record_every must be a positive integer, got {record_every!r}")
    if not (isinstance(trials, (int, np.integer)) and not isinstance(trials, bool) and trials >= 1):
        raise ValueError(f"trials must be a positive integer, got trials={trials!r}")
    bin_w = dt * record_every
    n_bins = _whole_steps("t_end - t0", t_end - t0, bin_w, "bins dt * record_every")
    burn_in = float(burn_in)
    if not (math.isfinite(burn_in) and 0 <= burn_in < t_end - t0):
        raise ValueError(f"burn_in must be in [0, t_end - t0), got burn_in={burn_in!r}")
    n_burn = _whole_steps("burn_in", burn_in, bin_w, "bins dt * record_every") if burn_in else 0
    if n_bins - n_burn < 2:
        raise ValueError(f"after burn_in only {n_bins - n_burn} bin(s) are left; need at least 2")
    stats = _check_stats(stats)
    time_unit = _positive("time_unit", time_unit)
    if "psd_bands" in stats:
        _band_mask(bands, int(min(nperseg, n_bins - n_burn)), bin_w * time_unit)
    if not isinstance(target_stats, Mapping):
        raise TypeError("target_stats must be a dict of statistics (activity_statistics), got "
                        f"{type(target_stats).__name__}")
    missing = [s for s in stats if s not in target_stats]
    if missing:
        raise ValueError(f"target_stats lacks {missing} (has {sorted(target_stats)}); compute it with "
                         f"activity_statistics(..., stats={stats})")
    targets = {}
    for s in stats:
        x = _finite_array(f"target_stats[{s!r}]", target_stats[s])
        if np.any(x <= 0):
            raise ValueError(f"target_stats[{s!r}] must be > 0 everywhere (the loss is a relative error), got "
                             f"{x.tolist()}")
        targets[s] = jnp.asarray(x)
    weights = dict(weights or {})
    extra = set(weights) - set(stats)
    if extra:
        raise ValueError(f"weights has keys {sorted(extra)} that are not among stats {list(stats)}")
    for s, v in weights.items():
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"weights[{s!r}] must be a finite number >= 0, got {v!r}")
    wts = {s: float(weights.get(s, 1.0)) for s in stats}
    options = dict(t0=t0, record=observable, record_every=int(record_every), trials=int(trials),
                   trials_per_chunk=trials_per_chunk, drive=drive, checkpoint=bool(checkpoint))

    def objective(model):
        if not isinstance(model, AbstractModel):
            raise TypeError(f"objective(model) needs a jaxpop model, got {type(model).__name__}")
        if getattr(model, "mode", None) == "exact" and getattr(model, "counts", None) in ("binomial", "poisson"):
            raise ValueError(f"statistics_loss: {type(model).__name__} samples exact counts (mode='exact'), which "
                             "are constants for the gradient; build it with mode='gumbel', 'straight_through' or "
                             "'gaussian'")
        _observable_names(model, (observable,), "statistics_loss")
        res = simulate(model, t_end, dt, key=key, **options)
        A = res.data[observable][:, n_burn:]
        got = activity_statistics(A, bin_w, bands, time_axis=1, time_unit=time_unit, nperseg=nperseg, stats=stats)
        total = jnp.zeros(())
        for s in stats:
            if got[s].shape != targets[s].shape:
                raise ValueError(f"statistics_loss: the model's {s!r} has shape {got[s].shape}, target_stats[{s!r}] "
                                 f"{targets[s].shape} (populations, bands)")
            total = total + wts[s] * jnp.mean(((got[s] - targets[s]) / targets[s]) ** 2)
        return total

    return objective
