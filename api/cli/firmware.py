"""`chargeca firmware …`: images, signing, manufacturer roots and campaigns (block L)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from api.cli.common import (
    COUNT,
    ROW_ID,
    CliError,
    Command,
    context_of,
    integer,
    officer,
    print_row,
    read_text,
    write_text,
)
from api.core.refusal import Refusal
from storage.db import read_scope
from storage.firmware import RUNNING, STOPPED

if TYPE_CHECKING:
    from api.csms.firmware.registry import ImageIn
    from api.rotation.firmware_campaigns import CampaignView


def _registry() -> ModuleType:
    """The firmware commands' module, imported when one runs: every other command starts without it."""
    from api.csms.firmware import registry

    return registry


def _campaigns() -> ModuleType:
    """The campaign commands' module, imported when one runs (api.rotation alone costs about 0.5 s)."""
    from api.rotation import firmware_campaigns

    return firmware_campaigns


def _register_image(args: argparse.Namespace, image: ImageIn) -> None:
    ctx, registry = context_of(args), _registry()
    try:
        registry.check_names(image)
        with open(args.file, "rb") as source:
            staged = registry.stage_file(ctx, source)
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from exc
    except Refusal as exc:  # audited as register_image audits its own
        registry.refused_upload(ctx, officer(), image, exc)
        raise
    row = registry.register_image(ctx, officer(), staged, image)
    print(f"image {row.id}\t{row.name} {row.version}\t{row.size} bytes\tsha256 {row.sha256}\tsigned by {row.signed_by}")
    print(f"signature {row.signature}")


def cmd_firmware_sign(args: argparse.Namespace) -> None:
    _register_image(args, _registry().ImageIn(args.name, args.version, sign=True))


def cmd_firmware_add(args: argparse.Namespace) -> None:
    signature = read_text(args.signature, "signature").strip()
    certificate = read_text(args.certificate, "signing certificate")
    _register_image(args, _registry().ImageIn(args.name, args.version, signature, certificate))


def _print_table(args: argparse.Namespace, read: Callable, columns: Sequence[str], line: Callable) -> None:
    with read_scope(context_of(args).engine) as session:
        rows = read(session)
    print("\t".join(columns))
    for row in rows:
        print_row(*line(row))


def cmd_firmware_list(args: argparse.Namespace) -> None:
    _print_table(args, _registry().images, ("id", "name", "version", "size", "signed_by", "root", "sha256"),
                 lambda r: (r.id, r.name, r.version, r.size, r.signed_by, r.root_id, r.sha256))


def cmd_firmware_signer(args: argparse.Namespace) -> None:
    signer = _registry().signer_view(context_of(args), officer())
    root_pem = signer.root.record.certificate_pem
    if args.out:
        write_text(args.out, root_pem)
        print(f"manufacturer root written to {args.out}; firmware-signing certificate {signer.record.serial_hex}")
    else:
        sys.stdout.write(root_pem)


def cmd_firmware_root_add(args: argparse.Namespace) -> None:
    row = _registry().add_root(context_of(args), officer(), read_text(args.pem, "root certificate"))
    print(f"root {row.id}\t{row.subject}\tsha256 {row.sha256}")


def cmd_firmware_root_list(args: argparse.Namespace) -> None:
    _print_table(args, _registry().roots, ("id", "subject", "managed", "not_after", "sha256"),
                 lambda r: (r.id, r.subject, r.authority_id is not None, r.not_after.isoformat(), r.sha256))


def cmd_firmware_revoke(args: argparse.Namespace) -> None:
    row = _registry().revoke_certificate(context_of(args), officer(), read_text(args.pem, "certificate"),
                                         args.reason)
    print(f"revoked {row.subject} (sha256 {row.sha256})")


def _print_campaign(shown: CampaignView) -> None:
    c = shown.campaign
    counts = ", ".join(f"{n} {state}" for state, n in sorted(shown.counts.items()))
    print_row(f"campaign {c.id}", f"image {c.image_id}", c.station_filter, c.status, counts, c.detail)


def cmd_firmware_campaign_create(args: argparse.Namespace) -> None:
    # Stored; the running service's campaign worker sends (this works with the service down too).
    ctx = context_of(args)
    spec = _campaigns().CampaignSpec(image_id=args.image, station_filter=args.filter,
                                     per_minute=args.per_minute, max_failures=args.max_failures,
                                     install_delay_minutes=args.install_delay, protocol=args.protocol,
                                     final_status_minutes=args.final_status)
    if args.dry_run:
        for planned in _campaigns().plan(ctx, spec):
            print_row(planned.station_id, "ready" if planned.ready else "refused", planned.detail)
        return
    _print_campaign(_campaigns().create(ctx, officer(), spec))


def cmd_firmware_campaign_list(args: argparse.Namespace) -> None:
    with read_scope(context_of(args).engine) as session:
        for shown in _campaigns().listed(session):
            _print_campaign(shown)


def cmd_firmware_campaign_show(args: argparse.Namespace) -> None:
    with read_scope(context_of(args).engine) as session:
        shown = _campaigns().view(session, args.id)
    _print_campaign(shown)
    for row in shown.stations:
        print_row(row.station_id, row.state, row.detail)


def cmd_firmware_campaign_stop(args: argparse.Namespace) -> None:
    _print_campaign(_campaigns().set_status(context_of(args), officer(), args.id, STOPPED))


def cmd_firmware_campaign_resume(args: argparse.Namespace) -> None:
    _print_campaign(_campaigns().set_status(context_of(args), officer(), args.id, RUNNING,
                                            max_failures=args.max_failures))


def add_commands(commands: argparse._SubParsersAction, command: Command) -> None:
    """firmware (sign, add, list, signer, root, revoke-certificate, campaign)."""
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
    create.add_argument("image", type=ROW_ID, help="image id")
    create.add_argument("--filter", default="*", help="glob over station ids (default: every enabled station)")
    create.add_argument("--per-minute", dest="per_minute", type=integer(1), default=10)
    create.add_argument("--max-failures", dest="max_failures", type=COUNT, default=1)
    create.add_argument("--install-delay", dest="install_delay", type=COUNT, default=0, metavar="MINUTES")
    create.add_argument("--protocol", choices=("https", "ftp", "auto"), default="auto",
                        help="auto: each station's from what it reported (FileTransferProtocols), https first")
    create.add_argument("--final-status", dest="final_status", type=integer(1), metavar="MINUTES",
                        help="a station with no final status this long after its request fails "
                             "(default: the [firmware] policy's campaign_final_status_minutes)")
    create.add_argument("--dry-run", dest="dry_run", action="store_true", help="show the plan; store nothing")
    command("list", cmd_firmware_campaign_list, "list campaigns", campaign)
    for name, handler, help_text in (("show", cmd_firmware_campaign_show, "a campaign and each station's progress"),
                                     ("stop", cmd_firmware_campaign_stop, "stop sending")):
        command(name, handler, help_text, campaign).add_argument("id", type=ROW_ID)
    resume = command("resume", cmd_firmware_campaign_resume, "resume a stopped or halted campaign", campaign)
    resume.add_argument("id", type=ROW_ID)
    resume.add_argument("--max-failures", dest="max_failures", type=COUNT)
