"""Oracle tests of the drives (external inputs): values against the defining formulas,
discontinuities, shape checks, and gradients through a simulation against finite differences."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpop
from jaxpop.core.drives import Constant, Piecewise, Pulse, Sinusoid, Step, Sum, as_drive, check_drive


def _at(drive, ts):
    return np.array([np.asarray(drive(jnp.asarray(t, dtype=float))) for t in ts])


def test_step_and_pulse_values():
    d = Step(3.0, 0.0, 30.0)  # MPR Fig. 2: I = 3 on [0, 30)
    ts = [-40.0, -1e-12, 0.0, 1e-12, 15.0, 30.0 - 1e-12, 30.0, 40.0]
    np.testing.assert_array_equal(_at(d, ts), [0, 0, 3, 3, 3, 3, 0, 0])
    assert d.discontinuities() == (0.0, 30.0)
    # a step that stays on; a vector amplitude (one per population)
    d = Step(jnp.array([1.5, -2.0]), t_on=2.0)
    np.testing.assert_array_equal(_at(d, [1.9, 2.0, 1e6]), [[0, 0], [1.5, -2.0], [1.5, -2.0]])
    assert d.discontinuities() == (2.0,)
    assert Pulse is Step
    with pytest.raises(ValueError, match="t_off > t_on"):
        Step(1.0, 5.0, 5.0)


def test_sinusoid_values():
    A, w, phi, off, t_on = 3.0, math.pi / 20, 0.3, -0.5, 2.0
    d = Sinusoid(A, w, phase=phi, offset=off, t_on=t_on)
    ts = np.array([-10.0, 1.999, 2.0, 2.5, 13.0, 41.7])
    ref = off + np.where(ts >= t_on, A * np.sin(w * (ts - t_on) + phi), 0.0)
    np.testing.assert_allclose(_at(d, ts), ref, rtol=0, atol=1e-14)
    assert d.discontinuities() == (t_on,)
    # MPR Fig. 2 right: I(t) = I0 sin(omega t) from t = 0
    d = Sinusoid(3.0, math.pi / 20)
    np.testing.assert_allclose(_at(d, [-5.0, 10.0, 20.0, 30.0]), [0.0, 3.0, 0.0, -3.0], atol=1e-14)


def test_constant_and_as_drive():
    np.testing.assert_array_equal(_at(Constant(2.5), [-1.0, 0.0, 1e9]), [2.5, 2.5, 2.5])
    np.testing.assert_array_equal(_at(Constant([1.0, 2.0]), [7.0]), [[1.0, 2.0]])
    assert float(as_drive(None)(3.0)) == 0.0
    assert float(as_drive(1.25)(3.0)) == 1.25
    np.testing.assert_array_equal(np.asarray(as_drive(np.array([1.0, -1.0]))(0.0)), [1.0, -1.0])
    d = Step(1.0, 0.0, 1.0)
    assert as_drive(d) is d
    with pytest.raises(TypeError, match="AbstractDrive"):
        as_drive(lambda t: t)


def test_sum_of_drives():
    a, b, c = Step(3.0, 0.0, 30.0), Sinusoid(1.0, math.pi, t_on=5.0), Constant(0.25)
    s = a + b + c
    assert isinstance(s, Sum) and len(s.drives) == 3  # flat, not nested
    ts = np.array([-1.0, 0.0, 4.0, 5.25, 29.9, 30.0, 33.3])
    ref = np.where((ts >= 0) & (ts < 30), 3.0, 0.0) + np.where(ts >= 5, np.sin(math.pi * (ts - 5)), 0.0) + 0.25
    np.testing.assert_allclose(_at(s, ts), ref, atol=1e-14)
    assert s.discontinuities() == (0.0, 5.0, 30.0)
    assert len((s + (a + c)).drives) == 5
    with pytest.raises(TypeError):
        a + 1.0  # numbers are not drives: be explicit, Constant(1.0)


# --- Piecewise ---------------------------------------------------------------------------------

VALUES = np.array([1.0, 2.0, 4.0, -1.0])
T0, DT = 1.0, 0.5  # samples at 1.0, 1.5, 2.0, 2.5; covered range [1.0, 3.0)


def test_piecewise_hold():
    d = Piecewise(VALUES, DT, t0=T0, interpolation="hold", outside="hold")
    ts = [1.0, 1.2, 1.5, 1.999999, 2.0, 2.5, 2.99]
    np.testing.assert_array_equal(_at(d, ts), [1, 1, 2, 2, 4, -1, -1])
    # grid times computed in floating point (t0 + k*dt accumulated) select sample k
    d2 = Piecewise(np.arange(100.0), 0.1)
    for k in range(100):
        assert float(d2(jnp.asarray(k * 0.1))) == k
        assert float(d2(jnp.asarray(sum([0.1] * k)))) == k
    # outside: hold keeps the end values, zero switches off, both inside unchanged
    np.testing.assert_array_equal(_at(d, [0.0, 0.999, 3.0, 10.0]), [1, 1, -1, -1])
    z = Piecewise(VALUES, DT, t0=T0, interpolation="hold", outside="zero")
    np.testing.assert_array_equal(_at(z, [0.0, 0.999, 1.0, 2.7, 3.0, 10.0]), [0, 0, 1, -1, 0, 0])
    # the held input jumps at every interior sample boundary; 'zero' adds the two ends
    assert d.discontinuities() == (1.5, 2.0, 2.5)
    assert z.discontinuities() == (1.0, 1.5, 2.0, 2.5, 3.0)


def test_piecewise_linear():
    d = Piecewise(VALUES, DT, t0=T0, interpolation="linear", outside="hold")
    ts = np.array([1.0, 1.25, 1.5, 1.6, 2.0, 2.4, 2.5])
    np.testing.assert_allclose(_at(d, ts), np.interp(ts, T0 + DT * np.arange(4), VALUES), atol=1e-14)
    np.testing.assert_array_equal(_at(d, [-3.0, 0.99, 2.75, 50.0]), [1, 1, -1, -1])
    z = Piecewise(VALUES, DT, t0=T0, interpolation="linear", outside="zero")
    ts = np.array([0.5, 1.25, 2.3, 2.99, 3.0, 3.5])
    inside = (ts >= 1.0) & (ts < 3.0)
    np.testing.assert_allclose(_at(z, ts), np.where(inside, _at(d, ts), 0.0), atol=1e-14)
    np.testing.assert_allclose(_at(z, [2.3]), [0.0 * 4 + 4 - 5 * 0.6], atol=1e-14)
    assert d.discontinuities() == ()  # continuous (only kinks)
    assert z.discontinuities() == (1.0, 3.0)


def test_piecewise_vector_samples_and_bad_arguments():
    vals = np.stack([VALUES, -VALUES], axis=1)  # (n_samples, n_pop)
    d = Piecewise(vals, DT, t0=T0, outside="hold")
    np.testing.assert_array_equal(_at(d, [2.2]), [[4.0, -4.0]])
    with pytest.raises(ValueError, match="values"):
        Piecewise(np.zeros(0), 0.1)
    with pytest.raises(ValueError, match="dt"):
        Piecewise(VALUES, 0.0)
    with pytest.raises(ValueError, match="interpolation"):
        Piecewise(VALUES, 0.1, interpolation="cubic")
    with pytest.raises(ValueError, match="outside"):
        Piecewise(VALUES, 0.1, outside="wrap")


def test_piecewise_outside_error_rejects_uncovered_windows():
    d = Piecewise(VALUES, DT, t0=T0)  # default outside='error', covers [1, 3)
    check_drive(d, (), 1.0, 3.0)  # exactly covered: fine
    check_drive(d, (), 1.5, 2.5)
    for t0, t_end in ((0.5, 3.0), (1.0, 3.5)):
        with pytest.raises(ValueError, match=r"covers \[1.0, 3.0\)"):
            check_drive(d, (), t0, t_end)
    model = jaxpop.MontbrioPazoRoxin()
    with pytest.raises(ValueError, match="outside='hold' or 'zero'"):
        jaxpop.simulate(model, 4.0, 0.5, t0=1.0, key=jax.random.PRNGKey(0), drive=d)
    # a Piecewise inside a sum is checked too
    with pytest.raises(ValueError, match="Piecewise"):
        check_drive(d + Constant(1.0), (), 0.0, 3.0)


# --- shapes ------------------------------------------------------------------------------------


def re_shape(got, expected):
    """Regex for check_drive's message naming both shapes."""
    return rf"drive returns shape {re.escape(str(tuple(got)))}.*drive_shape={re.escape(str(tuple(expected)))}"


