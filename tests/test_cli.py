"""The command line: every subcommand runs and writes what it promises."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxpop.cli import main, parse_drive


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "simulate", "sweep", "reproduce"):
        assert cmd in out


@pytest.mark.parametrize("cmd", ["demo", "simulate", "sweep", "reproduce"])
def test_subcommand_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_parse_drive_values():
    d = parse_drive("step:3,0,30+sin:1,3.141592653589793")
    assert float(d(10.0)) == pytest.approx(3.0 + np.sin(np.pi * 10.0), abs=1e-12)
    assert float(d(31.0)) == pytest.approx(np.sin(np.pi * 31.0), abs=1e-12)
    with pytest.raises(SystemExit, match="cannot parse drive"):
        parse_drive("ramp:1,2")


def test_simulate_writes_the_fre_trajectory(tmp_path):
    """The FRE trajectory from the default state (r, v) = (0, -2) ends on the closed-form low fixed point.

    Closed form (Montbrió, Pazó & Roxin, Phys. Rev. X 5, 021028 (2015), doi:10.1103/PhysRevX.5.021028,
    Sec. III C): v* = -Δ/(2π r*) and r* the smallest positive root of π² r⁴ - J r³ - η̄ r² - Δ²/(4π²)
    = 0; for η̄ = -5, J = 15, Δ = 1 that is r* = 0.0811344 (7 digits, so within 5e-8).
    Tolerances: a fixed point of the vector field is one of every fixed-step map (RK4 here), so what
    is left at t is the transient, decaying as exp(λ t) with the slow eigenvalue
    λ = -Δ/(π r*) + sqrt(2 r*(J - 2π² r*)) ≈ -2.45: from |y0 - y*| < 0.1 it is < 1e-22 at t = 20,
    far below float64 round-off (~1e-15 on O(1) numbers), so 1e-12 is a bound with margin.
    The decay rate itself (deviations at t = 4 and 8, 5e-6 and 2e-10 > round-off; the fast mode,
    λ ≈ -5.4, is down by exp(-2.95 * 4) < 1e-5 there) matches λ to 1e-3 (RK4, dt = 1e-3: error
    O(dt⁴)).
    """
    from jaxpop.analysis.fixed_points import mpr_eigenvalues, mpr_fixed_points

    eta_bar, J, delta = -5.0, 15.0, 1.0
    out = tmp_path / "sim.npz"
    assert main(["simulate", "mpr", "--param", f"eta_bar={eta_bar}", "--param", f"J={J}", "--t-end", "20",
                 "--dt", "1e-3", "--record-every", "100", "--out", str(out)]) == 0
    data = np.load(out)
    ts, r, v = data["ts"], data["r"], data["v"]
    assert r.shape == (200,) and ts[-1] == pytest.approx(20.0)
    assert np.all(np.isfinite(r)) and np.all(np.isfinite(v))

    r_fp, v_fp, n = mpr_fixed_points(eta_bar, J, delta)
    assert int(n) == 3  # bistable: low node, saddle, high focus
    r_low, v_low = float(r_fp[0]), float(v_fp[0])
    assert r_low == pytest.approx(0.0811344, abs=5e-8)
    assert v_low == pytest.approx(-delta / (2 * np.pi * r_low), rel=1e-14)
    assert r[-1] == pytest.approx(r_low, abs=1e-12) and v[-1] == pytest.approx(v_low, abs=1e-12)

    lam = float(np.real(mpr_eigenvalues(r_low, J, delta)[0]))
    assert lam == pytest.approx(-delta / (np.pi * r_low) + np.sqrt(2 * r_low * (J - 2 * np.pi**2 * r_low)), rel=1e-12)
    i4, i8 = (int(np.argmin(np.abs(ts - t))) for t in (4.0, 8.0))
    rate = np.log(abs(r[i8] - r_low) / abs(r[i4] - r_low)) / (ts[i8] - ts[i4])
    assert rate == pytest.approx(lam, rel=1e-3)


def test_unknown_param_is_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match="nonsense"):
        main(["simulate", "mpr", "--param", "nonsense=1", "--t-end", "1", "--dt", "1e-3", "--out", str(tmp_path / "x.npz")])


def test_demo_quick_runs_and_reports(tmp_path):
    """`jaxpop demo --quick` end to end in a fresh interpreter (the README's main job, small)."""
    proc = subprocess.run([sys.executable, "-m", "jaxpop.cli", "demo", "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "NRMSE" in proc.stdout
    numbers = json.loads((tmp_path / "demo_numbers.json").read_text())
    assert numbers["fixed_point_error"] <= 1e-6
    assert (tmp_path / "demo_mpr_fig2.png").stat().st_size > 10_000
