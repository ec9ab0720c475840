r"""Low-dimensional eigenmode model of a population of renewal neurons, deterministic and finite-size (the lecture's
part 4; Pietras, Gallice & Schwalger 2020).

The refractory density :math:`q(\tau, t)` of :class:`~jaxpop.meso.RefractoryDensity` is expanded in the eigenfunctions
:math:`\phi_n(\tau, h)` of the operator :math:`\mathcal L(h) = -\partial_\tau - \rho(\tau, h)` at the present input,
:math:`q = \sum_n a_n \phi_n`, with the adjoint eigenfunctions :math:`\psi_n` (:math:`\langle\psi_n|\phi_m\rangle =
\delta_{nm}`, :math:`\psi_n(0) = 1`, :math:`a_n = \langle\psi_n|q\rangle`, :math:`a_{-n} = a_n^*`):

.. math::

    \phi_n(\tau) = F_n S(\tau) e^{-\lambda_n\tau}, \quad F_n = -\frac{1}{P_L'(\lambda_n)}, \quad
    \psi_n(\tau) = \frac{e^{\lambda_n\tau}}{S(\tau)}\int_\tau^\infty P(s)\,e^{-\lambda_n s}\,ds,

    \dot a_n = \lambda_n a_n + \dot h\Big\{c_{n0} + \sum_{m=1}^{M}\big[c_{nm}a_m + \hat c_{nm}a_m^*\big]\Big\},
    \qquad c_{nm} = \langle\partial_h\psi_n|\phi_m\rangle,\ \hat c_{nm} = \langle\partial_h\psi_n|\phi_m^*\rangle,

    A = a_0 F_0(h) + 2\sum_{n=1}^{M}\mathrm{Re}\,(F_n a_n), \qquad \tau_h\dot h = -h + I(t) + J\,(\varepsilon * A),

truncated at :math:`M` modes (the eigenvalues :math:`\lambda_1..\lambda_M` of the model at the initial input, followed
continuously in :math:`h`), with :math:`F_0 = r_0(h)` the stationary rate and :math:`a_0 = 1`. PAR's eigenvalues are the
branches :math:`k = 1..M` of Lambert W, solved afresh each step; other models' are followed by Newton steps on the
model's characteristic function from the previous step's values (a large jump of the parameters between steps could
lose a mode to a neighbour: the coefficients then fail, with a non-finite result, never silently).

Coupling coefficients: closed forms for PAR (:math:`\rho = \nu(h)\Theta(\tau - \Delta)`; Gallice's derivation, facts
§4.4), with :math:`\nu' = d\nu/dh`,

.. math::

    c_{nn} = \frac{\lambda_n\Delta[1 + \tfrac12\Delta(\nu + \lambda_n)]}{\nu[1 + \Delta(\nu+\lambda_n)]^2}\nu', \qquad
    c_{nm} = \frac{\lambda_n(\nu + \lambda_m)\,\nu'}{\nu(\lambda_n - \lambda_m)(\nu + \lambda_n)[1 + \Delta(\nu + \lambda_m)]}
    \ (m \ne n,\ \text{including } m = 0 \text{ and } \lambda_{-m} = \lambda_m^*),

and by quadrature for every other renewal model (``coefficients='quadrature'``): :math:`\partial_h\psi_n` by forward-mode
differentiation through :math:`\rho(\cdot, h)` and :math:`\lambda_n(h)` (implicit derivative of the eigenvalue), the
integrals on ``n_age`` ages up to where the survivor function is :math:`10^{-9}` (trapezoidal rule, the tail beyond it in
closed form for a constant hazard), :math:`\psi_n` from the tail integral (no cancellation where :math:`S` is small).

Tabulated coefficients (``coefficients='table'``): every coefficient depends on the present input only, so the
system :math:`y(h) = (\lambda_n, F_0, F_n, c_{n0}, c_{nm}, \hat c_{nm}, \Lambda)` is computed once, at construction (host,
concrete parameter values), on ``n_table`` equidistant nodes :math:`h_j = h_{lo} + j\,\delta h` of ``h_range`` (mV;
default :math:`h_{init} \pm \tfrac12 |x(h_{init})/x'(h_{init})|` with :math:`x(h)` the renewal parameter set by the
input, ``family.transfer``: the parameter spans ±50 % of its value along the tangent), by the closed forms (PAR) or by
quadrature (the others), together with :math:`dy/dh` (forward-mode derivative of the same computation, the eigenvalues'
second derivative included). Each step evaluates the cubic Hermite interpolant of the cell that holds :math:`h`
(:math:`C^1`; :math:`x = (h - h_j)/\delta h`),

.. math::

    y(h) = a_0 + a_1 x + a_2 x^2 + a_3 x^3, \qquad |y - y_{\rm exact}| \le \frac{\delta h^4}{384}\max|y^{(4)}|,

a few real multiply-adds per coefficient and no eigenvalue solve (the cost of a step no longer depends on the renewal
model). Measured error (relative to the largest entry of each coefficient, off-node, 64 nodes on the default range):
PAR of Fig. 6 (:math:`h_{init}` = 1.2 mV, range 0.58–1.82 mV, M = 3) at most 7e-9 (:math:`c_{n0}`; 1.2e-7 with 32
nodes, 2.2e-6 with 16: the :math:`\delta h^4` law); Gamma (75 Hz, :math:`C_V = 1/\sqrt{15}`, M = 3, range 37.5–112.5
Hz) 1.2e-10 of the largest entry of the whole system (1.3e-6 of the smallest entries' own size) against the
quadrature at the same extent. The eigenvalues at the nodes are continued from :math:`h_{init}` outward in both directions (Newton from
the neighbouring node), so that mode :math:`n` is the same mode over the whole table; construction raises if a mode moves
by more than half its distance to the nearest other eigenvalue between two nodes (raise ``n_table``). An input outside
the table is not clipped: the coefficients, and from that step on the state and rate of that population, are NaN
(``'mean_field'``; with ``'langevin'`` the count sampler's check of the expected count stops the run with an error);
widen ``h_range``. Gradients: the table holds numbers computed from the family's parameters at construction; gradients with
respect to the input :math:`h` (and so to :math:`J`, :math:`\tau_h`, :math:`\tau_s`, the drive) pass through the
interpolant, gradients with respect to the family's parameters do not (they are zero; a model whose family is replaced
after construction keeps its old table). Construction with traced family parameters raises. Quadrature caveat (also
of ``'quadrature'``): a mode that decays faster than the asymptotic hazard, :math:`-\mathrm{Re}\,\lambda_n \ge
\rho_\infty(h)`, has an eigenfunction :math:`S(\tau)e^{-\lambda_n\tau}` that grows with age; its :math:`c_{nm}` do not
converge and their quadrature values depend on the extent ``t_age`` (PIF at 75 Hz, :math:`C_V = 1/\sqrt{15}`: modes
:math:`n \ge 3`; mode 2 below about 0.53): the table warns where this happens.

Finite size (``variant='langevin'``; the lecture's "Langevin equation for N < ∞"): the noisy boundary flux
:math:`A_N - \int\rho q` enters every mode through :math:`\psi_n(0) = 1`, with the Λ correction of the mesoscopic
equation,

.. math::

    \dot a_0 = \Lambda(1 - a_0) + \sqrt{r/N}\,\xi, \qquad
    \dot a_n = [\ldots] + \Lambda(1 - a_0) + \sqrt{r/N}\,\xi, \qquad
    r = a_0 F_0 + 2\sum_n\mathrm{Re}(F_n a_n) + \Lambda(1 - a_0), \qquad A_N = r + \sqrt{r/N}\,\xi,

:math:`\Lambda = 1/\sigma_{ISI}(h)` (the same white noise :math:`\xi` in every equation; the lecture writes the readout with
:math:`a_0 = 1`). Its linearised spectrum at constant input is
:func:`jaxpop.reproduce.pietras2020.langevin_linear_spectrum`. As :math:`M \to \infty` that spectrum tends to the RDE's
with the same constant-:math:`\Lambda` closure (:func:`jaxpop.reproduce.pietras2020.langevin_rde_spectrum`) only
where :math:`1/(1 - P_L(s)) = 1 + F_0/s + \sum_n [F_n/(s - \lambda_n) + \mathrm{c.c.}]`. That holds exactly at the full
set of modes for Gamma and with error :math:`\propto 1/M` for PIF. It fails for PAR, whose
:math:`P_L = \nu e^{-s\Delta}/(\nu + s)` grows without bound in the left half-plane. There the sum converges to another
function, and PAR's Langevin eigenmode spectrum stays off the RDE's at every :math:`M`. For PAR's finite-size
fluctuations use :class:`~jaxpop.meso.RefractoryDensity`; ``docs/measurements.md`` has the figures.

The count of a step is drawn from ``counts`` with mean :math:`N r\Delta t`
(:func:`jaxpop.meso.cohorts.sample_count`: ``'gaussian'`` is the lecture's diffusion; binomial / Poisson keep it
non-negative), and the same count drives the modes, :math:`A_N\Delta t - \int\rho q\,\Delta t`.

Time step: the modes are integrated exponentially, :math:`a_n \leftarrow e^{\lambda_n\Delta t}a_n +
\varphi_1(\lambda_n\Delta t)\,[\Delta h\,G_n + \Delta t\,B]` with :math:`\varphi_1(z) = (e^z - 1)/z`, the forcing
:math:`G_n` and the boundary flux :math:`B` held over the step; the input as in
:func:`jaxpop.meso.refractory_density.input_step`; coefficients at the input at the end of the step. The expected count
of a step is :math:`N\Delta t` times the mean of :math:`\int\rho q` at the step's start (at the input then) and at its
(deterministic) end, so that
counts, like those of ``RefractoryDensity`` and ``RenewalNetwork``, are averages over the step (second order in
:math:`\Delta t`).

Units: ms, mV, Hz (eigenvalues in s⁻¹), :math:`J` in mV·s. Observables: ``"A"`` (Hz; the finite-size activity
:math:`A_N`, or :math:`r` for ``'mean_field'``), ``"r"`` (Hz), ``"h"`` (mV), ``"a0"``, ``"lambda_1"`` (s⁻¹, complex).

References: B. Pietras, N. Gallice, T. Schwalger, *Low-dimensional firing-rate dynamics for populations of
renewal-type spiking neurons*, Phys. Rev. E 102, 022407 (2020), doi:10.1103/PhysRevE.102.022407.
"""

