"""`chargeca`: the command line of security officers and automation.

Exit codes: 0 done; 1 refused (the message names the rule); 2 bad usage; 3 not set up
(no PKI, no passphrase, bad config); 4 database unavailable.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import select

from api.core.audit import ROLES, Actor
from api.core.context import Context, open_context
from api.core.refusal import Refusal
from api.core.settings import Settings, SettingsError, load_settings, write_config
from api.csms.authorization.service import TokenFilter
from api.csms.authorization.token_records import MESSAGE_FORMATS, STATUSES, TOKEN_TYPES
from api.csms.security import renewal
from api.csms.security.authority_service import create_v2g_ca, crl_der, list_authorities, revoke_certificate, sign_csr
from api.csms.security.service import request_certificate_renewal, request_certificate_renewals
from api.operations import id_tokens
from api.operations.stations import (
    add_station,
    delete_station,
    disable_station,
    enable_station,
    list_stations,
    set_security_profile,
    set_station_password,
)
from api.operations.tokens import create_token, revoke_token
from pki.authorities import Authority, PkiAlreadyInitialized, PkiNotInitialized, active_authority, init_pki
from pki.keystore import KeyStoreError
from pki.lint import LintError
from pki.pkcs11_keystore import Pkcs11Settings
from pki.revocation import REVOKE_REASONS
from policies.loader import PolicyError
from storage import audit
from storage.certificates import CaRole, IssuedCertificate
from storage.db import DatabaseUnavailable, read_scope, session_scope
from storage.filters import where_given
from storage.firmware import RUNNING, STOPPED
from storage.message_log import MessageQuery, OcppMessage, message_log_engine
from storage.types import utcnow

if TYPE_CHECKING:
    from api.csms.firmware.registry import ImageIn
    from api.rotation.firmware_campaigns import CampaignView

EXIT_REFUSED, EXIT_USAGE, EXIT_SETUP, EXIT_DATABASE = 1, 2, 3, 4


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


def _actor() -> Actor:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    # Whoever runs the CLI holds the data directory and the key passphrase: an officer.
    return Actor(f"cli:{user}", "officer")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.data)


def _context(args: argparse.Namespace, **kwargs) -> Context:
    return open_context(_settings(args), **kwargs)


# --- init / serve -------------------------------------------------------------------------

def _pkcs11_option(args: argparse.Namespace) -> Pkcs11Settings | None:
    token_options = {"--module": args.module, "--token-label": args.token_label, "--pin-file": args.pin_file}
    if args.keystore == "file":
        given = [name for name, value in token_options.items() if value]
        if given:
            raise CliError(f"{', '.join(given)} only apply with --keystore pkcs11", EXIT_USAGE)
        return None
    missing = [name for name, value in token_options.items() if not value]
    if missing:
        raise CliError(f"--keystore pkcs11 needs {', '.join(missing)}", EXIT_USAGE)
    return Pkcs11Settings(Path(args.module).absolute(), args.token_label, Path(args.pin_file).absolute())


def cmd_init(args: argparse.Namespace) -> None:
    settings = _settings(args).with_overrides(fqdn=args.fqdn, public_url=args.public_url,
                                              pkcs11=_pkcs11_option(args))
    ctx = open_context(settings, create_dev_passphrase=args.dev_passphrase)
    try:
        with session_scope(ctx.engine) as session:
            hierarchy = init_pki(session, ctx.keystore, organization=args.org, fqdn=args.fqdn,
                                 policy=ctx.policy, urls=ctx.urls, extra_names=args.san)
            audit.append(session, actor=_actor().name, action="pki.init", target=args.org,
                         outcome=audit.Outcome.SUCCESS,
                         detail={"fqdn": args.fqdn, "san": args.san, "root": hierarchy.root.id,
                                 "keystore": settings.keystore_backend})
    except PkiAlreadyInitialized as exc:
        raise CliError(f"{exc} (data directory {settings.data_dir})") from exc
    write_config(settings)
    print(f"PKI created in {settings.data_dir}")
    if settings.pkcs11:
        print(f"  CA keys in PKCS#11 token {settings.pkcs11.token_label!r} ({settings.pkcs11.module}); "
              "server TLS keys are encrypted files")
    for label, authority in (("root", hierarchy.root), ("station CA", hierarchy.station_ca),
                             ("server CA", hierarchy.server_ca)):
        print(f"  {label:<11} {authority.id}  {authority.certificate.subject.rfc4514_string()}")
    for record in hierarchy.server_certificates:
        print(f"  server cert {record.serial_hex}  CN={record.subject_cn}")


def cmd_serve(args: argparse.Namespace) -> None:
    from api.server import serve  # imported here: the other commands need no server stack
    from api.workers import WorkersRefused, worker_count

    settings = _settings(args)
    try:
        workers = worker_count(settings, args.workers)
    except WorkersRefused as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    serve(settings, dev=not args.no_dev_init, workers=workers)


# --- certificate authorities ---------------------------------------------------------------

def cmd_ca_root(args: argparse.Namespace) -> None:
    with read_scope(_context(args).engine) as session:
        root = active_authority(session, CaRole.ROOT)
    if not args.out:
        sys.stdout.write(root.record.certificate_pem)
        return
    try:
        Path(args.out).write_text(root.record.certificate_pem, encoding="ascii")
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc.strerror}") from exc
    print(f"wrote {args.out}: {root.certificate.subject.rfc4514_string()}, valid until "
          f"{root.certificate.not_valid_after_utc.isoformat(timespec='seconds')}")


def _ca_status(authority: Authority) -> str:
    if authority.record.retired_at is not None:
        return "retired"
    if authority.certificate.not_valid_after_utc < utcnow():
        return "expired"
    return "active" if authority.record.active else "staged"


def cmd_ca_list(args: argparse.Namespace) -> None:
    authorities = list_authorities(_context(args))
    print("id\tkind\tsubject\tserial\tnot_before\tnot_after\tstatus")
    for authority in authorities:
        certificate = authority.certificate
        print(f"{authority.id}\t{authority.record.role}\t{certificate.subject.rfc4514_string()}\t"
              f"{certificate.serial_number:x}\t{certificate.not_valid_before_utc.isoformat(timespec='seconds')}\t"
              f"{certificate.not_valid_after_utc.isoformat(timespec='seconds')}\t{_ca_status(authority)}")


# --- stations ------------------------------------------------------------------------------

def cmd_station_add(args: argparse.Namespace) -> None:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    created = add_station(_context(args), _actor(), args.id,
                                     security_profile=args.security_profile, password=password)
    print(f"station {created.station.id} registered (security profile {created.station.security_profile})")
    if created.password:
        print(f"Basic-auth password (shown once, store it in the station): {created.password}")


def cmd_station_list(args: argparse.Namespace) -> None:
    for station in list_stations(_context(args)):
        print(f"{station.id}\tprofile={station.security_profile}\tenabled={station.enabled}")


def cmd_station_messages(args: argparse.Namespace) -> None:
    """The newest logged OCPP frames of one station, printed oldest first (README "OCPP message log")."""
    criteria = MessageQuery(station_id=args.id, action=args.action, direction=args.direction, kind=args.kind,
                            message_id=args.message_id, since=args.since, until=args.until)
    with read_scope(message_log_engine(_context(args).engine)) as session:
        rows = session.exec(criteria.select().order_by(OcppMessage.id.desc()).limit(args.limit)).all()
    for row in reversed(rows):
        print(f"{row.id}\t{row.at.isoformat()}\t{row.direction}\t{row.kind}\t{row.action or '-'}\t"
              f"{row.message_id or '-'}\t{row.frame}{' [truncated]' if row.truncated else ''}")


def _aware_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. {text}Z or {text}+00:00)")
    return value


def cmd_station_disable(args: argparse.Namespace) -> None:
    disable_station(_context(args), _actor(), args.id, args.reason)
    print(f"station {args.id} disabled; a running service closes its connections within "
          "[sessions] disconnect_poll_seconds")


def cmd_station_enable(args: argparse.Namespace) -> None:
    enable_station(_context(args), _actor(), args.id)
    print(f"station {args.id} enabled")


def cmd_station_delete(args: argparse.Namespace) -> None:
    revoked = delete_station(_context(args), _actor(), args.id, args.reason)
    print(f"station {args.id} deleted; {len(revoked)} certificate(s) revoked (cessationOfOperation)"
          + "".join(f"\n  {serial}" for serial in revoked))


def _read_password(args: argparse.Namespace) -> str:
    # Never from the command line: argv is visible to every user of the machine (ps, /proc).
    if args.password_file:
        try:
            text = Path(args.password_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read password file {args.password_file}: {exc}") from exc
    else:
        text = sys.stdin.readline()
    lines = text.splitlines()
    return lines[0] if lines else ""


def cmd_station_set_password(args: argparse.Namespace) -> None:
    set_station_password(_context(args), _actor(), args.id, _read_password(args))
    print(f"station {args.id}: Basic-auth password set")


def cmd_station_set_profile(args: argparse.Namespace) -> None:
    station = set_security_profile(_context(args), _actor(), args.id, args.profile, args.reason)
    print(f"station {station.id}: security profile {station.security_profile}")


# --- certificates --------------------------------------------------------------------------

def cmd_cert_sign(args: argparse.Namespace) -> None:
    try:
        csr_pem = Path(args.csr).read_text(encoding="ascii") if args.csr != "-" else sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read CSR {args.csr}: {exc}") from exc
    issued = sign_csr(_context(args), _actor(), args.station, csr_pem, lint=not args.no_lint)
    for name in issued.ignored_extensions:
        print(f"note: CSR extension request ignored: {name}", file=sys.stderr)
    sys.stdout.write(issued.chain_pem)


def cmd_cert_list(args: argparse.Namespace) -> None:
    ctx = _context(args)
    with session_scope(ctx.engine) as session:
        query = where_given(select(IssuedCertificate).order_by(IssuedCertificate.id),
                            (IssuedCertificate.station_id, args.station), (IssuedCertificate.status, args.status),
                            (IssuedCertificate.kind, args.kind))
        rows = session.exec(query).all()
    print("serial\tkind\tstatus\tsubject_cn\tnot_after")
    for row in rows:
        print(f"{row.serial_hex}\t{row.kind}\t{row.status}\t{row.subject_cn}\t{row.not_after.isoformat()}")


def cmd_cert_revoke(args: argparse.Namespace) -> None:
    record = revoke_certificate(_context(args), _actor(), args.serial, args.reason, args.issuer)
    print(f"revoked {record.serial_hex} ({record.revocation_reason})")


def cmd_cert_renew(args: argparse.Namespace) -> None:
    # Stored, not sent: the running service's outbox worker sends the TriggerMessage when the
    # station is connected (within its scan interval), so this works with the service down too.
    ctx, actor = _context(args), _actor()
    if args.station:
        row, waiting = request_certificate_renewal(ctx, actor, args.station, args.certificate_type)
        state = "already waiting" if waiting else "queued"
        print(f"{args.station}\tcall {row.id}\t{state}")
        return
    selection = renewal.Selection(expiring_within_days=args.expiring_within_days, issuer_id=args.issuer,
                                  everything=args.all)
    batch = request_certificate_renewals(ctx, actor, selection)
    for queued in batch.queued:
        print(f"{queued.station_id}\tcall {queued.call_id}\tdue {queued.next_attempt_at.isoformat(timespec='seconds')}")
    for skipped in batch.skipped:
        print(f"{skipped.station_id}\tskipped: {skipped.reason}")
    print(f"{len(batch.queued)} queued, {len(batch.skipped)} skipped ({selection.describe()})", file=sys.stderr)


def cmd_crl(args: argparse.Namespace) -> None:
    der = crl_der(_context(args), args.ca)
    if args.der:
        sys.stdout.buffer.write(der)
        return
    crl = x509.load_der_x509_crl(der)
    sys.stdout.write(crl.public_bytes(Encoding.PEM).decode())


# --- certificate authorities --------------------------------------------------------------

def cmd_ca_v2g_create(args: argparse.Namespace) -> None:
    made = create_v2g_ca(_context(args), _actor())
    authority = made.authority
    state = "created" if made.created else "exists already, unchanged"
    print(f"V2G CA {authority.id} {state}: {authority.certificate.subject.rfc4514_string()}, "
          f"valid until {authority.certificate.not_valid_after_utc:%Y-%m-%d}")


# --- firmware (block L) -------------------------------------------------------------------

def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii") if path != "-" else sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {what} {path}: {exc}") from exc


def _registry() -> ModuleType:
    """The firmware commands' module, imported when one runs: every other command starts without it."""
    from api.csms.firmware import registry

    return registry


