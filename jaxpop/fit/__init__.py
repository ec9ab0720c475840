"""Fitting population models to data (:mod:`jaxpop.fit`).

* :class:`PopulationData` — spike counts per bin and population, from a jaxpop result, arrays,
  spike trains or NEST's ``spike_recorder`` output;
* :func:`log_likelihood` — the exact likelihood of observed counts under a mesoscopic model with a
  count law (teacher-forced: the model runs on the observed past), differentiable in every parameter;
* :class:`Parameters` with :class:`Real`, :class:`Positive`, :class:`Bounded` and :class:`Free` —
  which fields are fitted, in which coordinates, tied or masked, with which prior;
* :func:`trajectory_loss`, :func:`statistics_loss` and :func:`activity_statistics` — losses for
  free-running comparisons (a firing-rate model's trajectory against rates; activity statistics of a
  model simulated with relaxed counts), objectives of :func:`fit` where there is no likelihood;
* :func:`fit` — global stage, vmapped multi-start Adam, L-BFGS polish, Laplace standard errors
  (:class:`FitResult`).

The package imports the engine and the model interface; no model imports it.
"""

from .data import PopulationData
from .likelihood import check_count_model, log_likelihood, log_likelihood_terms, log_likelihood_window
from .losses import activity_statistics, statistics_loss, trajectory_loss
from .optimize import FitResult, fit, laplace
from .params import Bounded, Free, Parameters, Positive, Real

__all__ = ["PopulationData", "log_likelihood", "log_likelihood_terms", "log_likelihood_window", "check_count_model",
           "Parameters", "Real", "Positive", "Bounded", "Free", "fit", "FitResult", "laplace", "trajectory_loss",
           "statistics_loss", "activity_statistics"]
