"""Security events stay within the [security_events] retention policy (issue 9 item 25), on
real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from api.core import periodic
from api.csms.security.retention import run_security_event_retention
from policies.loader import PolicyError, default_policy_data, parse_policy
from policies.model import Policy, SecurityEventPolicy
from storage.db import session_scope
from storage.security_events import SecurityEvent
from storage.types import utcnow

pytestmark = pytest.mark.fast


@dataclass(frozen=True)
class Ctx:
    """What the retention task uses of the service's context."""

    engine: Engine
    policy: Policy


def add_events(engine: Engine, count: int, *, age: timedelta = timedelta(0), tag: str = "new") -> None:
    received = utcnow() - age
    with session_scope(engine) as session:
        session.add_all(SecurityEvent(source="csms", type="UnknownChargingStation", occurred_at=received,
                                      received_at=received, tech_info=f"{tag} {n}") for n in range(count))


def remaining(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.exec(select(SecurityEvent.tech_info).order_by(SecurityEvent.id)))


async def test_old_events_and_those_beyond_max_rows_are_pruned_periodically(engine):
    add_events(engine, 5, age=timedelta(days=40), tag="old")
    add_events(engine, 12)
    ctx = Ctx(engine, Policy(security_events=SecurityEventPolicy(retention_days=30, max_rows=10)))
    task = asyncio.create_task(run_security_event_retention(ctx, interval=0.05))
    try:
        async with asyncio.timeout(10):
            while len(remaining(engine)) != 10:
                await asyncio.sleep(0.02)
        assert remaining(engine) == [f"new {n}" for n in range(2, 12)]   # the newest ten
        add_events(engine, 3, tag="later")   # the next pass keeps the table at max_rows
        async with asyncio.timeout(10):
            while "new 2" in remaining(engine):
                await asyncio.sleep(0.02)
        assert len(remaining(engine)) == 10 and remaining(engine)[-1] == "later 2"
    finally:
        task.cancel()


async def test_the_first_pass_waits_out_the_boot_storm_a_start_brings(engine, monkeypatch):
    add_events(engine, 3, age=timedelta(days=40), tag="old")
    ctx = Ctx(engine, Policy(security_events=SecurityEventPolicy(retention_days=30)))
    monkeypatch.setattr(periodic, "FIRST_PASS_AFTER", 0.5)
    task = asyncio.create_task(run_security_event_retention(ctx))   # the policy's interval: an hour
    try:
        await asyncio.sleep(0.3)
        assert len(remaining(engine)) == 3, "nothing deleted at start"
        async with asyncio.timeout(10):
            while remaining(engine):
                await asyncio.sleep(0.02)
    finally:
        task.cancel()


def test_retention_figures_are_policy():
    policy = parse_policy({"security_events": {"retention_days": 7}}, default_policy_data())
    assert policy.security_events.retention_days == 7 and policy.security_events.max_rows == 1_000_000
    with pytest.raises(PolicyError, match=r"\[security_events\]"):
        parse_policy({"security_events": {"max_rows": 0}}, default_policy_data())
