"""Relaxed-gradient statistics matching (``gumbel`` / ``straight_through`` counts) against the exact likelihood,
on a driven one-population Hawkes model (:mod:`jaxpop.reproduce.fit_relaxed`).

Oracles: the statistics of the exact-count data are matched better at the truth than at the start of the fits
(+30 % in mu, -30 % in J); the relaxed gradient at the start is finite, points towards the truth, and (Gumbel: a smooth
loss) a small step against it lowers the loss. The acceptance of issue 10 (the relaxed fit converges
and recovers mu and J within 10 %; its bias against the likelihood fit is reported) is ``-m slow``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpop import fit
from jaxpop.reproduce import fit_relaxed as fr

DATA_S, TRIALS = 4.0, 2  # short: the default suite


@pytest.fixture(scope="module")
def short():
    _, A = fr.data(seed=3, data_s=DATA_S)
    out = {}
    for mode in fr.MODES:
        loss = fr.statistics_objective(A, seed=3, data_s=DATA_S, trials=TRIALS)
        spec = fit.Parameters(fr.model(mode=mode), fr.free())
        f = jax.jit(lambda x, spec=spec, loss=loss: loss(spec.model_at(spec.unflatten(x))))
        out[mode] = dict(spec=spec, f=f, vg=jax.jit(jax.value_and_grad(f)))
    return out


def _u(spec, mu, J):
    return spec.flatten(spec.init(fr.model(mu, J)))


@pytest.mark.parametrize("mode", fr.MODES)
def test_statistics_loss_lower_at_truth_than_at_the_start(short, mode):
    s = short[mode]
    at_truth = float(s["f"](_u(s["spec"], **fr.TRUTH)))
    at_start = float(s["f"](_u(s["spec"], **fr.START)))
    assert np.isfinite(at_truth) and at_truth < 0.5 * at_start, (at_truth, at_start)


@pytest.mark.parametrize("mode", fr.MODES)
def test_relaxed_gradient_is_finite_and_descends(short, mode):
    s = short[mode]
    u_start, u_truth = _u(s["spec"], **fr.START), _u(s["spec"], **fr.TRUTH)
    val, g = s["vg"](u_start)
    g = np.asarray(g)
    assert np.isfinite(float(val)) and np.all(np.isfinite(g)) and np.linalg.norm(g) > 0
    # the descent direction points towards the truth (in the fit's coordinates: log mu, logit J / 0.9)
    assert float(np.dot(-g, np.asarray(u_truth - u_start))) > 0, g
    if mode == "gumbel":  # the loss is smooth: a small step against its gradient lowers it (the straight-through
        # forward loss is piecewise constant in the parameters, its gradient a surrogate: only the direction is tested)
        step = 1e-3 * g / np.abs(g).max()
        assert float(s["f"](u_start - jnp.asarray(step))) < float(val)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "measured 2026-12-03 (20 s of data, 8 x 2.5 s simulated, 4 data seeds): 2 of 8 relaxed estimates fall outside "
    "10 %: gumbel seed 1 (mu -11.9 %, J +15.6 %; the likelihood on the same data is itself -7.7 % / +7.4 %, z = "
    "-2.7 / +2.6) and straight-through seed 2 (mu +10.1 %). The relaxed estimates scatter about twice as much as "
    "the likelihood's (SD of J 0.035 / 0.039 vs 0.020): the acceptance needs longer data or more simulated trials"))
def test_relaxed_fit_recovers_mu_and_J_within_10_percent(tmp_path):
    # 4 data seeds x (likelihood, gumbel, straight-through) fits: every relaxed estimate within 10 % of the truth,
    # every likelihood estimate within 4 Laplace SE, each relaxed fit's loss lower at its end than at its start
    out = fr.relaxed_vs_likelihood(tmp_path)
    truth = np.asarray(out["truth"])
    misses = []
    for run in out["runs"]:
        lik = run["likelihood"]
        assert np.all(np.abs(lik["z_truth"]) < 4), run["seed"]
        for mode in fr.MODES:
            r = run[mode]
            err = np.asarray(r["estimate"]) / truth - 1
            print(run["seed"], mode, np.round(r["estimate"], 4), "rel err %", np.round(100 * err, 2),
                  "bias (lik SE)", np.round(r["bias_se"], 2))
            assert r["objective"] < r["loss_start"]
            if not np.all(np.abs(err) < 0.10):
                misses.append((run["seed"], mode, np.round(100 * err, 2).tolist()))
    assert (tmp_path / "fit_relaxed.png").exists() and (tmp_path / "fit_relaxed.json").exists()
    assert not misses, misses
