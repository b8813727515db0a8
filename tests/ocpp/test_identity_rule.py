"""One identity rule: every identity registration accepts is admitted, and every identity admission
refuses is refused at registration too (policies/names.check_station_identity behind both doors).

Before, REST and the CLI registered identities with control characters that admission then refused
at every connect: a station that could be created but never connect.
"""

from __future__ import annotations

import random
from pathlib import Path
from urllib.parse import quote

import pytest
from migrated_template import migrate_for_test

from api.core.audit import Actor
from api.core.context import Context
from api.core.refusal import Refusal
from api.ocpp.admission.filters import Refused, parse_identity
from api.operations.stations import add_station
from storage.db import make_engine

pytestmark = pytest.mark.fast

EDGES = ["CP_1", "A" * 48, "A" * 49, "Ä" * 48, "Ä" * 49, "CP:1", "CP/1", "CP\x001", "CP\x07", "CP\x7f",
         "CP\u2028", "CP\u200b", "Zürich-7", "CP 1", " ", "CP%1", "CP%2F1", "CP?1", "CP#1", "CP\\1", "..",
         "\ud800", "ocpp", "*", "CP\t1", "🚗"]
# Characters each kind of rule is about, plus ordinary ones, for random identities.
ALPHABET = "AZaz09-_.*:/ %?#\\\x00\x01\x1f\x7f\x85\u00a0\u2028\u200bÄ€🚗"


def _random_identities(count: int) -> list[str]:
    pick = random.Random(10)  # fixed: a failure names an identity that fails again
    return ["".join(pick.choice(ALPHABET) for _ in range(pick.choice([0, 1, 2, 5, 47, 48, 49])))
            for _ in range(count)]


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    url = f"sqlite:///{tmp_path / 'identities.db'}"
    migrate_for_test(url)
    engine = make_engine(url)
    yield Context(settings=None, engine=engine, keystore=None, policy=None, urls=None)  # type: ignore[arg-type]
    engine.dispose()


def _registers(ctx: Context, identity: str) -> bool:
    try:
        # Profile 3: no password to hash, so hundreds of registrations stay fast.
        add_station(ctx, Actor("test:officer", "officer"), identity, security_profile=3)
    except Refusal as refused:
        if refused.rule == "station.exists":   # its twin in another case is registered: the identity is one
            return True
        assert refused.rule == "station.id", (identity, refused.rule)
        return False
    return True


def _admitted(identity: str) -> bool:
    # What a station puts in its URL: its identity, percent-encoded (a lone surrogate cannot be
    # UTF-8 and arrives as bytes admission cannot decode).
    path = "/ocpp/" + quote(identity, safe="", errors="surrogatepass")
    try:
        return parse_identity(path) == identity
    except Refused as refused:
        assert refused.rule.startswith("identity."), (identity, refused.rule)
        return False


def test_registration_and_admission_accept_the_same_identities(ctx):
    identities = list(dict.fromkeys(EDGES + _random_identities(300)))
    disagree = [(identity, registered, admitted) for identity in identities
                if (registered := _registers(ctx, identity)) != (admitted := _admitted(identity))]
    assert disagree == []
    # The sample holds both outcomes, or the comparison above proves nothing.
    assert {_admitted(identity) for identity in identities} == {True, False}


def test_a_control_character_is_refused_at_registration_with_the_rule_admission_names(ctx):
    with pytest.raises(Refusal) as refused:
        add_station(ctx, Actor("test:officer", "officer"), "CP\x07BELL", security_profile=3)
    assert refused.value.rule == "station.id" and refused.value.details["check"] == "identity.characters"
    with pytest.raises(Refused) as at_the_door:
        parse_identity("/ocpp/CP%07BELL")
    assert at_the_door.value.rule == "identity.characters"
