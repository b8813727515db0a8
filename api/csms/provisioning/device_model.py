"""The device model a station reported, kept (B07/B08 NotifyReport; B06/B05 answers), and the
report requests with the parts each brought.

A NotifyReport part is stored in a few statements whatever its size: the report row, the part,
then the variables and their attributes as two multi-row upserts keyed on ``var_key`` (the
variable's whole identity in one column), so a FullInventory of thousands of variables costs
no read per variable. What a station can make us keep is bounded ([device_model] policy):
variables per station (beyond: stored up to the limit, the report marked truncated with the rule
``device_model.max_variables``), parts per report, reports per station. Every role reads the
device model: the value of a variable whose name holds "password" is never kept, whichever
message brings it (the message log redacts the same ones).

Parts: seqNo counts from 0 and the last one has tbc false. A part whose seqNo is below one
already received is out of order; once the last came, any seqNo up to it never received is
missing (lost), and the report is ``incomplete`` until it comes — every part is acknowledged
either way, since a CALLERROR would only make the station send it again. Where a part falls is
decided by the one stream tracker (api/csms/report_streams.py ``place``); this keeps every
seqNo received, so it can list the missing ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from api.csms.report_streams import SUBJECT_MAX, Placed, json_within, place
from api.ocpp.message_log.redaction import secret_variable
from policies.model import DeviceModelPolicy
from policies.provisioning import Characteristics
from storage.device_model import (
    COMPLETE,
    INCOMPLETE,
    NO_EVSE,
    REFUSED,
    REQUESTED,
    STREAMING,
    TRUNCATED,
    DeviceAttribute,
    DeviceReport,
    DeviceReportPart,
    DeviceVariable,
    StationOnboarding,
)
from storage.driver import DriverWrite
from storage.types import utcnow

STATION_KIND = "station"   # a report whose request we have no record of
MAX_VARIABLES_RULE = "device_model.max_variables"
_MISSING_SHOWN = 100       # seqNos listed in device_report.missing; the count says the rest
# Attribute value column and schema limit (VariableAttributeType.value is string[..2500]).
_VALUE_MAX = 2500


@dataclass(frozen=True)
class VariableId:
    component: str
    variable: str
    component_instance: str = ""
    evse_id: int = NO_EVSE
    connector_id: int = NO_EVSE
    variable_instance: str = ""

    @classmethod
    def of(cls, component: Mapping[str, Any], variable: Mapping[str, Any]) -> VariableId:
        evse = component.get("evse") or {}
        return cls(component["name"], variable["name"], component.get("instance") or "",
                   evse.get("id", NO_EVSE), evse.get("connectorId", NO_EVSE) if evse else NO_EVSE,
                   variable.get("instance") or "")

    @property
    def key(self) -> str:
        # Names are identifierString (no "|"), so the key is unambiguous.
        return (f"{self.component}|{self.component_instance}|{self.evse_id}|{self.connector_id}|"
                f"{self.variable}|{self.variable_instance}")

    @property
    def name(self) -> str:
        """As a person writes it: Component[instance].Variable[instance], with its EVSE."""
        text = self.component + (f"[{self.component_instance}]" if self.component_instance else "")
        if self.evse_id != NO_EVSE:
            text += f"(evse {self.evse_id}" + (f" connector {self.connector_id}" if self.connector_id != NO_EVSE
                                               else "") + ")"
        return f"{text}.{self.variable}" + (f"[{self.variable_instance}]" if self.variable_instance else "")


_ATTRIBUTE_COLUMNS = ("value", "mutability", "persistent", "constant", "source", "updated_at")
_VALUE_COLUMNS = ("value", "source", "updated_at")


@cache
def _upsert(dialect: str, model: Any, columns: tuple[str, ...] | None) -> DriverWrite:
    """INSERT … ON CONFLICT on the model's key, updating ``columns`` (None: do nothing), built once
    per dialect: building it cost more than running it, part after part of a report. Run by the
    driver (storage/driver.py): through SQLAlchemy, each of a part's rows cost more in parameter
    processing than SQLite took to store it."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model.__table__)
    key = ["station_id", "var_key"] + (["type"] if model is DeviceAttribute else [])
    if columns is None:
        return DriverWrite(statement.on_conflict_do_nothing(index_elements=key))
    return DriverWrite(statement.on_conflict_do_update(index_elements=key,
                                                       set_={column: statement.excluded[column] for column in columns}))


