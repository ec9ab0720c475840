r"""Renewal neuron models for constant input: hazard, ISI density, survivor function, Laplace transforms,
stationary rate and CV (the lecture's part 4; Pietras, Gallice & Schwalger 2020).

A renewal neuron fires with the hazard :math:`\rho(\tau)` at age :math:`\tau` (time since its last spike). With
:math:`S(\tau) = \exp[-\int_0^\tau \rho]` the survivor function and :math:`P = \rho S = -S'` the ISI density,

.. math::

    P_L(\lambda) = \int_0^\infty P(\tau)\,e^{-\lambda\tau}\,d\tau, \qquad
    S_L(\lambda) = \int_0^\infty S(\tau)\,e^{-\lambda\tau}\,d\tau = \frac{1 - P_L(\lambda)}{\lambda},

    r_0 = F_0 = 1/S_L(0) = 1/\langle T\rangle, \qquad C_V^2 = \mathrm{Var}\,T/\langle T\rangle^2 .

The eigenvalues of the refractory-density operator are the roots of :math:`P_L(\lambda) = 1`; apart from
:math:`\lambda_0 = 0` they are the roots of :math:`S_L(\lambda) = 0` (:mod:`jaxpop.analysis.eigenvalues`).

Models (final ``eqx.Module`` s; every real field sweepable and differentiable, except where noted):

* :class:`PAR` — Poisson neuron with absolute refractoriness, :math:`\rho = \nu\,\Theta(\tau - \Delta)`;
* :class:`GammaRenewal` — Gamma-distributed ISIs of rate :math:`r` and shape :math:`\alpha` (:math:`C_V = 1/\sqrt\alpha`);
* :class:`PIF` — perfect integrate-and-fire with white noise (inverse-Gaussian ISIs), optional dead time;
* :class:`EscapeLIF` — the lecture's LIF with escape noise, the GIF hazard of :class:`jaxpop.meso.SchwalgerMeso`
  (:math:`\rho = c\,e^{(u(\tau) - u_{th})/\Delta_u}` after the refractory period), Laplace transforms by quadrature;
* :class:`LIFWhiteNoise` — LIF driven by Gaussian white noise; :math:`P_L` through parabolic cylinder functions of
  complex order, evaluated on the host with ``mpmath`` (no JAX form: not traceable, not differentiable).

Units: ages :math:`\tau` in ms; hazard, ISI density and rate in Hz (per second); the Laplace variable
:math:`\lambda` in s⁻¹ (so :math:`\mathrm{Im}\,\lambda/2\pi` is in Hz); :math:`S_L` in s.

References: B. Pietras, N. Gallice, T. Schwalger, *Low-dimensional firing-rate dynamics for populations of
renewal-type spiking neurons*, Phys. Rev. E 102, 022407 (2020), doi:10.1103/PhysRevE.102.022407;
B. Lindner, L. Schimansky-Geier, A. Longtin, Phys. Rev. E 66, 031916 (2002) (LIF white-noise ISI transform);
A. J. F. Siegert, Phys. Rev. 81, 617 (1951); N. Brunel, J. Comput. Neurosci. 8, 183 (2000) (LIF rate and CV).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.model import check_positive, is_concrete

_MS = 1e-3  # seconds per ms


class AbstractRenewal(eqx.Module):
    """Interface of a renewal model (module docs). Subclasses define :meth:`hazard`, :meth:`survivor`,
    :meth:`laplace_isi` and :meth:`rate`; the rest follows."""

    host_only: ClassVar[bool] = False  # True: evaluated with mpmath on the host (not traceable)

    def hazard(self, tau):
        """:math:`\\rho(\\tau)` (Hz) at ages ``tau`` (ms)."""
        raise NotImplementedError

    def survivor(self, tau):
        """:math:`S(\\tau)` at ages ``tau`` (ms)."""
        raise NotImplementedError

    def isi_density(self, tau):
        """:math:`P(\\tau) = \\rho(\\tau) S(\\tau)` (Hz) at ages ``tau`` (ms)."""
        return self.hazard(tau) * self.survivor(tau)

    def laplace_isi(self, lam):
        """:math:`P_L(\\lambda)` at complex ``lam`` (s⁻¹)."""
        raise NotImplementedError

    def laplace_survivor(self, lam):
        """:math:`S_L(\\lambda) = [1 - P_L(\\lambda)]/\\lambda` (s) at complex ``lam`` (s⁻¹); :math:`\\langle T\\rangle`
        at 0."""
        lam = jnp.asarray(lam, dtype=complex)
        small = jnp.abs(lam) == 0
        safe = jnp.where(small, 1.0, lam)
        return jnp.where(small, self.mean_isi() * _MS, (1 - self.laplace_isi(safe)) / safe)

    def re_lambda_min(self):
        """Left edge (s⁻¹) of the half plane where :meth:`laplace_isi` is computed faithfully (``-inf``: everywhere)."""
        return -np.inf

    def characteristic(self, lam):
        """A function analytic in the closed upper half plane whose zeros are the eigenvalues other than
        :math:`\\lambda_0 = 0` (what :mod:`~jaxpop.analysis.eigenvalues` solves and counts): :math:`S_L(\\lambda)`
        times a factor without zeros that cancels its poles on the real axis (none by default)."""
        return self.laplace_survivor(lam)

    def rate(self):
        """Stationary rate :math:`r_0 = 1/\\langle T\\rangle` (Hz)."""
        raise NotImplementedError

    def dead_time(self):
        """Absolute refractory period (ms): the hazard vanishes for :math:`\\tau <` this age (0 by default)."""
        return jnp.zeros(())

    def asymptotic_hazard(self):
        """:math:`\\rho_\\infty = \\lim_{\\tau\\to\\infty}\\rho(\\tau)` (Hz): the hazard of neurons older than the
        age window of :class:`jaxpop.meso.RefractoryDensity`."""
        raise NotImplementedError(f"{type(self).__name__} has no asymptotic hazard")

    def mean_isi(self):
        """:math:`\\langle T\\rangle` (ms)."""
        return 1.0 / (self.rate() * _MS)

    def cv(self):
        """Coefficient of variation of the ISI."""
        raise NotImplementedError

    def closed_form_eigenvalues(self, n):
        """Eigenvalues :math:`\\lambda_n` (s⁻¹) for integer mode indices ``n`` from a closed form; raises
        ``NotImplementedError`` for models without one."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form eigenvalues; use "
                                  "jaxpop.analysis.eigenvalues.find_eigenvalues")


