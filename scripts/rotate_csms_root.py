#!/usr/bin/env python3
"""CSMS root rollover, pass by pass, without locking a station out. Officer token.

    rotate_csms_root.py --begin [--until-done --timeout S]    start (stage G n+1) and continue
    rotate_csms_root.py [--until-done --timeout S]            continue the rollover in progress
    rotate_csms_root.py --dry-run [--begin]                   the plan, per station; nothing changes
    rotate_csms_root.py --status                              where it stands, per generation and station
    rotate_csms_root.py --force-retire --reason TEXT          retire the old generation although stations
                                                              still depend on it (they lose profile 3)
    common: [--url URL] [--token TOKEN] [--max-seconds S]

Phases: stage the new root and sub-CAs; install the new root on every station (cross-signed by
the old root for stations with AdditionalRootCertificateCheck=true) and see it in their
inventory; once all hold it, activate the new generation, switch the server certificates and
reload TLS; renew every station certificate under the new hierarchy; delete the old root from
each station proven on the new one (it reconnected with a new certificate); retire the old
generation when no station depends on it. Offline stations stay pending; re-run to continue.

The same over REST:

    curl -sS -X POST "$CHARGECA_URL/api/v1/rotations/csms-root" \\
         -H "Authorization: Bearer $CHARGECA_TOKEN" -H 'Content-Type: application/json' \\
         -d '{"begin": true, "dry_run": false, "max_seconds": 60}'
    curl -sS "$CHARGECA_URL/api/v1/rotations/csms-root" -H "Authorization: Bearer $CHARGECA_TOKEN"
"""

from __future__ import annotations

import argparse
import sys

from rotation_client import REFUSED, Refused, add_common_arguments, client, request, run_passes


def show_status(args: argparse.Namespace) -> int:
    try:
        with client(args) as http:
            status = request(http, "GET", "/api/v1/rotations/csms-root",
                             expect=("phase", "old_generation", "new_generation", "generations", "stations"))
    except Refused as exc:
        print(f"rotate_csms_root.py: refused: {exc}", file=sys.stderr)
        return REFUSED
    print(f"rollover: {status['phase']} (G{status['old_generation']} -> G{status['new_generation']})"
          if status["new_generation"] else f"rollover: {status['phase']}")
    for generation in status["generations"]:
        print(f"  G{generation['generation']}: {generation['state']:<8} {generation['root_name']}, "
              f"{generation['stations']} station(s)"
              f"{', serves the server certificates' if generation['serves_server_certificates'] else ''}")
    for station in status["stations"]:
        print(f"  {station['station']:<24} {station['phase']:<8} {station['detail']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--begin", action="store_true", help="start a rollover when none is in progress")
    parser.add_argument("--status", action="store_true", help="show where the rollover stands, change nothing")
    parser.add_argument("--force-retire", action="store_true",
                        help="retire the old generation although stations still depend on it")
    parser.add_argument("--reason", help="why, for the audit log (required with --force-retire)")
    args = parser.parse_args(argv)
    if args.status:
        return show_status(args)
    if args.force_retire and not args.reason:
        parser.error("--force-retire needs --reason")
    body = {"force_retire": args.force_retire, "reason": args.reason, "max_seconds": args.max_seconds}
    # Beginning is asked for once: a later pass must never start a second rollover.
    return run_passes(args, "csms-root", body, first_pass_only={"begin": args.begin})


if __name__ == "__main__":
    sys.exit(main())
