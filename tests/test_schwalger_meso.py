"""Tests of the Schwalger–Deger–Gerstner mesoscopic model (:class:`jaxpop.meso.SchwalgerMeso`).

Oracles: renewal theory (the stationary rate of Schwalger et al. 2017, by quadrature), the discrete-time renewal
rate of a Poisson neuron with dead time, conservation of neural mass (exact for N → ∞, in the mean
for the Λ model), central finite differences of the gradients, key reproducibility and trials.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import jaxpop
from jaxpop.core.gif_params import GIFParams
from jaxpop.meso import SchwalgerMeso, history_length
from jaxpop.presets import schwalger_2017

RENEWAL = dict(mu=24.0, tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=2.5, V_T_star=15.0, V_reset=0.0)


def renewal_rate(mu, tau_m, t_ref, lambda_0, Delta_V, V_T_star, V_reset):
    """Stationary rate (Hz) of the escape-noise LIF renewal process (Schwalger et al. 2017), by quadrature."""
    def hazard(s):  # 1/ms, s = time since the end of the refractory period
        u = mu + (V_reset - mu) * np.exp(-s / tau_m)
        return lambda_0 * 1e-3 * np.exp((u - V_T_star) / Delta_V)

    def survival(s):
        return np.exp(-integrate.quad(hazard, 0.0, s, limit=200, epsabs=1e-13, epsrel=1e-12)[0])

    mean_isi = t_ref + integrate.quad(survival, 0.0, 400.0, limit=400, points=[5, 10, 20, 40, 80],
                                      epsabs=1e-12, epsrel=1e-12)[0]
    return 1e3 / mean_isi


def stationary_rate(model, dt, t_end, settled=1e-6):
    res = jaxpop.simulate(model, t_end, dt, key=jax.random.PRNGKey(0), record="A", record_every=int(round(10 / dt)))
    A = np.asarray(res["A"])[:, 0]
    # the N -> infinity model is deterministic: check that it has settled before using it
    assert np.ptp(A[-10:]) < settled * A[-1]
    return A[-1]


def _renewal_errors(dts):
    r0 = renewal_rate(**RENEWAL)
    errs = {}
    for dt in dts:
        params = GIFParams(1000, **RENEWAL, delay=dt)
        errs[dt] = stationary_rate(SchwalgerMeso(params, dt=dt, variant="mean_field"), dt, 800.0) / r0 - 1
    return errs


def test_mean_field_rate_converges_to_renewal_theory():
    errs = _renewal_errors((0.1, 0.05))
    assert abs(errs[0.05]) <= 2e-3  # acceptance: <= 0.2 % at dt = 0.05 ms
    assert abs(errs[0.05]) < 0.5 * abs(errs[0.1])  # first order in dt: the error halves


@pytest.mark.slow
def test_mean_field_rate_convergence_table():
    errs = _renewal_errors((0.5, 0.2, 0.1, 0.05))
    # measured: -5.9e-3, -2.2e-3, -8.5e-4, -2.6e-4 (first order in dt)
    e = [abs(errs[d]) for d in (0.5, 0.2, 0.1, 0.05)]
    assert all(a > b for a, b in zip(e, e[1:])), errs  # converges monotonically
    assert e[-1] <= 2e-3


# ---------------------------------------------------------------------------------------------- time discretisation
def _self_consistent_rate(mu, J, N, **kw):
    """N -> infinity stationary rate (Hz) of an all-to-all coupled population without adaptation: the renewal rate
    at the mean input mu + tau_m J p N r (p = 1; the synaptic filter and the delay do not change the mean)."""
    from scipy import optimize
    f = lambda r: renewal_rate(**dict(kw, mu=mu + kw["tau_m"] * J * N * r * 1e-3)) - r
    return optimize.brentq(f, 1.0, 200.0, xtol=1e-12)


COUPLED = dict(N=1000, J=0.015, mu=18.0)  # +0.3 mV per Hz of the population's own rate: 29.07 Hz


def _coupled_errors(dts, schemes=("nest", "midpoint")):
    r0 = _self_consistent_rate(**COUPLED, **{k: v for k, v in RENEWAL.items() if k != "mu"})
    errs = {}
    for dt in dts:
        params = GIFParams(COUPLED["N"], **dict(RENEWAL, mu=COUPLED["mu"]), J=COUPLED["J"], p=1.0, delay=1.0,
                           tau_syn_ex=3.0, tau_syn_in=3.0)
        for scheme in schemes:
            model = SchwalgerMeso(params, dt=dt, variant="mean_field", scheme=scheme)
            errs[dt, scheme] = stationary_rate(model, dt, 1500.0) / r0 - 1
    return errs


def test_midpoint_scheme_rate_at_coarse_steps():
    # Acceptance (issue 10): at 1-ms steps the stationary rate of a coupled population without adaptation is within
    # 1 % of the network's N -> infinity rate (self-consistent renewal theory; the all-to-all GIFNetwork agrees with it
    # to 0.15 %, test_midpoint_scheme_vs_network). NEST's scheme is first order (spikes at the end of their bin: the
    # dead time is t_ref + h); births at the bin's midpoint make the error second order. Measured (2026-12-03):
    #   dt (ms)       1        0.5      0.25     0.1
    #   'nest'     -2.64 %  -1.35 %  -0.66 %  -0.23 %
    #   'midpoint' +0.058 % +0.015 % +0.0037 % +0.0006 %
    # and uncoupled (RENEWAL): 'nest' -1.19 %, -0.59 %, -0.28 %, -0.085 %; 'midpoint' +0.018 %, +0.0044 %,
    # +0.0011 %, +0.0002 %.
    errs = _coupled_errors((1.0, 0.5))
    assert abs(errs[1.0, "midpoint"]) <= 0.01  # acceptance: 1 %
    assert abs(errs[0.5, "midpoint"]) <= 0.3 * abs(errs[1.0, "midpoint"])  # second order: the error quarters
    assert errs[1.0, "nest"] < -0.02 and abs(errs[0.5, "nest"] / errs[1.0, "nest"] - 0.5) < 0.05  # first order
    r0 = renewal_rate(**RENEWAL)
    for dt, bound in ((1.0, 1e-3), (0.5, 2.5e-4)):
        model = SchwalgerMeso(GIFParams(1000, **RENEWAL, delay=dt), dt=dt, variant="mean_field", scheme="midpoint")
        assert abs(stationary_rate(model, dt, 800.0) / r0 - 1) <= bound


@pytest.mark.slow
def test_midpoint_scheme_vs_network():
    # The all-to-all GIFNetwork (N = 1000, dt = 0.1 ms, 4 trials x 9.5 s) against the mesoscopic N -> infinity
    # rate at 1-ms steps. Tolerance: 1 % (acceptance) + 4 SE of the network's trial mean (plus its finite-N and
    # own-dt deviation from the N -> infinity rate, included in the 1 %). Measured: network -0.15 % (SE 0.03 %)
    # from the self-consistent rate; meso at 1 ms +0.058 % ('midpoint'), -2.64 % ('nest').
    from jaxpop.micro import GIFNetwork
    params = GIFParams(COUPLED["N"], **dict(RENEWAL, mu=COUPLED["mu"]), J=COUPLED["J"], p=1.0, delay=1.0,
                       tau_syn_ex=3.0, tau_syn_in=3.0)
    net = GIFNetwork(params, dt=0.1, connectivity="all_to_all")
    res = jaxpop.simulate(net, 10000.0, 0.1, key=jax.random.PRNGKey(1), record="A", record_every=1000, trials=4)
    per_trial = np.asarray(res["A"])[:, 5:, 0].mean(axis=1)
    r_net, se = per_trial.mean(), per_trial.std(ddof=1) / np.sqrt(per_trial.size)
    model = SchwalgerMeso(params, dt=1.0, variant="mean_field", scheme="midpoint")
    r_meso = stationary_rate(model, 1.0, 1500.0)
    assert abs(r_meso / r_net - 1) <= 0.01 + 4 * se / r_net, (r_meso, r_net, se)
    r_nest = stationary_rate(SchwalgerMeso(params, dt=1.0, variant="mean_field"), 1.0, 1500.0)
    assert r_nest / r_net - 1 < -0.02  # the first-order scheme misses by more than 2 %


def _p_step(P):
    """The algorithm's survival rule: linear for P <= 0.01, 1 - exp(-P) above."""
    return P if P <= 0.01 else -np.expm1(-P)


