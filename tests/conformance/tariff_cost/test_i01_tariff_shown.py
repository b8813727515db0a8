"""I01 — Show the driver's tariff: an Accepted AuthorizeResponse carries the station's tariff as
the idTokenInfo's personalMessage (the station shows it before charging). The token's verdict
is block C's; here a stand-in accepts every token, so that the case tests what block I adds to
the answer of whatever decides it."""

from __future__ import annotations

import pytest
from core_support import ID_TOKEN, booted_station, set_tariff
from ocpp_support import open_csms

from api.csms.routes import ROUTES
from api.csms.tariff_cost.handlers import showing_tariff


async def _accepts_everyone(_call, payload):
    return {"idTokenInfo": {"status": "Accepted"}}


async def _refuses_everyone(_call, payload):
    return {"idTokenInfo": {"status": "Blocked"}}


@pytest.fixture
async def accepting_csms(sqlite_pki):
    async for made in open_csms(sqlite_pki, routes={**ROUTES, "Authorize": showing_tariff(_accepts_everyone)}):
        yield made


@pytest.fixture
async def refusing_csms(sqlite_pki):
    async for made in open_csms(sqlite_pki, routes={**ROUTES, "Authorize": showing_tariff(_refuses_everyone)}):
        yield made


async def test_i01_the_tariff_is_shown_to_an_accepted_driver(accepting_csms):
    csms = accepting_csms
    station = await booted_station(csms, "I01")
    no_tariff = await station.call("Authorize", {"idToken": ID_TOKEN})
    assert no_tariff == {"idTokenInfo": {"status": "Accepted"}}

    await set_tariff(csms, None, price_per_kwh="0.30", flat_fee="1.00")
    default = await station.call("Authorize", {"idToken": ID_TOKEN})
    assert default["idTokenInfo"]["personalMessage"] == {
        "format": "UTF8", "content": "Tariff: 0.30 EUR/kWh + 1.00 EUR per session"}

    await set_tariff(csms, "I01", price_per_kwh="0.25", price_per_minute="0.05")
    own = await station.call("Authorize", {"idToken": ID_TOKEN})
    assert own["idTokenInfo"]["personalMessage"]["content"] == "Tariff: 0.25 EUR/kWh + 0.05 EUR/min"


async def test_i01_no_tariff_for_a_refused_driver(refusing_csms):
    csms = refusing_csms
    station = await booted_station(csms, "I01-R")
    await set_tariff(csms, None, price_per_kwh="0.30")
    assert await station.call("Authorize", {"idToken": ID_TOKEN}) == {"idTokenInfo": {"status": "Blocked"}}
