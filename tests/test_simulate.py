"""Oracle tests of the engine (``jaxpop.simulate`` / ``jaxpop.solve``).

Test-only models defined here:

* ``OUPoisson`` — an Ornstein–Uhlenbeck variable :math:`x` integrated with its *exact*
  transition (:math:`x_{k+1} = e^{-dt/\\tau} x_k + \\sigma\\sqrt{1 - e^{-2dt/\\tau}}\\,\\xi_k`, so
  the discrete process has exactly the continuous moments) driving Poisson counts of rate
  :math:`\\lambda e^{x}`; it uses both the init key and the step keys.
* ``LinearODE`` — :math:`\\dot y = -k y + I(t)`, closed-form solution for step and sinusoidal
  inputs.

Statistical tolerances: 5 standard errors (see the individual tests for the SE formulas).
"""

import importlib
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpop
from jaxpop import spikes
from jaxpop.core.model import AbstractModel, AbstractODEModel

N_SE = 5.0


class OUPoisson(AbstractModel):
    tau: jax.Array
    sigma: jax.Array
    rate: jax.Array
    stationary_start: bool = eqx.field(static=True)
    sampler: str = eqx.field(static=True)

    accumulated = ("A",)
    summed = ("counts",)
    default_record = ("x", "A")

    def __init__(self, tau=0.5, sigma=0.7, rate=20.0, stationary_start=True, sampler="poisson"):
        self.tau = jnp.asarray(tau, dtype=float)
        self.sigma = jnp.asarray(sigma, dtype=float)
        self.rate = jnp.asarray(rate, dtype=float)
        self.stationary_start = stationary_start
        self.sampler = sampler  # 'poisson' counts, or 'bernoulli' (escape noise, cheap without jit)

    def init(self, key):
        x0 = self.sigma * jax.random.normal(key, ()) if self.stationary_start else jnp.zeros(())
        return {"x": x0, "n": jnp.zeros(()), "c": jnp.zeros(()), "dt": jnp.ones(())}

    def step(self, state, t, dt, drive, key):
        k_x, k_n = jax.random.split(key)
        a = jnp.exp(-dt / self.tau)
        x = a * state["x"] + self.sigma * jnp.sqrt(1 - a**2) * jax.random.normal(k_x, ())
        if self.sampler == "poisson":
            c = spikes.poisson(k_n, self.rate * jnp.exp(x) * dt)
        else:
            c = spikes.bernoulli(k_n, spikes.escape_probability(self.rate * jnp.exp(x), dt))
        return {"x": x, "n": state["n"] + c, "c": c, "dt": jnp.full((), dt)}

    def observe(self, state):
        return {"x": state["x"], "N": state["n"], "A": state["c"] / state["dt"], "counts": state["c"]}


class LinearODE(AbstractODEModel):
    k: jax.Array
    y0: jax.Array
    integrator: str = eqx.field(static=True)

    default_record = ("y",)

    def __init__(self, k=0.8, y0=1.5, integrator="rk4"):
        self.k = jnp.asarray(k, dtype=float)
        self.y0 = jnp.asarray(y0, dtype=float)
        self.integrator = integrator

    def init(self, key=None):
        return self.y0

    def vector_field(self, t, y, drive):
        return -self.k * y + drive(t)

    def observe(self, y):
        return {"y": y}


def linear_exact_sinusoid(t, k, y0, A, w):
    """y' = -k y + A sin(w t), y(0) = y0."""
    return y0 * np.exp(-k * t) + A * (k * np.sin(w * t) - w * np.cos(w * t) + w * np.exp(-k * t)) / (k**2 + w**2)


def linear_exact_piecewise(t, k, y0, t0, edges, values):
    """y' = -k y + values[j] on [edges[j], edges[j+1]) (0 elsewhere), y(t0) = y0."""
    t = np.asarray(t, dtype=float)[..., None]
    a, b = np.asarray(edges[:-1]), np.asarray(edges[1:])
    resp = lambda s: 1 - np.exp(-k * np.clip(t - s, 0, None))
    return y0 * np.exp(-k * (t[..., 0] - t0)) + np.sum(np.asarray(values) / k * (resp(a) - resp(b)), axis=-1)