def _positive(name, value, *, strict=True, owner=""):
    check_positive(f"{owner}: {name}" if owner else name, value, strict=strict)
    return jnp.asarray(value, dtype=float)


class PAR(AbstractRenewal):
    r"""Poisson neuron with absolute refractoriness (dead time): :math:`\rho(\tau) = \nu\,\Theta(\tau - \Delta)`.

    .. math::

        P(\tau) = \nu e^{-\nu(\tau-\Delta)}\Theta(\tau - \Delta), \quad P_L(\lambda) = \frac{\nu e^{-\lambda\Delta}}{\nu + \lambda},
        \quad r_0 = \frac{\nu}{1 + \nu\Delta}, \quad C_V = \frac{1}{1 + \nu\Delta},

        \lambda_n = \frac{1}{\Delta} W_n\!\big(\nu\Delta\,e^{\nu\Delta}\big) - \nu

    over the branches :math:`W_n` of the Lambert W function (:math:`W_0` gives :math:`\lambda_0 = 0`).

    Parameters
    ----------
    nu : float
        Hazard after the dead time :math:`\nu` (Hz), > 0.
    Delta : float
        Absolute refractory period :math:`\Delta` (ms), > 0 (the eigenvalue closed form needs :math:`\Delta > 0`).
    """

    nu: jax.Array
    Delta: jax.Array

    def __init__(self, nu, Delta):
        self.nu = _positive("nu", nu, owner="PAR")
        self.Delta = _positive("Delta", Delta, owner="PAR")

    def hazard(self, tau):
        return jnp.where(jnp.asarray(tau) >= self.Delta, self.nu, 0.0)

    def survivor(self, tau):
        return jnp.exp(-self.nu * _MS * jnp.maximum(jnp.asarray(tau) - self.Delta, 0.0))

    def laplace_isi(self, lam):
        lam = jnp.asarray(lam, dtype=complex)
        return self.nu * jnp.exp(-lam * self.Delta * _MS) / (self.nu + lam)

    def characteristic(self, lam):
        """:math:`S_L(\\lambda)(\\nu + \\lambda)/\\nu = [\\nu + \\lambda - \\nu e^{-\\lambda\\Delta}]/(\\nu\\lambda)`, entire."""
        lam = jnp.asarray(lam, dtype=complex)
        return self.laplace_survivor(lam) * (self.nu + lam) / self.nu

    def rate(self):
        return self.nu / (1 + self.nu * self.Delta * _MS)

    def dead_time(self):
        return self.Delta

    def asymptotic_hazard(self):
        return self.nu

    def cv(self):
        return 1 / (1 + self.nu * self.Delta * _MS)

    def closed_form_eigenvalues(self, n):
        """:math:`\\lambda_n` (s⁻¹) for branch indices ``n`` (host: scipy's Lambert W; for gradients use
        :func:`jaxpop.analysis.eigenvalues.eigenvalue`, whose implicit derivative holds for every model)."""
        from scipy.special import lambertw

        nu, D = float(self.nu), float(self.Delta) * _MS
        x = nu * D
        n = np.asarray(n)
        return np.array([lambertw(x * math.exp(x), k=int(k)) / D - nu for k in n.ravel()]).reshape(n.shape)


