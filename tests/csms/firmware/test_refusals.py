"""Block L's refusals: bad input is refused by name and leaves nothing half-done — a firmware
whose signature does not verify, whose signing certificate chains to no root ChargeCA knows or to
none the station holds, a revoked one, a file changed on disk; and UpdateFirmware on the typed
command and the generic call takes the same checked workflow."""

from __future__ import annotations

import base64
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from firmware_support import (
    Manufacturer,
    chargeca_image,
    image_bytes,
    manufacturer,
    manufacturer_image,
    ready,
    sent,
    station_holding,
    update,
    updates,
    upload,
)
from ocpp_support import files_csms  # noqa: F401 - fixture
from pki_fixtures import Issued, leaf_builder
from sqlmodel import func, select
from trust_anchor_support import pem

from api.core.audit import Actor, run_in_session
from api.csms.firmware import registry
from api.csms.provisioning import device_model
from api.csms.security.authority_service import revoke_certificate
from storage.audit import AuditEntry
from storage.file_transfer import FileGrant
from storage.firmware import FirmwareImage, FirmwareUpdate


def _count(csms, table) -> int:
    return run_in_session(csms.ctx, lambda s: s.exec(select(func.count()).select_from(table)).one())


def _stored_files(csms) -> list[str]:
    directory = csms.ctx.settings.data_dir / "firmware"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _audited(csms, action: str) -> list[AuditEntry]:
    return run_in_session(csms.ctx, lambda s: list(s.exec(select(AuditEntry).where(AuditEntry.action == action))))


async def test_an_image_whose_signature_does_not_verify_is_refused_and_nothing_kept(files_csms):
    maker = manufacturer()
    await manufacturer_image(files_csms, maker)  # the root is known now, and one good image
    before = _stored_files(files_csms)
    data = image_bytes()

    refused = await upload(files_csms, data, signature=maker.sign(b"another image"),
                           certificate=maker.signer.certificate)

    assert refused.status_code == 422 and refused.json()["rule"] == "firmware.signature.invalid", refused.text
    assert _count(files_csms, FirmwareImage) == 1 and _stored_files(files_csms) == before
    assert _audited(files_csms, "firmware.image.add")[-1].outcome == "refused"


async def test_an_image_under_an_unknown_root_is_refused_with_the_fix(files_csms):
    maker = manufacturer(serial=0x7101)
    data = image_bytes(1000)

    refused = await upload(files_csms, data, signature=maker.sign(data), certificate=maker.signer.certificate)

    assert refused.status_code == 422 and refused.json()["rule"] == "firmware.root.unknown"
    assert "POST /api/v1/firmware/roots" in refused.json()["error"]
    assert _count(files_csms, FirmwareImage) == 0 and _stored_files(files_csms) == []


async def test_unsigned_or_half_signed_uploads_are_refused(files_csms):
    data = image_bytes(1000)
    unsigned = await upload(files_csms, data)
    both = await upload(files_csms, data, signature="c2ln", sign=True)
    garbled = await files_csms.rest.post("/api/v1/firmware/images", params={"name": "x", "version": "1"},
                                         content=data, headers={**files_csms.headers("officer"),
                                                                "X-Firmware-Signature": "c2ln",
                                                                "X-Firmware-Signing-Certificate": "%%%"})
    operator = await upload(files_csms, data, sign=True, role="operator")

    assert (unsigned.status_code, unsigned.json()["rule"]) == (422, "firmware.image.unsigned")
    assert (both.status_code, both.json()["rule"]) == (422, "firmware.image.sign")
    assert (garbled.status_code, garbled.json()["rule"]) == (422, "firmware.certificate.format")
    assert operator.status_code == 403
    assert _count(files_csms, FirmwareImage) == 0 and _stored_files(files_csms) == []