def linear_exact_step(t, k, y0, A, t_on, t_off):
    """y' = -k y + A 1[t_on <= t < t_off], y(0) = y0."""
    return linear_exact_piecewise(t, k, y0, 0.0, [t_on, t_off], [A])


KEY = jax.random.PRNGKey(42)


# ---------------------------------------------------------------------------------------------
# determinism and the key scheme
# ---------------------------------------------------------------------------------------------


def test_same_key_same_result_with_and_without_jit():
    # small, and Bernoulli counts: without jit every primitive runs op by op (the Poisson
    # sampler's loops would take minutes)
    model = OUPoisson(rate=30.0, sampler="bernoulli")
    kw = dict(key=KEY, record=("x", "N", "A", "counts"), record_every=2, trials=2)
    res = jaxpop.simulate(model, 0.06, 0.01, **kw)
    with jax.disable_jit():
        res_eager = jaxpop.simulate(model, 0.06, 0.01, **kw)
    for name in res.keys():
        np.testing.assert_allclose(res_eager[name], res[name], rtol=1e-13, atol=1e-13, err_msg=name)
    np.testing.assert_array_equal(res_eager["N"], res["N"])  # integer counts: bit for bit
    again = jaxpop.simulate(model, 0.06, 0.01, **kw)
    for name in res.keys():
        np.testing.assert_array_equal(again[name], res[name])
    other = jaxpop.simulate(model, 0.06, 0.01, **{**kw, "key": jax.random.PRNGKey(43)})
    assert not np.allclose(other["x"], res["x"])


NOISY = OUPoisson(rate=200.0)
NAMES = ("x", "N", "A", "counts")
N_TRIALS = 3


@pytest.fixture(scope="module")
def fine():
    return jaxpop.simulate(NOISY, 1.0, 0.01, key=KEY, record=NAMES, trials=N_TRIALS)


@pytest.fixture(scope="module")
def singles():
    """Documented: trial i of trials=n is the single run with key split(key, n)[i]."""
    return [jaxpop.simulate(NOISY, 1.0, 0.01, key=k, record=NAMES) for k in jax.random.split(KEY, N_TRIALS)]


def test_trials_vmap_equals_loop_over_split_keys(fine, singles):
    assert fine["x"].shape == (N_TRIALS, 100)
    for i, single in enumerate(singles):
        for name in NAMES:
            np.testing.assert_allclose(fine[name][i], single[name], rtol=1e-14, atol=1e-14, err_msg=name)
        np.testing.assert_array_equal(fine["N"][i], single["N"])
    assert len({float(fine["x"][i, -1]) for i in range(N_TRIALS)}) == N_TRIALS  # trials differ


@pytest.mark.slow  # ~9 s; chunked sweeps are checked in the default suite (tests/test_sweep.py)
def test_trials_in_chunks_are_the_same_trials():
    whole = jaxpop.simulate(NOISY, 1.0, 0.01, key=KEY, record=NAMES, trials=6)
    chunked = jaxpop.simulate(NOISY, 1.0, 0.01, key=KEY, record=NAMES, trials=6, trials_per_chunk=2)
    for name in NAMES:
        np.testing.assert_array_equal(chunked[name], whole[name], err_msg=name)
    for bad in (4, 0, 2.0):
        with pytest.raises(ValueError, match="trials_per_chunk"):
            jaxpop.simulate(NOISY, 1.0, 0.01, key=KEY, trials=6, trials_per_chunk=bad)
    with pytest.raises(ValueError, match="trials_per_chunk needs trials"):
        jaxpop.simulate(NOISY, 1.0, 0.01, key=KEY, trials_per_chunk=2)


