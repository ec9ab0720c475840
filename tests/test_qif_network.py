"""QIFNetwork (MPR 2015 Eqs. 1-3, App. A, D, E) against closed forms and the exact firing-rate equations.

Oracles used here, none of them written with the network code:

* the period of a single QIF neuron, pi tau / sqrt(eta) (tau dV / (V^2 + eta) integrated over the real
  line), which the paper's hold of 2 tau / V_j restores exactly up to O(eta / V_p^3) and Euler's O(dt);
* the stationary state of the *finite* quantile network: with constant input c_j every neuron is
  periodic with the closed-form period T_j = tau [arctan(V_p/sqrt c) - arctan(V_r/sqrt c)]/sqrt c
  + hold, so r_N = <1/T_j> and v_N = <-sqrt(-c_j)>_silent / (fraction not held) follow from a
  sum over the quantiles (self-consistently in r for coupled networks);
* the N -> infinity closed forms (uncoupled Lorentzian population, FRE fixed points), reached by
  r_N up to the tail-truncation bias of the quantile samples, derived below;
* the mean first-passage time of a noise-driven QIF neuron (App. D);
* the firing-rate equations (MontbrioPazoRoxin) for the Fig. 2 protocols: the network-FRE
  distance must shrink like N^(-1/2), and vanish to the 10 % level once the quantile tail
  truncation is accounted for (no free parameter); slow tests run the paper's N = 10^4.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import fsolve

import jaxpop
from jaxpop.analysis.rates import nrmse, smooth_rate
from jaxpop.micro import QIFNetwork
from jaxpop.micro.qif import ZETA_HALF, quantile_tail_bias


def test_zeta_half_constant():
    from scipy.special import zeta

    assert ZETA_HALF == pytest.approx(-zeta(0.5), rel=1e-14)


# ----------------------------------------------------------------------------- helpers
def mpr_fixed_points(eta_bar, J, delta=1.0):
    """Positive roots r of pi^2 r^4 - J r^3 - eta r^2 - delta^2/(4 pi^2) = 0 (MPR 2015 Sec. III C),
    with v = -delta/(2 pi r)."""
    roots = np.roots([np.pi**2, -J, -eta_bar, 0.0, -(delta**2) / (4 * np.pi**2)])
    r = np.sort([z.real for z in roots if abs(z.imag) < 1e-10 and z.real > 0])
    return r, -delta / (2 * np.pi * r)


def finite_n_stationary(net, I=0.0, r_guess=None):
    """Stationary (r_a, v_a) of the finite network from per-neuron closed-form periods (numpy).

    Neuron j with input c_j = eta_j + tau_a sum_b (J_ab + Gamma_ab w_jb) r_b + I_a fires with
    period T_j = tau [arctan(V_p/sqrt c) - arctan(V_r/sqrt c)]/sqrt c + tau/V_p + tau/|V_r|,
    or rests at -sqrt(-c_j). With V_r = -V_p a firing neuron's voltage averages to 0 over the
    time it is not held, so v_a = sum_silent(-sqrt(-c_j)) / (N_a - sum_firing hold_j / T_j).
    """
    sizes = net.N
    pop = np.repeat(np.arange(len(sizes)), sizes)
    eta = np.asarray(net.eta)
    w = np.asarray(net.J_unit).T  # (neuron j, source b)
    J, G, tau = np.asarray(net.J), np.asarray(net.Gamma), np.asarray(net.tau)
    Vp, Vr = float(net.V_peak), float(net.V_reset)
    I = np.broadcast_to(np.asarray(I, dtype=float), (len(sizes),))
    tau_n = tau[pop]
    hold = tau_n / Vp + tau_n / (-Vr)

    def per_neuron(r):
        c = eta + tau_n * ((J @ r)[pop] + np.sum(G[pop] * w * r[None, :], axis=1)) + I[pop]
        f = c > 0
        sc = np.sqrt(np.where(f, c, 1.0))
        T = tau_n * (np.arctan(Vp / sc) - np.arctan(Vr / sc)) / sc + hold
        return c, f, T

    def rates(r):
        c, f, T = per_neuron(np.asarray(r))
        return np.bincount(pop, np.where(f, 1.0 / T, 0.0)) / np.asarray(sizes)

    r0 = np.full(len(sizes), 0.1) if r_guess is None else np.asarray(r_guess, dtype=float)
    r = fsolve(lambda x: rates(x) - x, r0, xtol=1e-13)
    c, f, T = per_neuron(r)
    held = np.bincount(pop, np.where(f, hold / T, 0.0))
    v = np.bincount(pop, np.where(f, 0.0, -np.sqrt(np.where(f, 0.0, -c)))) / (np.asarray(sizes) - held)
    return r, v


def fre_rate_deficit(eta_bar, J, Gamma, delta, r_star, N):
    """Predicted r_FRE - r_N at a fixed point r* of the FREs (tau = 1), from the quantile tail bias.

    Each population a loses quantile_tail_bias(N_a, delta_a) of rate from its eta tail and
    quantile_tail_bias(N_a, Gamma_ab r_b) from each coupling tail (App. E1: the input c_j is
    Lorentzian of half-width delta_a + sum_b Gamma_ab r_b). Feedback propagates the deficit b:
    r = R(r) - b with R_a(r) = Phi(eta_a + sum_b J_ab r_b; delta_a + sum_b Gamma_ab r_b),
    Phi(x; d) = sqrt((x + sqrt(x^2 + d^2))/2)/pi (the J = 0 fixed point of MPR 2015 Sec. III C),
    so deficit = (1 - dR/dr)^-1 b.
    """
    eta_bar, J, Gamma, delta, r_star = (np.asarray(x, dtype=float) for x in (eta_bar, J, Gamma, delta, r_star))
    r_star, N = np.atleast_1d(r_star), np.atleast_1d(np.asarray(N, dtype=float))

    def R(r):
        x, d = eta_bar + J @ r, delta + Gamma @ r
        return np.sqrt((x + np.sqrt(x * x + d * d)) / 2) / np.pi

    n, h = len(r_star), 1e-7
    jac = np.stack([(R(r_star + h * e) - R(r_star - h * e)) / (2 * h) for e in np.eye(n)], axis=1)
    b = quantile_tail_bias(N, delta) + np.sum(quantile_tail_bias(N[:, None], Gamma * r_star[None, :]), axis=1)
    return np.linalg.solve(np.eye(n) - jac, b)


def batch_se(x, n_batches=10):
    """Standard error of the time average of a correlated series by batch means."""
    x = np.asarray(x)
    b = x[: len(x) // n_batches * n_batches].reshape(n_batches, -1, *x.shape[1:]).mean(axis=1)
    return b.std(axis=0, ddof=1) / np.sqrt(n_batches)


# ----------------------------------------------------------------------------- single neuron
@pytest.mark.parametrize("eta,tau,dt", [(1.0, 1.0, 1e-4), (4.0, 1.0, 1e-4), (2.0, 2.0, 2e-4)])
def test_single_neuron_period(eta, tau, dt):
    # one neuron, tau V' = V^2 + eta: period pi tau / sqrt(eta). The hold of 2 tau/V_j
    # restores the time spent beyond +-V_p up to (2/3) eta tau / V_p^3 < 2e-6 tau. Tolerance:
    # first/last spike quantised to dt (2 dt / K over K intervals) + Euler's phase error, bounded
    # without sign cancellation by dt * ln((V_p^2 + eta)/eta) per period. Dropping the hold
    # would shorten the period by 2 tau/V_p = 0.02 tau: 20x the tolerance.
    net = QIFNetwork(1, eta_bar=eta, J=0.0, distribution="delta", tau=tau)
    T = 12 * math.pi * tau / math.sqrt(eta)
    T = round(T / dt) * dt
    res = jaxpop.simulate(net, T, dt, key=jax.random.PRNGKey(0), record=("spikes",))
    t_sp = np.asarray(res.ts)[np.asarray(res["spikes"])[:, 0] > 0]
    K = len(t_sp) - 1
    assert K >= 10
    period = (t_sp[-1] - t_sp[0]) / K
    tol = 2 * dt / K + dt * math.log((100.0**2 + eta) / eta)
    assert abs(period - math.pi * tau / math.sqrt(eta)) < tol
    assert np.all(np.abs(np.diff(t_sp) - math.pi * tau / math.sqrt(eta)) < 2 * dt + tol)


def test_quenched_samples_follow_the_paper():
    # App. A: eta_j = eta_bar + delta tan[pi/2 (2j - N - 1)/(N + 1)] (as ``deterministicLorentzian`` of the
    # MPR replication halgurdtaher/MeanfieldQIF, QIFSystems/__init__.py)
    N = 1001
    net = QIFNetwork(N, eta_bar=-5.0, delta=0.7, J=15.0, Gamma=0.3)
    j = np.arange(1, N + 1)
    np.testing.assert_allclose(np.asarray(net.eta), -5.0 + 0.7 * np.tan(np.pi / 2 * (2 * j - N - 1) / (N + 1)),
                               rtol=1e-12, atol=1e-9)
    # couplings J_j = J + Gamma w_j: the same Lorentzian quantiles, permuted independently of eta
    w = np.asarray(net.J_unit[0])
    np.testing.assert_allclose(np.sort(w), np.tan(np.pi / 2 * (2 * j - N - 1) / (N + 1)), rtol=1e-12, atol=1e-9)
    rank_corr = np.corrcoef(np.argsort(np.argsort(w)), j)[0, 1]
    assert abs(rank_corr) < 4 / math.sqrt(N)  # Spearman rho of independent ranks has SD 1/sqrt(N-1)
    # other distributions: centre + scale * standard quantiles; random sampling from the seed
    g = QIFNetwork(N, eta_bar=-2.0, delta=1.5, distribution="gaussian")
    np.testing.assert_allclose(np.asarray(g.eta), np.asarray(jaxpop.Gaussian(-2.0, 1.5).quantiles(N)), rtol=1e-12)
    u = QIFNetwork(N, eta_bar=1.0, delta=2.0, distribution="uniform")
    np.testing.assert_allclose(np.asarray(u.eta), np.asarray(jaxpop.Uniform(1.0, 2.0).quantiles(N)), rtol=1e-12)
    d = QIFNetwork(5, eta_bar=-1.0, distribution="delta")
    np.testing.assert_array_equal(np.asarray(d.eta), -np.ones(5))
    r1 = QIFNetwork(N, eta_sampling="random", seed=3)
    r2 = QIFNetwork(N, eta_sampling="random", seed=3)
    np.testing.assert_array_equal(np.asarray(r1.eta), np.asarray(r2.eta))
    assert not np.allclose(np.asarray(r1.eta), np.asarray(QIFNetwork(N, eta_sampling="random", seed=4).eta))
    # the Lorentzian median of random draws: SE = pi * delta / (2 sqrt(N))
    assert abs(np.median(np.asarray(r1.eta)) + 5.0) < 4 * np.pi / (2 * math.sqrt(N))


# ----------------------------------------------------------------------------- stationary states
def test_uncoupled_lorentzian_population_stationary_state():
    # J = 0, eta_bar = -2, constant I = 3: the J = 0 fixed point of MPR 2015 (Sec. III C) with
    # eta_bar -> eta_bar + I = 1.
    N, T, dt = 2000, 10.0, 2e-4  # dt: the Euler error of the rate is ~1e-5 relative (single-neuron test)
    net = QIFNetwork(N, eta_bar=-2.0, delta=1.0, J=0.0, I0=3.0)  # start in the stationary state under I = 3
    res = jaxpop.simulate(net, T, dt, key=jax.random.PRNGKey(3), drive=3.0, record_every=50)
    r_sim, v_sim = float(np.mean(res.r)), float(np.mean(res.v))
    # finite-N closed form (exact for this network up to sampling of the phases)
    r_N, v_N = finite_n_stationary(net, I=3.0)
    # SE of the time-averaged rate: each firing neuron's count in [0, T] is T/T_j plus a term of
    # variance <= 1/4 from its random initial phase -> SE <= sqrt(N_firing / 4) / (N T).
    se_r = math.sqrt(N / 4) / (N * T)
    assert abs(r_sim - r_N[0]) < 4 * se_r
    assert abs(v_sim - v_N[0]) < 4 * batch_se(res.v)
    # N -> infinity (MPR 2015 Sec. III C, J = 0): r* = sqrt((x + sqrt(x^2 + D^2))/2)/pi, v* = -D/(2 pi r*), x = 1
    x = 1.0
    r_inf = math.sqrt((x + math.sqrt(x * x + 1.0)) / 2) / np.pi
    v_inf = -1.0 / (2 * np.pi * r_inf)
    # the quantiles miss the Lorentzian tails: r is low by quantile_tail_bias(N), v high by pi times
    # that; the hold makes a fraction 2 r/V_p of the neurons invisible to v (v scaled by 1 + 2r/V_p).
    b = quantile_tail_bias(N)
    assert abs(r_sim - (r_inf - b)) < 0.1 * b + 4 * se_r
    v_pred = (v_inf + np.pi * b) * (1 + 2 * r_inf / 100.0)
    assert abs(v_sim - v_pred) < 0.1 * np.pi * b + 4 * batch_se(res.v)
    assert abs(r_sim - r_inf) > 0.5 * b  # the bias is real and resolved at this N


def test_coupled_low_state_and_heterogeneous_coupling():
    # The bistable network of Fig. 1(d) (eta_bar = -5, J = 15) in its low state, with and without
    # Lorentzian-distributed couplings (App. E1, Gamma = 1). (i) Started at its own finite-N fixed
    # point, the network stays there. (ii) That fixed point lies below the FRE's by the tail bias
    # of the eta and J quantiles, amplified by the recurrent gain (fre_rate_deficit).
    N, T, dt = 2000, 4.0, 2e-4
    for Gamma in (0.0, 1.0):
        probe = QIFNetwork(N, eta_bar=-5.0, J=15.0, Gamma=Gamma)
        r_N, v_N = finite_n_stationary(probe, r_guess=[0.07])
        net = QIFNetwork(N, eta_bar=-5.0, J=15.0, Gamma=Gamma, r0=float(r_N[0]))
        res = jaxpop.simulate(net, T, dt, key=jax.random.PRNGKey(4), record_every=50)
        r_sim, v_sim = float(np.mean(res.r)), float(np.mean(res.v))
        # batch-means SE: the recurrent shot noise (s jumps by 1/(N tau_s)) adds to the phase noise
        se_r, se_v = batch_se(res.r), batch_se(res.v)
        assert abs(r_sim - r_N[0]) < 4 * se_r
        assert abs(v_sim - v_N[0]) < 4 * se_v
        # FRE low state (with the + Gamma r / pi term of Eq. E1): long FRE run from near it
        fre = jaxpop.MontbrioPazoRoxin(-5.0, 1.0, 15.0, Gamma=Gamma, r0=0.08, v0=-2.0)
        r_fre = np.asarray(jaxpop.solve(fre, 200.0, ts=jnp.array([200.0])).r[-1])
        if Gamma == 0:
            np.testing.assert_allclose(r_fre, mpr_fixed_points(-5.0, 15.0)[0][0], rtol=1e-6)
        deficit = fre_rate_deficit([-5.0], [[15.0]], [[Gamma]], [1.0], r_fre, [N])
        assert abs((r_fre - deficit) - r_sim) < 0.1 * deficit + 4 * se_r, (r_fre, deficit, r_sim)


def test_excitatory_inhibitory_stationary_state():
    # E-I pair (App. E2): the network's low state equals its finite-N fixed point, which sits
    # below the FRE fixed point by the propagated tail bias. Checks the sign convention of J_ie, J_ii.
    kw = dict(eta_e=-2.0, eta_i=-2.0, J_ee=10.0, J_ei=10.0, J_ie=10.0, J_ii=5.0)
    N, T, dt = (2000, 1000), 4.0, 2e-4
    probe = QIFNetwork.excitatory_inhibitory(N, **kw)
    r_N, v_N = finite_n_stationary(probe, r_guess=[0.1, 0.1])
    net = QIFNetwork.excitatory_inhibitory(N, r0=r_N, **kw)
    res = jaxpop.simulate(net, T, dt, key=jax.random.PRNGKey(5), record_every=50)
    assert res.r.shape == (int(round(T / (50 * dt))), 2)
    se_r, se_v = batch_se(res.r), batch_se(res.v)
    np.testing.assert_array_less(np.abs(np.mean(res.r, 0) - r_N), 4 * se_r)
    np.testing.assert_array_less(np.abs(np.mean(res.v, 0) - v_N), 4 * se_v)
    fre = jaxpop.MontbrioPazoRoxin.excitatory_inhibitory(**kw, r0=0.1, v0=-1.5)
    r_fre = np.asarray(jaxpop.solve(fre, 200.0, ts=jnp.array([200.0])).r[-1])
    deficit = fre_rate_deficit(np.asarray(fre.eta_bar), np.asarray(fre.J), np.zeros((2, 2)), [1.0, 1.0], r_fre, N)
    np.testing.assert_array_less(np.abs(r_fre - deficit - r_N), 0.1 * np.abs(deficit))
    # the twin built from the FRE model has the same parameters
    twin = QIFNetwork.from_fre(fre, N=N)
    for name in ("eta_bar", "delta", "J", "Gamma", "tau"):
        np.testing.assert_array_equal(np.asarray(getattr(twin, name)), np.asarray(getattr(net, name)))


# ----------------------------------------------------------------------------- noise (App. D)
@pytest.mark.parametrize("eta,D", [(0.0, 1.0), (1.0, 0.5)])
def test_noise_driven_identical_neurons_rate(eta, D):
    # Uncoupled identical neurons, tau V' = V^2 + eta + xi, <xi xi'> = 2 D delta: the mean
    # first-passage time from -inf to +inf is (Gaussian integral over y in the double integral)
    #   T = sqrt(pi/D) int_0^inf z^(-1/2) exp(-(eta z + z^3/12)/D) dz,
    # and the stationary rate is 1/T (V_p -> inf; the hold corrects V_p = 100 to O(V_p^-3)).
    T_fpt = math.sqrt(np.pi / D) * quad(lambda z: z**-0.5 * math.exp(-(eta * z + z**3 / 12) / D), 0, np.inf)[0]
    rate = 1 / T_fpt
    # dt = 5e-4: Euler-Maruyama's bias at this step is < 0.5 SE (checked against dt = 1e-4)
    N, T, dt = 1000, 10.0, 5e-4
    net = QIFNetwork(N, eta_bar=eta, J=0.0, distribution="delta", D=D)
    res = jaxpop.simulate(net, T, dt, key=jax.random.PRNGKey(6), record_every=200)
    # discard the first 2 time units (start at rest / on the deterministic orbit)
    r = np.asarray(res.r)[20:]
    # count of N renewal processes over T' with CV <= 1: SE <= sqrt(rate / (N T'))
    se = math.sqrt(rate / (N * (T - 2.0)))
    assert abs(r.mean() - rate) < 4 * se + 1e-3 * rate


# ----------------------------------------------------------------------------- dynamics vs FREs
def fig2_errors(N, protocol="step", T=6.0, dt=1e-4, t0=-1.0, key=1):
    """NRMSE (r smoothed over 2e-2, App. A; v raw) of the network against (a) the FREs and (b) the
    FREs corrected for the quantile tail truncation, for the Fig. 2 protocols (eta_bar = -5, J = 15).

    (b): the quantile samples lack the Lorentzian tails |eta| >~ N/pi. Those neurons' input is
    dominated by eta, so what they would add is time-independent: the upper tail would fire at
    sqrt(eta)/pi (rate deficit b = quantile_tail_bias(N)), the lower tail rests at -sqrt(-eta)
    (mean-voltage offset +pi b). The finite network is then the FRE with eta_bar - J b (its
    recurrent input is short by J b), read out as r - b and v + pi b: no free parameter.
    """
    b = quantile_tail_bias(N)
    drive = jaxpop.Step(3.0, 0.0, 30.0) if protocol == "step" else jaxpop.Sinusoid(3.0, np.pi / 20)
    fres = []
    for eta in (-5.0, -5.0 - 15.0 * b):
        r_lo, v_lo = (x[0] for x in mpr_fixed_points(eta, 15.0))
        fres.append(jaxpop.MontbrioPazoRoxin(eta, 1.0, 15.0, r0=r_lo, v0=v_lo))
    net = QIFNetwork.from_fre(fres[0], N=N)
    res = jaxpop.simulate(net, T, dt, t0=t0, key=jax.random.PRNGKey(key), drive=drive,
                          record_every=int(round(1e-3 / dt)))
    ts = np.asarray(res.ts)
    m = ts > 0
    rs, v = smooth_rate(res.r, res.bin_width, 2e-2)[m], np.asarray(res.v)[m]
    out = []
    for fre, (dr, dv) in zip(fres, ((0.0, 0.0), (-b, np.pi * b))):
        # accumulated r is the average over (ts - bin, ts]: compare with the FRE at the bin centre
        sol = jaxpop.solve(fre, T, t0=t0, drive=drive, ts=ts - res.bin_width / 2)
        out.append((float(nrmse(rs, np.asarray(sol.r)[m] + dr)), float(nrmse(v, np.asarray(sol.v)[m] + dv))))
    return out


def test_step_protocol_vs_fre():
    # Fig. 2 (left), first 6 time units after the step: escape from the low state and the largest
    # synchronous bursts, the most sensitive part of the protocol.
    # (1) Thermodynamic limit: the distance to the FREs comes from the quantile tail truncation
    #     (which delays the escape) and finite-size fluctuations, both O(N^-1/2), so it must fall
    #     by ~sqrt(8) = 2.8 from N = 1000 to 8000 (measured 2.4 for r and v: the delay is not small
    #     at N = 1000). An error that does not vanish with N (a wrong coupling, drive or reset)
    #     would give a ratio near 1. dt = 2e-4 changes the errors by < 1 % against dt = 1e-4.
    # (2) With the truncation accounted for (fig2_errors, no free parameter) the network tracks
    #     the FREs to the 10 % in r already at N = 8000 (measured r 0.057, v 0.085; v is
    #     the raw, heavy-tailed mean voltage).
    (small, small_c), (large, large_c) = fig2_errors(1000, dt=2e-4), fig2_errors(8000, dt=2e-4)
    assert large[0] < small[0] / 2.0 and large[1] < small[1] / 2.0, (small, large)
    assert large_c[0] < 0.10 and large_c[1] < 0.12, large_c
    assert large_c[0] < large[0] / 3  # the truncation is what separates network and FREs


# ----------------------------------------------------------------------------- bookkeeping
def test_rectangular_synapse_counts_each_spike_for_tau_s():
    # int s dt = (spikes)/N: every spike contributes 1/(N tau_s) for exactly tau_s/dt steps
    # (tau_s a multiple of dt) or tau_s/dt steps on average otherwise. Uncoupled so that s is
    # only recorded. Spikes in the last tau_s are counted in r but not yet fully in s, and s at
    # t0 carries spikes from before t0: both edges are bounded by N tau_s r spikes.
    N = 200
    for dt, T in ((1e-4, 5.0), (3e-4, 5.1)):
        net = QIFNetwork(N, eta_bar=1.0, J=0.0)
        res = jaxpop.simulate(net, T, dt, key=jax.random.PRNGKey(7), record=("r", "s"))
        r, s = np.asarray(res.r), np.asarray(res.s)
        n_spikes = r.sum() * N * dt
        edge = 2 * (N * 1e-3 * r.max() * 1.0 + 1)  # spikes in an edge window of width tau_s
        assert abs(s.sum() * dt * N - n_spikes) < edge + (0 if dt == 1e-4 else 0.5 * math.sqrt(n_spikes))


def test_spike_raster_is_decimation_invariant():
    # spikes are summed over recording blocks and r averaged: the raster at record_every = 10
    # holds exactly the spikes of the full-resolution raster, and both agree with r.
    net = QIFNetwork(50, eta_bar=2.0, J=2.0)
    kw = dict(key=jax.random.PRNGKey(8), record=("r", "spikes"))
    fine = jaxpop.simulate(net, 1.0, 1e-4, **kw)
    coarse = jaxpop.simulate(net, 1.0, 1e-4, record_every=10, **kw)
    n_f, t_f = fine.spike_trains()
    n_c, t_c = coarse.spike_trains()
    assert len(n_f) == len(n_c) > 20
    np.testing.assert_array_equal(np.bincount(n_f, minlength=50), np.bincount(n_c, minlength=50))
    assert np.all((t_c - t_f >= -1e-12) & (t_c - t_f < 10 * 1e-4 + 1e-12))  # same spike, end of its block
    np.testing.assert_allclose(float(np.sum(coarse.r)) * 50 * coarse.bin_width, len(n_c), rtol=1e-12)


@pytest.mark.slow  # default-suite budget: ~15 s; the engine's trials rule: tests/test_simulate.py
def test_same_key_same_result_and_trials_match_loop():
    net = QIFNetwork(20, eta_bar=0.5, J=5.0, D=0.5)
    drive = jaxpop.Step(1.0, 0.002, 0.006)
    kw = dict(key=jax.random.PRNGKey(11), drive=drive, record=("r", "v", "V"))
    a = jaxpop.simulate(net, 0.01, 1e-4, **kw)
    np.testing.assert_array_equal(np.asarray(a["V"]), np.asarray(jaxpop.simulate(net, 0.01, 1e-4, **kw)["V"]))
    tr = jaxpop.simulate(net, 0.01, 1e-4, trials=3, **kw)
    # the engine's contract: trial i of trials=n is the single run with key split(key, n)[i]
    for i, k in enumerate(jax.random.split(kw["key"], 3)):
        one = jaxpop.simulate(net, 0.01, 1e-4, **{**kw, "key": k})
        for name in ("r", "v", "V"):
            np.testing.assert_allclose(np.asarray(tr[name][i]), np.asarray(one[name]), rtol=1e-12, atol=1e-12)
    # and the step is the documented one: init(k_init), step k with fold_in(k_steps, k)
    k_init, k_steps = jax.random.split(kw["key"])
    step = jax.jit(lambda st, t, k: net.step(st, t, 1e-4, drive, k))
    st = net.init(k_init)
    for k in range(100):
        st = step(st, k * 1e-4, jax.random.fold_in(k_steps, k))
    np.testing.assert_allclose(np.asarray(a["V"][-1]), np.asarray(st["V"]), rtol=1e-12, atol=1e-12)
    assert not np.allclose(np.asarray(tr["V"][0, -1]), np.asarray(tr["V"][1, -1]))


def test_gradient_wrt_eta_bar_matches_finite_difference():
    # sub-threshold network (all eta_j << 0, no spikes): V_j relaxes smoothly, so the mean voltage
    # after a short run is differentiable in eta_bar; compare with a central difference.
    def v_end(eta_bar):
        net = QIFNetwork(20, eta_bar=eta_bar, delta=0.5, J=2.0, distribution="gaussian")
        res = jaxpop.simulate(net, 0.1, 1e-3, key=jax.random.PRNGKey(0), record=("v",))
        return res.v[-1]

    g = jax.grad(v_end)(-6.0)
    h = 1e-4
    fd = (v_end(-6.0 + h) - v_end(-6.0 - h)) / (2 * h)
    np.testing.assert_allclose(float(g), float(fd), rtol=1e-6)
    assert float(g) > 0


def test_smooth_rate_and_nrmse():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(101, 2))
    # odd window: plain centred boxcar in the interior
    y = np.asarray(smooth_rate(x, 0.1, 0.5))
    np.testing.assert_allclose(y[10], x[8:13].mean(0), rtol=1e-12)
    np.testing.assert_allclose(y[0], x[:3].mean(0), rtol=1e-12)  # truncated at the edge
    # even window: n + 1 samples, half weight at the ends
    y = np.asarray(smooth_rate(x[:, 0], 0.1, 0.4))
    np.testing.assert_allclose(y[10], (0.5 * x[8, 0] + x[9:12, 0].sum() + 0.5 * x[12, 0]) / 4, rtol=1e-12)
    # a linear ramp is left unchanged by a centred window
    ramp = np.linspace(0, 1, 50)
    np.testing.assert_allclose(np.asarray(smooth_rate(ramp, 1.0, 6.0))[5:-5], ramp[5:-5], rtol=1e-12)
    assert float(nrmse(x[:, 0], x[:, 0])) == 0.0
    np.testing.assert_allclose(float(nrmse(np.full(101, x[:, 1].mean()), x[:, 1])), 1.0, rtol=1e-12)
    # traced input (jit / grad) runs the same code in jax.numpy
    yj = jax.jit(lambda z: smooth_rate(z, 0.1, 0.4))(jnp.asarray(x[:, 0]))
    np.testing.assert_allclose(np.asarray(yj), y, rtol=1e-12)
    with pytest.raises(ValueError, match="window"):
        smooth_rate(x, 0.1, 0.01)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,match", [
    (dict(N=0), "N must be"),
    (dict(N=-3), "N must be"),
    (dict(N=2.5), "N must be"),
    (dict(N=(10, 0)), "N must be"),
    (dict(N=True), "N must be"),
    (dict(delta=-1.0), "delta"),
    (dict(D=-0.1), "D must be"),
    (dict(V_peak=0.0), "V_peak"),
    (dict(V_reset=5.0), "V_reset"),
    (dict(tau=0.0), "tau"),
    (dict(tau_s=-1e-3), "tau_s"),
    (dict(Gamma=-1.0), "Gamma"),
    (dict(distribution="poisson"), "lorentzian"),
    (dict(distribution="delta", delta=1.0), "delta=0"),
    (dict(eta_sampling="sobol"), "eta_sampling"),
    (dict(synapse="alpha"), "synapse"),
    (dict(N=10, eta_bar=[1.0, 2.0]), "scalars"),
    (dict(N=(10, 10), J=[1.0, 2.0]), "J must be a scalar or have shape"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QIFNetwork(**kwargs)


def test_noise_switched_off_statically_is_never_silently_ignored():
    # noise=False (the default for D = 0) draws no random numbers; a D put in later (a sweep
    # replaces array leaves) must raise instead of being ignored.
    import equinox as eqx

    bad = eqx.tree_at(lambda m: m.D, QIFNetwork(10), jnp.array([0.5]))
    with pytest.raises(Exception, match="noise=True"):
        jaxpop.simulate(bad, 0.01, 1e-4, key=jax.random.PRNGKey(0))
    ok = eqx.tree_at(lambda m: m.D, QIFNetwork(10, noise=True), jnp.array([0.5]))
    quiet = QIFNetwork(10, noise=True)
    kw = dict(key=jax.random.PRNGKey(0), record=("V",))
    assert not np.allclose(jaxpop.simulate(ok, 0.01, 1e-4, **kw)["V"], jaxpop.simulate(quiet, 0.01, 1e-4, **kw)["V"])


def test_bad_dt():
    net = QIFNetwork(10)
    with pytest.raises(ValueError, match="dt"):
        jaxpop.simulate(net, 1.0, 2e-3, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="max\\|eta_j\\|"):
        jaxpop.simulate(QIFNetwork(10, eta_bar=1e8, delta=0.0), 0.01, 1e-4, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="tau_s"):
        jaxpop.simulate(QIFNetwork(10, tau_s=5e-5), 1.0, 1e-4, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="drive"):
        jaxpop.simulate(QIFNetwork((10, 10)), 0.01, 1e-4, key=jax.random.PRNGKey(0), drive=jnp.ones(3))


# ----------------------------------------------------------------------------- slow: the paper's setting
@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["step", "sinusoid"])
def test_fig2_protocols_at_paper_size(protocol):
    # N = 10^4, dt = 1e-4 (App. A), t in [0, 40] (step) / [0, 80] (sinusoid), started in the low
    # state at t = -2. Measured NRMSE against the FREs: step r 0.26, v 0.42; sinusoid r 0.28,
    # v 0.30 -- a ~0.07 delay of the sharp bursts from the quantile tail truncation. Against the
    # truncation-corrected FREs (fig2_errors): step r 0.083, v 0.128; sinusoid r 0.042, v 0.042.
    T = 40.0 if protocol == "step" else 80.0
    plain, corrected = fig2_errors(10_000, protocol, T=T, dt=1e-4, t0=-2.0)
    assert corrected[0] < 0.10 and corrected[1] < 0.15, (plain, corrected)
    assert plain[0] < 0.35, plain  # the FREs alone explain > 88 % of the variance of r


@pytest.mark.slow
def test_fig2_converges_with_N():
    # the N^-1/2 convergence of test_step_protocol_vs_fre continued to N = 5 * 10^4 at dt = 1e-4
    # (sqrt(5) = 2.24 expected; measured 1.83 for r, 1.80 for v)
    (e1, _), (e2, _) = fig2_errors(10_000), fig2_errors(50_000)
    assert e2[0] < e1[0] / 1.6 and e2[1] < e1[1] / 1.6, (e1, e2)


@pytest.mark.slow
def test_excitatory_inhibitory_dynamics_vs_fre():
    # E-I pair driven by a step into E (relaxation bursts of E and I), N = 10^4 per population,
    # dt = 1e-4, against the plain FREs: measured NRMSE r (0.056, 0.063), v (0.039, 0.063).
    kw = dict(eta_e=-2.0, eta_i=-2.0, J_ee=10.0, J_ei=10.0, J_ie=10.0, J_ii=5.0)
    fre0 = jaxpop.MontbrioPazoRoxin.excitatory_inhibitory(**kw, r0=0.1, v0=-1.5)
    y = jaxpop.solve(fre0, 200.0, ts=jnp.array([200.0]))
    fre = jaxpop.MontbrioPazoRoxin.excitatory_inhibitory(**kw, r0=y.r[-1], v0=y.v[-1])
    net = QIFNetwork.from_fre(fre, N=10_000)
    drive = jaxpop.Step(jnp.array([3.0, 0.0]), 0.0, 10.0)
    res = jaxpop.simulate(net, 15.0, 1e-4, t0=-1.0, key=jax.random.PRNGKey(2), drive=drive, record_every=10)
    ts = np.asarray(res.ts)
    sol = jaxpop.solve(fre, 15.0, t0=-1.0, drive=drive, ts=ts - res.bin_width / 2)
    m = ts > 0
    e_r = np.asarray(nrmse(smooth_rate(res.r, res.bin_width, 0.02)[m], np.asarray(sol.r)[m], axis=0))
    e_v = np.asarray(nrmse(np.asarray(res.v)[m], np.asarray(sol.v)[m], axis=0))
    assert np.all(e_r < 0.10) and np.all(e_v < 0.10), (e_r, e_v)
