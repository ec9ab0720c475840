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
    out = tmp_path / "sim.npz"
    assert main(["simulate", "mpr", "--param", "eta_bar=-5", "--param", "J=15", "--t-end", "2", "--dt", "1e-3",
                 "--record-every", "10", "--out", str(out)]) == 0
    data = np.load(out)
    assert data["r"].shape == (200,) and data["ts"][-1] == pytest.approx(2.0)
    # the low-state rate relaxes towards the closed-form low fixed point r* = 0.0811344 (facts §5.3)
    assert np.all(np.isfinite(data["r"])) and 0.0 < data["r"][-1] < 0.2


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
