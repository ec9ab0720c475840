"""The Potjans–Diesmann (2014) microcircuit parameters (:mod:`jaxpop.presets.potjans_diesmann`) against the
numbers of the reference implementations (NEST's ``Potjans_2014`` example, the INM-6
``microcircuit-PD14-model`` model description; after Potjans & Diesmann 2014) and an independent high-precision
evaluation of the synapse-count formula."""

from decimal import Decimal, getcontext

import numpy as np
import pytest

from jaxpop.presets import potjans_diesmann as pd

# mean in-degrees K_yx = Q_yx / N_y of the full-scale network, one decimal (Q_yx from Potjans & Diesmann 2014
# Eq. 1, as NEST's Potjans_2014 example helpers.num_synapses_from_conn_probs)
K_REFERENCE = np.array([
    [2199.9, 1079.3, 979.2, 467.6, 159.2, 0, 109.8, 0],
    [2990.0, 860.3, 703.7, 289.7, 380.7, 0, 60.6, 0],
    [159.9, 34.5, 1117.2, 794.6, 32.6, 0.3, 667.3, 0],
    [1481.0, 16.9, 1813.0, 953.3, 16.0, 0, 1608.1, 0],
    [2188.4, 374.7, 1135.6, 31.3, 420.8, 496.5, 296.7, 0],
    [1165.7, 159.1, 570.6, 12.1, 300.1, 404.2, 124.3, 0],
    [325.2, 38.6, 467.4, 91.7, 285.7, 21.2, 581.6, 752.2],
    [766.9, 5.8, 74.6, 2.7, 136.2, 8.6, 979.8, 459.4],
])


def test_full_scale_sizes_in_degrees_and_synapse_counts():
    c = pd.microcircuit()
    assert c.N.sum() == 77_169
    np.testing.assert_allclose(c.in_degree, K_REFERENCE, atol=0.051)  # the table's rounding
    assert abs(c.Q.sum() / 2.9888e8 - 1) < 5e-5  # "about 2.9888e8 recurrent synapses"
    assert c.Q[2, 3] == 17_413_576


def test_synapse_count_is_evaluated_to_full_precision():
    # Q = ln(1 - C) / ln(1 - 1/(N_x N_y)) with 50 significant digits, then rounded: the preset must agree exactly
    # for every pair; NEST's form ln((N_x N_y - 1)/(N_x N_y)) in float64 may be off by one (45,499,805 for
    # L2/3E <- L2/3E, whose exact value is 45,499,805.54)
    getcontext().prec = 50
    Q = pd.synapse_numbers(pd.CONN_PROBS, pd.N_FULL, pd.N_FULL)
    for y in range(8):
        for x in range(8):
            C = Decimal(float(pd.CONN_PROBS[y, x]))
            nn = Decimal(int(pd.N_FULL[y])) * Decimal(int(pd.N_FULL[x]))
            exact = (Decimal(1) - C).ln() / (Decimal(1) - Decimal(1) / nn).ln()
            assert Q[y, x] == int(exact.to_integral_value()), (y, x, exact)
    nn = np.multiply.outer(pd.N_FULL, pd.N_FULL).astype(float)
    nest_form = np.round(np.log(1 - pd.CONN_PROBS) / np.log((nn - 1) / nn))
    assert np.max(np.abs(nest_form - Q)) <= 1 and Q[0, 0] == 45_499_806


def test_weights_psc_conversion_and_delays():
    # NEST's Potjans_2014 example (helpers.postsynaptic_potential_to_current, network_params.py):
    # 1/J_unit = 585.38996 pA/mV, I_E = 87.8085 pA, inhibitory -4 I_E, doubled L4E -> L2/3E
    assert pd.psp_to_psc(1.0) == pytest.approx(585.38996, abs=1e-5)
    c = pd.microcircuit()
    I_E = 0.15 * 585.38996
    assert c.weight_mean[1, 0] == pytest.approx(I_E, rel=1e-7)
    assert c.weight_mean[0, 1] == pytest.approx(-4 * I_E, rel=1e-7)
    assert c.weight_mean[0, 2] == pytest.approx(2 * I_E, rel=1e-7)
    np.testing.assert_allclose(c.weight_sd, 0.1 * np.abs(c.weight_mean))
    np.testing.assert_allclose(c.delay_mean[:, ::2], 1.5)
    np.testing.assert_allclose(c.delay_mean[:, 1::2], 0.75)
    np.testing.assert_allclose(c.delay_sd, 0.5 * c.delay_mean)


def test_dc_background_and_downscaling_compensation():
    # DC equivalent of the Poisson background, K_ext x 0.35123 pA (NEST's Potjans_2014 example,
    # helpers.dc_input_compensating_poisson)
    dc = pd.microcircuit(background="dc")
    np.testing.assert_allclose(dc.I_dc, [561.97, 526.85, 737.59, 667.34, 702.47, 667.34, 1018.58, 737.59], atol=0.006)
    full = pd.microcircuit()
    np.testing.assert_array_equal(full.I_dc, 0.0)  # no compensation at full scale with Poisson background
    # NEST's Potjans_2014 example (helpers.adjust_weights_and_input_to_synapse_scaling):
    # N_scaling = K_scaling = 0.1, Poisson background
    c = pd.microcircuit(0.1, 0.1)
    np.testing.assert_array_equal(c.N, [2068, 583, 2192, 548, 485, 106, 1440, 295])
    np.testing.assert_allclose(c.I_dc, [29.04, 112.37, 112.97, 114.99, 125.42, 151.68, 43.85, 153.71], atol=0.006)
    np.testing.assert_allclose(c.weight_mean, full.weight_mean / np.sqrt(0.1))
    np.testing.assert_array_equal(c.K_ext, np.round(0.1 * pd.K_EXT))
    np.testing.assert_array_equal(c.Q, np.round(full.Q * 0.01))


def test_thalamic_synapses_and_initial_voltages():
    c = pd.microcircuit(thalamus=True)
    np.testing.assert_array_equal(c.Q_th, [0, 0, 2_045_393, 315_791, 0, 0, 682_419, 52_636])
    np.testing.assert_allclose(c.Q_th / c.N, [0, 0, 93.3, 57.6, 0, 0, 47.4, 17.9], atol=0.051)
    np.testing.assert_array_equal(pd.microcircuit().Q_th, 0)
    orig = pd.microcircuit(V0="original")
    np.testing.assert_array_equal(orig.V0_mean, -58.0)
    np.testing.assert_array_equal(orig.V0_sd, 10.0)
    assert pd.microcircuit().V0_mean[7] == -61.43


@pytest.mark.parametrize("kwargs, name", [(dict(N_scaling=0.0), "N_scaling"), (dict(N_scaling=1.5), "N_scaling"),
                                          (dict(K_scaling=-0.1), "K_scaling"), (dict(background="noise"), "background"),
                                          (dict(V0="random"), "V0"), (dict(N_scaling=1e-5), "N_scaling")])
def test_bad_input_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        pd.microcircuit(**kwargs)
