"""Gradients of the LIF microcircuit's population observables (issue 4, part 3): the spike-triggered escape-noise
derivative (``MicrocircuitNetwork(..., surrogate=width)``) against central finite differences of trial-averaged
observables, for the drive current, the background rate and a common scale of all recurrent weights.

Network: N_scaling = K_scaling = 0.02 (1544 neurons), Poisson background, 200 ms, observable = mean population
activity over [100, 200] ms averaged over 8 trials. Finite differences use common random numbers (same keys);
their standard error comes from the spread of the 8 per-trial differences.

Measured (2026-11-24, width 1 mV): surrogate / FD = 2.8 (drive), 2.0 (background rate), 2.0 (weight scale); with
the synapses removed 1.04 (drive) and 0.68 (background rate). The sign is right and the size within a factor 3:
the asserted band is [1/4, 4]. (The recurrent path amplifies the spike-triggered estimate about 2-fold.)
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpop
from jaxpop.micro.microcircuit import MicrocircuitNetwork
from jaxpop.presets import potjans_diesmann as pd

DT, T, TRIALS = 0.1, 200.0, 8
STEPS = (20.0, 0.4, 0.05)  # FD steps: drive (pA), background rate (Hz), weight scale


def _setup(synapses=True):
    c = pd.microcircuit(0.02, 0.02)
    if not synapses:
        c = dataclasses.replace(c, Q=np.zeros_like(c.Q))
    net = MicrocircuitNetwork(c, dt=DT, key=jax.random.PRNGKey(3), surrogate=1.0)

    def per_trial(params):
        drive, bg, g = params
        m = eqx.tree_at(lambda m: (m.bg_rate, m.weight), net, (bg, net.weight * g))
        res = jaxpop.simulate(m, T, DT, key=jax.random.PRNGKey(11), drive=drive, record=("A", "dropped"),
                              record_every=100, trials=TRIALS, checkpoint=True)
        return res["A"][:, 10:].mean(axis=(1, 2)), res["dropped"].max()

    p0 = (jnp.float32(0.0), net.bg_rate, jnp.float32(1.0))
    return per_trial, p0


def _compare(synapses):
    per_trial, p0 = _setup(synapses)
    f = jax.jit(lambda p: per_trial(p)[0].mean())
    grads = jax.jit(jax.grad(f))(p0)
    assert int(jax.jit(lambda p: per_trial(p)[1])(p0)) == 0  # no event overflow
    out = []
    run = jax.jit(lambda p: per_trial(p)[0])
    for i, d in enumerate(STEPS):
        hi = tuple(x + d if j == i else x for j, x in enumerate(p0))
        lo = tuple(x - d if j == i else x for j, x in enumerate(p0))
        fd_trials = (np.asarray(run(hi)) - np.asarray(run(lo))) / (2 * d)
        out.append((float(grads[i]), fd_trials.mean(), fd_trials.std(ddof=1) / np.sqrt(TRIALS)))
    return out


@pytest.mark.slow
def test_gradients_match_finite_differences_in_sign_and_size():
    for i, (g, fd, se) in enumerate(_compare(synapses=True)):
        assert np.isfinite(g)
        assert abs(fd) > 3 * se, (i, fd, se)  # the FD is resolved, so its sign is known
        assert 0.25 <= g / fd <= 4.0, (i, g, fd, se)


@pytest.mark.slow
def test_uncoupled_neurons_drive_gradient_is_calibrated():
    # without recurrence the spike-triggered derivative is an escape-noise estimate of the f-I slope:
    # measured ratio 1.04 (drive), 0.68 (background rate); asserted within [0.5, 2]
    res = _compare(synapses=False)
    for i in (0, 1):
        g, fd, se = res[i]
        assert abs(fd) > 3 * se and 0.5 <= g / fd <= 2.0, (i, g, fd, se)
    assert res[2][0] == 0.0  # no synapses: the weights cannot matter


@pytest.mark.slow  # ~16 s
def test_surrogate_mode_forward_pass_is_exact_and_bad_width_raises():
    # the surrogate only changes the backward pass: the same spikes as the exact mode (same keys), and a clear error
    c = pd.microcircuit(0.01, 0.01)
    exact = MicrocircuitNetwork(c, dt=DT, key=jax.random.PRNGKey(1))
    surr = MicrocircuitNetwork(c, dt=DT, key=jax.random.PRNGKey(1), surrogate=2.0)
    a = jaxpop.simulate(exact, 50.0, DT, key=jax.random.PRNGKey(2), record="spikes")
    b = jaxpop.simulate(surr, 50.0, DT, key=jax.random.PRNGKey(2), record="spikes")
    np.testing.assert_array_equal(np.asarray(a["spikes"]), np.asarray(b["spikes"]))
    assert np.asarray(a["spikes"]).sum() > 0
    with pytest.raises(ValueError, match="surrogate"):
        MicrocircuitNetwork(c, dt=DT, surrogate=0.0)
