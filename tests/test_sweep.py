"""jaxpop.sweep: every grid point must equal an independent per-point simulate (loop vs vmap),
whatever the chunking, the jit, the vmap over keys or the number of devices; gradients must match
central finite differences; a resumed sweep must equal an uninterrupted one without recomputing.
"""

import json
import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpop
from jaxpop.core.sweep import SweepProgress, SweepResult, sweep

KEY = jax.random.PRNGKey(42)


class NoisyLeak(jaxpop.AbstractModel):
    r"""Test model with randomness in ``init`` and ``step``: Euler–Maruyama for
    :math:`dx = (\mu - x + I)/\tau\,dt + \sigma\,dW`, :math:`x(0) \sim N(0, 1)`."""

    mu: jax.Array
    tau: jax.Array
    sigma: jax.Array
    default_record = ("x",)

    def __init__(self, mu=0.0, tau=1.0, sigma=1.0):
        self.mu, self.tau, self.sigma = (jnp.asarray(x, dtype=float) for x in (mu, tau, sigma))

    def init(self, key):
        return {"x": jax.random.normal(key, ())}

    def step(self, state, t, dt, drive, key):
        x = state["x"]
        noise = self.sigma * jnp.sqrt(dt) * jax.random.normal(key, ())
        return {"x": x + dt * (self.mu - x + drive(t)) / self.tau + noise}

    def observe(self, state):
        return {"x": state["x"]}


def mpr(**kw):
    return jaxpop.MontbrioPazoRoxin(**{"eta_bar": -5.0, "delta": 1.0, "J": 15.0, **kw})


