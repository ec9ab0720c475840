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

Finite size (``variant='langevin'``; the lecture's "Langevin equation for N < ∞"): the noisy boundary flux
:math:`A_N - \int\rho q` enters every mode through :math:`\psi_n(0) = 1`, with the Λ correction of the mesoscopic
equation,

.. math::

    \dot a_0 = \Lambda(1 - a_0) + \sqrt{r/N}\,\xi, \qquad
    \dot a_n = [\ldots] + \Lambda(1 - a_0) + \sqrt{r/N}\,\xi, \qquad
    r = a_0 F_0 + 2\sum_n\mathrm{Re}(F_n a_n) + \Lambda(1 - a_0), \qquad A_N = r + \sqrt{r/N}\,\xi,

:math:`\Lambda = 1/\sigma_{ISI}(h)` (the same white noise :math:`\xi` in every equation; the lecture writes the readout with
:math:`a_0 = 1`). The count of a step is drawn from ``counts`` with mean :math:`N r\Delta t`
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
COEFFICIENTS = ("closed_form", "quadrature")


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
    for _ in range(iterations):
        w = w - (w + jnp.log(w) - c) / (1 + 1 / w)
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

    def psi(hh, l):
        r = fam.at(hh)
        t0, t1, _, _ = grids(r)
        S = r.survivor(t1)
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
            lam_h = _newton(fam.at(hh), jax.lax.stop_gradient(l0), 1)  # one step from the root: its derivative
            return psi(hh, lam_h)
        return jax.jvp(f, (h,), (jnp.ones_like(h),))[1]

    d0, d1, d_tail = jax.vmap(dpsi)(lam)  # (M, n_age) x 2, (M,)
    r = fam.at(h)
    t0, t1, w0, w1 = grids(r)
    S0, S1 = r.survivor(t0), r.survivor(t1)
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
    coefficients : {'closed_form', 'quadrature'}, optional
        Coupling coefficients (default: closed form for PAR, quadrature otherwise).
    newton : int
        Newton steps per time step that follow the eigenvalues as :math:`h` changes (structure; default 3).
    n_age, t_age : int, float, optional
        Quadrature ages (default 4001) and their extent (ms; default where :math:`S < 10^{-9}` at ``h_init``).
    """

    family: RenewalFamily
    tau_h: jax.Array
    J: jax.Array
    tau_s: jax.Array
    h_init: jax.Array
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
                 coefficients: str | None = None, newton: int = 3, n_age: int = 4001, t_age=None):
        if not (isinstance(M, (int, np.integer)) and not isinstance(M, bool) and M >= 1):
            raise ValueError(f"M must be an integer >= 1 (number of modes), got M={M!r}")
        if variant not in VARIANTS:
            raise ValueError(f"Eigenmode: variant must be one of {VARIANTS}, got {variant!r}")
        cohorts.check_options("lambda", counts, "midpoint", mode, "Eigenmode")
        if not isinstance(family, RenewalFamily):
            family = RenewalFamily(family)
        if coefficients is None:
            coefficients = "closed_form" if isinstance(family.renewal, PAR) else "quadrature"
        if coefficients not in COEFFICIENTS:
            raise ValueError(f"Eigenmode: coefficients must be one of {COEFFICIENTS}, got {coefficients!r}")
        if coefficients == "closed_form" and not isinstance(family.renewal, PAR):
            raise ValueError(f"coefficients='closed_form' exists for PAR only, not {type(family.renewal).__name__}; "
                             "use coefficients='quadrature'")
        self.M = int(M)
        set_input_fields(self, family, N, dt, tau_h, J, tau_s, delay, h_init)
        n_pop = len(self.N)
        self.variant, self.counts, self.mode, self.coefficients = variant, counts, mode, coefficients
        self.temperature = float(temperature)
        if support is None:
            support = spikes.count_support(self.N, "poisson" if counts == "poisson" else "binomial")
        self.support = int(support)
        if not (isinstance(newton, (int, np.integer)) and newton >= 1):
            raise ValueError(f"newton must be an integer >= 1 (Newton steps per time step), got newton={newton!r}")
        self.newton = int(newton)
        self.n_age = int(n_age)
        if coefficients == "quadrature" and not is_concrete(self.family, self.h_init):
            raise ValueError("Eigenmode: the modes of a model without closed-form eigenvalues are chosen at construction "
                             "from concrete parameter values")
        guesses, t_ages = [], []
        for i in range(n_pop if coefficients == "quadrature" else 0):  # PAR: Lambert-W branches, no guesses
            r = jax.tree.map(lambda x: x[i] if isinstance(x, jax.Array) and x.ndim else x, self.family).at(
                self.h_init[i])
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
        """The system's coefficients at inputs ``h`` (n_pop,), eigenvalues followed from ``lam_guess`` (n_pop, M)."""
        it = self.newton if iterations is None else iterations

        def one(fam, h_i, l0, t_age):
            r = fam.at(h_i)
            lam = _par_eigenvalues(r, self.M, it, l0) if self.coefficients == "closed_form" else _newton(r, l0, it)
            F = -1.0 / jax.jvp(r.laplace_isi, (lam,), (jnp.ones_like(lam),))[1]
            if self.coefficients == "closed_form":
                c0, c, c_hat = _par_coefficients(fam, h_i, lam)
            else:
                c0, c, c_hat = _quadrature_coefficients(fam, h_i, lam, self.n_age, t_age)
            sigma = r.cv() * r.mean_isi() * _MS  # s
            return Coefficients(lam, jnp.asarray(r.rate(), float), F, c0, c, c_hat, 1.0 / sigma)

        return jax.vmap(one)(self.family, h, lam_guess, jnp.asarray(self.t_age))

    @property
    def lam_guess(self):
        """Starting values (n_pop, M) of the eigenvalues at ``h_init`` (s⁻¹): the modes chosen at construction,
        :math:`\\lambda_n\\langle T\\rangle` scaled by the present mean ISI."""
        if self.coefficients == "closed_form":
            return jax.vmap(lambda fam, h: _par_eigenvalues(fam.at(h), self.M))(self.family, self.h_init)

        def one(fam, h):
            return 1.0 / (fam.at(h).mean_isi() * _MS)
        return jnp.asarray(self.mode_guess, complex) * jax.vmap(one)(self.family, self.h_init)[:, None]

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
        G = co.c0 + jnp.einsum("pnm,pm->pn", co.c, state.a) + jnp.einsum("pnm,pm->pn", co.c_hat, jnp.conj(state.a))
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