def _campaigns() -> ModuleType:
    """The campaign commands' module, imported when one runs (api.rotation alone costs about 0.5 s)."""
    from api.rotation import firmware_campaigns

    return firmware_campaigns


def _register_image(args: argparse.Namespace, image: ImageIn) -> None:
    ctx, registry = _context(args), _registry()
    try:
        with open(args.file, "rb") as source:
            staged = registry.stage_file(ctx, source)
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from exc
    row = registry.register_image(ctx, _actor(), staged, image)
    print(f"image {row.id}\t{row.name} {row.version}\t{row.size} bytes\tsha256 {row.sha256}\tsigned by {row.signed_by}")
    print(f"signature {row.signature}")


def cmd_firmware_sign(args: argparse.Namespace) -> None:
    _register_image(args, _registry().ImageIn(args.name, args.version, sign=True))


def cmd_firmware_add(args: argparse.Namespace) -> None:
    signature = _read_text(args.signature, "signature").strip()
    certificate = _read_text(args.certificate, "signing certificate")
    _register_image(args, _registry().ImageIn(args.name, args.version, signature, certificate))


def _print_table(args: argparse.Namespace, read: Callable, columns: Sequence[str], line: Callable) -> None:
    with read_scope(_context(args).engine) as session:
        rows = read(session)
    print("\t".join(columns))
    for row in rows:
        print("\t".join(str(value) for value in line(row)))


