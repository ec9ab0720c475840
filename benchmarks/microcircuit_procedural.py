"""Does procedural connectivity pay off for the full-scale microcircuit? (issue 4, part 2)

Procedural connectivity regenerates each event's synapse (target, weight, delay) from the key and the synapse
index instead of storing it: memory drops from 7 B per synapse (2.1 GB at full scale) to the per-(neuron,
population) offsets (2.5 MB), at the price of counter-based random numbers for every event. This script times,
per time step of the full-scale circuit (~120,000 synaptic events at the reference rates, dt = 0.1 ms):

* stored: gathering target (uint16), weight (float32) and delay (uint8) of the events' synapses from arrays of
  2.99e8 synapses, in runs of ~3,900 contiguous synapses (one per spiking neuron), as MicrocircuitNetwork does;
* procedural: threefry-2x32 words for the same events (target by multiply-high, weight and delay by the inverse
  normal CDF; the truncations of the model would add rejection on top).

    python benchmarks/microcircuit_procedural.py
"""

import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32

import jaxpop  # noqa: F401  (64-bit types on)
from _machine import cpu_model

Q, E, RUN = 298_880_970, 120_000, 3_900  # synapses, events per step, synapses per spiking neuron
STEPS = 200


def _time(f, *arrays):
    """ms per step of ``STEPS`` steps of ``f(arrays)(carry, i)``; the arrays are arguments (closed-over arrays would
    become constants of the executable)."""
    g = jax.jit(lambda *a: jax.lax.scan(f(*a), jnp.float32(0), jnp.arange(STEPS))[0])
    jax.block_until_ready(g(*arrays))
    t = time.perf_counter()
    jax.block_until_ready(g(*arrays))
    return (time.perf_counter() - t) / STEPS * 1e3


def main():
    key = jax.random.key_data(jax.random.PRNGKey(0)).astype(jnp.uint32)
    target = jnp.zeros(Q, jnp.uint16)
    weight = jnp.ones(Q, jnp.float32)
    delay = jnp.ones(Q, jnp.uint8)
    n_runs = E // RUN

    def stored(target, weight, delay):
        return lambda c, i: _stored_step(c, i, target, weight, delay)

    def _stored_step(c, i, target, weight, delay):
        starts = jax.random.randint(jax.random.fold_in(jax.random.PRNGKey(1), i), (n_runs,), 0, Q - RUN)
        s = (starts[:, None] + jnp.arange(RUN)).reshape(-1)
        return c + target[s].astype(jnp.float32).sum() + weight[s].sum() + delay[s].astype(jnp.float32).sum(), None

    def procedural(key):
        return lambda c, i: _procedural_step(c, i, key)

    def _procedural_step(c, i, key):
        s = jnp.arange(n_runs * RUN, dtype=jnp.uint32) * 7919 + i.astype(jnp.uint32)
        w = threefry_2x32(key, jnp.concatenate([s, s ^ jnp.uint32(0x9E3779B9), s ^ jnp.uint32(0x7F4A7C15)]))
        m = s.size
        tgt = ((w[:m].astype(jnp.uint64) * 21915) >> 32).astype(jnp.float32)
        z = jax.scipy.special.ndtri((w[m:2 * m].astype(jnp.float32) + 0.5) * 2.0 ** -32)
        zd = jax.scipy.special.ndtri((w[2 * m:].astype(jnp.float32) + 0.5) * 2.0 ** -32)
        return c + tgt.sum() + z.sum() + zd.sum(), None

    t_stored = _time(stored, target, weight, delay)
    t_proc = _time(procedural, key)
    out = dict(events_per_step=n_runs * RUN, stored_ms_per_step=t_stored, procedural_ms_per_step=t_proc,
               stored_bytes=Q * 7, procedural_bytes=(77_169 + 902) * 8 * 4,
               machine={"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                        "load_average": os.getloadavg()})
    print(f"{n_runs * RUN} events per step: stored {t_stored:.2f} ms, procedural {t_proc:.2f} ms "
          f"(memory {Q * 7 / 1e9:.2f} GB vs {out['procedural_bytes'] / 1e6:.1f} MB)")
    with open("benchmarks/results/microcircuit_procedural.json", "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
