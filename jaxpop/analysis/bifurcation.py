r"""Saddle-node (fold) curves, cusps and phase diagrams of QIF firing-rate equations.

**Lorentzian excitabilities** (MPR Eq. 12; :math:`\tau = 1`), optionally with Lorentzian-
distributed couplings of half-width :math:`\Gamma` (App. E1, Fig. 9). Along the branch of
fixed points, :math:`\bar\eta(r) = \pi^2r^2 - Jr - (\Delta + \Gamma r)^2/(4\pi^2 r^2)`; the fold
is :math:`d\bar\eta/dr = 0`, which gives the curve parametrised by :math:`r > 0`

.. math::

    J_{\rm SN} = 2\pi^2 r + \frac{\Delta(\Delta + \Gamma r)}{2\pi^2 r^3},\qquad
    \bar\eta_{\rm SN} = -\pi^2 r^2 - \frac{(\Delta + \Gamma r)(3\Delta + \Gamma r)}{4\pi^2 r^2}.

For :math:`\Gamma = 0` this is the Fig. 1(a) caption,
:math:`(\bar\eta, J)_{\rm SN} = (-\pi^2r^2 - 3\Delta^2/(2\pi r)^2,\ 2\pi^2 r + \Delta^2/(2\pi^2 r^3))`
(note :math:`3\Delta^2/(2\pi r)^2 = 3\Delta^2/(4\pi^2 r^2)`: the caption and the fold of the quartic of
Sec. III C agree). The cusp is where :math:`dJ_{\rm SN}/dr = 0`: :math:`4\pi^4 r^4 - 2\Delta\Gamma r - 3\Delta^2 = 0`,
for :math:`\Gamma = 0` at :math:`r = (3/4)^{1/4}\sqrt\Delta/\pi`,
:math:`(\bar\eta, J) = (-\sqrt3\,\Delta,\ 2\pi(4/3)^{3/4}\sqrt\Delta)`. The high-activity fixed point
is a focus to the right of :math:`\bar\eta_f = -[J/(2\pi)]^2 - (\pi\Delta/J)^2` (:math:`\Gamma = 0`).

**Any excitability distribution** :math:`g(\eta) = g_0(\eta - \bar\eta)` (App. C, Eqs. C5–C6).
With :math:`\xi = J_{\rm SN} r_0`,

.. math::

    J_{\rm SN} = \frac{2\pi}{\int_0^\infty \eta^{-1/2} g(\eta - \xi)\,d\eta},\qquad
    \xi = \frac{2\int_0^\infty \eta^{1/2} g(\eta - \xi)\,d\eta}{\int_0^\infty \eta^{-1/2} g(\eta-\xi)\,d\eta}.

Both integrals depend on :math:`\xi` and :math:`\bar\eta` only through :math:`s = \xi + \bar\eta`:
:math:`\int_0^\infty u^{\pm1/2} g(u - \xi)du = I_\pm(s) := \int_0^\infty u^{\pm 1/2} g_0(u - s)\,du`.
So no equation has to be solved: the curve is parametrised by :math:`s` (the input of the
median neuron, :math:`\bar\eta + J r_0`),

.. math::

    J_{\rm SN}(s) = \frac{2\pi}{I_-(s)},\qquad \xi(s) = \frac{2 I_+(s)}{I_-(s)},\qquad
    \bar\eta_{\rm SN}(s) = s - \xi(s),\qquad r_0(s) = \frac{I_+(s)}{\pi}.

The :math:`u^{-1/2}` singularity is removed by :math:`u = w^2`
(:math:`I_- = 2\int_0^\infty g_0(w^2 - s)dw`, :math:`I_+ = 2\int_0^\infty w^2 g_0(w^2 - s)dw`), and the
:math:`w` integral is split into Gauss–Legendre panels around the peak of :math:`g_0` plus a
:math:`\tan`-mapped tail (bounded supports, e.g. uniform, use one panel over the support, where
the integrand is smooth). The curve is a single smooth arc whose maximum of :math:`\bar\eta`
is the cusp; left of it (smaller :math:`s`) is the upper branch, right of it the lower branch.

**Uniform** :math:`g` of half-width :math:`\gamma` (App. C3), with :math:`\tilde\eta = \bar\eta/\gamma`,
:math:`\tilde J = J/\sqrt\gamma`: :math:`I_-`, :math:`I_+` are elementary and the two branches are

.. math::

    \tilde J^{(1)}_{\rm SN} = \frac{2\pi}{\sqrt{3\tilde\eta + 3}},\qquad
    \tilde J^{(2)}_{\rm SN} = \frac{2\pi}{\sqrt{\tilde\eta + 1 + 2\sqrt{1/3 + \tilde\eta^2}}
    - \sqrt{\tilde\eta - 1 + 2\sqrt{1/3 + \tilde\eta^2}}},

:math:`\tilde J^{(1)}` (upper, part of the population silent: :math:`s < \gamma`) on
:math:`-1 < \tilde\eta \le -1/3`, :math:`\tilde J^{(2)}` (lower, all neurons firing: :math:`s > \gamma`,
:math:`s/\gamma = \tilde\eta + 2\sqrt{1/3 + \tilde\eta^2}`) on :math:`\tilde\eta \le -1/3`. They meet
tangentially at the cusp :math:`(\tilde\eta, \tilde J) = (-1/3, \sqrt2\pi)` (the App. C3 formulas are
correct as printed).

References: E. Montbrió, D. Pazó, A. Roxin, *Macroscopic description for networks of spiking
neurons*, Phys. Rev. X 5, 021028 (2015), doi:10.1103/PhysRevX.5.021028 (Fig. 1(a), App. C, App. E1).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.distributions import AbstractDistribution, Gaussian, Lorentzian, Uniform
from .fixed_points import _check_delta, mpr_eigenvalues, mpr_fixed_points

__all__ = [
    "mpr_saddle_node", "mpr_cusp", "mpr_focus_boundary", "mpr_focus_curve", "mpr_phase_diagram",
    "fold_integrals", "saddle_node_curve", "saddle_node_J", "uniform_saddle_node",
]

# --------------------------------------------------------------------------------------------
# Lorentzian excitabilities (closed forms)
# --------------------------------------------------------------------------------------------


def mpr_saddle_node(r, delta=1.0, Gamma=0.0):
    r"""Saddle-node curve :math:`(\bar\eta, J)_{\rm SN}` of the MPR equations, parametrised by the
    rate :math:`r > 0` at the fold (see module docstring; ``Gamma`` > 0: App. E1 / Fig. 9).

    Scaling: with :math:`r = \sqrt\Delta\rho` the curve in :math:`(\bar\eta/\Delta, J/\sqrt\Delta)` depends
    on :math:`\Gamma/\sqrt\Delta` only (Fig. 9's ratios :math:`\Gamma/\Delta` are at :math:`\Delta = 1`).

    Returns ``(eta_bar, J)``, arrays shaped like ``r``.
    """
    r = jnp.asarray(r, dtype=float)
    pi2 = jnp.pi**2
    q = delta + Gamma * r
    J = 2 * pi2 * r + delta * q / (2 * pi2 * r**3)
    eta = -pi2 * r**2 - q * (3 * delta + Gamma * r) / (4 * pi2 * r**2)
    return eta, J


def mpr_cusp(delta=1.0, Gamma=0.0):
    r"""Cusp point of the MPR saddle-node curve: ``(eta_bar, J, r)``.

    :math:`r` is the positive root of :math:`4\pi^4 r^4 - 2\Delta\Gamma r - 3\Delta^2 = 0`
    (unique by Descartes' rule), i.e. :math:`dJ_{\rm SN}/dr = 0`; for :math:`\Gamma = 0`,
    :math:`(\bar\eta, J) = (-\sqrt3\Delta, 2\pi(4/3)^{3/4}\sqrt\Delta) = (-1.73205\Delta, 7.79622\sqrt\Delta)`.
    """
    delta = jnp.asarray(delta, dtype=float)
    Gamma = jnp.asarray(Gamma, dtype=float)
    pi4 = jnp.pi**4
    r = (3 / 4) ** 0.25 * jnp.sqrt(delta) / jnp.pi  # Gamma = 0 root: start Newton here (p(r) < 0 there)
    for _ in range(60):  # convex increasing on r > r_start: Newton converges monotonically
        p = 4 * pi4 * r**4 - 2 * delta * Gamma * r - 3 * delta**2
        dp = 16 * pi4 * r**3 - 2 * delta * Gamma
        r = r - p / dp
    eta, J = mpr_saddle_node(r, delta, Gamma)
    return eta, J, r


def mpr_focus_boundary(J, delta=1.0):
    r""":math:`\bar\eta_f(J) = -[J/(2\pi)]^2 - (\pi\Delta/J)^2`: for :math:`\bar\eta > \bar\eta_f` the
    high-activity fixed point is a stable focus (Fig. 1(a) dashed line; :math:`\Gamma = 0`)."""
    J = jnp.asarray(J, dtype=float)
    return -((J / (2 * jnp.pi)) ** 2) - (jnp.pi * delta / J) ** 2


def mpr_focus_curve(r, delta=1.0, Gamma=0.0):
    r"""Node/focus boundary parametrised by the fixed-point rate :math:`r`: the discriminant of the
    Jacobian vanishes, :math:`2r(J - 2\pi^2 r) = -\Gamma^2/(4\pi^2)`, i.e.
    :math:`J = 2\pi^2 r - \Gamma^2/(8\pi^2 r)`, and :math:`\bar\eta = \pi^2r^2 - Jr - (\Delta+\Gamma r)^2/(4\pi^2r^2)`.
    For :math:`\Gamma = 0` this is :func:`mpr_focus_boundary`. Returns ``(eta_bar, J)``."""
    r = jnp.asarray(r, dtype=float)
    pi2 = jnp.pi**2
    J = 2 * pi2 * r - Gamma**2 / (8 * pi2 * r)
    eta = pi2 * r**2 - J * r - (delta + Gamma * r) ** 2 / (4 * pi2 * r**2)
    return eta, J


def mpr_phase_diagram(eta_grid, J_grid, delta=1.0, Gamma=0.0):
    r"""Fig. 1(a) of MPR over a grid: fixed points and their stability at every :math:`(\bar\eta, J)`.

    ``eta_grid`` and ``J_grid`` broadcast against each other (e.g. ``eta[None, :]`` and
    ``J[:, None]``); each point is evaluated with :func:`mpr_fixed_points` (companion-matrix
    roots of the quartic) and the closed-form eigenvalues, vmapped. Pure ``jnp``.

    Returns
    -------
    dict of arrays (broadcast shape)
        ``n_fixed`` (1 or 3; 2 exactly on the fold), ``n_stable`` (1 or 2), ``bistable``
        (``n_stable == 2``), ``r_high``, ``v_high`` (the fixed point of highest rate),
        ``high_focus`` (it is a stable focus) and ``region``: 0 single stable node (white in
        Fig. 1(a)), 1 single stable focus (grey), 2 bistable (cyan).
    """
    _check_delta(delta)
    eta, J = jnp.broadcast_arrays(jnp.asarray(eta_grid, dtype=float), jnp.asarray(J_grid, dtype=float))
    out = _phase_diagram(eta.ravel(), J.ravel(), jnp.asarray(delta, dtype=float), jnp.asarray(Gamma, dtype=float))
    return {k: a.reshape(eta.shape) for k, a in out.items()}


@jax.jit
def _phase_diagram(eta, J, delta, Gamma):
    def one(e, j):
        r, v, n = mpr_fixed_points(e, j, delta, Gamma)
        lam = mpr_eigenvalues(r, j, delta, Gamma)  # (3, 2)
        valid = jnp.isfinite(r)
        stable = valid & jnp.all(lam.real < 0, axis=-1)
        k = jnp.maximum(n - 1, 0)
        focus = stable[k] & (jnp.abs(lam[k, 0].imag) > 0)
        n_stable = jnp.sum(stable)
        region = jnp.where(n_stable >= 2, 2, jnp.where(focus, 1, 0))
        return dict(n_fixed=n, n_stable=n_stable, bistable=n_stable >= 2, r_high=r[k], v_high=v[k],
                    high_focus=focus, region=region)

    return jax.vmap(one)(eta, J)


# --------------------------------------------------------------------------------------------
# Any distribution: App. C, Eqs. (C5)-(C6)
# --------------------------------------------------------------------------------------------

_GL_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _gauss_legendre(n):
    if n not in _GL_CACHE:
        _GL_CACHE[n] = np.polynomial.legendre.leggauss(n)
    return _GL_CACHE[n]


def _centre_scale_support(dist):
    """Centre, width scale and (relative) support of a distribution (support None = unbounded)."""
    if isinstance(dist, Uniform):
        return dist.center, dist.half_width, (-dist.half_width, dist.half_width)
    if isinstance(dist, Lorentzian):
        return dist.center, dist.half_width, None
    if isinstance(dist, Gaussian):
        return dist.center, dist.sd, None
    raise TypeError(f"distribution must be a Lorentzian, Uniform or Gaussian jaxpop distribution, got {dist!r}")


def _safe_sqrt(x):
    """sqrt(max(x, 0)) with a finite (zero) derivative for x <= 0."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def fold_integrals(distribution, s, n_nodes=256):
    r"""The integrals :math:`I_\mp(s) = \int_0^\infty u^{\mp1/2} g_0(u - s)\,du` of App. C.

    :math:`g_0` is ``distribution`` shifted to zero centre. Quadrature: :math:`u = w^2`, then
    Gauss–Legendre (``n_nodes`` per panel) on :math:`[0, w_a]`, :math:`[w_a, w_b]` around the peak
    :math:`w^2 \in [s - 10\sigma, s + 10\sigma]` (:math:`\sigma` the width of :math:`g`) and a
    :math:`\tan`-mapped tail :math:`[w_b, \infty)`; for a bounded support one panel over it.
    Relative accuracy ~1e-15 for the Lorentzian (checked against
    :math:`I_- = \mathrm{Im}(-s - i\Delta)^{-1/2}`, :math:`I_+ = -\mathrm{Im}(-s-i\Delta)^{1/2}`).
    Vmappable and differentiable in ``s`` and in the distribution's parameters.

    Returns ``(I_minus, I_plus)``.
    """
    if not isinstance(distribution, AbstractDistribution):
        raise TypeError(f"distribution must be a jaxpop distribution, got {distribution!r}")
    _centre_scale_support(distribution)  # type check
    return _fold_integrals(distribution, jnp.asarray(s, dtype=float), int(n_nodes))


@eqx.filter_jit
def _fold_integrals(distribution, s, n_nodes):
    centre, scale, support = _centre_scale_support(distribution)
    x, wts = (jnp.asarray(a) for a in _gauss_legendre(int(n_nodes)))

    def g0(z):
        return distribution.pdf(z + centre)

    def panel(a, b, s):
        w = (a + b) / 2 + (b - a) / 2 * x
        jw = (b - a) / 2 * wts
        g = g0(w**2 - s)
        return jnp.sum(jw * g), jnp.sum(jw * w**2 * g)

    def one(s):
        if support is not None:
            lo, hi = support
            a = _safe_sqrt(s + lo)
            b = _safe_sqrt(s + hi)
            # evaluate strictly inside the support (the density is discontinuous at its edges)
            m, p = panel(a, b, s)
            return 2 * m, 2 * p
        k = 10.0
        wa = _safe_sqrt(s - k * scale)
        wb = _safe_sqrt(s + k * scale)
        m1, p1 = panel(0.0, wa, s)
        m2, p2 = panel(wa, wb, s)
        th = (x + 1) * (jnp.pi / 4)
        c = jnp.sqrt(jnp.abs(s) + scale)
        w = wb + c * jnp.tan(th)
        jw = wts * (jnp.pi / 4) * c / jnp.cos(th) ** 2
        g = g0(w**2 - s)
        m3, p3 = jnp.sum(jw * g), jnp.sum(jw * w**2 * g)
        return 2 * (m1 + m2 + m3), 2 * (p1 + p2 + p3)

    if s.ndim == 0:
        return one(s)
    m, p = jax.vmap(one)(s.ravel())
    return m.reshape(s.shape), p.reshape(s.shape)


def saddle_node_curve(distribution, s, n_nodes=256):
    r"""Saddle-node curve for an arbitrary excitability distribution (MPR App. C, Eqs. C5–C6).

    Parametrised by :math:`s = \bar\eta + J r_0` (see module docstring); the centre of
    ``distribution`` is ignored (only its shape :math:`g_0` matters; :math:`\bar\eta` is the output).

    Parameters
    ----------
    distribution : Lorentzian, Uniform or Gaussian
    s : array
        Curve parameter. The cusp is at the maximum of :math:`\bar\eta(s)`; smaller :math:`s` is the
        upper branch (larger :math:`J`), larger :math:`s` the lower one. For a uniform
        :math:`g` of half-width :math:`\gamma` only :math:`s > -\gamma` is meaningful.

    Returns
    -------
    eta_bar, J, r0 : arrays shaped like ``s``
        The fold point and the rate of the fixed point at the fold.
    """
    i_minus, i_plus = fold_integrals(distribution, s, n_nodes)
    xi = 2 * i_plus / i_minus
    J = 2 * jnp.pi / i_minus
    return jnp.asarray(s) - xi, J, i_plus / jnp.pi


def saddle_node_J(distribution, eta_bar, *, s_range=None, n_grid=512, n_bisect=60, n_nodes=256):
    r"""The two saddle-node couplings :math:`J_{\rm lower} < J_{\rm upper}` at a given :math:`\bar\eta`.

    The system is bistable for :math:`J_{\rm lower} < J < J_{\rm upper}`. Solves
    :math:`\bar\eta_{\rm SN}(s) = \bar\eta` (:func:`saddle_node_curve`) on each side of the cusp:
    a grid of ``n_grid`` values of :math:`s` over ``s_range`` brackets the roots, then bisection.
    Returns NaN for both when :math:`\bar\eta` lies right of the cusp (no bistability) or
    outside the bracketing range. Vmappable over ``eta_bar``.

    Parameters
    ----------
    s_range : (float, float), optional
        Default :math:`(\min(\bar\eta, 0) - 10\sigma,\ 2|\bar\eta| + 20\sigma)`, the lower end
        clipped to the support of :math:`g_0` (:math:`s > -\gamma` for a uniform :math:`g`) (it uses
        :math:`\bar\eta_{\rm SN}(s) \le s` on the upper branch and
        :math:`\bar\eta_{\rm SN}(s) \approx -s` for large :math:`s`).

    Returns
    -------
    J_lower, J_upper, eta_cusp : arrays
    """
    _centre_scale_support(distribution)  # type check
    eta_bar = jnp.asarray(eta_bar, dtype=float)
    s_range = None if s_range is None else (float(s_range[0]), float(s_range[1]))
    out = _saddle_node_J(distribution, eta_bar.ravel(), s_range, int(n_grid), int(n_bisect), int(n_nodes))
    return tuple(o.reshape(eta_bar.shape) for o in out)


@eqx.filter_jit
def _saddle_node_J(distribution, etas, s_range, n_grid, n_bisect, n_nodes):
    _, scale, support = _centre_scale_support(distribution)

    def curve(s):
        e, j, _ = saddle_node_curve(distribution, s, n_nodes)
        return jnp.where(jnp.isfinite(e), e, -jnp.inf), j

    def one(eta):
        if s_range is None:
            lo = jnp.minimum(eta, 0.0) - 10 * scale
            if support is not None:
                lo = jnp.maximum(lo, support[0] * (1 - 1e-9))
            hi = 2 * jnp.abs(eta) + 20 * scale
        else:
            lo, hi = s_range
        s = jnp.linspace(lo, hi, n_grid)
        e, _ = curve(s)
        k = jnp.argmax(e)
        # refine the cusp (maximum of eta(s)) by golden-section search on the neighbouring cells
        gr = (np.sqrt(5) - 1) / 2

        def golden(_, ab):
            a, b = ab
            c1, c2 = b - gr * (b - a), a + gr * (b - a)
            left = curve(c1)[0] > curve(c2)[0]
            return jnp.where(left, a, c1), jnp.where(left, c2, b)

        a, b = jax.lax.fori_loop(0, 80, golden, (s[jnp.maximum(k - 1, 0)], s[jnp.minimum(k + 1, n_grid - 1)]))
        s_c = (a + b) / 2
        e_c = curve(s_c)[0]

        def bisect(a, b, increasing):
            def body(_, ab):
                a, b = ab
                m = (a + b) / 2
                above = curve(m)[0] > eta
                go_left = above if increasing else ~above
                return jnp.where(go_left, a, m), jnp.where(go_left, m, b)

            a, b = jax.lax.fori_loop(0, n_bisect, body, (a, b))
            return (a + b) / 2

        idx = jnp.arange(n_grid)
        # upper branch: eta(s) increasing on s < s_c; largest grid point left of the cusp with e < eta
        left_ok = (idx <= k) & (e < eta)
        i_l = jnp.max(jnp.where(left_ok, idx, -1))
        s_up = bisect(s[jnp.maximum(i_l, 0)], s_c, True)
        right_ok = (idx >= k) & (e < eta)
        i_r = jnp.min(jnp.where(right_ok, idx, n_grid))
        s_lo = bisect(s_c, s[jnp.minimum(i_r, n_grid - 1)], False)
        inside = eta < e_c
        J_up = jnp.where(inside & (i_l >= 0), curve(s_up)[1], jnp.nan)
        J_lo = jnp.where(inside & (i_r < n_grid), curve(s_lo)[1], jnp.nan)
        return J_lo, J_up, e_c

    return jax.vmap(one)(etas)


def uniform_saddle_node(eta_tilde):
    r"""The App. C3 closed-form saddle-node branches for a uniform :math:`g` (rescaled units).

    Returns ``(J1, J2)``: :math:`\tilde J^{(1)}_{\rm SN}(\tilde\eta)` and :math:`\tilde J^{(2)}_{\rm SN}(\tilde\eta)`
    (module docstring), NaN where a branch does not exist (:math:`\tilde J^{(1)}`:
    :math:`-1 < \tilde\eta \le -1/3`; :math:`\tilde J^{(2)}`: :math:`\tilde\eta \le -1/3`). Multiply by
    :math:`\sqrt\gamma` for :math:`J`; :math:`\bar\eta = \gamma\tilde\eta`.
    """
    e = jnp.asarray(eta_tilde, dtype=float)
    ok1 = (e > -1) & (e <= -1 / 3)
    J1 = 2 * jnp.pi / jnp.sqrt(jnp.where(ok1, 3 * e + 3, 1.0))
    q = 2 * jnp.sqrt(1 / 3 + e**2)
    ok2 = e <= -1 / 3
    den = jnp.sqrt(jnp.where(ok2, e + 1 + q, 1.0)) - jnp.sqrt(jnp.where(ok2, jnp.maximum(e - 1 + q, 0.0), 0.0))
    J2 = 2 * jnp.pi / den
    return jnp.where(ok1, J1, jnp.nan), jnp.where(ok2, J2, jnp.nan)