def late_mean_r(res):
    """Time average of r over the second half of the recording."""
    r = res.data["r"]
    return jnp.mean(r[..., r.shape[-1] // 2:], axis=-1)


# ------------------------------------------------------------------------------------------
# Loop vs vmap, chunking, jit, vmap over keys
# ------------------------------------------------------------------------------------------

MUS = np.array([-1.0, -0.5, 0.5, 1.0, 2.0])
SIGMAS = np.array([0.3, 0.7, 1.2])  # 15 points: chunks need padding
NOISY = dict(t_end=1.0, dt=0.05, record_every=2, trials=2)


@pytest.fixture(scope="module")
def noisy_loop():
    """Oracle: one jaxpop.simulate per grid point, built with the constructor, key fold_in(KEY, i)."""
    out = np.empty((MUS.size, SIGMAS.size, 2, 10))
    for i, (a, b) in enumerate(np.ndindex(MUS.size, SIGMAS.size)):
        m = NoisyLeak(mu=MUS[a], sigma=SIGMAS[b])
        res = jaxpop.simulate(m, NOISY["t_end"], NOISY["dt"], key=jax.random.fold_in(KEY, i),
                              record_every=NOISY["record_every"], trials=NOISY["trials"])
        out[a, b] = np.asarray(res["x"])
    return out


def _noisy_sweep(**kw):
    return sweep(NoisyLeak(), {"mu": MUS, "sigma": SIGMAS}, NOISY["t_end"], NOISY["dt"], key=KEY,
                 record_every=NOISY["record_every"], trials=NOISY["trials"], **kw)


def test_points_equal_simulate_loop_for_any_chunking(noisy_loop):
    whole = _noisy_sweep()
    assert whole["x"].shape == (5, 3, 2, 10)
    assert whole.info["n_chunks"] == 1
    np.testing.assert_array_equal(whole["x"], noisy_loop)
    # different trials and points see different noise (keys are distinct)
    assert np.all(np.abs(noisy_loop[:, :, 0] - noisy_loop[:, :, 1]) > 0)
    # chunk_size 6: three balanced chunks of 5 -> same numbers
    res = _noisy_sweep(chunk_size=6)
    assert res.info["n_chunks"] == 3 and res.info["chunk_points"] == 5
    np.testing.assert_array_equal(res["x"], noisy_loop)
    # the memory budget chooses the chunk: 4 points' worth of bytes -> chunks of 4 (the last padded)
    res = _noisy_sweep(memory_budget=4 * whole.info["point_bytes"])
    assert res.info["chunk_points"] == 4 and res.info["n_chunks"] == 4
    np.testing.assert_array_equal(res["x"], noisy_loop)
    np.testing.assert_array_equal(res.ts, jaxpop.simulate(NoisyLeak(), 1.0, 0.05, key=KEY, record_every=2).ts)


def test_jit_and_vmap_over_keys_give_the_same_numbers(noisy_loop):
    # traced path (pure JAX): two chunks of 8 (the last padded) run by lax.map
    jitted = jax.jit(lambda m: sweep(m, {"mu": MUS, "sigma": SIGMAS}, 1.0, 0.05, key=KEY, record_every=2, trials=2,
                                     chunk_size=8).data["x"])
    np.testing.assert_allclose(np.asarray(jitted(NoisyLeak())), noisy_loop, rtol=0, atol=1e-12)
    # vmapped over two keys (jitted, one compilation): each slice equals its own un-vmapped sweep
    keys = jnp.stack([KEY, jax.random.PRNGKey(7)])
    vm = jax.jit(jax.vmap(lambda k: sweep(NoisyLeak(), {"mu": MUS, "sigma": SIGMAS}, 1.0, 0.05, key=k,
                                          record_every=2, trials=2).data["x"]))(keys)
    np.testing.assert_allclose(np.asarray(vm[0]), noisy_loop, rtol=0, atol=1e-12)
    res7 = sweep(NoisyLeak(), {"mu": MUS, "sigma": SIGMAS}, 1.0, 0.05, key=jax.random.PRNGKey(7), record_every=2,
                 trials=2)
    np.testing.assert_allclose(np.asarray(vm[1]), res7["x"], rtol=0, atol=1e-12)
    assert np.abs(res7["x"] - noisy_loop).max() > 0.1


def test_to_xarray_labels_grid_trial_and_time(noisy_loop):
    ds = _noisy_sweep(chunk_size=6).to_xarray()
    assert ds["x"].dims == ("mu", "sigma", "trial", "time")
    np.testing.assert_array_equal(ds["mu"].values, MUS)
    np.testing.assert_array_equal(ds["x"].sel(mu=0.5, sigma=1.2).values, noisy_loop[2, 2])
    assert ds["status"].values.all()


# ------------------------------------------------------------------------------------------
# Field paths, broadcasting, drives, setters, zip grids
# ------------------------------------------------------------------------------------------


def test_nested_path_drive_field_and_setter_match_constructed_models():
    """product=False over a nested distribution field, a drive field and a setter; the oracle
    builds each model and drive with the constructors."""
    centers = np.array([-2.0, -1.0, 0.5])
    amps = np.array([0.0, 1.0, 3.0])
    halfJ = np.array([2.0, 4.0, 5.0])
    base = jaxpop.FREEnsemble(jaxpop.Uniform(0.0, 1.0), J=1.0, n_eta=16)
    drive = jaxpop.Step(0.0, t_on=0.5)
    grid = {
        "distribution.center": centers,
        "drive.amplitude": amps,
        "2J": (lambda m, x: eqx.tree_at(lambda m: m.J, m, 2.0 * x), halfJ),
    }
    res = sweep(base, grid, 2.0, 0.01, key=KEY, drive=drive, product=False, record_every=20)
    assert res.dims == ("point",) and res["r"].shape == (3, 10)
    for i in range(3):
        m = jaxpop.FREEnsemble(jaxpop.Uniform(centers[i], 1.0), J=2.0 * halfJ[i], n_eta=16)
        ref = jaxpop.simulate(m, 2.0, 0.01, key=jax.random.fold_in(KEY, i), drive=jaxpop.Step(amps[i], t_on=0.5),
                              record_every=20)
        np.testing.assert_allclose(res["r"][i], ref["r"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(res["v"][i], ref["v"], rtol=0, atol=1e-12)
    ds = res.to_xarray()
    assert ds["r"].dims == ("point", "time")
    np.testing.assert_array_equal(ds["distribution.center"].values, centers)


def test_scalar_values_broadcast_like_the_field():
    """A scalar eta_bar on the 1-population model (field shape (1,)) and on an E-I pair (shape
    (2,): sets both populations); J (1, 1) likewise."""
    etas, Js = np.array([-6.0, -4.0]), np.array([10.0, 15.0])
    res = sweep(mpr(), {"eta_bar": etas, "J": Js}, 1.0, 0.01, key=KEY, record_every=10)
    for i, (a, b) in enumerate(np.ndindex(2, 2)):
        ref = jaxpop.simulate(jaxpop.MontbrioPazoRoxin(etas[a], 1.0, Js[b]), 1.0, 0.01, key=KEY, record_every=10)
        np.testing.assert_allclose(res["r"][a, b], ref["r"], rtol=0, atol=1e-12)
    ei = jaxpop.MontbrioPazoRoxin.excitatory_inhibitory()
    res = sweep(ei, {"eta_bar": etas}, 1.0, 0.01, key=KEY, record_every=10)
    assert res["r"].shape == (2, 10, 2)
    ref = jaxpop.simulate(jaxpop.MontbrioPazoRoxin.excitatory_inhibitory(eta_e=-4.0, eta_i=-4.0), 1.0, 0.01,
                          key=KEY, record_every=10)
    np.testing.assert_allclose(res["r"][1], ref["r"], rtol=0, atol=1e-12)
    assert res.to_xarray()["r"].dims == ("eta_bar", "time", "population")


# ------------------------------------------------------------------------------------------
# reduce, throw / status, solve
# ------------------------------------------------------------------------------------------


def test_reduce_equals_reducing_the_stored_series_and_memory_estimate():
    grid = {"eta_bar": np.array([-6.0, -5.0, -4.0]), "J": np.array([10.0, 15.0])}
    full = sweep(mpr(), grid, 4.0, 0.01, key=KEY, record="r", record_every=10)
    red = sweep(mpr(), grid, 4.0, 0.01, key=KEY, record="r", record_every=10, reduce=late_mean_r)
    assert red.reduced and red["value"].shape == (3, 2)
    np.testing.assert_allclose(red["value"], full["r"][..., 20:].mean(axis=-1), rtol=1e-14)
    # estimate: 2 * (recorded 40 x 8 B + reduced 8 B + status 1 B + 8 x state (r, v: 2 x 8 B))
    assert red.info["point_bytes"] == 2 * (40 * 8 + 8 + 1 + 8 * 16)
    small = sweep(mpr(), grid, 4.0, 0.01, key=KEY, record="r", record_every=10, reduce=late_mean_r,
                  memory_budget=3 * red.info["point_bytes"] + 1)
    assert small.info["chunk_points"] == 3
    np.testing.assert_array_equal(small["value"], red["value"])


def test_non_finite_points_raise_or_are_flagged():
    # eta_bar = 1e4 with dt = 0.1: v overflows within a few RK4 steps
    grid = {"eta_bar": np.array([-5.0, 1e4, -4.0])}
    with pytest.raises(ValueError, match=r"1 of 3 grid points .*eta_bar=10000.0"):
        sweep(mpr(), grid, 2.0, 0.1, key=KEY)
    res = sweep(mpr(), grid, 2.0, 0.1, key=KEY, throw=False)
    np.testing.assert_array_equal(res.status, [True, False, True])
    assert np.isfinite(res["r"][[0, 2]]).all()
    with pytest.raises(Exception, match="non-finite"):
        jax.block_until_ready(jax.jit(lambda m: sweep(m, grid, 2.0, 0.1, key=KEY).data["r"])(mpr()))


def test_method_solve_reaches_the_analytic_fixed_points():
    """Adaptive solves per point (J = 5 < 7.80: one stable fixed point, MPR Fig. 1a) relax to
    the positive root of  pi^2 r^4 - J r^3 - eta_bar r^2 - Delta^2 / (4 pi^2) = 0  (MPR Sec. III C);
    relaxation at rate O(1) leaves e^-40 after t = 40, the solver's rtol is 1e-8."""
    etas, J = np.array([-2.0, 1.0]), 5.0
    res = sweep(mpr(J=J), {"eta_bar": etas}, 40.0, 0.01, key=KEY, method="solve", record_every=1000)
    assert res["r"].shape == (2, 4) and res.ts[-1] == 40.0
    for i, eta in enumerate(etas):
        roots = np.roots([np.pi**2, -J, -eta, 0.0, -1.0 / (4 * np.pi**2)])
        r_star = roots[(np.abs(roots.imag) < 1e-12) & (roots.real > 0)].real
        assert r_star.size == 1
        np.testing.assert_allclose(res["r"][i, -1], r_star[0], rtol=1e-7)
        np.testing.assert_allclose(res["v"][i, -1], -1.0 / (2 * np.pi * r_star[0]), rtol=1e-7)


# ------------------------------------------------------------------------------------------
# Gradients
# ------------------------------------------------------------------------------------------


def test_gradients_match_central_differences():
    """d/d(delta) (not swept) and d/d(eta_bar grid values) of the summed late-time mean rate."""
    etas, Js = jnp.array([-5.0, -4.0]), jnp.array([10.0, 15.0])

    def loss(delta, etas):
        m = eqx.tree_at(lambda m: m.delta, mpr(), jnp.broadcast_to(delta, (1,)))
        res = sweep(m, {"eta_bar": etas, "J": Js}, 4.0, 0.01, key=KEY, record="r", record_every=10,
                    reduce=late_mean_r, chunk_size=2)
        return jnp.sum(res["value"])

    g_delta, g_etas = jax.grad(loss, argnums=(0, 1))(1.0, etas)
    # central differences, O(h^2) truncation ~1e-10 and rounding ~1e-16 / h ~1e-11: far below 1e-4
    h = 1e-5
    fd_delta = (float(loss(1.0 + h, etas)) - float(loss(1.0 - h, etas))) / (2 * h)
    np.testing.assert_allclose(float(g_delta), fd_delta, rtol=1e-4)
    for k in range(2):
        e = jnp.zeros(2).at[k].set(h)
        fd = (float(loss(1.0, etas + e)) - float(loss(1.0, etas - e))) / (2 * h)
        np.testing.assert_allclose(float(g_etas[k]), fd, rtol=1e-4)
    assert abs(fd_delta) > 1e-3 and np.all(np.abs(np.asarray(g_etas)) > 1e-3)


# ------------------------------------------------------------------------------------------
# Checkpointing and resume
# ------------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    grid = {"eta_bar": np.array([-6.0, -5.0, -4.0]), "J": np.array([10.0, 15.0])}
    kw = dict(key=KEY, record="r", record_every=10, chunk_size=2)
    ref = sweep(mpr(), grid, 2.0, 0.01, **kw)
    ckpt = tmp_path / "ckpt"

    def stop_after_first(p: SweepProgress):
        if p.chunk == 1:
            raise _Stop

    with pytest.raises(_Stop):
        sweep(mpr(), grid, 2.0, 0.01, checkpoint_dir=ckpt, progress=stop_after_first, **kw)
    files = sorted(f for f in os.listdir(ckpt) if f.startswith("chunk_"))
    assert len(files) == 1 and (ckpt / "manifest.json").exists()
    mtime = os.stat(ckpt / files[0]).st_mtime_ns

    seen = []
    res = sweep(mpr(), grid, 2.0, 0.01, checkpoint_dir=ckpt, progress=seen.append, **kw)
    assert seen[-1].loaded == 2 and seen[-1].points_done == 6 and len(seen) == 2  # 4 points left: 2 chunks
    assert os.stat(ckpt / files[0]).st_mtime_ns == mtime
    np.testing.assert_array_equal(res["r"], ref["r"])

    # everything on disk: another chunking loads all and computes nothing
    again = sweep(mpr(), grid, 2.0, 0.01, checkpoint_dir=ckpt, **{**kw, "chunk_size": 5})
    assert again.info["loaded_points"] == 6 and again.info["n_chunks"] == 0
    np.testing.assert_array_equal(again["r"], ref["r"])

    # a different sweep in the same directory is refused, naming what differs
    with pytest.raises(ValueError, match=r"different sweep.*model"):
        sweep(mpr(tau=2.0), grid, 2.0, 0.01, checkpoint_dir=ckpt, **kw)
    with pytest.raises(ValueError, match=r"different sweep.*t_end"):
        sweep(mpr(), grid, 3.0, 0.01, checkpoint_dir=ckpt, **kw)
    with pytest.raises(ValueError, match=r"different sweep.*grid"):
        sweep(mpr(), {**grid, "J": np.array([10.0, 16.0])}, 2.0, 0.01, checkpoint_dir=ckpt, **kw)


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    assert jaxpop.sweep is sweep and jaxpop.SweepResult is SweepResult
    m = mpr()
    args = (1.0, 0.01)
    with pytest.raises(ValueError, match=r"unknown field 'eta'.*'eta_bar'"):
        sweep(m, {"eta": [1.0]}, *args, key=KEY)
    with pytest.raises(ValueError, match=r"unknown field 'distribution.centre'.*'center'"):
        sweep(jaxpop.FREEnsemble(jaxpop.Uniform(0.0, 1.0), n_eta=4), {"distribution.centre": [1.0]}, *args, key=KEY)
    with pytest.raises(ValueError, match=r"'n_pop' is structure of MontbrioPazoRoxin, not a parameter.*build one model per value"):
        sweep(m, {"n_pop": [1.0]}, *args, key=KEY)
    with pytest.raises(ValueError, match=r"grid\['eta_bar'\] must be a 1-D array.*\(2, 2\)"):
        sweep(m, {"eta_bar": np.zeros((2, 2))}, *args, key=KEY)
    with pytest.raises(ValueError, match=r"grid\['eta_bar'\] must be a 1-D"):
        sweep(m, {"eta_bar": 1.0}, *args, key=KEY)
    with pytest.raises(ValueError, match=r"grid\['J'\] is empty"):
        sweep(m, {"J": []}, *args, key=KEY)
    with pytest.raises(ValueError, match="grid is empty"):
        sweep(m, {}, *args, key=KEY)
    with pytest.raises(ValueError, match="equal length"):
        sweep(m, {"eta_bar": [1.0, 2.0], "J": [1.0]}, *args, key=KEY, product=False)
    with pytest.raises(ValueError, match="chunk_size"):
        sweep(m, {"J": [1.0]}, *args, key=KEY, chunk_size=0)
    with pytest.raises(ValueError, match="method"):
        sweep(m, {"J": [1.0]}, *args, key=KEY, method="euler")
    with pytest.raises(ValueError, match="trials"):
        sweep(m, {"J": [1.0]}, *args, key=KEY, method="solve", trials=2)
    with pytest.raises(ValueError, match="record"):
        sweep(m, {"J": [1.0]}, *args, key=KEY, record="rate")
    with pytest.raises(ValueError, match="whole number of steps"):
        sweep(m, {"J": [1.0]}, 1.0, 0.3, key=KEY)
    with pytest.raises(ValueError, match="checkpoint_dir= needs concrete inputs"):
        jax.jit(lambda m: sweep(m, {"J": [1.0]}, *args, key=KEY, checkpoint_dir="/tmp/x").data)(m)
    with pytest.raises(ValueError, match="devices= needs concrete inputs"):
        jax.jit(lambda m: sweep(m, {"J": [1.0]}, *args, key=KEY, devices=jax.devices()).data)(m)


# ------------------------------------------------------------------------------------------
# Two (forced host) devices in a subprocess
# ------------------------------------------------------------------------------------------

_TWO_DEVICES = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from jaxpop.core.sweep import sweep
    from test_sweep import NoisyLeak, MUS, SIGMAS, KEY
    assert len(jax.devices()) == 2, jax.devices()
    out, info = {}, {}
    for name, kw in {"two": {}, "one": {"devices": jax.devices()[:1]}, "two_c4": {"chunk_size": 4}}.items():
        r = sweep(NoisyLeak(), {"mu": MUS, "sigma": SIGMAS}, 1.0, 0.05, key=KEY, record_every=2, trials=2, **kw)
        out[name], info[name] = r["x"], r.info
    np.savez(sys.argv[1], **out)
    print(json.dumps(info))
    """
)


def test_two_sharded_host_devices_match_one_device(tmp_path, noisy_loop):
    """15 noisy grid points sharded over 2 forced host devices (padded to 16), on 1 device, and
    in chunks of 4 (padded to 4): the same numbers as each other and as the per-point loop."""
    script = tmp_path / "two.py"
    script.write_text(_TWO_DEVICES)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONPATH": os.path.dirname(__file__) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "out.npz")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["two"]["n_devices"] == 2 and info["two"]["output_devices"] == 2
    assert info["two"]["chunk_padded"] == 16
    assert info["two_c4"]["n_chunks"] == 4 and info["two_c4"]["chunk_padded"] == 4
    assert info["one"]["n_devices"] == 1 and info["one"]["output_devices"] == 1
    out = np.load(tmp_path / "out.npz")
    for name in ("two", "one", "two_c4"):
        np.testing.assert_allclose(out[name], noisy_loop, rtol=0, atol=1e-12)
