r"""``jaxpop reproduce potjans-diesmann-meso``: the GIF Potjans–Diesmann microcircuit vs its mesoscopic twin.

Default run: the target in quick mode (once per session, cached as in ``_reproduce_cache``), its drive and
bookkeeping against closed forms, and the all-to-all micro network's delay routing against the
closed-form PSC response. Slow: the acceptance of issue 4 (part 4) -- stationary mean rates within 5 %
and population-activity spectra within 20 % in the 5–200 Hz bands, for every population.
Every statistical bound states its derivation.
"""

import json

import jax
import numpy as np
import pytest

import jaxpop
from _reproduce_cache import run_quick
from jaxpop import reproduce
from jaxpop.core.gif_params import GIFParams
from jaxpop.micro import GIFNetwork
from jaxpop.presets import schwalger_2017
from jaxpop.reproduce import potjans_diesmann_meso as pdm
from jaxpop.reproduce.schwalger2017 import BANDS

NAME = "potjans-diesmann-meso"


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("pd_meso")


def quick(outdir):
    """Numbers of the target in quick mode, computed once per session; its PNG and JSON must exist."""
    return run_quick(NAME, outdir, stem="potjans_diesmann_meso", min_png_bytes=50_000)


def test_registered():
    assert NAME in reproduce.available()


# ------------------------------------------------------------------------------------------- closed forms
def test_thalamic_pulses_follow_the_scripts_and_switch_in_the_same_step():
    drive = pdm.thalamic_pulses(1000.0, 3)
    amp = schwalger_2017.potjans_diesmann_thalamic_step(15.0)
    # Schwalger's PDmodel_* scripts (schwalger/mesopopdyn_microcircuit): L4E 15, L4I 9.4456, L6E 7.8128, L6I 2.9908 mV, 0 elsewhere
    np.testing.assert_allclose(amp, [0, 0, 15.0, 9.4456, 0, 0, 7.8128, 2.9908], atol=1e-4)
    for k in range(3):
        t0 = 1000.0 + k * pdm.PERIOD
        np.testing.assert_array_equal(np.asarray(drive(t0 + 59.99)), 0.0)
        np.testing.assert_allclose(np.asarray(drive(t0 + 60.0)), amp)
        np.testing.assert_allclose(np.asarray(drive(t0 + 89.99)), amp)
        np.testing.assert_array_equal(np.asarray(drive(t0 + 90.0)), 0.0)
    np.testing.assert_array_equal(np.asarray(drive(999.9)), 0.0)
    np.testing.assert_array_equal(np.asarray(drive(1000.0 + 3 * pdm.PERIOD + 60.0)), 0.0)
    # the times each model samples in step k (as simulate computes them, t = t0 + k dt, from t0 = -300 ms):
    # GIFNetwork at t + dt/2, SchwalgerMeso at t. Both must see the pulse in exactly the same steps.
    t0, dt = -300.0, pdm.DT
    k = np.arange(int(round((1000.0 + 3 * pdm.PERIOD - t0) / dt)))
    t = t0 + k * dt
    on_micro = np.asarray(jax.vmap(drive)(t + 0.5 * dt))[:, 2] > 0
    on_meso = np.asarray(jax.vmap(drive)(t))[:, 2] > 0
    np.testing.assert_array_equal(on_micro, on_meso)
    assert on_meso.sum() == 3 * 300  # 3 pulses of 30 ms


def test_chunks_and_burst_counts_on_known_data():
    A = np.ones((2, 400, 2))
    A[0, 5:10, 0] = 300.0  # one episode (5-ms window 1) in trial 0
    A[1, 20:30, 0] = 300.0  # one episode spanning windows 4 and 5 in trial 1
    A[1, 0:5, 0] = 300.0  # and one in its first window
    c = pdm._chunks(A, 100)
    assert c.shape == (8, 100, 2) and np.array_equal(c[4], A[1, :100]) and np.array_equal(c[3], A[0, 300:])
    # population 0: mean (780 + 20 x 300) / 800 = 8.5 Hz, threshold 8 x 8.5 = 68 Hz: 3 episodes; population 1 flat
    assert pdm._bursts(A).tolist() == [3, 0]
    assert pdm._burst_windows(A[:, :0], [1.0, 1.0]).shape == (2, 0, 2)  # no pulses: empty epochs
    assert pdm._burst_windows(pdm._chunks(A[:, :0], 300), [1.0, 1.0]).any(axis=1).shape == (0, 2)


