"""The model contract ("Parameters and structure", :mod:`jaxpop.core.model`), checked for every model.

Every concrete model class of ``jaxpop.micro``, ``jaxpop.meso`` and ``jaxpop.macro`` has at least one
:class:`Case` below (:func:`test_every_model_has_a_case` fails otherwise, so a new model must join the
list). The wrappers of ``jaxpop.reproduce`` (``RasterSubset``, ``HittingTime``) are out of scope: they
are figure-specific adaptors around the models tested here, not models of their own.

For every case:

1. **Sweeps** (:func:`test_sweep_matches_build`): every parameter path of
   :func:`jaxpop.core.model.parameters` is swept by :func:`jaxpop.sweep` over two values ``v1, v2`` (by
   default 0.9 and 0.8 times the field's mean; per-field values where that is not admissible). Each grid
   point equals, to :data:`TOL` (float64), the model built through its public constructor with the
   field set to that scalar (broadcast like the field; parameter objects through ``params.replace``)
   and run with the sweep's key of that point, ``fold_in(key, i)``; and the parameter has an effect:
   the point differs from the model built with the *other* value run with the *same* key (points of a
   sweep have different keys, so for stochastic models comparing two points would prove nothing). A
   parameter without effect in the case's configuration is a documented exemption (``no_effect``).
   To keep the default run short, the fields whose value is uniform (one number broadcast) are swept
   together in one zipped sweep (``product=False``): at point ``2k + j`` field ``k`` takes its ``j``-th
   value and every other swept field its own (uniform) value, so each point is exactly a one-field sweep
   point — one compilation per case instead of one per field. Non-uniform fields get one-field sweeps,
   ``jaxpop.sweep(model, {path: [v1, v2]})``; the slow part (:func:`test_sweep_one_field_at_a_time`)
   runs that literal one-field form for every field of the primary case of every class.
2. **Gradients** (:func:`test_gradients`): :func:`equinox.filter_grad` of a scalar loss of
   :func:`jaxpop.simulate` with respect to the whole model gives a finite gradient for every parameter,
   and, for one parameter per case where the output is a smooth function of the parameters (deterministic
   models, and stochastic ones in a reparameterised mode with a fixed key), it agrees with central
   differences. A model that refuses differentiation by design (the microcircuit without ``surrogate=``)
   must raise a ``ValueError`` that names the way out (``Case.grad_error``), never an internal JAX error.
3. **Trials** (:func:`test_trials`): trial ``i`` of ``trials=3`` is the single run with key
   ``split(key, 3)[i]``. This is the engine's vmap over keys, the same code for every model except where a
   model batches its own trials (the microcircuit's custom vmap rule): the default part runs it for the
   microcircuit, ``-m slow`` for every case (each costs a compilation).
4. **Structure** (:func:`test_structure_is_refused`): every static field of the model and of the modules
   it holds, and every integer array, is refused by a sweep with a ``ValueError`` naming the field as
   structure; and no leaf is a loose Python float (sweepable, but invisible to ``parameters``).
5. **Derived structure** (:func:`test_derived_structure_is_rechecked`): a history window or a fixed
   in-degree graph that no longer fits changed parameter values raises in ``simulate`` and inside a
   (jitted, vmapped) sweep.
6. **Completeness** (:func:`test_every_model_has_a_case`).

The default part runs the sweep, gradient and structure checks for the primary case of every class (all its
parameters swept; the trials check for the microcircuit), some checks of more cases (``Case.default``) and
checks 5 and 6; ``pytest -m slow`` runs the rest (every check of every case, and the one-field sweeps).
Known violations are strict xfails (``Case.xfail``).
Comparisons are in float64 (jaxpop enables x64 at import), to :data:`TOL`; the microcircuit computes in
float32 and is compared to ``Case.tol = 1e-5``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpop
from jaxpop.core.gif_params import GIFParams
from jaxpop.core.hawkes_params import HawkesParams
from jaxpop.core.lif_params import LIFParams
from jaxpop.core.model import AbstractModel, parameters
from jaxpop.macro import FREEnsemble, MontbrioPazoRoxin, WilsonCowan
from jaxpop.analysis.renewal import PAR, RenewalFamily, Sigmoid
from jaxpop.meso import Eigenmode, HawkesMeso, RefractoryDensity, SchwalgerMeso
from jaxpop.micro import GIFNetwork, HawkesNetwork, QIFNetwork, RenewalNetwork
from jaxpop.micro.microcircuit import MicrocircuitNetwork, build_connectivity
from jaxpop.presets import potjans_diesmann

KEY = jax.random.PRNGKey(20240611)
#: sweep point == model built with that value (float64: identical up to XLA's re-association in vmap)
TOL = 1e-12
#: central differences against reverse mode, deterministic and reparameterised models (see test_gradients)
FD_RTOL = 1e-5
SLOW = pytest.mark.slow


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One model configuration.

    ``build(**overrides)`` constructs the model through its public constructor; ``overrides`` maps a
    parameter path (``"eta_bar"``, ``"params.mu"``, ``"distribution.center"``) to an array of the
    field's shape."""

    id: str
    cls: type
    build: Callable[..., AbstractModel]
    t_end: float
    dt: float
    record: tuple[str, ...]
    drive: Any = None
    #: path -> (v1, v2) where 0.9x / 0.8x of the mean is not admissible or has no effect (mean 0)
    values: dict = dataclasses.field(default_factory=dict)
    #: path -> why the parameter has no effect in this configuration (exempt from "the outputs differ")
    no_effect: dict = dataclasses.field(default_factory=dict)
    #: path -> why the leaf is not a constructor argument (compared with eqx.tree_at on a built model)
    not_built: dict = dataclasses.field(default_factory=dict)
    #: parameter compared with central differences, or None (then `no_fd` says why)
    fd: str | None = None
    no_fd: str = ""
    #: tolerance of "equal" (sweep point vs built model, trial i vs single run); float64 models: TOL
    tol: float = TOL
    #: a model that refuses differentiation by design: the regex of its ValueError (checked instead of the gradient)
    grad_error: str = ""
    #: check ("sweep", "grad", "trials", "structure") -> reason: a known contract violation (strict xfail)
    xfail: dict = dataclasses.field(default_factory=dict)
    #: the checks ("sweep", "grad", "trials") of this case in the default part; the others run with `-m slow`.
    #: The structure check is in the default part unless this is empty.
    default: tuple[str, ...] = ("sweep", "grad")


