"""`chargeca ca …`, `cert …` and `crl`: the certificate authorities and what they issued and revoked."""

from __future__ import annotations

import argparse
import sys

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import select

from api.cli.common import Command, context_of, integer, officer, print_row, read_text, write_text
from api.csms.security import renewal
from api.csms.security.authority_service import create_v2g_ca, crl_der, list_authorities, revoke_certificate, sign_csr
from api.csms.security.service import request_certificate_renewal, request_certificate_renewals
from pki.authorities import Authority, active_authority
from pki.revocation import REVOKE_REASONS
from storage.certificates import CaRole, IssuedCertificate
from storage.db import read_scope, session_scope
from storage.filters import where_given
from storage.types import utcnow


def cmd_ca_root(args: argparse.Namespace) -> None:
    with read_scope(context_of(args).engine) as session:
        root = active_authority(session, CaRole.ROOT)
    if not args.out:
        sys.stdout.write(root.record.certificate_pem)
        return
    write_text(args.out, root.record.certificate_pem)
    print(f"wrote {args.out}: {root.certificate.subject.rfc4514_string()}, valid until "
          f"{root.certificate.not_valid_after_utc.isoformat(timespec='seconds')}")


def _ca_status(authority: Authority) -> str:
    if authority.record.retired_at is not None:
        return "retired"
    if authority.certificate.not_valid_after_utc < utcnow():
        return "expired"
    return "active" if authority.record.active else "staged"


def cmd_ca_list(args: argparse.Namespace) -> None:
    authorities = list_authorities(context_of(args))
    print("id\tkind\tsubject\tserial\tnot_before\tnot_after\tstatus")
    for authority in authorities:
        certificate = authority.certificate
        print_row(authority.id, authority.record.role, certificate.subject.rfc4514_string(),
                  f"{certificate.serial_number:x}", certificate.not_valid_before_utc.isoformat(timespec="seconds"),
                  certificate.not_valid_after_utc.isoformat(timespec="seconds"), _ca_status(authority))


def cmd_cert_sign(args: argparse.Namespace) -> None:
    csr_pem = read_text(args.csr, "CSR")
    issued = sign_csr(context_of(args), officer(), args.station, csr_pem, lint=not args.no_lint)
    for name in issued.ignored_extensions:
        print(f"note: CSR extension request ignored: {name}", file=sys.stderr)
    sys.stdout.write(issued.chain_pem)


def cmd_cert_list(args: argparse.Namespace) -> None:
    ctx = context_of(args)
    with session_scope(ctx.engine) as session:
        query = where_given(select(IssuedCertificate).order_by(IssuedCertificate.id),
                            (IssuedCertificate.station_id, args.station), (IssuedCertificate.status, args.status),
                            (IssuedCertificate.kind, args.kind))
        rows = session.exec(query).all()
    print("serial\tkind\tstatus\tsubject_cn\tnot_after")
    for row in rows:
        print_row(row.serial_hex, row.kind, row.status, row.subject_cn, row.not_after.isoformat())


def cmd_cert_revoke(args: argparse.Namespace) -> None:
    record = revoke_certificate(context_of(args), officer(), args.serial, args.reason, args.issuer)
    print(f"revoked {record.serial_hex} ({record.revocation_reason})")


def cmd_cert_renew(args: argparse.Namespace) -> None:
    # Stored, not sent: the running service's outbox worker sends the TriggerMessage when the
    # station is connected (within its scan interval), so this works with the service down too.
    ctx, actor = context_of(args), officer()
    if args.station:
        row, waiting = request_certificate_renewal(ctx, actor, args.station, args.certificate_type)
        state = "already waiting" if waiting else "queued"
        print(f"{args.station}\tcall {row.id}\t{state}")
        return
    selection = renewal.Selection(expiring_within_days=args.expiring_within_days, issuer_id=args.issuer,
                                  everything=args.all)
    batch = request_certificate_renewals(ctx, actor, selection)
    for queued in batch.queued:
        print_row(queued.station_id, f"call {queued.call_id}",
                  f"due {queued.next_attempt_at.isoformat(timespec='seconds')}")
    for skipped in batch.skipped:
        print_row(skipped.station_id, f"skipped: {skipped.reason}")
    print(f"{len(batch.queued)} queued, {len(batch.skipped)} skipped ({selection.describe()})", file=sys.stderr)