class GammaRenewal(AbstractRenewal):
    r"""Renewal process with Gamma-distributed ISIs: :math:`P(\tau) = \beta^\alpha\tau^{\alpha-1}e^{-\beta\tau}/\Gamma(\alpha)`,
    :math:`\beta = \alpha r`.

    .. math::

        P_L(\lambda) = \Big(\frac{\beta}{\beta + \lambda}\Big)^{\alpha}, \qquad C_V = \alpha^{-1/2}, \qquad
        \lambda_n = \beta\big(e^{2\pi i n/\alpha} - 1\big),\ n = 0, \dots, \alpha - 1 \ (\alpha \text{ integer}).

    For integer :math:`\alpha` the spectrum is finite. The hazard is :math:`P/S` with the regularised upper
    incomplete Gamma function as :math:`S`.

    Parameters
    ----------
    rate : float
        Stationary rate :math:`r` (Hz), > 0.
    shape : float
        Shape :math:`\alpha` > 0 (the closed-form spectrum needs an integer; any positive value elsewhere).
    """

    rate_hz: jax.Array
    shape: jax.Array

    def __init__(self, rate, shape):
        self.rate_hz = _positive("rate", rate, owner="GammaRenewal")
        self.shape = _positive("shape", shape, owner="GammaRenewal")

    @property
    def beta(self):
        """:math:`\\beta = \\alpha r` (Hz)."""
        return self.shape * self.rate_hz

    def survivor(self, tau):
        return jax.scipy.special.gammaincc(self.shape, self.beta * _MS * jnp.asarray(tau))

    def isi_density(self, tau):
        x = self.beta * _MS * jnp.asarray(tau)
        a = self.shape
        pos = x > 0
        xs = jnp.where(pos, x, 1.0)  # log(0) would poison derivatives at tau = 0
        p = self.beta * jnp.exp((a - 1) * jnp.log(xs) - xs - jax.scipy.special.gammaln(a))
        at0 = jnp.where(a == 1, self.beta, jnp.where(a < 1, jnp.inf, 0.0))
        return jnp.where(pos, p, at0)

    def hazard(self, tau):
        # P / S; where S has underflowed (beta tau >~ 700, a survival below 1e-280) the limit beta
        S = self.survivor(tau)
        ok = S > 1e-280
        return jnp.where(ok, self.isi_density(tau) / jnp.where(ok, S, 1.0), self.beta)

    def asymptotic_hazard(self):
        return self.beta

    def laplace_isi(self, lam):
        lam = jnp.asarray(lam, dtype=complex)
        return jnp.exp(self.shape * jnp.log(self.beta / (self.beta + lam)))

    def characteristic(self, lam):
        """:math:`S_L(\\lambda)\\,[(\\beta + \\lambda)/\\beta]^\\alpha` (for integer :math:`\\alpha` a polynomial over
        :math:`\\lambda`; no pole at :math:`-\\beta`)."""
        lam = jnp.asarray(lam, dtype=complex)
        return self.laplace_survivor(lam) * jnp.exp(self.shape * jnp.log((self.beta + lam) / self.beta))

    def rate(self):
        return self.rate_hz

    def cv(self):
        return 1 / jnp.sqrt(self.shape)

    def closed_form_eigenvalues(self, n):
        a = float(self.shape)
        if a != round(a):
            raise ValueError(f"GammaRenewal: the closed-form spectrum needs an integer shape, got shape={a!r}")
        n = np.asarray(n)
        return float(self.beta) * (np.exp(2j * np.pi * n / round(a)) - 1)