async def test_uploads_refused_before_registering_are_audited_too(files_csms, monkeypatch):
    """Too large, empty, a garbled certificate header, a name with control characters: refused by
    name like the others, and, unlike before, each in the audit log as the officer's refused
    ``firmware.image.add``."""
    maker = manufacturer(serial=0x7201)
    class OneMegabyte(registry.Stager):   # [firmware] max_image_mb = 1, without a 256 MiB body
        def __init__(self, ctx) -> None:
            super().__init__(ctx)
            self.limit = 1024 * 1024
    monkeypatch.setattr(registry, "Stager", OneMegabyte)
    large, data = image_bytes(1024 * 1024 + 1), image_bytes(1000)

    too_large = await upload(files_csms, large, signature=maker.sign(large), certificate=maker.signer.certificate)
    empty = await upload(files_csms, b"", sign=True)
    garbled = await files_csms.rest.post("/api/v1/firmware/images", params={"name": "x", "version": "1"},
                                         content=data, headers={**files_csms.headers("officer"),
                                                                "X-Firmware-Signature": "c2ln",
                                                                "X-Firmware-Signing-Certificate": "%%%"})
    # Shown in the CLI's tab-separated listing: a newline splits its row, an escape drives the terminal.
    control = await upload(files_csms, data, sign=True, name="fw\n7\tx\x1b[2J")
    version = await upload(files_csms, data, sign=True, version="1.0\r\n")

    assert (too_large.status_code, too_large.json()["rule"]) == (413, "firmware.image.size"), too_large.text
    assert (empty.status_code, empty.json()["rule"]) == (422, "firmware.image.empty"), empty.text
    assert (garbled.status_code, garbled.json()["rule"]) == (422, "firmware.certificate.format")
    assert garbled.json()["field"] == "header.x-firmware-signing-certificate"
    assert (control.status_code, control.json()["rule"]) == (422, "firmware.image.name"), control.text
    assert (version.status_code, version.json()["rule"]) == (422, "firmware.image.version"), version.text
    assert _count(files_csms, FirmwareImage) == 0 and _stored_files(files_csms) == []
    entries = _audited(files_csms, "firmware.image.add")
    assert [e.outcome for e in entries] == ["refused"] * 5 and len({e.actor for e in entries}) == 1
    assert [json.loads(e.detail)["rule"] for e in entries] == [
        "firmware.image.size", "firmware.image.empty", "firmware.certificate.format", "firmware.image.name",
        "firmware.image.version"]


async def test_a_station_without_the_root_is_refused_by_name_and_nothing_sent(files_csms):
    image, _root = await chargeca_image(files_csms)
    station = await station_holding(files_csms, "FW-NOROOT", None)
    await files_csms.rest.post("/api/v1/stations/FW-NOROOT/installed-certificates/refresh",
                               headers=files_csms.headers("officer"))

    refused = await update(files_csms, "FW-NOROOT", image["id"])

    assert refused.status_code == 422 and refused.json()["rule"] == "firmware.root_not_installed", refused.text
    assert "install that root" in refused.json()["error"] and "ManufacturerRootCertificate" in refused.json()["error"]
    assert sent(station) == [] and _count(files_csms, FirmwareUpdate) == 0 and _count(files_csms, FileGrant) == 0
    assert _audited(files_csms, "firmware.update")[-1].outcome == "refused"


async def test_a_revoked_manufacturer_certificate_is_refused_before_sending(files_csms):
    maker = manufacturer(serial=0x7201)
    image = await manufacturer_image(files_csms, maker)
    station = await station_holding(files_csms, "FW-REVOKED", pem(maker.root.certificate))
    revoked = await files_csms.rest.post("/api/v1/firmware/revocations",
                                         json={"certificate": pem(maker.signer.certificate), "reason": "leaked"},
                                         headers=files_csms.headers("officer"))
    assert revoked.status_code == 201, revoked.text

    refused = await update(files_csms, "FW-REVOKED", image["id"])

    assert refused.status_code == 422 and refused.json()["rule"] == "firmware.certificate.revoked"
    assert sent(station) == [] and _count(files_csms, FirmwareUpdate) == 0


async def test_a_file_changed_on_disk_is_not_sent(files_csms):
    station, image = await ready(files_csms, "FW-CHANGED")
    path = files_csms.ctx.settings.data_dir / "firmware" / f"{image['sha256']}.bin"
    path.write_bytes(os.urandom(image["size"]))

    refused = await update(files_csms, "FW-CHANGED", image["id"])

    assert refused.status_code == 422 and refused.json()["rule"] == "firmware.image.changed"
    assert sent(station) == []


