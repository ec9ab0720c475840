"""Spike-train statistics (jaxpop.analysis.spiketrains): rates, CV of the ISIs and synchrony on constructed
data with closed-form answers, Poisson / gamma renewal trains against their theoretical values (tolerances
from the estimators' standard errors), and bad input."""

import numpy as np
import pytest

from jaxpop.analysis import cv_isi, population_rates, single_neuron_cv_isi, synchrony


def _pack(trains):
    """(times, senders) of a list of per-neuron spike-time arrays, shuffled (a recorder gives no order)."""
    times = np.concatenate([np.asarray(t, float) for t in trains])
    senders = np.concatenate([np.full(len(t), i) for i, t in enumerate(trains)]).astype(np.int64)
    perm = np.random.default_rng(0).permutation(times.size)
    return times[perm], senders[perm]


def test_rates_are_exact_counts_over_the_window_with_silent_neurons():
    offsets = np.array([0, 3, 5, 10])
    trains = [[100.0, 150.0, 200.0],  # pop 0: both window ends count (NEST's example convention)
              [50.0, 120.0, 250.0],  # 120 only
              [],  # silent: counts in the mean
              [110.0, 111.0, 112.0, 113.0],  # pop 1
              [99.9, 200.1],  # outside
              ] + [[101.0 + k] for k in range(5)]  # pop 2: one spike each
    times, senders = _pack(trains)
    r = population_rates(times, senders, offsets, 100.0, 200.0)
    # counts / N / 0.1 s: (3 + 1 + 0) / 3, (4 + 0) / 2, 5 / 5
    np.testing.assert_allclose(r, [4 / 3 / 0.1, 4 / 2 / 0.1, 1 / 0.1], rtol=1e-14)


def test_cv_of_regular_trains_is_zero_and_of_two_intervals_is_closed_form():
    offsets = np.array([0, 3, 5])
    trains = [5.0 + 10.0 * np.arange(50), 2.0 + 4.0 * np.arange(200), 7.0 + 25.0 * np.arange(30),  # pop 0: regular
              [10.0, 13.0, 20.0],  # ISIs 3 and 7: sd 2, mean 5 -> CV 0.4
              [10.0, 50.0]]  # two spikes: excluded (min_spikes = 3)
    times, senders = _pack(trains)
    cv, used = cv_isi(times, senders, offsets, 0.0, 1000.0, return_counts=True)
    assert cv[0] == 0.0 and used[0] == 3
    np.testing.assert_allclose(cv[1], 0.4, rtol=1e-14)
    assert used[1] == 1
    per = single_neuron_cv_isi(times, senders, 5, 0.0, 1000.0)
    assert np.isnan(per[4]) and np.all(per[:3] == 0.0)
    # only the spikes inside the window enter: [0, 15] keeps 10 and 13 of neuron 3 -> excluded
    assert np.isnan(single_neuron_cv_isi(times, senders, 5, 0.0, 15.0)[3])


def test_cv_matches_a_per_neuron_loop_on_irregular_data():
    rng = np.random.default_rng(3)
    trains = [np.sort(rng.uniform(0, 2000, rng.integers(0, 40))) for _ in range(60)]
    times, senders = _pack(trains)
    per = single_neuron_cv_isi(times, senders, 60, 300.0, 1700.0, min_spikes=4)
    for i, t in enumerate(trains):
        t = t[(t >= 300.0) & (t <= 1700.0)]
        if len(t) >= 4:
            d = np.diff(t)
            np.testing.assert_allclose(per[i], np.std(d) / np.mean(d), rtol=1e-12)
        else:
            assert np.isnan(per[i])


def _renewal(rng, n, rate_hz, t_end_ms, shape):
    """n independent gamma renewal trains (shape 1 = Poisson) of the given rate on [0, t_end_ms]."""
    mean_isi = 1e3 / rate_hz
    n_draw = int(t_end_ms / mean_isi * 1.2 + 50)
    t = np.cumsum(rng.gamma(shape, mean_isi / shape, size=(n, n_draw)), axis=1)
    assert np.all(t[:, -1] > t_end_ms)
    return [row[row <= t_end_ms] for row in t]