class PIF(AbstractRenewal):
    r"""Perfect integrate-and-fire neuron with white noise, :math:`\dot v = \mu + \sqrt{2D}\,\xi(t)`, reset at
    distance ``V_th`` below threshold, optional dead time :math:`t_{ref}`: inverse-Gaussian ISIs shifted by
    :math:`t_{ref}`.

    .. math::

        P_L(\lambda) = e^{-\lambda t_{ref}} \exp\Big\{\frac{a}{2D}\big[\mu - \sqrt{\mu^2 + 4D\lambda}\big]\Big\},
        \quad \langle T\rangle = t_{ref} + \frac{a}{\mu}, \quad \mathrm{Var}\,T = \frac{2Da}{\mu^3},

        \lambda_n = -\frac{4\pi^2 D}{a^2} n^2 + 2\pi i \frac{\mu}{a} n \quad (t_{ref} = 0,\ n \in \mathbb{Z}),

    with :math:`a` = ``V_th``; for :math:`t_{ref} = 0`, :math:`\lambda_n = -2\pi^2 r C_V^2 n^2 + 2\pi i r n`.

    Parameters
    ----------
    mu : float
        Drift :math:`\mu` (mV/ms), > 0.
    D : float
        Noise intensity :math:`D` (mV²/ms), > 0.
    V_th : float
        Reset-to-threshold distance :math:`a` (mV), > 0.
    t_ref : float
        Dead time (ms), >= 0.
    """

    mu: jax.Array
    D: jax.Array
    V_th: jax.Array
    t_ref: jax.Array

    def __init__(self, mu, D, V_th=10.0, t_ref=0.0):
        self.mu = _positive("mu", mu, owner="PIF")
        self.D = _positive("D", D, owner="PIF")
        self.V_th = _positive("V_th", V_th, owner="PIF")
        self.t_ref = _positive("t_ref", t_ref, strict=False, owner="PIF")

    @classmethod
    def from_rate_cv(cls, rate, cv, *, V_th=10.0):
        """The PIF without dead time of stationary rate ``rate`` (Hz) and ISI CV ``cv``: :math:`\\mu = a r`,
        :math:`D = C_V^2 \\mu a / 2`."""
        check_positive("PIF.from_rate_cv: rate", rate)
        check_positive("PIF.from_rate_cv: cv", cv)
        mu = V_th * rate * _MS
        return cls(mu, cv**2 * mu * V_th / 2, V_th=V_th)

    def isi_density(self, tau):
        t = jnp.asarray(tau) - self.t_ref
        ok = t > 0
        t = jnp.where(ok, t, 1.0)
        a, mu, D = self.V_th, self.mu, self.D
        p = a / jnp.sqrt(4 * jnp.pi * D * t**3) * jnp.exp(-((a - mu * t) ** 2) / (4 * D * t))  # per ms
        return jnp.where(ok, p / _MS, 0.0)

    def survivor(self, tau):
        t = jnp.asarray(tau) - self.t_ref
        ok = t > 0
        t = jnp.where(ok, t, 1.0)
        a, mu, D = self.V_th, self.mu, self.D
        s = jnp.sqrt(2 * D * t)
        logPhi = jax.scipy.stats.norm.logcdf
        # 1 - inverse-Gaussian CDF = Phi((a - mu t)/s) - e^{a mu/D} Phi(-(mu t + a)/s), both terms through log Phi
        # (no cancellation against 1 in the tail, no overflow of e^{a mu / D})
        S = jnp.exp(logPhi((a - mu * t) / s)) - jnp.exp(a * mu / D + logPhi(-(mu * t + a) / s))
        return jnp.where(ok, jnp.maximum(S, 0.0), 1.0)

    def hazard(self, tau):
        # P / S; where S has underflowed (a survival below 1e-280) the limit mu^2 / (4 D)
        S = self.survivor(tau)
        ok = S > 1e-280
        return jnp.where(ok, self.isi_density(tau) / jnp.where(ok, S, 1.0), self.asymptotic_hazard())

    def dead_time(self):
        return self.t_ref

    def asymptotic_hazard(self):
        """:math:`\\mu^2/(4D)` (Hz)."""
        return self.mu**2 / (4 * self.D) / _MS

    def laplace_isi(self, lam):
        lam_ms = jnp.asarray(lam, dtype=complex) * _MS
        a, mu, D = self.V_th, self.mu, self.D
        return jnp.exp(-lam_ms * self.t_ref + a / (2 * D) * (mu - jnp.sqrt(mu**2 + 4 * D * lam_ms)))

    def rate(self):
        return 1 / (self.mean_isi() * _MS)

    def mean_isi(self):
        return self.t_ref + self.V_th / self.mu

    def cv(self):
        return jnp.sqrt(2 * self.D * self.V_th / self.mu**3) / self.mean_isi()

    def closed_form_eigenvalues(self, n):
        if is_concrete(self.t_ref) and float(self.t_ref) != 0.0:
            raise ValueError(f"PIF: the closed-form spectrum needs t_ref = 0, got t_ref={float(self.t_ref)!r}; "
                             "use jaxpop.analysis.eigenvalues.find_eigenvalues")
        n = np.asarray(n)
        a, mu, D = float(self.V_th), float(self.mu), float(self.D)
        return (-4 * np.pi**2 * D / a**2 * n**2 + 2j * np.pi * mu / a * n) / _MS


def _simpson_weights(n: int, h: float) -> np.ndarray:
    """Composite Simpson weights on ``n`` (odd) equally spaced nodes of spacing ``h``."""
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * h / 3


def _ei(z):
    r"""Exponential integral :math:`\mathrm{Ei}(z)`, :math:`z \ne 0`, traceable and differentiable. For
    :math:`z < 0`, :math:`\mathrm{Ei}(z) = -E_1(-z)`: the power series up to :math:`|z| = 2`, beyond it the
    continued fraction :math:`E_1(y) = e^{-y}/(y + 1 - 1^2/(y + 3 - 2^2/(y + 5 - \dots)))` (60 terms, evaluated
    backwards); for :math:`z > 0` the power series (positive terms). JAX's ``expi`` is slow near 0 and does not
    terminate at 0; the result is exact to ~1e-15 relative."""
    z = jnp.asarray(z, dtype=float)
    a = jnp.abs(z)
    use_series = (a <= 2.0) | (z > 0)
    zs = jnp.where(use_series, z, 1.0)
    k = jnp.arange(1, 121, dtype=float).reshape((-1,) + (1,) * z.ndim)
    terms = jnp.exp(k * jnp.log(jnp.abs(zs)) - jax.scipy.special.gammaln(k + 1)) / k
    signs = jnp.where(zs < 0, (-1.0) ** k, 1.0)
    series = np.euler_gamma + jnp.log(jnp.abs(zs)) + jnp.sum(signs * terms, axis=0)
    y = jnp.where(use_series, 3.0, a)
    cf = jnp.zeros_like(y)
    for n in range(60, 0, -1):
        cf = n**2 / (y + 2 * n + 1 - cf)
    e1 = jnp.exp(-y) / (y + 1 - cf)
    return jnp.where(use_series, series, -e1)