async def test_the_generic_call_and_the_typed_command_take_the_checked_workflow(files_csms):
    station, image = await ready(files_csms, "FW-DOORS")
    given = {"location": "https://elsewhere.test/fw.bin", "retrieveDateTime": "2020-01-01T00:00:00Z",
             "signingCertificate": image["signing_certificate"], "signature": image["signature"]}

    raw = await files_csms.post_call("FW-DOORS", "UpdateFirmware", {"requestId": 5, "firmware": given},
                                     role="officer")
    await station.firmware.finished.wait()
    typed = await files_csms.rest.post("/api/v1/stations/FW-DOORS/commands/UpdateFirmware", json={
        "request_id": 6, "firmware": {"location": "ftp://elsewhere.test/fw.bin", "retrieve_date_time":
                                      "2020-01-01T00:00:00Z", "signing_certificate": image["signing_certificate"],
                                      "signature": image["signature"]}}, headers=files_csms.headers("officer"))
    as_job = await files_csms.post_call("FW-DOORS", "UpdateFirmware", {"requestId": 7, "firmware": given},
                                        role="officer", mode="async")
    forged = await files_csms.post_call("FW-DOORS", "UpdateFirmware", {"requestId": 8, "firmware": {
        **given, "signature": base64.b64encode(b"x" * 64).decode()}}, role="officer")

    assert raw.status_code == 200 and raw.json()["response"]["status"] == "Accepted", raw.text
    assert typed.status_code == 200 and typed.json()["result"]["status"] == "Accepted", typed.text
    first, second = sent(station)
    # Our own one-time locations, not the ones typed; the configured certificate and signature.
    assert first["firmware"]["location"].startswith("https://127.0.0.1:")
    assert second["firmware"]["location"].startswith("ftp://")
    assert {first["firmware"]["signature"], second["firmware"]["signature"]} == {image["signature"]}
    assert len(await updates(files_csms, "FW-DOORS")) == 2
    assert (as_job.status_code, as_job.json()["rule"]) == (422, "call.sync_only")
    assert (forged.status_code, forged.json()["rule"]) == (422, "call.firmware.unregistered")
    assert len(sent(station)) == 2


async def test_chargeca_s_own_signing_certificate_revoked_stops_its_images(files_csms):
    station, image = await ready(files_csms, "FW-OURS")
    serial = format(x509.load_pem_x509_certificate(image["signing_certificate"].encode()).serial_number, "x")
    revoke_certificate(files_csms.ctx, Actor("cli:test", "officer"), serial, "keyCompromise")

    refused = await update(files_csms, "FW-OURS", image["id"])
    resigned = await upload(files_csms, image_bytes(1000), sign=True)

    assert refused.status_code == 422 and refused.json()["rule"] == "firmware.certificate.revoked"
    assert sent(station) == []
    # A new build gets a new signing certificate under the same manufacturer root.
    assert resigned.status_code == 201, resigned.text
    assert resigned.json()["signing_certificate"] != image["signing_certificate"]
    assert resigned.json()["root_id"] == image["root_id"]


async def test_a_signing_key_the_key_policy_refuses_is_refused(files_csms):
    maker = manufacturer(serial=0x7301)
    await manufacturer_image(files_csms, maker)
    key = ec.generate_private_key(ec.SECP521R1())
    weak = Issued(leaf_builder(maker.root, key, serial=0x7302).sign(maker.root.key, hashes.SHA256()), key)
    data = image_bytes(1000)

    refused = await upload(files_csms, data, signature=Manufacturer(maker.root, weak).sign(data),
                           certificate=weak.certificate)

    assert refused.status_code == 422 and refused.json()["rule"] == "firmware.key.ec_curve", refused.text
    assert _count(files_csms, FirmwareImage) == 1


async def test_an_ftp_only_station_is_not_sent_an_https_location(files_csms):
    station, image = await ready(files_csms, "FW-FTP-ONLY")
    run_in_session(files_csms.ctx, lambda session: device_model.store_entries(session, "FW-FTP-ONLY", [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "FileTransferProtocols"},
        "variableAttribute": [{"type": "Actual", "value": "FTP,FTPS", "mutability": "ReadOnly"}]}], None,
        files_csms.ctx.policy.device_model))

    refused = await update(files_csms, "FW-FTP-ONLY", image["id"], protocol="https")

    assert refused.status_code == 422 and refused.json()["rule"] == "files.protocol_unsupported", refused.text
    assert sent(station) == [] and _count(files_csms, FirmwareUpdate) == 0


async def test_dates_that_make_no_update_are_refused_by_name_audited_and_nothing_sent(files_csms):
    # An install before the download was sent; a retrieve time beyond any download grant was a
    # 409 blaming the file service ("a grant lasts … at most 7 days").
    station, image = await ready(files_csms, "FW-DATES")
    before = await update(files_csms, "FW-DATES", image["id"], retrieve_date_time="2030-06-01T00:00:00Z",
                          install_date_time="2030-01-01T00:00:00Z")
    assert before.status_code == 422 and before.json()["rule"] == "firmware.date", before.text
    assert "installDateTime" in before.json()["error"]
    far = await update(files_csms, "FW-DATES", image["id"], retrieve_date_time="2030-06-01T00:00:00Z")
    assert far.status_code == 422 and far.json()["rule"] == "firmware.date", far.text
    assert "7 days" in far.json()["error"]
    assert sent(station) == [] and _count(files_csms, FirmwareUpdate) == 0 and _count(files_csms, FileGrant) == 0
    assert [e.outcome for e in _audited(files_csms, "firmware.update")] == ["refused", "refused"]