def _execute_upsert(session: Session, model: Any, columns: tuple[str, ...] | None, rows: list[dict]) -> None:
    if rows:
        _upsert(session.get_bind().dialect.name, model, columns).run(session.connection(), rows)


# --- report requests ----------------------------------------------------------------------------

def report_requested(session: Session, station_id: str, requested_by: str, kind: str, request_id: int,
                     report_base: str | None, criteria: Mapping[str, Any] | None) -> None:
    """A GetBaseReport/GetReport about to leave: its row (a requestId used again starts afresh)."""
    old = session.execute(select(DeviceReport.id).where(DeviceReport.station_id == station_id,
                                                     DeviceReport.request_id == request_id)).scalar_one_or_none()
    if old is not None:
        _drop_reports(session, [old])
    session.add(DeviceReport(station_id=station_id, request_id=request_id, kind=kind, report_base=report_base,
                             criteria=json_within(criteria, SUBJECT_MAX) if criteria else None,
                             requested_by=requested_by))


def report_answered(session: Session, station_id: str, request_id: int, status: str) -> None:
    """The station's answer to the request: only Accepted is followed by NotifyReports (which
    may have come before the answer was recorded: the status they set stays)."""
    values: dict[str, Any] = {"answer": status, "updated_at": utcnow()}
    if status != "Accepted":
        values["status"] = REFUSED
    session.execute(update(DeviceReport).where(DeviceReport.station_id == station_id,
                                               DeviceReport.request_id == request_id).values(**values))


def report_unanswered(session: Session, station_id: str, request_id: int, outcome: str) -> None:
    session.execute(update(DeviceReport).where(DeviceReport.station_id == station_id,
                                               DeviceReport.request_id == request_id,
                                               DeviceReport.status == REQUESTED)
                    .values(error=f"no answer: {outcome}", updated_at=utcnow()))


def _prune_reports(session: Session, station_id: str, keep: int) -> None:
    stale = session.execute(select(DeviceReport.id).where(DeviceReport.station_id == station_id)
                         .order_by(DeviceReport.id.desc()).offset(keep)).scalars().all()
    if stale:
        _drop_reports(session, stale)


def _drop_reports(session: Session, ids: Iterable[int]) -> None:
    ids = list(ids)
    session.execute(delete(DeviceReportPart).where(DeviceReportPart.report_id.in_(ids)))
    session.execute(delete(DeviceReport).where(DeviceReport.id.in_(ids)))


def forget_device(session: Session, station_id: str) -> None:
    """A station deleted: what its device reported (variables, report streams) and how far its
    onboarding went. A station registered again under the identity is a new device: the old
    model would give it the old limits (boot interval, message sizes, value checks), count the
    old variables against its own, and skip its onboarding as done."""
    _drop_reports(session, session.execute(select(DeviceReport.id).where(
        DeviceReport.station_id == station_id)).scalars())
    for table in (DeviceAttribute, DeviceVariable, StationOnboarding):
        session.execute(delete(table).where(table.station_id == station_id))


# --- NotifyReport parts -------------------------------------------------------------------------

