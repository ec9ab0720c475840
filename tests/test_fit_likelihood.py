"""The exact mesoscopic likelihood (jaxpop.fit.log_likelihood) and the data container.

Oracle for the likelihood: a simulation records, in every step, the sampler's own draw ``n`` and the
expected count it was drawn from (SchwalgerMeso: ``A_bar``; HawkesMeso: the rate of the previous
state); the log-probability of each draw under the law the sampler used is then computed with
``scipy.stats`` (binomial, Poisson with NEST's clip at N, clipped normal). The teacher-forced
likelihood of the recorded counts reruns the model on those counts and must give the same sum
(to 1e-9 relative: only round-off differs).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxpop
from jaxpop.fit import PopulationData, log_likelihood, log_likelihood_terms, log_likelihood_window
from jaxpop.meso import HawkesMeso, SchwalgerMeso
from jaxpop.micro import HawkesParams
from jaxpop.presets import schwalger_2017

KEY = jax.random.PRNGKey(11)


def _schwalger(counts, variant="lambda"):
    return SchwalgerMeso(schwalger_2017.ei_network(adaptation=True), dt=0.5, counts=counts, variant=variant)


def _hawkes(counts, **kw):
    p = HawkesParams((400, 200), mu=(8.0, 6.0), J=((0.2, -0.3), (0.3, -0.1)), tau=(10.0, 5.0), delay=1.0)
    return HawkesMeso(p, counts=counts, dt=0.5, init="mean_field", **kw)


def _reference_logprob(model, res, t_end):
    """Sum over steps and populations of log P(own draw | the law it was drawn from), with scipy."""
    n = np.asarray(res["n"])
    N = np.asarray(model.params.N, float)
    dt = model.dt
    if isinstance(model, SchwalgerMeso):
        n_bar = np.asarray(res["A_bar"]) * N * dt * 1e-3
        if model.counts == "binomial":
            return stats.binom.logpmf(n, N, np.clip(n_bar / N, 0, 1)).sum()
        mu = np.clip(n_bar, 0, None)  # poisson, clipped at N as NEST does
        return np.where(n < N, stats.poisson.logpmf(n, mu), stats.poisson.logsf(N - 1, mu)).sum()
    # HawkesMeso: the law of step k uses the rate of the state before it
    rate0 = np.asarray(model.params.rate(model.init(KEY)["h"]))
    rate = np.concatenate([rate0[None], np.asarray(res["rate"])[:-1]])
    lam = rate * dt * 1e-3
    if model.counts == "poisson":
        return stats.poisson.logpmf(n, N * lam).sum()
    if model.counts == "binomial":
        return stats.binom.logpmf(n, N, -np.expm1(-lam)).sum()
    m, sd = N * lam, np.sqrt(N * lam)  # gaussian, clipped at 0
    return np.where(n > 0, stats.norm.logpdf(n, m, sd), stats.norm.logcdf(0.0, m, sd)).sum()


CASES = {
    "Schwalger-binomial": lambda: _schwalger("binomial"),
    "Schwalger-midpoint": lambda: SchwalgerMeso(schwalger_2017.ei_network(adaptation=True), dt=1.0, scheme="midpoint"),
    "Schwalger-poisson": lambda: _schwalger("poisson"),  # (own-draws check: -m slow)
    "Hawkes-poisson": lambda: _hawkes("poisson"),
    "Hawkes-binomial": lambda: _hawkes("binomial"),
    "Hawkes-gaussian": lambda: _hawkes("gaussian"),
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c == "Schwalger-poisson" else c
                                  for c in CASES])
def test_likelihood_equals_log_prob_of_the_samplers_own_draws(case):
    model = CASES[case]()
    t_end = 300.0
    record = ("n", "A_bar") if isinstance(model, SchwalgerMeso) else ("n", "rate")
    drive = jaxpop.Sinusoid(1.0, 2 * np.pi / 50.0)
    res = jaxpop.simulate(model, t_end, model.dt, key=KEY, drive=drive, record=record)
    data = PopulationData.from_result(res, model=model, drive=drive, integer=model.counts != "gaussian")
    ll = float(log_likelihood(model, data))
    ref = _reference_logprob(model, res, t_end)
    assert np.isfinite(ref) and ref < 0
    assert abs(ll - ref) <= 1e-9 * abs(ref), (ll, ref)
    terms = log_likelihood_terms(model, data)
    assert terms.shape == (1, int(t_end / model.dt), model.params.n_pop) and terms.dtype == jnp.float64
    burn = 50.0
    assert abs(float(log_likelihood(model, data, burn_in=burn)) - float(terms[:, int(burn / model.dt):].sum())) < 1e-9


@pytest.mark.slow  # ~8 s (default-suite budget)
def test_likelihood_window_scores_what_the_windowed_data_score():
    # log_likelihood_window(start, length, burn_in) runs the bins [start, start + burn_in + length) from the initial
    # state and scores the last `length` ms: the same number as the full likelihood of that window of the data
    # with the same burn-in, for a concrete and for a traced start (one compiled function for every window).
    model = CASES["Hawkes-poisson"]()
    drive = jaxpop.Sinusoid(1.0, 2 * np.pi / 50.0)
    data = PopulationData.from_result(jaxpop.simulate(model, 200.0, model.dt, key=KEY, drive=drive, record="n"),
                                      model=model, drive=drive)
    h, B, L = model.dt, 20.0, 50.0
    win = eqx.filter_jit(lambda s: log_likelihood_window(model, data, s, length=L, burn_in=B))
    for s in (0, 37, data.n_bins - int((B + L) / h)):
        ref = float(log_likelihood(model, data.window(data.t0 + s * h, data.t0 + s * h + B + L), burn_in=B))
        assert abs(float(log_likelihood_window(model, data, s, length=L, burn_in=B)) - ref) <= 1e-12 * abs(ref)
        assert abs(float(win(jnp.asarray(s))) - ref) <= 1e-12 * abs(ref)
    with pytest.raises(ValueError, match="window must lie in the data"):
        log_likelihood_window(model, data, data.n_bins, length=L, burn_in=B)
    with pytest.raises(ValueError, match="longer than the data"):
        log_likelihood_window(model, data, 0, length=200.0, burn_in=B)
    with pytest.raises(ValueError, match="length must be a positive whole number"):
        log_likelihood_window(model, data, 0, length=0.7, burn_in=B)


@pytest.mark.parametrize("case,field", [("Schwalger-binomial", "mu"),
                                        pytest.param("Schwalger-poisson", "J", marks=pytest.mark.slow),
                                        ("Hawkes-poisson", "mu"),
                                        pytest.param("Hawkes-binomial", "J", marks=pytest.mark.slow)])
def test_likelihood_gradient_matches_central_differences(case, field):
    # float64; the log-likelihood is a smooth function of the parameters for fixed data. Central differences with
    # h = 1e-6 max(1, |x|): truncation O(h^2) ~ 1e-12, round-off ~ 1e-16 |logL| / h ~ 1e-7 of a gradient of
    # order 10-100: far below the 1e-5 relative tolerance.
    model = CASES[case]()
    res = jaxpop.simulate(model, 200.0, model.dt, key=KEY, record="n")
    data = PopulationData.from_result(res, model=model)
    loss = eqx.filter_jit(lambda m: log_likelihood(m, data, burn_in=20.0))
    grads = eqx.filter_grad(loss)(model)
    x = getattr(model.params, field)
    g = float(jnp.sum(getattr(grads.params, field)))  # along a uniform shift of every entry
    h = 1e-6 * max(1.0, float(jnp.max(jnp.abs(x))))
    shift = lambda d: eqx.tree_at(lambda m: getattr(m.params, field), model, x + d)
    fd = (float(loss(shift(h))) - float(loss(shift(-h)))) / (2 * h)
    assert abs(g) > 0
    np.testing.assert_allclose(g, fd, rtol=1e-5)


@pytest.mark.slow  # ~12 s (default-suite budget)
def test_likelihood_is_vmappable_over_parameter_sets():
    model = _schwalger("binomial")
    res = jaxpop.simulate(model, 40.0, model.dt, key=KEY, record="n")
    data = PopulationData.from_result(res, model=model)
    mus = jnp.array([[20.0, 18.0], [22.0, 19.0], [24.0, 20.0]])
    batched = jax.vmap(lambda mu: log_likelihood(eqx.tree_at(lambda m: m.params.mu, model, mu), data))(mus)
    one = [float(log_likelihood(eqx.tree_at(lambda m: m.params.mu, model, mu), data)) for mu in mus]
    np.testing.assert_allclose(np.asarray(batched), one, rtol=1e-12)


def test_likelihood_refuses_what_it_cannot_score():
    model = _schwalger("binomial")
    res = jaxpop.simulate(model, 20.0, model.dt, key=KEY, record="n")
    data = PopulationData.from_result(res, model=model)
    with pytest.raises(ValueError, match="deterministic"):
        log_likelihood(_schwalger("binomial", variant="mean_field"), data)
    with pytest.raises(TypeError, match="no count law"):
        log_likelihood(jaxpop.MontbrioPazoRoxin(), data)
    wrong_N = PopulationData(data.counts, bin_width=0.5, N=(400, 200))
    with pytest.raises(ValueError, match="population sizes"):
        log_likelihood(model, wrong_N)
    with pytest.raises(ValueError, match="one step per bin"):
        log_likelihood(model, data.rebin(2))
    with pytest.raises(ValueError, match="not a whole number of model steps"):
        log_likelihood(model, PopulationData(data.counts, bin_width=0.75, N=data.N))
    with pytest.raises(ValueError, match="burn_in"):
        log_likelihood(model, data, burn_in=20.0)
    with pytest.raises(ValueError, match="burn_in"):
        log_likelihood(model, data, burn_in=0.3)


def test_population_data_refuses_bad_counts():
    N = (10, 5)
    good = np.zeros((4, 2))
    PopulationData(good, bin_width=1.0, N=N)
    for bad, match in [(-1.0, ">= 0"), (11.0, "<= max_per_neuron"), (np.nan, "finite"), (0.5, "whole numbers")]:
        c = good.copy()
        c[2, 0] = bad
        with pytest.raises(ValueError, match=match):
            PopulationData(c, bin_width=1.0, N=N)
    with pytest.raises(ValueError, match="shape"):
        PopulationData(np.zeros((4, 3)), bin_width=1.0, N=N)
    with pytest.raises(ValueError, match="bin_width"):
        PopulationData(good, bin_width=0.0, N=N)
    with pytest.raises(ValueError, match="N must be"):
        PopulationData(good, bin_width=1.0, N=(10, 0))


def test_population_data_views():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 5, size=(2, 12, 2)).astype(float)
    d = PopulationData(c, bin_width=0.5, N=(10, 20), t0=1.0)
    assert (d.n_trials, d.n_bins, d.n_pop, d.t_end) == (2, 12, 2, 7.0)
    np.testing.assert_allclose(d.ts, 1.0 + 0.5 * np.arange(1, 13))
    np.testing.assert_allclose(np.asarray(d.A), c / (np.array([10, 20]) * 0.5e-3))
    r = d.rebin(3)
    assert r.bin_width == 1.5 and r.max_per_neuron == 3
    np.testing.assert_array_equal(np.asarray(r.counts), c.reshape(2, 4, 3, 2).sum(2))
    with pytest.raises(ValueError, match="multiple"):
        d.rebin(5)
    train, test = d.split(4.0)
    assert (train.n_bins, test.n_bins, test.t0) == (6, 6, 4.0)
    np.testing.assert_array_equal(np.asarray(test.counts), c[:, 6:])
    with pytest.raises(ValueError, match="bin edges"):
        d.window(1.2, 3.0)
    assert d.trial(1).n_trials == 1


def test_population_data_from_spikes_bins_like_nest():
    # spikes stamped at step ends: bin k is (t0 + k b, t0 + (k + 1) b]; a spike at t0 (end of the previous step)
    # and one after t_stop are not counted
    times = np.array([0.0, 0.1, 1.0, 1.0, 1.1, 2.0, 2.5, 3.0, 3.1])
    senders = np.array([1, 1, 2, 5, 4, 3, 6, 1, 2])
    d = PopulationData.from_spikes(times, senders, populations=[(1, 3), range(4, 7)], bin_width=1.0,
                                   t_start=0.0, t_stop=3.0)
    assert d.N == (3, 3)
    np.testing.assert_array_equal(np.asarray(d.counts[0]), [[2, 1], [1, 1], [1, 1]])
    with pytest.raises(ValueError, match="no population"):
        PopulationData.from_spikes(times, senders, populations=[(1, 3), (4, 5)], bin_width=1.0, t_start=0.0,
                                   t_stop=3.0)
    with pytest.raises(ValueError, match="whole number of bins"):
        PopulationData.from_spikes(times, senders, populations=[(1, 3), (4, 6)], bin_width=0.7, t_start=0.0,
                                   t_stop=3.0)
    with pytest.raises(ValueError, match="overlap"):
        PopulationData.from_spikes(times, senders, populations=[(1, 4), (4, 6)], bin_width=1.0, t_start=0.0,
                                   t_stop=3.0)


def test_read_nest_ascii_files(tmp_path):
    # the layout NEST 3 writes (RecordingBackendASCII: comment lines, column names, tab-separated rows), two
    # virtual processes; the NEST peer test (tests/peers/test_nest_io.py) reads files NEST itself wrote
    head = "# NEST version: 3.10\n# RecordingBackendASCII version: 2\nsender\ttime_ms\n"
    (tmp_path / "spikes-7-0.dat").write_text(head + "1\t0.500\n3\t2.000\n")
    (tmp_path / "spikes-7-1.dat").write_text(head + "2\t0.500\n4\t1.500\n")
    times, senders = jaxpop.io.nest.read_spike_files(tmp_path)
    np.testing.assert_array_equal(times, [0.5, 0.5, 1.5, 2.0])
    np.testing.assert_array_equal(senders, [1, 2, 4, 3])
    d = PopulationData.from_nest(str(tmp_path / "spikes-7-*.dat"), populations=[(1, 2), (3, 4)], bin_width=1.0,
                                 t_start=0.0, t_stop=2.0)
    np.testing.assert_array_equal(np.asarray(d.counts[0]), [[2, 0], [0, 2]])
    ev = {"times": times, "senders": senders}
    np.testing.assert_array_equal(np.asarray(PopulationData.from_nest(ev, populations=[(1, 2), (3, 4)], bin_width=1.0,
                                                                      t_start=0.0, t_stop=2.0).counts), d.counts)
    (tmp_path / "steps.dat").write_text("# NEST\nsender\ttime_step\toffset\n1\t5\t0.0\n")
    with pytest.raises(ValueError, match="resolution"):
        jaxpop.io.nest.read_spike_files(tmp_path / "steps.dat")
    np.testing.assert_allclose(jaxpop.io.nest.read_spike_files(tmp_path / "steps.dat", resolution=0.1)[0], [0.5])
    with pytest.raises(FileNotFoundError):
        jaxpop.io.nest.read_spike_files(tmp_path / "none-*.dat")