@pytest.mark.parametrize("dt", [pytest.param(0.2, marks=pytest.mark.slow), 0.1])
def test_poisson_with_dead_time(dt):
    # V_reset = mu: the hazard is constant, lam = c exp((mu - u_th)/Delta_u) = 10 e^2 Hz, after t_ref.
    mu, t_ref = 20.0, 4.0
    lam = 10.0 * np.exp((mu - 15.0) / 2.5)
    params = GIFParams(1000, mu=mu, tau_m=20.0, t_ref=t_ref, lambda_0=10.0, Delta_V=2.5, V_T_star=15.0,
                       V_reset=mu, delay=dt)
    # a window of 400 ms: the free pool holds e^{-lam 0.396 s} ~ 1e-13 of the neurons
    model = SchwalgerMeso(params, dt=dt, variant="mean_field", history=int(round(400 / dt)))
    rate = stationary_rate(model, dt, 600.0, settled=1e-11)
    # discrete renewal: a spike in step k, refractory for k_ref steps, then escape probability p1 (trapezoid
    # with the previous hazard 0) and p afterwards: mean ISI = h (k_ref + 1 + (1 - p1)/p)
    k_ref = int(round(t_ref / dt))
    p1, p = _p_step(0.5 * lam * dt * 1e-3), _p_step(lam * dt * 1e-3)
    r_disc = 1e3 / (dt * (k_ref + 1 + (1 - p1) / p))
    assert rate == pytest.approx(r_disc, rel=1e-9)
    # continuum limit r0 = lam / (1 + lam t_ref): to first order the discrete mean ISI exceeds t_ref + 1/lam by
    # dt/2 (linear rule, h/p = 1/lam) or dt (1 - e^{-P} rule, h/p = 1/lam + h/2), so |rate/r0 - 1| <= dt r0
    r0 = lam / (1 + lam * t_ref * 1e-3)
    assert abs(rate / r0 - 1) <= dt * 1e-3 * r0


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_poisson_with_dead_time_midpoint(dt):
    # scheme='midpoint': a spike in bin k is placed at the bin's midpoint, so the neuron is released in the middle of
    # the bin k_ref steps later (half a step active, escape probability p1 = 1 - e^{-lam h / 2}) and escapes with
    # p = 1 - e^{-lam h} per step afterwards: mean ISI = h (k_ref + (1 - p1) / p) = t_ref + h / (2 sinh(lam h / 2)),
    # which differs from the continuum t_ref + 1/lam at second order, -(lam h)^2 / (24 lam).
    mu, t_ref = 20.0, 4.0
    lam = 10.0 * np.exp((mu - 15.0) / 2.5)
    params = GIFParams(1000, mu=mu, tau_m=20.0, t_ref=t_ref, lambda_0=10.0, Delta_V=2.5, V_T_star=15.0,
                       V_reset=mu, delay=dt)
    model = SchwalgerMeso(params, dt=dt, variant="mean_field", history=int(round(400 / dt)), scheme="midpoint")
    rate = stationary_rate(model, dt, 600.0, settled=1e-11)
    k_ref, mu_h = int(round(t_ref / dt)), lam * dt * 1e-3
    p1, p = -np.expm1(-0.5 * mu_h), -np.expm1(-mu_h)
    assert rate == pytest.approx(1e3 / (dt * (k_ref + (1 - p1) / p)), rel=1e-9)
    r0 = lam / (1 + lam * t_ref * 1e-3)
    assert abs(rate / r0 - 1) <= mu_h ** 2 / 24 * 1.01  # second order