def test_key_scheme_matches_a_hand_written_loop(singles):
    # documented: k_init, k_steps = split(key); init(k_init); step k gets fold_in(k_steps, k)
    dt, n = 0.01, 25
    k_init, k_steps = jax.random.split(jax.random.split(KEY, N_TRIALS)[0])
    state = NOISY.init(k_init)
    step = jax.jit(lambda state, t, key: NOISY.step(state, t, dt, jaxpop.drives.as_drive(None), key))
    xs, ns = [], []
    for k in range(n):
        state = step(state, k * dt, jax.random.fold_in(k_steps, k))
        xs.append(float(state["x"]))
        ns.append(float(state["n"]))
    np.testing.assert_allclose(singles[0]["x"][:n], xs, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(singles[0]["N"][:n], ns)
    np.testing.assert_allclose(singles[0].ts, dt * np.arange(1, 101), rtol=1e-14)


def test_record_every_subsamples_and_block_averages(fine):
    k = 5
    coarse = jaxpop.simulate(NOISY, 1.0, 0.01, key=KEY, record=NAMES, trials=N_TRIALS, record_every=k)
    assert coarse["x"].shape == (N_TRIALS, 20)
    # sampled observables: every k-th sample (block ends)
    np.testing.assert_allclose(coarse["x"], fine["x"][:, k - 1::k], rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(coarse["N"], fine["N"][:, k - 1::k])
    # accumulated: block means; summed: block sums (no spike is lost)
    blocks = lambda a: np.asarray(a).reshape(N_TRIALS, 20, k)
    np.testing.assert_allclose(coarse["A"], blocks(fine["A"]).mean(-1), rtol=1e-13)
    np.testing.assert_array_equal(coarse["counts"], blocks(fine["counts"]).sum(-1))
    np.testing.assert_allclose(coarse["counts"].sum(-1), fine["N"][:, -1])
    assert float(fine["N"][:, -1].min()) > 50  # plenty of spikes to lose if blocks dropped any
    # ts are the ends of the blocks; the block width is k dt
    np.testing.assert_allclose(coarse.ts, 0.05 * np.arange(1, 21), rtol=1e-14)
    assert coarse.bin_width == pytest.approx(0.05)


def test_checkpoint_gives_same_values_and_gradients():
    model = OUPoisson(rate=50.0)

    def loss(params, checkpoint):
        tau, sigma = params
        m = eqx.tree_at(lambda mm: (mm.tau, mm.sigma), model, (tau, sigma))
        res = jaxpop.simulate(m, 1.0, 0.01, key=KEY, record=("x",), record_every=10, checkpoint=checkpoint)
        return jnp.sum(res["x"] ** 2)

    p = (jnp.asarray(0.5), jnp.asarray(0.7))
    v0, g0 = jax.value_and_grad(loss)(p, False)
    v1, g1 = jax.value_and_grad(loss)(p, True)
    assert float(v0) == float(v1)
    for a, b in zip(g0, g1):
        np.testing.assert_allclose(b, a, rtol=1e-12)
    assert abs(float(g0[1])) > 0
    # and for an ODE model: central difference of the checkpointed gradient
    mpr = jaxpop.MontbrioPazoRoxin()
    f = lambda eta, cp: jnp.mean(jaxpop.simulate(eqx.tree_at(lambda m: m.eta_bar, mpr, jnp.full(1, eta)), 5.0, 0.01,
                                                 key=KEY, drive=jaxpop.Step(3.0, 0.0, 2.5), record="r",
                                                 record_every=50, checkpoint=cp).r)
    g_cp = float(jax.grad(f)(-5.0, True))
    # (central difference, h = 1e-5: truncation ~1e-10, rounding ~1e-11 relative)
    fd = (float(f(-5.0 + 1e-5, True)) - float(f(-5.0 - 1e-5, True))) / 2e-5
    assert g_cp == pytest.approx(fd, rel=1e-6)


def test_progress_prints_to_stderr(capfd, singles):
    res = jaxpop.simulate(NOISY, 1.0, 0.01, key=jax.random.split(KEY, N_TRIALS)[0], record=NAMES, progress=True)
    jax.effects_barrier()
    err = capfd.readouterr().err
    assert "100.0 %" in err and "(100/100 blocks)" in err
    for name in NAMES:  # progress does not change results
        np.testing.assert_array_equal(res[name], singles[0][name])


def test_bad_arguments_raise_naming_them():
    m = OUPoisson()
    with pytest.raises(ValueError, match="dt must be > 0"):
        jaxpop.simulate(m, 1.0, 0.0, key=KEY)
    with pytest.raises(ValueError, match="dt must be > 0"):
        jaxpop.simulate(m, 1.0, -0.1, key=KEY)
    with pytest.raises(ValueError, match="t_end must be > t0"):
        jaxpop.simulate(m, 1.0, 0.1, t0=1.0, key=KEY)
    with pytest.raises(ValueError, match="t_end must be > t0"):
        jaxpop.simulate(m, -1.0, 0.1, key=KEY)
    with pytest.raises(ValueError, match="whole number of steps"):
        jaxpop.simulate(m, 1.0, 0.3, key=KEY)
    with pytest.raises(ValueError, match="record_every=3 does not divide"):
        jaxpop.simulate(m, 1.0, 0.1, key=KEY, record_every=3)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="record_every"):
            jaxpop.simulate(m, 1.0, 0.1, key=KEY, record_every=bad)
    with pytest.raises(ValueError, match=r"record: unknown observable\(s\) \['rate'\]"):
        jaxpop.simulate(m, 1.0, 0.1, key=KEY, record=("x", "rate"))
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="trials"):
            jaxpop.simulate(m, 1.0, 0.1, key=KEY, trials=bad)
    with pytest.raises(TypeError, match="jaxpop model"):
        jaxpop.simulate(lambda s: s, 1.0, 0.1, key=KEY)
    with pytest.raises(TypeError, match="ODE model"):
        jaxpop.solve(m, 1.0)
    with pytest.raises(ValueError, match="t_end must be > t0"):
        jaxpop.solve(LinearODE(), 0.0)