def cmd_firmware_list(args: argparse.Namespace) -> None:
    _print_table(args, _registry().images, ("id", "name", "version", "size", "signed_by", "root", "sha256"),
                 lambda r: (r.id, r.name, r.version, r.size, r.signed_by, r.root_id, r.sha256))


def cmd_firmware_signer(args: argparse.Namespace) -> None:
    signer = _registry().signer_view(_context(args), _actor())
    root_pem = signer.root.record.certificate_pem
    if args.out:
        Path(args.out).write_text(root_pem)
        print(f"manufacturer root written to {args.out}; firmware-signing certificate {signer.record.serial_hex}")
    else:
        sys.stdout.write(root_pem)


def cmd_firmware_root_add(args: argparse.Namespace) -> None:
    row = _registry().add_root(_context(args), _actor(), _read_text(args.pem, "root certificate"))
    print(f"root {row.id}\t{row.subject}\tsha256 {row.sha256}")


def cmd_firmware_root_list(args: argparse.Namespace) -> None:
    _print_table(args, _registry().roots, ("id", "subject", "managed", "not_after", "sha256"),
                 lambda r: (r.id, r.subject, r.authority_id is not None, r.not_after.isoformat(), r.sha256))


def cmd_firmware_revoke(args: argparse.Namespace) -> None:
    row = _registry().revoke_certificate(_context(args), _actor(), _read_text(args.pem, "certificate"),
                                         args.reason)
    print(f"revoked {row.subject} (sha256 {row.sha256})")


