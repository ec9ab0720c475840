"""Spike files that NEST itself writes: jaxpop.io.nest and PopulationData.from_nest against NEST's own output.

NEST 3 runs in a subprocess (as the other peer tests): two populations of ``iaf_psc_exp`` driven by Poisson
input, one ``spike_recorder`` writing ASCII files (``record_to='ascii'``, two threads: one file per virtual
process) and one recording to memory. The counts built from the files equal those from the in-memory events
and those binned here by hand from the events' step indices.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jaxpop.fit import PopulationData
from jaxpop.io.nest import read_spike_files

pytest.importorskip("nest")

DT, T_END, BIN = 0.1, 200.0, 1.0


def _run_nest(folder):
    code = textwrap.dedent(f"""
        import json, nest
        nest.set_verbosity("M_ERROR")
        nest.ResetKernel()
        nest.SetKernelStatus({{"resolution": {DT}, "rng_seed": 3, "local_num_threads": 2,
                              "data_path": {str(folder)!r}, "data_prefix": "run-", "overwrite_files": True}})
        a = nest.Create("iaf_psc_exp", 30)
        b = nest.Create("iaf_psc_exp", 20)
        pg = nest.Create("poisson_generator", params={{"rate": 12000.0}})
        nest.Connect(pg, a + b, syn_spec={{"weight": 100.0}})
        files = nest.Create("spike_recorder", params={{"record_to": "ascii", "label": "spikes"}})
        memory = nest.Create("spike_recorder")
        nest.Connect(a + b, files)
        nest.Connect(a + b, memory)
        nest.Simulate({T_END})
        ev = memory.get("events")
        print("RESULT" + json.dumps({{"times": list(map(float, ev["times"])), "senders": list(map(int, ev["senders"])),
                                     "a": [int(a[0].global_id), int(a[-1].global_id)],
                                     "b": [int(b[0].global_id), int(b[-1].global_id)]}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.split("RESULT", 1)[1])


def test_counts_from_nest_ascii_files_equal_the_in_memory_events(tmp_path):
    ev = _run_nest(tmp_path)
    files = sorted(tmp_path.glob("run-spikes-*.dat"))
    assert len(files) == 2  # one per virtual process
    times, senders = read_spike_files(files)
    assert len(times) == len(ev["times"]) > 500
    pops = [tuple(ev["a"]), tuple(ev["b"])]
    kw = dict(populations=pops, bin_width=BIN, t_start=0.0, t_stop=T_END)
    from_files = PopulationData.from_nest(str(tmp_path), **kw)
    from_memory = PopulationData.from_nest({"times": ev["times"], "senders": ev["senders"]}, **kw)
    np.testing.assert_array_equal(np.asarray(from_files.counts), np.asarray(from_memory.counts))
    # by hand: NEST stamps a spike of step k (the interval (k dt, (k + 1) dt]) with (k + 1) dt
    step = np.rint(np.asarray(ev["times"]) / DT).astype(int) - 1
    per_bin = int(round(BIN / DT))
    pop = (np.asarray(ev["senders"]) > ev["a"][1]).astype(int)
    counts = np.zeros((int(T_END / BIN), 2))
    np.add.at(counts, (step // per_bin, pop), 1)
    np.testing.assert_array_equal(np.asarray(from_files.counts[0]), counts)
    assert from_files.N == (30, 20)
