"""Fitting population models to data (:mod:`jaxpop.fit`).

* :class:`PopulationData` — spike counts per bin and population, from a jaxpop result, arrays,
  spike trains or NEST's ``spike_recorder`` output;
* :func:`log_likelihood` — the exact likelihood of observed counts under a mesoscopic model with a
  count law (teacher-forced: the model runs on the observed past), differentiable in every parameter.

The package imports the engine and the model interface; no model imports it.
"""

from .data import PopulationData
from .likelihood import check_count_model, log_likelihood, log_likelihood_terms

__all__ = ["PopulationData", "log_likelihood", "log_likelihood_terms", "check_count_model"]
