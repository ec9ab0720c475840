r"""Fitting driver: a global stage, multi-start gradient descent (optax), L-BFGS polish, Laplace errors.

:func:`fit` minimises an objective of the model's free parameters (:class:`~jaxpop.fit.Parameters`)
over unconstrained coordinates :math:`u`:

* default, with ``data``: the negative log-posterior per scored count,
  :math:`f(u) = -[\log L(\theta(u)) + \log p(\theta(u))]/n_{\text{terms}}` with the exact likelihood of
  :func:`jaxpop.fit.log_likelihood` (no prior: maximum likelihood);
* or any scalar loss ``objective(model)`` (a trajectory or statistics loss; :mod:`jaxpop.fit.losses`).

Stages: (1) optionally ``global_points`` quasi-random points (scaled Sobol design over the bounds of
:class:`~jaxpop.fit.Bounded` fields, :meth:`~jaxpop.fit.Parameters.sample` elsewhere), evaluated in
vmapped batches, whose best ``starts`` become the starting points; otherwise the model's own values and
``starts - 1`` random starts. (2) ``steps`` Adam steps per start (``optimizer`` to change), vmapped over
the starts of a batch, keeping each start's best iterate; with ``window=`` each step scores one random
window of the data after its own burn-in (minibatches, René et al. 2020: a step costs
``(window_burn_in + window) / T`` of a whole-data step; the rate decays by a cosine schedule to a tenth and
the last iterate is kept). (3) ``polish`` L-BFGS steps (``optax.lbfgs`` with its zoom line search) on the
whole data from each start's Adam point, or from the best ``polish_starts`` of them. A start whose objective
is not finite is *diverged*: reported (``FitResult.diverged``, a warning) and excluded — a fit never returns
NaN parameters silently. The best start is rebuilt through the parameter objects' constructors
(:meth:`~jaxpop.fit.Parameters.validate`).

Uncertainty (Laplace): the observed Fisher information :math:`I = -\nabla^2_x \log[L\,p]` at the
optimum, by automatic differentiation with respect to the constrained free values :math:`x`; its
inverse is the covariance of a Gaussian (Laplace) approximation of the posterior, whose diagonal gives
the standard errors (``FitResult.se``) and whose normalised form the correlations.

References: D. P. Kingma, J. Ba, *Adam*, ICLR (2015), arXiv:1412.6980; J. Nocedal, S. J. Wright,
*Numerical Optimization*, 2nd ed., Springer (2006), ch. 7 (L-BFGS); J. René, A. Longtin, J. H. Macke,
Neural Comput. 32, 1448 (2020) (multi-start fits of the mesoscopic likelihood).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..core.model import AbstractModel
from .data import PopulationData
from .likelihood import _check_data, check_count_model, log_likelihood, log_likelihood_window
from .params import Bounded, Parameters

__all__ = ["fit", "FitResult", "laplace"]


class FitResult(eqx.Module):
    """What :func:`fit` returns.

    Attributes
    ----------
    model : the best model (every free field at its estimate; constructors' validation passed)
    values : dict, the estimates of the free entries ``{path: array}`` (constrained)
    objective : float, the best objective (per scored count for the likelihood)
    log_likelihood : float or None, the data log-likelihood at the estimate (likelihood fits)
    labels, estimate : one label and one value per free coordinate (:attr:`Parameters.labels`)
    se, cov, corr : Laplace standard errors, covariance and correlations (None if ``laplace=False``);
        NaN where the observed information is not positive definite (``laplace_ok`` False)
    history : array (starts, steps + polish), the objective of every start at every step
    start_objective, final_objective : arrays (starts,), per start
    diverged : bool array (starts,), starts whose objective became non-finite (excluded)
    best_start : int
    wall_s : float, seconds for the whole fit
    """

    model: AbstractModel
    values: dict
    objective: float
    log_likelihood: float | None
    labels: tuple
    estimate: np.ndarray
    se: np.ndarray | None
    cov: np.ndarray | None
    corr: np.ndarray | None
    laplace_ok: bool
    history: np.ndarray
    start_objective: np.ndarray
    final_objective: np.ndarray
    final_values: dict
    diverged: np.ndarray
    best_start: int
    wall_s: float

    def summary(self) -> str:
        lines = [f"best start {self.best_start} of {len(self.final_objective)} "
                 f"({int(self.diverged.sum())} diverged), objective {self.objective:.6g}"
                 + ("" if self.log_likelihood is None else f", log-likelihood {self.log_likelihood:.6g}")
                 + f", {self.wall_s:.1f} s"]
        for i, lab in enumerate(self.labels):
            se = "" if self.se is None else f" ± {self.se[i]:.3g}"
            lines.append(f"  {lab:28s} {self.estimate[i]:.6g}{se}")
        return "\n".join(lines)


def _objective_fn(spec: Parameters, data, objective, burn_in, drive):
    if objective is not None:
        if not callable(objective):
            raise TypeError("objective must be a callable objective(model) -> scalar")
        return lambda u: objective(spec.model_at(u)) - spec.log_prior(u), None
    if data is None:
        raise ValueError("give data (a PopulationData: the likelihood is the objective) or objective=")
    check_count_model(spec.model)
    n_burn = _check_data(spec.model, data, burn_in)
    n_terms = data.n_trials * (data.n_bins - n_burn) * data.n_pop

    def f(u):
        ll = log_likelihood(spec.model_at(u), data, burn_in=burn_in, drive=drive)
        return -(ll + spec.log_prior(u)) / n_terms

    return f, n_terms


def _stack(trees):
    return jax.tree.map(lambda *x: jnp.stack(x), *trees)


def _take(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def fit(model: AbstractModel, data: PopulationData | None, free: Mapping | Parameters, *, key,
        objective: Callable | None = None, starts: int = 20, steps: int = 300, learning_rate: float = 0.05,
        optimizer: optax.GradientTransformation | None = None, polish: int = 50, global_points: int = 0,
        burn_in: float = 0.0, drive=None, batch: int | None = None, laplace: bool = True,
        progress: bool = False, window: float | None = None, window_burn_in: float | None = None,
        polish_starts: int | None = None) -> FitResult:
    """Fit the free parameters of ``model`` (module docs).

    Parameters
    ----------
    model : AbstractModel
        Start values of the free fields, and the fixed values of all others.
    data : PopulationData or None
        Observed counts (likelihood fits); None with ``objective=``.
    free : dict or Parameters
        The free fields (:class:`~jaxpop.fit.Parameters`).
    key : PRNG key
        For the random starts and the global design's scrambling.
    objective : callable, optional
        ``objective(model) -> scalar`` to minimise instead of the likelihood.
    starts : int or list of models
        Number of starts (module docs), or the starting points themselves (models whose free fields
        hold them).
    steps, learning_rate, optimizer
        Adam steps per start (``optimizer`` replaces ``optax.adam(learning_rate)``).
    polish : int
        L-BFGS steps after Adam (0: none).
    global_points : int
        Size of the quasi-random global stage (0: none; then the first start is the model's own values).
    burn_in : float
        Leading ms of the data that are run but not scored (likelihood fits).
    batch : int, optional
        Starts per vmapped batch (default: all at once on a GPU, 4 on a CPU: reverse mode stores
        every step of every start).
    laplace : bool
        Compute the Laplace standard errors and correlations at the estimate.
    window, window_burn_in : float, optional
        Minibatches (likelihood fits): each Adam step scores one random window of ``window`` ms after
        ``window_burn_in`` ms run unscored (:func:`~jaxpop.fit.log_likelihood_window`; the burn-in must cover
        the model's memory), with a learning rate decaying (cosine) to a tenth; the polish and the result use
        the whole data. Without ``window`` every step uses the whole data.
    polish_starts : int, optional
        Polish only the best ``polish_starts`` starts after Adam (by the whole-data objective; default all).
    """
    t_start = time.perf_counter()
    if isinstance(free, Parameters) and free.model is not model:
        raise ValueError("free is a Parameters object built for another model: build it from this model "
                         "(Parameters(model, {...})) or pass the dict")
    spec = free if isinstance(free, Parameters) else Parameters(model, free)
    given = None
    if isinstance(starts, (list, tuple)):
        if not starts or not all(isinstance(m, AbstractModel) for m in starts):
            raise ValueError("starts must be a positive integer or a non-empty list of models (their free fields' "
                             "values are the starting points)")
        given = _stack([spec.init(m) for m in starts])
        starts = len(starts)
    if not (isinstance(starts, (int, np.integer)) and starts >= 1):
        raise ValueError(f"starts must be a positive integer or a list of models, got {starts!r}")
    if not (isinstance(steps, (int, np.integer)) and steps >= 0) or not (isinstance(polish, (int, np.integer)) and polish >= 0):
        raise ValueError(f"steps and polish must be non-negative integers, got steps={steps!r}, polish={polish!r}")
    if steps + polish == 0:
        raise ValueError("nothing to do: steps = polish = 0")
    f, n_terms = _objective_fn(spec, data, objective, burn_in, drive)
    platform = jax.default_backend()
    batch = int(batch or (starts if platform != "cpu" else min(starts, 4)))
    k_global, k_starts = jax.random.split(key)

    # ---- starting points
    if given is not None:
        u0 = given
    elif global_points:
        cand = _design(spec, k_global, int(global_points))
        fv = _evaluate(f, cand, batch * 4)
        order = np.argsort(np.where(np.isfinite(fv), fv, np.inf))[:starts]
        u0 = _take(cand, jnp.asarray(order))
        if progress:
            print(f"fit: global stage {global_points} points, best {fv[order[0]]:.6g}", file=sys.stderr)
    else:
        first = jax.tree.map(lambda x: x[None], spec.init())
        if starts > 1:
            rest = spec.sample(k_starts, starts - 1)
            u0 = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), first, rest)
        else:
            u0 = first
    for i in range(starts):  # the constructors accept every start (their validation is not bypassed)
        try:
            spec.validate(jax.device_get(_take(u0, i)))
        except ValueError as err:
            raise ValueError(f"fit: start {i} is refused by a constructor: {err}") from None

    f_train = _window_objective(spec, data, window, window_burn_in, drive) if window is not None else None
    if optimizer is not None:
        opt = optimizer
    elif f_train is not None and steps:
        opt = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.1))
    else:
        opt = optax.adam(learning_rate)
    if polish_starts is not None and not (isinstance(polish_starts, (int, np.integer)) and polish_starts >= 1):
        raise ValueError(f"polish_starts must be a positive integer, got {polish_starts!r}")

    def in_batches(stage, fn, *args):
        """``vmap(fn)`` over the leading axis of ``args`` in batches of ``batch`` starts; returns the
        concatenated (u, objective, history)."""
        run, n, outs = eqx.filter_jit(jax.vmap(fn)), jax.tree.leaves(args)[0].shape[0], []
        for b0 in range(0, n, batch):
            idx = jnp.arange(b0, min(n, b0 + batch))
            outs.append(run(*_take(args, idx)))
            if progress:
                best = float(np.nanmin(np.concatenate([np.asarray(o[1]) for o in outs])))
                print(f"fit: {stage} {int(idx[-1]) + 1}/{n} starts, best objective {best:.6g} "
                      f"({time.perf_counter() - t_start:.1f} s)", file=sys.stderr)
        return (jax.tree.map(lambda *x: jnp.concatenate(x), *[o[0] for o in outs]),
                np.concatenate([np.asarray(o[1]) for o in outs]), np.concatenate([np.asarray(o[2]) for o in outs]))

    # ---- Adam (whole data, or random windows)
    keys = jax.random.split(jax.random.fold_in(k_starts, 1), starts)
    if steps:
        u_adam, f_adam, hist_adam = in_batches("Adam", lambda u, k: _adam(f, f_train, opt, u, k, steps), u0, keys)
    else:
        u_adam, f_adam, hist_adam = u0, _evaluate(f, u0, batch), np.zeros((starts, 0))
    # ---- L-BFGS polish (whole data) of every start or of the best ones
    u_best, f_best = u_adam, f_adam.copy()
    hist_pol = np.full((starts, polish), np.nan)
    if polish:
        order = np.argsort(np.where(np.isfinite(f_adam), f_adam, np.inf))
        chosen = np.sort(order[:polish_starts] if polish_starts is not None else order)
        ci = jnp.asarray(chosen)
        u_pol, f_best[chosen], hist_pol[chosen] = in_batches(
            "L-BFGS", lambda u, fu: _polish(f, u, fu, polish), _take(u_adam, ci), jnp.asarray(f_adam[chosen]))
        u_best = jax.tree.map(lambda a, b: a.at[ci].set(b), u_adam, u_pol)
    history = np.concatenate([hist_adam, hist_pol], axis=1)
    f_start = hist_adam[:, 0] if steps else f_adam
    diverged = ~np.isfinite(f_best) | ~np.all(np.isfinite(np.asarray(jax.vmap(spec.flatten)(u_best))), axis=1)
    if diverged.all():
        raise RuntimeError(f"fit: every one of the {starts} starts diverged (non-finite objective); check the "
                           "starting values, the bounds and the learning rate")
    if diverged.any():
        warnings.warn(f"fit: {int(diverged.sum())} of {starts} starts diverged (non-finite objective) and were "
                      f"excluded: starts {np.flatnonzero(diverged).tolist()}", RuntimeWarning, stacklevel=2)
    best = int(np.argmin(np.where(diverged, np.inf, f_best)))
    u_star = jax.device_get(_take(u_best, best))
    best_model = spec.validate(u_star)
    ll = None
    if objective is None:
        ll = float(log_likelihood(best_model, data, burn_in=burn_in, drive=drive))
    est = np.asarray(spec.flatten(spec.values(u_star)))
    se = cov = corr = None
    ok = False
    if laplace:
        cov, ok = _laplace_cov(spec, f, u_star, n_terms)
        se = np.sqrt(np.diag(cov)) if ok else np.full(len(est), np.nan)
        corr = cov / np.outer(se, se) if ok else np.full_like(cov, np.nan)
    return FitResult(model=best_model, values=spec.values(u_star), objective=float(f_best[best]), log_likelihood=ll,
                     labels=spec.labels, estimate=est, se=se, cov=cov, corr=corr, laplace_ok=bool(ok), history=history,
                     start_objective=f_start, final_objective=f_best, final_values=spec.values(u_best),
                     diverged=diverged, best_start=best, wall_s=time.perf_counter() - t_start)


def _keep_better(u, val, ub, fb):
    better = jnp.isfinite(val) & (val < fb)
    return jax.tree.map(lambda a, b: jnp.where(better, a, b), u, ub), jnp.where(better, val, fb)


def _adam(f, f_train, opt, u0, key, steps):
    """Adam from ``u0``: returns (u, f(u), history). On the whole data (``f_train`` None) ``u`` is the best
    iterate; on random windows (``f_train(u, key)``) the last one, whose whole-data objective is evaluated."""
    vg = jax.value_and_grad(f if f_train is None else f_train)

    def step(carry, i):
        u, state, ub, fb = carry
        val, g = vg(u) if f_train is None else vg(u, jax.random.fold_in(key, i))
        if f_train is None:
            ub, fb = _keep_better(u, val, ub, fb)
        upd, state = opt.update(g, state, u)
        return (optax.apply_updates(u, upd), state, ub, fb), val

    carry = (u0, opt.init(u0), u0, jnp.asarray(jnp.inf, jnp.result_type(float)))
    (u, _, ub, fb), hist = jax.lax.scan(step, carry, jnp.arange(steps))
    if f_train is not None:
        return u, f(u), hist
    ub, fb = _keep_better(u, f(u), ub, fb)  # the last iterate is evaluated too
    return ub, fb, hist


def _polish(f, u0, f0, polish):
    """L-BFGS (``optax.lbfgs``, zoom line search) from ``u0`` (objective ``f0``); returns the best evaluated
    point, its objective and the history (the value of each iterate before its update)."""
    lb = optax.lbfgs()
    vg_state = optax.value_and_grad_from_state(f)

    def step(carry, _):
        u, state, ub, fb = carry
        val, g = vg_state(u, state=state)
        ub, fb = _keep_better(u, val, ub, fb)
        upd, state = lb.update(g, state, u, value=val, grad=g, value_fn=f)
        return (optax.apply_updates(u, upd), state, ub, fb), val

    fb0 = jnp.where(jnp.isfinite(f0), f0, jnp.inf)
    (u, _, ub, fb), hist = jax.lax.scan(step, (u0, lb.init(u0), u0, fb0), None, length=polish)
    ub, fb = _keep_better(u, f(u), ub, fb)
    return ub, fb, hist


def _window_objective(spec: Parameters, data, window, window_burn_in, drive):
    """``f(u, key)``: the negative log-posterior per scored count of one random window (``fit(window=...)``)."""
    if data is None:
        raise ValueError("window= needs data (minibatches of the likelihood)")
    if window_burn_in is None:
        raise ValueError("window= needs window_burn_in= (ms run unscored before each window; it must cover the "
                         "model's memory, e.g. its history window)")
    h = data.bin_width
    n_len, n_burn = int(round(window / h)), int(round(window_burn_in / h))
    # validation (and the window's bounds) on concrete values, once
    log_likelihood_window(spec.model, data, 0, length=window, burn_in=window_burn_in, drive=drive)
    n_terms = data.n_trials * n_len * data.n_pop
    last = data.n_bins - n_len - n_burn

    def f(u, key):
        start = jax.random.randint(key, (), 0, last + 1)
        ll = log_likelihood_window(spec.model_at(u), data, start, length=window, burn_in=window_burn_in,
                                   drive=drive)
        return -(ll + spec.log_prior(u) * n_terms / (data.n_trials * (data.n_bins - n_burn) * data.n_pop)) / n_terms

    return f


def _design(spec: Parameters, key, n: int) -> dict:
    """``n`` quasi-random points: a scrambled Sobol design over the bounds of Bounded fields, random
    starts (:meth:`Parameters.sample`) for the others."""
    from scipy.stats import qmc

    u = spec.sample(key, n)
    bounded = [e for e in spec.entries if isinstance(e.transform, Bounded)]
    if bounded:
        dims = [int(np.prod(jnp.shape(u[e.name])[1:])) for e in bounded]
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        pts = qmc.Sobol(sum(dims), scramble=True, seed=seed).random(n)
        i = 0
        for e, d in zip(bounded, dims):
            lo, hi = e.transform.low, e.transform.high
            x = lo + (hi - lo) * np.clip(pts[:, i:i + d], 1e-6, 1 - 1e-6)
            u[e.name] = e.transform.inverse(jnp.asarray(x.reshape(jnp.shape(u[e.name]))))
            i += d
    return u


def _evaluate(f, u, batch: int) -> np.ndarray:
    n = jax.tree.leaves(u)[0].shape[0]
    g = eqx.filter_jit(jax.vmap(f))
    out = [np.asarray(g(_take(u, jnp.arange(i, min(n, i + batch))))) for i in range(0, n, batch)]
    return np.concatenate(out)


def laplace(spec: Parameters, model_values: Mapping, log_density: Callable) -> tuple[np.ndarray, bool]:
    """Covariance of the Laplace approximation: the inverse of :math:`-\\nabla^2_x` ``log_density(model)``
    with respect to the constrained free values :math:`x` at ``model_values`` (coordinates :math:`u`).
    Returns ``(cov, ok)``; ``ok`` is False where the matrix is not positive definite."""
    x0 = spec.flatten(spec.values(model_values))

    def neg(xvec):
        xs = spec.unflatten(xvec)
        u = {e.name: e.transform.inverse(xs[e.name]) for e in spec.entries}
        return -log_density(spec.model_at(u))

    H = np.asarray(jax.hessian(neg)(x0))
    H = 0.5 * (H + H.T)
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return np.full_like(H, np.nan), False
    return np.linalg.inv(H), True


def _laplace_cov(spec, f, u_star, n_terms):
    scale = 1.0 if n_terms is None else float(n_terms)
    return laplace(spec, u_star, lambda m: -scale * f(spec.init(m)))
