"""CSMS root rollover in the PKI: stage, cross-sign, activate, switch, retire — each step safe to
run again, each refusal saying why; checked with OpenSSL and the SP3 verifier, on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timezone

import pytest
from conftest import TEST_ORG
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from csr_factory import make_csr
from pki_fixtures import openssl
from sqlmodel import select

from api.core.context import open_context
from api.core.settings import load_settings, write_config
from pki.authorities import active_authority, authority_by_id, ca_name, new_authority, trusted_authorities
from pki.delivery import csms_anchors, identify_anchor, inventory_matches, served_anchor_hashes, station_inventory
from pki.hashdata import certificate_hash_data
from pki.issuance import sign_station_csr
from pki.lint import errors, lint_certificate
from pki.pkcs11_keystore import Pkcs11KeyStore
from pki.rollover import (
    RolloverError,
    activate_generation,
    cross_certificate,
    retire_generation,
    rollover_status,
    root_to_install,
    stage_next_generation,
    stations_on_generation,
    switch_server_certificates,
)
from pki.v2g import ensure_v2g_ca, v2g_authority
from policies.refusal import Refusal
from policies.trust_anchor import check_delete, check_installable_rollover_root, check_installable_root
from storage.certificates import CaRole, CertificateAuthority, CertKind, CertStatus, IssuedCertificate
from storage.db import session_scope
from storage.stations import InstalledCertificate, Station


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _write(directory, filename: str, *pems: str) -> str:
    path = directory / filename
    path.write_text("".join(pems))
    return str(path)


def _verify(*args) -> str:
    """`openssl verify`; returns its output, the test asserts on the outcome."""
    result = openssl("verify", *args)
    return f"rc={result.returncode} {result.stdout}{result.stderr}"


class Steps:
    """The calls a rotation script makes, each in its own transaction as a script would."""

    def __init__(self, pki, tmp_path) -> None:
        self.ctx = pki.ctx
        self.hierarchy = pki.hierarchy
        self.tmp_path = tmp_path

    def scope(self):
        return session_scope(self.ctx.engine)

    def common(self):
        return dict(policy=self.ctx.policy, urls=self.ctx.urls)

    def add_stations(self, *station_ids: str) -> None:
        with self.scope() as session:
            for station_id in station_ids:
                session.add(Station(id=station_id, security_profile=3))

    def sign(self, station_id: str):
        with self.scope() as session:
            return sign_station_csr(session, self.ctx.keystore, station_id=station_id,
                                    csr_pem=make_csr(station_id)[0], **self.common())

    def stage(self):
        with self.scope() as session:
            return stage_next_generation(session, self.ctx.keystore, **self.common())

    def cross(self, old_generation: int = 1, new_generation: int = 2) -> x509.Certificate:
        with self.scope() as session:
            old, new = (_root(session, g) for g in (old_generation, new_generation))
            return cross_certificate(session, self.ctx.keystore, old_root=old, new_root=new, urls=self.ctx.urls)

    def activate(self, generation: int):
        with self.scope() as session:
            return activate_generation(session, generation)

    def switch(self, generation: int):
        with self.scope() as session:
            return switch_server_certificates(session, self.ctx.keystore, generation=generation, **self.common())

    def retire(self, generation: int, **kwargs):
        with self.scope() as session:
            return retire_generation(session, generation, **kwargs)

    def status(self):
        with self.scope() as session:
            return rollover_status(session)

    def trusted_station_cas(self) -> dict[str, x509.Certificate]:
        with self.scope() as session:
            return {a.id: a.certificate for a in trusted_authorities(session, CaRole.STATION)}

    def admits(self, certificate: x509.Certificate) -> bool:
        """What SP3 admission trusts: the unretired station CAs as anchors (OpenSSL as verifier)."""
        anchors = _write(self.tmp_path, "trusted-station-cas.pem", *map(_pem, self.trusted_station_cas().values()))
        leaf = _write(self.tmp_path, "client.pem", _pem(certificate))
        return _verify("-partial_chain", "-purpose", "sslclient", "-CAfile", anchors, leaf).startswith("rc=0")

    def served_chain(self) -> tuple[list[IssuedCertificate], str]:
        with self.scope() as session:
            served = list(session.exec(select(IssuedCertificate).where(
                IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE)))
            issuer = authority_by_id(session, served[0].issuer_id)
            return served, issuer.record.certificate_pem


def _root(session, generation: int):
    ca_id = session.exec(select(CertificateAuthority.id).where(
        CertificateAuthority.role == CaRole.ROOT, CertificateAuthority.generation == generation)).one()
    return authority_by_id(session, ca_id)


@pytest.fixture
def steps(pki, tmp_path) -> Steps:
    return Steps(pki, tmp_path)


def test_full_generation_rollover(steps, tmp_path):
    g1 = steps.hierarchy
    g1_root_file = _write(tmp_path, "g1.pem", g1.root.record.certificate_pem)
    steps.add_stations("CP-1", "CP-2")
    first_cp1 = steps.sign("CP-1")
    g1_cp2 = steps.sign("CP-2")

    # Stage: G2 exists and is trusted for admission, but G1 still issues.
    staged = steps.stage()
    assert staged.generation == 2
    assert staged.root.certificate.subject != g1.root.certificate.subject
    assert staged.root.record.name == ca_name(CaRole.ROOT, TEST_ORG, 2)
    assert not any(a.record.active for a in staged.authorities)
    status = steps.status()
    assert (status.active, status.staged, status.in_progress) == (1, 2, True)
    assert set(steps.trusted_station_cas()) == {g1.station_ca.id, staged.station_ca.id}
    assert steps.sign("CP-1").issuer.id == g1.station_ca.id

    # Cross-sign: the G2 root's subject and key, signed by the G1 root.
    cross = steps.cross()
    assert cross.subject == staged.root.certificate.subject
    assert cross.issuer == g1.root.certificate.subject
    assert cross.public_key() == staged.root.certificate.public_key()
    assert cross.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cross_file = _write(tmp_path, "cross.pem", _pem(cross))
    assert _verify("-CAfile", g1_root_file, cross_file).startswith("rc=0"), "cross certificate signed by G1"
    assert openssl("x509", "-in", cross_file, "-noout", "-pubkey").stdout == openssl(
        "x509", "-in", _write(tmp_path, "g2.pem", staged.root.record.certificate_pem), "-noout", "-pubkey").stdout
    assert steps.cross().serial_number == cross.serial_number, "cross-signing again returns the same certificate"
    with steps.scope() as session:
        record = session.exec(select(IssuedCertificate).where(IssuedCertificate.kind == CertKind.CROSS)).one()
        assert record.issuer_id == g1.root.id
        plain = root_to_install(session, steps.ctx.keystore, generation=2, additional_root_check=False,
                                urls=steps.ctx.urls)
        checked = root_to_install(session, steps.ctx.keystore, generation=2, additional_root_check=True,
                                  urls=steps.ctx.urls)
    assert plain.pem == staged.root.record.certificate_pem and not plain.cross_signed
    assert x509.load_pem_x509_certificate(checked.pem.encode()) == cross and checked.cross_signed
    now = datetime.now(timezone.utc)
    assert check_installable_root(plain.pem, "CSMSRootCertificate", now=now)
    assert check_installable_rollover_root(checked.pem, g1.root.certificate, now=now)

    # Activate and switch the server certificates: G2 issues, G1 stays trusted.
    steps.activate(2)
    steps.switch(2)
    g2_cp1 = steps.sign("CP-1")
    assert g2_cp1.issuer.id == staged.station_ca.id
    chain_file = _write(tmp_path, "cp1-chain.pem", g2_cp1.chain_pem)
    g2_root_file = _write(tmp_path, "g2.pem", staged.root.record.certificate_pem)
    assert _verify("-CAfile", g2_root_file, "-untrusted", chain_file, chain_file).startswith("rc=0")
    assert not _verify("-CAfile", g1_root_file, "-untrusted", chain_file, chain_file).startswith("rc=0")
    assert steps.admits(g1_cp2.certificate), "a G1 certificate still admits its station"
    assert steps.admits(g2_cp1.certificate)

    served, server_ca_pem = steps.served_chain()
    assert len(served) == 2 and {r.issuer_id for r in served} == {staged.server_ca.id}
    for record in served:
        leaf = _write(tmp_path, f"server-{record.id}.pem", record.certificate_pem)
        untrusted = _write(tmp_path, "server-ca.pem", server_ca_pem)
        # A station that installed the plain G2 root, and one anchored on the cross certificate.
        assert _verify("-CAfile", g2_root_file, "-untrusted", untrusted, leaf).startswith("rc=0")
        assert _verify("-partial_chain", "-CAfile", cross_file, "-untrusted", untrusted, leaf).startswith("rc=0")

    # Retire: refused while CP-2 holds only its G1 certificate, then done.
    with pytest.raises(RolloverError, match="CP-2"):
        steps.retire(1)
    steps.sign("CP-2")
    assert steps.retire(1) == []
    assert set(steps.trusted_station_cas()) == {staged.station_ca.id}
    assert not steps.admits(g1_cp2.certificate), "G1 certificates no longer admit stations"
    assert not steps.admits(first_cp1.certificate)
    status = steps.status()
    assert [(g.generation, g.state) for g in status.generations] == [(1, "retired"), (2, "active")]
    assert not status.in_progress
    assert status.generations[1].cross_certified_by == (1,)
    assert status.generations[1].serves_server_certificates and status.generations[1].stations == 2
    assert steps.retire(1) == [], "retiring again changes nothing"
    # A station with AdditionalRootCertificateCheck that was offline throughout still holds G1:
    # it gets the same cross certificate, although G1 is retired.
    with steps.scope() as session:
        late = root_to_install(session, steps.ctx.keystore, generation=2, additional_root_check=True,
                               urls=steps.ctx.urls, station_holds=1)
        assert late.pem == checked.pem
        with pytest.raises(RolloverError, match="no trusted root older than generation 2"):
            root_to_install(session, steps.ctx.keystore, generation=2, additional_root_check=True,
                            urls=steps.ctx.urls)

    # Everything the new generation signed lints clean.
    with steps.scope() as session:
        signed = session.exec(select(IssuedCertificate).where(
            IssuedCertificate.issuer_id.in_([a.id for a in staged.authorities] + [g1.root.id]),
            IssuedCertificate.created_at >= staged.root.record.created_at)).all()
    kinds = {r.kind for r in signed}
    assert {CertKind.ROOT, CertKind.SUB_CA, CertKind.CROSS, CertKind.SERVER, CertKind.STATION} <= kinds
    for record in signed:
        der = _der(x509.load_pem_x509_certificate(record.certificate_pem.encode()))
        assert errors(lint_certificate(der)) == [], record.kind


def test_staging_twice_returns_the_same_generation(steps):
    first = steps.stage()
    second = steps.stage()
    assert [a.id for a in second.authorities] == [a.id for a in first.authorities]
    with steps.scope() as session:
        assert len(session.exec(select(CertificateAuthority)).all()) == 6
    assert steps.status().staged == 2


def test_two_concurrent_stages_make_one_generation(steps):
    """Two nodes running the step at once: the second waits for the first and finds its work."""
    second: list = []
    with steps.scope() as session:
        first = stage_next_generation(session, steps.ctx.keystore, **steps.common())
        runner = threading.Thread(target=lambda: second.append(steps.stage()))
        runner.start()
        runner.join(timeout=1.0)
        assert runner.is_alive(), "the second stage waits while the first is uncommitted"
    runner.join(timeout=60)
    assert [a.id for a in second[0].authorities] == [a.id for a in first.authorities]


def test_an_interrupted_stage_is_completed_by_the_rerun(steps):
    """A run that stopped after the root was committed: the rerun keeps it and adds the sub-CAs."""
    with steps.scope() as session:
        from storage.types import utcnow
        root = new_authority(session, steps.ctx.keystore, role=CaRole.ROOT, name=ca_name(CaRole.ROOT, TEST_ORG, 2),
                             generation=2, parent=None, organization=TEST_ORG, now=utcnow(), active=False,
                             **steps.common())
    with steps.scope() as session, pytest.raises(RolloverError, match="run stage_next_generation again"):
        activate_generation(session, 2)
    staged = steps.stage()
    assert staged.root.id == root.id
    assert staged.station_ca.record.parent_id == root.id and staged.server_ca.record.parent_id == root.id


def test_a_failed_stage_transaction_leaves_nothing_behind(steps):
    with pytest.raises(RuntimeError, match="power cut"):
        with steps.scope() as session:
            stage_next_generation(session, steps.ctx.keystore, **steps.common())
            raise RuntimeError("power cut")
    assert steps.status().staged is None
    assert steps.stage().generation == 2


def test_no_new_generation_while_the_previous_one_is_still_trusted(steps):
    steps.stage()
    steps.activate(2)
    with pytest.raises(RolloverError, match="retire generation 1"):
        steps.stage()


def test_activation_can_be_undone_until_the_old_generation_is_retired(steps):
    steps.add_stations("CP-9")
    steps.stage()
    steps.activate(2)
    steps.activate(1)
    assert steps.sign("CP-9").issuer.id == steps.hierarchy.station_ca.id
    status = steps.status()
    assert (status.active, status.staged) == (1, 2)


def test_the_issuing_generation_cannot_be_retired(steps):
    with pytest.raises(RolloverError, match="issues certificates now"):
        steps.retire(1)
    with pytest.raises(RolloverError, match="no generation 7"):
        steps.retire(7)


def test_retiring_the_generation_that_serves_the_csms_certificate_needs_force(steps):
    steps.stage()
    steps.activate(2)
    with pytest.raises(RolloverError, match="served CSMS server certificates"):
        steps.retire(1)
    assert steps.retire(1, force=True) == []
    assert steps.status().generations[0].state == "retired"


def test_forced_retirement_reports_the_stations_left_behind(steps):
    steps.add_stations("CP-A", "CP-B")
    steps.sign("CP-A")
    steps.sign("CP-B")
    steps.stage()
    steps.activate(2)
    steps.switch(2)
    with steps.scope() as session:
        assert stations_on_generation(session, 1) == ["CP-A", "CP-B"]
    assert steps.retire(1, force=True) == ["CP-A", "CP-B"]


def test_a_staged_generation_can_be_abandoned(steps):
    steps.stage()
    assert steps.retire(2) == []
    status = steps.status()
    assert (status.active, status.staged, status.in_progress) == (1, None, False)
    assert steps.stage().generation == 3


def test_server_certificates_switch_once_and_only_to_an_active_generation(steps):
    staged = steps.stage()
    with pytest.raises(RolloverError, match="not active"):
        steps.switch(2)
    steps.activate(2)
    first = steps.switch(2)
    again = steps.switch(2)
    assert sorted(r.id for r in again) == sorted(r.id for r in first)
    keys = {type(x509.load_pem_x509_certificate(r.certificate_pem.encode()).public_key()).__name__ for r in first}
    assert len(keys) == 2, "both key families (A00.FR.318)"
    assert all(r.issuer_id == staged.server_ca.id and r.subject_cn == "csms.test" for r in first)


def test_cross_certificate_refuses_what_is_not_a_pair_of_roots(steps):
    steps.stage()
    with steps.scope() as session:
        g1, g2 = _root(session, 1), _root(session, 2)
        station_ca = active_authority(session, CaRole.STATION)
        with pytest.raises(RolloverError, match="not a root"):
            cross_certificate(session, steps.ctx.keystore, old_root=station_ca, new_root=g2, urls=steps.ctx.urls)
        with pytest.raises(RolloverError, match="itself"):
            cross_certificate(session, steps.ctx.keystore, old_root=g1, new_root=g1, urls=steps.ctx.urls)


def test_the_staged_generation_mirrors_a_v2g_ca(steps):
    with steps.scope() as session:
        g1_v2g = ensure_v2g_ca(session, steps.ctx.keystore, **steps.common())
    staged = steps.stage()
    assert staged.v2g_ca is not None and staged.v2g_ca.record.parent_id == staged.root.id
    steps.activate(2)
    with steps.scope() as session:
        assert v2g_authority(session).id == staged.v2g_ca.id
        assert not authority_by_id(session, g1_v2g.id).record.active


def test_activation_waits_for_a_v2g_ca_set_up_after_staging(steps):
    steps.stage()
    with steps.scope() as session:
        ensure_v2g_ca(session, steps.ctx.keystore, **steps.common())
    with pytest.raises(RolloverError, match="no V2G CA"):
        steps.activate(2)
    assert steps.stage().v2g_ca is not None
    steps.activate(2)


def test_station_inventory_is_matched_to_our_anchors_and_deletes_are_guarded(steps):
    """A station with AdditionalRootCertificateCheck reports (in SHA384) the G1 root and the
    cross certificate it installed; the CSMS tells them apart and guards the deletes."""
    steps.stage()
    cross = steps.cross()
    g1_root = steps.hierarchy.root.certificate
    steps.add_stations("CP-ARCC")
    with steps.scope() as session:
        for certificate in (g1_root, cross):
            data = certificate_hash_data(certificate, g1_root, "SHA384")
            session.add(InstalledCertificate(
                station_id="CP-ARCC", certificate_type="CSMSRootCertificate", hash_algorithm="SHA384",
                issuer_name_hash=data.issuer_name_hash.upper(), issuer_key_hash=data.issuer_key_hash.upper(),
                serial_number=data.serial_number))
    with steps.scope() as session:
        reported = station_inventory(session, "CP-ARCC")
        anchors = csms_anchors(session)
        served = served_anchor_hashes(session, anchors)
    old, new = (identify_anchor(entry.hash_data, anchors) for entry in reported)
    assert (old.generation, old.cross_signed) == (1, False)
    assert (new.generation, new.cross_signed) == (2, True)
    assert inventory_matches(reported[1].hash_data, cross, g1_root)
    assert not inventory_matches(reported[0].hash_data, cross, g1_root)
    assert check_delete(reported[0].hash_data, reported, served_anchor_hashes=served).rule == "delete.served_anchor"

    steps.activate(2)
    steps.switch(2)
    with steps.scope() as session:
        served = served_anchor_hashes(session)
    assert check_delete(reported[0].hash_data, reported, served_anchor_hashes=served)
    remaining = reported[1:]
    refused = check_delete(remaining[0].hash_data, remaining, served_anchor_hashes=served)
    assert refused.rule == "delete.served_anchor" and "last CSMSRootCertificate" in refused.reason


# --- moving the CA keys from files into a PKCS#11 token ------------------------------------------

def test_a_rollover_moves_the_ca_keys_from_files_into_a_token(sqlite_pki, softhsm_token, tmp_path):
    """The README's procedure: record the token in config.toml, stage generation 2 (its keys are
    generated in the token), cross-sign with the G1 root (still a file), activate."""
    before = Steps(sqlite_pki, tmp_path)
    before.add_stations("CP-OLD", "CP-NEW")
    old_chain = before.sign("CP-OLD")

    settings = sqlite_pki.ctx.settings
    write_config(settings.with_overrides(pkcs11=softhsm_token))
    ctx = open_context(load_settings(settings.data_dir))
    assert isinstance(ctx.keystore, Pkcs11KeyStore)
    steps = Steps(dataclasses.replace(sqlite_pki, ctx=ctx), tmp_path)

    staged = steps.stage()
    for authority in staged.authorities:
        assert ctx.keystore.key_attributes(authority.record.key_label)["extractable"] is False
        assert not (settings.keys_dir / f"{authority.record.key_label}.key.pem").exists()
    cross = steps.cross()
    assert cross.issuer == sqlite_pki.hierarchy.root.certificate.subject, "the G1 root (a file key) signs"
    steps.activate(2)
    steps.switch(2)
    new_chain = steps.sign("CP-NEW")
    assert new_chain.certificate.issuer == staged.station_ca.certificate.subject

    g1_root = _write(tmp_path, "g1.pem", sqlite_pki.hierarchy.root.record.certificate_pem)
    g2_root = _write(tmp_path, "g2.pem", _pem(staged.root.certificate))
    assert "rc=0" in _verify("-CAfile", g2_root, "-untrusted", _write(tmp_path, "new.pem", new_chain.chain_pem),
                             _write(tmp_path, "leaf.pem", _pem(new_chain.certificate)))
    assert "rc=0" in _verify("-CAfile", g1_root, "-untrusted", _write(tmp_path, "old.pem", old_chain.chain_pem),
                             _write(tmp_path, "old-leaf.pem", _pem(old_chain.certificate))), \
        "certificates of the file-key generation stay valid"
    assert "rc=0" in _verify("-CAfile", g1_root, _write(tmp_path, "cross.pem", _pem(cross)))
    ctx.engine.dispose()


def test_a_rollover_step_refused_is_a_refusal_with_its_rule():
    # One refusal shape (policies/refusal.py): the doors translate it without knowing rollovers.
    refused = RolloverError("generation 7 is retired and cannot issue again")
    assert isinstance(refused, Refusal) and refused.rule == "rollover.state"
    assert str(refused) == refused.reason == "generation 7 is retired and cannot issue again"
