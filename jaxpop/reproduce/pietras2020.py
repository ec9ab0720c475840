r"""Pietras, Gallice & Schwalger (2020) and the lecture's part 4: refractory density, eigenmodes, linear response.

Targets (``jaxpop reproduce NAME``; figures and numbers in ``outdir``):

* ``eig-relaxation`` (paper Fig. 5): relaxation from a synchronous start of populations with the same rate and
  variability (:math:`r = 75` Hz, :math:`C_V = 1/\sqrt{15}`): PAR, Gamma (shape 15) and PIF (white noise,
  :math:`V_{th} = 10` mV), as micro networks (:class:`~jaxpop.micro.RenewalNetwork`, :math:`N = 10^4`), the refractory
  density equation (:class:`~jaxpop.meso.RefractoryDensity`) and the eigenmode model with 1…10 modes
  (:class:`~jaxpop.meso.Eigenmode`). Numbers: the ringing frequency of the RDE and of the network, fitted as damped
  modes (:func:`fit_modes`), against :math:`\mathrm{Im}\,\lambda_1/2\pi`; the NRMSE of the M-mode rate against the RDE
  after 10 ms.
* ``eig-response`` (paper Fig. 6): PAR, :math:`\Delta = 15` ms, :math:`\tau_h = 8` ms, :math:`J = 0`,
  :math:`\nu(h) = \nu_0/(1 + e^{-(h - \theta)/\delta})` with :math:`\nu_0 = 100` Hz, :math:`\theta = 1` mV,
  :math:`\delta = 0.5` mV, :math:`I_0 = 1.2` mV: the susceptibility :math:`\chi_h(\omega)` exact, of the RDE (lock-in
  of a simulation), of the 0th-order (:math:`F_0'(h)`), first- and second-order (1 and 2 modes) models, and the
  responses to :math:`I_0 + I_1\cos\omega t` at 26, 52 and 78 Hz.
* ``eig-onset`` (paper Fig. 7): the recurrent PAR population, :math:`\Delta = 5` ms, :math:`\tau_h = 20` ms,
  :math:`\tau_s = 10` ms, :math:`\nu_0 = 100` Hz, :math:`\delta = 2` mV, :math:`\theta = 5` mV, held at the operating
  point :math:`h^* = \theta` by the external input :math:`I_0 = h^* - JA^*`: the critical coupling :math:`J_c` of
  :math:`1 = J\tilde\varepsilon(\omega)\chi_h(\omega)` (:func:`jaxpop.analysis.linear_response.oscillation_onset`)
  against the coupling at which the growth rate of a small perturbation changes sign in RDE and first-order
  simulations. Without a transmission delay the condition has no solution for these parameters (the phase of
  :math:`\tilde\varepsilon\chi_h` never reaches :math:`\pm\pi`: reported, with the rate instability that the
  excitatory population has instead); the onset is shown for the same population with a 2-ms delay.
* ``eig-spectra`` (the lecture's slides): eigenvalues of PAR, Gamma, PIF with the same rate and :math:`C_V` and their
  Gaussian-ISI approximation; the slowest eigenvalue of the LIF with white noise turning real as :math:`\mu` decreases
  (:func:`lif_eigenvalue_path`); the
  finite-size power spectrum of a PIF population (:math:`N = 500`): micro network vs Langevin eigenmode model vs the
  renewal spectrum of independent neurons.

Units: ms, mV, Hz; eigenvalues in s⁻¹. References: B. Pietras, N. Gallice, T. Schwalger, *Low-dimensional firing-rate
dynamics for populations of renewal-type spiking neurons*, Phys. Rev. E 102, 022407 (2020),
doi:10.1103/PhysRevE.102.022407.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxpop

from ..analysis import linear_response as lr
from ..analysis.eigenvalues import gaussian_isi_eigenvalues
from ..analysis.renewal import PAR, PIF, GammaRenewal, Linear, LIFWhiteNoise, RenewalFamily, Sigmoid
from ..analysis.spectra import power_spectrum
from ..meso import Eigenmode, RefractoryDensity
from ..micro import RenewalNetwork
from ._common import figure, save_figure, write_numbers

_MS = 1e-3
#: Fig. 5: rate (Hz) and coefficient of variation shared by the three populations
FIG5_RATE, FIG5_CV = 75.0, 15 ** -0.5
#: Fig. 6: PAR with a sigmoidal rate (Hz, mV, ms)
FIG6 = dict(nu_max=100.0, theta=1.0, delta=0.5, Delta=15.0, tau_h=8.0, I0=1.2)
#: Fig. 7: recurrent PAR population (Hz, mV, ms); h_star is the operating point held fixed
FIG7 = dict(nu_max=100.0, theta=5.0, delta=2.0, Delta=5.0, tau_h=20.0, tau_s=10.0, h_star=5.0)


# ----------------------------------------------------------------------------------------------------- populations
def fig5_populations(rate: float = FIG5_RATE, cv: float = FIG5_CV) -> dict:
    r"""The populations of Fig. 5: name -> (``RenewalFamily``, input ``h0``) with stationary rate ``rate`` (Hz) and
    ISI variability ``cv``. The input is the parameter the family varies (linear transfer): PAR's :math:`\nu`
    (:math:`C_V = 1/(1 + \nu\Delta)`, :math:`\langle T\rangle = \Delta + 1/\nu`), the Gamma rate (shape
    :math:`C_V^{-2}`), the PIF drift :math:`\mu = rV_{th}` (mV/ms; :math:`V_{th} = 10` mV)."""
    nu = rate / cv  # 1/nu = cv <T>
    Delta = (1 / cv - 1) / nu * 1e3
    pif = PIF.from_rate_cv(rate, cv)
    return {"PAR": (RenewalFamily(PAR(nu, Delta), Linear(), "nu"), nu),
            "Gamma": (RenewalFamily(GammaRenewal(rate, float(np.round(cv ** -2, 9))), Linear(), "rate_hz"), rate),
            "PIF": (RenewalFamily(pif, Linear(), "mu"), float(pif.mu))}


def fig6_family() -> RenewalFamily:
    """The PAR family of Fig. 6 (sigmoidal rate of the input potential h)."""
    p = FIG6
    return RenewalFamily(PAR(p["nu_max"], p["Delta"]), Sigmoid(p["nu_max"], p["theta"], p["delta"]), "nu")


def fig7_family() -> RenewalFamily:
    """The PAR family of Fig. 7."""
    p = FIG7
    return RenewalFamily(PAR(p["nu_max"], p["Delta"]), Sigmoid(p["nu_max"], p["theta"], p["delta"]), "nu")


# ----------------------------------------------------------------------------------------------------- analysis
def fit_modes(t, x, lam_guess, *, weights=None):
    r"""Least-squares fit of damped modes :math:`x(t) \approx \sum_k \mathrm{Re}\,[c_k e^{\lambda_k t}]` (``t`` in ms,
    :math:`\lambda_k` in s⁻¹) by variable projection: the eigenvalues are optimised (``scipy.optimize.least_squares``
    from ``lam_guess``), the complex amplitudes solved linearly for each. Returns ``(lam, se)``: the fitted eigenvalues
    and the standard errors of their real and imaginary parts (complex, from the Jacobian and the residual variance;
    meaningful for noisy data)."""
    from scipy.optimize import least_squares

    t = np.asarray(t, float)
    x = np.asarray(x, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    s = (t - t[0]) * _MS
    K = len(lam_guess)

    def design(p):
        lam = p[:K] + 1j * p[K:]
        E = np.exp(np.outer(s, lam))
        return np.concatenate([E.real, -E.imag], axis=1)  # Re(c e^{lam s}) = Re c Re E - Im c Im E

    def resid(p):
        B = design(p) * w[:, None]
        coef, *_ = np.linalg.lstsq(B, x * w, rcond=None)
        return B @ coef - x * w

    g = np.asarray(lam_guess, complex)
    sol = least_squares(resid, np.concatenate([g.real, g.imag]), x_scale=np.abs(np.concatenate([g.real, g.imag])) + 1.0)
    lam = sol.x[:K] + 1j * sol.x[K:]
    dof = max(len(x) - 4 * K, 1)
    var = np.sum(sol.fun ** 2) / dof
    try:
        cov = np.linalg.inv(sol.jac.T @ sol.jac) * var
        se = np.sqrt(np.diag(cov)[:K]) + 1j * np.sqrt(np.diag(cov)[K:])
    except np.linalg.LinAlgError:
        se = np.full(K, np.nan + 1j * np.nan)
    return lam, se


def nrmse(x, ref) -> float:
    """Root-mean-square error of ``x`` against ``ref``, relative to the standard deviation of ``ref``."""
    x, ref = np.asarray(x, float), np.asarray(ref, float)
    return float(np.sqrt(np.mean((x - ref) ** 2)) / np.std(ref))


def lock_in(t, x, omega):
    """Complex amplitude of the :math:`\\cos\\omega t` component of ``x`` (``t`` in ms, ``omega`` in rad/ms; an
    integer number of periods)."""
    return 2 * np.mean(np.asarray(x) * np.exp(-1j * omega * np.asarray(t)))


def mode_susceptibility(omega, F0_prime, co, M: int):
    r"""Linear response of the M-mode model (one population, coefficients ``co`` of
    :meth:`jaxpop.meso.Eigenmode.coefficients_at`): :math:`\chi_M = F_0' + \sum_{n=1}^{M} i\omega[F_nc_{n0}/(i\omega -
    \lambda_n) + \mathrm{c.c.}]` (``omega`` rad/s; ``M = 0`` is the 0th order :math:`F_0'`)."""
    chi = np.full(np.shape(omega), complex(F0_prime))
    for n in range(M):
        chi = chi + np.asarray(lr.first_order_susceptibility(omega, 0.0, co.F[0, n], co.c0[0, n], co.lam[0, n]))
    return chi


def _coefficients(model, h0):
    return model.coefficients_at(jnp.array([h0]), model.lam_guess, iterations=30)


# ----------------------------------------------------------------------------------------------------- Fig. 5
def relaxation(outdir: Path, *, quick: bool = False) -> dict:
    """Fig. 5: relaxation from a synchronous start (module docs)."""
    t_start = time.time()
    N, trials, dt, T = (2000, 2, 0.1, 60.0) if quick else (10_000, 4, 0.05, 100.0)
    Ms = (1, 2) if quick else (1, 2, 3, 5, 10)
    key = jax.random.PRNGKey(5)
    numbers = dict(quick=quick, N=N, trials=trials, dt_ms=dt, t_end_ms=T, rate_hz=FIG5_RATE, cv=FIG5_CV, models={})
    traces = {}
    for name, (fam, h0) in fig5_populations().items():
        r = fam.at(h0)
        lam = np.asarray(r.closed_form_eigenvalues(np.arange(1, 5)))
        rd = RefractoryDensity(fam, N=1, dt=dt, h_init=h0, init="synchronous")
        A = np.asarray(jaxpop.simulate(rd, T, dt, key=key, drive=h0, record="A_bar")["A_bar"])[:, 0]
        t = (np.arange(len(A)) + 0.5) * dt  # step averages, at the steps' midpoints
        net = RenewalNetwork(fam, N=N, dt=dt, h_init=h0, init="synchronous")
        Am = np.asarray(jaxpop.simulate(net, T, dt, key=key, drive=h0, record="A", trials=trials)["A"])[..., 0]
        Am = Am.mean(0)
        rate = float(r.rate())
        # three modes fitted from where the fourth has decayed 10x more than the first (at least 5 ms), up to where
        # mode 1 (of amplitude ~ the rate) has decayed to 1e-6 of the rate (RDE) or to the noise SE of one sample of
        # the trial mean (network); at least three periods
        g1, g4 = -lam[0].real * _MS, -lam[3].real * _MS  # 1/ms
        period = 2 * np.pi / (lam[0].imag * _MS)
        t0 = max(np.log(10.0) / (g4 - g1), 5.0)
        noise = np.sqrt(rate / (N * trials * dt * _MS))
        t1_rde = min(max(np.log(1e6) / g1, t0 + 3 * period), T)
        t1_net = min(max(np.log(rate / noise) / g1, t0 + 3 * period), T)
        fits = {}
        for which, x, t1 in (("RDE", A, t1_rde), ("micro", Am, t1_net)):
            sel = (t >= t0) & (t <= t1)
            lam_fit, se = fit_modes(t[sel], x[sel] - rate, lam[:3])
            fits[which] = dict(lam_1=lam_fit[0], f_hz=lam_fit[0].imag / (2 * np.pi), f_se_hz=se[0].imag / (2 * np.pi),
                               window_ms=(float(t0), float(t1)))
        f_theory = lam[0].imag / (2 * np.pi)
        err, modes = {}, {}
        # Gamma of integer shape k has a finite spectrum: (k - 1) // 2 pairs in the upper half plane (+ -2 beta if even)
        n_avail = (int(round(FIG5_CV ** -2)) - 1) // 2 if name == "Gamma" else max(Ms)
        for M in Ms:
            M_eff = min(M, n_avail)
            em = Eigenmode(fam, M=M_eff, N=1, dt=dt, h_init=h0, n_age=65)  # constant input: coefficients unused
            rm = np.asarray(jaxpop.simulate(em, T, dt, key=key, drive=h0, record="r",
                                            state0=em.synchronous(age=dt / 2))["r"])[:, 0]
            sel = t > 10.0
            err[M_eff] = nrmse(rm[sel], A[sel])
            modes[M_eff] = rm
        traces[name] = (t, A, Am, modes)
        numbers["models"][name] = dict(
            lambda_1=lam[0], f_theory_hz=f_theory,
            f_rde_hz=fits["RDE"]["f_hz"], f_rde_rel=fits["RDE"]["f_hz"] / f_theory - 1,
            f_micro_hz=fits["micro"]["f_hz"], f_micro_se_hz=fits["micro"]["f_se_hz"],
            f_micro_rel=fits["micro"]["f_hz"] / f_theory - 1, fit_windows_ms=dict(RDE=fits["RDE"]["window_ms"],
                                                                                 micro=fits["micro"]["window_ms"]),
            rde_bins=int(rd.K), nrmse_vs_rde=err)

    fig = figure(figsize=(12, 8), layout="constrained")
    axs = fig.subplots(2, 2).ravel()
    for ax, (name, (t, A, Am, modes)) in zip(axs, traces.items()):
        ax.plot(t, Am, color="0.7", lw=0.6, label=f"micro, N = {N}")
        ax.plot(t, A, "k", lw=1.2, label="RDE")
        for i, (M, rm) in enumerate(modes.items()):
            if M in (1, 3, max(modes)):
                ax.plot(t, rm, lw=1, ls="--" if M == 1 else "-", color=f"C{i}", label=f"{M} mode{'s' * (M > 1)}")
        f = numbers["models"][name]
        ax.set_title(f"{name}: Im λ₁/2π = {f['f_theory_hz']:.1f} Hz, RDE {f['f_rde_rel']:+.2%}, "
                     f"micro {f['f_micro_rel']:+.1%}", fontsize=9)
        ax.set_xlim(0, min(T, 60.0))
        ax.set_ylim(0, 4 * FIG5_RATE)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("A (Hz)")
        ax.legend(fontsize=7)
    ax = axs[3]
    for name, f in numbers["models"].items():
        Mk = sorted(f["nrmse_vs_rde"])
        ax.semilogy(Mk, [f["nrmse_vs_rde"][k] for k in Mk], "o-", label=name)
    ax.axhline(0.05, color="0.5", ls=":", lw=1)
    ax.set_xlabel("modes M")
    ax.set_ylabel("NRMSE vs RDE (t > 10 ms)")
    ax.legend()
    fig.suptitle(f"Relaxation from a synchronous start, r = {FIG5_RATE:g} Hz, C_V = 1/√15 (Pietras et al. 2020, Fig. 5)")
    save_figure(fig, outdir, "pietras2020_relaxation.png")
    numbers["seconds"] = time.time() - t_start
    write_numbers(outdir, "pietras2020_relaxation.json", _plain(numbers))
    return _plain(numbers)


# ----------------------------------------------------------------------------------------------------- Fig. 6
def linear_response(outdir: Path, *, quick: bool = False) -> dict:
    """Fig. 6: linear response of PAR (module docs)."""
    t_start = time.time()
    p = FIG6
    fam, h0 = fig6_family(), p["I0"]
    nu, dnu = lr.sigmoid_transfer(h0, p["nu_max"], p["theta"], p["delta"])
    F0p = float(jax.grad(lambda h: fam.at(h).rate())(h0))
    key = jax.random.PRNGKey(6)
    dt = 0.1 if quick else 0.05
    n_periods = 4 if quick else 10
    co = _coefficients(Eigenmode(fam, M=2, N=1, dt=dt, h_init=h0), h0)
    f = np.linspace(1.0, 200.0, 2000 if quick else 20000)
    w = 2 * np.pi * f
    exact = np.asarray(lr.par_susceptibility(w, nu, dnu, p["Delta"]))
    orders = {M: mode_susceptibility(w, F0p, co, M) for M in (0, 1, 2)}
    k_exact = int(np.argmax(np.abs(exact)))
    numbers = dict(quick=quick, dt_ms=dt, F0_prime_hz_per_mv=F0p, nu_hz=float(nu),
                   exact_peak=dict(f_hz=f[k_exact], abs_chi=float(np.abs(exact[k_exact]))), orders={}, drives={})
    for M in (1, 2):
        k = int(np.argmax(np.abs(orders[M])))
        numbers["orders"][M] = dict(peak_f_rel=f[k] / f[k_exact] - 1,
                                    peak_height_rel=float(np.abs(orders[M][k]) / np.abs(exact[k_exact]) - 1))
    # RDE's chi by lock-in (odd part of +-eps: the O(eps^2) response cancels) and the responses to a finite drive
    eps, I1 = 1e-3, 0.2
    fig = figure(figsize=(12, 8), layout="constrained")
    gs = fig.add_gridspec(3, 2)
    ax_abs, ax_arg = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    rde_chi = {}
    for i, fd in enumerate((26.0, 52.0, 78.0)):
        wd = 2 * np.pi * fd * _MS  # rad/ms
        period = 1e3 / fd
        t_end = dt * round((200.0 + n_periods * period) / dt)
        resp = {}
        for amp in (eps, -eps, I1):
            drive = jaxpop.Sinusoid(amp, wd, phase=np.pi / 2, offset=h0)  # h0 + amp cos(w t)
            m = RefractoryDensity(fam, N=1, dt=dt, tau_h=p["tau_h"], h_init=h0)
            res = jaxpop.simulate(m, t_end, dt, key=key, drive=drive, record=("A_bar", "h"))
            resp[amp] = np.asarray(res["A_bar"])[:, 0], np.asarray(res["h"])[:, 0]
        t_mid = (np.arange(len(resp[eps][0])) + 0.5) * dt

        def mid(h):
            return 0.5 * (h + np.concatenate([[h0], h[:-1]]))
        n = int(round(n_periods * period / dt))
        sl = slice(-n, None)
        A = 0.5 * (resp[eps][0] - resp[-eps][0])
        h = mid(0.5 * (resp[eps][1] - resp[-eps][1]) + h0) - h0
        chi = lock_in(t_mid[sl], A[sl], wd) / lock_in(t_mid[sl], h[sl], wd)
        ex = complex(lr.par_susceptibility(2 * np.pi * fd, nu, dnu, p["Delta"]))
        rde_chi[fd] = chi
        # finite drive: RDE vs 0th order F0(h(t)) and the 1- and 2-mode models (the same h(t): J = 0)
        A_rde, h_end = resp[I1]
        h_mid = mid(h_end)
        zeroth = np.asarray(jax.vmap(lambda x: fam.at(x).rate())(jnp.asarray(h_mid)))
        drive = jaxpop.Sinusoid(I1, wd, phase=np.pi / 2, offset=h0)
        em_r = {}
        for M in (1, 2):
            em = Eigenmode(fam, M=M, N=1, dt=dt, tau_h=p["tau_h"], h_init=h0)
            em_r[M] = np.asarray(jaxpop.simulate(em, t_end, dt, key=key, drive=drive, record="r")["r"])[:, 0]
        numbers["drives"][fd] = dict(chi_rde=chi, chi_exact=ex, chi_rel_err=abs(chi / ex - 1),
                                     nrmse=dict(zip(("0th", "1st", "2nd"),
                                                    [nrmse(x[sl], A_rde[sl]) for x in (zeroth, em_r[1], em_r[2])])))
        ax = fig.add_subplot(gs[1 + i // 2, i % 2])
        tt = t_mid - t_mid[sl][0]
        ax.plot(tt[sl], A_rde[sl], "k", lw=1.5, label="RDE")
        ax.plot(tt[sl], zeroth[sl], color="0.6", lw=1, label="0th order F₀(h)")
        ax.plot(tt[sl], em_r[1][sl], "C0--", lw=1, label="1st order (1 mode)")
        ax.plot(tt[sl], em_r[2][sl], "C1:", lw=1.2, label="2nd order (2 modes)")
        ax.set_xlim(0, 3 * period)
        ax.set_title(f"I₀ + {I1:g} mV cos(2π·{fd:g} Hz·t)", fontsize=9)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("A (Hz)")
        if i == 0:
            ax.legend(fontsize=7)
    ax_abs.plot(f, np.abs(exact), "k", lw=2, label="exact (PAR)")
    ax_arg.plot(f, np.angle(exact), "k", lw=2)
    for M, st in zip((0, 1, 2), ("0.6", "C0", "C1")):
        ax_abs.plot(f, np.abs(orders[M]), color=st, lw=1, label=f"order {M}")
        ax_arg.plot(f, np.angle(orders[M]), color=st, lw=1)
    for fd, chi in rde_chi.items():
        ax_abs.plot(fd, abs(chi), "rs", ms=5, label="RDE (simulation)" if fd == 26.0 else None)
        ax_arg.plot(fd, np.angle(chi), "rs", ms=5)
    ax_abs.set_ylabel("|χ_h| (Hz/mV)")
    ax_arg.set_ylabel("arg χ_h (rad)")
    for ax in (ax_abs, ax_arg):
        ax.set_xlabel("f (Hz)")
    ax_abs.legend(fontsize=7)
    fig.suptitle("Linear response of PAR neurons, Δ = 15 ms, τ_h = 8 ms, I₀ = 1.2 mV (Pietras et al. 2020, Fig. 6)")
    save_figure(fig, outdir, "pietras2020_response.png")
    numbers["max_chi_rel_err"] = max(d["chi_rel_err"] for d in numbers["drives"].values())
    numbers["seconds"] = time.time() - t_start
    write_numbers(outdir, "pietras2020_response.json", _plain(numbers))
    return _plain(numbers)


# ----------------------------------------------------------------------------------------------------- Fig. 7
def growth_rate(t, x, windows) -> float:
    """Growth rate (s⁻¹) of the envelope of ``x`` between two windows ``((a0, a1), (b0, b1))`` (ms): the log ratio of
    the RMS of ``x`` in them over the distance of their centres."""
    (a0, a1), (b0, b1) = windows
    ra = np.sqrt(np.mean(x[(t >= a0) & (t < a1)] ** 2))
    rb = np.sqrt(np.mean(x[(t >= b0) & (t < b1)] ** 2))
    return float(np.log(rb / ra) / (0.5 * (b0 + b1 - a0 - a1) * _MS))


def zero_crossing(x, y) -> float:
    """The first ``x`` where ``y`` (sampled at increasing ``x``) changes sign, by linear interpolation (NaN if
    none)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    i = np.nonzero(np.sign(y[1:]) != np.sign(y[:-1]))[0]
    if len(i) == 0:
        return float("nan")
    i = i[0]
    return float(x[i] - y[i] * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))