_REPORT = DeviceReport.__table__
_PART = DeviceReportPart.__table__
_VARIABLE = DeviceVariable.__table__
_STREAM_COLUMNS = ("id", "status", "parts", "entries", "last_seq_no", "out_of_order", "missing", "error")
# Built once, as the upserts are: a FullInventory is hundreds of parts in a row, and building
# these statements part after part cost more than running them.
_COUNT_VARIABLES = select(func.count()).select_from(_VARIABLE).where(_VARIABLE.c.station_id == bindparam("station_id"))
# One read for the stream's state and the count that holds the variables' bound.
_READ_STREAM = select(*(_REPORT.c[name] for name in _STREAM_COLUMNS),
                      _COUNT_VARIABLES.scalar_subquery().label("variables")).where(
    _REPORT.c.station_id == bindparam("station_id"), _REPORT.c.request_id == bindparam("request_id"))
_INSERT_REPORT = insert(_REPORT)
_UPDATE_REPORT = update(_REPORT).where(_REPORT.c.id == bindparam("report_pk"))  # SET: the columns given
_INSERT_PART = insert(_PART)
_PARTS_RECEIVED = select(_PART.c.seq_no).where(_PART.c.report_id == bindparam("report_id"))


def store_report_part(session: Session, station_id: str, payload: Mapping[str, Any],
                      policy: DeviceModelPolicy) -> None:
    """One NotifyReport part: its place in the stream, then what it reports. Core statements on
    the session's connection: a FullInventory is hundreds of parts in a row, and the ORM's unit
    of work cost more than the statements themselves."""
    connection = session.connection()
    which = {"station_id": station_id, "request_id": payload["requestId"]}
    row = connection.execute(_READ_STREAM, which).mappings().first()
    if row is None:
        now = utcnow()
        connection.execute(_INSERT_REPORT, {
            **which, "kind": STATION_KIND, "status": STREAMING, "parts": 0, "entries": 0, "out_of_order": False,
            "requested_by": f"station:{station_id}", "requested_at": now, "updated_at": now})
        row = connection.execute(_READ_STREAM, which).mappings().one()
    report = dict(row)
    variables = report.pop("variables")
    if report["parts"] == 0:
        # Pruned as a report starts to stream: requests (an operator's or onboarding's) and
        # reports a station sends unasked alike.
        _prune_reports(session, station_id, policy.max_reports_per_station)
    entries = payload.get("reportData") or []
    _record_part(connection, report, payload["seqNo"], bool(payload.get("tbc", False)), len(entries), policy)
    if entries:
        stored = store_entries(session, station_id, entries, report["id"], policy, variables)
        if stored < len(entries):
            report["status"] = TRUNCATED
            report["error"] = (f"{MAX_VARIABLES_RULE}: the station reports more than the "
                               f"{policy.max_variables_per_station} variables kept per station; "
                               f"{len(entries) - stored} of part {payload['seqNo']} not stored")
    report["entries"] += len(entries)
    report_pk = report.pop("id")
    connection.execute(_UPDATE_REPORT, {**report, "report_pk": report_pk, "updated_at": utcnow()})


def _record_part(connection: Any, report: dict[str, Any], seq_no: int, tbc: bool, entries: int,
                 policy: DeviceModelPolicy) -> None:
    # In order so far (none missing, none out of order), the parts received are 0 … n-1: no read.
    in_order = report["missing"] is None and not report["out_of_order"]
    received = range(report["parts"]) if in_order else \
        set(connection.execute(_PARTS_RECEIVED, {"report_id": report["id"]}).scalars())
    placed = place(seq_no, tbc, received, report["last_seq_no"], shown=_MISSING_SHOWN)
    if placed.duplicate:
        report["out_of_order"] = True    # sent twice: its first copy counts
        return
    if len(received) >= policy.max_parts_per_report:
        report["error"] = (f"device_model.max_parts: more than {policy.max_parts_per_report} parts; "
                           "the rest are stored but not tracked")
        return
    if placed.out_of_order:
        report["out_of_order"] = True
    connection.execute(_INSERT_PART, {"report_id": report["id"], "seq_no": seq_no, "tbc": tbc, "entries": entries,
                                      "received_at": utcnow()})
    report["parts"] = len(received) + 1
    report["last_seq_no"] = placed.last_seq_no
    report["missing"] = _missing_text(placed)
    if report["status"] != TRUNCATED:
        report["status"] = STREAMING if placed.last_seq_no is None else INCOMPLETE if placed.missing_count else COMPLETE