class EscapeLIF(AbstractRenewal):
    r"""LIF neuron with escape noise for constant input, the hazard of :class:`jaxpop.meso.SchwalgerMeso` without
    adaptation: after the refractory period :math:`t_{ref}` the membrane relaxes from the reset,
    :math:`u(\tau) = \mu + (u_r - \mu)e^{-(\tau - t_{ref})/\tau_m}`, and

    .. math::

        \rho(\tau) = c\,e^{(u(\tau) - u_{th})/\Delta_u}\,\Theta(\tau - t_{ref}), \qquad
        \int_{t_{ref}}^{\tau}\rho = c\,e^{(\mu - u_{th})/\Delta_u}\,\tau_m\big[\mathrm{Ei}(b) - \mathrm{Ei}(b\,e^{-(\tau - t_{ref})/\tau_m})\big],
        \ b = \frac{u_r - \mu}{\Delta_u}

    (exact survivor function). :math:`S_L(\lambda) = (1 - e^{-\lambda t_{ref}})/\lambda + \int_{t_{ref}}^{\tau_{max}} S e^{-\lambda\tau}`
    by composite Simpson quadrature on ``n_grid`` nodes plus the tail beyond ``tau_max`` (default: the age where
    :math:`S < 10^{-30}`) in closed form with the settled hazard :math:`\rho_\infty = c\,e^{(\mu - u_{th})/\Delta_u}`,
    :math:`S(\tau_{max})e^{-\lambda\tau_{max}}/(\rho_\infty + \lambda)`; :math:`P_L = 1 - \lambda S_L`, so
    :math:`P_L(0) = 1` exactly and :math:`F_0 = 1/S_L(0)`. Faithful for :math:`\mathrm{Re}\,\lambda > -\rho_\infty`.

    Parameters (NEST / :class:`jaxpop.core.gif_params.GIFParams` names)
    ----------
    mu : drive :math:`\mu` (mV). tau_m : membrane time constant (ms), > 0. t_ref : refractory period (ms), >= 0.
    lambda_0 : rate at threshold :math:`c` (Hz), > 0. Delta_V : softness :math:`\Delta_u` (mV), > 0.
    V_T_star : threshold :math:`u_{th}` (mV). V_reset : reset :math:`u_r` (mV).
    tau_max : float (ms), static. n_grid : int (odd), static — the quadrature grid on :math:`[t_{ref}, \tau_{max}]`.
    """

    mu: jax.Array
    tau_m: jax.Array
    t_ref: jax.Array
    lambda_0: jax.Array
    Delta_V: jax.Array
    V_T_star: jax.Array
    V_reset: jax.Array
    tau_max: float = eqx.field(static=True)
    n_grid: int = eqx.field(static=True)

    def __init__(self, mu=24.0, *, tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=2.5, V_T_star=15.0, V_reset=0.0,
                 tau_max=None, n_grid=None):
        self.mu = jnp.asarray(mu, dtype=float)
        self.tau_m = _positive("tau_m", tau_m, owner="EscapeLIF")
        self.t_ref = _positive("t_ref", t_ref, strict=False, owner="EscapeLIF")
        self.lambda_0 = _positive("lambda_0", lambda_0, owner="EscapeLIF")
        self.Delta_V = _positive("Delta_V", Delta_V, owner="EscapeLIF")
        self.V_T_star = jnp.asarray(V_T_star, dtype=float)
        self.V_reset = jnp.asarray(V_reset, dtype=float)
        if tau_max is None:
            if not is_concrete(mu, tau_m, t_ref, lambda_0, Delta_V, V_T_star, V_reset):
                raise ValueError("EscapeLIF: tau_max is computed from concrete parameter values (it sets the "
                                 "quadrature grid); with traced parameters pass tau_max= (ms)")
            ages = float(self.t_ref) + np.geomspace(1e-3, 1e6, 4000)
            S = np.asarray(self.survivor(ages))
            if not np.any(S < 1e-30):
                raise ValueError("EscapeLIF: the survivor function does not fall below 1e-30 within 1e6 ms "
                                 f"(rate too low: mu={float(self.mu)!r}, V_T_star={float(self.V_T_star)!r}); "
                                 "pass tau_max= explicitly")
            tau_max = float(ages[np.argmax(S < 1e-30)])
        check_positive("EscapeLIF: tau_max", tau_max)
        self.tau_max = float(tau_max)
        if n_grid is None:
            n_grid = 2 * int(np.ceil((self.tau_max - float(self.t_ref)) / 0.005 / 2)) + 1  # spacing <= 5 us
        if int(n_grid) < 3 or int(n_grid) % 2 == 0:
            raise ValueError(f"EscapeLIF: n_grid must be an odd integer >= 3 (Simpson's rule), got n_grid={n_grid!r}")
        self.n_grid = int(n_grid)

    @classmethod
    def from_gif(cls, params, population: int = 0, **kwargs):
        """The renewal model of population ``population`` of a :class:`~jaxpop.core.gif_params.GIFParams` without
        adaptation (its adaptation kernels are ignored: raise if any is non-zero)."""
        q = np.asarray(params.q_sfa)[population] if is_concrete(params.q_sfa) else None
        if q is not None and np.any(q != 0):
            raise ValueError(f"EscapeLIF.from_gif: population {population} has adaptation (q_sfa={q.tolist()!r}); "
                             "a renewal model has none")
        return cls(params.mu[population], tau_m=params.tau_m[population], t_ref=params.t_ref[population],
                   lambda_0=params.lambda_0[population], Delta_V=params.Delta_V[population],
                   V_T_star=params.V_T_star[population], V_reset=params.V_reset[population], **kwargs)

    def membrane(self, tau):
        """:math:`u(\\tau)` (mV); :math:`u_r` during the refractory period."""
        s = jnp.maximum(jnp.asarray(tau) - self.t_ref, 0.0)
        return self.mu + (self.V_reset - self.mu) * jnp.exp(-s / self.tau_m)

    def hazard(self, tau):
        tau = jnp.asarray(tau)
        rho = self.lambda_0 * jnp.exp((self.membrane(tau) - self.V_T_star) / self.Delta_V)
        return jnp.where(tau >= self.t_ref, rho, 0.0)

    def cumulative_hazard(self, tau):
        """:math:`\\int_0^\\tau \\rho` (dimensionless), exact (module docs)."""
        s = jnp.maximum(jnp.asarray(tau) - self.t_ref, 0.0)
        b = (self.V_reset - self.mu) / self.Delta_V
        c = self.lambda_0 * jnp.exp((self.mu - self.V_T_star) / self.Delta_V) * _MS
        x = jnp.minimum(s / self.tau_m, 600.0)  # beyond 600 tau_m, S has long underflowed
        tiny = jnp.abs(b) < 1e-8
        b_safe = jnp.where(tiny, -1.0, b)
        exact = _ei(b_safe) - _ei(b_safe * jnp.exp(-x))
        # b -> 0 (reset at mu): Ei(b) - Ei(b e^{-x}) -> x + b (1 - e^{-x})
        return c * self.tau_m * jnp.where(tiny, x + b * (1 - jnp.exp(-x)), exact)

    def survivor(self, tau):
        return jnp.exp(-self.cumulative_hazard(tau))

    def _grid(self):
        tau = jnp.linspace(self.t_ref, self.tau_max, self.n_grid)
        w = jnp.asarray(_simpson_weights(self.n_grid, 1.0)) * (self.tau_max - self.t_ref) / (self.n_grid - 1)
        return tau, w

    def laplace_survivor(self, lam):
        lam = jnp.asarray(lam, dtype=complex)
        tau, w = self._grid()
        S = self.survivor(tau)
        lam_ms = lam * _MS
        shape = lam_ms.shape
        flat = lam_ms.reshape(-1)
        # beyond tau_max the membrane has settled (hazard rho_inf): the tail integral in closed form
        rho_inf = self.asymptotic_hazard() * _MS
        S_end = S[-1]

        def one(l):
            return jnp.sum(w * S * jnp.exp(-l * tau)) + S_end * jnp.exp(-l * self.tau_max) / (rho_inf + l)

        tail = jax.lax.map(one, flat, batch_size=64).reshape(shape)
        small = jnp.abs(lam_ms) < 1e-12
        safe = jnp.where(small, 1.0, lam_ms)
        head = jnp.where(small, self.t_ref, -jnp.expm1(-safe * self.t_ref) / safe)
        return (head + tail) * _MS

    def laplace_isi(self, lam):
        lam = jnp.asarray(lam, dtype=complex)
        return 1 - lam * self.laplace_survivor(lam)

    def asymptotic_hazard(self):
        """:math:`\\rho_\\infty = c\\,e^{(\\mu - u_{th})/\\Delta_u}` (Hz), the hazard once the membrane has settled."""
        return self.lambda_0 * jnp.exp((self.mu - self.V_T_star) / self.Delta_V)

    def dead_time(self):
        return self.t_ref

    def re_lambda_min(self):
        """:math:`-\\rho_\\infty` (s⁻¹): the transform's tail has its pole there."""
        return -float(self.asymptotic_hazard())

    def mean_isi(self):
        return jnp.real(self.laplace_survivor(0.0)) / _MS

    def rate(self):
        return 1 / (self.mean_isi() * _MS)

    def cv(self):
        # <T^2> = 2 int tau S(tau) dtau = -2 S_L'(0)
        tau, w = self._grid()
        second = self.t_ref**2 + 2 * jnp.sum(w * tau * self.survivor(tau))
        m = self.mean_isi()
        return jnp.sqrt(second - m**2) / m


