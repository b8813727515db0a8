"""How often, and how fast, the CSMS retries certificate deliveries and renewals."""

from __future__ import annotations

from datetime import timedelta

from policies.backoff import doubling_delay
from policies.model import Decision, DeliveryPolicy, RenewalPolicy

# Doubling stops here: a station offline for a week is served on its next connection anyway.
_MAX_DELAY = timedelta(hours=6)


def retry_delay(policy: DeliveryPolicy, attempt: int) -> timedelta:
    """Wait after the ``attempt``-th failed try (1-based): backoff_seconds, doubled each time."""
    return timedelta(seconds=doubling_delay(attempt, free=0, base=policy.backoff_seconds,
                                            maximum=_MAX_DELAY.total_seconds()))


def may_try_again(policy: DeliveryPolicy, attempts: int) -> Decision:
    """Whether a call tried ``attempts`` times already may be tried once more."""
    if attempts < policy.max_attempts:
        return Decision.allow()
    return Decision.refuse("delivery.max_attempts",
                           f"gave up after {attempts} attempts ([delivery] max_attempts = {policy.max_attempts})")


def renewal_spacing(policy: RenewalPolicy) -> timedelta:
    """Time between two scheduled renewals across the fleet ([renewal] max_per_minute)."""
    if policy.max_per_minute <= 0:
        return timedelta(0)
    return timedelta(seconds=60 / policy.max_per_minute)
