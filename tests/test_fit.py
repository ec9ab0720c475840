"""jaxpop.fit: free-parameter specification, the multi-start driver and Laplace errors, on data simulated by the
model itself (meso -> meso), where the truth is known."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpop
from jaxpop import fit
from jaxpop.meso import HawkesMeso
from jaxpop.micro import HawkesParams

KEY = jax.random.PRNGKey(5)
TRUTH = dict(mu=(8.0, 6.0), J=((0.2, -0.3), (0.3, -0.1)))


def _hawkes(mu, J):
    p = HawkesParams((500, 250), mu=mu, J=J, tau=(10.0, 5.0), delay=1.0)
    return HawkesMeso(p, counts="poisson", dt=1.0, init="mean_field")


@pytest.fixture(scope="module")
def hawkes_data():
    model = _hawkes(**TRUTH)
    drive = jaxpop.Sinusoid(jnp.array([2.0, 1.0]), 2 * np.pi / 200.0)
    res = jaxpop.simulate(model, 4_000.0, 1.0, key=KEY, drive=drive, record="n")
    return model, fit.PopulationData.from_result(res, model=model, drive=drive)


@pytest.mark.slow  # ~23 s (a multi-start fit)
def test_hawkes_meso_recovery_within_laplace_errors(hawkes_data):
    # 4 s of 2-population Poisson counts in 1-ms bins, a sinusoidal drive. The MLE is consistent and
    # asymptotically normal with the inverse observed information as covariance: every estimate within 4 Laplace
    # SE of the truth (6 coordinates: a false alarm has probability < 6 x 6.3e-5), and the likelihood at the
    # estimate at least that of the truth (it is the maximum).
    truth, data = hawkes_data
    start = _hawkes(mu=(6.0, 5.0), J=((0.0, 0.0), (0.0, 0.0)))
    res = fit.fit(start, data, {"params.mu": fit.Real(), "params.J": fit.Real()}, key=KEY, starts=[start], steps=50,
                  learning_rate=0.05, polish=20, burn_in=50.0)
    true_vec = np.concatenate([np.ravel(TRUTH["mu"]), np.ravel(TRUTH["J"])])
    z = (res.estimate - true_vec) / res.se
    assert res.laplace_ok and np.all(np.isfinite(res.se))
    assert np.all(np.abs(z) < 4), dict(zip(res.labels, np.round(z, 2)))
    ll_truth = float(fit.log_likelihood(truth, data, burn_in=50.0))
    assert res.log_likelihood >= ll_truth - 1e-6, (res.log_likelihood, ll_truth)
    assert not res.diverged.any()
    assert res.history.shape == (1, 70)
    np.testing.assert_allclose(np.asarray(res.model.params.mu), res.estimate[:2])


def test_parameters_transforms_tie_mask_and_refusals(hawkes_data):
    model, _ = hawkes_data
    spec = fit.Parameters(model, {"params.tau": fit.Free(fit.Positive(), tie=False),
                                  "params.J": fit.Free(fit.Bounded(-1.0, 1.0), mask=np.array([[1, 0], [0, 1]], bool)),
                                  "params.mu": fit.Free(fit.Real(), tie=False)})
    u = spec.init()
    np.testing.assert_allclose(np.asarray(u["params.tau"]), np.log([10.0, 5.0]))
    back = spec.model_at(u)
    for name in ("tau", "J", "mu"):
        np.testing.assert_allclose(np.asarray(getattr(back.params, name)), np.asarray(getattr(model.params, name)),
                                   rtol=1e-12)
    assert spec.labels == ("params.tau[0]", "params.tau[1]", "params.J[0, 0]", "params.J[1, 1]", "params.mu[0]",
                           "params.mu[1]")
    u2 = dict(u, **{"params.J": jnp.array([0.0, 0.0])})  # sigmoid(0) = mid-range: 0; masked entries unchanged
    np.testing.assert_allclose(np.asarray(spec.model_at(u2).params.J), [[0.0, -0.3], [0.3, 0.0]], atol=1e-15)
    tied = fit.Parameters(model.__class__(HawkesParams((500, 250), mu=7.0, tau=10.0), dt=1.0),
                          {"params.mu": fit.Free(fit.Real(), tie=True)})
    assert tied.size == 1
    np.testing.assert_allclose(np.asarray(tied.model_at({"params.mu": jnp.array([3.0])}).params.mu), [3.0, 3.0])
    with pytest.raises(ValueError, match="structure"):
        fit.Parameters(model, {"params.delay": fit.Real()})
    with pytest.raises(ValueError, match="unknown field"):
        fit.Parameters(model, {"params.nope": fit.Real()})
    with pytest.raises(ValueError, match="is not > 0"):
        fit.Parameters(model, {"params.J": fit.Positive()})  # J has negative entries
    with pytest.raises(ValueError, match="tied"):
        fit.Parameters(model, {"params.mu": fit.Free(fit.Real(), tie=True)})  # mu = (8, 6) differ
    with pytest.raises(ValueError, match="low < high"):
        fit.Bounded(1.0, 0.0)


def test_constructor_validation_is_not_bypassed(hawkes_data):
    # a free field fitted with an unconstrained transform can leave the constructor's range: the driver rebuilds
    # every start through the constructor and refuses it by name
    model, data = hawkes_data
    spec = fit.Parameters(model, {"params.tau": fit.Real()})
    with pytest.raises(ValueError, match="tau"):
        spec.validate({"params.tau": jnp.array([-1.0, 5.0])})


def test_diverged_starts_are_reported_and_excluded(hawkes_data):
    model, data = hawkes_data
    short = fit.PopulationData(data.counts[:, :2000], bin_width=1.0, N=data.N, drive=data.drive)

    def objective(m):  # NaN for mu[0] > 9: a start placed there diverges
        ll = fit.log_likelihood(m, short, burn_in=50.0)
        return jnp.where(m.params.mu[0] > 9.0, jnp.nan, -ll / 4000.0)

    good, bad = _hawkes(**TRUTH), _hawkes(mu=(10.0, 6.0), J=TRUTH["J"])
    with pytest.warns(RuntimeWarning, match="1 of 2 starts diverged"):
        res = fit.fit(good, None, {"params.mu": fit.Real()}, key=KEY, objective=objective, starts=[good, bad],
                      steps=5, learning_rate=0.01, polish=0, laplace=False)
    assert res.diverged.tolist() == [False, True] and res.best_start == 0
    assert np.all(np.isfinite(res.estimate))
    with pytest.raises(RuntimeError, match="every one of the 1 starts diverged"):
        fit.fit(good, None, {"params.mu": fit.Real()}, key=KEY, objective=objective, starts=[bad], steps=3,
                polish=0, laplace=False)


@pytest.mark.slow  # ~40 s: the default suite checks the windowed likelihood itself (test_fit_likelihood)
def test_minibatch_windows_then_whole_data_polish(hawkes_data):
    # Adam on random 500-ms windows (each with 100 ms of unscored burn-in), L-BFGS on the whole data for the best
    # of 2 starts: the same maximum as the whole-data fit, so the same 4-SE acceptance as above; the unpolished
    # start keeps NaN in its polish history.
    truth, data = hawkes_data
    start = _hawkes(mu=(6.0, 5.0), J=((0.0, 0.0), (0.0, 0.0)))
    other = _hawkes(mu=(10.0, 4.0), J=((0.1, 0.0), (0.0, -0.2)))
    res = fit.fit(start, data, {"params.mu": fit.Real(), "params.J": fit.Real()}, key=KEY, starts=[start, other],
                  steps=80, learning_rate=0.1, window=500.0, window_burn_in=100.0, polish=20, polish_starts=1,
                  burn_in=50.0)
    true_vec = np.concatenate([np.ravel(TRUTH["mu"]), np.ravel(TRUTH["J"])])
    z = (res.estimate - true_vec) / res.se
    assert np.all(np.abs(z) < 4), dict(zip(res.labels, np.round(z, 2)))
    assert res.history.shape == (2, 100)
    assert np.isnan(res.history[1 - res.best_start, 80:]).all() and np.isfinite(res.history[res.best_start]).all()
    with pytest.raises(ValueError, match="window_burn_in"):
        fit.fit(start, data, {"params.mu": fit.Real()}, key=KEY, starts=1, steps=2, window=500.0)