from __future__ import annotations

import warnings
from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..analysis.eigenvalues import find_eigenvalues
from ..analysis.renewal import PAR, RenewalFamily
from ..core import spikes
from ..core.model import AbstractModel, is_concrete
from . import cohorts
from .refractory_density import input_step, set_input_fields

_MS = 1e-3
VARIANTS = ("mean_field", "langevin")
N_TABLE = 64  # default table nodes
COEFFICIENTS = ("closed_form", "quadrature", "table")


class EigenmodeState(NamedTuple):
    a: jax.Array  # (n_pop, M) complex mode amplitudes
    a0: jax.Array  # (n_pop,) mass of the stationary mode (1 for 'mean_field')
    lam: jax.Array  # (n_pop, M) complex eigenvalues at the present input (s^-1)
    h: jax.Array  # (n_pop,)
    s: jax.Array  # (n_pop,)
    hist: jax.Array  # (D, n_pop) past counts
    count: jax.Array  # (n_pop,) count of the last step (N A dt)
    r: jax.Array  # (n_pop,) rate of the last step (Hz)
    flow: jax.Array  # (n_pop,) int rho q at the end of the last step (Hz)


class Coefficients(NamedTuple):
    """The low-dimensional system at one input (one population)."""
    lam: jax.Array  # (M,) eigenvalues (s^-1)
    F0: jax.Array  # stationary rate (Hz)
    F: jax.Array  # (M,) mode weights -1/P_L'(lambda_n) (Hz)
    c0: jax.Array  # (M,) c_n0 (1/mV)
    c: jax.Array  # (M, M) c_nm (1/mV)
    c_hat: jax.Array  # (M, M) c^_nm (1/mV)
    Lambda: jax.Array  # 1/sigma_ISI (Hz)


