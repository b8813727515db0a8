"""TC_L_09_CSMS — Secure firmware update, installation failed: the station downloads (HTTPS or
FTP), verifies, starts installing and reports InstallationFailed; the CSMS keeps every
status under the requestId and the update ends there (no reboot)."""

from __future__ import annotations

import pytest
from firmware_support import PROTOCOLS, failing_case
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_09_installation_failed(files_csms, protocol):
    await failing_case(files_csms, "TC-L-09", protocol, "installation", [
        "Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallationFailed"])
