"""Oracle tests of ``jaxpop.spikes``: exact moments, pathwise gradients, relaxations.

Statistical tolerances. Every Monte-Carlo comparison uses a fixed key and allows ``N_SE = 5``
standard errors (two-sided p-value 6e-7 per comparison, so the whole file has a false-alarm
probability far below 1e-4 even if the keys changed). The standard error of a sample mean of
``M`` i.i.d. values is ``sd / sqrt(M)``; that of a sample variance is
``sqrt((m4 - s^4) / M)`` with ``m4`` the fourth central moment (delta method, leading order in
1/M, which at M >= 2e4 is accurate to well under one per cent of the SE itself).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit, logsumexp

from jaxpop import spikes

N_SE = 5.0
MODES = ("exact", "gumbel", "straight_through", "gaussian")


def _assert_mean(x, mean, extra=0.0, what=""):
    x = np.asarray(x)
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert abs(x.mean() - mean) <= N_SE * se + extra, f"{what}: mean {x.mean()} vs {mean} (SE {se}, extra {extra})"


def _assert_var(x, var, extra=0.0, what=""):
    x = np.asarray(x)
    c = x - x.mean()
    s2 = np.mean(c**2)
    se = math.sqrt(max(np.mean(c**4) - s2**2, 0.0) / x.size)
    assert abs(x.var(ddof=1) - var) <= N_SE * se + extra, f"{what}: var {x.var(ddof=1)} vs {var} (SE {se})"


def _per_sample_grad(f, p):
    """d f_i / d p_i for an elementwise sampler f (the Jacobian is diagonal)."""
    return jax.jit(jax.grad(lambda q: jnp.sum(f(q))))(p)


# ---------------------------------------------------------------------------------------------
# exact moments of every mode
# ---------------------------------------------------------------------------------------------

M = 100_000


# 'straight_through' must return the exact sample bit for bit: hard + (s - stop_gradient(s)),
# not (hard + s) - s, which is off by rounding (a count of 4.999999999999999; the means below
# are chosen so that (k + mean) - mean != k for several likely counts k). So the moments of
# the exact sample cover both modes.


def test_bernoulli_exact_moments():
    key, p = jax.random.PRNGKey(11), jnp.tile(jnp.array([0.03, 0.3, 0.9]), (M, 1))
    x = np.asarray(spikes.bernoulli(key, p))
    np.testing.assert_array_equal(np.asarray(spikes.bernoulli(key, p, mode="straight_through")), x)
    assert set(np.unique(x)) <= {0.0, 1.0}
    for j, pj in enumerate(np.asarray(p[0])):
        _assert_mean(x[:, j], pj, what=f"p={pj}")
        _assert_var(x[:, j], pj * (1 - pj), what=f"p={pj}")


def test_poisson_exact_moments():
    key, lam = jax.random.PRNGKey(12), jnp.tile(jnp.array([0.2, 3.3, 40.7]), (M, 1))
    x = np.asarray(spikes.poisson(key, lam))
    np.testing.assert_array_equal(np.asarray(spikes.poisson(key, lam, mode="straight_through")), x)
    assert np.all(x == np.round(x)) and x.min() >= 0
    for j, lj in enumerate(np.asarray(lam[0])):
        _assert_mean(x[:, j], lj, what=f"lam={lj}")
        _assert_var(x[:, j], lj, what=f"lam={lj}")


@pytest.mark.slow  # ~9 s; the exact binomial sampler's pmf tests stay in the default suite
def test_binomial_exact_moments_with_broadcast_population_sizes():
    n = np.array([1.0, 21.0, 500.0, 50.0])
    p = jnp.tile(jnp.array([0.4, 0.3, 0.02, 0.97]), (M, 1))
    key = jax.random.PRNGKey(13)
    x = np.asarray(spikes.binomial(key, n, p))  # n broadcasts against p
    np.testing.assert_array_equal(np.asarray(spikes.binomial(key, n, p, mode="straight_through")), x)
    assert np.all(x == np.round(x)) and x.min() >= 0 and np.all(x <= n)
    for j, pj in enumerate(np.asarray(p[0])):
        _assert_mean(x[:, j], n[j] * pj, what=f"col {j}")
        _assert_var(x[:, j], n[j] * pj * (1 - pj), what=f"col {j}")


# The exact binomial sampler (inversion below a mean of 10, BTRS above, reflection for p > 1/2, and an
# exact while-loop continuation for the rare samples the fixed work does not settle): its whole pmf is
# compared with scipy's by a chi-square goodness-of-fit test on bins with >= 5 expected counts (tails
# pooled). Fixed keys make the test deterministic; with the sampler exact, p-values are uniform, and
# the threshold 1e-4 over these 26 cases gives a false-alarm probability of 3e-3 were the keys changed.
BINOMIAL_CASES = [(10, 0.3), (50, 0.1), (1000, 0.004), (100, 0.5), (20683, 0.0005), (20683, 0.02),
                  (1000, 0.97), (200, 0.06), (200, 0.05), (40, 0.999), (3, 0.5), (60, 0.17), (2e6, 0.3)]


def _binomial_gof_pvalue(samples, n, p):
    lo, hi = int(stats.binom.ppf(1e-6, n, p)), int(stats.binom.isf(1e-6, n, p))
    ks = np.arange(lo, hi + 1)
    expected = stats.binom.pmf(ks, n, p) * samples.size
    observed = np.array([np.sum(samples == k) for k in ks], float)
    # pool the two tails (including everything outside [lo, hi]) into the end bins
    expected[0] += stats.binom.cdf(lo - 1, n, p) * samples.size
    observed[0] += np.sum(samples < lo)
    expected[-1] += stats.binom.sf(hi, n, p) * samples.size
    observed[-1] += np.sum(samples > hi)
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:  # merge a small remainder into the smallest kept bin
        obs, exp = obs[:-1], exp[:-1]
        obs[np.argmin(exp)] += observed[~keep].sum()
        exp[np.argmin(exp)] += expected[~keep].sum()
    chi2 = np.sum((obs - exp) ** 2 / exp)
    return stats.chi2.sf(chi2, exp.size - 1)


# every path in float64 and float32; the default suite runs the common path in float64 and the rare continuation
# path in float32, -m slow the other two (the default-suite budget: each costs ~7 s)
_SAMPLER_VARIANTS = [pytest.param(False, "float64", id="fixed_work-float64"),
                     pytest.param(True, "float32", id="continuation-float32"),
                     pytest.param(False, "float32", id="fixed_work-float32", marks=pytest.mark.slow),
                     pytest.param(True, "float64", id="continuation-float64", marks=pytest.mark.slow)]


@pytest.mark.parametrize("forced,dtype", _SAMPLER_VARIANTS)
def test_exact_binomial_sampler_matches_the_binomial_pmf(dtype, forced):
    from jaxpop.core.spikes import _binomial_exact

    # forced: a 2-count inversion window and one BTRS candidate, so that most samples go through the
    # while-loop continuation (the rare path of the default settings)
    kw = dict(window=2, proposals=1) if forced else {}
    M_b = 40_000
    f = jax.jit(lambda key, n, p: _binomial_exact(key, jnp.full((M_b,), n, dtype), jnp.full((M_b,), p, dtype), **kw))
    for i, (n, p) in enumerate(BINOMIAL_CASES):
        if dtype == "float32" and n > 2**24:
            continue  # counts above 2^24 are not integers in float32
        x = np.asarray(f(jax.random.PRNGKey(100 + i), n, p), float)
        assert np.all(x == np.round(x)) and x.min() >= 0 and x.max() <= n, (n, p)
        assert _binomial_gof_pvalue(x, n, p) > 1e-4, (n, p, dtype, forced)


def _poisson_gof_pvalue(x, mean):
    hi = int(stats.poisson.isf(1e-6, mean))
    ks = np.arange(0, hi + 1)
    expected = stats.poisson.pmf(ks, mean) * x.size
    observed = np.array([np.sum(x == k) for k in ks], float)
    expected[-1] += stats.poisson.sf(hi, mean) * x.size
    observed[-1] += np.sum(x > hi)
    keep = expected >= 5
    obs, exp = observed[keep], expected[keep]
    obs[-1] += observed[~keep].sum()  # pooled tail (all small bins lie above the kept ones)
    exp[-1] += expected[~keep].sum()
    return stats.chi2.sf(np.sum((obs - exp) ** 2 / exp), exp.size - 1)


@pytest.mark.parametrize("forced,dtype", _SAMPLER_VARIANTS)
def test_exact_poisson_sampler_matches_the_poisson_pmf(dtype, forced):
    # as the binomial test above: chi-square goodness of fit, fixed keys, threshold 1e-4; means on both sides of the
    # inversion limit (10), the continuation path forced by a 2-count window
    from jaxpop.core.spikes import _poisson_exact

    M_p = 40_000
    kw = dict(window=2) if forced else {}
    f = jax.jit(lambda key, m: _poisson_exact(key, jnp.full((M_p,), m, dtype), **kw))
    for i, mean in enumerate([0.02, 0.23, 1.3, 2.32, 5.0, 9.9, 10.0, 37.0]):
        x = np.asarray(f(jax.random.PRNGKey(200 + i), mean), float)
        assert np.all(x == np.round(x)) and x.min() >= 0
        assert _poisson_gof_pvalue(x, mean) > 1e-4, (mean, dtype, forced)
    np.testing.assert_array_equal(np.asarray(_poisson_exact(jax.random.PRNGKey(0), jnp.zeros(5, dtype))), 0)


def test_exact_binomial_sampler_degenerate_cases():
    from jaxpop.core.spikes import _binomial_exact

    n = jnp.array([0.0, 7.0, 7.0, 1.0, 12.0])
    p = jnp.array([0.3, 0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(_binomial_exact(jax.random.PRNGKey(0), n, p)), [0, 0, 7, 1, 0])


def test_binomial_keeps_float32():
    x = spikes.binomial(jax.random.PRNGKey(1), jnp.float32(100.0), jnp.full((4,), 0.2, jnp.float32))
    assert x.dtype == jnp.float32


def test_gaussian_mode_is_exactly_mean_plus_sd_times_one_normal_draw():
    # The 'gaussian' sample is mean + sd * eps with eps ~ N(0, 1) not depending on the
    # parameters: the standardised sample is the *same* eps for every sampler and parameter
    # (so mean and variance are exactly the target ones), and eps is standard normal.
    key = jax.random.PRNGKey(16)
    shape = (M,)
    z = []
    for p in (0.1, 0.5, 0.77):
        x = spikes.bernoulli(key, jnp.full(shape, p), mode="gaussian")
        z.append((x - p) / math.sqrt(p * (1 - p)))
    for lam in (0.3, 25.0):
        x = spikes.poisson(key, jnp.full(shape, lam), mode="gaussian")
        z.append((x - lam) / math.sqrt(lam))
    for n, p in ((10, 0.2), (1000, 0.9)):
        x = spikes.binomial(key, n, jnp.full(shape, p), mode="gaussian")
        z.append((x - n * p) / math.sqrt(n * p * (1 - p)))
    for zi in z[1:]:
        np.testing.assert_allclose(zi, z[0], rtol=0, atol=1e-9)
    _assert_mean(z[0], 0.0, what="eps")
    _assert_var(z[0], 1.0, what="eps")
    # third and fourth moments of N(0,1): 0 and 3 (SE from the 6th and 8th moments: 15, 105)
    assert abs(np.mean(z[0] ** 3)) <= N_SE * math.sqrt(15 / M)
    assert abs(np.mean(z[0] ** 4) - 3) <= N_SE * math.sqrt((105 - 9) / M)


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------


def test_exact_mode_has_zero_gradient():
    key = jax.random.PRNGKey(17)
    w = jnp.arange(1.0, 1001.0)
    for call in (lambda q: spikes.bernoulli(key, q), lambda q: spikes.poisson(key, 7 * q),
                 lambda q: spikes.binomial(key, 30, q)):
        g = jax.jit(jax.grad(lambda q: jnp.sum(call(q) * w)))(jnp.full(1000, 0.4))
        np.testing.assert_array_equal(np.asarray(g), 0.0)


def test_straight_through_count_gradient_is_the_mean_gradient_per_sample():
    # d k / d mean = 1 (Poisson) and d k / d p = n (binomial), for every sample, not just on average.
    key = jax.random.PRNGKey(18)
    g = _per_sample_grad(lambda m: spikes.poisson(key, m, mode="straight_through"), jnp.linspace(0.1, 40, 500))
    np.testing.assert_array_equal(np.asarray(g), 1.0)
    n = jnp.arange(1.0, 501.0)
    g = _per_sample_grad(lambda q: spikes.binomial(key, n, q, mode="straight_through"), jnp.full(500, 0.3))
    np.testing.assert_allclose(np.asarray(g), np.asarray(n), rtol=1e-15)


@pytest.mark.parametrize(
    "name,call,param,deriv",
    [
        # x = p + sqrt(p(1-p)) eps   ->  dx/dp = 1 + (1-2p)/(2 sqrt(p(1-p))) eps,  E = 1
        ("bernoulli", lambda k, q: spikes.bernoulli(k, q, mode="gaussian"), 0.2, 1.0),
        # x = m + sqrt(m) eps        ->  dx/dm = 1 + eps/(2 sqrt m),               E = 1
        ("poisson", lambda k, q: spikes.poisson(k, q, mode="gaussian"), 2.5, 1.0),
        # x = np + sqrt(np(1-p)) eps ->  E[dx/dp] = n
        ("binomial", lambda k, q: spikes.binomial(k, 40, q, mode="gaussian"), 0.35, 40.0),
    ],
)
def test_gaussian_mode_pathwise_gradient_of_the_mean(name, call, param, deriv):
    g = _per_sample_grad(lambda q: call(jax.random.PRNGKey(19), q), jnp.full(M, param))
    # the estimator is unbiased with non-zero variance: a real MC test, not an identity
    assert np.std(np.asarray(g)) > 0.01 * abs(deriv)
    _assert_mean(g, deriv, what=name)


# --- Bernoulli relaxation (binary concrete) against quadrature of its law -------------------
#
# y = sigma((logit p + L) / T) with logistic L (density f(L) = sigma(L) sigma(-L)), so
#   E[y](p, T)     = int sigma((a + L)/T) f(L) dL,                         a = logit p
#   dE[y]/dp       = 1/(p(1-p)) * int sigma'(u) f(T u - a) du   (u = (a + L)/T).
# Expanding in T (the kernel sigma(u) - 1[u>0] is odd with int u (sigma(u) - 1[u>0]) du = -pi^2/6):
#   E[y] - p = -(pi^2/6) T^2 p(1-p)(2p-1) + O(T^4)           (bias -> 0 as T^2)
#   E|y - hard| = 2 ln 2 * T * p(1-p) + O(T^3)               (hard = 1[a + L > 0], same noise)


def _relaxed_bernoulli_mean(p, T, power=1):
    """E[y**power] by quadrature over the logistic noise."""
    a = math.log(p) - math.log1p(-p)
    f = lambda L: expit((a + L) / T) ** power * stats.logistic.pdf(L)
    return integrate.quad(f, -60, 60, points=[-a], epsabs=1e-13, epsrel=1e-12, limit=400)[0]


def _relaxed_bernoulli_dmean(p, T):
    a = math.log(p) - math.log1p(-p)
    f = lambda u: expit(u) * expit(-u) * stats.logistic.pdf(T * u - a)
    return integrate.quad(f, -80, 80, epsabs=1e-13, epsrel=1e-12, limit=400)[0] / (p * (1 - p))


# jitted once, temperature traced (shared by the tests below)
_relaxed = jax.jit(lambda key, p, T: spikes.bernoulli(key, p, mode="gumbel", temperature=T))
_relaxed_grad = jax.jit(jax.grad(lambda p, key, T: jnp.sum(spikes.bernoulli(key, p, mode="gumbel", temperature=T))))
_st_grad = jax.jit(jax.grad(lambda p, key, T: jnp.sum(spikes.bernoulli(key, p, mode="straight_through",
                                                                         temperature=T))))


def test_gumbel_bernoulli_mean_and_gradient_match_quadrature():
    p0 = 0.3
    key = jax.random.PRNGKey(20)
    p = jnp.full(M, p0)
    for T in (1.0, 0.3, 0.05):
        y = _relaxed(key, p, T)
        assert float(y.min()) >= 0 and float(y.max()) <= 1
        m1 = _relaxed_bernoulli_mean(p0, T)
        _assert_mean(y, m1, what="relaxed mean")
        _assert_var(y, _relaxed_bernoulli_mean(p0, T, power=2) - m1**2, what="relaxed variance")
        g = _relaxed_grad(p, key, T)  # per-sample d y_i / d p_i
        _assert_mean(g, _relaxed_bernoulli_dmean(p0, T), what="pathwise dE/dp")
        # common random numbers: the pathwise gradient of the sample mean *is* the derivative
        # of the sample mean, so a central difference with the same key agrees to O(h^2).
        h = 1e-5
        fd = float(jnp.mean(_relaxed(key, p + h, T)) - jnp.mean(_relaxed(key, p - h, T))) / (2 * h)
        assert abs(float(jnp.mean(g)) - fd) <= 1e-6 * abs(fd)
        # straight-through: hard forward, *this* (relaxed) gradient backward, sample for sample
        np.testing.assert_array_equal(np.asarray(_st_grad(p, key, T)), np.asarray(g))


def test_gumbel_bernoulli_gradient_wrt_logit_matches_crn_finite_difference():
    # dE[y]/d(logit p) through p = sigmoid(logit): chain rule inside jax vs CRN central difference
    key = jax.random.PRNGKey(21)
    T = 0.2
    mean_of_logit = jax.jit(lambda a: jnp.mean(_relaxed(key, jnp.full(M, jax.nn.sigmoid(a)), T)))
    a0, h = -0.7, 1e-5
    g = float(jax.jit(jax.grad(mean_of_logit))(a0))
    fd = float(mean_of_logit(a0 + h) - mean_of_logit(a0 - h)) / (2 * h)
    assert abs(g - fd) <= 1e-6 * abs(fd)
    # and the oracle: dE/da = p(1-p) dE/dp (quadrature) within the MC error
    p0 = float(jax.nn.sigmoid(a0))
    gs = p0 * (1 - p0) * np.asarray(_relaxed_grad(jnp.full(M, p0), key, T))  # chain rule per sample
    _assert_mean(gs, p0 * (1 - p0) * _relaxed_bernoulli_dmean(p0, T), what="dE/dlogit")
    assert abs(gs.mean() - g) <= 1e-9 * abs(g)


def test_gumbel_bernoulli_zero_temperature_limit():
    p0 = 0.3
    key = jax.random.PRNGKey(22)
    p = jnp.full(M, p0)
    hard = spikes.bernoulli(key, p, mode="exact")
    prev = None
    for T in (0.3, 0.1, 0.03, 0.01):
        y = _relaxed(key, p, T)
        # the law's mean approaches p as -(pi^2/6) T^2 p(1-p)(2p-1) (expansion above)
        bias = _relaxed_bernoulli_mean(p0, T) - p0
        pred = -(math.pi**2 / 6) * T**2 * p0 * (1 - p0) * (2 * p0 - 1)
        assert abs(bias - pred) <= 0.15 * abs(pred) + 1e-12, (T, bias, pred)
        _assert_mean(y, p0 + bias, what=f"T={T}")
        # with common noise, y -> the hard sample: E|y - hard| = 2 ln2 T p(1-p) (1 + O(T^2))
        d = np.abs(np.asarray(y - hard))
        _assert_mean(d, 2 * math.log(2) * T * p0 * (1 - p0), extra=0.1 * T * p0 * (1 - p0), what=f"|y-hard| T={T}")
        if prev is not None:
            assert d.mean() < prev
        prev = d.mean()


# --- count relaxation ('gumbel' for Poisson / binomial) --------------------------------------


def _reference_relaxed_counts(logpmf_full, ks, T, m, seed):
    """Independent numpy implementation of sum_k k softmax_k((log P(k) + G_k)/T) over the full support."""
    rng = np.random.default_rng(seed)
    g = rng.gumbel(size=(m, ks.size))
    z = (logpmf_full[None, :] + g) / T
    w = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    return w @ ks


@pytest.mark.parametrize(
    "name,call,ks,logpmf,mean",
    [
        ("poisson", lambda k, T: spikes.poisson(k, jnp.full(40_000, 3.4), mode="gumbel", temperature=T),
         np.arange(0, 80.0), lambda ks: stats.poisson.logpmf(ks, 3.4), 3.4),
        ("binomial", lambda k, T: spikes.binomial(k, 12, jnp.full(40_000, 0.85), mode="gumbel", temperature=T),
         np.arange(0, 13.0), lambda ks: stats.binom.logpmf(ks, 12, 0.85), 10.2),
    ],
)
def test_count_relaxation_matches_independent_reference(name, call, ks, logpmf, mean):
    # The relaxed count of jaxpop (windowed) and of an independent full-support numpy
    # implementation have the same law: compare mean and variance within 5 combined SE.
    for T in (1.0, 0.5):
        x = np.asarray(call(jax.random.PRNGKey(23), T))
        ref = _reference_relaxed_counts(logpmf(ks), ks, T, 40_000, seed=5)
        se = math.sqrt(x.var() / x.size + ref.var() / ref.size)
        assert abs(x.mean() - ref.mean()) <= N_SE * se, (name, T, x.mean(), ref.mean())
        se_v = math.sqrt(np.var((x - x.mean()) ** 2) / x.size + np.var((ref - ref.mean()) ** 2) / ref.size)
        assert abs(x.var() - ref.var()) <= N_SE * se_v, (name, T, x.var(), ref.var())
        # at T = 1 the relaxation is visibly biased (this is what the temperature controls)
        if T == 1.0:
            assert abs(ref.mean() - mean) > 10 * se


def test_count_relaxation_bias_vanishes_as_temperature_squared():
    # As T -> 0 the relaxed count tends to the argmax of log P(k) + G_k, an exact Poisson draw
    # (Gumbel-max). The first-order (O(T)) error cancels: the density of the gap between the
    # two largest perturbed logits is symmetric at zero gap, so the bias of the mean is O(T^2).
    # Measured (M = 2e5, key 1): bias / T^2 = 0.19, 0.22, 0.25 at T = 1, 0.5, 0.2 (lam = 0.5),
    # 0.16, 0.13, 0.07 (lam = 3), 0.12, 0.06, <0.2 (lam = 10.3); so we allow 0.3 T^2 + 5 SE.
    lam = np.array([0.5, 3.0, 10.3])
    key = jax.random.PRNGKey(24)
    # support=20 covers lam <= 10.3 (else the window check would fire)
    draw = jax.jit(lambda T: spikes.poisson(key, jnp.tile(lam, (40_000, 1)), mode="gumbel", temperature=T, support=20))
    for T in (1.0, 0.2, 0.05):
        x = np.asarray(draw(T))
        for j, lj in enumerate(lam):
            if T == 1.0:  # the bias is real and of the measured size at T = 1 ...
                _assert_mean(x[:, j], lj + 0.15 * T**2, extra=0.1 * T**2, what=f"lam={lj} T={T}")
            else:  # ... and gone to within 0.3 T^2 at small T
                _assert_mean(x[:, j], lj, extra=0.3 * T**2, what=f"lam={lj} T={T}")


def test_count_relaxation_gradient_matches_crn_finite_difference():
    # (not statistical: with common random numbers the identity holds sample by sample)
    key = jax.random.PRNGKey(25)
    h = 1e-5
    pois = jax.jit(lambda m, T: jnp.mean(spikes.poisson(key, jnp.full(5000, m), mode="gumbel", temperature=T,
                                                        support=16)))
    binom = jax.jit(lambda q, T: jnp.mean(spikes.binomial(key, 30, jnp.full(5000, q), mode="gumbel", temperature=T)))
    # m0 +- h and 30 (q0 +- h) stay inside [4, 5), [12, 13): the windows do not move
    for f, x0 in ((pois, 4.37), (binom, 0.41)):
        grad = jax.jit(jax.grad(f))
        for T in (0.5, 0.1):
            g = float(grad(x0, T))
            fd = float(f(x0 + h, T) - f(x0 - h, T)) / (2 * h)
            assert np.isfinite(g) and abs(g - fd) <= 1e-6 * abs(fd), (T, g, fd)


def test_count_window_error_fires_exactly_when_mass_is_missed():
    # The window holds the counts floor(lam) - s .. floor(lam) + s (clipped at 0). The error
    # must fire iff the probability outside it exceeds 1e-6 (scipy gives the exact tail).
    lam = 30.0

    def missing(s):
        lo, hi = max(math.floor(lam) - s, 0), math.floor(lam) + s
        return stats.poisson.cdf(lo - 1, lam) + stats.poisson.sf(hi, lam)

    s_ok = next(s for s in range(1, 200) if missing(s) < 1e-6 * 0.999)
    assert missing(s_ok - 1) > 1e-6 * 1.001  # the boundary is not ambiguous
    key = jax.random.PRNGKey(26)
    spikes.poisson(key, jnp.full(3, lam), mode="gumbel", support=s_ok)
    # under jit, where only a run-time check is possible (eagerly, the same check raises at once)
    with pytest.raises(Exception, match="support"):
        jax.block_until_ready(jax.jit(lambda m: spikes.poisson(key, m, mode="gumbel", support=s_ok - 1))(
            jnp.full(3, lam)))


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_invalid_probabilities_raise():
    key = jax.random.PRNGKey(0)
    for bad in (-0.1, 1.0000001, float("nan")):
        p = jnp.array([0.2, bad, 0.5])
        for mode in MODES:
            with pytest.raises(ValueError, match=r"\bp\b.*\[0, 1\]"):
                spikes.bernoulli(key, p, mode=mode)
            with pytest.raises(ValueError, match=r"\bp\b.*\[0, 1\]"):
                spikes.binomial(key, 10, p, mode=mode)
            if not bad >= 0:  # the invalid Poisson means among these: -0.1 and NaN
                with pytest.raises(ValueError, match="mean.*>= 0"):
                    spikes.poisson(key, jnp.array([1.0, bad]), mode=mode)
        # traced values cannot raise ValueError; they raise at run time, still naming p
        with pytest.raises(Exception, match=r"p: probabilities"):
            jax.block_until_ready(jax.jit(lambda q: spikes.bernoulli(key, q, mode="gumbel"))(p))


def test_unknown_mode_and_bad_parameters_raise_naming_them():
    key = jax.random.PRNGKey(0)
    for f in (lambda m: spikes.bernoulli(key, 0.5, mode=m), lambda m: spikes.poisson(key, 2.0, mode=m),
              lambda m: spikes.binomial(key, 5, 0.5, mode=m)):
        with pytest.raises(ValueError, match="mode"):
            f("relaxed")
    with pytest.raises(ValueError, match="temperature"):
        spikes.bernoulli(key, 0.5, mode="gumbel", temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        spikes.poisson(key, 2.0, mode="gumbel", temperature=-1.0)
    with pytest.raises(ValueError, match=r"\bn\b"):
        spikes.binomial(key, 2.5, 0.5)
    with pytest.raises(ValueError, match=r"\bn\b"):
        spikes.binomial(key, -3, 0.5)


def test_escape_probability():
    # reference 1 - exp(-x) in exact decimal arithmetic (40 digits), independent of expm1
    from decimal import Decimal, getcontext

    getcontext().prec = 40
    rate = [0.0, 1e-9, 0.3, 5.0, 200.0, 1e4]
    for dt in (1e-4, 0.1, 1.0):
        ref = [float(1 - (-(Decimal(r) * Decimal(dt))).exp()) for r in rate]
        np.testing.assert_allclose(np.asarray(spikes.escape_probability(np.array(rate), dt)), ref, rtol=1e-14, atol=0)
    # it is the probability that a Poisson process of rate rho has >= 1 event in dt
    assert abs(float(spikes.escape_probability(2.0, 0.35)) - stats.poisson.sf(0, 0.7)) < 1e-15