def _missing_text(placed: Placed) -> str | None:
    if not placed.missing_count:
        return None
    shown = ",".join(str(seq) for seq in placed.missing)
    more = placed.missing_count - len(placed.missing)
    text = shown + (f" (+{more} more)" if more else "")
    # seqNos are 32-bit: a hundred of them may pass the column's 1000 characters.
    return text if len(text) <= 1000 else f"{shown[:900].rsplit(',', 1)[0]} (+ more: {placed.missing_count} in all)"


def store_entries(session: Session, station_id: str, entries: list[Mapping[str, Any]], report_id: int | None,
                  policy: DeviceModelPolicy, count: int | None = None) -> int:
    """ReportDataType entries upserted; how many were kept (the rest would pass the limit)."""
    now = utcnow()
    variables: dict[str, dict[str, Any]] = {}
    attributes: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        ident = VariableId.of(entry["component"], entry["variable"])
        key = ident.key
        variables[key] = _variable_row(station_id, ident, entry.get("variableCharacteristics") or {}, report_id, now)
        secret = secret_variable(ident.variable)
        for attribute in entry.get("variableAttribute") or []:
            kind = attribute.get("type", "Actual")
            attributes[(key, kind)] = {
                "station_id": station_id, "var_key": key, "type": kind,
                "value": None if secret else attribute.get("value"),
                "mutability": attribute.get("mutability", "ReadWrite"),
                "persistent": attribute.get("persistent", False), "constant": attribute.get("constant", False),
                "source": "report", "updated_at": now}
    allowed = _within_limit(session, station_id, list(variables), policy.max_variables_per_station, count)
    if len(allowed) < len(variables):
        variables = {key: variables[key] for key in allowed}
        attributes = {k: v for k, v in attributes.items() if k[0] in allowed}
    _execute_upsert(session, DeviceVariable, _VARIABLE_COLUMNS, list(variables.values()))
    _execute_upsert(session, DeviceAttribute, _ATTRIBUTE_COLUMNS, list(attributes.values()))
    return len(variables)


def _variable_row(station_id: str, ident: VariableId, chars: Mapping[str, Any], report_id: int | None,
                  now: Any) -> dict[str, Any]:
    return {"station_id": station_id, "var_key": ident.key, "component": ident.component,
            "component_instance": ident.component_instance, "evse_id": ident.evse_id,
            "connector_id": ident.connector_id, "variable": ident.variable,
            "variable_instance": ident.variable_instance, "unit": chars.get("unit"),
            "data_type": chars.get("dataType"), "min_limit": finite_number(chars.get("minLimit")),
            "max_limit": finite_number(chars.get("maxLimit")), "values_list": chars.get("valuesList"),
            "supports_monitoring": chars.get("supportsMonitoring"), "report_id": report_id, "updated_at": now}


_VARIABLE_COLUMNS = ("unit", "data_type", "min_limit", "max_limit", "values_list", "supports_monitoring",
                     "report_id", "updated_at")


def finite_number(value: Any) -> float | None:
    """A JSON number as a double, or None. Schemas say "number" only: NaN and Infinity (which
    JSON parsers let through) and an integer beyond a double (JSON allows 400 digits) are no
    value a column or a comparison can use. A reported minLimit or maxLimit that is one is
    stored as no limit: a NotifyReport part is acknowledged whole."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _within_limit(session: Session, station_id: str, keys: list[str], limit: int, count: int | None) -> list[str]:
    """The keys that may be stored: all that exist already, and new ones while room is left.
    ``count``: the station's variables now, when the caller read it already."""
    connection = session.connection()
    if count is None:
        count = connection.execute(_COUNT_VARIABLES, {"station_id": station_id}).scalar_one()
    if count + len(keys) <= limit:
        return keys    # the usual case: no need to know which are new
    known = set(connection.execute(select(_VARIABLE.c.var_key).where(_VARIABLE.c.station_id == station_id,
                                                                     _VARIABLE.c.var_key.in_(keys))).scalars())
    room = max(0, limit - count)
    allowed = []
    for key in keys:
        if key in known:
            allowed.append(key)
        elif room > 0:
            allowed.append(key)
            room -= 1
    return allowed