class Linear(eqx.Module):
    r"""Affine input map :math:`x(h) = x_0 + g\,h`: the renewal parameter set by the input potential :math:`h` (mV).

    Parameters
    ----------
    gain : float
        :math:`g` (units of the parameter per mV; default 1: the parameter *is* :math:`h`, e.g. the membrane
        drive ``mu`` of :class:`EscapeLIF`).
    offset : float
        :math:`x_0` (units of the parameter; default 0).
    """

    gain: jax.Array
    offset: jax.Array

    def __init__(self, gain=1.0, offset=0.0):
        self.gain = jnp.asarray(gain, dtype=float)
        self.offset = jnp.asarray(offset, dtype=float)

    def __call__(self, h):
        return self.offset + self.gain * h


class Sigmoid(eqx.Module):
    r"""Sigmoidal transfer :math:`\nu(h) = \nu_{max}/(1 + e^{-(h - \theta)/\delta})` (Hz) of the input potential
    :math:`h` (mV): the hazard scale of :class:`PAR` in Pietras, Gallice & Schwalger (2020), Figs. 6–7.

    Parameters
    ----------
    nu_max : float
        Maximal rate :math:`\nu_{max}` (Hz), > 0.
    theta : float
        Half-activation potential :math:`\theta` (mV).
    delta : float
        Slope scale :math:`\delta` (mV), > 0.
    """

    nu_max: jax.Array
    theta: jax.Array
    delta: jax.Array

    def __init__(self, nu_max=100.0, theta=0.0, delta=1.0):
        self.nu_max = _positive("nu_max", nu_max, owner="Sigmoid")
        self.theta = jnp.asarray(theta, dtype=float)
        self.delta = _positive("delta", delta, owner="Sigmoid")

    def __call__(self, h):
        return self.nu_max * jax.nn.sigmoid((h - self.theta) / self.delta)


