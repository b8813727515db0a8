"""No cyclic garbage collection in a load generator while it measures.

A load generator keeps thousands of stations' objects; a full collection walks them all with the
event loop stopped (10-73 ms measured with ``gc.callbacks`` in scripts/bench_relay.py and
scripts/gateway_load.py). Calls due meanwhile then go out late and together, and the pause is
read as the server's latency. The servers do their own (api/server.py: start-up objects frozen,
a raised threshold); what a measured phase leaves for the collector is collected after it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    gc.collect()   # before the measurement, not during it
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
