r"""Wilson–Cowan firing-rate model (the lecture's form), any number of populations.

.. math::

    \tau_a \frac{dh_a}{dt} = -h_a + \sum_b J_{ab} A_b(t) + I_a(t),\qquad A_a(t) = F_a(h_a(t)),

with the sigmoidal steady-state transfer function (f–I curve)
:math:`F_a(h) = A^{\max}_a / (1 + e^{-\beta_a (h - \theta_a)})`, or the threshold-linear
:math:`F_a(h) = A^{\max}_a\,\beta_a [h - \theta_a]_+` (``transfer='relu'``, unbounded).

Units: time in ms, rates in Hz (kHz·1000), input potential h in mV; :math:`J_{ab}` converts a
rate of population b (Hz) into input potential of a (mV·s), signed.

References: H. R. Wilson, J. D. Cowan, Biophys. J. 12, 1–24 (1972),
doi:10.1016/S0006-3495(72)86068-5.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ..core.model import AbstractODEModel, check_positive
from ..core.model import population_matrix as _mat
from ..core.model import population_vector as _vec

TRANSFERS = ("sigmoid", "relu")


class WilsonCowan(AbstractODEModel):
    r"""Wilson–Cowan rate model.

    Parameters
    ----------
    J : array (n_pop, n_pop)
        Coupling :math:`J_{ab}` (target a, source b), signed; mV·s.
    tau : float or array (n_pop,)
        Integration time constants (ms).
    A_max, beta, theta : float or array (n_pop,)
        Transfer-function maximum (Hz), gain (1/mV) and threshold (mV).
    h_init : float or array (n_pop,)
        Initial input potential (mV).
    transfer : {'sigmoid', 'relu'}
    """

    J: jax.Array
    tau: jax.Array
    A_max: jax.Array
    beta: jax.Array
    theta: jax.Array
    h_init: jax.Array
    n_pop: int = eqx.field(static=True)
    transfer: str = eqx.field(static=True)
    integrator: str = eqx.field(static=True)

    default_record = ("A", "h")

    def __init__(self, J=((1.2, -1.0), (1.0, -0.5)), *, tau=10.0, A_max=100.0, beta=1.0, theta=5.0, h_init=0.0,
                 transfer="sigmoid", integrator="rk4"):
        J = jnp.asarray(J, dtype=float)
        if J.ndim == 0:
            J = J.reshape(1, 1)
        n = J.shape[0]
        self.J = _mat("J", J, n, broadcast=False)
        self.n_pop = int(n)
        for name, val in dict(tau=tau, A_max=A_max, beta=beta).items():
            check_positive(name, val)
        self.tau = _vec("tau", tau, n)
        self.A_max = _vec("A_max", A_max, n)
        self.beta = _vec("beta", beta, n)
        self.theta = _vec("theta", theta, n)
        self.h_init = _vec("h_init", h_init, n)
        if transfer not in TRANSFERS:
            raise ValueError(f"transfer must be one of {TRANSFERS}, got {transfer!r}")
        if integrator not in ("rk4", "euler"):
            raise ValueError(f"integrator must be 'rk4' or 'euler', got {integrator!r}")
        self.transfer = transfer
        self.integrator = integrator

    @property
    def drive_shape(self):
        return (self.n_pop,)

    def observable_dims(self):
        return {"A": ("population",), "h": ("population",)}

    def F(self, h):
        """Steady-state transfer function :math:`F(h)` in Hz."""
        if self.transfer == "sigmoid":
            return self.A_max * jax.nn.sigmoid(self.beta * (h - self.theta))
        return self.A_max * self.beta * jnp.maximum(h - self.theta, 0.0)

    def init(self, key=None):
        return self.h_init

    def vector_field(self, t, h, drive):
        A = self.F(h)
        # J in mV*s, A in Hz -> J @ A in mV
        return (-h + self.J @ A + drive(t)) / self.tau

    def observe(self, h):
        return {"A": self.F(h), "h": h}