def at_fixed_point(model, A_star: float):
    """The initial state of ``model`` (a one-population ``RefractoryDensity`` or ``Eigenmode`` built with
    ``h_init`` at the fixed point and, for the RDE, ``init='stationary'``) with its synaptic variable and its delay
    line at the stationary activity ``A_star`` (Hz), so that a constant input keeps it at the fixed point."""
    st = model.init(jax.random.PRNGKey(0))
    count = A_star * np.asarray(model.N, float) * model.dt * _MS
    return st._replace(s=jnp.full_like(st.s, A_star), hist=jnp.broadcast_to(jnp.asarray(count), st.hist.shape) + 0.0)


def onset(outdir: Path, *, quick: bool = False) -> dict:
    """Fig. 7: onset of oscillations in a recurrent PAR population (module docs)."""
    t_start = time.time()
    p = FIG7
    fam, h_star = fig7_family(), p["h_star"]
    nu, dnu = lr.sigmoid_transfer(h_star, p["nu_max"], p["theta"], p["delta"])
    A_star = float(fam.at(h_star).rate())
    chi_fn = jax.jit(lambda w: lr.par_susceptibility(w, nu, dnu, p["Delta"]))
    numbers = dict(quick=quick, h_star_mv=h_star, A_star_hz=A_star)
    # the parameters (no delay): is there an oscillatory solution of 1 = J eps chi_h?
    eps0 = jax.jit(lambda w: lr.input_filter(w, p["tau_h"], p["tau_s"]))
    f_grid = np.linspace(1.0, 2000.0, 200001)
    G = np.asarray(eps0(2 * np.pi * f_grid)) * np.asarray(chi_fn(2 * np.pi * f_grid))
    numbers["no_delay"] = dict(im_G_sign_changes=int(np.sum(np.sign(G.imag[1:]) != np.sign(G.imag[:-1]))),
                               max_abs_arg_G_rad=float(np.max(np.abs(np.angle(G)))),
                               J_rate_instability_mv_s=float(1 / np.real(chi_fn(1e-9))))
    delay = 2.0
    eps_fn = jax.jit(lambda w: lr.input_filter(w, p["tau_h"], p["tau_s"], delay))
    on = lr.oscillation_onset(chi_fn, eps_fn, sign=-1)
    # the M-mode models' own linear conditions (a mode's F_n, lambda_n, c_n0 do not depend on M: one set of 40)
    co = _coefficients(Eigenmode(fam, M=40, N=1, dt=0.1, h_init=h_star), h_star)
    F0p = float(dnu) / (1 + float(nu) * p["Delta"] * _MS) ** 2
    on_M = {M: lr.oscillation_onset(lambda w, M=M: mode_susceptibility(w, F0p, co, M), eps_fn, sign=-1)
            for M in (1, 2, 3, 5, 10, 20, 40)}
    on1 = on_M[1]
    numbers.update(delay_ms=delay, J_c_linear_mv_s=on.J_c, f_c_linear_hz=on.f_c,
                   J_c_linear_first_order_mv_s=on1.J_c, f_c_linear_first_order_hz=on1.f_c,
                   J_c_linear_modes_rel={M: o.J_c / on.J_c - 1 for M, o in on_M.items()},
                   f_c_linear_modes_rel={M: o.f_c / on.f_c - 1 for M, o in on_M.items()})
    dt, T = (0.1, 600.0) if quick else (0.05, 1000.0)
    windows = ((200.0, 300.0), (T - 100.0, T)) if quick else ((300.0, 500.0), (800.0, 1000.0))
    # the growth rate is linear in J near J_c (checked by the full run's 17 couplings): two suffice in quick mode
    scales = np.array([0.9, 1.1]) if quick else np.linspace(0.8, 1.2, 17)
    kinds = ("RDE", "1 mode") if quick else ("RDE", "1 mode", "2 modes")
    key = jax.random.PRNGKey(7)
    kick = jaxpop.Step(1e-6, t_on=0.0, t_off=5.0)  # a small kick: linear regime throughout
    rates, examples = {}, {}
    for kind in kinds:
        sig = []
        for x in scales:
            J = float(x * on.J_c)
            kw = dict(N=1, dt=dt, tau_h=p["tau_h"], tau_s=p["tau_s"], J=J, h_init=h_star, delay=delay)
            if kind == "RDE":
                m, obs = RefractoryDensity(fam, init="stationary", **kw), "A_bar"
            else:
                m, obs = Eigenmode(fam, M=int(kind[0]), **kw), "r"
            # the response to the kick: the difference of runs with and without it (the model's own stationary
            # state differs from A* by its discretisation error, far above the perturbation)
            base = jaxpop.Constant(h_star - J * A_star)
            state0 = at_fixed_point(m, A_star)
            A, A_base = (np.asarray(jaxpop.simulate(m, T, dt, key=key, drive=d, record=obs, state0=state0)[obs])[:, 0]
                         for d in (base + kick, base))
            t = (np.arange(len(A)) + 0.5) * dt
            sig.append(growth_rate(t, A - A_base, windows))
            if kind == "RDE" and (abs(x - scales[0]) < 1e-9 or abs(x - scales[-1]) < 1e-9):
                examples[float(x)] = (t, A - A_base)
        rates[kind] = np.array(sig)
        J_on = zero_crossing(scales * on.J_c, rates[kind])
        numbers[f"J_onset_{kind.replace(' ', '_')}_mv_s"] = J_on
        numbers[f"J_onset_{kind.replace(' ', '_')}_rel"] = J_on / on.J_c - 1
    numbers["growth_rates_per_s"] = {k: v for k, v in rates.items()}
    numbers["J_over_J_c"] = scales

    fig = figure(figsize=(12, 4.2), layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    for kind, st in zip(rates, ("k-o", "C0-s", "C1-^")):
        a1.plot(scales, rates[kind], st, ms=4, label=kind)
    a1.axhline(0, color="0.5", lw=0.8)
    a1.axvline(1.0, color="r", ls="--", lw=1, label="J_c, linear condition")
    a1.set_xlabel("J / J_c")
    a1.set_ylabel("growth rate of a small perturbation (1/s)")
    a1.legend(fontsize=8)
    a1.set_title(f"J_c = {on.J_c:.3f} mV·s, f_c = {on.f_c:.1f} Hz (delay {delay:g} ms)", fontsize=9)
    for x, (t, A) in examples.items():
        a2.plot(t, A / 1e-6, lw=0.8, label=f"RDE, J = {x:.2f} J_c")
    a2.set_yscale("symlog", linthresh=1e-2)
    a2.set_xlabel("time (ms)")
    a2.set_ylabel("(A − A*) per μV of kick (Hz/μV)")
    a2.legend(fontsize=8)
    fig.suptitle("Onset of oscillations in a recurrent PAR population (Pietras et al. 2020, Fig. 7 parameters, "
                 "inhibitory coupling with a 2-ms delay)")
    save_figure(fig, outdir, "pietras2020_onset.png")
    numbers["seconds"] = time.time() - t_start
    write_numbers(outdir, "pietras2020_onset.json", _plain(numbers))
    return _plain(numbers)


# ----------------------------------------------------------------------------------------------------- slides
BANDS = [(2 * 2 ** k, 2 * 2 ** (k + 1)) for k in range(7)]  # octave bands 2-4 ... 128-256 Hz


def band_means(f, P, bands=BANDS):
    """Mean of ``P`` in each frequency band ``[a, b)`` (Hz)."""
    f, P = np.asarray(f), np.asarray(P)
    return np.array([P[(f >= a) & (f < b)].mean() for a, b in bands])


def lif_eigenvalue_path(mus, D: float = 0.1, *, tau_m: float = 20.0) -> np.ndarray:
    r"""The slowest eigenvalue :math:`\lambda_1` (s⁻¹, upper half plane or real) of the LIF with white noise
    (:class:`~jaxpop.analysis.renewal.LIFWhiteNoise`: reset 0, threshold 1, noise ``D``, ``tau_m`` ms) along the
    mean inputs ``mus`` (a path, from supra- to subthreshold): a root of :math:`P_L(\lambda) = 1`,
    :math:`P_L = e^{(2\mu - 1)/4D}\mathcal D_{-s}(\mu/\sqrt D)/\mathcal D_{-s}((\mu - 1)/\sqrt D)`,
    :math:`s = \lambda\tau_m`, by the secant method of ``mpmath.findroot`` at 30 digits, started at the first
    :math:`\mu` from the Gaussian-ISI approximation and then from the previous root (continuation; a real root is
    restarted slightly off the axis so that a complex pair can still be found): the ratio :math:`P_L - 1` first, then,
    where its real poles (zeros of :math:`\mathcal D_{-s}((\mu - 1)/\sqrt D)`) lie near the root, the entire
    function :math:`[e^{(2\mu - 1)/4D}\mathcal D_{-s}(\mu/\sqrt D) - \mathcal D_{-s}((\mu - 1)/\sqrt D)]/s`
    (no root at :math:`s = 0`). Raises if a root does not satisfy
    :math:`|P_L - 1| < 10^{-9}`. As :math:`\mu` decreases the pair collides on the real axis: the relaxation stops
    ringing (the lecture's slide "eigenvalues of the LIF model")."""
    import mpmath

    mp = mpmath.mp.clone()
    mp.dps = 30
    out, lam = [], None
    for mu in mus:
        m = LIFWhiteNoise(float(mu), D, tau_m=tau_m)
        sq = mp.sqrt(mp.mpf(D))
        pref = mp.exp((2 * mp.mpf(float(mu)) - 1) / (4 * mp.mpf(D)))
        xr, xt = mp.mpf(float(mu)) / sq, (mp.mpf(float(mu)) - 1) / sq

        if lam is None:
            lam = complex(gaussian_isi_eigenvalues(float(m.rate()), float(m.cv()), 1))
        lam = complex(lam.real, max(abs(lam.imag), 1e-3))
        s0 = mp.mpc(lam.real, lam.imag) * tau_m * _MS
        scale = abs(mp.pcfd(-s0, xt) * s0)

        def ratio(s):
            return pref * mp.pcfd(-s, xr) / mp.pcfd(-s, xt) - 1

        def entire(s):  # (P_L - 1) D_{-s}(x_theta) / s, scaled: no poles, no root at s = 0
            return (pref * mp.pcfd(-s, xr) - mp.pcfd(-s, xt)) / (s * scale)

        res, err = np.inf, None
        for g in (ratio, entire):  # the ratio converges from farther; near its real poles the entire form
            try:
                cand = complex(mp.findroot(g, s0, verify=False)) / (tau_m * _MS)
            except (mpmath.libmp.NoConvergence, ZeroDivisionError) as e:
                err = e
                continue
            if abs(cand.imag) < 1e-9 * abs(cand):
                cand = complex(cand.real, 0.0)
            r = abs(complex(m.laplace_isi(np.array([cand]))[0]) - 1)
            if r < res and abs(cand) > 1e-6:
                res, lam = r, cand
            if res < 1e-9:
                break
        if not res < 1e-9:
            raise ValueError(f"lif_eigenvalue_path: no eigenvalue found at mu={mu!r} (|P_L - 1| = {res:.2e}"
                             f"{'; ' + str(err) if err else ''}); start the path mus at a larger mu (e.g. 1.6, where "
                             "the Gaussian-ISI guess is close) or refine it")
        out.append(lam)
    return np.array(out)


def langevin_linear_spectrum(co, N: int, f, M: int):
    r"""One-sided power spectrum (Hz²/Hz) of the finite-size activity :math:`A_N` of the Langevin eigenmode model
    (:class:`~jaxpop.meso.Eigenmode`, ``variant='langevin'``) at constant input, linearised about the stationary state
    (coefficients ``co`` of one population, :meth:`~jaxpop.meso.Eigenmode.coefficients_at`; ``f`` in Hz). With
    :math:`\sigma\xi` the white noise of intensity :math:`r_0/N`, :math:`\delta\tilde a_0 = \sigma\tilde\xi/(i\omega +
    \Lambda)` and :math:`\tilde a_n = \sigma\tilde\xi\,i\omega/[(i\omega + \Lambda)(i\omega - \lambda_n)]`,

    .. math::

        S(\omega) = \frac{2r_0}{N}\Big|1 + \frac{F_0 - \Lambda}{i\omega + \Lambda} + \sum_{n=1}^{M}
        \frac{i\omega}{i\omega + \Lambda}\Big[\frac{F_n}{i\omega - \lambda_n} +
        \frac{F_n^*}{i\omega - \lambda_n^*}\Big]\Big|^2,

    which tends to :math:`2r_0/N` (Poisson) at high and to :math:`2r_0C_V^2/N` (renewal) at low frequencies
    (:math:`F_0/\Lambda = r_0\sigma_{ISI} = C_V`). The simulation's spectrum is checked against it: the model's own
    linear theory, so that its gap to a micro network is the model's, not the code's."""
    iw = 2j * np.pi * np.asarray(f, float)
    F0, Lam = float(co.F0[0]), float(co.Lambda[0])
    T = 1 + (F0 - Lam) / (iw + Lam)
    for n in range(M):
        Fn, ln = complex(co.F[0, n]), complex(co.lam[0, n])
        T = T + iw / (iw + Lam) * (Fn / (iw - ln) + np.conj(Fn) / (iw - np.conj(ln)))
    return 2 * F0 / N * np.abs(T) ** 2


def langevin_rde_spectrum(model, N: int, f):
    r"""One-sided power spectrum (Hz²/Hz) of :math:`A_N` of the refractory-density equation with the lecture's
    finite-size closure at constant input: boundary :math:`q(0, t) = A_N = \int\rho q + \Lambda(1 - \int q) +
    \sigma\xi` with a constant :math:`\Lambda = 1/\sigma_{ISI}` (``model``: one renewal model of
    :mod:`jaxpop.analysis.renewal` at the operating point; ``f`` in Hz). Linearised, a perturbation of the boundary
    ages with the survivor function, :math:`\delta q(\tau, \omega) = \delta A_N(\omega)\,S(\tau)e^{-i\omega\tau}`,
    so that :math:`\int\rho\,\delta q = P_L\,\delta A_N` and :math:`\int\delta q = S_L\,\delta A_N = (1 -
    P_L)\,\delta A_N/(i\omega)`, and

    .. math::

        S(\omega) = \frac{2r_0}{N}\,\Big|\frac{i\omega}{(i\omega + \Lambda)(1 - P_L(i\omega))}\Big|^2 .

    This is the :math:`M \to \infty` limit of :func:`langevin_linear_spectrum` where the expansion
    :math:`1/(1 - P_L(s)) = 1 + F_0/s + \sum_n [F_n/(s - \lambda_n) + \mathrm{c.c.}]` holds: exactly at the full set of
    modes for Gamma (a rational :math:`P_L`), like :math:`1/M` for PIF. It does not hold for PAR (the sum converges to
    another function: the expansion needs the convergence factors :math:`1/\lambda_n` of Mittag-Leffler's theorem and
    the constant :math:`(1 + C_V^2)/2`), so PAR's Langevin eigenmode spectrum stays away from this one at every
    :math:`M` (``docs/measurements.md``)."""
    s = 2j * np.pi * np.asarray(f, float)
    r0 = float(model.rate())
    Lam = r0 / float(model.cv())  # 1 / sigma_ISI (s^-1)
    PL = np.asarray(model.laplace_isi(jnp.asarray(s)))
    return 2 * r0 / N * np.abs(s / ((s + Lam) * (1 - PL))) ** 2


def spectra(outdir: Path, *, quick: bool = False) -> dict:
    """The lecture's slides: eigenvalues of models with the same rate and CV, the LIF's eigenvalues as mu
    decreases, the finite-size spectrum of micro vs Langevin eigenmode model (module docs)."""
    t_start = time.time()
    numbers = dict(quick=quick)
    fig = figure(figsize=(13, 4.2), layout="constrained")
    a1, a2, a3 = fig.subplots(1, 3)
    # (a) closed-form eigenvalues, same rate and CV, and the Gaussian-ISI approximation
    pops = fig5_populations()
    n = np.arange(1, 8)
    numbers["eigenvalues"] = {}
    for (name, (fam, h0)), mk in zip(pops.items(), ("o", "s", "^")):
        lam = np.asarray(fam.at(h0).closed_form_eigenvalues(n))
        lam = lam[lam.imag > 0]
        numbers["eigenvalues"][name] = lam[:3]
        a1.plot(lam.real, lam.imag / (2 * np.pi), mk, mfc="none", label=name)
    gauss = np.asarray(gaussian_isi_eigenvalues(FIG5_RATE, FIG5_CV, n))
    gauss = np.where(gauss.imag < 0, np.conj(gauss), gauss)  # the upper half plane, as the others
    numbers["eigenvalues"]["Gaussian ISI"] = gauss[:3]
    a1.plot(gauss.real, gauss.imag / (2 * np.pi), "k+", label="Gaussian ISI")
    a1.set_xlim(-2500, 50)
    a1.set_ylim(0, 500)
    a1.set_xlabel("Re λ (1/s)")
    a1.set_ylabel("Im λ / 2π (Hz)")
    a1.set_title(f"r = {FIG5_RATE:g} Hz, C_V = 1/√15", fontsize=9)
    a1.legend(fontsize=8)
    # (b) LIF with white noise: the slowest eigenvalue turns real as mu decreases
    mus = np.round(np.concatenate([np.arange(1.6, 0.575, -0.05 if quick else -0.025), np.arange(0.57, 0.395, -0.01)]),
                   4)
    path = lif_eigenvalue_path(mus)
    real = np.abs(path.imag) == 0
    numbers["lif"] = dict(D=0.1, tau_m_ms=20.0, mu=mus, lambda_1=path,
                          mu_turns_real=float(mus[np.argmax(real)]) if real.any() else None,
                          rate_hz={float(mu): float(LIFWhiteNoise(float(mu), 0.1).rate()) for mu in mus[::5]})
    sc = a2.scatter(path.real, path.imag / (2 * np.pi), c=mus, cmap="viridis", s=14)
    fig.colorbar(sc, ax=a2, label="μ (threshold units)")
    a2.set_xlabel("Re λ₁ (1/s)")
    a2.set_ylabel("Im λ₁ / 2π (Hz)")
    a2.set_title("LIF, white noise (D = 0.1, τ_m = 20 ms): λ₁ turns real as μ decreases", fontsize=9)
    # (c) finite-size spectrum of a PIF population: micro vs Langevin eigenmodes vs renewal theory
    N, dt = 500, 0.2
    trials, T = (2, 3000.0) if quick else (4, 20000.0)
    fam, h0 = pops["PIF"]
    f = np.linspace(2, 256, 4000)
    theory = np.asarray(lr.renewal_spectrum(fam.at(h0), f)) / N
    kw = dict(N=N, dt=dt, tau_h=8.0, h_init=h0)
    models = {"micro": RenewalNetwork(fam, init="stationary", **kw),
              "1 mode": Eigenmode(fam, M=1, variant="langevin", n_age=33, **kw),
              "2 modes": Eigenmode(fam, M=2, variant="langevin", n_age=33, **kw)}
    bands = {}
    a3.loglog(f, 2 * theory, "k", lw=2, label="renewal theory / N")
    for (name, m), st in zip(models.items(), ("0.5", "C0", "C1")):
        A = np.asarray(jaxpop.simulate(m, T, dt, key=jax.random.PRNGKey(11), drive=h0, record="A",
                                       trials=trials)["A"])[:, int(round(500 / dt)):, 0]
        fr, P = power_spectrum(A, dt * _MS, nperseg=int(round(1000 / dt)))
        P = np.asarray(P).mean(0)
        bands[name] = dict(rate_hz=float(A.mean()), bands=band_means(fr, P))
        centres = [np.sqrt(a * b) for a, b in BANDS]
        a3.loglog(centres, bands[name]["bands"], "o-", color=st, lw=1, ms=4, label=f"{name} (octave-band means)")
    numbers["spectrum"] = dict(N=N, trials=trials, t_end_ms=T, bands_hz=BANDS,
                               theory_bands=band_means(f, 2 * theory), models=bands)
    for name in ("1 mode", "2 modes"):
        M = int(name[0])
        co = _coefficients(models[name], h0)
        own = langevin_linear_spectrum(co, N, f, M)
        numbers["spectrum"][f"{name} vs micro"] = dict(
            rate_rel=bands[name]["rate_hz"] / bands["micro"]["rate_hz"] - 1,
            bands_rel=bands[name]["bands"] / bands["micro"]["bands"] - 1,
            bands_rel_own_linear_theory=bands[name]["bands"] / band_means(f, own) - 1)
        a3.loglog(f, own, ":", color=f"C{M - 1}", lw=1.5, label=f"{name}: its linear theory")
    numbers["spectrum"]["micro vs theory"] = bands["micro"]["bands"] / numbers["spectrum"]["theory_bands"] - 1
    # the modes' M -> infinity limit: the RDE with the same constant-Lambda closure (linear theory)
    limit = langevin_rde_spectrum(fam.at(h0), N, f)
    numbers["spectrum"]["Langevin RDE (M -> inf) vs theory"] = (band_means(f, limit)
                                                                / numbers["spectrum"]["theory_bands"] - 1)
    a3.loglog(f, limit, "--", color="0.3", lw=1, label="M → ∞: RDE, constant Λ (linear)")
    a3.set_xlim(2, 256)
    a3.set_xlabel("f (Hz)")
    a3.set_ylabel("PSD of A (Hz²/Hz)")
    a3.set_title(f"PIF, N = {N}: finite-size spectrum", fontsize=9)
    a3.legend(fontsize=8)
    fig.suptitle("Eigenvalues and finite-size spectra of renewal populations (lecture part 4)")
    save_figure(fig, outdir, "pietras2020_spectra.png")
    numbers["seconds"] = time.time() - t_start
    write_numbers(outdir, "pietras2020_spectra.json", _plain(numbers))
    return _plain(numbers)


def _plain(x):
    """Numbers for JSON: complex values as ``[re, im]``, dict keys as strings."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (complex, np.complexfloating)):
        return [float(np.real(x)), float(np.imag(x))]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, jax.Array):
        return _plain(np.asarray(x))
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x