def test_check_drive_rejects_wrong_shapes_naming_them():
    check_drive(Constant(1.0), (2,))  # a scalar broadcasts
    check_drive(Constant([1.0, 2.0]), (2,))
    for value, shape in (([1.0, 2.0, 3.0], (2,)), ([1.0, 2.0], ()), ([[1.0, 2.0]], (2,))):
        with pytest.raises(ValueError, match=re_shape(np.shape(value), shape)):
            check_drive(Constant(value), shape)


def test_simulate_rejects_wrong_drive_shape_for_two_populations():
    ei = jaxpop.MontbrioPazoRoxin.excitatory_inhibitory()
    assert ei.drive_shape == (2,)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match=re_shape((3,), (2,))):
        jaxpop.simulate(ei, 1.0, 0.1, key=key, drive=Step(jnp.ones(3), 0.0, 0.5))
    with pytest.raises(ValueError, match=re_shape((3,), (2,))):
        jaxpop.solve(ei, 1.0, drive=jnp.ones(3))
    # the right shapes run, and per-population inputs reach their population only
    res = jaxpop.simulate(ei, 1.0, 0.1, key=key, drive=Step(jnp.array([3.0, 0.0]), 0.0, 0.5))
    res0 = jaxpop.simulate(ei, 1.0, 0.1, key=key, drive=3.0)  # scalar: broadcast to both
    assert res.v.shape == (10, 2)
    # at the first record (one step), dv_i differs from the no-input run only through E's input
    np.testing.assert_allclose(res.v[0, 1], jaxpop.simulate(ei, 0.1, 0.1, key=key).v[0, 1], atol=1e-3)
    assert abs(float(res0.v[0, 1] - res.v[0, 1])) > 0.2