def _newton(r, lam, iterations: int):
    """``iterations`` Newton steps on ``r.characteristic`` from ``lam`` (complex, any shape); unrolled (gradients pass
    through the iterates: at convergence they are the implicit derivative)."""
    def step(l, _):
        val, slope = jax.jvp(r.characteristic, (l,), (jnp.ones_like(l),))
        return l - val / slope, None
    lam, _ = jax.lax.scan(step, lam, None, length=iterations)
    return lam


def _par_eigenvalues(r: PAR, M: int, iterations: int = 12, start=None):
    r"""The PAR eigenvalues :math:`\lambda_k = W_k(\nu\Delta e^{\nu\Delta})/\Delta - \nu`, :math:`k = 1..M` (upper half
    plane), traceable: Newton on :math:`w + \mathrm{Log}\,w = \mathrm{Log}\,z + 2\pi i k` (branch :math:`k` of
    Lambert W, Corless et al. 1996) from its asymptotic solution :math:`c - \mathrm{Log}\,c` or from eigenvalues
    ``start`` (s⁻¹, e.g. the previous step's); the equation fixes the branch, so each mode stays on it whatever the
    parameters."""
    nu, D = r.nu, r.Delta * _MS
    x = nu * D
    c = jnp.log(x) + x + 2j * jnp.pi * jnp.arange(1, M + 1)
    w = c - jnp.log(c) if start is None else (nu + start) * D
    # a loop, not unrolled: one traced Newton step whatever ``iterations`` (compile time of models and their gradients)
    w = jax.lax.fori_loop(0, iterations, lambda _, w: w - (w + jnp.log(w) - c) / (1 + 1 / w), w)
    return w / D - nu


def _par_coefficients(fam: RenewalFamily, h, lam):
    """Closed-form coupling coefficients of PAR (module docs); ``lam`` (M,) complex, converged."""
    nu, dnu = jax.jvp(lambda x: jnp.asarray(fam.transfer(x), float), (h,), (jnp.ones_like(h),))
    D = fam.at(h).Delta * _MS
    lm = lam[None, :]  # lambda_m
    ln = lam[:, None]  # lambda_n

    def cross(l_n, l_m):
        return l_n * (nu + l_m) * dnu / (nu * (l_n - l_m) * (nu + l_n) * (1 + D * (nu + l_m)))

    diag = lam * D * (1 + 0.5 * D * (nu + lam)) / (nu * (1 + D * (nu + lam)) ** 2) * dnu
    M = lam.shape[0]
    eye = jnp.eye(M, dtype=bool)
    safe_m = jnp.where(eye, lm + 1.0, lm)  # the diagonal comes from `diag`
    c = jnp.where(eye, diag[:, None] * jnp.ones((1, M)), cross(ln, safe_m))
    c_hat = cross(ln, jnp.conj(lm))  # lambda_{-m} = conj(lambda_m) differs from lambda_n (complex pairs)
    c0 = cross(lam, jnp.zeros_like(lam))
    return c0, c, c_hat


def _quadrature_coefficients(fam: RenewalFamily, h, lam, n_age: int, t_end):
    """Coupling coefficients by quadrature (module docs): c_nm = <d_h psi_n | phi_m>, on two grids of ``n_age`` ages:
    the dead time [0, d] (where S = 1 and psi_n(tau) = e^{lambda_n (tau - d)} psi_n(d)) and [d, t_end], so that the
    jump of the ISI density at d falls on a grid end."""
    x = jnp.linspace(0.0, 1.0, n_age)
    wx = jnp.full(n_age, 1.0 / (n_age - 1)).at[0].mul(0.5).at[-1].mul(0.5)  # trapezoid on [0, 1]

    def grids(r):
        d = r.dead_time()
        return x * d, d + x * (t_end - d), wx * d * _MS, wx * (t_end - d) * _MS  # ages (ms), weights (s)

    def survivor(r, t):
        # S = 1 up to the dead time, for every input: set there, so that higher derivatives in h (the table's) are not
        # poisoned at tau = d (e.g. the Gamma model's second derivative of S at tau = 0 is NaN)
        d = r.dead_time()
        after = t > d
        return jnp.where(after, r.survivor(jnp.where(after, t, d + 1.0)), 1.0)

    def psi(hh, l):
        r = fam.at(hh)
        t0, t1, _, _ = grids(r)
        S = survivor(r, t1)
        g = r.isi_density(t1) * jnp.exp(-l * t1 * _MS)
        seg = 0.5 * (g[1:] + g[:-1]) * (t1[1:] - t1[:-1]) * _MS
        rho_T = r.hazard(t1[-1])
        tail = S[-1] * rho_T * jnp.exp(-l * t1[-1] * _MS) / (rho_T + l)  # constant hazard beyond the last age
        after = jnp.concatenate([jnp.cumsum(seg[::-1])[::-1], jnp.zeros(1)]) + tail
        psi1 = jnp.exp(l * t1 * _MS) / S * after
        psi0 = jnp.exp(l * (t0 - t1[0]) * _MS) * psi1[0]
        return psi0, psi1, rho_T / (rho_T + l)

    def dpsi(l0):
        def f(hh):
            # one Newton step from the root: its derivative in hh is the eigenvalue's implicit derivative (l0 is not
            # stopped: an outer derivative, e.g. the table's d/dh, then also gets the second derivative right)
            lam_h = _newton(fam.at(hh), l0, 1)
            return psi(hh, lam_h)
        return jax.jvp(f, (h,), (jnp.ones_like(h),))[1]

    d0, d1, d_tail = jax.vmap(dpsi)(lam)  # (M, n_age) x 2, (M,)
    r = fam.at(h)
    t0, t1, w0, w1 = grids(r)
    S0, S1 = survivor(r, t0), survivor(r, t1)
    rho_T = r.hazard(t1[-1])
    F = -1.0 / jax.jvp(r.laplace_isi, (lam,), (jnp.ones_like(lam),))[1]

    def inner(l_m, F_m):
        phi0 = F_m * S0 * jnp.exp(-l_m * t0 * _MS)
        phi1 = F_m * S1 * jnp.exp(-l_m * t1 * _MS)
        tail = F_m * S1[-1] * jnp.exp(-l_m * t1[-1] * _MS) / (rho_T + l_m)
        return jnp.sum(d0 * (w0 * phi0)[None, :], axis=1) + jnp.sum(d1 * (w1 * phi1)[None, :], axis=1) + d_tail * tail

    c = jax.vmap(inner, in_axes=(0, 0), out_axes=1)(lam, F)
    c_hat = jax.vmap(inner, in_axes=(0, 0), out_axes=1)(jnp.conj(lam), jnp.conj(F))
    c0 = inner(jnp.zeros((), complex), jnp.asarray(r.rate(), complex))
    return c0, c, c_hat