def _squeeze(ov):
    """Size-1 arrays as Python floats (models built from scalars: one population, scalar observables)."""
    return {k: (float(np.asarray(v).reshape(())) if np.size(v) == 1 else v) for k, v in ov.items()}


def _split(ov):
    """Overrides of the parameter object (``params.x``) and of the model's own keywords."""
    p = {k[len("params."):]: v for k, v in ov.items() if k.startswith("params.")}
    m = {k: v for k, v in ov.items() if not k.startswith("params.")}
    return p, m


# --- macro ---------------------------------------------------------------------------------

def _mpr_one(**ov):
    kw = dict(eta_bar=-4.0, delta=1.0, J=15.0, tau=1.0, Gamma=0.4, r0=0.3, v0=-1.5)
    kw.update(_squeeze(ov))
    return MontbrioPazoRoxin(**kw)


def _mpr_ei(**ov):
    # eta_bar and J differ between the populations (swept one field at a time), the rest is uniform
    kw = dict(eta_bar=[-4.0, -5.0], delta=0.8, J=[[15.0, -12.0], [14.0, -10.0]], tau=0.7, Gamma=0.3, tau_d=0.4,
              r0=0.3, v0=-1.5)
    kw.update(ov)
    return MontbrioPazoRoxin(**kw)


def _fre(**ov):
    # a uniform g(eta): its quantiles are linear (a Gaussian's ndtri in every RK stage compiles slowly)
    center = ov.pop("distribution.center", -2.0)
    half_width = ov.pop("distribution.half_width", 1.5)
    kw = dict(J=8.0, tau=1.0, h_init=0.5, epsilon=0.05)
    kw.update(_squeeze(ov))
    return FREEnsemble(jaxpop.Uniform(float(np.asarray(center)), float(np.asarray(half_width))), n_eta=32, **kw)


def _wc(**ov):
    kw = dict(J=[[12.0, -10.0], [10.0, -2.0]], tau=8.0, A_max=100.0, beta=0.8, theta=5.0, h_init=1.0)
    kw.update(ov)
    return WilsonCowan(**kw)


# --- micro: QIF ----------------------------------------------------------------------------

def _qif(**ov):
    # V_peak = -V_reset = 10 (instead of the paper's 100) allows dt = 5e-3, so that 30 steps see spikes;
    # V_reset passed explicitly (its default -V_peak would follow a built V_peak, but not a swept one)
    kw = dict(eta_bar=4.0, delta=1.0, J=3.0, Gamma=0.5, tau=1.0, D=0.2, V_peak=10.0, V_reset=-10.0, tau_s=0.05,
              r0=0.5, I0=0.3)
    kw.update(_squeeze(ov))
    return QIFNetwork(40, **kw)


def _qif_ei(**ov):
    kw = dict(eta_bar=[4.0, 3.0], delta=[1.0, 0.5], J=[[3.0, -2.0], [2.5, -1.0]], Gamma=[[0.5, 0.2], [0.3, 0.1]],
              tau=[1.0, 0.8], D=[0.2, 0.1], V_peak=10.0, V_reset=-12.0, tau_s=[0.05, 0.08], r0=[0.5, 0.6],
              I0=[0.3, 0.1])
    kw.update(ov)
    return QIFNetwork((20, 15), distribution="gaussian", eta_sampling="random", synapse="exponential", **kw)


_QIF = dict(cls=QIFNetwork, t_end=0.15, dt=0.005, record=("r", "v", "s"),
            no_fd="threshold crossings and spike counts are discrete events; finiteness only",
            # the unit samples have mean ~0 (symmetric quantiles): 0.9x / 0.8x of it would be no change
            values={"eta_unit": (0.5, -0.5), "J_unit": (0.5, -0.5)},
            not_built={
                "eta_unit": "quenched unit samples u_j, drawn at construction from distribution / eta_sampling / seed "
                            "(no constructor argument): compared with eqx.tree_at on the built model",
                "J_unit": "quenched coupling samples w_jb, drawn at construction from seed (no constructor argument): "
                          "compared with eqx.tree_at on the built model",
            })


# --- micro: GIF ----------------------------------------------------------------------------
# An active network within 20 steps of 0.5 ms: u rises quickly (tau_m = 10 ms, mu = 30 mV) to a low
# threshold (10 mV) with a high rate at threshold, so that resets, adaptation jumps and the delayed
# synaptic input all act before the end of the run. J has both signs (E -> *, I -> *), so that both
# synaptic time constants matter.