# --- answers to GetVariables / SetVariables -----------------------------------------------------

def keep_get_variables_answer(session: Session, station_id: str, request: Mapping[str, Any],
                              answer: Mapping[str, Any], _asked_by: str) -> None:
    """Accepted values read (B06) become the stored attribute values: only of variables that
    were asked for, so the rows an answer can add are as many as the operator's request named."""
    asked = {VariableId.of(e["component"], e["variable"]).key for e in request.get("getVariableData", [])}
    _keep_values(session, station_id, [
        (r["component"], r["variable"], r.get("attributeType", "Actual"), r.get("attributeValue"))
        for r in answer.get("getVariableResult", [])
        if r.get("attributeStatus") == "Accepted" and r.get("attributeValue") is not None
        and VariableId.of(r["component"], r["variable"]).key in asked], "GetVariables")


def keep_set_variables_answer(session: Session, station_id: str, request: Mapping[str, Any],
                              answer: Mapping[str, Any], _asked_by: str) -> None:
    """Values the station Accepted (B05) are its values now; RebootRequired ones wait for the
    reboot and are not stored as what it uses."""
    asked = {VariableId.of(e["component"], e["variable"]).key + "|" + e.get("attributeType", "Actual"):
             e["attributeValue"] for e in request.get("setVariableData", [])}
    written = []
    for result in answer.get("setVariableResult", []):
        kind = result.get("attributeType", "Actual")
        value = asked.get(VariableId.of(result["component"], result["variable"]).key + "|" + kind)
        if result.get("attributeStatus") == "Accepted" and value is not None:
            written.append((result["component"], result["variable"], kind, value))
    _keep_values(session, station_id, written, "SetVariables")


def _keep_values(session: Session, station_id: str, values: list[tuple[Any, Any, str, str]], source: str) -> None:
    # A password written (A01 goes its own way, but a station may echo one) is never kept.
    values = [v for v in values if not secret_variable(v[1].get("name", ""))]
    if not values:
        return
    now = utcnow()
    entries = [{"component": component, "variable": variable} for component, variable, _, _ in values]
    # Variables the station never reported get a row without characteristics.
    _execute_upsert(session, DeviceVariable, None, [
        _variable_row(station_id, VariableId.of(e["component"], e["variable"]), {}, None, now) for e in entries])
    rows = {}
    for component, variable, kind, value in values:
        key = VariableId.of(component, variable).key
        rows[(key, kind)] = {"station_id": station_id, "var_key": key, "type": kind,
                             "value": value[:_VALUE_MAX], "source": source, "updated_at": now}
    _execute_upsert(session, DeviceAttribute, _VALUE_COLUMNS, list(rows.values()))


# --- what the CSMS reads before it sends ---------------------------------------------------------

def message_limits(session: Session, station_id: str, action: str) -> tuple[int | None, int | None]:
    """(ItemsPerMessage, BytesPerMessage) the station reported for ``action`` (GetVariables or
    SetVariables: DeviceDataCtrlr's variables of that instance), None where it did not."""
    rows = session.execute(select(DeviceVariable.variable, DeviceAttribute.value).join(
        DeviceAttribute, (DeviceAttribute.station_id == DeviceVariable.station_id)
        & (DeviceAttribute.var_key == DeviceVariable.var_key) & (DeviceAttribute.type == "Actual"))
        .where(DeviceVariable.station_id == station_id, DeviceVariable.component == "DeviceDataCtrlr",
               DeviceVariable.variable.in_(("ItemsPerMessage", "BytesPerMessage")),
               DeviceVariable.variable_instance == action)).all()
    found = {variable: _positive(value) for variable, value in rows}
    return found.get("ItemsPerMessage"), found.get("BytesPerMessage")


