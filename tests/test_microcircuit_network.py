"""The LIF microcircuit network (:class:`jaxpop.micro.microcircuit.MicrocircuitNetwork`): exact integration,
event-driven delayed propagation, buffer overflow reporting, and the down-scaled Potjans–Diesmann rates
against the reference data of NEST's ``Potjans_2014`` example."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpop
from jaxpop.micro.microcircuit import MicrocircuitNetwork, check_dropped, spike_times
from jaxpop.presets import potjans_diesmann as pd

C_m, tau_m, E_L, V_th, V_reset, t_ref, tau_s = 250.0, 10.0, -65.0, -50.0, -65.0, 2.0, 0.5
DT = 0.1


def _quiet(I_dc=0.0, synapses=False):
    """0.01-scaled circuit without background, resting at E_L, with a DC current (pA); no synapses unless asked."""
    c = pd.microcircuit(0.01, 0.01, background="dc")
    return dataclasses.replace(c, Q=c.Q if synapses else np.zeros_like(c.Q), I_dc=np.full(8, I_dc),
                               V0_mean=np.full(8, E_L), V0_sd=np.zeros(8))


def test_subthreshold_dc_response_is_exact():
    net = MicrocircuitNetwork(_quiet(I_dc=300.0), dt=DT)  # below the 375 pA rheobase
    res = jaxpop.simulate(net, 20.0, DT, key=jax.random.PRNGKey(0), record="V")
    t = DT * np.arange(1, 201)
    v_inf = 300.0 * tau_m / C_m
    # float32 state (resolution 7.6e-6 mV at -65 mV): a few ulps after 200 steps
    np.testing.assert_allclose(np.asarray(res["V"])[:, 0], E_L + v_inf * (1 - np.exp(-t / tau_m)), atol=6e-5)


def test_a_spike_arrives_after_its_delay_with_the_psc_kernel():
    net = MicrocircuitNetwork(_quiet(synapses=True), dt=DT)  # a ring buffer long enough for the PD delays
    w, d = 100.0, 15  # pA, steps
    assert net.D > d
    n = sum(net.sizes)
    # one synapse 0 -> 5 (segment of neuron 0, target population 0): every other segment empty
    seg = np.zeros(net.seg_ptr.shape[0], np.int64)
    seg[1:] = 1
    net = eqx.tree_at(lambda m: (m.seg_ptr, m.target, m.weight, m.delay), net,
                      (jnp.asarray(seg, net.seg_ptr.dtype), jnp.array([5], net.target.dtype),
                       jnp.array([w], jnp.float32), jnp.array([d], net.delay.dtype)))
    state0 = net.init(jax.random.PRNGKey(0))
    state0 = state0._replace(V=state0.V.at[0].set(V_th + 1.0))  # neuron 0 fires in step 0
    res = jaxpop.simulate(net, 5.0, DT, key=jax.random.PRNGKey(0), record=("V", "spikes"), state0=state0)
    assert np.asarray(res["spikes"])[0, 0] == 1 and np.asarray(res["spikes"])[1:].sum() == 0
    V5 = np.asarray(res["V"])[:, 5] - E_L  # record k = state after step k
    k = np.arange(50)
    kernel = w * tau_s * tau_m / (C_m * (tau_m - tau_s)) * (np.exp(-(k - d) * DT / tau_m) - np.exp(-(k - d) * DT / tau_s))
    # float32 state: V is stored in absolute mV (~ -65), whose resolution is 7.6e-6 mV; the recursion accumulates a
    # few ulps over 50 steps, so 6e-5 mV (8 ulps, 0.04 % of the 0.17 mV PSP)
    np.testing.assert_allclose(V5, np.where(k > d, kernel, 0.0), atol=6e-5)
    assert V5[d + 16] > 0.1  # a visible PSP (100 pA ~ 0.17 mV at its peak, t_max = 1.58 ms)


def test_refractory_clamp_and_reset():
    c = _quiet(I_dc=1000.0)  # suprathreshold: regular firing, every neuron in the same step
    net = MicrocircuitNetwork(c, dt=DT, max_spikes=int(np.sum(c.N)))  # (no synapses: a buffer of all neurons)
    res = jaxpop.simulate(net, 50.0, DT, key=jax.random.PRNGKey(0), record=("V", "spikes"))
    s, V = np.asarray(res["spikes"])[:, 0], np.asarray(res["V"])[:, 0]
    first = int(np.argmax(s))
    np.testing.assert_array_equal(V[first:first + 21], V_reset)  # the spike step and 20 refractory steps
    assert V[first + 21] > V_reset
    # ISI of a LIF with t_ref: t_ref + tau_m ln(v_inf / (v_inf - theta)), on the grid
    v_inf = 1000.0 * tau_m / C_m
    isi = np.diff(np.nonzero(s)[0]) * DT
    assert np.all(np.abs(isi - (t_ref + tau_m * np.log(v_inf / (v_inf - (V_th - E_L))))) <= DT + 1e-9)


def test_buffer_overflow_is_reported_not_silent():
    c = dataclasses.replace(pd.microcircuit(0.01, 0.01, background="dc"), V0_mean=np.full(8, -40.0), V0_sd=np.zeros(8))
    net = MicrocircuitNetwork(c, dt=DT, max_spikes=4)
    # every neuron starts above threshold: far more than 4 spikes in the first step
    assert int(jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0))).spike_ids.shape[0]) == 4
    # the run raises when it ends (the model's final check), for one run and vmapped over trials
    run = lambda **kw: jaxpop.simulate(net, 1.0, DT, key=jax.random.PRNGKey(0), record="A", **kw)
    for call in (run, lambda: run(trials=2)):
        with pytest.raises(Exception, match="exceeded the buffers .*max_spikes=4"):
            jax.block_until_ready(call()["A"])
    # a recorded count is checked too
    with pytest.raises(RuntimeError, match="exceeded the buffers"):
        check_dropped({"dropped": np.array([0, 3, 3])})
    check_dropped({"dropped": np.zeros(3, int)})


# NEST 3.10 iaf_psc_exp, the same configuration, mean over 5 network seeds (benchmarks/results/nest_microcircuit_0.1.json,
# made by benchmarks/_nest_microcircuit.py). NEST's ``Potjans_2014`` example reference data (one run, seed 55: 0.402 2.017
# 3.880 4.958 6.575 7.726 0.831 6.986 Hz) has L2/3E 4.2 SD below NEST 3.10's own 13-seed mean (0.473 Hz), so it is
# not used as the oracle.
NEST_01 = np.array([0.4744, 2.0909, 4.0032, 5.0248, 6.5200, 7.7792, 0.8278, 7.0237])
_RATES = {}


def _downscaled_rates():
    # N_scaling = K_scaling = 0.1, Poisson background, DC compensation; rates over [0.5, 1.5] s, silent neurons
    # included, averaged over 3 network realisations x 2 trials (a single 1-s run varies by up to 5 % between
    # realisations in L2/3E, L5E, L6E, on both simulators; the SD of the difference of the two means is <= 4.4 %)
    if not _RATES:
        rates = []
        for k in range(3):
            net = MicrocircuitNetwork(pd.microcircuit(0.1, 0.1), dt=DT, key=jax.random.PRNGKey(10 + k))
            res = jaxpop.simulate(net, 1500.0, DT, key=jax.random.PRNGKey(7 + k), record=("A", "dropped"),
                                  record_every=100, trials=2)
            check_dropped(res)
            rates.append(np.asarray(res["A"])[:, 50:].mean(axis=1))
        _RATES["r"] = np.concatenate(rates).mean(axis=0)
    return _RATES["r"]


@pytest.mark.slow
def test_downscaled_rates_match_nest():
    # Issue 4 acceptance (down-scaled): within 10 % of NEST's runs of the same configuration, every population
    rel = _downscaled_rates() / NEST_01 - 1
    assert np.all(np.abs(rel) <= 0.10), rel


@pytest.mark.slow  # ~30 s; the default suite checks trials = single runs in test_model_contract (Microcircuit-exact)
def test_vmapped_trials_pool_their_events_and_equal_single_runs():
    # the batching rule pools the trials' events into one loop; trial i must be the single run with key
    # split(key, trials)[i] (jaxpop.simulate's contract), spike for spike; V to a few float32 ulps (3.8e-6 mV at
    # -60 mV: XLA vectorises the batched update differently, e.g. fused multiply-adds), 3e-5 mV = 8 ulps
    net = MicrocircuitNetwork(pd.microcircuit(0.02, 0.02), dt=DT, key=jax.random.PRNGKey(5), event_chunk=1024)
    key = jax.random.PRNGKey(9)
    batch = jaxpop.simulate(net, 60.0, DT, key=key, record=("spikes", "V", "dropped"), trials=3)
    assert np.asarray(batch["spikes"]).sum() > 100  # events in several chunks of 1024
    for i, k in enumerate(jax.random.split(key, 3)):
        one = jaxpop.simulate(net, 60.0, DT, key=k, record=("spikes", "V"))
        np.testing.assert_array_equal(np.asarray(batch["spikes"])[i], np.asarray(one["spikes"]))
        np.testing.assert_allclose(np.asarray(batch["V"])[i], np.asarray(one["V"]), rtol=0, atol=3e-5)
    # nested vmaps (e.g. a sweep over drives of trial batches) merge into the same pooled loop
    f = jax.vmap(lambda d: jaxpop.simulate(net, 20.0, DT, key=key, drive=d, record="A", trials=2)["A"])
    A = np.asarray(f(jnp.array([0.0, 50.0])))
    np.testing.assert_array_equal(A[0], np.asarray(jaxpop.simulate(net, 20.0, DT, key=key, drive=0.0, record="A",
                                                                   trials=2)["A"]))


@pytest.mark.slow  # ~12 s; notebook 03 and tests/test_reproduce_pd.py run the pulse in the default suite
def test_thalamic_pulse():
    # 902 thalamic sources, Poisson 120 Hz during (700, 710] ms: 902 * 1.2 = 1082.4 spikes expected (SD 32.9);
    # none outside the pulse; L4E (the main target) fires far more during the pulse's arrival than before it
    c = dataclasses.replace(pd.microcircuit(0.02, 0.02, thalamus=True), background="dc")
    net = MicrocircuitNetwork(c, dt=DT, key=jax.random.PRNGKey(2), max_spikes=400)
    assert net.n_th == 902
    res = jaxpop.simulate(net, 730.0, DT, key=jax.random.PRNGKey(4), t0=680.0, record=("spike_ids", "A", "dropped"))
    check_dropped(res)
    t, s = spike_times(res, net, thalamus=True)
    th = s >= sum(net.sizes)
    assert np.all((t[th] > 700.0) & (t[th] <= 710.0 + 1e-9))
    assert abs(th.sum() - 1082.4) < 5 * 32.9
    A = np.asarray(res["A"])
    ts = np.asarray(res.ts)
    before, during = A[(ts > 690) & (ts <= 700), 2].mean(), A[(ts > 702) & (ts <= 714), 2].mean()
    assert during > before + 20.0, (before, during)
