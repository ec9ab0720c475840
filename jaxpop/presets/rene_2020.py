r"""The two-population E–I network of René, Longtin & Macke (2020), as :class:`~jaxpop.core.gif_params.GIFParams`.

* :func:`ei_network` — N = (500, 100) GIF neurons with escape noise: μ = (20.123, 20.362) mV,
  p = ((0.1009, 0.1689), (0.1346, 0.1371)), w = ((0.176, −0.702), (0.176, −0.702)) mV (target, source),
  τ_m = 20 ms, t_ref = 4 ms, u_th = 15 mV, u_r = 0, c = 10 Hz, Δ_u = 5 mV, delay 1 ms, synaptic time
  constants 3 ms (excitatory sources) / 6 ms (inhibitory sources), adaptation of the excitatory population
  J_θ = 1.0 mV·s with τ_θ = 0.2 s (q_sfa = J_θ/τ_θ = 5 mV), none in the inhibitory population
  (J_θ = 0, τ_θ = 1 ms);
* :func:`training_input` — a sine plus white noise, the kind of input the paper trains on (our own
  amplitudes and period, fixed by a seed);
* :func:`free_parameters` — the 14 parameters fitted with all free (the paper's "all parameters" experiment):
  the four weights, μ, τ_m and Δ_u of both populations, the two synaptic time constants (one per
  source type) and the excitatory adaptation (J_θ through ``q_sfa`` and τ_θ through ``tau_sfa``).

Units: ms, mV, Hz.

References: A. René, A. Longtin, J. H. Macke, *Inference of a mesoscopic population model from population
spike trains*, Neural Comput. 32, 1448 (2020), doi:10.1162/neco_a_01292.
"""

from __future__ import annotations

import numpy as np

from ..core.drives import Piecewise, Sinusoid
from ..core.gif_params import GIFParams

N = (500, 100)
MU = (20.123, 20.362)
P = ((0.1009, 0.1689), (0.1346, 0.1371))
W = ((0.176, -0.702), (0.176, -0.702))
J_THETA = (1.0, 0.0)  # mV s
TAU_THETA = (200.0, 1.0)  # ms


def ei_network(N=N) -> GIFParams:
    """René et al.'s E–I network (module docs); ``N`` may be changed (e.g. for quick tests)."""
    q = [[1e3 * J_THETA[0] / TAU_THETA[0]], [1e3 * J_THETA[1] / TAU_THETA[1]]]  # mV s / ms -> mV
    return GIFParams(N, mu=MU, tau_m=20.0, t_ref=4.0, lambda_0=10.0, Delta_V=5.0, V_T_star=15.0, V_reset=0.0,
                     J=W, p=P, tau_syn_ex=3.0, tau_syn_in=6.0, delay=1.0,
                     tau_sfa=[[TAU_THETA[0]], [TAU_THETA[1]]], q_sfa=q)


def training_input(t_end: float, *, seed: int = 0, amplitude: float = 2.0, period: float = 250.0,
                   noise: float = 2.0, dt: float = 1.0, t0: float = 0.0):
    r"""Input (mV, added to μ of both populations): :math:`B\sin(2\pi t/T) + \sigma\xi_k`, with
    :math:`\xi_k` independent standard normal values held for ``dt`` ms (white noise sampled at ``dt``).

    The same input drives the data and the model (the fit knows the input, as in the paper)."""
    if not (t_end > t0 and dt > 0):
        raise ValueError(f"training_input: need t_end > t0 and dt > 0, got t_end={t_end!r}, t0={t0!r}, dt={dt!r}")
    n = int(np.ceil((t_end - t0) / dt)) + 1
    xi = np.random.default_rng(seed).standard_normal((n, 1)) * np.ones((1, 2))
    return Sinusoid(amplitude * np.ones(2), 2 * np.pi / period) + Piecewise(noise * xi, dt=dt, t0=t0)


def free_parameters():
    """The 14 free parameters (``{path: Free}`` for :class:`jaxpop.fit.Parameters`; module docs)."""
    from ..fit.params import Free, Positive, Real

    adapting = np.array([[True], [False]])
    return {
        "params.J": Real(),
        "params.mu": Real(),
        "params.tau_m": Positive(),
        "params.Delta_V": Positive(),
        "params.tau_syn_ex": Free(Positive(), tie=True),
        "params.tau_syn_in": Free(Positive(), tie=True),
        "params.q_sfa": Free(Positive(), mask=adapting),
        "params.tau_sfa": Free(Positive(), mask=adapting),
    }


def prior_starts(model, key, n: int, *, factor: float = 2.0, mu_spread: float = 2.0):
    """``n`` starting models for a fit of :func:`free_parameters`: every free positive parameter and weight drawn
    log-uniformly within ``factor`` of its value in ``model`` (the weights keep their sign), μ uniformly within
    ``± mu_spread`` mV. A broad box around the generating values, standing in for the paper's priors."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    P = model.params
    ks = jax.random.split(key, 8)

    def logu(k, x):
        x = jnp.asarray(x)
        return x * jnp.exp(jax.random.uniform(k, (n,) + x.shape, minval=-1.0, maxval=1.0) * np.log(factor))

    J = logu(ks[0], P.J)
    mu = P.mu + jax.random.uniform(ks[1], (n,) + P.mu.shape, minval=-mu_spread, maxval=mu_spread)
    tau_m, Delta_V = logu(ks[2], P.tau_m), logu(ks[3], P.Delta_V)
    ts_ex = jnp.broadcast_to(logu(ks[4], P.tau_syn_ex[0])[:, None], (n,) + P.tau_syn_ex.shape)
    ts_in = jnp.broadcast_to(logu(ks[5], P.tau_syn_in[0])[:, None], (n,) + P.tau_syn_in.shape)
    q = P.q_sfa.at[0, 0].set(0.0)[None] + jnp.zeros((n, 1, 1)).at[:, 0, 0].set(logu(ks[6], P.q_sfa[0, 0]))
    tau = jnp.broadcast_to(P.tau_sfa, (n,) + P.tau_sfa.shape).at[:, 0, 0].set(logu(ks[7], P.tau_sfa[0, 0]))
    out = []
    for i in range(n):
        new = (J[i], mu[i], tau_m[i], Delta_V[i], ts_ex[i], ts_in[i], q[i], tau[i])
        out.append(eqx.tree_at(lambda m: (m.params.J, m.params.mu, m.params.tau_m, m.params.Delta_V,
                                          m.params.tau_syn_ex, m.params.tau_syn_in, m.params.q_sfa,
                                          m.params.tau_sfa), model, new))
    return out