def test_all_to_all_routing_against_the_closed_form_psc_response():
    # Two source populations (E: J > 0, I: J < 0) fire once, all together, in step 0 (a one-step drive of 2000 mV:
    # u ~ 20 mV, lambda ~ 1e3 e^10 Hz, P = 1; after the reset lambda ~ 1e3 e^-30 Hz: silent); two target populations
    # that never fire (lambda_0 = 1e-9 Hz) receive them with four different delays. u_mean of a target must then be
    # sum_b J p N_b tau_m / (tau_m - tau_s) (e^{-s/tau_m} - e^{-s/tau_s}), s = time since arrival (step D_b starts
    # at D_b dt): the PSC of GIFNetwork is exact, so up to round-off.
    N = (40, 30, 5, 7)
    J = np.zeros((4, 4))
    J[2, 0], J[2, 1], J[3, 0], J[3, 1] = 0.4, -0.9, 0.7, -0.3
    p = np.full((4, 4), 0.5)
    delay = np.ones((4, 4))
    delay[2, 0], delay[2, 1], delay[3, 0], delay[3, 1] = 1.0, 1.5, 2.0, 0.5
    params = GIFParams(N, mu=0.0, tau_m=10.0, t_ref=2.0, lambda_0=[1e3, 1e3, 1e-9, 1e-9], Delta_V=0.5,
                       V_T_star=[15.0, 15.0, 15.0, 15.0], V_reset=0.0, J=J, p=p, tau_syn_ex=0.5,
                       tau_syn_in=[0.5, 0.5, 2.0, 1.2], delay=delay)
    dt = 0.1
    net = GIFNetwork(params, dt=dt, connectivity="all_to_all")
    drive = jaxpop.Step(np.array([2000.0, 2000.0, 0.0, 0.0]), 0.0, dt)
    res = jaxpop.simulate(net, 6.0, dt, key=jax.random.PRNGKey(0), drive=drive, record=("A", "u_mean"))
    A = np.asarray(res.A)
    assert A[0, 0] == A[0, 1] == 1e4 and A[1:, :2].sum() == 0 and A[:, 2:].sum() == 0  # everybody once, in step 0
    t_end = np.asarray(res.ts)  # end of step k: (k + 1) dt
    tau_m = 10.0
    for a, tau_in in ((2, 2.0), (3, 1.2)):
        expect = np.zeros_like(t_end)
        for b, tau_s in ((0, 0.5), (1, tau_in)):
            s = t_end - delay[a, b]
            resp = J[a, b] * p[a, b] * N[b] * tau_m / (tau_m - tau_s) * (np.exp(-s / tau_m) - np.exp(-s / tau_s))
            expect += np.where(s > 0, resp, 0.0)
        np.testing.assert_allclose(np.asarray(res.u_mean)[:, a], expect, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------- quick target
@pytest.mark.slow  # the quick run of the target costs ~45 s on 2 cores; default-suite budget (< 10 min)
def test_quick_rates_micro_vs_meso(outdir):
    n = quick(outdir)
    r1, r2 = np.asarray(n["rate_micro"]), np.asarray(n["rate_meso"])
    assert np.all(r1 > 0.5) and np.all(r2 > 0.5)
    # acceptance (5 %) + 4 SE of the relative difference; the SE comes from 500-ms batch means (the activity's
    # correlation time without adaptation is tens of ms; a burst in a batch is part of its scatter), 6 per level,
    # so it is itself uncertain (t with ~10 dof: P(|t| > 4) ~ 3e-3). The long run measures |diff| <= 0.6 %: with
    # the 5 % allowance a false alarm needs a chance deviation of > 5 % + 4 SE (measured SE 0.3-3 %)
    se = np.asarray(n["rate_rel_diff_se"])
    assert np.all(np.abs(np.asarray(n["rate_rel_diff"])) < 0.05 + 4 * se), (n["rate_rel_diff"], se)


@pytest.mark.slow
def test_quick_pulse_response(outdir):
    n = quick(outdir)
    amp = np.asarray(n["pulse"]["amplitude_mV"])
    for lv in ("micro", "meso"):
        base, base_se = np.asarray(n[f"step_baseline_{lv}"]), np.asarray(n[f"step_baseline_{lv}_se"])
        # 210 ms after the previous pulse the network has relaxed: the 60 ms before each onset have the stationary
        # rate within 4 SE (of the epoch baselines) + 10 % (the stationary rate's own SE in quick mode)
        r = np.asarray(n[f"rate_{lv}"])
        assert np.all(np.abs(base - r) < 4 * base_se + 0.1 * r), (lv, base, r)
        # the pulse reaches the populations it drives (+15 mV in L4E): their activity during the pulse rises
        assert np.all(np.asarray(n[f"step_pulse_mean_{lv}"])[amp > 5] > 1.5 * base[amp > 5])


@pytest.mark.slow
def test_quick_spectra_high_frequency_bands(outdir):
    n = quick(outdir)
    ratio, se = np.asarray(n["band_ratio"]), np.asarray(n["band_ratio_se"])  # (pop, band)
    assert ratio.shape == (8, len(BANDS))
    # the 100-200 Hz band (the finite-size fluctuations around the circuit's fast rhythm): many Welch bins even in
    # quick mode; within the acceptance 20 % + 4 SE (delta-method SE over the 512-ms chunks)
    hi = BANDS.index((100.0, 200.0))
    assert np.all(np.abs(ratio[:, hi] - 1) < 0.2 + 4 * se[:, hi]), (ratio[:, hi], se[:, hi])


# ------------------------------------------------------------------------------------------- acceptance
# Sizes. The band ratio's SE (delta method over independent 4.1-s chunks) is ratio * sqrt(e_micro^2 + e_meso^2),
# e the relative SE of a band-averaged Welch PSD, ~1/sqrt(c B T) for B the band width and T the seconds of activity
# (50 %-overlap Hann segments: 2T/T_seg segments of B T_seg correlated bins, c ~ 1.3 independent chi^2_2 samples per
# Hz and s). The narrowest band, 5-10 Hz (B = 5 Hz), sets the sizes. A pilot (4 micro / 16 meso trials of 16.4 s,
# T = 66 / 262 s) measured e(5-10 Hz) = 4.2-7.3 % (micro) and 2.6-3.4 % (meso) -- the prediction 1/sqrt(1.3 x 5 T)
# gives 4.9 / 2.5 % -- except meso L2/3I, 10.8 %: rare network bursts (a few per 100 s, ignited in L5, see the
# module docs) carry much of L2/3I's little low-frequency power, so its band power has a heavy tail.
# ACC doubles both: T = 131 s micro, 524 s meso, so e(5-10 Hz) ~ 3-5 % / 2 %, the ratio's SE ~ 4-6 % (20 % is
# >= 3.5 SE) for every population but L2/3I below 20 Hz (~9 %, 20 % ~ 2 SE; halving that would take 4x the run);
# above 20 Hz every SE is <= 3 %. Asserted: SE <= 10 % everywhere, and the rates' SE below a third of 5 %.
# Cost: 134 trial-s of the 7.7k-neuron network + 534 trial-s of meso: measured 5 min on 2 idle cores (153 s + 153 s),
# 17 min on the shared machine. No pulses (they do not enter the acceptance).
ACC = dict(trials_micro=8, trials_meso=32, t_stat=16_384.0, n_pulses=0, seed=100)


@pytest.mark.slow
def test_acceptance_rates_and_spectra():
    """Issue 4 acceptance (part 4): micro vs meso GIF microcircuit, rates within 5 %, spectra within 20 % in the
    5-200 Hz bands, every population. 5 min on 2 idle cores, 17 min on the shared machine.

    Measured (2026-11-24, ACC): rates micro / meso (Hz) L2/3E 0.978 / 0.983, L2/3I 2.974 / 2.979, L4E 4.677 / 4.673,
    L4I 5.800 / 5.811, L5E 8.885 / 8.865, L5I 9.456 / 9.468, L6E 1.063 / 1.070, L6I 7.717 / 7.722: -0.62 % ... +0.22 %
    (SE <= 0.37 %). Band ratios micro/meso (5-10, 10-20, 20-50, 50-100, 100-200, 5-200 Hz; SE):
    L2/3E 0.965 0.960 0.926 0.943 0.998 0.950 (0.044 0.031 0.020 0.018 0.017 0.016)
    L2/3I 0.859 0.824 0.848 0.892 0.952 0.912 (0.097 0.066 0.036 0.022 0.023 0.023)
    L4E   0.981 1.030 0.926 0.929 1.013 0.954 (0.049 0.037 0.017 0.016 0.013 0.009)
    L4I   0.972 0.933 0.891 0.884 1.008 0.955 (0.060 0.040 0.023 0.019 0.010 0.011)
    L5E   1.002 0.996 0.929 0.963 0.976 0.958 (0.045 0.034 0.027 0.023 0.021 0.021)
    L5I   1.014 0.923 0.904 0.941 0.990 0.968 (0.057 0.035 0.025 0.016 0.012 0.011)
    L6E   0.953 0.988 0.935 0.933 0.966 0.948 (0.050 0.035 0.021 0.016 0.012 0.012)
    L6I   1.039 0.930 0.933 0.897 0.964 0.943 (0.040 0.031 0.019 0.014 0.010 0.008)
    Largest deviation: L2/3I 10-20 Hz, -17.6 % (SE 6.6 %); without the 4.1-s chunks that hold a burst (3 of 32
    micro, 13 of 128 meso chunks) L2/3I gives 0.956 0.928 in the two lowest bands.
    """
    d = pdm.pd_meso_comparison(**ACC)
    n = pdm.pd_meso_numbers(d)
    print(json.dumps({k: np.round(np.asarray(n[k]), 4).tolist() for k in (
        "rate_micro", "rate_meso", "rate_rel_diff", "rate_rel_diff_se", "band_ratio", "band_ratio_se",
        "bursts_per_100s_micro", "bursts_per_100s_meso", "band_ratio_without_bursts",
        "band_ratio_without_bursts_se") if k in n}, indent=1))
    print({k: n[k] for k in ("burst_chunks", "chunks", "stationary_s", "wall")})
    rel, rel_se = np.asarray(n["rate_rel_diff"]), np.asarray(n["rate_rel_diff_se"])
    ratio, se = np.asarray(n["band_ratio"]), np.asarray(n["band_ratio_se"])
    assert np.all(rel_se < 0.05 / 3), rel_se
    assert np.all(se <= 0.1), se
    assert np.all(np.abs(rel) <= 0.05), rel
    assert np.all(np.abs(ratio - 1) <= 0.2), ratio