@pytest.mark.slow  # 20 s; the default suite checks the same through the meso-mass target (test_reproduce_meso)
def test_neural_mass_lambda_vs_naive():
    # N = 20 neurons, 64 independent trials of 4 s. In the naive model (Λ = 0) the neural mass is a
    # martingale driven by the finite-size noise and absorbed at 0 (a Feller / CIR process without
    # restoring force, lecture): trials collapse and the spread across trials grows. In the Λ model the
    # missing mass relaxes to 0 (E[d missing] = -P_Λ missing): the mass stays near 1 in every trial.
    params = GIFParams(20, **RENEWAL, delay=1.0)
    dt, t_end, trials = 0.5, 4000.0, 64
    out = {}
    for variant in ("lambda", "naive", "mean_field"):
        res = jaxpop.simulate(SchwalgerMeso(params, dt=dt, variant=variant), t_end, dt, key=jax.random.PRNGKey(0),
                              record="mass", record_every=200, trials=None if variant == "mean_field" else trials)
        out[variant] = np.asarray(res["mass"])[..., 0]
    # N -> infinity: the age cohorts hold every neuron exactly
    np.testing.assert_allclose(out["mean_field"], 1.0, atol=1e-12)
    lam, naive = out["lambda"][:, 10:], out["naive"][:, -1]  # Λ: after 1 s; naive: at the end
    # Λ model: mass 1 on average (4 standard errors of the mean over trials, trials independent) and bounded
    per_trial = lam.mean(axis=1)
    assert abs(per_trial.mean() - 1) <= 4 * per_trial.std(ddof=1) / np.sqrt(trials)
    assert 0.3 < lam.min() and lam.max() < 1.7
    # naive model: a large share of the trials has collapsed (Feller's law for this setting predicts
    # ~ exp(-2N / (r t)) = 0.44 with r = 12.2 Hz; >= 0.2 is 4.6 binomial SEs below that), and the
    # spread of the mass across trials is several times that of the Λ model
    collapsed = np.mean(naive <= 1e-9)
    assert collapsed >= 0.2, collapsed
    assert naive.std() > 3 * out["lambda"][:, -1].std()


