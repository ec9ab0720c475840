"""Fit the mesoscopic model to spikes that NEST wrote: a ``gif_psc_exp`` population (the peer simulator), its
``spike_recorder`` ASCII files read by ``PopulationData.from_nest``, counted in 1-ms bins, and
``SchwalgerMeso(scheme='midpoint')`` fitted by its exact likelihood (:mod:`jaxpop.fit`).

NEST runs in a subprocess (as the other peer tests): one population of N = 500 uncoupled adapting GIF neurons
(the excitatory population of René et al. 2020: tau_m = 20 ms, t_ref = 4 ms, c = 10 Hz, Delta_u = 5 mV,
u_th = 15 mV, u_r = 0, J_theta = 1 mV s with tau_theta = 0.2 s) with a constant drive mu = 22 mV
(I_e = mu g_L), dt = 0.1 ms, 10 s, two threads (one spike file per virtual process). Parameter map as in
``test_nest_gif_psc_exp.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

pytest.importorskip("nest")

from jaxpop import fit  # noqa: E402
from jaxpop.core.gif_params import GIFParams  # noqa: E402
from jaxpop.meso import SchwalgerMeso  # noqa: E402

MU, N, T_END, DT, BIN, C_M = 22.0, 500, 10_000.0, 0.1, 1.0, 250.0
NEURON = dict(tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=5.0, V_T_star=15.0, V_reset=0.0)


def _run_nest(folder):
    g_L = C_M / NEURON["tau_m"]
    params = {"C_m": C_M, "g_L": g_L, "E_L": 0.0, "V_m": 0.0, "I_e": MU * g_L, "lambda_0": NEURON["lambda_0"],
              "Delta_V": NEURON["Delta_V"], "V_T_star": NEURON["V_T_star"], "V_reset": NEURON["V_reset"],
              "t_ref": NEURON["t_ref"], "tau_sfa": [200.0], "q_sfa": [5.0]}
    code = textwrap.dedent(f"""
        import json, nest
        nest.set_verbosity("M_ERROR")
        nest.ResetKernel()
        nest.SetKernelStatus({{"resolution": {DT}, "rng_seed": 7, "local_num_threads": 2,
                              "data_path": {str(folder)!r}, "data_prefix": "gif-", "overwrite_files": True}})
        pop = nest.Create("gif_psc_exp", {N}, params=json.loads({json.dumps(json.dumps(params))}))
        rec = nest.Create("spike_recorder", params={{"record_to": "ascii", "label": "spikes"}})
        nest.Connect(pop, rec)
        nest.Simulate({T_END})
        print("RESULT" + json.dumps([int(pop[0].global_id), int(pop[-1].global_id)]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return tuple(json.loads(out.stdout.split("RESULT", 1)[1]))


@pytest.mark.slow  # ~2 min: NEST's 10-s run and a short L-BFGS fit
def test_meso_fit_to_nest_gif_psc_exp_spike_files(tmp_path):
    # Acceptance (issue 10): mu within 5 % of NEST's. mu is free (from 18 mV), the mesoscopic model's other
    # parameters are NEST's. The first 500 ms are run but not scored (the population starts with every neuron at
    # u = 0, the model with every neuron in the free pool). The estimate is not expected within a few Laplace SE of
    # 22 mV: the SE (sampling error only) is far below the bias of the mesoscopic approximation itself (the
    # quasi-renewal treatment of adaptation). Measured (2026-12-03): mu = 22.34 +- 0.09 mV with Delta_u free too
    # (4.45 +- 1.04 mV); mu alone (this test): 22.39 +- 0.03 mV, +1.8 %.
    ids = _run_nest(tmp_path)
    files = sorted(tmp_path.glob("gif-spikes-*.dat"))
    assert len(files) == 2
    data = fit.PopulationData.from_nest(files, populations=[ids], bin_width=BIN, t_start=0.0, t_stop=T_END)
    assert data.N == (N,) and data.counts.sum() > 1000
    P = GIFParams(N, mu=18.0, **NEURON, tau_sfa=[[200.0]], q_sfa=[[5.0]], delay=BIN)
    start = SchwalgerMeso(P, dt=BIN, scheme="midpoint")
    res = fit.fit(start, data, {"params.mu": fit.Real()}, key=jax.random.PRNGKey(0), starts=[start], steps=0,
                  polish=20, burn_in=500.0)
    print(res.summary())
    mu = float(res.estimate[0])
    assert res.laplace_ok and abs(mu / MU - 1) <= 0.05, (mu, res.se)