def _gif_params(**kw):
    base = dict(mu=30.0, tau_m=10.0, t_ref=1.0, lambda_0=100.0, Delta_V=2.5, V_T_star=10.0, V_reset=5.0,
                tau_sfa=[40.0], q_sfa=[3.0], J=[[0.5, -1.0], [0.6, -0.8]], p=0.5, tau_syn_ex=3.0, tau_syn_in=6.0,
                delay=1.0)
    base.update(kw)
    return GIFParams((12, 8), **base)


def _gif_builder(**model_kw):
    def build(**ov):
        p, m = _split(ov)
        params = _gif_params()
        if p:
            params = params.replace(**p)
        return GIFNetwork(params, dt=0.5, **model_kw, **m)
    return build


_GIF = dict(cls=GIFNetwork, t_end=10.0, dt=0.5, record=("A", "u_mean", "theta_mean"))
_FIXED_INDEGREE = dict(
    # round(p N) = (6, 4) in-degrees for p = 0.5, 0.52 and 0.48 alike: the same graph (from `seed`)
    values={"params.p": (0.52, 0.48)},
    no_effect={"params.p": "fixed in-degree: p only sets the graph drawn at construction (derived structure, "
                           "re-checked at run time: test_derived_structure_is_rechecked); values that keep "
                           "round(p N) leave the output unchanged, as building does"})


# --- micro / meso: Hawkes ------------------------------------------------------------------

def _hawkes_params(N=(10, 6), **kw):
    base = dict(mu=12.0, tau=8.0, J=-0.2, tau_s=2.0, delay=1.0, transfer="relu", gain=20.0, beta=0.5, h_0=2.0,
                r_max=300.0)
    base.update(kw)
    return HawkesParams(N, **base)


def _hawkes_builder(cls, params_kw=None, **model_kw):
    def build(**ov):
        p, m = _split(ov)
        params = _hawkes_params(**(params_kw or {}))
        if p:
            params = params.replace(**p)
        kw = dict(model_kw)
        kw.update(m)
        return cls(params, dt=0.5, **kw)
    return build


_RELU = dict(no_effect={
    "params.beta": "transfer='relu' does not use beta (covered by the sigmoid cases)",
    "params.r_max": "transfer='relu' does not use r_max (covered by the sigmoid cases)",
})
_SIGMOID = dict(transfer="sigmoid", h_0=10.0)
_SIGMOID_UNUSED = dict(no_effect={"params.gain": "transfer='sigmoid' does not use gain (covered by the relu cases)"})


# --- meso: Schwalger -----------------------------------------------------------------------

def _meso_params(**kw):
    base = dict(mu=30.0, tau_m=10.0, t_ref=1.0, lambda_0=100.0, Delta_V=2.5, V_T_star=10.0, V_reset=5.0,
                tau_sfa=[20.0], q_sfa=[2.0], J=[[0.5, -1.0], [0.6, -0.8]], p=0.5, tau_syn_ex=3.0, tau_syn_in=6.0,
                delay=1.0)
    base.update(kw)
    return GIFParams((40, 20), **base)


_MESO_K = []


def _meso_builder(**model_kw):
    # The history window K is structure sized from the parameter values (history_length: here 100 bins =
    # 5 tau_m / dt). The models built for the comparison get the base model's K explicitly: with a smaller
    # tau_m the automatic window would be shorter — another structure, not the swept model.
    def build(**ov):
        if not _MESO_K:
            _MESO_K.append(SchwalgerMeso(_meso_params(), dt=0.5).K)
        p, m = _split(ov)
        params = _meso_params()
        if p:
            params = params.replace(**p)
        return SchwalgerMeso(params, dt=0.5, history=_MESO_K[0], **model_kw, **m)
    return build


# --- meso / micro: refractory density and renewal networks ------------------------------------
# Two PAR populations with a sigmoidal nu(h), coupled with both signs through a synaptic filter (tau_s = 0 for the second
# source: no filter), 20 steps of 0.5 ms: the dead time (2 ms) ends and the delayed input acts within the run. The age
# window is given (history=20: 10 ms; the PAR hazard is constant after the dead time), so that built models keep it.

def _renewal_builder(cls, **model_kw):
    def build(**ov):
        fam = RenewalFamily(PAR(100.0, ov.pop("family.renewal.Delta", 2.0)),
                            Sigmoid(ov.pop("family.transfer.nu_max", 120.0), ov.pop("family.transfer.theta", 4.0),
                                    ov.pop("family.transfer.delta", 2.0)), "nu")
        kw = dict(tau_h=[10.0, 8.0], J=[[0.02, -0.03], [0.025, -0.01]], tau_s=[3.0, 0.0], h_init=[4.0, 3.0])
        kw.update(ov)
        if cls is RefractoryDensity:
            model_kw.setdefault("history", 20)
        return cls(fam, N=(40, 20), dt=0.5, **kw, **model_kw)
    return build


_RD = dict(cls=RefractoryDensity, t_end=10.0, dt=0.5, record=("A", "A_bar", "h", "mass"), drive=jnp.array([5.0, 4.0]))
# a neuron's dead time matters once it has fired: values far apart, so that the 60 neurons' 20 steps see the change
_EM = dict(cls=Eigenmode, t_end=10.0, dt=0.5, record=("A", "r", "h", "a0"), drive=jnp.array([5.0, 4.0]))
_RN = dict(cls=RenewalNetwork, t_end=10.0, dt=0.5, record=("A", "h"), drive=jnp.array([6.0, 5.0]),
           values={"family.renewal.Delta": (4.0, 1.0), "family.transfer.nu_max": (200.0, 60.0),
                   "family.transfer.theta": (0.0, 6.0), "family.transfer.delta": (4.0, 1.0)})


