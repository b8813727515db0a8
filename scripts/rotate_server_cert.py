#!/usr/bin/env python3
"""New CSMS server certificates (EC and RSA), hot reloaded: open connections stay, new TLS
handshakes get the new certificates. Officer token.

    rotate_server_cert.py [--url URL] [--token TOKEN] [--dry-run] [--fqdn NAME]
                          [--issued-before ISO] [--until-done --timeout S]

Resumable: a re-run given the ``issued_before`` the first run printed (--issued-before) finds the
certificates newer than that and only reloads the listener.

The same over REST:

    curl -sS -X POST "$CHARGECA_URL/api/v1/rotations/server-certificate" \\
         -H "Authorization: Bearer $CHARGECA_TOKEN" -H 'Content-Type: application/json' \\
         -d '{"dry_run": false, "issued_before": null, "fqdn": null}'

The answer is the pass's report: {rotation, dry_run, phase, complete, pending, counts,
parameters, progress: [{station, step, outcome, detail}], started_at, finished_at}.
"""

from __future__ import annotations

import argparse
import sys

from rotation_client import add_common_arguments, run_passes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--fqdn", help="server name (default: the name served now)")
    parser.add_argument("--issued-before", help="replace only certificates issued before this ISO time")
    args = parser.parse_args(argv)
    return run_passes(args, "server-certificate", {"issued_before": args.issued_before, "fqdn": args.fqdn})


if __name__ == "__main__":
    sys.exit(main())