def _print_campaign(shown: CampaignView) -> None:
    c = shown.campaign
    counts = ", ".join(f"{n} {state}" for state, n in sorted(shown.counts.items()))
    print(f"campaign {c.id}\timage {c.image_id}\t{c.station_filter}\t{c.status}\t{counts}\t{c.detail}")


def cmd_firmware_campaign_create(args: argparse.Namespace) -> None:
    # Stored; the running service's campaign worker sends (this works with the service down too).
    ctx = _context(args)
    spec = _campaigns().CampaignSpec(image_id=args.image, station_filter=args.filter,
                                     per_minute=args.per_minute, max_failures=args.max_failures,
                                     install_delay_minutes=args.install_delay, protocol=args.protocol,
                                     final_status_minutes=args.final_status)
    if args.dry_run:
        for planned in _campaigns().plan(ctx, spec):
            print(f"{planned.station_id}\t{'ready' if planned.ready else 'refused'}\t{planned.detail}")
        return
    _print_campaign(_campaigns().create(ctx, _actor(), spec))


def cmd_firmware_campaign_list(args: argparse.Namespace) -> None:
    with read_scope(_context(args).engine) as session:
        for shown in _campaigns().listed(session):
            _print_campaign(shown)


def cmd_firmware_campaign_show(args: argparse.Namespace) -> None:
    with read_scope(_context(args).engine) as session:
        shown = _campaigns().view(session, args.id)
    _print_campaign(shown)
    for row in shown.stations:
        print(f"{row.station_id}\t{row.state}\t{row.detail}")


def cmd_firmware_campaign_stop(args: argparse.Namespace) -> None:
    _print_campaign(_campaigns().set_status(_context(args), _actor(), args.id, STOPPED))


def cmd_firmware_campaign_resume(args: argparse.Namespace) -> None:
    _print_campaign(_campaigns().set_status(_context(args), _actor(), args.id, RUNNING,
                                            max_failures=args.max_failures))


# --- id tokens (block C) ------------------------------------------------------------------

_TOKEN_OPTIONS = ("status", "cache_expiry", "group_id_token", "group_type", "evse_ids", "language1", "language2",
                  "message_format", "message_language", "message_content", "local_list")


def _token_options(args: argparse.Namespace) -> dict[str, str | None]:
    """The options given; an empty string clears the field (``set``)."""
    given = {name: getattr(args, name) for name in _TOKEN_OPTIONS if getattr(args, name) is not None}
    return {name: (value if value != "" else None) for name, value in given.items()}


def _token_line(token: dict) -> str:
    extras = "".join(f"\t{name}={token[name]}" for name in ("group_id_token", "cache_expiry", "evse_ids",
                                                              "local_list") if token[name] is not None)
    return f"{token['id']}\t{token['type']}\t{token['id_token']}\t{token['status']}{extras}"


def cmd_id_token_list(args: argparse.Namespace) -> None:
    where = TokenFilter(id_token=args.id_token, type=args.type, status=args.status)
    for token in id_tokens.list_tokens(_context(args), where, limit=args.limit):
        print(_token_line(token))


def cmd_id_token_add(args: argparse.Namespace) -> None:
    token = id_tokens.add_token(_context(args), _actor(), {"type": args.type, "id_token": args.value,
                                                          **_token_options(args)})
    print(f"id token {token['type']} {token['id_token']} added (id {token['id']}, {token['status']})")


def cmd_id_token_set(args: argparse.Namespace) -> None:
    ctx = _context(args)
    changes = _token_options(args)
    if not changes:
        raise CliError("nothing to change: give at least one option", EXIT_USAGE)
    token = id_tokens.change_token(ctx, _actor(), id_tokens.find_id(ctx, args.type, args.value), changes)
    print(f"id token {token['type']} {token['id_token']} changed: {', '.join(sorted(changes))}")


def cmd_id_token_delete(args: argparse.Namespace) -> None:
    ctx = _context(args)
    token = id_tokens.delete_token(ctx, _actor(), id_tokens.find_id(ctx, args.type, args.value))
    print(f"id token {token['type']} {token['id_token']} deleted")


def _file_kind(path: str, given: str | None) -> str:
    return given or ("csv" if path.lower().endswith(".csv") else "json")