# ---------------------------------------------------------------------------------------------
# integrators against closed forms
# ---------------------------------------------------------------------------------------------


PW_VALUES = np.array([0.5, 2.0, -1.0, 3.0, 0.0, 1.5, -2.0, 1.0])  # held 0.4 each from t = -1


def _global_error(integrator, dt, kind):
    k, y0 = 0.8, 1.5
    if kind == "sinusoid":
        t0, T, drive = 0.0, 4.0, jaxpop.Sinusoid(2.0, 3.0)
        exact = lambda t: linear_exact_sinusoid(t, k, y0, 2.0, 3.0)
    elif kind == "step":  # jumps on the grid, t0 != 0 (grid times carry rounding, as in MPR Fig. 2)
        t0, T, drive = -1.0, 3.0, jaxpop.Step(3.0, 0.0, 1.6)
        exact = lambda t: linear_exact_piecewise(t, k, y0, t0, [0.0, 1.6], [3.0])
    else:  # a sampled input held over 0.4 (several steps each)
        t0, T, drive = -1.0, 2.2, jaxpop.Piecewise(PW_VALUES, 0.4, t0=-1.0, outside="hold")
        exact = lambda t: linear_exact_piecewise(t, k, y0, t0, -1.0 + 0.4 * np.arange(9), PW_VALUES)
    res = jaxpop.simulate(LinearODE(k, y0, integrator), T, dt, t0=t0, key=KEY, drive=drive)
    return np.max(np.abs(np.asarray(res.y) - exact(np.asarray(res.ts))))


@pytest.mark.parametrize("kind", ["sinusoid", "step", "piecewise"])
@pytest.mark.parametrize("integrator,order", [("rk4", 4), ("euler", 1)])
def test_fixed_step_convergence_order(integrator, order, kind):
    # Non-autonomous input: RK4 is 4th order only if the drive is sampled at t + dt/2 and
    # t + dt, and -- for inputs that jump on the grid (steps, held samples) -- only if every
    # stage of a step sees the input of that step (the last stage of the step ending at a
    # jump must not see the new value: that would be an O(dt) error per jump).
    dts = [0.1, 0.05, 0.025, 0.0125] if integrator == "rk4" else [0.01, 0.005, 0.0025]
    errs = [_global_error(integrator, dt, kind) for dt in dts]
    slopes = np.diff(np.log(errs)) / np.diff(np.log(dts))
    assert np.all(np.abs(slopes - order) <= 0.3), (errs, slopes)
    if integrator == "rk4":
        assert errs[-1] < 1e-8  # far above rounding, so the slope is the truncation order