# --- micro: the Potjans-Diesmann microcircuit (float32, as NEST's PD14 runs are compared in) --------------
# 155 neurons (N_scaling = 0.002), K_scaling = 0.02, dt = 0.1 ms, 20 steps. Initial voltages 'original'
# (-58 +- 10 mV): a fifth of the neurons start above threshold, so the recurrent synapses act within the
# run. I_dc and K_ext are the same for every population, and every synapse has the same weight (uniform fields
# are swept together, see the module docs). The connectivity is drawn once (fixed key) and passed to the
# constructor: a swept per-synapse `weight` is built as that connectivity with the weight replaced.
# max_spikes is given (every neuron, and the thalamic pulse), so that the built models keep the base
# model's buffers.

_MC_DT = 0.1
_MC_CACHE: dict = {}


def _mc_builder(thalamus=False, **model_kw):
    def build(**ov):
        if thalamus not in _MC_CACHE:
            cfg = potjans_diesmann.microcircuit(N_scaling=0.002, K_scaling=0.02, V0="original", thalamus=thalamus)
            # one DC input and one external in-degree for every population: uniform fields, swept together
            cfg = dataclasses.replace(cfg, I_dc=np.full(8, 100.0), K_ext=np.full(8, 40))
            if thalamus:  # the pulse at the start of the run (default: at 700 ms)
                cfg = dataclasses.replace(cfg, th_start=0.0, th_duration=1.5)
            conn = build_connectivity(cfg, _MC_DT, jax.random.PRNGKey(3))
            # one PSC amplitude (pA) for every synapse: a uniform field, swept with the others (see the module docs)
            _MC_CACHE[thalamus] = (cfg, conn._replace(weight=jnp.full_like(conn.weight, 100.0)))
        cfg, conn = _MC_CACHE[thalamus]
        P = len(cfg.N)
        neuron = LIFParams(tuple(int(n) for n in cfg.N), **cfg.neuron)
        n_ov = {k[len("neuron."):]: v for k, v in ov.items() if k.startswith("neuron.")}
        if n_ov:
            neuron = neuron.replace(**n_ov)
        c_ov = {}
        for k, v in ov.items():
            if k.startswith("neuron."):
                continue
            if k == "weight":
                conn = conn._replace(weight=jnp.asarray(v, jnp.float32))
            elif k in ("I_dc", "K_ext", "V0_mean", "V0_sd"):  # per population in the config, per neuron in the model
                c_ov[k] = np.full(P, np.asarray(v).reshape(-1)[0])
            else:  # bg_rate, w_ext, th_rate: scalars of the config
                c_ov[k] = float(np.asarray(v).reshape(()))
        return MicrocircuitNetwork(dataclasses.replace(cfg, **c_ov), dt=_MC_DT, connectivity=conn, neuron=neuron,
                                   max_spikes=256 if thalamus else 160, **model_kw)
    return build


_MC = dict(
    cls=MicrocircuitNetwork, t_end=2.0, dt=_MC_DT, record=("A", "V"),
    # float32 model: a sweep point and the built model run the same float32 operations, which XLA may fuse
    # differently under vmap: float32 round-off, not float64's
    tol=1e-5,
    values={
        "weight": (150.0, 50.0),  # PSC amplitude (pA) of every synapse (base 100 pA)
        # K_ext and bg_rate set the static window of the exact Poisson sampler (bg_window = 7 here); values
        # that keep it avoid a recompilation per built model (another window would give the same numbers)
        "K_ext": (44.0, 36.0), "bg_rate": (7.5, 7.0),
        "I_dc": (150.0, 50.0),  # 0.9x / 0.8x change V by less than 0.1 mV in 2 ms: too close to float32 round-off
        "V0_mean": (-56.0, -54.0), "V0_sd": (8.0, 6.0),
    })
_MC_TH = {**_MC, "values": {**_MC["values"], "th_rate": (100.0, 80.0)}}  # th_rate exists with a thalamus only
_MC_NO_GRAD = r"MicrocircuitNetwork\(surrogate=None\) cannot be differentiated.*surrogate=2\.0"


_MESO = dict(cls=SchwalgerMeso, t_end=10.0, dt=0.5, record=("A", "A_bar", "V_free", "mass"))
_HMESO = dict(cls=HawkesMeso, t_end=10.0, dt=0.5, record=("A", "h", "rate"))

_HARD = "hard (exact) spikes / counts: the output is piecewise constant in the parameters; finiteness only"
_ST = ("straight-through: the gradient is the (biased) surrogate's, not the derivative of the exact forward run; "
       "finiteness only")
_GUMBEL = ("gumbel: the relaxed count is smooth for a fixed key, but its count window moves with floor(mean), a "
           "jump; finiteness only")