class Eigenmode(AbstractModel):
    r"""M-mode eigenmode model of renewal populations (module docs), deterministic or with finite-size noise.

    Parameters
    ----------
    family : RenewalFamily or AbstractRenewal
        Hazard :math:`\rho(\tau, h)`; parameters scalars or one per population.
    M : int
        Number of modes (structure), >= 1.
    N : int or tuple of int
        Neurons per population (structure; sets the finite-size noise).
    dt : float
        Time step (ms, static).
    tau_h, J, tau_s, delay, h_init
        Input dynamics, as :class:`jaxpop.meso.RefractoryDensity`.
    variant : {'mean_field', 'langevin'}
        :math:`N\to\infty`, or the finite-size Langevin model.
    counts, mode, temperature, support
        Count law of the finite-size activity (default ``'gaussian'``, the lecture's diffusion) and sampling mode.
    coefficients : {'closed_form', 'quadrature', 'table'}, optional
        Coupling coefficients (default: closed form for PAR, quadrature otherwise); ``'table'``: either, tabulated in
        :math:`h` at construction and interpolated each step (module docs; family parameters and ``h_init`` concrete).
    h_range : (float, float), optional
        ``'table'`` only: the inputs covered (mV; scalars or one per population; must contain ``h_init``; default
        :math:`h_{init} \pm \tfrac12|x/x'|`, module docs). Outside it the coefficients are NaN (no clipping):
        the rate of that population is NaN from that step on (``'langevin'``: the run stops with an error).
    n_table : int, optional
        ``'table'`` only: equidistant nodes (structure, >= 2; default 64).
    newton : int
        Newton steps per time step that follow the eigenvalues as :math:`h` changes (structure; default 3).
    n_age, t_age : int, float, optional
        Quadrature ages (default 4001) and their extent (ms; default where :math:`S < 10^{-9}` at ``h_init``). A
        quadrature table takes by default the longer of that and the age beyond which every decaying eigenfunction
        :math:`S e^{-\mathrm{Re}\lambda_n\tau}` is below :math:`10^{-9}`, and scales it with the mean ISI at each
        input: :math:`t_{age}(h) = t_{age}\langle T\rangle(h)/\langle T\rangle(h_{init})` (smooth in :math:`h`).
    """

    family: RenewalFamily
    tau_h: jax.Array
    J: jax.Array
    tau_s: jax.Array
    h_init: jax.Array
    table: jax.Array | None  # (n_pop, n_table - 1, 4, 2P) real: cubic polynomials of the cells, or None
    table_lo: jax.Array | None  # (n_pop,) first node (mV)
    table_step: jax.Array | None  # (n_pop,) node spacing (mV)
    M: int = eqx.field(static=True)
    N: tuple[int, ...] = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    d_steps: int = eqx.field(static=True)
    variant: str = eqx.field(static=True)
    counts: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    temperature: float = eqx.field(static=True)
    support: int = eqx.field(static=True)
    coefficients: str = eqx.field(static=True)
    table_method: str = eqx.field(static=True)
    n_table: int = eqx.field(static=True)
    newton: int = eqx.field(static=True)
    n_age: int = eqx.field(static=True)
    t_age: tuple[float, ...] = eqx.field(static=True)
    mode_guess: tuple[tuple[complex, ...], ...] = eqx.field(static=True)

    accumulated: ClassVar[tuple[str, ...]] = ("A", "r")
    summed: ClassVar[tuple[str, ...]] = ()
    default_record: ClassVar[tuple[str, ...]] = ("A",)

    def __init__(self, family, *, M: int, N, dt: float, tau_h=10.0, J=0.0, tau_s=0.0, delay=None, h_init=0.0,
                 variant: str = "mean_field", counts: str = "gaussian", mode: str = "exact",
                 temperature: float = spikes.DEFAULT_TEMPERATURE, support: int | None = None,
                 coefficients: str | None = None, newton: int = 3, n_age: int = 4001, t_age=None,
                 h_range=None, n_table: int | None = None):
        if not (isinstance(M, (int, np.integer)) and not isinstance(M, bool) and M >= 1):
            raise ValueError(f"M must be an integer >= 1 (number of modes), got M={M!r}")
        if variant not in VARIANTS:
            raise ValueError(f"Eigenmode: variant must be one of {VARIANTS}, got {variant!r}")
        cohorts.check_options("lambda", counts, "midpoint", mode, "Eigenmode")
        if not isinstance(family, RenewalFamily):
            family = RenewalFamily(family)
        is_par = isinstance(family.renewal, PAR)
        if coefficients is None:
            coefficients = "closed_form" if is_par else "quadrature"
        if coefficients not in COEFFICIENTS:
            raise ValueError(f"Eigenmode: coefficients must be one of {COEFFICIENTS}, got {coefficients!r}")
        if coefficients == "closed_form" and not is_par:
            raise ValueError(f"coefficients='closed_form' exists for PAR only, not {type(family.renewal).__name__}; "
                             "use coefficients='quadrature'")
        if coefficients != "table" and (h_range is not None or n_table is not None):
            raise ValueError(f"h_range and n_table apply to coefficients='table' only, not {coefficients!r}")
        method = ("closed_form" if is_par else "quadrature") if coefficients == "table" else coefficients
        self.M = int(M)
        set_input_fields(self, family, N, dt, tau_h, J, tau_s, delay, h_init)
        n_pop = len(self.N)
        self.variant, self.counts, self.mode, self.coefficients = variant, counts, mode, coefficients
        self.table_method = method
        self.temperature = float(temperature)
        if support is None:
            support = spikes.count_support(self.N, "poisson" if counts == "poisson" else "binomial")
        self.support = int(support)
        if not (isinstance(newton, (int, np.integer)) and newton >= 1):
            raise ValueError(f"newton must be an integer >= 1 (Newton steps per time step), got newton={newton!r}")
        self.newton = int(newton)
        self.n_age = int(n_age)
        if method == "quadrature" and not is_concrete(self.family, self.h_init):
            raise ValueError("Eigenmode: the modes of a model without closed-form eigenvalues are chosen at construction "
                             "from concrete parameter values")
        if coefficients == "table" and not is_concrete(self.family, self.h_init, h_range):
            raise ValueError("Eigenmode: coefficients='table' is built at construction from concrete values of the "
                             "family's parameters, h_init and h_range (gradients with respect to the family's "
                             "parameters do not pass through the table); construct the model outside the traced "
                             "function, or use coefficients='closed_form' / 'quadrature' to differentiate with "
                             "respect to them")
        guesses, t_ages = [], []
        for i in range(n_pop if method == "quadrature" else 0):  # PAR: Lambert-W branches, no guesses
            r = _population(self.family, i).at(self.h_init[i])
            lam = _slowest(r, self.M)
            # scale-free (lambda <T>): a guess that follows the parameters (sweeps, gradients) to the same modes
            guesses.append(tuple(complex(x) * float(r.mean_isi()) * _MS for x in lam))
            if t_age is None:
                t_ages.append(_quadrature_extent(r))
            else:
                t_ages.append(float(t_age))
        # structure derived from the values at construction: for PAR none (models built with other values share the
        # compiled simulation)
        self.mode_guess = tuple(guesses) if guesses else ((0j,) * self.M,) * n_pop
        self.t_age = tuple(t_ages) if t_ages else (0.0,) * n_pop
        self.table = self.table_lo = self.table_step = None
        self.n_table = 0
        if coefficients == "table":
            self._build_table(h_range, n_table, t_age)

    def _build_table(self, h_range, n_table, t_age):
        """Tabulate the coefficients (class docs, ``coefficients='table'``; host, at construction)."""
        n_table = N_TABLE if n_table is None else n_table
        if not (isinstance(n_table, (int, np.integer)) and not isinstance(n_table, bool) and n_table >= 2):
            raise ValueError(f"n_table must be an integer >= 2 (table nodes), got n_table={n_table!r}")
        n_pop = len(self.N)
        if h_range is None:
            ranges = [_default_h_range(_population(self.family, i), self.h_init[i]) for i in range(n_pop)]
        else:
            try:
                lo, hi = (np.broadcast_to(np.asarray(x, float), (n_pop,)) for x in h_range)
            except (TypeError, ValueError):
                raise ValueError(f"h_range must be a pair (lo, hi) of mV, scalars or one per population ({n_pop}), "
                                 f"got h_range={h_range!r}") from None
            ranges = list(zip(lo.tolist(), hi.tolist()))
        h_init = np.asarray(self.h_init)
        for i, (lo, hi) in enumerate(ranges):
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi and lo <= h_init[i] <= hi):
                raise ValueError(f"h_range must be finite with lo < hi and contain h_init = {h_init[i]:.6g} mV, got "
                                 f"({lo!r}, {hi!r}) for population {i}")
        guess = _method_lam_guess(self.table_method, self.M, self.family, self.h_init, self.mode_guess)
        rows, t_ages = [], list(self.t_age)
        for i, (lo, hi) in enumerate(ranges):
            fam = _population(self.family, i)
            hs = np.linspace(lo, hi, n_table)
            lam0 = np.asarray(_eigenvalues_at(self.table_method, self.M, fam, self.h_init[i], guess[i]))
            lams = _follow_modes(self.table_method, self.M, fam, hs, h_init[i], lam0)
            if self.table_method == "quadrature":
                _warn_growing_modes(fam, hs, lams, i)
            # the extent of the quadrature ages at h_init, scaled with the mean ISI at each input (a smooth function of
            # h, differentiated with the rest; class docs)
            if self.table_method == "quadrature" and t_age is None:
                t_ages[i] = max(t_ages[i], _eigenfunction_extent(fam.at(self.h_init[i]), lam0))
            mean_isi = float(fam.at(self.h_init[i]).mean_isi())
            tab = _table_rows(self.table_method, self.M, self.n_age, fam, jnp.asarray(hs), jnp.asarray(lams),
                              jnp.asarray(t_ages[i]), jnp.asarray(mean_isi))
            bad = ~np.all(np.isfinite(np.asarray(tab)), axis=(1, 2))
            if bad.any():
                raise ValueError(f"Eigenmode table: non-finite coefficients at h = {hs[bad][:3]} mV (population {i}); "
                                 "narrow h_range to where the renewal model is defined")
            rows.append(tab)
        self.n_table = int(n_table)
        self.t_age = tuple(t_ages)
        self.table = jnp.stack([_cell_polynomials(t, (hi - lo) / (n_table - 1)) for t, (lo, hi) in zip(rows, ranges)])
        self.table_lo = jnp.asarray([lo for lo, _ in ranges], float)
        self.table_step = jnp.asarray([(hi - lo) / (n_table - 1) for lo, hi in ranges], float)

    @property
    def n_pop(self) -> int:
        return len(self.N)

    @property
    def drive_shape(self):
        return (self.n_pop,)

    def check_dt(self, dt):
        if abs(float(dt) - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"dt = {dt} differs from the dt = {self.dt} ms this Eigenmode was built for; construct it "
                             f"with dt={dt}")

    def observable_dims(self):
        return {"A": ("population",), "r": ("population",), "h": ("population",), "a0": ("population",),
                "lambda_1": ("population",)}

    # ------------------------------------------------------------------ coefficients
    def coefficients_at(self, h, lam_guess, *, iterations=None) -> Coefficients:
        """The system's coefficients at inputs ``h`` (n_pop,), eigenvalues followed from ``lam_guess`` (n_pop, M);
        for ``coefficients='table'`` interpolated in the table (``lam_guess`` and ``iterations`` unused; NaN for a
        population whose ``h`` lies outside its table)."""
        if self.coefficients == "table":
            return jax.vmap(self._interpolate)(self.table, self.table_lo, self.table_step, h)
        it = self.newton if iterations is None else iterations

        def one(fam, h_i, l0, t_age):
            return _direct_coefficients(self.coefficients, self.M, self.n_age, fam, h_i, l0, t_age, it)

        return jax.vmap(one)(self.family, h, lam_guess, jnp.asarray(self.t_age))

    def _interpolate(self, table, lo, step, h) -> Coefficients:
        """One population's table (n_table - 1, 4, P: cubic Hermite polynomials of the cells) at ``h`` (class docs);
        NaN outside [lo, lo + (n_table - 1) step]."""
        u = (h - lo) / step
        inside = (u >= 0) & (u <= self.n_table - 1)
        i = jnp.clip(jnp.floor(u), 0, self.n_table - 2)  # a valid cell to read; outside the table -> NaN below
        x = u - i
        p = jax.lax.dynamic_index_in_dim(table, i.astype(int), axis=0, keepdims=False)  # (4, 2P) real
        flat = ((p[3] * x + p[2]) * x + p[1]) * x + p[0]
        flat = jnp.where(inside, flat, jnp.nan)
        P = flat.shape[0] // 2
        return _unpack(jax.lax.complex(flat[:P], flat[P:]), self.M)

    @property
    def lam_guess(self):
        """Starting values (n_pop, M) of the eigenvalues at ``h_init`` (s⁻¹): the modes chosen at construction,
        :math:`\\lambda_n\\langle T\\rangle` scaled by the present mean ISI (the table's, for ``'table'``)."""
        if self.coefficients == "table":
            return self.coefficients_at(self.h_init, None).lam
        return _method_lam_guess(self.coefficients, self.M, self.family, self.h_init, self.mode_guess)

    # ------------------------------------------------------------------ model
    def init(self, key=None) -> EigenmodeState:
        guess = self.lam_guess
        co = _coefficients_jit(self, self.h_init, guess, 30)
        z = jnp.zeros(self.n_pop)
        a = jnp.zeros((self.n_pop, self.M), complex)
        return EigenmodeState(a=a, a0=jnp.ones(self.n_pop), lam=co.lam, h=self.h_init, s=z,
                              hist=jnp.zeros((self.d_steps, self.n_pop)), count=z, r=co.F0, flow=co.F0)

    def synchronous(self, state: EigenmodeState | None = None, age: float = 0.0) -> EigenmodeState:
        """The state of a synchronous start: all neurons fired ``age`` ms ago, :math:`q = \\delta(\\tau - age)`,
        :math:`a_n = \\psi_n(age)`; computed as :math:`e^{\\lambda_n age}`, exact within the dead time (:math:`S = 1`,
        :math:`P = 0` there) and to first order otherwise. ``RefractoryDensity(init='synchronous')`` and
        ``RenewalNetwork(init='synchronous')`` start at ``age = dt / 2``."""
        state = self.init() if state is None else state
        co = _coefficients_jit(self, state.h, state.lam, 30)  # the compilation of init's call
        a = jnp.exp(state.lam * age * _MS)
        return state._replace(a=a, flow=self._rate(co, a, state.a0))

    def _rate(self, co: Coefficients, a, a0):
        return a0 * co.F0 + 2 * jnp.sum(jnp.real(co.F * a), axis=-1)

    def step(self, state: EigenmodeState, t, dt, drive, key) -> EigenmodeState:
        N = jnp.asarray(self.N, float)
        h_dt = self.dt
        A_in = state.hist[self.d_steps - 1] / (N * h_dt * _MS)
        h, s = input_step(state.h, state.s, A_in, jnp.asarray(drive(t + 0.5 * h_dt), float), self.J, self.tau_h,
                          self.tau_s, h_dt)
        co = self.coefficients_at(h, state.lam)
        dh = (h - state.h)[:, None]
        # sums, not einsum: for few modes a fused loop is cheaper than a call of the complex matrix product
        G = co.c0 + jnp.sum(co.c * state.a[:, None, :] + co.c_hat * jnp.conj(state.a)[:, None, :], axis=-1)
        z = co.lam * h_dt * _MS
        E = jnp.exp(z)
        small = jnp.abs(z) < 1e-8
        phi1 = jnp.where(small, 1 + 0.5 * z, jnp.expm1(z) / jnp.where(small, 1.0, z))
        a_det = E * state.a + phi1 * dh * G
        # int rho q (Hz) averaged over the step (trapezoid of its start and its deterministic end): the expected count
        # of the step, second order in dt like RefractoryDensity's midpoint scheme
        flow = 0.5 * (state.flow + self._rate(co, a_det, state.a0))
        if self.variant == "mean_field":
            count, a, a0, r = flow * N * h_dt * _MS, a_det, state.a0, flow
        else:
            r = flow + co.Lambda * (1 - state.a0)
            count = cohorts.sample_count(key, r * N * h_dt * _MS, self.N, variant="lambda", counts=self.counts,
                                         mode=self.mode, temperature=self.temperature, support=self.support,
                                         owner="Eigenmode")
            boundary = count / N - flow * h_dt * _MS  # (A_N - int rho q) dt, dimensionless
            a = a_det + phi1 * boundary[:, None]
            a0 = state.a0 + boundary
        return EigenmodeState(a=a, a0=a0, lam=co.lam, h=h, s=s,
                              hist=jnp.concatenate([count[None], state.hist[:-1]], axis=0), count=count, r=r,
                              flow=self._rate(co, a, a0))

    def observe(self, state):
        N = jnp.asarray(self.N, float)
        return {"A": state.count / (N * self.dt * _MS), "r": state.r, "h": state.h, "a0": state.a0,
                "lambda_1": state.lam[:, 0]}