def cmd_id_token_import(args: argparse.Namespace) -> None:
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        if len(raw) > id_tokens.IMPORT_BYTES_MAX:
            raise CliError(f"{args.file} is larger than {id_tokens.IMPORT_BYTES_MAX} bytes; split it")
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from exc
    counts = id_tokens.import_tokens(_context(args), _actor(), text, _file_kind(args.file, args.format))
    print(f"imported {counts.rows} id token(s): {counts.created} added, {counts.updated} replaced")


def cmd_id_token_export(args: argparse.Namespace) -> None:
    kind = _file_kind(args.out or "", args.format)
    text = id_tokens.export_tokens(_context(args), TokenFilter(), kind)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def cmd_id_token_master_pass(args: argparse.Namespace) -> None:
    group = None if args.clear else args.group
    if group is None and not args.clear:
        raise CliError("give GROUP or --clear", EXIT_USAGE)
    id_tokens.set_master_pass_group(_context(args), _actor(), group, args.station)
    print(f"master-pass group of {args.station or 'every station'}: {group or 'cleared'}")


# --- tokens and audit ----------------------------------------------------------------------

def cmd_token_create(args: argparse.Namespace) -> None:
    created = create_token(_context(args), _actor(), args.role, args.name or f"{args.role} token")
    print(f"token id {created.record.id} (role {created.record.role}); shown once:")
    print(created.token)


def cmd_token_revoke(args: argparse.Namespace) -> None:
    revoke_token(_context(args), _actor(), args.id)
    print(f"token {args.id} revoked")


def cmd_audit_verify(args: argparse.Namespace) -> None:
    ctx = _context(args)
    with session_scope(ctx.engine) as session:
        report = audit.verify_chain(session)
    if not report.ok:
        raise CliError(f"audit chain broken at entry {report.first_bad_seq}: {report.problem}")
    print(f"audit chain intact: {report.entries} entries, head {report.head_hash}")


def cmd_audit_list(args: argparse.Namespace) -> None:
    ctx = _context(args)
    with session_scope(ctx.engine) as session:
        rows = session.exec(select(audit.AuditEntry).order_by(audit.AuditEntry.seq.desc()).limit(args.limit)).all()
    for row in reversed(rows):
        print(f"{row.seq}\t{row.at.isoformat()}\t{row.actor}\t{row.action}\t{row.target}\t{row.outcome}\t{row.detail}")


def cmd_simulate(args: argparse.Namespace) -> None:
    import asyncio

    from simulator.fleet import FleetConfig, config_problem, register, run_fleet

    settings = _settings(args)
    url = args.url or (f"ws://127.0.0.1:{settings.ocpp_ws_port}/ocpp" if args.profile == 1
                       else f"wss://127.0.0.1:{settings.ocpp_wss_port}/ocpp")
    rest_url = args.rest_url or f"http://{settings.rest_host}:{settings.rest_port}"
    config = FleetConfig(url=url, count=args.stations, prefix=args.prefix, profile=args.profile,
                         password=args.password, ca_file=Path(args.ca_file) if args.ca_file else None,
                         server_name=args.server_name, cert_dir=Path(args.cert_dir) if args.cert_dir else None,
                         rest_url=rest_url, token=args.token, heartbeat_seconds=args.heartbeat,
                         duration_seconds=args.duration, stations=tuple(args.station),
                         client_cert=Path(args.cert) if args.cert else None,
                         client_key=Path(args.key) if args.key else None)
    problem = config_problem(config)
    if problem:
        raise CliError(problem, EXIT_USAGE)
    if args.register and not args.token:
        raise CliError("--register needs --token (an operator or officer token)", EXIT_USAGE)
    passwords = register(config) if args.register else None
    report = asyncio.run(run_fleet(config, passwords, announce=lambda line: print(line, flush=True)))
    for identity, reason in sorted(report.refused.items()):
        print(f"{identity}: refused: {reason}")
    for identity, reason in sorted(report.lost.items()):
        print(f"{identity}: {reason}")
    total = len(config.identities())
    print(f"booted {report.booted}/{total}, heartbeats {report.heartbeats}, errors {report.errors}")
    if report.booted < total:
        raise CliError(f"{total - report.booted} station(s) did not boot")
    if report.lost:
        raise CliError(f"{len(report.lost)} station(s) lost the connection before --duration ended")