def _case_list():
    return [
        # ---- macro (deterministic: central differences to FD_RTOL)
        Case("MPR-one", MontbrioPazoRoxin, _mpr_one, t_end=0.5, dt=0.01, record=("r", "v", "R"), fd="eta_bar",
             default=("sweep",)),
        Case("MPR-EI-tau_d", MontbrioPazoRoxin, _mpr_ei, t_end=0.5, dt=0.01, record=("r", "v", "s", "R"),
             drive=jnp.array([0.5, 0.2]), fd="J"),
        Case("FREEnsemble", FREEnsemble, _fre, t_end=0.5, dt=0.01, record=("r", "v"), fd="J"),
        Case("WilsonCowan", WilsonCowan, _wc, t_end=5.0, dt=0.1, record=("A", "h"), drive=jnp.array([1.0, 0.5]),
             fd="tau"),
        # ---- micro: QIF (hard threshold events)
        Case("QIF-one", build=_qif, **_QIF),
        Case("QIF-EI-gaussian-random-exponential", build=_qif_ei, drive=jnp.array([0.2, 0.1]), default=(),
             **{k: v for k, v in _QIF.items() if k != "values"}, values={"eta_unit": (0.5, -0.5)}),
        # ---- micro: GIF
        Case("GIF-fixed_indegree-exact", build=_gif_builder(), no_fd=_HARD, **_FIXED_INDEGREE, **_GIF),
        Case("GIF-all_to_all-straight_through", build=_gif_builder(connectivity="all_to_all", mode="straight_through"),
             no_fd=_ST, default=(), **_GIF),
        Case("GIF-all_to_all-gaussian", build=_gif_builder(connectivity="all_to_all", mode="gaussian"),
             fd="params.mu", default=(), **_GIF),
        Case("GIF-fixed_indegree-straight_through", build=_gif_builder(mode="straight_through"), no_fd=_ST,
             default=(), **_FIXED_INDEGREE, **_GIF),
        # ---- micro: Hawkes
        Case("HawkesNetwork-bernoulli-relu", HawkesNetwork,
             _hawkes_builder(HawkesNetwork, sampling="bernoulli", h_init=[10.0, 10.0]), t_end=10.0, dt=0.5,
             record=("A", "h", "rate"), no_fd=_HARD, **_RELU),
        Case("HawkesNetwork-poisson-sigmoid-gaussian", HawkesNetwork,
             _hawkes_builder(HawkesNetwork, _SIGMOID, sampling="poisson", mode="gaussian"), t_end=10.0, dt=0.5,
             record=("A", "h", "rate"), fd="params.mu", default=("sweep",), **_SIGMOID_UNUSED),
        # ---- meso: Schwalger (every variant, count law and relaxed mode)
        Case("Schwalger-lambda-gaussian", build=_meso_builder(counts="gaussian"), fd="params.mu", **_MESO),
        Case("Schwalger-mean_field", build=_meso_builder(variant="mean_field"), fd="params.mu", default=(), **_MESO),
        Case("Schwalger-lambda-binomial", build=_meso_builder(), no_fd=_HARD, default=(), **_MESO),
        Case("Schwalger-naive-poisson", build=_meso_builder(variant="naive", counts="poisson"), no_fd=_HARD,
             default=(), **_MESO),
        Case("Schwalger-lambda-binomial-gumbel", build=_meso_builder(mode="gumbel"), no_fd=_GUMBEL, default=(),
             **_MESO),
        Case("Schwalger-lambda-poisson-straight_through",
             build=_meso_builder(counts="poisson", mode="straight_through"), no_fd=_ST, default=(), **_MESO),
        Case("Schwalger-naive-binomial-gaussian_mode", build=_meso_builder(variant="naive", mode="gaussian"),
             fd="params.mu", default=(), **_MESO),
        # ---- meso: Hawkes (every count law)
        Case("HawkesMeso-gaussian-relu", build=_hawkes_builder(HawkesMeso, dict(N=(200, 100)), counts="gaussian"),
             fd="params.mu", **_RELU, **_HMESO),
        Case("HawkesMeso-mean_field-sigmoid", build=_hawkes_builder(HawkesMeso, dict(N=(200, 100), **_SIGMOID),
             counts="mean_field"), fd="params.mu", **_SIGMOID_UNUSED, **_HMESO),
        Case("HawkesMeso-poisson", build=_hawkes_builder(HawkesMeso, dict(N=(200, 100)), counts="poisson"),
             no_fd=_HARD, default=(), **_RELU, **_HMESO),
        Case("HawkesMeso-binomial", build=_hawkes_builder(HawkesMeso, dict(N=(200, 100)), counts="binomial"),
             no_fd=_HARD, default=(), **_RELU, **_HMESO),
        Case("HawkesMeso-binomial-gumbel", build=_hawkes_builder(HawkesMeso, dict(N=(200, 100)), counts="binomial",
             mode="gumbel"), no_fd=_GUMBEL, default=(), **_RELU, **_HMESO),
        # ---- meso: refractory density (every variant); micro: renewal network
        Case("RefractoryDensity-mean_field", build=_renewal_builder(RefractoryDensity), fd="family.transfer.nu_max",
             **_RD),
        Case("RefractoryDensity-lambda-gaussian", build=_renewal_builder(RefractoryDensity, variant="lambda",
             counts="gaussian"), fd="J", default=(), **_RD),
        Case("RefractoryDensity-naive-poisson", build=_renewal_builder(RefractoryDensity, variant="naive",
             counts="poisson"), no_fd=_HARD, default=(), **_RD),
        Case("Eigenmode-mean_field", build=_renewal_builder(Eigenmode, M=1), fd="family.transfer.nu_max", **_EM),
        Case("Eigenmode-langevin-gaussian", build=_renewal_builder(Eigenmode, M=2, variant="langevin"), fd="J",
             default=(), **_EM),
        Case("Eigenmode-langevin-binomial", build=_renewal_builder(Eigenmode, M=1, variant="langevin",
             counts="binomial"), no_fd=_HARD, default=(), **_EM),
        Case("RenewalNetwork-exact", build=_renewal_builder(RenewalNetwork), no_fd=_HARD, **_RN),
        Case("RenewalNetwork-straight_through", build=_renewal_builder(RenewalNetwork, mode="straight_through"),
             no_fd=_ST, default=(), **_RN),
        # ---- micro: the Potjans-Diesmann microcircuit
        # exact mode: its event loop has a run-time length, so differentiation raises and names surrogate=
        Case("Microcircuit-exact", build=_mc_builder(), no_fd=_HARD, grad_error=_MC_NO_GRAD,
             default=("sweep", "grad", "trials"), **_MC),
        Case("Microcircuit-surrogate", build=_mc_builder(surrogate=2.0),
             no_fd="spike-triggered surrogate derivative of a hard threshold (compared with trial-averaged finite "
                   "differences in tests/test_microcircuit_gradients.py); finiteness only", default=(), **_MC),
        Case("Microcircuit-thalamus", build=_mc_builder(thalamus=True), no_fd=_HARD, grad_error=_MC_NO_GRAD,
             default=(), **_MC_TH),
    ]


