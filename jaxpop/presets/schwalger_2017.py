r"""Parameter sets of Schwalger, Deger & Gerstner (2017) as :class:`~jaxpop.core.gif_params.GIFParams`.

* :func:`ei_network` — the E–I network of NEST's ``gif_pop_psc_exp`` example
  (``pynest/examples/gif_pop_psc_exp.py``);
* :func:`ei_network_no_adaptation` — the E–I network of Schwalger's ``ei_net_N1000_p0.2.py``
  (``schwalger/mesopopdyn_gif``, the code of the paper);
* :func:`uncoupled_adapting` — one adapting population (Schwalger's ``lif_adap.py``, same repository);
* :func:`potjans_diesmann_gif` — the 8-population GIF version of the Potjans–Diesmann microcircuit with
  mean-field connectivity and fitted drives (Schwalger's ``PDmodel_*`` scripts,
  ``schwalger/mesopopdyn_microcircuit``), and
  :func:`potjans_diesmann_thalamic_step` for its thalamic-like step input.

Units: ms, mV, Hz.

References: T. Schwalger, M. Deger, W. Gerstner, PLoS Comput. Biol. 13, e1005507 (2017),
doi:10.1371/journal.pcbi.1005507; T. C. Potjans, M. Diesmann, Cereb. Cortex 24, 785 (2014),
doi:10.1093/cercor/bhs358.
"""

from __future__ import annotations

import numpy as np

from ..core.gif_params import GIFParams
from . import potjans_diesmann as _pd

PD_POPULATIONS = _pd.POPULATIONS  # one spelling of the labels: the microcircuit preset's
PD_N_FULL = tuple(int(n) for n in _pd.N_FULL)
PD_CONN_PROBS = _pd.CONN_PROBS  # (target, source), Potjans & Diesmann 2014
PD_CONN_PROBS_TH = _pd.CONN_PROBS_TH
PD_MU = (19.14942021, 20.36247192, 30.80455243, 28.06868188, 29.43680143, 29.32954448, 34.93225564, 32.08123423)


def _ei(adaptation: bool) -> GIFParams:
    J, g = 0.3, 5.0
    kw = dict(tau_sfa=[100.0, 1000.0], q_sfa=[10.0, 1.0]) if adaptation else {}
    return GIFParams((800, 200), mu=24.0, tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=2.5, V_T_star=15.0,
                     V_reset=0.0, J=[[J, -g * J], [J, -g * J]], p=0.2, tau_syn_ex=3.0, tau_syn_in=6.0,
                     delay=1.0, **kw)


def ei_network(adaptation: bool = True) -> GIFParams:
    r"""E–I network of NEST's ``gif_pop_psc_exp`` example: N = (800, 200), J = 0.3 mV, g = 5, p = 0.2,
    delay 1 ms, :math:`\tau_s` = (3, 6) ms, :math:`\mu` = 24 mV; adaptation :math:`\tau_\theta` = (100, 1000) ms,
    ``q_sfa`` = (10, 1) mV in both populations. The example runs at h = 0.5 ms and adds a +20 mV step at 1500 ms."""
    return _ei(adaptation)


def ei_network_no_adaptation() -> GIFParams:
    """E–I network of Schwalger's ``ei_net_N1000_p0.2.py`` (arXiv Fig. 5D,E): as :func:`ei_network` without adaptation
    (run there with dt = 0.2 ms)."""
    return _ei(False)


def uncoupled_adapting() -> GIFParams:
    r"""One uncoupled adapting population (Schwalger's ``lif_adap.py``): N = 500, :math:`\mu` = 12 mV,
    :math:`u_{th}` = 10 mV, :math:`\Delta_u` = 2 mV, :math:`\tau_\theta` = 1 s, ``q_sfa`` = 1.5 mV.
    The script adds a +15 mV step at 0.7 s (micro dt = 0.2 ms, meso dt = 1 ms)."""
    return GIFParams(500, mu=12.0, tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=2.0, V_T_star=10.0, V_reset=0.0,
                     tau_sfa=[1000.0], q_sfa=[1.5], J=0.0, p=1.0, delay=1.0)


def potjans_diesmann_gif(scaling: float = 1.0) -> GIFParams:
    r"""8-population GIF microcircuit (Schwalger's ``PDmodel_*`` scripts, no adaptation).

    Sizes are the Potjans–Diesmann sizes times ``scaling`` (rounded), couplings are divided by ``scaling``
    so that :math:`J N` is preserved; mean-field connectivity :math:`J^{\alpha\beta} p^{\alpha\beta}` with
    :math:`p` the PD connection probabilities; :math:`J` = 0.1756 mV (excitatory), 0.3512 mV (L4E→L2/3E),
    −0.7024 mV (inhibitory); :math:`\tau_m` = 10 ms, :math:`t_{ref}` = 2 ms, :math:`c` = 10 Hz,
    :math:`\Delta_u` = 5 mV, :math:`\tau_s` = 0.5 ms, delay 1.5 ms, fitted drives :math:`\mu` (mV).
    The scripts run it at dt = 0.1 ms.
    """
    if not scaling > 0:
        raise ValueError(f"scaling must be > 0, got scaling={scaling!r}")
    N = tuple(max(1, int(round(n * scaling))) for n in PD_N_FULL)
    J = np.where(np.arange(8)[None, :] % 2 == 0, 0.1756, -0.7024) * np.ones((8, 1))
    J[0, 2] = 0.3512
    return GIFParams(N, mu=PD_MU, tau_m=10.0, t_ref=2.0, lambda_0=10.0, Delta_V=5.0, V_T_star=15.0, V_reset=0.0,
                     J=J / scaling, p=PD_CONN_PROBS, tau_syn_ex=0.5, tau_syn_in=0.5, delay=1.5)


def potjans_diesmann_thalamic_step(B: float = 15.0) -> np.ndarray:
    """Amplitudes (mV, per population) of the thalamic-like step of Schwalger's PD scripts: proportional to the
    thalamic connection probabilities, normalised so that L4E receives ``B`` (on from t0 + 60 ms to t0 + 90 ms).
    Use as ``jaxpop.Step(amplitude, t_on, t_off)`` drive."""
    w = PD_CONN_PROBS_TH * 902 * 120
    return B * w / w.max()