# --- parser --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chargeca", description="ChargeCA: PKI and CSMS security for OCPP 2.0.1")
    parser.add_argument("--version", action="version", version=f"chargeca {metadata.version('chargeca')}")
    parser.add_argument("--data", help="data directory (default: $CHARGECA_DATA or ./chargeca-data)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], None], help_text: str,
                parent=commands) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    init = command("init", cmd_init, "create the CA hierarchy and CSMS server certificates, once")
    init.add_argument("--org", required=True, help="the CSO's OrganizationName (O of every certificate)")
    init.add_argument("--fqdn", required=True, help="host name stations use to reach the CSMS")
    init.add_argument("--public-url", help="base URL for CRL and OCSP links in certificates")
    init.add_argument("--san", action="append", default=[], metavar="NAME",
                      help="another host name or IP address for the server certificate (repeatable)")
    init.add_argument("--dev-passphrase", action="store_true",
                      help="generate a key passphrase file in the data directory (development only)")
    init.add_argument("--keystore", choices=("file", "pkcs11"), default="file",
                      help="where CA keys are generated: encrypted files (default) or a PKCS#11 token; "
                           "recorded in config.toml for every later command")
    init.add_argument("--module", help="PKCS#11 module (.so) of the HSM, with --keystore pkcs11")
    init.add_argument("--token-label", help="label of the token that holds the CA keys")
    init.add_argument("--pin-file", help="file holding the token's user PIN, mode 0600 (the PIN is never stored)")

    serve = command("serve", cmd_serve, "run the REST API and the OCPP listeners")
    serve.add_argument("--no-dev-init", action="store_true",
                       help="do not create a development PKI when none exists")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="processes sharing the ports and the database (default: one per core on PostgreSQL "
                            "with CHARGECA_NATS_URL set, else 1; more than 1 needs both)")

    ca = commands.add_parser("ca", help="certificate authorities").add_subparsers(
        dest="ca_command", required=True, metavar="ACTION")
    root = command("root", cmd_ca_root, "print the active CSMS root certificate (PEM): the trust anchor "
                   "stations install", ca)
    root.add_argument("--out", metavar="FILE", help="write it to FILE instead")
    command("list", cmd_ca_list, "list every certificate authority: kind, subject, serial, validity, status", ca)

    station = commands.add_parser("station", help="station registry").add_subparsers(
        dest="station_command", required=True, metavar="ACTION")
    add = command("add", cmd_station_add, "register a station", station)
    add.add_argument("id", help="OCPP identity (<= 48 characters, no ':')")
    add.add_argument("--security-profile", type=int, choices=(1, 2, 3), default=2)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the Basic-auth password from stdin instead of generating one")
    command("list", cmd_station_list, "list stations", station)
    disable = command("disable", cmd_station_disable, "kill switch: refuse the station and close its "
                      "connections", station)
    disable.add_argument("id")
    disable.add_argument("--reason", help="kept in the audit log")
    command("enable", cmd_station_enable, "let a disabled station connect again", station).add_argument("id")
    remove = command("delete", cmd_station_delete, "delete a station: revoke its certificates, close its "
                     "connections", station)
    remove.add_argument("id")
    remove.add_argument("--reason", help="kept in the audit log")
    set_password = command("set-password", cmd_station_set_password, "set a given Basic-auth password (e.g. "
                           "factory provisioning), read from stdin or a file, never from the command line", station)
    set_password.add_argument("id")
    source = set_password.add_mutually_exclusive_group(required=True)
    source.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    source.add_argument("--password-file", metavar="FILE", help="read the password from FILE (first line)")
    set_profile = command("set-profile", cmd_station_set_profile, "the security profile the station must use; "
                          "lowering needs --reason", station)
    set_profile.add_argument("id")
    set_profile.add_argument("profile", type=int, choices=(1, 2, 3))
    set_profile.add_argument("--reason", help="required to lower the profile; kept in the audit log")
    messages = command("messages", cmd_station_messages, "the station's logged OCPP frames, redacted, oldest of "
                       "the newest --limit first", station)
    messages.add_argument("id")
    messages.add_argument("--action", help="e.g. BootNotification; an answer carries its CALL's action")
    messages.add_argument("--direction", choices=("in", "out"), help="in: from the station; out: to it")
    messages.add_argument("--kind", choices=("CALL", "CALLRESULT", "CALLERROR", "MALFORMED"))
    messages.add_argument("--message-id", help="a CALL and its answer share it")
    messages.add_argument("--since", type=_aware_time, help="ISO 8601 time with a zone (server clock)")
    messages.add_argument("--until", type=_aware_time, help="ISO 8601 time with a zone, excluded")
    messages.add_argument("--limit", type=int, default=50)

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
    which.add_argument("--expiring-within-days", type=int, metavar="N",
                       help="stations whose certificate in use expires within N days (paced)")
    which.add_argument("--issuer", metavar="CA_ID", help="stations whose certificate in use this CA issued (paced)")
    which.add_argument("--all", action="store_true", help="every station with a certificate in use (paced)")
    renew.add_argument("--certificate-type", choices=tuple(renewal.TRIGGERS),
                       default=renewal.CHARGING_STATION_CERTIFICATE, help="with --station")

    crl = command("crl", cmd_crl, "print the current CRL (PEM)")
    crl.add_argument("--ca", help="CA id (default: the station CA)")
    crl.add_argument("--der", action="store_true", help="write DER instead of PEM")

    v2g = ca.add_parser("v2g", help="the V2G (ISO 15118) sub-CA").add_subparsers(
        dest="v2g_command", required=True, metavar="ACTION")
    command("create", cmd_ca_v2g_create, "create the V2G sub-CA under the active root (once; "
            "V2GCertificate CSRs are refused until it exists)", v2g)

    token = commands.add_parser("token", help="REST API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION")
    create = command("create", cmd_token_create, "create an API token (shown once)", token)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name")
    token_revoke = command("revoke", cmd_token_revoke, "revoke an API token", token)
    token_revoke.add_argument("id")

    _id_token_parser(commands, command)
    _firmware_parser(commands, command)

    simulate = command("simulate", cmd_simulate, "run simulated charging stations against a CSMS")
    simulate.add_argument("--url", help="CSMS endpoint, the station identity is appended (default: "
                          "ws://127.0.0.1:$CHARGECA_OCPP_WS_PORT/ocpp for profile 1, "
                          "wss://127.0.0.1:$CHARGECA_OCPP_WSS_PORT/ocpp for profiles 2 and 3)")
    simulate.add_argument("--station", action="append", default=[], metavar="ID",
                          help="a station identity (repeatable); default: --stations N named PREFIX-0001...")
    simulate.add_argument("--stations", type=int, default=1)
    simulate.add_argument("--prefix", default="SIM", help="identities are PREFIX-0001, PREFIX-0002, ...")
    simulate.add_argument("--profile", type=int, choices=(1, 2, 3), default=1)
    simulate.add_argument("--password", help="Basic-auth password of every station (profiles 1 and 2)")
    simulate.add_argument("--ca-file", help="CSMS root to trust (wss), e.g. from `chargeca ca root --out FILE`")
    simulate.add_argument("--server-name", help="host name to check the server certificate for "
                          "(default: the URL's host)")
    simulate.add_argument("--cert", metavar="FILE", help="profile 3, one station: its certificate chain (PEM, "
                          "leaf first, as `chargeca cert sign` prints it)")
    simulate.add_argument("--key", metavar="FILE", help="profile 3, with --cert: the station's private key (PEM)")
    simulate.add_argument("--cert-dir", help="profile 3: ID.pem (chain) and ID.key per station")
    simulate.add_argument("--register", action="store_true", help="register the stations through REST first")
    simulate.add_argument("--rest-url", help="REST API for --register (default: "
                          "http://$CHARGECA_REST_HOST:$CHARGECA_REST_PORT)")
    simulate.add_argument("--token", help="API token for --register")
    simulate.add_argument("--heartbeat", type=float, default=60.0, help="seconds between heartbeats")
    simulate.add_argument("--duration", type=float, default=60.0, help="seconds to stay connected")

    audit_parser = commands.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION")
    command("verify", cmd_audit_verify, "verify the audit log's hash chain", audit_parser)
    audit_list = command("list", cmd_audit_list, "show the newest audit entries", audit_parser)
    audit_list.add_argument("--limit", type=int, default=50)
    return parser