# ---------------------------------------------------------------------------------------------- gradients
GRAD_NAMES = ("mu[0]", "J[0,1]", "Delta_V[0]", "q_sfa[0]")


def _grad_model(**kwargs):
    params = GIFParams((400, 100), mu=(18.0, 16.0), tau_m=10.0, t_ref=2.0, lambda_0=10.0, Delta_V=(3.0, 2.5),
                       V_T_star=15.0, V_reset=0.0, tau_sfa=[[50.0], [50.0]], q_sfa=[[2.0], [1.0]],
                       J=[[0.4, -1.0], [0.5, -0.8]], p=0.2, tau_syn_ex=3.0, tau_syn_in=6.0, delay=1.0)
    return SchwalgerMeso(params, dt=0.5, **kwargs)


def _with(model, theta):
    P = model.params
    new = (P.mu.at[0].set(theta[0]), P.J.at[0, 1].set(theta[1]), P.Delta_V.at[0].set(theta[2]),
           P.q_sfa.at[0, 0].set(theta[3]))
    return eqx.tree_at(lambda m: (m.params.mu, m.params.J, m.params.Delta_V, m.params.q_sfa), model, new)


def _theta0(model):
    P = model.params
    return jnp.array([P.mu[0], P.J[0, 1], P.Delta_V[0], P.q_sfa[0, 0]])


T_GRAD = 100.0


def _loss_sim(model, key):
    def loss(theta):
        res = jaxpop.simulate(_with(model, theta), T_GRAD, model.dt, key=key, record="A")
        return jnp.mean(res["A"][100:] @ jnp.array([0.8, 0.2]))  # last 50 ms, population-weighted
    return loss


def _central_fd(f, theta):
    # step 1e-6 * max(1, |theta|): truncation ~ eps^2 f''' ~ 1e-12 and round-off ~ 1e-16 |f| / eps ~ 1e-10 |f|,
    # both far below the 1e-3 acceptance
    f = jax.jit(f)
    out = []
    for i in range(theta.size):
        e = 1e-6 * max(1.0, abs(float(theta[i])))
        out.append((f(theta.at[i].add(e)) - f(theta.at[i].add(-e))) / (2 * e))
    return np.array(out)


def _check_grad(grad, fd):
    grad = np.asarray(grad)
    rel = np.abs(grad - fd) / np.maximum(np.abs(grad), np.abs(fd))
    assert np.all(np.abs(fd) > 1e-3), dict(zip(GRAD_NAMES, fd))  # every derivative is resolved
    assert np.all(rel <= 1e-3), dict(zip(GRAD_NAMES, rel))


# default suite: the midpoint scheme (NEST's scheme: the contract test's Schwalger mean-field case checks its gradients)
@pytest.mark.parametrize("kwargs", [pytest.param(dict(variant="mean_field"), marks=pytest.mark.slow),
                                    dict(variant="mean_field", scheme="midpoint"),
                                    # default suite: the contract test's Schwalger-lambda-gaussian case checks this
                                    pytest.param(dict(counts="gaussian"), marks=pytest.mark.slow),
                                    pytest.param(dict(mode="gaussian"), marks=pytest.mark.slow)],
                         ids=["mean_field", "mean_field_midpoint", "gaussian_counts", "binomial_gaussian_mode"])