class RenewalFamily(eqx.Module):
    r"""A renewal model driven by an input potential :math:`h` (mV): the hazard :math:`\rho(\tau, h)` is that of
    ``renewal`` with its parameter ``field`` set to ``transfer(h)`` (the quasi-renewal picture of Pietras, Gallice
    & Schwalger 2020: the input enters the hazard through its present value).

    Examples: ``RenewalFamily(PAR(100., 15.), Sigmoid(100., 1., .5), 'nu')`` (PAR with
    :math:`\nu(h)` sigmoidal), ``RenewalFamily(EscapeLIF(...), Linear(), 'mu')`` (escape-noise LIF whose settled
    membrane potential is :math:`h`), ``RenewalFamily(PIF(...), Linear(1 / tau_m), 'mu')``.

    The value of ``field`` given with ``renewal`` is not used: the family holds the model without it (that field is
    ``None`` in ``family.renewal``; :meth:`at` fills it in).
    """

    renewal: AbstractRenewal
    transfer: eqx.Module
    field: str = eqx.field(static=True)

    def __init__(self, renewal, transfer=None, field: str | None = None):
        if not isinstance(renewal, AbstractRenewal):
            raise TypeError(f"renewal must be an AbstractRenewal model, got {type(renewal).__name__}")
        if renewal.host_only:
            raise ValueError(f"{type(renewal).__name__} is evaluated on the host (mpmath) and cannot drive a "
                             "population model; use a traceable renewal model")
        defaults = {EscapeLIF: "mu", PIF: "mu", PAR: "nu", GammaRenewal: "rate_hz"}
        if field is None:
            field = defaults.get(type(renewal))
        names = [f.name for f in dataclasses.fields(renewal) if isinstance(getattr(renewal, f.name), jax.Array)]
        if field not in names:
            raise ValueError(f"field must name a parameter of {type(renewal).__name__} that the input sets, one of "
                             f"{names}, got field={field!r}")
        self.renewal = _with_field(renewal, field, None)
        self.transfer = Linear() if transfer is None else transfer
        self.field = field

    def at(self, h) -> AbstractRenewal:
        """The renewal model at input ``h`` (mV)."""
        return _with_field(self.renewal, self.field, jnp.asarray(self.transfer(h), float))


def _with_field(module, name, value):
    """A copy of the (frozen) renewal ``module`` with field ``name`` set to ``value``, bypassing its constructor
    (whose validation needs concrete values; ``value`` may be traced or ``None``)."""
    new = object.__new__(type(module))
    for f in dataclasses.fields(module):
        object.__setattr__(new, f.name, getattr(module, f.name))
    object.__setattr__(new, name, value)
    return new