def _population(family, i):
    """Population ``i`` of a family whose parameters are scalars or one per population."""
    return jax.tree.map(lambda x: x[i] if isinstance(x, jax.Array) and x.ndim else x, family)


def _method_lam_guess(method, M, family, h_init, mode_guess):
    """Starting eigenvalues (n_pop, M) at ``h_init`` for the direct methods (``lam_guess``)."""
    if method == "closed_form":
        return jax.vmap(lambda fam, h: _par_eigenvalues(fam.at(h), M))(family, h_init)

    def one(fam, h):
        return 1.0 / (fam.at(h).mean_isi() * _MS)
    return jnp.asarray(mode_guess, complex) * jax.vmap(one)(family, h_init)[:, None]


def _direct_coefficients(method, M, n_age, fam, h, l0, t_age, iterations) -> Coefficients:
    """The coefficients of one population at input ``h`` by ``method`` ('closed_form' or 'quadrature'), eigenvalues
    by ``iterations`` Newton steps from ``l0``."""
    r = fam.at(h)
    lam = _par_eigenvalues(r, M, iterations, l0) if method == "closed_form" else _newton(r, l0, iterations)
    F = -1.0 / jax.jvp(r.laplace_isi, (lam,), (jnp.ones_like(lam),))[1]
    if method == "closed_form":
        c0, c, c_hat = _par_coefficients(fam, h, lam)
    else:
        c0, c, c_hat = _quadrature_coefficients(fam, h, lam, n_age, t_age)
    sigma = r.cv() * r.mean_isi() * _MS  # s
    return Coefficients(lam, jnp.asarray(r.rate(), float), F, c0, c, c_hat, 1.0 / sigma)