def _id_token_parser(commands, command) -> None:
    id_token = commands.add_parser("id-token", help="id tokens the CSMS authorizes (block C)").add_subparsers(
        dest="id_token_command", required=True, metavar="ACTION")

    def token_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("type", choices=TOKEN_TYPES, help="IdTokenEnumType")
        sub.add_argument("value", help="the idToken (<= 36 characters, case-insensitive)")
        sub.add_argument("--status", choices=STATUSES)
        sub.add_argument("--cache-expiry", dest="cache_expiry", metavar="ISO8601", help="e.g. 2030-01-01T00:00:00Z")
        sub.add_argument("--group", dest="group_id_token", metavar="ID", help="groupIdToken")
        sub.add_argument("--group-type", dest="group_type", choices=TOKEN_TYPES)
        sub.add_argument("--evse", dest="evse_ids", metavar="IDS", help="allowed EVSE ids, e.g. 1;2")
        sub.add_argument("--language1")
        sub.add_argument("--language2")
        sub.add_argument("--message-format", dest="message_format", choices=MESSAGE_FORMATS)
        sub.add_argument("--message-language", dest="message_language")
        sub.add_argument("--message", dest="message_content", help="personalMessage content")
        sub.add_argument("--local-list", dest="local_list", metavar="GLOB",
                         help="stations whose local list carries it, e.g. '*' or 'DEPOT-A-*'")

    listing = command("list", cmd_id_token_list, "list id tokens", id_token)
    listing.add_argument("--type", choices=TOKEN_TYPES)
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--id-token", dest="id_token", help="tokens starting with this")
    listing.add_argument("--limit", type=int, default=None)
    token_options(command("add", cmd_id_token_add, "add an id token", id_token))
    token_options(command("set", cmd_id_token_set, "change fields of an id token (an empty value clears one)",
                          id_token))
    remove = command("delete", cmd_id_token_delete, "delete an id token", id_token)
    remove.add_argument("type", choices=TOKEN_TYPES)
    remove.add_argument("value")
    importing = command("import", cmd_id_token_import, "add or replace id tokens from a CSV or JSON file, all "
                        "or nothing", id_token)
    importing.add_argument("file", help="the file, or - for stdin")
    importing.add_argument("--format", choices=("csv", "json"), help="default: by the file's extension")
    exporting = command("export", cmd_id_token_export, "write every id token as CSV or JSON", id_token)
    exporting.add_argument("--out", metavar="FILE", help="default: stdout")
    exporting.add_argument("--format", choices=("csv", "json"), help="default: by --out's extension, else json")
    master = command("master-pass", cmd_id_token_master_pass, "set the MasterPassGroupId (C16) of every "
                     "station or of one", id_token)
    master.add_argument("group", nargs="?", help="the group idToken")
    master.add_argument("--station", help="only this station")
    master.add_argument("--clear", action="store_true", help="remove it")

