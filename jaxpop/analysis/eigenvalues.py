r"""Eigenvalues and eigenfunctions of the refractory-density operator of a renewal model
(:mod:`jaxpop.analysis.renewal`; Pietras, Gallice & Schwalger 2020).

The refractory-density equation :math:`\partial_t p = -[\partial_\tau + \rho(\tau)]p`, :math:`p(0, t) = \int\rho p\,d\tau`
has the eigenvalues :math:`\lambda_n`, the roots of

.. math::

    P_L(\lambda_n) = 1 \quad\Longleftrightarrow\quad S_L(\lambda_n) = 0 \ (n \ne 0), \qquad \lambda_0 = 0,

in complex-conjugate pairs with :math:`\mathrm{Re}\,\lambda_n < 0`, the eigenfunctions and adjoint eigenfunctions

.. math::

    \phi_n(\tau) = -\frac{S(\tau)\,e^{-\lambda_n\tau}}{P_L'(\lambda_n)}, \qquad
    \psi_n(\tau) = \frac{e^{\lambda_n\tau}}{S(\tau)}\Big[1 - \int_0^\tau P(s)e^{-\lambda_n s}ds\Big],

and the mode weights of the rate read-out :math:`F_n = \phi_n(0) = -1/P_L'(\lambda_n)` (:math:`F_0 = r_0`).

* :func:`find_eigenvalues` — every root in a rectangle of the upper half plane: closed forms or a Gaussian-ISI
  first guess polished by Newton's method on the model's ``characteristic`` (:math:`S_L` times a factor that
  cancels its poles on the real axis), then a grid of starts until the count by the argument principle is
  reached (:func:`count_eigenvalues`); real roots by bracketing. Host-side (numpy); works for every model,
  including :class:`~jaxpop.analysis.renewal.LIFWhiteNoise` (mpmath).
* :func:`eigenvalue` — one root by Newton's method inside JAX, differentiable with respect to every model
  parameter by implicit differentiation, :math:`\partial_\theta\lambda = -\partial_\theta S_L/\partial_\lambda S_L` at a root.
* :func:`mode_weight`, :func:`eigenfunction`, :func:`adjoint_eigenfunction`.
* :func:`gaussian_isi_eigenvalues` — the second-cumulant approximation
  :math:`\lambda_n \approx (\kappa_1/\kappa_2)\big(1 - \sqrt{1 + 4\pi i n\,\kappa_2/\kappa_1^2}\big)`.

Units: :math:`\lambda` in s⁻¹, ages in ms, :math:`\phi_n` and :math:`F_n` in Hz.

References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020), doi:10.1103/PhysRevE.102.022407.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .renewal import _MS, AbstractRenewal


class Spectrum(NamedTuple):
    """Result of :func:`find_eigenvalues`.

    ``eigenvalues``: :math:`\\lambda_0 = 0` first, then every root with :math:`\\mathrm{Im}\\,\\lambda \\ge 0` in the
    region, by decreasing real part (s⁻¹; the lower half plane holds their complex conjugates). ``count``: the
    number of roots in the whole rectangle (both half planes, :math:`\\lambda_0` included) by the argument
    principle and real-axis bracketing. ``region``: ``(re_min, re_max, im_max)`` (s⁻¹)."""

    eigenvalues: np.ndarray
    count: int
    region: tuple[float, float, float]


def _evaluator(model: AbstractRenewal, name: str = "characteristic"):
    """A host function ``lam (complex array) -> complex array`` of the model's method ``name``."""
    if model.host_only:
        fn = getattr(model, name)
        return lambda lam: np.asarray(fn(np.asarray(lam, dtype=complex)), dtype=complex)
    jitted = jax.jit(lambda m, lam: getattr(m, name)(lam))
    return _padded(lambda lam: jitted(model, lam))


def _padded(fn):
    """``fn`` on flat complex arrays padded to a power-of-two length (one compilation per size class)."""

    def call(lam):
        lam = np.asarray(lam, dtype=complex)
        flat = lam.ravel()
        n = max(16, 1 << int(np.ceil(np.log2(max(flat.size, 1)))))
        pad = np.concatenate([flat, np.full(n - flat.size, flat[0] if flat.size else 0j)])
        return np.asarray(fn(jnp.asarray(pad)), dtype=complex)[: flat.size].reshape(lam.shape)

    return call


