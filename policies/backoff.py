"""Doubling back-off: one rule for password guesses, token guesses and delivery retries."""

from __future__ import annotations

# 2**32 times any base is beyond every cap; stopping the exponent there keeps the float finite.
_MAX_DOUBLINGS = 32


def doubling_delay(failures: int, *, free: int, base: float, maximum: float) -> float:
    """Seconds to wait after the ``failures``-th failure: none while at most ``free`` failures,
    then ``base`` doubled for each further one, never more than ``maximum``."""
    beyond = failures - free
    if beyond <= 0:
        return 0.0
    return min(maximum, base * 2 ** min(beyond - 1, _MAX_DOUBLINGS))