def reported_value(session: Session, station_id: str, component: str, variable: str) -> str | None:
    """The Actual value the station reported for ``component.variable`` (no instances, no
    EVSE), or None when it reported none."""
    key = VariableId.of({"name": component}, {"name": variable}).key
    return session.execute(select(DeviceAttribute.value).where(
        DeviceAttribute.station_id == station_id, DeviceAttribute.var_key == key,
        DeviceAttribute.type == "Actual")).scalar_one_or_none()


def _positive(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else 0
    except ValueError:
        return None
    return number if number > 0 else None


def characteristics(session: Session, station_id: str,
                    wanted: Iterable[tuple[VariableId, str]]) -> dict[tuple[str, str], Characteristics]:
    """What the station reported about each (variable, attribute type) asked; absent: nothing."""
    wanted = list(wanted)
    keys = list({ident.key for ident, _ in wanted})
    if not keys:
        return {}
    found = {row.var_key: row for row in session.execute(select(DeviceVariable).where(
        DeviceVariable.station_id == station_id, DeviceVariable.var_key.in_(keys))).scalars()}
    attributes = {(row.var_key, row.type): row.mutability for row in session.execute(select(DeviceAttribute).where(
        DeviceAttribute.station_id == station_id, DeviceAttribute.var_key.in_(keys))).scalars()}
    known = {}
    for ident, kind in wanted:
        row = found.get(ident.key)
        if row is not None:
            known[(ident.key, kind)] = Characteristics(row.data_type, row.min_limit, row.max_limit, row.values_list,
                                                       attributes.get((ident.key, kind)))
    return known


# --- browsing -------------------------------------------------------------------------------------

def browse(session: Session, station_id: str, *, component: str | None = None, variable: str | None = None,
           attribute_type: str | None = None, evse_id: int | None = None, limit: int = 100,
           after_id: int | None = None) -> list[tuple[DeviceVariable, list[DeviceAttribute]]]:
    query = select(DeviceVariable).where(DeviceVariable.station_id == station_id)
    if component is not None:
        query = query.where(DeviceVariable.component == component)
    if variable is not None:
        query = query.where(DeviceVariable.variable == variable)
    if evse_id is not None:
        query = query.where(DeviceVariable.evse_id == evse_id)
    if after_id is not None:
        query = query.where(DeviceVariable.id > after_id)
    if attribute_type is not None:
        query = query.where(select(DeviceAttribute.var_key).where(
            DeviceAttribute.station_id == station_id, DeviceAttribute.var_key == DeviceVariable.var_key,
            DeviceAttribute.type == attribute_type).exists())
    rows = session.execute(query.order_by(DeviceVariable.id).limit(limit)).scalars().all()
    by_key: dict[str, list[DeviceAttribute]] = {row.var_key: [] for row in rows}
    if by_key:
        for attribute in session.execute(select(DeviceAttribute).where(
                DeviceAttribute.station_id == station_id, DeviceAttribute.var_key.in_(list(by_key)))
                .order_by(DeviceAttribute.type)).scalars():
            by_key[attribute.var_key].append(attribute)
    return [(row, by_key[row.var_key]) for row in rows]


def reports(session: Session, station_id: str, limit: int = 50) -> list[DeviceReport]:
    return list(session.execute(select(DeviceReport).where(DeviceReport.station_id == station_id)
                             .order_by(DeviceReport.id.desc()).limit(limit)).scalars())


def report(session: Session, station_id: str, request_id: int) -> DeviceReport | None:
    return session.execute(select(DeviceReport).where(DeviceReport.station_id == station_id,
                                                   DeviceReport.request_id == request_id)).scalar_one_or_none()