def test_solve_matches_closed_forms():
    k, y0 = 0.8, 1.5
    ts = np.linspace(0.0, 10.0, 41)
    res = jaxpop.solve(LinearODE(k, y0), 10.0, ts=ts, drive=jaxpop.Sinusoid(2.0, 3.0))
    np.testing.assert_allclose(res.y, linear_exact_sinusoid(ts, k, y0, 2.0, 3.0), rtol=0, atol=1e-7)
    # a rectangular pulse: the jumps are passed to the step-size controller
    res = jaxpop.solve(LinearODE(k, y0), 10.0, ts=ts, drive=jaxpop.Step(3.0, 1.05, 4.3))
    np.testing.assert_allclose(res.y, linear_exact_step(ts, k, y0, 3.0, 1.05, 4.3), rtol=0, atol=1e-7)
    # the fixed-step engine on the same pulse (jumps on the grid): RK4 error O(dt^4)
    res = jaxpop.simulate(LinearODE(k, y0), 10.0, 0.0125, key=KEY, drive=jaxpop.Step(3.0, 1.05, 4.3), record_every=20)
    np.testing.assert_allclose(res.y, linear_exact_step(np.asarray(res.ts), k, y0, 3.0, 1.05, 4.3), atol=1e-8)


# ---------------------------------------------------------------------------------------------
# a stochastic model against its exact statistics
# ---------------------------------------------------------------------------------------------


def test_ou_variance_autocorrelation_and_poisson_rate():
    tau, sigma, rate = 0.5, 0.7, 20.0
    M, dt = 10_000, 0.01
    # from x(0) = 0: Var x(t) = sigma^2 (1 - exp(-2 t / tau)) (exact for the exact transition)
    res = jaxpop.simulate(OUPoisson(tau, sigma, rate, stationary_start=False), 2.0, dt, key=KEY, trials=M,
                          record=("x",), record_every=25)
    x = np.asarray(res["x"])
    for j, t in enumerate(np.asarray(res.ts)):
        var = sigma**2 * (1 - math.exp(-2 * t / tau))
        # SE of a Gaussian sample variance: var * sqrt(2 / (M - 1))
        assert abs(x[:, j].var(ddof=1) - var) <= N_SE * var * math.sqrt(2 / (M - 1)), (t, x[:, j].var(), var)
        assert abs(x[:, j].mean()) <= N_SE * math.sqrt(var / M)
    # stationary start: corr(x(t), x(t + s)) = exp(-s / tau) (independent step keys);
    # SE of a correlation coefficient ~ (1 - rho^2) / sqrt(M)
    res = jaxpop.simulate(OUPoisson(tau, sigma, rate), 0.5, dt, key=jax.random.PRNGKey(7), trials=M,
                          record=("x", "A"), record_every=10)
    x = np.asarray(res["x"])
    assert abs(x[:, -1].var(ddof=1) - sigma**2) <= N_SE * sigma**2 * math.sqrt(2 / (M - 1))
    for lag in (1, 3):
        rho = math.exp(-lag * 10 * dt / tau)
        c = np.corrcoef(x[:, 0], x[:, lag])[0, 1]
        assert abs(c - rho) <= N_SE * (1 - rho**2) / math.sqrt(M), (lag, c, rho)
    # counts: E[A] = rate E[exp x] = rate exp(sigma^2 / 2) (lognormal); SE from the sample
    a = np.asarray(res["A"]).mean(axis=1)  # one time-average per trial: i.i.d. across trials
    assert abs(a.mean() - rate * math.exp(sigma**2 / 2)) <= N_SE * a.std(ddof=1) / math.sqrt(M)