# --- gradients through a simulation ------------------------------------------------------------


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_gradient_wrt_drive_parameters_flows_through_simulate():
    model = jaxpop.MontbrioPazoRoxin(-5.0, 1.0, 15.0)
    key = jax.random.PRNGKey(0)
    names = ("Step amplitude", "Sinusoid amplitude", "Sinusoid omega", "Piecewise sample 6", "Constant")

    @jax.jit
    def r_end(theta):
        drive = (Step(theta[0], 0.0, 5.0) + Sinusoid(theta[1], theta[2])
                 + Piecewise(jnp.zeros(8).at[6].set(theta[3]), 1.0, interpolation="linear") + Constant(theta[4]))
        return jaxpop.simulate(model, 8.0, 0.01, key=key, drive=drive, record="r").r[-1]

    theta0 = jnp.array([3.0, 1.0, math.pi / 4, 2.0, 0.2])
    g = np.asarray(jax.jit(jax.grad(r_end))(theta0))
    # h = 1e-5: central-difference truncation ~ h^2 f''' ~ 1e-10, rounding ~ 1e-16/h ~ 1e-11
    h = 1e-5
    for i, name in enumerate(names):
        e = jnp.zeros(5).at[i].set(h)
        fd = float(r_end(theta0 + e) - r_end(theta0 - e)) / (2 * h)
        assert abs(fd) > 1e-4, name  # the input actually matters
        assert abs(g[i] - fd) <= 1e-6 * abs(fd), (name, g[i], fd)
