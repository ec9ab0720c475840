"""Connectivity of the down-scaled Potjans–Diesmann microcircuit (:func:`jaxpop.micro.microcircuit.build_connectivity`).

Oracles: the exact synapse counts of the fixed-total-number rule, the multinomial law of in-degrees
(uniform targets drawn with replacement), the truncated-normal moments of weights and delays
(scipy), and the sign rule. Statistical tolerances: Z = 5 standard errors (fixed key).
"""

import jax
import numpy as np
import pytest
from scipy import stats

from jaxpop.micro.microcircuit import build_connectivity
from jaxpop.presets import potjans_diesmann as pd

Z = 5.0
DT = 0.1


@pytest.fixture(scope="module")
def net():
    config = pd.microcircuit(0.05, 0.05)
    # a small chunk, so that segments straddle chunk boundaries
    conn = build_connectivity(config, DT, jax.random.PRNGKey(0), chunk=2**16)
    n = conn.n_synapses
    return config, conn._replace(target=conn.target_ids(), weight=np.asarray(conn.weight)[:n],
                                 delay=np.asarray(conn.delay)[:n].astype(int))


def _pops(ids, offsets):
    return np.searchsorted(offsets, ids, side="right") - 1


def test_csr_layout_and_exact_counts(net):
    config, c = net
    n_total = config.N.sum()
    assert c.indptr.shape == (n_total + 1,) and c.indptr[0] == 0 and c.indptr[-1] == config.Q.sum() == c.n_synapses
    assert np.all(np.diff(c.indptr) >= 0)
    src = c.source_ids()
    counts = np.zeros((8, 8), int)
    np.add.at(counts, (_pops(c.target, c.offsets), _pops(src, c.offsets)), 1)
    np.testing.assert_array_equal(counts, config.Q)  # every (target, source) population pair: exactly Q_yx


def test_in_degrees_are_multinomial(net):
    # targets uniform with replacement: the in-degree of a target neuron from population x is
    # Binomial(Q_yx, 1/N_y): mean Q/N_y, variance Q/N_y (1 - 1/N_y); the sample variance over N_y neurons
    # has SE ~ var sqrt(2/N_y) (normal approximation, in-degrees of tens to hundreds)
    config, c = net
    src_pop = _pops(c.source_ids(), c.offsets)
    y, x = 0, 2  # L4E -> L2/3E
    sel = (src_pop == x) & (_pops(c.target, c.offsets) == y)
    indeg = np.bincount(c.target[sel] - c.offsets[y], minlength=config.N[y])
    Ny, Q = config.N[y], config.Q[y, x]
    assert indeg.sum() == Q
    var = Q / Ny * (1 - 1 / Ny)
    assert abs(indeg.var(ddof=1) - var) < Z * var * np.sqrt(2 / Ny)


def test_out_degrees_are_multinomial(net):
    # sources uniform with replacement: the number of synapses a neuron of x sends to y is Binomial(Q_yx, 1/N_x)
    # (the builder draws these counts directly, then the targets); sample variance checked as above
    config, c = net
    src = c.source_ids()
    y, x = 3, 2  # L4E -> L4I
    sel = (_pops(src, c.offsets) == x) & (_pops(c.target, c.offsets) == y)
    outdeg = np.bincount(src[sel] - c.offsets[x], minlength=config.N[x])
    Nx, Q = config.N[x], config.Q[y, x]
    assert outdeg.sum() == Q
    var = Q / Nx * (1 - 1 / Nx)
    assert abs(outdeg.mean() - Q / Nx) < 1e-9
    assert abs(outdeg.var(ddof=1) - var) < Z * var * np.sqrt(2 / Nx)


def test_thalamic_synapses():
    config = pd.microcircuit(0.05, 0.05, thalamus=True)
    c = build_connectivity(config, DT, jax.random.PRNGKey(1), chunk=2**16)
    n = config.N.sum()
    assert c.n_sources == n + config.N_th
    src, tgt = c.source_ids(), c.target_ids()
    th = src >= n
    counts = np.bincount(_pops(tgt[th], c.offsets), minlength=8)
    np.testing.assert_array_equal(counts, config.Q_th)  # L4E, L4I, L6E, L6I only
    assert set(np.nonzero(config.Q_th)[0]) == {2, 3, 6, 7}
    w = np.asarray(c.weight)[: c.n_synapses][th]
    assert np.all(w > 0) and abs(w.mean() / config.w_th - 1) < Z * 0.1 / np.sqrt(w.size)
    np.testing.assert_array_equal(np.bincount(src[th] - n, minlength=config.N_th).sum(), config.Q_th.sum())


def test_weights_keep_the_sign_and_follow_the_truncated_normal(net):
    config, c = net
    src_pop = _pops(c.source_ids(), c.offsets)
    tgt_pop = _pops(c.target, c.offsets)
    for y, x in [(0, 0), (0, 1), (0, 2), (3, 3)]:
        w = c.weight[(src_pop == x) & (tgt_pop == y)].astype(float)
        mu, sd = config.weight_mean[y, x], config.weight_sd[y, x]
        assert np.all(w >= 0) if mu > 0 else np.all(w <= 0)
        a, b = ((-mu / sd, np.inf) if mu > 0 else (-np.inf, -mu / sd))
        law = stats.truncnorm(a, b, loc=mu, scale=sd)
        assert abs(w.mean() - law.mean()) < Z * law.std() / np.sqrt(w.size), (y, x)
        assert abs(w.std() / law.std() - 1) < Z * np.sqrt(1 / (2 * w.size)) + 1e-3, (y, x)


def test_delays_on_the_grid_at_least_one_step(net):
    # delays: normal conditioned on d >= dt/2, rounded to the grid; mean of the rounded delay = mean of the
    # truncated normal up to the rounding (error < dt^2 f'/... ~ 1e-3 ms here), checked within Z SE + 2e-3 ms
    config, c = net
    assert c.delay.min() >= 1
    src_pop = _pops(c.source_ids(), c.offsets)
    for x in (0, 1):  # excitatory (1.5 +- 0.75 ms) and inhibitory (0.75 +- 0.375 ms) sources
        d = c.delay[src_pop == x] * DT
        mu, sd = config.delay_mean[0, x], config.delay_sd[0, x]
        law = stats.truncnorm((0.5 * DT - mu) / sd, np.inf, loc=mu, scale=sd)
        assert abs(d.mean() - law.mean()) < Z * law.std() / np.sqrt(d.size) + 2e-3, x


def test_same_key_same_network_and_bad_dt():
    config = pd.microcircuit(0.02, 0.02)
    a = build_connectivity(config, DT, jax.random.PRNGKey(3))
    b = build_connectivity(config, DT, jax.random.PRNGKey(3))
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.weight, b.weight)
    with pytest.raises(ValueError, match="dt"):
        build_connectivity(config, 0.0, jax.random.PRNGKey(3))