def test_gradients_match_finite_differences(kwargs):
    model = _grad_model(**kwargs)
    loss = _loss_sim(model, jax.random.PRNGKey(1))  # same key on both sides: pathwise derivative
    theta = _theta0(model)
    _check_grad(jax.grad(loss)(theta), _central_fd(loss, theta))


@pytest.mark.slow
def test_straight_through_gradient_matches_finite_differences_of_its_surrogate():
    # Straight-through: the forward count is the exact sample n_t, the backward pass differentiates the mean.
    # So the gradient is exactly that of the surrogate run n_t(theta) = c_t + nbar_t(theta) - nbar_t(theta0),
    # where c_t, nbar_t(theta0) are the counts and expected counts of the exact run with the same key.
    # midpoint scheme: its survival -expm1(-P) is smooth; NEST's scheme switches from P to 1 - exp(-P) at P = 0.01
    # (a jump of 5e-5 in a cohort's escape probability), which the finite differences below can straddle
    key = jax.random.PRNGKey(2)
    model = _grad_model(mode="straight_through", scheme="midpoint")
    theta0 = _theta0(model)
    grad = jax.grad(_loss_sim(model, key))(theta0)
    ref = jaxpop.simulate(_grad_model(mode="exact", scheme="midpoint"), T_GRAD, 0.5, key=key, record=("n", "A_bar"))
    c = ref["n"]
    N = jnp.asarray(model.params.N, dtype=float)
    nbar0 = ref["A_bar"] * N * 0.5e-3
    assert np.all(np.asarray(c) >= 0) and np.any(np.asarray(c) != np.round(np.asarray(nbar0)))

    def surrogate(theta):
        m = _with(model, theta)

        def body(state, inp):
            k, c_t, nb0 = inp
            pre = m.expected_count(state, 0.0, 0.5, lambda t: jnp.zeros(2))
            state = m.add_count(pre, c_t + pre.n_bar - nb0)
            return state, m.observe(state)["A"]

        steps = jnp.arange(c.shape[0])
        _, A = jax.lax.scan(body, m.init(None), (steps, c, nbar0))
        return jnp.mean(A[100:] @ jnp.array([0.8, 0.2]))

    # the surrogate reproduces the forward pass of the straight-through run
    st_loss = _loss_sim(model, key)(theta0)
    np.testing.assert_allclose(surrogate(theta0), st_loss, rtol=1e-12)
    _check_grad(grad, _central_fd(surrogate, theta0))


# ---------------------------------------------------------------------------------------------- keys, trials
def _keys_model():
    return SchwalgerMeso(schwalger_2017.ei_network(adaptation=False), dt=0.5, history=200)


def test_same_key_same_result_and_trials():
    model, key, zero = _keys_model(), jax.random.PRNGKey(7), jnp.zeros(2)
    run = lambda k: np.asarray(jaxpop.simulate(model, 100.0, 0.5, key=k, record="n", drive=zero)["n"])
    a = run(key)
    np.testing.assert_array_equal(a, run(key))
    assert np.any(a != run(jax.random.PRNGKey(8)))
    assert np.all(a == np.round(a)) and a.sum() > 0  # binomial counts are integers
    tr = jaxpop.simulate(model, 100.0, 0.5, key=key, record="n", trials=3, drive=zero)
    np.testing.assert_array_equal(tr["n"][2], run(jax.random.split(key, 3)[2]))


def test_probabilities_outside_unit_interval_raise_at_run_time():
    # a NaN drive makes the expected count NaN: the model's run-time check fires before the probability is clipped
    # to [0, 1] (jaxpop.spikes' own check of p is tested in tests/test_spikes.py); same model, duration and drive
    # structure as above, so the compiled simulation is reused
    with pytest.raises(Exception, match="NaN"):
        jaxpop.simulate(_keys_model(), 100.0, 0.5, key=jax.random.PRNGKey(0), record="n",
                        drive=jnp.array([jnp.nan, 0.0])).data["n"].block_until_ready()


# ---------------------------------------------------------------------------------------------- bad input
def test_history_length_matches_nest_rule():
    # no adaptation: K = floor(5 tau_m / h); with adaptation: theta(K h)/Delta_V >= 0.1 > theta((K+1) h)/Delta_V
    assert history_length(GIFParams(10, tau_m=20.0), 0.5) == (200,)
    p = schwalger_2017.uncoupled_adapting()
    (K,) = history_length(p, 1.0)
    th = lambda s: 1.5 * np.exp(-s / 1000.0) / 2.0
    assert th(K) >= 0.1 > th(K + 1)