def _pack(co: Coefficients) -> jax.Array:
    """The coefficients of one population as one complex vector of 3M + 2M² + 2 entries (the table's layout)."""
    parts = [co.lam, co.F0, co.F, co.c0, co.c, co.c_hat, co.Lambda]
    return jnp.concatenate([jnp.asarray(x, complex).reshape(-1) for x in parts])


def _unpack(flat, M: int) -> Coefficients:
    """Inverse of :func:`_pack` (F0 and Lambda real)."""
    sizes = (M, 1, M, M, M * M, M * M, 1)
    ends = np.cumsum(sizes)
    lam, F0, F, c0, c, c_hat, Lam = (flat[e - n:e] for n, e in zip(sizes, ends))
    return Coefficients(lam, jnp.real(F0[0]), F, c0, c.reshape(M, M), c_hat.reshape(M, M), jnp.real(Lam[0]))


@eqx.filter_jit
def _eigenvalues_at(method, M, fam, h, lam0):
    """Eigenvalues (M,) of one population at ``h`` by Newton steps from ``lam0`` (table construction; quadratic
    convergence from a neighbouring node: 8 steps of the (unrolled) Lambert-W iteration, 30 of the general one)."""
    r = fam.at(h)
    return _par_eigenvalues(r, M, 8, lam0) if method == "closed_form" else _newton(r, lam0, 30)


