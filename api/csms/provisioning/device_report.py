"""The one value of a station's reports (NotifyReport, B07/B08) kept on its station row as well
as in the device model (api/csms/provisioning/device_model.py), for the workflow that reads it:

* SecurityCtrlr.CertificateEntries maxLimit → Station.certificate_capacity, how many certificates
  the station can store (api/csms/security/trust_anchors.py does not send an install beyond it). A
  maxLimit is a variable characteristic, which GetVariables cannot ask for (it reads attributes),
  so a report — GetBaseReport FullInventory, or a GetReport naming the variable — is the only
  source. A report that lists the variable without a maxLimit says nothing about the capacity:
  the one stored stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlmodel import Session

from api.csms.provisioning.device_model import finite_number
from storage.stations import Station
from storage.types import INT32_MAX, utcnow

CERTIFICATE_ENTRIES = ("SecurityCtrlr", "CertificateEntries")
# The column is a 32-bit integer; a station that can store more has, for us, no limit worth checking.
_CAPACITY_MAX = INT32_MAX


def certificate_capacity(report_data: Iterable[dict[str, Any]]) -> int | None:
    """The maxLimit of SecurityCtrlr.CertificateEntries in one NotifyReport part, or None."""
    for entry in report_data:
        if (entry["component"]["name"], entry["variable"]["name"]) == CERTIFICATE_ENTRIES:
            return _count(entry.get("variableCharacteristics", {}).get("maxLimit"))
    return None


def _count(limit: Any) -> int | None:
    # A fraction or a negative is a station's bug too, not a capacity.
    number = finite_number(limit)
    if number is None or number < 0 or number != int(number):
        return None
    return min(int(number), _CAPACITY_MAX)


def store_certificate_capacity(session: Session, station_id: str, capacity: int) -> None:
    session.execute(update(Station).where(Station.id == station_id)
                    .values(certificate_capacity=capacity, updated_at=utcnow()),
                    execution_options={"synchronize_session": False})