def _derivative(model: AbstractRenewal, name: str = "characteristic"):
    """Host function ``lam -> d/dlam`` of the model's method: forward-mode autodiff (holomorphic) for JAX models,
    a central difference for host models (mpmath at 30 digits: the step's error is ~1e-13 relative)."""
    if model.host_only:
        f = _evaluator(model, name)

        def d(lam):
            lam = np.asarray(lam, dtype=complex)
            h = 1e-6 * np.maximum(1.0, np.abs(lam))
            return (f(lam + h) - f(lam - h)) / (2 * h)

        return d

    def one(m, lam):
        return jax.jvp(lambda x: getattr(m, name)(x), (lam,), (jnp.ones_like(lam),))[1]

    jitted = jax.jit(one)
    return _padded(lambda lam: jitted(model, lam))


def _newton(f, df, starts, scale, *, iterations=100):
    """Vectorised Newton iterations on ``f`` from ``starts``; returns (roots, converged)."""
    lam = np.asarray(starts, dtype=complex).copy()
    done = np.zeros(lam.shape, bool)
    for _ in range(iterations):
        with np.errstate(all="ignore"):
            step = f(lam) / df(lam)
        step = np.where(np.isfinite(step), step, 0.0)
        # damp steps longer than the problem's scale (keeps a start from jumping across the plane)
        big = np.abs(step) > scale
        step = np.where(big, step / np.abs(step) * scale, step)
        lam = np.where(done, lam, lam - step)
        done |= np.abs(step) <= 1e-14 * np.maximum(np.abs(lam), scale * 1e-3)
        if done.all():
            break
    return lam, done


def _default_region(model):
    r = float(model.rate())
    return (max(-40 * np.pi**2 * r, 0.9 * model.re_lambda_min()), 0.05 * r, 2 * np.pi * r * 10.5)


def _check_region(model, region):
    region = _default_region(model) if region is None else region
    re_min, re_max, im_max = map(float, region)
    if not (re_min < 0 < re_max and im_max > 0):
        raise ValueError(f"region must be (re_min, re_max, im_max) with re_min < 0 < re_max and im_max > 0 (s^-1), "
                         f"got region={region!r}")
    if re_min <= model.re_lambda_min():
        raise ValueError(f"region: re_min={re_min!r} s^-1 lies left of where {type(model).__name__}'s transform is "
                         f"faithful (Re lambda > {model.re_lambda_min():.6g} s^-1)")
    return re_min, re_max, im_max


def _winding(f, corners, *, n0=1024, max_points=200_000):
    """Winding number of ``f`` along the closed polygon ``corners`` (adaptive: segments whose phase turns by more
    than 0.5 rad are halved)."""
    pts = []
    for a, b in zip(corners, corners[1:] + corners[:1]):
        pts.append(a + (b - a) * np.linspace(0, 1, n0, endpoint=False))
    z = np.concatenate(pts)
    v = f(z)
    while True:
        if not np.all(np.isfinite(v)) or np.any(v == 0):
            raise RuntimeError("count_eigenvalues: the characteristic function is not finite or vanishes on the "
                               "contour; move the region's edges")
        dphi = np.angle(np.roll(v, -1) / v)
        bad = np.abs(dphi) > 0.5
        if not bad.any():
            break
        if z.size > max_points:
            raise RuntimeError("count_eigenvalues: the contour passes too close to a root (phase not resolved with "
                               f"{max_points} points); move the region's edges")
        idx = np.nonzero(bad)[0]
        mid = 0.5 * (z[idx] + np.roll(z, -1)[idx])
        fm = f(mid)
        z = np.insert(z, idx + 1, mid)
        v = np.insert(v, idx + 1, fm)
    w = np.sum(dphi) / (2 * np.pi)
    return int(round(w)), abs(w - round(w))


def _real_roots(f, re_min, re_max, scale, *, n=4000):
    """Roots of the (real on the real axis) characteristic function on [re_min, re_max], by bracketing; sign
    changes through a pole are rejected."""
    from scipy.optimize import brentq

    x = np.linspace(re_min, re_max, n)
    v = f(x.astype(complex)).real
    roots = []
    for i in np.nonzero(np.sign(v[:-1]) * np.sign(v[1:]) < 0)[0]:
        g = lambda s: float(f(np.array([s + 0j]))[0].real)  # noqa: E731
        r = brentq(g, x[i], x[i + 1], xtol=1e-15 * max(1.0, abs(x[i])), rtol=1e-15, maxiter=200)
        # a pole or a branch cut (f not real there): |f| not small at the sign change of its real part
        if abs(f(np.array([r + 0j]))[0]) <= 1e-8 * max(abs(v[i]), abs(v[i + 1]), 1e-300):
            roots.append(r)
    return np.array(roots)