def _firmware_parser(commands, command) -> None:
    firmware = commands.add_parser("firmware", help="firmware images, signing and campaigns (block L)").add_subparsers(
        dest="firmware_command", required=True, metavar="ACTION")

    def image_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("file", help="the firmware image")
        sub.add_argument("--name", required=True)
        sub.add_argument("--version", required=True, help="the firmwareVersion the station reports once installed")

    image_options(command("sign", cmd_firmware_sign, "register an image signed by ChargeCA's firmware-signing key "
                          "(a CSO's own build); the key and its manufacturer root are made on first use", firmware))
    add = command("add", cmd_firmware_add, "register a manufacturer's image with its signature and signing "
                  "certificate", firmware)
    image_options(add)
    add.add_argument("--signature", required=True, metavar="FILE", help="the Base64 signature (- for stdin)")
    add.add_argument("--certificate", required=True, metavar="PEM", help="the signing certificate")
    command("list", cmd_firmware_list, "list registered images", firmware)
    signer = command("signer", cmd_firmware_signer, "make ChargeCA's firmware signer if needed and print its "
                     "manufacturer root (install it on stations as ManufacturerRootCertificate)", firmware)
    signer.add_argument("--out", metavar="FILE")
    root = firmware.add_parser("root", help="manufacturer roots firmware may chain to").add_subparsers(
        dest="firmware_root_command", required=True, metavar="ACTION")
    command("add", cmd_firmware_root_add, "add a manufacturer's root", root).add_argument("pem")
    command("list", cmd_firmware_root_list, "list manufacturer roots", root)
    revoke = command("revoke-certificate", cmd_firmware_revoke, "declare a manufacturer's signing certificate "
                     "revoked", firmware)
    revoke.add_argument("pem")
    revoke.add_argument("--reason", default="")
    campaign = firmware.add_parser("campaign", help="firmware campaigns across the fleet").add_subparsers(
        dest="firmware_campaign_command", required=True, metavar="ACTION")
    create = command("create", cmd_firmware_campaign_create, "start a campaign (the running service sends it)",
                     campaign)
    create.add_argument("image", type=int, help="image id")
    create.add_argument("--filter", default="*", help="glob over station ids (default: every enabled station)")
    create.add_argument("--per-minute", dest="per_minute", type=int, default=10)
    create.add_argument("--max-failures", dest="max_failures", type=int, default=1)
    create.add_argument("--install-delay", dest="install_delay", type=int, default=0, metavar="MINUTES")
    create.add_argument("--protocol", choices=("https", "ftp", "auto"), default="auto",
                        help="auto: each station's from what it reported (FileTransferProtocols), https first")
    create.add_argument("--final-status", dest="final_status", type=int, metavar="MINUTES",
                        help="a station with no final status this long after its request fails "
                             "(default: the [firmware] policy's campaign_final_status_minutes)")
    create.add_argument("--dry-run", dest="dry_run", action="store_true", help="show the plan; store nothing")
    command("list", cmd_firmware_campaign_list, "list campaigns", campaign)
    for name, handler, help_text in (("show", cmd_firmware_campaign_show, "a campaign and each station's progress"),
                                     ("stop", cmd_firmware_campaign_stop, "stop sending")):
        command(name, handler, help_text, campaign).add_argument("id", type=int)
    resume = command("resume", cmd_firmware_campaign_resume, "resume a stopped or halted campaign", campaign)
    resume.add_argument("id", type=int)
    resume.add_argument("--max-failures", dest="max_failures", type=int)



# Errors that carry no rule yet still refuse the request (not a crash): the message alone.
_REFUSALS = (LintError, LookupError, ValueError)
_SETUP = (PkiNotInitialized, SettingsError, KeyStoreError, PolicyError)


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever this process creates (database and its -wal/-shm, token and config files, the data
    # directory) is its owner's alone: they hold password and token hashes and the audit log.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except CliError as exc:
        return _fail(str(exc), exc.code)
    except DatabaseUnavailable as exc:
        return _fail(f"database unavailable: {exc}", EXIT_DATABASE)
    except _SETUP as exc:
        return _fail(str(exc), EXIT_SETUP)
    except Refusal as exc:
        return _fail(f"{exc.rule}: {exc}", EXIT_REFUSED)
    except _REFUSALS as exc:
        return _fail(str(exc), EXIT_REFUSED)
    except KeyboardInterrupt:
        return 130
    return 0


def _fail(message: str, code: int) -> int:
    print(f"chargeca: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