@pytest.mark.parametrize("make, name", [
    (lambda: GIFParams(0), "N"),
    (lambda: GIFParams(10, Delta_V=0.0), "Delta_V"),
    (lambda: GIFParams(10, Delta_V=-1.0), "Delta_V"),
    (lambda: GIFParams((10, 10), p=1.5), "p"),
    (lambda: SchwalgerMeso(GIFParams(10, t_ref=4.0), dt=0.3), "t_ref"),
    (lambda: SchwalgerMeso(GIFParams(10, t_ref=4.0, delay=0.25), dt=0.5), "delay"),
    (lambda: SchwalgerMeso(GIFParams(10, t_ref=4.0, delay=1.5), dt=1.0), "delay"),
    (lambda: SchwalgerMeso(schwalger_2017.uncoupled_adapting(), dt=1.0, history=500), "history"),
    (lambda: SchwalgerMeso(GIFParams(10), dt=0.5, variant="exact"), "variant"),
    (lambda: SchwalgerMeso(GIFParams(10), dt=0.5, counts="normal"), "counts"),
])
def test_bad_input_raises_naming_the_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_simulate_rejects_another_dt():
    model = SchwalgerMeso(GIFParams(10), dt=0.5)
    with pytest.raises(ValueError, match="dt"):
        jaxpop.simulate(model, 10.0, 0.25, key=jax.random.PRNGKey(0))


@pytest.mark.parametrize("make, name", [
    # N < 1, or not an integer (a float or bool N used to raise TypeError: 'float' object is not iterable)
    (lambda: GIFParams(-3), "N"),
    (lambda: GIFParams((10, 0)), "N"),
    (lambda: GIFParams(2.5), "N"),
    (lambda: GIFParams(True), "N"),
    (lambda: GIFParams(()), "N"),
    # softness Delta_u <= 0 in one population of several, or NaN
    (lambda: GIFParams((10, 10), Delta_V=(2.0, 0.0)), "Delta_V"),
    (lambda: GIFParams(10, Delta_V=float("nan")), "Delta_V"),
    # probabilities outside [0, 1] (one entry of a matrix; negative; NaN)
    (lambda: GIFParams((10, 10), p=[[0.2, 1.01], [0.2, 0.2]]), "p"),
    (lambda: GIFParams((10, 10), p=-0.1), "p"),
    (lambda: GIFParams(10, p=float("nan")), "p"),
    # other parameters with a range
    (lambda: GIFParams(10, tau_m=0.0), "tau_m"),
    (lambda: GIFParams(10, t_ref=-1.0), "t_ref"),
    (lambda: GIFParams(10, lambda_0=0.0), "lambda_0"),
    (lambda: GIFParams(10, tau_sfa=[0.0], q_sfa=[1.0]), "tau_sfa"),
    (lambda: GIFParams(10, tau_sfa=[100.0]), "q_sfa"),
    (lambda: GIFParams(10, tau_syn_in=-6.0), "tau_syn_in"),
    (lambda: GIFParams(10, delay=-1.0), "delay"),
    # dt that does not resolve the refractory period (of one population) or the delay
    (lambda: SchwalgerMeso(GIFParams((10, 10), t_ref=(4.0, 1.25)), dt=0.5), "t_ref"),
    (lambda: SchwalgerMeso(GIFParams((10, 10), delay=[[1.0, 0.75], [1.0, 1.0]]), dt=0.5), "delay"),
    (lambda: SchwalgerMeso(GIFParams(10, delay=0.0), dt=0.5), "delay"),
    (lambda: SchwalgerMeso(GIFParams(10), dt=0.0), "dt"),
    (lambda: SchwalgerMeso(GIFParams(10), dt=-0.5), "dt"),
    # history window: too short for the adaptation kernels of the network of NEST's gif_pop_psc_exp example
    # (auto K = 2772 bins at dt = 0.5 ms: theta(500 ms)/Delta_V = 0.27), not longer than the refractory period, not one per population
    (lambda: SchwalgerMeso(schwalger_2017.ei_network(adaptation=True), dt=0.5, history=1000), "history"),
    (lambda: SchwalgerMeso(schwalger_2017.ei_network(adaptation=True), dt=0.5, history=(3000, 1000)), "history"),
    (lambda: SchwalgerMeso(GIFParams(10, t_ref=4.0), dt=1.0, history=4), "history"),
    (lambda: SchwalgerMeso(GIFParams((10, 10)), dt=1.0, history=(300,)), "history"),
    (lambda: SchwalgerMeso(GIFParams(10), dt=1.0, history=0), "history"),
    # sampling options
    (lambda: SchwalgerMeso(GIFParams(10), dt=0.5, mode="soft"), "mode"),
    (lambda: SchwalgerMeso(GIFParams(10), dt=0.5, counts="gaussian", mode="straight_through"), "mode"),
])
def test_bad_input_more_cases(make, name):
    # issue 3 acceptance: N < 1, Delta_u <= 0, dt not resolving t_ref or the delay, a history window too short
    # for the adaptation kernels, probabilities outside [0, 1]: a ValueError naming the parameter
    with pytest.raises(ValueError, match=name):
        make()