def cmd_crl(args: argparse.Namespace) -> None:
    der = crl_der(context_of(args), args.ca)
    if args.der:
        sys.stdout.buffer.write(der)
        return
    crl = x509.load_der_x509_crl(der)
    sys.stdout.write(crl.public_bytes(Encoding.PEM).decode())



def cmd_ca_v2g_create(args: argparse.Namespace) -> None:
    made = create_v2g_ca(context_of(args), officer())
    authority = made.authority
    state = "created" if made.created else "exists already, unchanged"
    print(f"V2G CA {authority.id} {state}: {authority.certificate.subject.rfc4514_string()}, "
          f"valid until {authority.certificate.not_valid_after_utc:%Y-%m-%d}")


def add_commands(commands: argparse._SubParsersAction, command: Command) -> None:
    """ca (root, list, v2g create), cert (sign, list, revoke, renew), crl."""
    ca = commands.add_parser("ca", help="certificate authorities").add_subparsers(
        dest="ca_command", required=True, metavar="ACTION")
    root = command("root", cmd_ca_root, "print the active CSMS root certificate (PEM): the trust anchor "
                   "stations install", ca)
    root.add_argument("--out", metavar="FILE", help="write it to FILE instead")
    command("list", cmd_ca_list, "list every certificate authority: kind, subject, serial, validity, status", ca)
    v2g = ca.add_parser("v2g", help="the V2G (ISO 15118) sub-CA").add_subparsers(
        dest="v2g_command", required=True, metavar="ACTION")
    command("create", cmd_ca_v2g_create, "create the V2G sub-CA under the active root (once; "
            "V2GCertificate CSRs are refused until it exists)", v2g)

    cert = commands.add_parser("cert", help="certificates").add_subparsers(
        dest="cert_command", required=True, metavar="ACTION")
    sign = command("sign", cmd_cert_sign, "sign a station CSR; prints the chain, leaf first, no root", cert)
    sign.add_argument("--station", required=True)
    sign.add_argument("--csr", required=True, help="PEM file, or - for stdin")
    sign.add_argument("--no-lint", action="store_true", help="skip pre-issuance linting")
    listing = command("list", cmd_cert_list, "list issued certificates", cert)
    listing.add_argument("--station")
    listing.add_argument("--status", choices=("issued", "active", "superseded", "revoked"))
    listing.add_argument("--kind", choices=("root", "sub_ca", "server", "station", "v2g"))
    revoke = command("revoke", cmd_cert_revoke, "revoke a certificate", cert)
    revoke.add_argument("serial", help="serial number in hex")
    revoke.add_argument("--reason", required=True, metavar="REASON",
                        help=f"RFC 5280 reason, one of: {', '.join(REVOKE_REASONS)}")
    revoke.add_argument("--issuer", help="issuer CA id, when the serial is ambiguous")

    renew = command("renew", cmd_cert_renew, "ask stations for a new CSR over OCPP (TriggerMessage "
                    "SignChargingStationCertificate); the running service sends it when they connect", cert)
    which = renew.add_mutually_exclusive_group(required=True)
    which.add_argument("--station", help="one station, now")
    which.add_argument("--expiring-within-days", type=integer(0, 36_500), metavar="N",
                       help="stations whose certificate in use expires within N days (paced)")
    which.add_argument("--issuer", metavar="CA_ID", help="stations whose certificate in use this CA issued (paced)")
    which.add_argument("--all", action="store_true", help="every station with a certificate in use (paced)")
    renew.add_argument("--certificate-type", choices=tuple(renewal.TRIGGERS),
                       default=renewal.CHARGING_STATION_CERTIFICATE, help="with --station")

    crl = command("crl", cmd_crl, "print the current CRL (PEM)")
    crl.add_argument("--ca", help="CA id (default: the station CA)")
    crl.add_argument("--der", action="store_true", help="write DER instead of PEM")
