"""``jaxpop reproduce fit-micro-meso`` (quick mode): GIFNetwork data -> mesoscopic likelihood fit -> prediction of
the network's trial-averaged activity under a held-back input."""

import numpy as np
import pytest

from jaxpop import reproduce


@pytest.mark.slow  # ~4 min on 2 cores (two 3-s networks, two fits, 4 x 8 trials of 1.5 s)
def test_fit_micro_meso_quick(tmp_path):
    # Acceptance (issue 10, at the quick sizes): the fitted meso model predicts the network's trial-averaged
    # activity (10-ms bins) under the held-back input with an RMSE at most 1.5x that of the network against an
    # independent set of its own trials, and a correlation no worse than the network's with itself minus 0.05
    # (with 8 trials of 5-12 Hz populations, trial noise bounds both; the full run reports the correlation against
    # René et al.'s 0.918). Measured (2026-12-03, quick): RMSE ratios 1.04 / 0.99 (all-to-all E / I),
    # 0.91 / 1.00 (fixed in-degree); correlations 0.863 / 0.732 vs network-network 0.874 / 0.710, and
    # 0.897 / 0.684 vs 0.877 / 0.677.
    assert "fit-micro-meso" in reproduce.available()
    n = reproduce.run("fit-micro-meso", tmp_path, quick=True)
    assert (tmp_path / "fit_micro_meso.png").exists() and (tmp_path / "fit_micro_meso.json").exists()
    for connectivity in ("all_to_all", "fixed_indegree"):
        m = n[connectivity]
        assert np.all(np.isfinite(m["estimate"])) and np.all(np.isfinite(m["se"]))
        assert np.all(np.asarray(m["rmse_ratio"]) <= 1.5), m["rmse_ratio"]
        assert np.all(np.asarray(m["corr_fitted_meso_vs_micro"]) >= np.asarray(m["corr_micro_vs_micro"]) - 0.05), m


@pytest.mark.slow  # ~3 min on 2 cores
def test_fit_mpr_qif_quick(tmp_path):
    # The target runs and writes its figure; the FRE-on-FRE fit meets the acceptance (parameter RMSE < 1e-3) even
    # at the quick sizes (512 global points, 8 starts, 100 Adam steps). The QIF-network fits' accuracy is checked at
    # full size in tests/test_fit_losses.py (slow).
    assert "fit-mpr-qif" in reproduce.available()
    n = reproduce.run("fit-mpr-qif", tmp_path, quick=True)
    assert (tmp_path / "fit_mpr_qif.png").exists()
    assert n["fre"]["rmse"] < 1e-3, n["fre"]
    assert all(np.isfinite(n[k]["estimate"]).all() for k in ("qif_raw", "qif_corrected"))
