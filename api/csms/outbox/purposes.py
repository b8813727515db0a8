"""What each purpose of outbox row is, and which outcomes end it: the one place that decides.

An answer (CALLRESULT) always ends a row: the purpose's kind acts on it. A call that never
reached the station (not connected, still queued behind other calls when its time ran out)
always waits for the next chance and costs no attempt. A row left "sent" by a process that
died is always sent again once its lease is abandoned (storage/leases.py): nobody knows
whether the station got it, and only an answer ends a row. What differs per purpose is the
rest, declared here:

- ``callerror``: the station answered CALLERROR. Retried, or final (the row fails at once).
- ``no_answer``: the call reached the station but no answer came in time (or the connection
  closed first). Retried, or final.

A retried outcome counts one attempt and waits ``[delivery] backoff_seconds`` doubling
(policies/delivery.py); after ``[delivery] max_attempts`` the row fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

CERTIFICATE_DELIVERY = "certificate_delivery"   # CertificateSigned with a chain we signed (A02/A03)
CERTIFICATE_RENEWAL = "certificate_renewal"     # TriggerMessage Sign…Certificate (A02 renewal round)
OPERATOR_JOB = "operator"                       # an operator's call stored as a job (POST …/calls, async)
OPERATOR_PART = "operator_part"                 # one message of an operator's job sent in several
# The job those parts make up (api/csms/split_jobs.py): polled by the operator, never sent
# itself, so it has no kind and no endings.
OPERATOR_SPLIT = "operator_split"

RETRY, FINAL = "retry", "final"


@dataclass(frozen=True)
class Endings:
    callerror: str
    no_answer: str

    def __post_init__(self) -> None:
        if {self.callerror, self.no_answer} - {RETRY, FINAL}:
            raise ValueError(f"an outcome is {RETRY!r} or {FINAL!r}")


ENDINGS: Mapping[str, Endings] = MappingProxyType({
    # A station busy (flash full, rebooting) answers CALLERROR or nothing; it gets the chain later.
    CERTIFICATE_DELIVERY: Endings(callerror=RETRY, no_answer=RETRY),
    CERTIFICATE_RENEWAL: Endings(callerror=RETRY, no_answer=RETRY),
    # The operator asked for this call and polls its outcome: a CALLERROR is the station's
    # answer and is shown as is. No answer is retried like a process that died while the call
    # was out: either way nobody knows whether the station acted, and the job is delivered at
    # least once until the station answers.
    OPERATOR_JOB: Endings(callerror=FINAL, no_answer=RETRY),
    OPERATOR_PART: Endings(callerror=FINAL, no_answer=RETRY),
})