def test_history_window_at_the_automatic_length_is_accepted():
    # the boundary of the history check: the automatic length itself, and longer windows, are fine
    params = schwalger_2017.ei_network(adaptation=True)
    (K, _) = history_length(params, 0.5)
    assert SchwalgerMeso(params, dt=0.5, history=K).K == (K, K)
    assert SchwalgerMeso(params, dt=0.5, history=K + 10).K == (K + 10, K + 10)
    with pytest.raises(ValueError, match="history"):
        SchwalgerMeso(params, dt=0.5, history=K - 1)


def test_nan_expected_count_raises_for_poisson_counts():
    # as test_probabilities_outside_unit_interval_raise_at_run_time, with Poisson counts (NEST BinoRand = False)
    model = SchwalgerMeso(schwalger_2017.ei_network(adaptation=False), dt=0.5, history=200, counts="poisson")
    with pytest.raises(Exception, match="NaN"):
        jaxpop.simulate(model, 20.0, 0.5, key=jax.random.PRNGKey(0), record="n",
                        drive=jnp.array([jnp.nan, 0.0])).data["n"].block_until_ready()


# ------------------------------------------------------------------ the model contract (issue probes)
def _ei_mean_field(**kw):
    return SchwalgerMeso(schwalger_2017.ei_network(adaptation=False, **kw), dt=0.5, variant="mean_field")


def test_mu_sweep_equals_separately_built_models():
    # The grid sweep used to raise (a NumPy conversion of a traced leaf in check_dt): the first thing a user does.
    key = jax.random.PRNGKey(0)
    base = schwalger_2017.ei_network(adaptation=False)
    model = SchwalgerMeso(base, dt=0.5, variant="mean_field")
    mus = np.array([24.0, 26.0])
    res = jaxpop.sweep(model, {"params.mu": mus}, 200.0, 0.5, key=key, record="A")
    for i, mu in enumerate(mus):
        ref = jaxpop.simulate(SchwalgerMeso(base.replace(mu=mu), dt=0.5, variant="mean_field"), 200.0, 0.5,
                              key=jax.random.fold_in(key, i)).A
        np.testing.assert_allclose(res["A"][i], ref, rtol=1e-12, atol=1e-12)
    assert np.max(np.abs(res["A"][0] - res["A"][1])) > 0.1  # and the two differ


@pytest.mark.parametrize("field", ["params.delay", "params.t_ref", "params.N", "K", "dt"])
def test_structural_fields_cannot_be_swept(field):
    # delay and t_ref used to be array leaves frozen into step counts: a sweep silently ignored them
    model = SchwalgerMeso(schwalger_2017.ei_network(adaptation=False), dt=0.5)
    with pytest.raises(ValueError, match=f"'{field}' is structure of"):
        jaxpop.sweep(model, {field: [1.0, 2.0]}, 10.0, 0.5, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="must be a concrete number"):
        jax.jit(lambda d: GIFParams(10, delay=d))(1.0)


