"""Session set-up shared by the xdist workers and the notebook kernels they start.

The suite's simulations are small: its time goes mostly into XLA compilation. Two settings, inherited by the workers
and the notebook kernels through the environment, cut that:

* XLA's CPU backend at optimisation level 0 (``XLA_FLAGS``, unless set by the caller): compiling is faster, running
  slower, results equal up to round-off (far below every tolerance of the suite). Measured: test_model_contract +
  test_spikes 100 s instead of 131 s (user CPU 159 s instead of 222 s). The notebook kernels and the demo's
  interpreter inherit it too: with XLA's default level they run faster alone (``jaxpop demo --quick`` 21 s instead of
  47 s) but the suite slower (660 s instead of 600 s), since they no longer share compiled programs with the workers.
* One on-disk JAX compilation cache per test run: the suite compiles many identical programs in different tests, in
  both workers and in the notebook kernels, and the in-memory cache of a process misses those built from new
  closures. The directory is created by the controlling process (workers and kernels inherit it through the
  environment) and removed at its end. Measured: test_model_contract + test_spikes 131 s instead of 150 s.
"""

import os
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

_OWN_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _OWN_CACHE = tempfile.mkdtemp(prefix="jaxpop-tests-jit-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def pytest_unconfigure(config):
    if _OWN_CACHE is not None and not hasattr(config, "workerinput"):
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
