#!/usr/bin/env python3
"""Renew every station certificate matching a filter: the station is asked for a new CSR
(TriggerMessage SignChargingStationCertificate) and is done once it reconnected with its new
certificate. Offline stations are reported pending; a re-run picks them up. Officer or operator
token; --all needs an officer.

    rotate_station_certs.py (--expiring-within-days N | --issuer-id CA_ID | --all [--issued-before ISO])
                            [--url URL] [--token TOKEN] [--dry-run] [--max-seconds S]
                            [--until-done --timeout S]

--issuer-id names a station CA being replaced (not the one issuing now); --all renews every
certificate issued before --issued-before (default: the first pass's start, printed in its
parameters; give it to a later run to continue the same rotation).

The same over REST (one pass; repeat with the report's parameters until "complete"):

    curl -sS -X POST "$CHARGECA_URL/api/v1/rotations/station-certificates" \\
         -H "Authorization: Bearer $CHARGECA_TOKEN" -H 'Content-Type: application/json' \\
         -d '{"expiring_within_days": 30, "dry_run": false, "max_seconds": 60}'
"""

from __future__ import annotations

import argparse
import sys

from rotation_client import add_common_arguments, run_passes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--expiring-within-days", type=int, metavar="N")
    which.add_argument("--issuer-id", metavar="CA_ID")
    which.add_argument("--all", action="store_true", help="every certificate (after a compromise); officer only")
    parser.add_argument("--issued-before", help="with --all: certificates issued before this ISO time")
    args = parser.parse_args(argv)
    if args.issued_before and not args.all:
        parser.error("--issued-before goes with --all")
    body = {"expiring_within_days": args.expiring_within_days, "issuer_id": args.issuer_id, "all": args.all,
            "issued_before": args.issued_before, "max_seconds": args.max_seconds}
    return run_passes(args, "station-certificates", body)


if __name__ == "__main__":
    sys.exit(main())