CASES = _case_list()


def _params(cases, check):
    """One pytest parameter per case; ``check`` in the default part if ``case.default`` says so."""
    out = []
    for c in cases:
        default = check in c.default or (check == "structure" and bool(c.default))
        marks = [] if default else [SLOW]
        if check in c.xfail:
            reason, exc = c.xfail[check] if isinstance(c.xfail[check], tuple) else (c.xfail[check], None)
            marks.append(pytest.mark.xfail(strict=True, reason=reason, raises=exc))
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------

_BASE: dict[str, AbstractModel] = {}


def _base(case: Case) -> AbstractModel:
    if case.id not in _BASE:
        _BASE[case.id] = case.build()
    return _BASE[case.id]


def _get(obj, path: str):
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, (tuple, list)) else getattr(obj, part)
    return obj


def _set(model, path: str, value):
    return eqx.tree_at(lambda m: _get(m, path), model, value)


def _run(case: Case, model, key, **kw):
    res = jaxpop.simulate(model, case.t_end, case.dt, key=key, drive=case.drive, record=case.record, **kw)
    return {k: np.asarray(v) for k, v in res.data.items()}


def _values(case: Case, path: str, field) -> tuple[float, float]:
    if path in case.values:
        return tuple(float(v) for v in case.values[path])
    x = np.asarray(field)
    mean = float(np.mean(x)) if x.size else 0.0
    if abs(mean) <= 1e-9 * float(np.max(np.abs(x), initial=0.0)) or mean == 0.0:
        raise AssertionError(f"{case.id}: parameter {path!r} has mean 0; give its two sweep values in Case.values")
    return 0.9 * mean, 0.8 * mean


def _close(a, b, what, tol=TOL):
    assert a.keys() == b.keys(), what
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.shape == y.shape, f"{what}: {k} shapes {x.shape} != {y.shape}"
        scale = max(1.0, float(np.max(np.abs(y))) if y.size else 1.0)
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol * scale, err_msg=f"{what}: observable {k!r}")


def _differ(a, b, tol=TOL) -> bool:
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        scale = max(1.0, float(np.max(np.abs(y))) if y.size else 1.0)
        if np.any(np.abs(x - y) > 10 * tol * scale):
            return True
    return False


def _built(case: Case, path: str, field, v: float):
    """The model with parameter ``path`` set to the scalar ``v`` (broadcast like the field), built through the
    constructor (or, for leaves without a constructor argument, set with eqx.tree_at on the built model)."""
    full = np.full(np.shape(field), v)
    if path in case.not_built:
        return _set(_base(case), path, jnp.asarray(full))
    return case.build(**{path: full})


def _check_points(case: Case, sw, paths, vals):
    """Point ``2k + j`` of the sweep ``sw`` holds parameter ``paths[k]`` at ``vals[k][j]``: it equals the model built
    with that value, run with the point's key ``fold_in(key, 2k + j)``, and it differs from the model built with the
    other value, run with the same key."""
    base = _base(case)
    fields = parameters(base)
    for k, path in enumerate(paths):
        models = [_built(case, path, fields[path], v) for v in vals[k]]
        for j in range(2):
            i = 2 * k + j
            key_i = jax.random.fold_in(KEY, i)
            point = {name: np.asarray(sw.data[name])[i] for name in case.record}
            _close(point, _run(case, models[j], key_i), f"{case.id}: sweep of {path} = {vals[k][j]} (point {i}) vs "
                                                         "the model built with it", case.tol)
            if j == 0:  # the other value, same key: the parameter must change the output
                differs = _differ(point, _run(case, models[1], key_i), case.tol)
                if path in case.no_effect:
                    assert not differs, f"{case.id}: {path} is listed as without effect, but it changes the output"
                else:
                    assert differs, (f"{case.id}: sweeping {path} over {vals[k]} does not change the output "
                                     "(silently ignored?); if it truly has no effect here, list it in no_effect")


def _uniform(x) -> bool:
    x = np.asarray(x)
    return x.size > 0 and bool(np.all(x == x.reshape(-1)[0]))


# ------------------------------------------------------------------------------------------
# 1. sweeps
# ------------------------------------------------------------------------------------------


