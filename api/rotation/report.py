"""What a rotation pass did (or, in a dry run, would do), per station and per step.

A pass ends with a Report; the REST API returns it and the scripts print it. The report is not
a log the next pass reads: every pass decides again from the database and the stations'
inventories (see runner.py), so a pass that was cut off leaves nothing to reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.core.refusal import Conflict
from storage.types import utcnow

# Outcomes of one step for one station (or for the CSMS itself).
DONE = "done"          # this pass made the change and saw it take effect
ALREADY = "already"    # the state already was what the step wants; nothing was sent
PLANNED = "planned"    # dry run: what the step would do now
PENDING = "pending"    # not possible now (offline, waiting for the station, out of time): a re-run picks it up
FAILED = "failed"      # the station answered, but not as needed; a re-run tries again
REFUSED = "refused"    # a rule stops it; an operator must act (the detail says how)
SKIPPED = "skipped"    # not applicable here (e.g. no listener in this process to reload)

# Outcomes that leave work for a later pass.
UNFINISHED = frozenset({PENDING, FAILED, REFUSED, PLANNED})


@dataclass(frozen=True)
class Progress:
    station: str | None      # None: a step of the CSMS itself (stage, switch, reload, retire)
    step: str
    outcome: str
    detail: str = ""


@dataclass
class Report:
    rotation: str                          # station-certificates | server-certificate | csms-root
    dry_run: bool
    # The resolved inputs a re-run must repeat to continue the same rotation (e.g. issued_before).
    parameters: dict[str, Any] = field(default_factory=dict)
    progress: list[Progress] = field(default_factory=list)
    phase: str = ""                        # where the rotation stands when the pass ends
    complete: bool = False                 # nothing is left to do
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None

    def add(self, progress: Progress) -> Progress:
        self.progress.append(progress)
        return progress

    def extend(self, records: list[Progress]) -> None:
        self.progress.extend(records)

    @property
    def pending(self) -> list[str]:
        """Stations with a step left for a later pass (their last record is unfinished)."""
        last: dict[str, str] = {}
        for record in self.progress:
            if record.station is not None:
                last[record.station] = record.outcome
        return sorted(station for station, outcome in last.items() if outcome in UNFINISHED)

    def counts(self) -> dict[str, int]:
        tally: dict[str, int] = {}
        for record in self.progress:
            tally[record.outcome] = tally.get(record.outcome, 0) + 1
        return tally

    def finish(self, *, phase: str, complete: bool) -> "Report":
        self.phase, self.complete, self.finished_at = phase, complete and not self.dry_run, utcnow()
        return self


class RotationRefused(Conflict):
    """The rotation cannot run in the current state; ``rule`` names why, the message what to do."""