def count_eigenvalues(model: AbstractRenewal, region=None) -> int:
    r"""Number of eigenvalues in the rectangle ``region = (re_min, re_max, im_max)`` (s⁻¹) of the whole complex plane
    (:math:`|\mathrm{Im}\,\lambda| \le` ``im_max``), :math:`\lambda_0 = 0` included: twice the winding number of
    the model's ``characteristic`` along the upper half rectangle (:math:`\mathrm{Im}\,\lambda \ge 10^{-7}` ``im_max``;
    it is analytic there for every model of :mod:`~jaxpop.analysis.renewal`: poles and branch cuts lie on the real
    axis) plus the real roots found by bracketing, plus one."""
    re_min, re_max, im_max = _check_region(model, region)
    f = _evaluator(model)
    eps = 1e-7 * im_max
    corners = [complex(re_min, eps), complex(re_max, eps), complex(re_max, im_max), complex(re_min, im_max)]
    upper, _ = _winding(f, corners)
    real = _real_roots(f, re_min, re_max, abs(re_min))
    return 1 + 2 * upper + real.size


def find_eigenvalues(model: AbstractRenewal, region=None, *, guesses=None, grid: int = 12) -> Spectrum:
    r"""All eigenvalues of ``model`` in ``region = (re_min, re_max, im_max)`` (s⁻¹; default: re ≥ −40π² r_0,
    im ≤ 21π r_0, re ≤ 0.05 r_0), to machine precision.

    Newton's method on the model's ``characteristic`` from the closed form (where the model has one), the Gaussian-ISI
    approximation, ``guesses`` (s⁻¹) and then ever finer grids of starts (``grid`` × ``grid``, doubled up to
    three times) until the roots found match :func:`count_eigenvalues`; raises ``RuntimeError`` if they never
    do, and ``ValueError`` naming ``region`` if it holds no eigenvalue besides :math:`\lambda_0 = 0`."""
    re_min, re_max, im_max = _check_region(model, region)
    region = (re_min, re_max, im_max)
    count = count_eigenvalues(model, region)
    if count == 1:
        raise ValueError(f"region={region!r} (s^-1) holds no eigenvalue of {type(model).__name__} besides lambda_0 = 0; "
                         f"enlarge it (the rate is {float(model.rate()):.4g} Hz: modes lie near Im lambda = 2 pi r n)")
    f, df = _evaluator(model), _derivative(model)
    scale = max(abs(re_min), im_max) / 4
    eps = 1e-7 * im_max
    inside = lambda z: (z.real >= re_min) & (z.real <= re_max) & (z.imag > eps) & (z.imag <= im_max)  # noqa: E731
    real = _real_roots(f, re_min, re_max, abs(re_min))
    n_upper = (count - 1 - real.size) // 2
    starts = []
    try:
        starts.append(np.asarray(model.closed_form_eigenvalues(np.arange(1, 4 * n_upper + 8)), dtype=complex))
    except (NotImplementedError, ValueError):
        pass
    r, cv = float(model.rate()), float(model.cv())
    starts.append(np.conj(gaussian_isi_eigenvalues(r, cv, np.arange(1, 2 * n_upper + 8))))  # n > 0: Im < 0
    if guesses is not None:
        starts.append(np.asarray(guesses, dtype=complex).ravel())
    found = np.zeros(0, complex)
    g = grid
    for attempt in range(5):
        z = np.concatenate(starts) if starts else np.zeros(0, complex)
        z = z[np.isfinite(z)]
        roots, ok = _newton(f, df, z, scale)
        with np.errstate(all="ignore"):
            resid = np.abs(f(roots)) if roots.size else np.zeros(0)
        keep = ok & inside(roots) & (resid <= 1e-9 * np.abs(f(np.array([0j]))[0]))
        found = _unique(np.concatenate([found, roots[keep]]), scale)
        if found.size >= n_upper:
            break
        xs, ys = np.linspace(re_min, re_max, g), np.linspace(eps + (im_max - eps) / (2 * g), im_max, g)
        starts = [(xs[None, :] + 1j * ys[:, None]).ravel()]
        g *= 2
    if found.size != n_upper:
        raise RuntimeError(f"find_eigenvalues: found {found.size} eigenvalues with Im > 0 in region={region!r}, "
                           f"the argument principle counts {n_upper}; pass guesses= or change the region")
    lam = np.concatenate([[0j], found, real.astype(complex)])
    lam = lam[np.argsort(-lam.real, kind="stable")]
    return Spectrum(lam, count, region)


def _unique(z, scale):
    out = []
    for v in z:
        if all(abs(v - u) > 1e-9 * max(abs(v), scale * 1e-3) for u in out):
            out.append(v)
    return np.array(out, dtype=complex)


