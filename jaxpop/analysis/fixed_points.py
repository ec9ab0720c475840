r"""Fixed points, Jacobians and linear stability of ODE models.

Generic tools work for any :class:`jaxpop.AbstractODEModel` (the state pytree is
flattened with :func:`jax.flatten_util.ravel_pytree`):

* :func:`jacobian` — :math:`\partial f/\partial y` of ``model.vector_field`` by autodiff;
* :func:`solve_fixed_point` — one Newton solve (optimistix) of :math:`f(t, y) = 0`; pure,
  jittable and vmappable;
* :func:`find_fixed_points` — many guesses at once (vmapped Newton), failures dropped,
  duplicates merged;
* :func:`stability` — eigenvalues and the classification (stable node, stable focus, saddle, ...).

Closed forms for the Montbrió–Pazó–Roxin equations (MPR Eq. 12 with the
Lorentzian-coupling term of App. E1, :math:`\tau = 1`),

.. math::

    \dot r = \frac{\Delta}{\pi} + \frac{\Gamma r}{\pi} + 2 r v,\qquad
    \dot v = v^2 + \bar\eta + J r - \pi^2 r^2 .

From :math:`\dot r = 0`, :math:`v^* = -(\Delta + \Gamma r^*)/(2\pi r^*)`; substituting into
:math:`\dot v = 0` and multiplying by :math:`r^2`, the rates :math:`r^* > 0` are the positive
roots of the quartic

.. math::

    \pi^2 r^4 - J r^3 - \Big(\bar\eta + \frac{\Gamma^2}{4\pi^2}\Big) r^2
    - \frac{\Delta\Gamma}{2\pi^2} r - \frac{\Delta^2}{4\pi^2} = 0,

which for :math:`\Gamma = 0` is :math:`\pi^2r^4 - Jr^3 - \bar\eta r^2 - \Delta^2/(4\pi^2) = 0`.
By Descartes' rule there are at most three positive roots and (:math:`\Delta > 0`) at least
one. The Jacobian at a fixed point is

.. math::

    \mathcal J = \begin{pmatrix} -\Delta/(\pi r) & 2r \\ J - 2\pi^2 r & -(\Delta + \Gamma r)/(\pi r)
    \end{pmatrix},

whose trace is negative: fixed points are stable (node or focus) or saddles, never
unstable nodes/foci, and there are no Hopf bifurcations. For :math:`\Gamma = 0` the
eigenvalues are :math:`\lambda_\pm = -\Delta/(\pi r) \pm \sqrt{2r(J - 2\pi^2 r)}`: a focus iff
:math:`r > J/(2\pi^2)`, a saddle iff :math:`2r(J - 2\pi^2 r) > \Delta^2/(\pi r)^2`.

References: E. Montbrió, D. Pazó, A. Roxin, *Macroscopic description for networks of spiking
neurons*, Phys. Rev. X 5, 021028 (2015), doi:10.1103/PhysRevX.5.021028 (Sec. III C, App. E1).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax.flatten_util import ravel_pytree

from ..core.drives import as_drive
from ..core.model import AbstractODEModel, is_concrete

__all__ = [
    "KINDS", "Stability", "jacobian", "solve_fixed_point", "find_fixed_points", "stability", "classify",
    "mpr_quartic", "mpr_fixed_points", "mpr_jacobian", "mpr_eigenvalues",
]

#: Names of the codes returned by :func:`classify` / :func:`stability` (``Stability.code``).
KINDS = ("stable node", "stable focus", "unstable node", "unstable focus", "saddle", "saddle-focus",
         "non-hyperbolic")


def _check_model(model):
    if not isinstance(model, AbstractODEModel):
        raise TypeError(f"model must be an ODE model (jaxpop.AbstractODEModel), got {type(model).__name__}")


def _flat_field(model, y_like, drive, t):
    """The vector field as a function of the flattened state, and the unravel function."""
    _check_model(model)
    drive = as_drive(drive)
    flat, unravel = ravel_pytree(y_like)

    def f(x):
        dy = model.vector_field(t, unravel(x), drive)
        return ravel_pytree(dy)[0]

    return f, flat, unravel


def jacobian(model, y, *, drive=None, t=0.0):
    r"""Jacobian :math:`\partial f_i/\partial y_j` of ``model.vector_field`` at state ``y``.

    Parameters
    ----------
    model : AbstractODEModel
    y : pytree
        A state of ``model`` (as returned by ``model.init``).
    drive : drive, number or None
        External input; evaluated at time ``t`` (default 0, no input).

    Returns
    -------
    array (n, n)
        Dense Jacobian in the coordinates of ``ravel_pytree(y)`` (forward-mode autodiff).
    """
    f, x, _ = _flat_field(model, y, drive, jnp.asarray(t, dtype=float))
    return jax.jacfwd(f)(x)


def solve_fixed_point(model, y0, *, drive=None, t=0.0, rtol=1e-12, atol=1e-12, max_steps=100):
    r"""Solve :math:`f(t, y) = 0` by Newton's method (optimistix) from the guess ``y0``.

    Pure and jittable; vmap it over guesses or over models. Never raises on failure.

    Returns
    -------
    y : pytree
        The last Newton iterate (same structure as ``y0``).
    converged : bool array
        True iff Newton terminated successfully, the iterate is finite and the residual
        :math:`\|f(y)\|_\infty \le` ``100 * max(atol, rtol * |y|_inf)``.
    """
    f, x0, unravel = _flat_field(model, y0, drive, jnp.asarray(t, dtype=float))
    solver = optx.Newton(rtol=rtol, atol=atol)
    sol = optx.root_find(lambda x, _: f(x), solver, x0, max_steps=max_steps, throw=False)
    x = sol.value
    res = jnp.max(jnp.abs(f(x)))
    scale = jnp.maximum(atol, rtol * jnp.max(jnp.abs(x)))
    ok = (sol.result == optx.RESULTS.successful) & jnp.all(jnp.isfinite(x)) & (res <= 100 * scale)
    return unravel(x), ok


def find_fixed_points(model, guesses, *, drive=None, t=0.0, rtol=1e-12, atol=1e-12, max_steps=100,
                      dedup_tol=1e-6, accept=None):
    r"""Fixed points of an ODE model from many initial guesses (vmapped Newton, deduplicated).

    Parameters
    ----------
    model : AbstractODEModel
    guesses : pytree with a leading batch axis, or a sequence of states
        Initial guesses, e.g. ``{"r": jnp.array([[0.01], [0.3], [1.5]]), "v": ...}`` for a
        scalar :class:`~jaxpop.MontbrioPazoRoxin` (states have shape ``(1,)`` per leaf).
    drive : drive, number or None
        Constant external input (evaluated at ``t``).
    dedup_tol : float
        Two solutions closer than ``dedup_tol * (1 + |y|)`` (max norm) are the same fixed point.
    accept : callable, optional
        ``accept(y) -> bool`` for one state; solutions failing it are dropped (e.g. the
        unphysical ``r < 0`` roots of the MPR equations: ``accept=lambda y: y["r"][0] > 0``).

    Returns
    -------
    pytree
        The distinct converged fixed points stacked along a leading axis (sorted by their
        flattened coordinates, lexicographically), possibly with zero entries.
    """
    if isinstance(guesses, (list, tuple)):
        guesses = jax.tree.map(lambda *xs: jnp.stack(xs), *guesses)
    _check_model(model)
    ys, ok = _solve_batch(model, guesses, as_drive(drive), jnp.asarray(t, dtype=float), rtol, atol, int(max_steps))
    if accept is not None:
        ok = ok & jax.vmap(lambda y: jnp.asarray(accept(y), dtype=bool))(ys)
    flat = np.asarray(jax.vmap(lambda y: ravel_pytree(y)[0])(ys))
    flat = flat[np.asarray(ok)]
    unique: list[np.ndarray] = []
    for x in flat:
        if not any(np.max(np.abs(x - u)) <= dedup_tol * (1 + np.max(np.abs(u))) for u in unique):
            unique.append(x)
    unique.sort(key=lambda u: tuple(u))
    one = jax.tree.map(lambda a: a[0], ys)
    _, unravel = ravel_pytree(one)
    if not unique:
        return jax.tree.map(lambda a: jnp.zeros((0,) + a.shape, a.dtype), one)
    return jax.vmap(unravel)(jnp.asarray(np.stack(unique)))


@eqx.filter_jit
def _solve_batch(model, guesses, drive, t, rtol, atol, max_steps):
    return jax.vmap(lambda g: solve_fixed_point(model, g, drive=drive, t=t, rtol=rtol, atol=atol,
                                                max_steps=max_steps))(guesses)


class Stability(NamedTuple):
    """Linear stability of a fixed point (a pytree: vmappable).

    Attributes
    ----------
    eigenvalues : complex array (n,)
        Eigenvalues of the Jacobian, sorted by decreasing real part.
    stable : bool array
        All real parts ``< -tol``.
    focus : bool array
        Some eigenvalue has ``|Im| > tol`` (oscillatory approach or escape).
    n_unstable : int array
        Number of eigenvalues with real part ``> tol``.
    code : int array
        Index into :data:`KINDS`.
    """

    eigenvalues: jax.Array
    stable: jax.Array
    focus: jax.Array
    n_unstable: jax.Array
    code: jax.Array

    @property
    def kind(self):
        """Name(s) of the classification (for concrete values): a str, or an array of str."""
        code = np.asarray(self.code)
        names = np.asarray(KINDS, dtype=object)[code]
        return str(names) if code.ndim == 0 else names


@functools.partial(jax.jit, static_argnames="tol")
def classify(eigenvalues, tol=1e-9):
    r"""Classify a fixed point from its eigenvalues.

    Hyperbolic cases: all :math:`\mathrm{Re}\,\lambda < 0` → stable (node, or focus if a
    complex pair exists); all :math:`> 0` → unstable node/focus; mixed signs → saddle
    (saddle-focus with a complex pair). Any :math:`|\mathrm{Re}\,\lambda| \le` ``tol`` →
    non-hyperbolic. ``tol`` is relative to ``max(1, max|λ|)``.
    """
    lam = jnp.asarray(eigenvalues)
    lam = lam[jnp.argsort(-lam.real)]
    scale = tol * jnp.maximum(1.0, jnp.max(jnp.abs(lam)))
    n_pos = jnp.sum(lam.real > scale)
    n_neg = jnp.sum(lam.real < -scale)
    n_zero = lam.shape[0] - n_pos - n_neg
    osc = jnp.any(jnp.abs(lam.imag) > scale)
    code = jnp.where(
        n_zero > 0, 6,
        jnp.where(n_pos == 0, jnp.where(osc, 1, 0), jnp.where(n_neg == 0, jnp.where(osc, 3, 2), jnp.where(osc, 5, 4))),
    )
    return Stability(lam, (n_pos == 0) & (n_zero == 0), osc, n_pos, code)


def stability(model, y, *, drive=None, t=0.0, tol=1e-9):
    """Eigenvalues of the Jacobian at ``y`` and their classification (:class:`Stability`).

    ``y`` should be a fixed point (see :func:`find_fixed_points`); vmappable over ``y``.
    """
    _check_model(model)
    return _stability(model, y, as_drive(drive), jnp.asarray(t, dtype=float), float(tol))


@eqx.filter_jit
def _stability(model, y, drive, t, tol):
    return classify(jnp.linalg.eigvals(jacobian(model, y, drive=drive, t=t)), tol)


# --------------------------------------------------------------------------------------------
# Montbrió–Pazó–Roxin closed forms
# --------------------------------------------------------------------------------------------


def _check_delta(delta):
    if is_concrete(delta) and not bool(np.all(np.asarray(delta) > 0)):
        raise ValueError(f"delta must be > 0 (the Lorentzian half-width), got delta={delta!r}")


def mpr_quartic(eta_bar, J, delta, Gamma=0.0):
    r"""Coefficients (highest power first) of the MPR fixed-point quartic in :math:`r`.

    :math:`[\pi^2,\ -J,\ -(\bar\eta + \Gamma^2/4\pi^2),\ -\Delta\Gamma/2\pi^2,\ -\Delta^2/4\pi^2]`.
    """
    pi2 = jnp.pi**2
    eta_bar, J, delta, Gamma = (jnp.asarray(a, dtype=float) for a in (eta_bar, J, delta, Gamma))
    return jnp.stack(jnp.broadcast_arrays(
        jnp.full_like(eta_bar, pi2), -J, -(eta_bar + Gamma**2 / (4 * pi2)), -delta * Gamma / (2 * pi2),
        -(delta**2) / (4 * pi2)), axis=-1)


def mpr_fixed_points(eta_bar, J, delta=1.0, Gamma=0.0, *, imag_tol=1e-7):
    r"""All fixed points of the (one-population, :math:`\tau = 1`) MPR equations.

    The positive real roots :math:`r^*` of the quartic (see the module docstring), found as
    the eigenvalues of its companion matrix and polished by three Newton steps, with
    :math:`v^* = -(\Delta + \Gamma r^*)/(2\pi r^*)`. Pure ``jnp``: vmappable and jittable.

    Parameters
    ----------
    eta_bar, J : float
        Mean excitability :math:`\bar\eta` and (mean) coupling :math:`J`.
    delta : float
        Half-width :math:`\Delta > 0` of the excitability distribution.
    Gamma : float
        Half-width :math:`\Gamma \ge 0` of a Lorentzian distribution of couplings (App. E1).
    imag_tol : float
        A root counts as real if :math:`|\mathrm{Im}\,r| \le` ``imag_tol`` :math:`(1 + |r|)`
        (roots of a near-double root are only known to :math:`\sqrt{\epsilon}`).

    Returns
    -------
    r, v : arrays (3,)
        The fixed points sorted by increasing rate, padded with NaN (there are 1 or 3,
        or 2 exactly on the saddle-node curve).
    n : int array
        Number of fixed points.
    """
    _check_delta(delta)
    c = mpr_quartic(eta_bar, J, delta, Gamma)
    companion = jnp.diag(jnp.ones(3), -1).at[0, :].set(-c[1:] / c[0])
    roots = jnp.linalg.eigvals(companion)
    real = (jnp.abs(roots.imag) <= imag_tol * (1 + jnp.abs(roots))) & (roots.real > 0)
    x0 = roots.real
    x = x0
    dc = c[:-1] * jnp.arange(4, 0, -1)
    for _ in range(3):  # Newton polish of each real root
        p, dp = jnp.polyval(c, x), jnp.polyval(dc, x)
        x = jnp.where(real & (dp != 0), x - p / jnp.where(dp != 0, dp, 1.0), x)
    # near a double root (on the fold) Newton may wander off: keep the eigenvalue there
    x = jnp.where(jnp.abs(x - x0) <= 1e-6 * (1 + jnp.abs(x0)), x, x0)
    r = jnp.sort(jnp.where(real, x, jnp.inf))[:3]
    r = jnp.where(jnp.isfinite(r), r, jnp.nan)
    v = -(delta + Gamma * r) / (2 * jnp.pi * r)
    return r, v, jnp.sum(real)


def mpr_jacobian(r, J, delta=1.0, Gamma=0.0):
    r"""Analytic Jacobian of the MPR equations at a fixed point with rate ``r`` (shape ``(..., 2, 2)``)."""
    r = jnp.asarray(r, dtype=float)
    a = -delta / (jnp.pi * r)
    d = -(delta + Gamma * r) / (jnp.pi * r)
    b = 2 * r
    c = J - 2 * jnp.pi**2 * r
    return jnp.stack([jnp.stack(jnp.broadcast_arrays(a, b), -1), jnp.stack(jnp.broadcast_arrays(c, d), -1)], -2)


def mpr_eigenvalues(r, J, delta=1.0, Gamma=0.0):
    r"""Closed-form eigenvalues at an MPR fixed point with rate ``r``; shape ``(..., 2)``, complex,
    larger real part first.

    :math:`\lambda_\pm = \tfrac{a+d}{2} \pm \sqrt{(\tfrac{a-d}{2})^2 + 2r(J - 2\pi^2 r)}`
    with :math:`a = -\Delta/(\pi r)`, :math:`d = -(\Delta+\Gamma r)/(\pi r)`; for
    :math:`\Gamma = 0`, :math:`\lambda_\pm = -\Delta/(\pi r) \pm \sqrt{2r(J - 2\pi^2 r)}`.
    """
    r = jnp.asarray(r, dtype=float)
    a = -delta / (jnp.pi * r)
    d = -(delta + Gamma * r) / (jnp.pi * r)
    disc = ((a - d) / 2) ** 2 + 2 * r * (J - 2 * jnp.pi**2 * r)
    root = jnp.sqrt(disc.astype(complex))
    mean = ((a + d) / 2).astype(complex)
    return jnp.stack([mean + root, mean - root], axis=-1)