@eqx.filter_jit
def _table_rows(method, M, n_age, fam, hs, lams, t_age, mean_isi):
    """Table rows (n_table, 2, P): the packed coefficients at the nodes ``hs`` and their derivatives d/dh (forward
    mode; the eigenvalues, converged at ``lams``, carry their implicit derivatives through two more Newton steps).
    Quadrature ages up to :func:`_table_extent`."""
    def row(args):
        h, lam = args

        def f(x):
            t = _table_extent(fam, x, t_age, mean_isi)
            return _pack(_direct_coefficients(method, M, n_age, fam, x, lam, t, 2))
        val, slope = jax.jvp(f, (h,), (jnp.ones_like(h),))
        return jnp.stack([val, slope])
    if method == "closed_form":
        return jax.vmap(row)((hs, lams))
    return jax.lax.map(row, (hs, lams), batch_size=8)  # (M, M, n_age) intermediates per node


def _table_extent(fam, h, t_age, mean_isi):
    """Extent (ms) of the quadrature ages of a table at input ``h``: ``t_age`` (the extent at h_init) times the mean
    ISI at ``h`` over ``mean_isi``, the one at h_init (smooth in h; the same resolution in units of the ISI)."""
    return t_age * fam.at(h).mean_isi() / mean_isi


def _eigenfunction_extent(r, lam) -> float:
    """Ages (ms) beyond which every eigenfunction phi_n ~ S(tau) e^{-Re lambda_n tau} that decays at all
    (-Re lambda_n < rho_inf) is below 1e-9 of its value at 0 (host): the integrands of c_nm are negligible there, where
    S < 1e-9 alone is not enough for fast modes (Gamma, shape 15, 75 Hz: 45 ms from S, 210 ms for mode 3)."""
    grid = float(r.dead_time()) + np.arange(0, 200001) * 0.05
    with np.errstate(divide="ignore"):
        logS = np.log(np.asarray(r.survivor(jnp.asarray(grid))))
    rho_inf = float(r.asymptotic_hazard())
    ext = 0.0
    for l in np.asarray(lam):
        if -l.real >= rho_inf:
            continue  # grows with age: no extent makes its integrals converge (warned)
        big = np.nonzero(logS - l.real * grid * _MS > np.log(1e-9))[0]
        ext = max(ext, float(grid[min(big.max() + 1, len(grid) - 1)]) if big.size else 0.0)
    return ext


def _cell_polynomials(rows, step):
    """Cubic Hermite polynomials of the cells between the nodes, from the node values y and slopes y' = dy/dh
    (``rows``: n_table, 2, P complex): on cell i, with x = (h - h_i)/step in [0, 1],
    y(x) = a0 + a1 x + a2 x² + a3 x³, a0 = y_i, a1 = step y'_i, a2 = 3(y_{i+1} - y_i) - step(2y'_i + y'_{i+1}),
    a3 = 2(y_i - y_{i+1}) + step(y'_i + y'_{i+1}). Returned as (n_table - 1, 4, 2P) real (real parts, then
    imaginary parts)."""
    y0, y1 = rows[:-1, 0], rows[1:, 0]
    m0, m1 = step * rows[:-1, 1], step * rows[1:, 1]
    a = jnp.stack([y0, m0, 3 * (y1 - y0) - 2 * m0 - m1, 2 * (y0 - y1) + m0 + m1], axis=1)
    return jnp.concatenate([jnp.real(a), jnp.imag(a)], axis=-1)