def eigenvalue(model: AbstractRenewal, guess, *, iterations: int = 30):
    r"""The eigenvalue :math:`\lambda` (s⁻¹) nearest ``guess`` by ``iterations`` Newton steps on the model's
    ``characteristic`` :math:`c(\lambda)` (:math:`S_L` up to a factor without zeros),
    traceable (jit / vmap) and differentiable with respect to every parameter of ``model`` by implicit
    differentiation: the Newton iterates carry no gradient; the result is one more Newton step from the converged
    root :math:`\lambda_*`, :math:`\lambda_* - c(\lambda_*; \theta)/\partial_\lambda c`, whose derivative is
    exactly :math:`-\partial_\theta c/\partial_\lambda c` because :math:`c(\lambda_*) = 0`. Not for host-only
    models. A guess from :func:`find_eigenvalues` or a closed form converges in a few steps."""
    if model.host_only:
        raise TypeError(f"eigenvalue: {type(model).__name__} is evaluated on the host (mpmath) and cannot be "
                        "traced; use find_eigenvalues")
    frozen = jax.lax.stop_gradient(model)

    def d(m, lam):
        return jax.jvp(lambda x: m.characteristic(x), (lam,), (jnp.ones_like(lam),))

    def body(lam, _):
        val, slope = d(frozen, lam)
        return lam - val / slope, None

    lam0 = jax.lax.stop_gradient(jnp.asarray(guess, dtype=complex))
    lam, _ = jax.lax.scan(body, lam0, None, length=iterations)
    lam = jax.lax.stop_gradient(lam)
    _, slope = d(frozen, lam)
    return lam - model.characteristic(lam) / slope


def mode_weight(model: AbstractRenewal, lam):
    r""":math:`F_n = -1/P_L'(\lambda_n)` (Hz) at eigenvalues ``lam`` (s⁻¹); :math:`F_0 = r_0`. Traceable for JAX
    models."""
    if model.host_only:
        return -1.0 / _derivative(model, "laplace_isi")(lam)
    lam = jnp.asarray(lam, dtype=complex)
    return -1.0 / jax.jvp(lambda x: model.laplace_isi(x), (lam,), (jnp.ones_like(lam),))[1]


def eigenfunction(model: AbstractRenewal, lam, tau):
    r""":math:`\phi_n(\tau) = F_n S(\tau)e^{-\lambda_n\tau}` (Hz) at ages ``tau`` (ms) for the eigenvalue ``lam``
    (s⁻¹; a scalar)."""
    tau = jnp.asarray(tau)
    return mode_weight(model, lam) * model.survivor(tau) * jnp.exp(-jnp.asarray(lam, dtype=complex) * tau * _MS)


def adjoint_eigenfunction(model: AbstractRenewal, lam, tau):
    r""":math:`\psi_n(\tau) = e^{\lambda_n\tau}S(\tau)^{-1}\int_\tau^\infty P(s)e^{-\lambda_n s}ds` at the ages
    ``tau`` (ms; increasing, starting at 0, fine enough for the trapezoidal rule) for the eigenvalue ``lam``
    (s⁻¹): the tail form of the module docs' definition (equal to it where :math:`P_L(\lambda_n) = 1`), with the
    tail beyond the last age taken from :math:`P_L`. :math:`\psi_n(0) = 1`."""
    tau = jnp.asarray(tau)
    lam = jnp.asarray(lam, dtype=complex)
    g = model.isi_density(tau) * jnp.exp(-lam * tau * _MS)
    seg = 0.5 * (g[1:] + g[:-1]) * jnp.diff(tau) * _MS
    beyond = model.laplace_isi(lam) - jnp.sum(seg)  # the tail beyond the last age
    # summed from the end: no cancellation where the tail is small (large ages, where 1/S amplifies errors)
    tail = beyond + jnp.concatenate([jnp.cumsum(seg[::-1])[::-1], jnp.zeros(1, complex)])
    return jnp.exp(lam * tau * _MS) * tail / model.survivor(tau)


def gaussian_isi_eigenvalues(rate, cv, n):
    r"""Second-cumulant (Gaussian-ISI) approximation of the eigenvalues (s⁻¹) for mode indices ``n``:
    :math:`\ln P_L \approx -\kappa_1\lambda + \kappa_2\lambda^2/2` with :math:`\kappa_1 = 1/r_0`,
    :math:`\kappa_2 = C_V^2/r_0^2`, so :math:`\lambda_n = (\kappa_1/\kappa_2)\big(1 - \sqrt{1 + 4\pi i n\,\kappa_2/\kappa_1^2}\big)
    \approx -r_0(2\pi^2C_V^2n^2 - 2\pi i n)` (the root with :math:`\mathrm{Re}\,\lambda \le 0`)."""
    n = np.asarray(n, dtype=float)
    k1, k2 = 1.0 / rate, (cv / rate) ** 2
    return (k1 / k2) * (1 - np.sqrt(1 + 4j * np.pi * n * k2 / k1**2))
