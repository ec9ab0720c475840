r"""Linear response of renewal populations: susceptibilities, input filters, the onset of oscillations in a
recurrent population, and the power spectrum of a renewal spike train (Pietras, Gallice & Schwalger 2020).

Fourier convention: a small periodic input :math:`h(t) = h_0 + \varepsilon\cos\omega t` produces the activity

.. math::

    A(t) = A_0 + \varepsilon\,|\chi(\omega)|\cos\big(\omega t + \arg\chi(\omega)\big) + O(\varepsilon^2),
    \qquad \chi(\omega) = \int_0^\infty K(t)\,e^{-i\omega t}\,dt,

with :math:`K` the linear response kernel (:math:`\delta A = K * \delta h`).

* :func:`par_susceptibility` — the exact :math:`\chi_h(\omega)` of the Poisson neuron with absolute refractoriness;
* :func:`sigmoid_transfer` — the sigmoidal hazard :math:`\nu(h)` and its slope;
* :func:`membrane_filter`, :func:`input_filter` — the filters :math:`\tilde\kappa`, :math:`\tilde\varepsilon` of the
  input potential :math:`\tau_h\dot h = -h + \mu(t) + J s(t - d)`, :math:`\tau_s\dot s = -s + A`;
* :func:`recurrent_susceptibility` — the response :math:`\chi_\mu` of the recurrent population to its external drive;
* :func:`oscillation_onset` — the critical coupling and frequency where the stationary state of the recurrent
  population loses stability through a pair of eigenvalues on the imaginary axis;
* :func:`renewal_spectrum` — the power spectrum of one renewal spike train;
* :func:`first_order_susceptibility` — the susceptibility of the one-mode (first-order) reduction of the
  refractory-density equation.

Units: frequencies :math:`f` in Hz, angular frequencies :math:`\omega = 2\pi f` in rad/s, times (:math:`\Delta`,
:math:`\tau_h`, :math:`\tau_s`, :math:`d`) in ms, rates and hazards in Hz, potentials :math:`h`, :math:`\mu` in mV,
susceptibilities :math:`\chi_h`, :math:`\chi_\mu` in Hz/mV, couplings :math:`J` in mV·s (so that :math:`J A` is in
mV with :math:`A` in Hz), eigenvalues :math:`\lambda` in s⁻¹. Every function except :func:`oscillation_onset` (a
host-side root search) is pure ``jnp``: it broadcasts over array arguments and can be jitted, vmapped and
differentiated.

References: B. Pietras, N. Gallice, T. Schwalger, *Low-dimensional firing-rate dynamics for populations of
renewal-type spiking neurons*, Phys. Rev. E 102, 022407 (2020), doi:10.1103/PhysRevE.102.022407;
B. Lindner, L. Schimansky-Geier, A. Longtin, Phys. Rev. E 66, 031916 (2002) (spectrum of a renewal spike train).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.model import check_positive
from .renewal import _MS, AbstractRenewal

__all__ = [
    "par_susceptibility", "sigmoid_transfer", "membrane_filter", "input_filter", "recurrent_susceptibility",
    "OscillationOnset", "oscillation_onset", "renewal_spectrum", "first_order_susceptibility",
]


def _check(owner, name, value, *, strict=True):
    check_positive(f"{owner}: {name}", value, strict=strict)


def _one_minus_exp_over(omega, T):
    r""":math:`(1 - e^{-i\omega T})/(i\omega)` (s) for real ``omega`` (rad/s) and ``T`` (s), written as
    :math:`T e^{-i\omega T/2}\,\mathrm{sinc}(\omega T/2)`: exact at :math:`\omega = 0` (value :math:`T`) with finite
    derivatives of every order there (``jnp.sinc`` has a Maclaurin rule at 0)."""
    y = omega * T
    return T * jnp.exp(-0.5j * y) * jnp.sinc(y / (2 * jnp.pi))


def par_susceptibility(omega, nu, dnu_dh, Delta):
    r"""Exact linear response :math:`\chi_h(\omega)` (Hz/mV) of a population of Poisson neurons with absolute
    refractoriness (hazard :math:`\nu(h)\,\Theta(\tau - \Delta)`) to its input potential :math:`h`.

    In the limit of infinitely many neurons the activity obeys the integral equation
    :math:`A(t) = \nu(h(t))\big[1 - \int_{t-\Delta}^{t} A(s)\,ds\big]`; linearising around
    :math:`A_0 = \nu/(1 + \nu\Delta)` and Fourier transforming,

    .. math::

        \chi_h(\omega) = \frac{\nu'\,(1 - \Delta A_0)}{1 + \nu\,\dfrac{1 - e^{-i\omega\Delta}}{i\omega}}
        = \frac{\nu'}{(1 + \nu\Delta)\big[1 + \nu\Delta\,e^{-i\omega\Delta/2}\,\mathrm{sinc}(\omega\Delta/2)\big]},
        \qquad \mathrm{sinc}\,x = \frac{\sin x}{x},

    so :math:`\chi_h(0) = \nu'/(1 + \nu\Delta)^2 = dA_0/dh` (computed exactly, without a 0/0) and
    :math:`\chi_h(\omega) \to \nu'(1 - \Delta A_0) = \nu'/(1 + \nu\Delta)` for :math:`\omega\Delta \to \infty`
    (with the :math:`O(\nu/\omega)` ripple of period :math:`2\pi/\Delta`).

    Parameters
    ----------
    omega : array
        Angular frequency :math:`\omega` (rad/s), real; broadcast against the other arguments.
    nu : array
        Hazard :math:`\nu(h_0)` after the dead time (Hz), >= 0.
    dnu_dh : array
        Slope :math:`\nu'(h_0)` (Hz/mV), e.g. from :func:`sigmoid_transfer`.
    Delta : array
        Absolute refractory period :math:`\Delta` (ms), >= 0 (:math:`\Delta = 0`: the Poisson neuron,
        :math:`\chi_h = \nu'`).

    Returns
    -------
    chi_h : complex array (Hz/mV)

    References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020),
    doi:10.1103/PhysRevE.102.022407.
    """
    _check("par_susceptibility", "Delta", Delta, strict=False)
    _check("par_susceptibility", "nu", nu, strict=False)
    omega = jnp.asarray(omega, dtype=float)
    nu = jnp.asarray(nu, dtype=float)
    D = jnp.asarray(Delta, dtype=float) * _MS
    nuD = nu * D
    return dnu_dh / (1 + nuD) / (1 + nu * _one_minus_exp_over(omega, D))


def sigmoid_transfer(h, nu_max, theta, delta):
    r"""Sigmoidal hazard and its slope: :math:`\nu(h) = \nu_{max}/(1 + e^{-(h - \theta)/\delta})`,
    :math:`\nu'(h) = \nu(h)\,[1 - \nu(h)/\nu_{max}]/\delta`.

    Parameters
    ----------
    h : array
        Input potential (mV).
    nu_max : array
        Maximal hazard :math:`\nu_{max}` (Hz), >= 0.
    theta : array
        Half-activation potential :math:`\theta` (mV).
    delta : array
        Softness :math:`\delta` (mV), > 0.

    Returns
    -------
    nu : array (Hz)
    dnu_dh : array (Hz/mV)

    References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020),
    doi:10.1103/PhysRevE.102.022407.
    """
    _check("sigmoid_transfer", "delta", delta)
    _check("sigmoid_transfer", "nu_max", nu_max, strict=False)
    sig = jax.nn.sigmoid((jnp.asarray(h, dtype=float) - theta) / delta)
    return nu_max * sig, nu_max * sig * (1 - sig) / delta


def membrane_filter(omega, tau_h):
    r"""Transfer function :math:`\tilde\kappa(\omega) = 1/(1 + i\omega\tau_h)` of the input potential
    :math:`\tau_h\dot h = -h + \mu(t)` (from :math:`\mu` to :math:`h`; dimensionless).

    Parameters
    ----------
    omega : array
        Angular frequency (rad/s).
    tau_h : array
        Membrane (input) time constant :math:`\tau_h` (ms), > 0.

    References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020),
    doi:10.1103/PhysRevE.102.022407.
    """
    _check("membrane_filter", "tau_h", tau_h)
    return 1 / (1 + 1j * jnp.asarray(omega, dtype=float) * jnp.asarray(tau_h, dtype=float) * _MS)


def input_filter(omega, tau_h, tau_s=0.0, delay=0.0):
    r"""Transfer function :math:`\tilde\varepsilon(\omega)` from the population activity :math:`A` to the input
    potential :math:`h` for unit coupling.

    With :math:`\tau_h\dot h = -h + \mu(t) + J s(t - d)` and :math:`\tau_s\dot s = -s + A` (for :math:`\tau_s = 0`,
    :math:`s = A`), :math:`\tilde h = \tilde\kappa\tilde\mu + J\tilde\varepsilon\tilde A` with

    .. math::

        \tilde\varepsilon(\omega) = \frac{e^{-i\omega d}}{(1 + i\omega\tau_h)(1 + i\omega\tau_s)},
        \qquad \tilde\kappa(\omega) = \frac{1}{1 + i\omega\tau_h}.

    Parameters
    ----------
    omega : array
        Angular frequency (rad/s).
    tau_h : array
        Input time constant :math:`\tau_h` (ms), > 0.
    tau_s : array
        Synaptic time constant :math:`\tau_s` (ms), >= 0.
    delay : array
        Transmission delay :math:`d` (ms), >= 0.

    Returns
    -------
    eps : complex array (dimensionless; :math:`J\tilde\varepsilon\tilde A` is in mV with :math:`J` in mV·s and
        :math:`A` in Hz)

    References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020),
    doi:10.1103/PhysRevE.102.022407.
    """
    _check("input_filter", "tau_h", tau_h)
    _check("input_filter", "tau_s", tau_s, strict=False)
    _check("input_filter", "delay", delay, strict=False)
    w = jnp.asarray(omega, dtype=float) * _MS  # rad/ms
    tau_h, tau_s, delay = (jnp.asarray(x, dtype=float) for x in (tau_h, tau_s, delay))
    return jnp.exp(-1j * w * delay) / ((1 + 1j * w * tau_h) * (1 + 1j * w * tau_s))


def recurrent_susceptibility(chi_h, J, kappa, eps):
    r"""Response :math:`\chi_\mu(\omega)` (Hz/mV) of the activity of a recurrent population to its external drive
    :math:`\mu`.

    From :math:`\tilde A = \chi_h\tilde h` and :math:`\tilde h = \tilde\kappa\tilde\mu + J\tilde\varepsilon\tilde A`,

    .. math::

        \chi_\mu(\omega) = \frac{\tilde\kappa(\omega)\,\chi_h(\omega)}
        {1 - J\,\tilde\varepsilon(\omega)\,\chi_h(\omega)};

    it diverges where :math:`1 = J\tilde\varepsilon\chi_h` (:func:`oscillation_onset`).

    Parameters
    ----------
    chi_h : complex array
        Open-loop susceptibility :math:`\chi_h(\omega)` (Hz/mV), e.g. :func:`par_susceptibility`.
    J : array
        Recurrent coupling (mV·s).
    kappa : complex array
        :math:`\tilde\kappa(\omega)` from :func:`membrane_filter`.
    eps : complex array
        :math:`\tilde\varepsilon(\omega)` from :func:`input_filter`.

    References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020),
    doi:10.1103/PhysRevE.102.022407.
    """
    return kappa * chi_h / (1 - J * eps * chi_h)


class OscillationOnset(NamedTuple):
    """Result of :func:`oscillation_onset`: the critical coupling ``J_c`` (mV·s) and the frequency ``f_c`` (Hz)
    of the oscillation that sets in there."""

    J_c: float
    f_c: float


def oscillation_onset(chi_fn, eps_fn, f_range=(1.0, 500.0), *, sign=None, n_grid=20001) -> OscillationOnset:
    r"""Critical coupling :math:`J_c` and frequency :math:`f_c` at which the stationary state of a recurrent
    population loses stability to oscillations: the solution of

    .. math::

        1 = J\,\tilde\varepsilon(\omega)\,\chi_h(\omega), \qquad J \in \mathbb R,\ \omega = 2\pi f > 0,

    i.e. :math:`\mathrm{Im}\,G(\omega) = 0` for :math:`G = \tilde\varepsilon\chi_h` and :math:`J = 1/\mathrm{Re}\,G`.
    Host-side: :math:`\mathrm{Im}\,G` on ``n_grid`` equally spaced frequencies in ``f_range``, each sign change
    refined by Brent's method (``scipy.optimize.brentq``, to ~1e-12 Hz); sign changes across poles of :math:`G`
    (where :math:`\mathrm{Im}\,G` does not vanish at the refined point) are discarded.

    Each root gives one candidate :math:`J` whose sign is that of :math:`\mathrm{Re}\,G` there. Starting from an
    uncoupled population that is stable, a pair of eigenvalues first reaches the imaginary axis, as :math:`J` grows
    from 0 with a given sign, at the candidate of that sign with the smallest :math:`|J|`. Returned:

    * ``sign=+1`` (excitatory coupling): the positive candidate with the smallest :math:`J`;
    * ``sign=-1`` (inhibitory coupling): the negative candidate with the smallest :math:`|J|`;
    * ``sign=None`` (default): of the two, the one with the smaller :math:`|J|`.

    Only oscillatory onsets inside ``f_range`` are considered: the real-eigenvalue (rate) instability at
    :math:`\omega = 0`, :math:`J = 1/(\tilde\varepsilon(0)\chi_h(0))`, and crossings outside ``f_range`` are not.

    Parameters
    ----------
    chi_fn : callable
        :math:`\omega` (rad/s, real array) -> :math:`\chi_h(\omega)` (Hz/mV, complex array).
    eps_fn : callable
        :math:`\omega` (rad/s, real array) -> :math:`\tilde\varepsilon(\omega)` (complex array), e.g.
        ``lambda w: input_filter(w, tau_h, tau_s, delay)``.
    f_range : (float, float)
        Frequency band searched (Hz), ``0 < f_min < f_max``.
    sign : {None, +1, -1}
        Sign of the coupling (see above).
    n_grid : int
        Grid points for the sign-change search (>= 2); two roots closer than ``(f_max - f_min)/(n_grid - 1)`` can
        be missed.

    Returns
    -------
    OscillationOnset
        ``(J_c, f_c)``: coupling (mV·s) and frequency (Hz).

    Raises
    ------
    ValueError
        If no solution (of the requested sign) lies in ``f_range``, naming ``f_range``.

    References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020),
    doi:10.1103/PhysRevE.102.022407.
    """
    from scipy.optimize import brentq

    try:
        f_lo, f_hi = (float(x) for x in f_range)
    except (TypeError, ValueError):
        raise ValueError(f"oscillation_onset: f_range must be a pair (f_min, f_max) in Hz, got f_range={f_range!r}")
    if not (0 < f_lo < f_hi < math.inf):
        raise ValueError(f"oscillation_onset: f_range must satisfy 0 < f_min < f_max < inf, got f_range={f_range!r}")
    if sign not in (None, 1, -1):
        raise ValueError(f"oscillation_onset: sign must be None, +1 or -1, got sign={sign!r}")
    if not (isinstance(n_grid, (int, np.integer)) and n_grid >= 2):
        raise ValueError(f"oscillation_onset: n_grid must be an integer >= 2, got n_grid={n_grid!r}")

    def G(f):
        w = 2 * np.pi * np.asarray(f, dtype=float)
        return np.asarray(eps_fn(w), dtype=complex) * np.asarray(chi_fn(w), dtype=complex)

    f = np.linspace(f_lo, f_hi, int(n_grid))
    g = G(f)
    if not np.all(np.isfinite(g)):
        bad = f[~np.isfinite(g)][0]
        raise ValueError(f"oscillation_onset: eps_fn(omega) * chi_fn(omega) is not finite at f={bad!r} Hz")
    s = np.sign(g.imag)
    roots = list(f[s == 0])
    for i in np.nonzero(s[:-1] * s[1:] < 0)[0]:
        roots.append(brentq(lambda x: G(x).imag, f[i], f[i + 1], xtol=1e-12, rtol=4 * np.finfo(float).eps,
                            maxiter=200))
    candidates = []
    for fr in roots:
        gr = complex(G(fr))
        if not np.isfinite(gr) or gr.real == 0 or abs(gr.imag) > 1e-6 * abs(gr):
            continue  # a pole of G, or J infinite
        J = 1 / gr.real
        if sign is None or np.sign(J) == sign:
            candidates.append((abs(J), J, float(fr)))
    if not candidates:
        which = "" if sign is None else f" of sign {sign:+d}"
        raise ValueError(f"oscillation_onset: no solution of 1 = J eps(omega) chi_h(omega) with real J{which} for "
                         f"f in f_range={f_range!r} Hz (Im[eps chi_h] does not change sign there)")
    _, J, fc = min(candidates)
    return OscillationOnset(J_c=float(J), f_c=fc)


def renewal_spectrum(model: AbstractRenewal, f):
    r"""Power spectrum :math:`S(f)` (Hz) of one stationary renewal spike train
    :math:`x(t) = \sum_k \delta(t - t_k)`.

    .. math::

        S(f) = r_0\,\frac{1 - |P_L(i\omega)|^2}{|1 - P_L(i\omega)|^2}, \qquad \omega = 2\pi f,
        \qquad S(0) = r_0 C_V^2, \qquad S(f) \to r_0 \ (f \to \infty),

    the **two-sided** density: :math:`S(f) = \int C(\tau)\,e^{-2\pi i f\tau}\,d\tau` with :math:`C` the
    autocovariance of :math:`x` (including its :math:`r_0\,\delta(\tau)`), :math:`S(-f) = S(f)`, and
    :math:`\int_{-\infty}^{\infty}` of it over a band is the variance in that band. The one-sided Welch density of
    :func:`jaxpop.analysis.power_spectrum` applied to the binned train (spike counts / ``dt``, in Hz, ``dt`` in s)
    estimates :math:`2S(f)` for :math:`0 < f < f_{Nyquist}` (up to the binning's :math:`\mathrm{sinc}^2` filter and
    aliasing, negligible for :math:`f\,dt \ll 1`). The activity :math:`A = N^{-1}\sum_i x_i` of :math:`N`
    independent neurons has the spectrum :math:`S(f)/N` (two-sided), :math:`2S(f)/N` one-sided. A Poisson train
    (:math:`P_L = \nu/(\nu + \lambda)`) has the flat spectrum :math:`r_0`.

    At :math:`f = 0` (a 0/0 in the formula) the limit :math:`r_0 C_V^2` is returned from the model's ``cv()``; at
    small :math:`f > 0` the formula loses about :math:`2\log_{10}(1/(\omega\langle T\rangle))` digits to cancellation.

    Parameters
    ----------
    model : AbstractRenewal
        Any renewal model of :mod:`jaxpop.analysis.renewal`; a ``host_only`` one
        (:class:`~jaxpop.analysis.renewal.LIFWhiteNoise`) is evaluated with numpy arrays on the host, the others in
        ``jnp`` (traceable and differentiable with respect to the model's fields).
    f : array
        Frequencies (Hz), real.

    Returns
    -------
    S : array (Hz), the shape of ``f``.

    References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020),
    doi:10.1103/PhysRevE.102.022407; B. Lindner, L. Schimansky-Geier, A. Longtin, Phys. Rev. E 66, 031916
    (2002).
    """
    if model.host_only:
        f = np.asarray(f, dtype=float)
        if not np.all(np.isfinite(f)):
            raise ValueError(f"renewal_spectrum: f must be finite, got f={f!r}")
        r0 = float(model.rate())
        zero = f == 0
        S = np.empty(f.shape)
        P = np.asarray(model.laplace_isi(2j * np.pi * f[~zero]), dtype=complex)
        S[~zero] = r0 * (1 - np.abs(P) ** 2) / np.abs(1 - P) ** 2
        if np.any(zero):
            S[zero] = r0 * float(model.cv()) ** 2
        return S
    f = jnp.asarray(f, dtype=float)
    zero = f == 0
    P = model.laplace_isi(2j * jnp.pi * jnp.where(zero, 1.0, f))
    r0 = model.rate()
    S = r0 * (1 - jnp.abs(P) ** 2) / jnp.abs(1 - P) ** 2
    return jnp.where(zero, r0 * model.cv() ** 2, S)


def first_order_susceptibility(omega, F0_prime, F1, c10, lam1):
    r"""Susceptibility (Hz/mV) of the first-order (one-mode) reduction of the refractory-density equation.

    Keeping the stationary mode and the slowest pair of eigenmodes, the linearised dynamics reads

    .. math::

        A(t) = F_0(h) + F_1 a_1 + \bar F_1 \bar a_1, \qquad \dot a_1 = \lambda_1 a_1 + c_{10}\,\dot h,

    whose response to :math:`h = h_0 + \varepsilon\cos\omega t` is, with :math:`F_0' = dF_0/dh`,

    .. math::

        \chi_1(\omega) = F_0' + i\omega\left[\frac{F_1 c_{10}}{i\omega - \lambda_1}
        + \frac{\bar F_1\,\bar c_{10}}{i\omega - \bar\lambda_1}\right];

    :math:`\chi_1(0) = F_0'` exactly (the adiabatic limit) and
    :math:`\chi_1(\infty) = F_0' + 2\,\mathrm{Re}(F_1 c_{10})`.

    Parameters
    ----------
    omega : array
        Angular frequency (rad/s), real.
    F0_prime : array
        Slope of the stationary rate :math:`F_0'(h_0)` (Hz/mV).
    F1 : complex array
        Mode weight :math:`F_1 = -1/P_L'(\lambda_1)` (Hz), e.g. :func:`jaxpop.analysis.mode_weight`.
    c10 : complex array
        Coupling of the input's rate of change to mode 1, :math:`c_{10}` (mV⁻¹).
    lam1 : complex array
        Eigenvalue :math:`\lambda_1` (s⁻¹), :math:`\mathrm{Re}\,\lambda_1 < 0`, e.g.
        :func:`jaxpop.analysis.eigenvalue`.

    Returns
    -------
    chi_1 : complex array (Hz/mV)

    References: B. Pietras, N. Gallice, T. Schwalger, Phys. Rev. E 102, 022407 (2020),
    doi:10.1103/PhysRevE.102.022407.
    """
    iw = 1j * jnp.asarray(omega, dtype=float)
    F1, c10, lam1 = (jnp.asarray(x, dtype=complex) for x in (F1, c10, lam1))
    w1 = F1 * c10
    return F0_prime + iw * (w1 / (iw - lam1) + jnp.conj(w1) / (iw - jnp.conj(lam1)))