def test_cv_of_poisson_and_gamma_trains():
    M, rate, T = 100, 20.0, 100e3  # per population: 100 neurons, n ~ 2000 ISIs each
    rng = np.random.default_rng(11)
    trains = _renewal(rng, M, rate, T, 1.0) + _renewal(rng, M, rate, T, 2.0)
    times, senders = _pack(trains)
    cv = cv_isi(times, senders, np.array([0, M, 2 * M]), 0.0, T)
    n = rate * T * 1e-3
    # Delta method for CV = s/m over n iid intervals (units of the mean ISI): Var = [Var(s^2)/(4 sigma^2) + sigma^2
    # Var(m) - sigma Cov(s^2, m)] with Var(s^2) = (mu4 - sigma^4)/n, Cov = mu3/n. Exponential (sigma 1, mu3 2, mu4 9):
    # Var = 1/n; gamma(2) (sigma^2 1/2, mu3 1/2, mu4 3/2): Var = 0.375/n. Mean over M neurons: SE = sqrt(Var/M);
    # bias of the ratio estimator (ddof 0): -1.5/n (exponential), -0.8/n (gamma 2), bounded by 1.5/n. Tolerance:
    # 4 SE + 1.5/n (4e-3 for the exponential).
    for c, target, v in ((cv[0], 1.0, 1.0), (cv[1], 1 / np.sqrt(2), 0.375)):
        assert abs(c - target) <= 4 * np.sqrt(v / (n * M)) + 1.5 / n, (c, target)


def test_synchrony_of_independent_poisson_neurons_is_one():
    rng = np.random.default_rng(5)
    T, w = 100e3, 3.0
    trains = []
    for rate, M in ((10.0, 100), (2.0, 100)):  # pooled counts per 3-ms bin: Poisson of mean 3 and 0.6
        for k in rng.poisson(rate * T * 1e-3, size=M):
            trains.append(np.sort(rng.uniform(0.0, T, k)))
    times, senders = _pack(trains)
    s = synchrony(times, senders, np.array([0, 100, 200]), 0.0, T, bin_width=w)
    # Pooled independent Poisson processes are Poisson: the count n_k per bin is Poisson(lambda), B = T/w = 33333
    # bins. Delta method for F = s^2/m: Var(s^2) = (2 lambda^2 + lambda)/B, Var(m) = lambda/B, Cov(s^2, m) = lambda/B
    # (Poisson mu3 = lambda) -> Var(F) = 2/B for any lambda, SE = 7.7e-3; E[F] = 1 - 1/B (ddof 0). Tolerance 4 SE.
    B = int(T / w)
    np.testing.assert_allclose(s, 1 - 1 / B, atol=4 * np.sqrt(2 / B))


def test_synchrony_of_perfectly_synchronous_neurons_and_subsampling():
    # 10 neurons all firing in the first 20 of 100 bins of 3 ms: counts 10 (p = 0.2) or 0 -> Var/mean = n(1 - p)
    t = 1.5 + 3.0 * np.arange(20)
    trains = [t] * 10 + [[1.0]]  # + a second population with one spike: Var/mean = 1 - 1/B
    times, senders = _pack(trains)
    offsets = np.array([0, 10, 11])
    np.testing.assert_allclose(synchrony(times, senders, offsets, 0.0, 300.0), [8.0, 1 - 1 / 100], rtol=1e-14)
    np.testing.assert_allclose(synchrony(times, senders, offsets, 0.0, 300.0, n_neurons=4), [3.2, 0.99], rtol=1e-14)
    # a trailing partial bin is dropped: [0, 301) still has 100 full bins
    np.testing.assert_allclose(synchrony(times, senders, offsets, 0.0, 301.0), [8.0, 0.99], rtol=1e-14)


@pytest.mark.parametrize("call, name", [
    (lambda: population_rates([1.0, 2.0], [0], [0, 2], 0, 10), "times and senders"),
    (lambda: population_rates([1.0], [2], [0, 2], 0, 10), "senders"),
    (lambda: population_rates([1.0], [0], [0, 2, 2], 0, 10), "offsets"),
    (lambda: population_rates([1.0], [0], [1, 2], 0, 10), "offsets"),
    (lambda: population_rates([np.nan], [0], [0, 2], 0, 10), "times"),
    (lambda: population_rates([1.0], [0], [0, 2], 10, 10), "t_start"),
    (lambda: cv_isi([1.0], [0], [0, 2], 0, 10, min_spikes=2), "min_spikes"),
    (lambda: synchrony([1.0], [0], [0, 2], 0, 10, bin_width=0.0), "bin_width"),
    (lambda: synchrony([1.0], [0], [0, 2], 0, 10, bin_width=6.0), "bin_width"),
    (lambda: synchrony([1.0], [0], [0, 2], 0, 10, n_neurons=0), "n_neurons"),
])
def test_bad_input_raises_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