def _zipped_grid(case: Case):
    """The uniform parameters of the case, their two values each, and the zipped grid that sweeps them one after
    the other (point 2k + j: field k at its j-th value, every other field at its own value; see the module docs)."""
    fields = parameters(_base(case))
    together = [p for p, x in fields.items() if _uniform(x)]
    vals = [_values(case, p, fields[p]) for p in together]
    grid = {}
    for k, p in enumerate(together):
        col = np.full(2 * len(together), float(np.asarray(fields[p]).reshape(-1)[0]))
        col[2 * k:2 * k + 2] = vals[k]
        grid[p] = col
    return together, vals, grid


@pytest.mark.parametrize("case", _params(CASES, "sweep"))
def test_sweep_matches_build(case):
    """Every parameter swept: points equal the built models, and the parameter has an effect (see module docs)."""
    model = _base(case)
    fields = parameters(model)
    unknown = (set(case.no_effect) | set(case.values) | set(case.not_built)) - set(fields)
    assert not unknown, (f"{case.id}: exemptions / values for unknown parameters {sorted(unknown)}; "
                         f"parameters: {list(fields)}")
    together, vals, grid = _zipped_grid(case)
    alone = [p for p in fields if p not in together]
    assert all(np.size(fields[p]) for p in alone), (
        f"{case.id}: empty parameter(s) {[p for p in alone if not np.size(fields[p])]}: give the case a configuration "
        "where they exist")
    if together:
        sw = jaxpop.sweep(model, grid, case.t_end, case.dt, key=KEY, drive=case.drive, record=case.record,
                          product=False)
        _check_points(case, sw, together, vals)
    for p in alone:
        v = _values(case, p, fields[p])
        sw = jaxpop.sweep(model, {p: np.asarray(v)}, case.t_end, case.dt, key=KEY, drive=case.drive, record=case.record)
        _check_points(case, sw, [p], [v])


# the primary case of every class: the first one whose sweep and gradient checks are in the default part
_PRIMARY = [c for n, c in enumerate(CASES) if {"sweep", "grad"} <= set(c.default)
            and not any(d.cls is c.cls and {"sweep", "grad"} <= set(d.default) for d in CASES[:n])]


@pytest.mark.parametrize("case", _params(_PRIMARY, "slow-only"))
def test_sweep_one_field_at_a_time(case):
    """The literal form, ``sweep(model, {path: [v1, v2]})``, for every parameter of the primary case of every
    class (slow; the other cases sweep all their parameters in the zipped form of test_sweep_matches_build)."""
    model = _base(case)
    for p, x in parameters(model).items():
        v = _values(case, p, x)
        sw = jaxpop.sweep(model, {p: np.asarray(v)}, case.t_end, case.dt, key=KEY, drive=case.drive, record=case.record)
        _check_points(case, sw, [p], [v])


# ------------------------------------------------------------------------------------------
# 2. gradients
# ------------------------------------------------------------------------------------------


def _loss(case: Case):
    def loss(model):
        res = jaxpop.simulate(model, case.t_end, case.dt, key=KEY, drive=case.drive, record=case.record)
        return sum(jnp.mean(v) for v in res.data.values())
    return loss


@pytest.mark.parametrize("case", _params(CASES, "grad"))
def test_gradients(case):
    """Reverse mode through simulate: finite for every parameter; central differences where the output is smooth.

    Tolerance FD_RTOL = 1e-5 for deterministic models and for reparameterised stochastic ones (Gaussian
    noise with a fixed key: the output is a smooth function of the parameters, the noise enters only
    through eps * sqrt(variance)). Central differences with step h = 1e-6 max(1, |x|) have truncation error
    O(h^2) ~ 1e-12 and round-off ~ 1e-16 / h ~ 1e-10, both far below 1e-5; what remains are kinks of
    the forward model (clipping of counts to [0, N], the refractory counter of a Gaussian 'spike' above
    1/2), which a step of 1e-6 crosses only if a value lies within ~1e-6 of one: for the fixed key of this
    test it does not (the check would fail, not pass silently, if it did).
    """
    model = _base(case)
    loss = _loss(case)
    if case.grad_error:  # refused by design: a clear error that says what to do, never JAX's internals
        with pytest.raises(ValueError, match=case.grad_error):
            eqx.filter_jit(eqx.filter_grad(loss))(model)
        return
    grads = eqx.filter_jit(eqx.filter_grad(loss))(model)
    g = parameters(grads)
    assert set(g) == set(parameters(model)), f"{case.id}: gradient paths {sorted(g)} != parameters"
    bad = [p for p, x in g.items() if not np.all(np.isfinite(np.asarray(x)))]
    assert not bad, f"{case.id}: non-finite gradients for {bad}"
    if case.fd is None:
        assert case.no_fd, f"{case.id}: give a parameter for central differences (fd=) or the reason why not (no_fd=)"
        return
    x = parameters(model)[case.fd]
    h = 1e-6 * max(1.0, float(np.max(np.abs(np.asarray(x)))))
    up = float(loss(_set(model, case.fd, x + h)))
    down = float(loss(_set(model, case.fd, x - h)))
    fd = (up - down) / (2 * h)
    ad = float(jnp.sum(g[case.fd]))  # derivative along a uniform shift of every entry
    assert abs(ad) > 0, f"{case.id}: zero gradient for {case.fd}"
    np.testing.assert_allclose(ad, fd, rtol=FD_RTOL, err_msg=f"{case.id}: d loss / d {case.fd}")


