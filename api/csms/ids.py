"""Ids the CSMS draws for its own requests (remoteStartId, ReserveNow's id).

Drawn at random from OCPP's positive 31-bit integers rather than counted: any door on any node
draws one without a shared counter to lock; the table that keeps them has a unique (station, id)
constraint, and a collision is refused by name and drawn again.
"""

from __future__ import annotations

import secrets

from storage.types import INT32_MAX

ID_MAX = INT32_MAX


def draw_id() -> int:
    return secrets.randbelow(ID_MAX) + 1
