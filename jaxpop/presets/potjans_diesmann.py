r"""The cortical microcircuit of Potjans & Diesmann (2014): 77,169 current-based LIF neurons in 8 populations.

Parameters as in the reference implementations (NEST's ``Potjans_2014`` example and the INM-6
``microcircuit-PD14-model``, after Potjans & Diesmann 2014): population sizes, connection probabilities
:math:`C_{yx}` (row = target), the synapse counts of the fixed-total-number rule with multapses,

.. math:: Q_{yx} = \operatorname{round}\frac{\ln(1 - C_{yx})}{\ln(1 - 1/(N_x N_y))},

PSP amplitudes converted to PSC amplitudes (exponential PSCs on an LIF membrane), relative inhibition
:math:`g = -4`, the doubled L4E→L2/3E weight, normal weights (SD 10 %) and delays, background input
(8 Hz per external synapse, Poisson or its mean-preserving DC equivalent), the optional thalamic pulse,
the two initial-voltage options and down-scaling with DC compensation (van Albada, Helias & Diesmann
2015). Units: mV, ms, pA, pF, Hz.

:func:`microcircuit` returns a :class:`MicrocircuitConfig` of NumPy arrays (construction-time
constants of a network, not traced parameters).

References: T. C. Potjans, M. Diesmann, *The cell-type specific cortical microcircuit*, Cereb. Cortex
24, 785 (2014), doi:10.1093/cercor/bhs358; S. J. van Albada, M. Helias, M. Diesmann, PLoS Comput.
Biol. 11, e1004490 (2015), doi:10.1371/journal.pcbi.1004490.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POPULATIONS = ("L2/3E", "L2/3I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
N_FULL = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
CONN_PROBS = np.array([  # C_yx: row = target y, column = source x
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.1350, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.0600, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.0010, 0.0034, 0.0005, 0.0277, 0.0080, 0.0658, 0.1443],
])
EXCITATORY = np.array([True, False] * 4)
N_TH = 902  # thalamic neurons
CONN_PROBS_TH = np.array([0.0, 0.0, 0.0983, 0.0619, 0.0, 0.0, 0.0512, 0.0196])
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])  # external (background) in-degrees
BG_RATE = 8.0  # Hz per external synapse
# full-scale mean rates of NEST's reference run (used for the DC compensation of down-scaled networks)
FULL_MEAN_RATES = np.array([0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829])
NEURON = dict(C_m=250.0, tau_m=10.0, E_L=-65.0, V_th=-50.0, V_reset=-65.0, t_ref=2.0, tau_syn=0.5)
PSP_EXC = 0.15  # mV
G = -4.0
WEIGHT_REL_SD = 0.1
DELAY_MEAN = {True: 1.5, False: 0.75}  # ms, by the source's type
DELAY_REL_SD = 0.5
DELAY_POISSON = 1.5
TH_RATE, TH_START, TH_DURATION = 120.0, 700.0, 10.0  # Hz, ms, ms
TH_DELAY_MEAN, TH_DELAY_SD = 1.5, 0.75  # ms
V0_OPTIMIZED = (np.array([-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43]),
                np.array([5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48]))
V0_ORIGINAL = (np.full(8, -58.0), np.full(8, 10.0))


def synapse_numbers(conn_probs, n_target, n_source):
    r"""Total synapse counts :math:`Q_{yx} = \mathrm{round}[\ln(1 - C_{yx}) / \ln(1 - 1/(N_x N_y))]` (PD14 Eq. 1).

    Evaluated with ``log1p``, i.e. to full precision. NEST writes the denominator as
    :math:`\ln[(N_xN_y - 1)/(N_xN_y)]`, which loses about eight digits at :math:`N_xN_y \sim 10^8`; the
    two differ by at most one synapse per population pair (e.g. L2/3E←L2/3E: exact 45,499,805.54 →
    45,499,806 here, 45,499,805 in NEST).
    """
    C = np.asarray(conn_probs, float)
    if np.any((C < 0) | (C >= 1)):
        raise ValueError(f"conn_probs must lie in [0, 1), got {C!r}")
    nn = np.multiply.outer(np.asarray(n_target, float), np.asarray(n_source, float))
    if np.any(nn < 1):
        raise ValueError("population sizes must be >= 1")
    return np.round(np.log1p(-C) / np.log1p(-1.0 / nn)).astype(np.int64)


def psp_to_psc(psp, tau_m=NEURON["tau_m"], tau_syn=NEURON["tau_syn"], C_m=NEURON["C_m"]):
    r"""PSC amplitude (pA) whose PSP on a resting LIF membrane peaks at ``psp`` (mV).

    With :math:`a = \tau_m/\tau_s` the PSP per unit PSC peaks at
    :math:`R_m\frac{\tau_s}{\tau_s-\tau_m}[a^{-\tau_m/(\tau_m-\tau_s)} - a^{-\tau_s/(\tau_m-\tau_s)}]`,
    :math:`R_m = \tau_m/C_m`, at :math:`t_{max} = \frac{\tau_s\tau_m}{\tau_m-\tau_s}\ln a` (1.5767 ms for PD14).
    """
    a = tau_m / tau_syn
    unit = (tau_m / C_m) * tau_syn / (tau_syn - tau_m) * (a ** (-tau_m / (tau_m - tau_syn)) - a ** (-tau_syn / (tau_m - tau_syn)))
    return np.asarray(psp) / unit


@dataclass(frozen=True)
class MicrocircuitConfig:
    """All numbers that define one (possibly down-scaled) microcircuit network of ``iaf_psc_exp`` neurons;
    arrays indexed by population, matrices (target, source). NumPy only: this module also loads on its own,
    without JAX (the NEST harness of ``benchmarks/`` reads it by path)."""

    N: np.ndarray  # neurons per population
    Q: np.ndarray  # synapse counts (target, source)
    weight_mean: np.ndarray  # PSC amplitudes (pA), (target, source)
    weight_sd: np.ndarray  # (pA)
    delay_mean: np.ndarray  # (ms), (target, source)
    delay_sd: np.ndarray
    K_ext: np.ndarray  # external in-degrees
    w_ext: float  # external PSC amplitude (pA)
    bg_rate: float  # Hz per external synapse
    background: str  # 'poisson' or 'dc'
    I_dc: np.ndarray  # constant input current per population (pA): DC background and/or scaling compensation
    V0_mean: np.ndarray  # initial membrane potentials (mV)
    V0_sd: np.ndarray
    Q_th: np.ndarray  # thalamic synapse counts per target population (zeros if the thalamus is off)
    w_th: float  # thalamic PSC amplitude (pA)
    w_th_sd: float  # its SD (pA)
    neuron: dict
    N_scaling: float
    K_scaling: float
    # thalamic pulse (used only where Q_th > 0): N_th parrot neurons, each an independent Poisson train of
    # th_rate (Hz) during (th_start, th_start + th_duration] (ms); delays normal (ms), redrawn below dt/2
    N_th: int = N_TH
    th_rate: float = TH_RATE
    th_start: float = TH_START
    th_duration: float = TH_DURATION
    th_delay_mean: float = TH_DELAY_MEAN
    th_delay_sd: float = TH_DELAY_SD

    @property
    def in_degree(self) -> np.ndarray:
        """Mean in-degrees :math:`K_{yx} = Q_{yx}/N_y`."""
        return self.Q / self.N[:, None]


def microcircuit(N_scaling: float = 1.0, K_scaling: float = 1.0, *, background: str = "poisson",
                 V0: str = "optimized", thalamus: bool = False) -> MicrocircuitConfig:
    r"""The Potjans–Diesmann microcircuit, full scale or down-scaled (Potjans & Diesmann 2014).

    Down-scaling (NEST / INM-6 scheme): :math:`N_y \to \mathrm{round}(N_y N_s)`,
    :math:`Q_{yx} \to \mathrm{round}(Q^{full}_{yx} N_s f)`, :math:`K_{ext} \to \mathrm{round}(f K_{ext})`,
    every PSC amplitude :math:`\to \hat I/\sqrt f` (input variance preserved), and a DC current
    :math:`\Delta I_y = 10^{-3}\tau_s(1-\sqrt f)[\sum_x \hat I_{yx}K^{full}_{yx}\bar\nu_x + \hat I_E K_{ext,y}\nu_{bg}]`
    (pA; the background term only with Poisson background) preserves the mean input, with
    :math:`\bar\nu` the full-scale rates of NEST's reference run.

    ``background='dc'`` replaces the Poisson background by its full-scale mean,
    :math:`10^{-3}\nu_{bg}K_{ext,y}\hat I_E\tau_s` (K_ext × 0.35123 pA), which is mean-preserving at any
    scaling. Thalamic synapse counts use the full-scale target sizes and are scaled by ``K_scaling``
    only (as NEST's ``Potjans_2014`` example, which thereby raises the thalamic in-degree as ``1/N_scaling``).
    """
    for name, v in (("N_scaling", N_scaling), ("K_scaling", K_scaling)):
        if not (isinstance(v, (int, float, np.floating)) and 0 < v <= 1):
            raise ValueError(f"{name} must lie in (0, 1], got {name}={v!r}")
    if background not in ("poisson", "dc"):
        raise ValueError(f"background must be 'poisson' or 'dc', got {background!r}")
    if V0 not in ("optimized", "original"):
        raise ValueError(f"V0 must be 'optimized' or 'original', got {V0!r}")
    f = float(K_scaling)
    tau_s = NEURON["tau_syn"]
    N = np.round(N_FULL * N_scaling).astype(np.int64)
    if np.any(N < 1):
        raise ValueError(f"N_scaling = {N_scaling} leaves a population empty: sizes {N.tolist()}")
    Q_full = synapse_numbers(CONN_PROBS, N_FULL, N_FULL)
    Q = np.round(Q_full * N_scaling * f).astype(np.int64)
    I_E = float(psp_to_psc(PSP_EXC))
    w_full = np.where(EXCITATORY[None, :], I_E, G * I_E) * np.ones((8, 1))
    w_full[0, 2] *= 2.0  # L4E -> L2/3E
    weight_mean = w_full / np.sqrt(f)
    delay_mean = np.where(EXCITATORY[None, :], DELAY_MEAN[True], DELAY_MEAN[False]) * np.ones((8, 1))
    K_ext = np.round(f * K_EXT).astype(np.int64)
    # mean-input compensation of the scaling (pA)
    K_full = Q_full / N_FULL[:, None]
    recurrent = (w_full * K_full) @ FULL_MEAN_RATES
    external = I_E * K_EXT * BG_RATE if background == "poisson" else 0.0
    I_dc = 1e-3 * tau_s * (1 - np.sqrt(f)) * (recurrent + external)
    if background == "dc":
        I_dc = I_dc + 1e-3 * BG_RATE * K_EXT * I_E * tau_s
    Q_th = np.zeros(8, np.int64)
    if thalamus:
        Q_th = np.round(synapse_numbers(CONN_PROBS_TH[:, None], N_FULL, [N_TH])[:, 0] * f).astype(np.int64)
    V0_mean, V0_sd = V0_OPTIMIZED if V0 == "optimized" else V0_ORIGINAL
    return MicrocircuitConfig(
        N=N, Q=Q, weight_mean=weight_mean, weight_sd=WEIGHT_REL_SD * np.abs(weight_mean), delay_mean=delay_mean,
        delay_sd=DELAY_REL_SD * delay_mean, K_ext=K_ext, w_ext=I_E / np.sqrt(f), bg_rate=BG_RATE,
        background=background, I_dc=I_dc, V0_mean=V0_mean.copy(), V0_sd=V0_sd.copy(), Q_th=Q_th,
        w_th=I_E / np.sqrt(f), w_th_sd=WEIGHT_REL_SD * I_E / np.sqrt(f), neuron=dict(NEURON),
        N_th=N_TH, th_rate=TH_RATE, th_start=TH_START, th_duration=TH_DURATION, th_delay_mean=TH_DELAY_MEAN,
        th_delay_sd=TH_DELAY_SD, N_scaling=float(N_scaling), K_scaling=f,
    )