def _follow_modes(method, M, fam, hs, h_init, lam_init):
    """Eigenvalues (n_table, M) at the nodes ``hs`` (host), continued from ``lam_init`` at ``h_init`` to the nearest
    node and from node to node in both directions (Newton from the neighbour's values), so that mode n stays mode n.
    Raises if a mode moves by more than half its distance to the nearest other eigenvalue (or conjugate) between
    neighbouring nodes (the continuation could jump modes)."""
    n = len(hs)
    lams = [None] * n
    j0 = int(np.argmin(np.abs(hs - h_init)))

    def advance(lam_from, h_from, j):
        lam = np.asarray(_eigenvalues_at(method, M, fam, jnp.asarray(hs[j]), jnp.asarray(lam_from)))
        pts = np.concatenate([lam_from, np.conj(lam_from)])
        for k in range(M):
            d = np.abs(pts - lam_from[k])
            d[k] = np.inf
            if abs(lam_from[k].imag) < 1e-9 * max(1.0, abs(lam_from[k])):
                d[M + k] = np.inf  # a real eigenvalue is its own conjugate
            sep = float(np.min(d))
            moved = abs(lam[k] - lam_from[k])
            if not np.isfinite(moved) or moved > 0.5 * sep:
                raise ValueError(f"Eigenmode table: following mode {k + 1} from h = {h_from:.6g} to {hs[j]:.6g} mV "
                                 f"moved it by {moved:.4g} s^-1, more than half its distance {sep:.4g} s^-1 to the "
                                 "nearest other eigenvalue (or no converged eigenvalue there); raise n_table or "
                                 "narrow h_range")
        lams[j] = lam
        return lam

    advance(np.asarray(lam_init), float(h_init), j0)
    for j in range(j0 + 1, n):
        advance(lams[j - 1], float(hs[j - 1]), j)
    for j in range(j0 - 1, -1, -1):
        advance(lams[j + 1], float(hs[j + 1]), j)
    return np.stack(lams)


def _warn_growing_modes(fam, hs, lams, i):
    """Warn where a mode decays faster than the asymptotic hazard, -Re lambda_n >= rho_inf(h): its eigenfunction
    S(tau) e^{-lambda_n tau} grows with age, the integrals c_nm do not converge and their quadrature values depend on
    the extent ``t_age`` (host)."""
    rho = np.array([float(fam.at(jnp.asarray(h)).asymptotic_hazard()) for h in hs])
    grows = -lams.real >= rho[:, None]  # (n_table, M)
    if grows.any():
        modes = sorted({int(k) + 1 for k in np.nonzero(grows)[1]})
        where = hs[grows.any(axis=1)]
        warnings.warn(f"Eigenmode table (population {i}): mode(s) {modes} decay faster than the asymptotic hazard "
                      f"(-Re lambda_n >= rho_inf) for h in [{where.min():.6g}, {where.max():.6g}] mV: their "
                      "eigenfunctions grow with age and their coupling coefficients by quadrature are not converged "
                      "(they depend on t_age); lower M or narrow h_range", stacklevel=4)


def _default_h_range(fam, h_init) -> tuple[float, float]:
    """``h_init ± 0.5 |x(h_init) / x'(h_init)|`` (mV), with ``x(h)`` the renewal parameter the input sets
    (``family.transfer``): the parameter changes by ±50 % of its value at the linearisation (host)."""
    x, dx = jax.jvp(lambda h: jnp.asarray(fam.transfer(h), float), (jnp.asarray(h_init, float),),
                    (jnp.ones((), float),))
    x, dx = float(x), float(dx)
    if not (np.isfinite(x) and np.isfinite(dx) and x != 0 and dx != 0):
        raise ValueError(f"Eigenmode table: no default h_range (the input sets {fam.field} = {x:.4g} with slope "
                         f"{dx:.4g} per mV at h_init = {float(h_init):.6g}); give h_range=(lo, hi) in mV")
    span = 0.5 * abs(x / dx)
    return float(h_init) - span, float(h_init) + span


@eqx.filter_jit
def _coefficients_jit(model, h, lam, iterations):
    return model.coefficients_at(h, lam, iterations=iterations)


def _quadrature_extent(r) -> float:
    """Ages (ms) integrated numerically: up to where the hazard has settled at its limit (to 1e-10; beyond, the
    integrals are in closed form, which also continues them analytically where the eigenfunctions grow with age) or
    where the survivor function is below 1e-9, whichever comes first (host, concrete values)."""
    grid = float(r.dead_time()) + np.arange(0, 200001) * 0.05
    S = np.asarray(r.survivor(jnp.asarray(grid)))
    rho = np.asarray(r.hazard(jnp.asarray(grid)))
    rho_inf = float(r.asymptotic_hazard())
    off = np.abs(rho - rho_inf) > 1e-10 * rho_inf
    settled = int(np.nonzero(off)[0].max()) + 1 if off.any() else 0
    small = int(np.argmax(S < 1e-9)) if np.any(S < 1e-9) else len(grid) - 1
    return float(grid[min(settled, small, len(grid) - 1)]) or 1.0


def _slowest(r, M: int) -> np.ndarray:
    """The M eigenvalues in the upper half plane (or on the real axis) with the largest real parts (host)."""
    try:
        n = np.arange(1, M + 1)
        lam = np.asarray(r.closed_form_eigenvalues(n))
        lam = np.where(lam.imag < 0, np.conj(lam), lam)
        lam = lam[np.abs(lam) > 1e-9 * max(1.0, float(np.max(np.abs(lam))))]  # not lambda_0 = 0
        _, first = np.unique(np.round(lam / max(1.0, float(np.max(np.abs(lam)))), 12), return_index=True)
        lam = lam[np.sort(first)]
        lam = lam[np.argsort(-lam.real)]
        if len(lam) >= M:
            return lam[:M]
    except (NotImplementedError, ValueError):
        pass
    spec = find_eigenvalues(r)
    lam = np.asarray(spec.eigenvalues)
    lam = lam[(lam.imag >= 0) & (np.abs(lam) > 1e-9 * max(1.0, float(np.max(np.abs(lam)))))]
    lam = lam[np.argsort(-lam.real)]
    if len(lam) < M:
        raise ValueError(f"M = {M} modes requested, but the search region holds only {len(lam)} eigenvalues of "
                         f"{type(r).__name__} in the upper half plane; lower M")
    return lam[:M]