def test_solve_jump_at_zero_under_jit_matches_eager():
    # Issue 9: a drive jumping at t = 0 (here Sinusoid with the default t_on = 0, t0 < 0),
    # built inside jax.jit, never finished ("maximum number of solver steps"): diffrax steps
    # over the jump with nextafter, subnormal near 0 (see the Notes of solve). (A Step at 0
    # and jax.jit(jax.grad(...)) failed the same way; their compiles are too slow for here.)
    def r():
        drive = jaxpop.Sinusoid(3.0, jnp.pi / 20)
        return jaxpop.solve(jaxpop.MontbrioPazoRoxin(), 40.0, t0=-5.0, drive=drive, n_save=46, max_steps=20_000).r

    np.testing.assert_allclose(jax.jit(r)(), r(), rtol=0, atol=1e-8)


def test_auto_chunk_rule():
    sim = importlib.import_module("jaxpop.core.simulate")
    budget, copies, floor = sim._CHUNK_CACHE_BYTES, sim._CHUNK_STATE_COPIES, sim._MIN_CHUNK
    auto = sim.auto_chunk
    assert auto(1024, 1000, "gpu") == auto(1024, 1000, "tpu") == 1024  # accelerators: one batch
    assert auto(64, 8, "cpu") == 64  # the whole batch fits the budget: one batch
    state = budget // (copies * 4 * floor)  # a chunk of 4 * floor items fits the budget
    c = auto(1024, state, "cpu")
    assert 2 * floor <= c <= 4 * floor and 1024 % c == 0  # a divisor in [c/2, c]
    assert auto(1024, 10 * budget, "cpu") == floor  # a state larger than the budget: the shortest chunk
    assert auto(floor, 10 * budget, "cpu") == floor  # ... which may be one batch
    big = budget // (copies * 5)  # state bytes for which a chunk holds 5 items (shortest chunk 1)
    assert auto(12, big, "cpu", min_chunk=1) == 4  # a divisor in [c/2, c] when there is one
    assert auto(13, big, "cpu", min_chunk=1) == 5  # none (13 is prime): 3 chunks of 5, 2 padded items
    assert auto(7, big, "cpu", min_chunk=1) == 4


@pytest.mark.slow  # ~20 s; the rule itself: the test above; chunked trials = one batch: test_trials_in_chunks_...
def test_auto_chunking_gives_the_numbers_of_one_batch(monkeypatch):
    # Automatic chunking (trials_per_chunk=None, here forced onto the CPU rule with a budget of 5 trials
    # per chunk) runs the same trials as one batch and as explicit chunks, also when the chunk length
    # does not divide `trials` (padded last chunk); trial i is the single run with split(key, n)[i].
    from jaxpop.meso import SchwalgerMeso
    from jaxpop.presets import schwalger_2017

    sim = importlib.import_module("jaxpop.core.simulate")
    model = SchwalgerMeso(schwalger_2017.ei_network(adaptation=False), dt=0.5)
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(jax.eval_shape(model.init, KEY)))
    monkeypatch.setattr(sim, "_CHUNK_CACHE_BYTES", sim._CHUNK_STATE_COPIES * state_bytes * 5)
    monkeypatch.setattr(sim, "_MIN_CHUNK", 1)
    monkeypatch.setattr(sim, "_platform", lambda key: "cpu")
    chosen = []
    rule = sim.auto_chunk
    monkeypatch.setattr(sim, "auto_chunk", lambda *a: chosen.append(rule(*a)) or chosen[-1])
    run = lambda n, **kw: jaxpop.simulate(model, 10.0, 0.5, key=KEY, record=("A", "n"), trials=n, **kw)  # noqa: E731
    n = 7  # (explicit chunks that divide `trials`: test_trials_in_chunks_are_the_same_trials)
    auto = run(n)
    assert chosen[-1] == 4 and n % chosen[-1]  # padded last chunk
    whole = run(n, trials_per_chunk=n)
    assert auto["n"].shape[0] == n
    for name in ("A", "n"):
        np.testing.assert_array_equal(auto[name], whole[name], err_msg=name)
    assert len(np.unique(np.asarray(auto["n"]).reshape(n, -1), axis=0)) > 1  # stochastic: trials differ
    last = jaxpop.simulate(model, 10.0, 0.5, key=jax.random.split(KEY, 7)[6], record=("A", "n"))
    for name in ("A", "n"):
        np.testing.assert_array_equal(auto[name][6], last[name], err_msg=name)