class LIFWhiteNoise(AbstractRenewal):
    r"""LIF neuron driven by Gaussian white noise, in units of the membrane time constant with reset 0 and
    threshold 1: :math:`\dot v = -v + \mu + \sqrt{2D}\,\xi(t)` (:math:`t` in units of :math:`\tau_m`), dead time
    :math:`t_{ref}`. With :math:`\mathcal D_\nu` the parabolic cylinder function and :math:`s = \lambda\tau_m`,

    .. math::

        P_L(\lambda) = e^{-\lambda t_{ref}}\, e^{(2\mu - 1)/(4D)}\,
        \frac{\mathcal D_{-s}\big(\mu/\sqrt D\big)}{\mathcal D_{-s}\big((\mu - 1)/\sqrt D\big)}

    (the exponent's sign fixed by :math:`P_L(0) = 1`). Rate (Siegert) and CV (Brunel 2000), with
    :math:`y_r = -\mu/\sqrt{2D}`, :math:`y_\theta = (1 - \mu)/\sqrt{2D}`:

    .. math::

        \frac{1}{r_0} = t_{ref} + \tau_m\sqrt\pi\int_{y_r}^{y_\theta} e^{x^2}\,\mathrm{erfc}(-x)\,dx, \qquad
        C_V^2 = 2\pi (r_0\tau_m)^2\int_{y_r}^{y_\theta} e^{x^2}\int_{-\infty}^{x} e^{y^2}\,\mathrm{erfc}(-y)^2\,dy\,dx .

    Evaluated on the host with ``mpmath`` at 30 digits (complex-order parabolic cylinder functions exist in
    neither JAX nor SciPy): not traceable, not differentiable; fields are plain floats.

    Parameters
    ----------
    mu : float
        Mean input :math:`\mu` in units of the threshold (reset 0, threshold 1).
    D : float
        Noise intensity :math:`D` > 0 (units of threshold² per :math:`\tau_m`).
    tau_m : float
        Membrane time constant (ms), > 0 (sets the units of :math:`\lambda`).
    t_ref : float
        Dead time (ms), >= 0.
    """

    host_only: ClassVar[bool] = True
    mu: float = eqx.field(static=True)
    D: float = eqx.field(static=True)
    tau_m: float = eqx.field(static=True)
    t_ref: float = eqx.field(static=True)

    def __init__(self, mu, D, *, tau_m=20.0, t_ref=0.0):
        check_positive("LIFWhiteNoise: D", D)
        check_positive("LIFWhiteNoise: tau_m", tau_m)
        check_positive("LIFWhiteNoise: t_ref", t_ref, strict=False)
        if not np.isfinite(mu):
            raise ValueError(f"LIFWhiteNoise: mu must be finite, got mu={mu!r}")
        self.mu, self.D, self.tau_m, self.t_ref = float(mu), float(D), float(tau_m), float(t_ref)

    def _mp(self):
        import mpmath

        ctx = mpmath.mp.clone()
        ctx.dps = 30
        return ctx

    def laplace_isi(self, lam):
        ctx = self._mp()
        lam = np.asarray(lam, dtype=complex)
        mu, D = ctx.mpf(self.mu), ctx.mpf(self.D)
        sq = ctx.sqrt(D)
        pref = ctx.exp((2 * mu - 1) / (4 * D))

        def one(l):
            s = ctx.mpc(l.real, l.imag) * ctx.mpf(self.tau_m) * ctx.mpf("1e-3")
            val = pref * ctx.pcfd(-s, mu / sq) / ctx.pcfd(-s, (mu - 1) / sq)
            val *= ctx.exp(-ctx.mpc(l.real, l.imag) * ctx.mpf(self.t_ref) * ctx.mpf("1e-3"))
            return complex(val)

        return np.array([one(l) for l in lam.ravel()]).reshape(lam.shape)

    def laplace_survivor(self, lam):
        lam = np.asarray(lam, dtype=complex)
        small = lam == 0
        safe = np.where(small, 1.0, lam)
        return np.where(small, self.mean_isi() * _MS, (1 - self.laplace_isi(safe)) / safe)

    def characteristic(self, lam):
        """:math:`S_L(\\lambda)\\,\\mathcal D_{-s}(x_\\theta)/\\mathcal D_0(x_\\theta)`, :math:`x_\\theta = (\\mu - 1)/\\sqrt D`: removes the
        poles of :math:`P_L` (the zeros of :math:`\\mathcal D_{-s}(x_\\theta)`, on the real axis); entire."""
        ctx = self._mp()
        lam = np.asarray(lam, dtype=complex)
        x = (ctx.mpf(self.mu) - 1) / ctx.sqrt(ctx.mpf(self.D))
        d0 = ctx.pcfd(0, x)

        def one(l):
            s = ctx.mpc(l.real, l.imag) * ctx.mpf(self.tau_m) * ctx.mpf("1e-3")
            return complex(ctx.pcfd(-s, x) / d0)

        factor = np.array([one(l) for l in lam.ravel()]).reshape(lam.shape)
        return self.laplace_survivor(lam) * factor

    def survivor(self, tau):
        raise NotImplementedError("LIFWhiteNoise: the survivor function has no closed form; its Laplace transform "
                                  "laplace_survivor is exact")

    def hazard(self, tau):
        raise NotImplementedError("LIFWhiteNoise: the hazard has no closed form; use laplace_isi")

    def _y(self):
        s = math.sqrt(2 * self.D)
        return -self.mu / s, (1 - self.mu) / s

    def mean_isi(self):
        from scipy.integrate import quad
        from scipy.special import erfcx

        y_r, y_t = self._y()
        integral, _ = quad(lambda x: erfcx(-x), y_r, y_t, epsabs=0, epsrel=1e-13, limit=200)
        return self.t_ref + self.tau_m * math.sqrt(math.pi) * integral

    def rate(self):
        return 1 / (self.mean_isi() * _MS)

    def cv(self):
        from scipy.integrate import quad
        from scipy.special import erfcx

        y_r, y_t = self._y()

        def g(y):  # e^{y^2} erfc(-y)^2 = erfcx(-y)^2 e^{-y^2}
            return erfcx(-y) ** 2 * math.exp(-y * y)

        def outer(x):
            inner, _ = quad(g, -np.inf, x, epsabs=0, epsrel=1e-13, limit=400)
            return math.exp(x * x) * inner

        integral, _ = quad(outer, y_r, y_t, epsabs=0, epsrel=1e-12, limit=200)
        r_tau = self.tau_m / self.mean_isi()
        return math.sqrt(2 * math.pi * r_tau**2 * integral)
