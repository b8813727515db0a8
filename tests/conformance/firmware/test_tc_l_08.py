"""TC_L_08_CSMS — Secure firmware update, verification failed: the station downloads the image
(HTTPS or FTP), verifies its signature, then reports InstallVerificationFailed; the CSMS keeps every
status under the requestId and the update ends there (no reboot)."""

from __future__ import annotations

import pytest
from firmware_support import PROTOCOLS, failing_case
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_08_verification_failed(files_csms, protocol):
    await failing_case(files_csms, "TC-L-08", protocol, "verification", [
        "Downloading", "Downloaded", "SignatureVerified", "InstallVerificationFailed"])
