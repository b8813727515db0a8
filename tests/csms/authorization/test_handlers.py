"""Block C handler called directly (no socket): Authorize. No token registry exists yet, so
every token is Unknown except NoAuthorization (TC_C_02 accepts Unknown)."""

from __future__ import annotations

import pytest
from fake_connection import FakeStation

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("token_type", ["ISO14443", "eMAID", "Central", "MacAddress"])
async def test_a_token_nobody_registered_is_unknown(ctx, token_type):
    answer = await FakeStation(ctx, "CS-1").send("Authorize", {"idToken": {"idToken": "04A1B2C3", "type": token_type}})
    assert answer == {"idTokenInfo": {"status": "Unknown"}}


async def test_no_authorization_needs_none(ctx):
    answer = await FakeStation(ctx, "CS-1").send("Authorize", {"idToken": {"idToken": "", "type": "NoAuthorization"}})
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