def test_history_window_too_short_for_changed_parameters_raises():
    # built with weak adaptation (short window), then given strong adaptation by tree_at: the window is too short
    # for the new kernel; this used to run silently (+8.5 % rate). Raises before running (concrete) and at run time
    # inside a sweep (traced).
    p = GIFParams(500, mu=20.0, Delta_V=2.0, q_sfa=[0.05], tau_sfa=[1000.0])
    model = SchwalgerMeso(p, dt=0.5, variant="mean_field")
    assert model.K == (200,)  # 5 tau_m: the kernel is below 0.1 Delta_V from the start
    strong = eqx.tree_at(lambda m: m.params.q_sfa, model, jnp.full((1, 1), 10.0))
    with pytest.raises(ValueError, match="history window"):
        jaxpop.simulate(strong, 100.0, 0.5, key=jax.random.PRNGKey(0))
    with pytest.raises(Exception, match="history window"):
        jaxpop.sweep(model, {"params.q_sfa": [0.05, 10.0]}, 20.0, 0.5, key=jax.random.PRNGKey(0))
    # the model built from the strong parameters has the long window, and a sweep inside it is fine
    rebuilt = SchwalgerMeso(p.replace(q_sfa=[10.0]), dt=0.5, variant="mean_field")
    assert rebuilt.K[0] > 5000
    jaxpop.sweep(rebuilt, {"params.q_sfa": [5.0, 10.0]}, 20.0, 0.5, key=jax.random.PRNGKey(0))


def test_built_from_traced_parameters_with_explicit_history():
    # Inside grad, the automatic history length cannot be computed (it sets a shape): an explicit history makes the
    # model buildable from traced parameters, and its gradient is the finite difference of rebuilt models.
    base = schwalger_2017.ei_network(adaptation=True)
    K = SchwalgerMeso(base, dt=0.5).K
    key = jax.random.PRNGKey(0)

    def loss(dv):
        m = SchwalgerMeso(base.replace(Delta_V=dv), dt=0.5, variant="mean_field", history=K)
        return jaxpop.simulate(m, 100.0, 0.5, key=key).A.mean()

    g, h = jax.grad(loss)(2.5), 1e-5
    fd = (loss(2.5 + h) - loss(2.5 - h)) / (2 * h)
    assert abs(g - fd) <= 1e-6 * abs(fd), (g, fd)  # central differences: error O(h^2) ~ 1e-10 relative
    with pytest.raises(ValueError, match="history"):
        jax.grad(lambda dv: jaxpop.simulate(SchwalgerMeso(base.replace(Delta_V=dv), dt=0.5), 10.0, 0.5,
                                            key=key).A.mean())(2.5)


def test_gumbel_counts_window_covers_the_real_ei_population():
    # the regression in brief (default suite): the E-I preset (N = 400 / 100, ~50 expected counts per bin at its
    # rates) in mode='gumbel' runs with the window's run-time mass check active; the rates: the slow test below
    params = schwalger_2017.ei_network(adaptation=True)
    relaxed = SchwalgerMeso(params, dt=0.5, mode="gumbel")
    assert relaxed.support == jaxpop.spikes.count_support(params.N, "binomial")
    A = np.asarray(jaxpop.simulate(relaxed, 100.0, 0.5, key=jax.random.PRNGKey(1)).A)
    assert np.all(np.isfinite(A)) and A[50:].mean() > 0


@pytest.mark.slow
@pytest.mark.parametrize("preset,counts", [("ei", "binomial"), ("ei", "poisson"), ("pd", "binomial")])
def test_gumbel_counts_run_at_real_population_sizes(preset, counts):
    # mode='gumbel' at ~50 expected counts per bin used to raise ("increase `support`") without a way to do so:
    # the count window is now sized from the static population sizes. Its run-time mass check (1e-6) is active,
    # so a run that returns had a window that covered the count laws. The relaxed model's rates against the exact
    # model with the same count law (4 trials x 800 ms after 200 ms): the relaxation at temperature 0.5 biases
    # them by at most 0.9 % (measured, 4 trials x 1.6 s, SE <= 0.4 %); bound 3 % = bias + 5 SE of this shorter run.
    params = schwalger_2017.ei_network(adaptation=True) if preset == "ei" else schwalger_2017.potjans_diesmann_gif()
    key = jax.random.PRNGKey(1)
    relaxed = SchwalgerMeso(params, dt=0.5, counts=counts, mode="gumbel")
    assert relaxed.support == jaxpop.spikes.count_support(params.N, counts)
    rates = [np.asarray(jaxpop.simulate(m, 1000.0, 0.5, key=key, trials=4).A[:, 400:]).mean((0, 1))
             for m in (relaxed, SchwalgerMeso(params, dt=0.5, counts=counts))]
    assert np.all(np.abs(rates[0] / rates[1] - 1) < 0.03), rates