# ------------------------------------------------------------------------------------------
# 3. trials
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(CASES, "trials"))
def test_trials(case):
    """Trial i of ``simulate(model, trials=3)`` is the single run with ``split(key, 3)[i]`` (module docs, check 3)."""
    model = _base(case)
    batch = _run(case, model, KEY, trials=3)
    keys = jax.random.split(KEY, 3)
    for i in range(3):
        _close({k: v[i] for k, v in batch.items()}, _run(case, model, keys[i]), f"{case.id}: trial {i}", case.tol)


# ------------------------------------------------------------------------------------------
# 4. structure
# ------------------------------------------------------------------------------------------


def _structure(model):
    """(structural paths: static fields and integer arrays, loose Python floats) of ``model``."""
    static, loose = [], []

    def walk(obj, prefix):
        if isinstance(obj, (jax.Array, np.ndarray)):
            if not jnp.issubdtype(obj.dtype, jnp.inexact):
                static.append(prefix)
            return
        if isinstance(obj, bool) or obj is None or isinstance(obj, str):
            return
        if isinstance(obj, int):
            static.append(prefix)
            return
        if isinstance(obj, float):
            loose.append(prefix)
            return
        if isinstance(obj, (tuple, list)):
            for i, x in enumerate(obj):
                walk(x, f"{prefix}.{i}" if prefix else str(i))
            return
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for f in dataclasses.fields(obj):
                name = f"{prefix}.{f.name}" if prefix else f.name
                if f.metadata.get("static", False):
                    static.append(name)
                else:
                    walk(getattr(obj, f.name), name)

    walk(model, "")
    return static, loose


@pytest.mark.parametrize("case", _params(CASES, "structure"))
def test_structure_is_refused(case):
    model = _base(case)
    static, loose = _structure(model)
    assert not loose, (f"{case.id}: non-static Python float leaves {loose}: sweepable, but neither a parameter "
                       "(an array) nor structure (a static field)")
    assert static
    for path in static:
        with pytest.raises(ValueError, match=re.escape(repr(path)) + " is structure of"):
            jaxpop.sweep(model, {path: [1.0, 2.0]}, case.t_end, case.dt, key=KEY, drive=case.drive, record=case.record)


# ------------------------------------------------------------------------------------------
# 5. derived structure, re-checked at run time
# ------------------------------------------------------------------------------------------


def _derived_cases():
    # the models of two default cases (their compiled simulation is reused)
    meso = next(c for c in CASES if c.id == "Schwalger-lambda-gaussian")
    gif = next(c for c in CASES if c.id == "GIF-fixed_indegree-exact")
    rd = next(c for c in CASES if c.id == "RefractoryDensity-mean_field")
    return [
        # dead time 2 ms -> 10 ms: longer than the age window of 20 bins (10 ms) minus two steps
        pytest.param(rd, "family.renewal.Delta", 5.0, "age window", id="RefractoryDensity-Delta"),
        # q_sfa x 100: the adaptation kernel no longer decays within the window K sized for q_sfa
        pytest.param(meso, "params.q_sfa", 100.0, "history window", id="Schwalger-q_sfa"),
        # p 0.5 -> 0.9: other in-degrees round(p N) than the graph drawn at construction
        pytest.param(gif, "params.p", 0.9 / 0.5, "fixed in-degree graph", id="GIF-p"),
    ]


@pytest.mark.parametrize("case, path, factor, message", _derived_cases())
def test_derived_structure_is_rechecked(case, path, factor, message):
    model = _base(case)
    old = _get(model, path)
    _run(case, model, KEY)  # the model as built runs
    bad = _set(model, path, old * factor)
    with pytest.raises(ValueError, match=message):
        _run(case, bad, KEY)
    # inside the jitted, vmapped sweep the values are traced: a runtime error, never a silent result. The grid
    # is the case's zipped grid of test_sweep_matches_build (whose compiled sweep is reused) with `path` at the
    # bad value in every point.
    together, _, grid = _zipped_grid(case)
    assert path in together
    grid[path] = np.full_like(grid[path], float(np.max(np.asarray(old))) * factor)
    with pytest.raises((RuntimeError, ValueError), match=message):
        jaxpop.sweep(model, grid, case.t_end, case.dt, key=KEY, drive=case.drive, record=case.record, product=False)


# ------------------------------------------------------------------------------------------
# 6. completeness
# ------------------------------------------------------------------------------------------

_PACKAGES = ("jaxpop.micro", "jaxpop.meso", "jaxpop.macro")


def _model_classes():
    for name in _PACKAGES:
        pkg = importlib.import_module(name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=name + "."):
            importlib.import_module(info.name)
    found, todo = set(), [AbstractModel]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith(tuple(p + "." for p in _PACKAGES)) and not inspect.isabstract(sub):
                found.add(sub)
    return found


def test_every_model_has_a_case():
    """Every concrete model class of jaxpop.micro / meso / macro has a case (jaxpop.reproduce is out of scope)."""
    covered = {c.cls for c in CASES}
    missing = sorted(f"{c.__module__}.{c.__qualname__}" for c in _model_classes() - covered)
    assert not missing, f"models without a contract case in tests/test_model_contract.py: {missing}"
    # every class has a case whose every check is in the default part
    default = {c.cls for c in _PRIMARY}
    assert covered <= default, sorted(c.__name__ for c in covered - default)
