"""The REST client the three rotation scripts share (scripts/rotate_*.py); nothing else.

A script is a thin loop over POST /api/v1/rotations/<rotation>: one pass per request, its report
printed station by station. With --until-done it runs passes until nothing is pending or
--timeout seconds are up, sending again the parameters the first report fixed (``issued_before``),
so every pass continues the same rotation. Exit status: 0 done (or one pass / a dry run ran),
2 refused or unreachable (one line on stderr says why), 3 timed out with stations pending.
Only httpx is needed, not the ChargeCA code: the scripts run wherever the API is reachable.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
REFUSED, TIMED_OUT = 2, 3
# Report parameters a re-run must send again to continue the same rotation.
CARRIED = ("issued_before",)


class Refused(Exception):
    pass


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("CHARGECA_URL", DEFAULT_URL),
                        help=f"ChargeCA REST API base URL (env CHARGECA_URL; default {DEFAULT_URL})")
    parser.add_argument("--token", default=os.environ.get("CHARGECA_TOKEN"),
                        help="API token cca_<id>_<secret> (env CHARGECA_TOKEN)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; nothing is sent or changed")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="time budget of one pass on the server (default 60, at most 600)")
    parser.add_argument("--until-done", action="store_true",
                        help="run passes until nothing is pending or --timeout is up")
    parser.add_argument("--timeout", type=float, default=600.0, help="with --until-done: give up after this many "
                                                                     "seconds (default 600)")
    parser.add_argument("--pause", type=float, default=5.0, help="with --until-done: seconds between passes")


def client(args: argparse.Namespace) -> httpx.Client:
    if not args.token:
        raise Refused("no API token: give --token or set CHARGECA_TOKEN")
    return httpx.Client(base_url=args.url.rstrip("/"), headers={"Authorization": f"Bearer {args.token}"},
                        timeout=httpx.Timeout(args.max_seconds + 60, connect=10))


def request(http: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        answer = http.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise Refused(f"cannot reach {http.base_url}: {exc}") from None
    if answer.status_code != 200:
        try:
            error = answer.json()
            reason = error.get("error", answer.text) + (f" [{error['rule']}]" if error.get("rule") else "")
        except ValueError:
            reason = answer.text.strip() or answer.reason_phrase
        raise Refused(f"{answer.status_code}: {reason}")
    return answer.json()


def print_report(report: dict[str, Any], number: int) -> None:
    counts = ", ".join(f"{outcome} {count}" for outcome, count in sorted(report["counts"].items()))
    label = "plan" if report["dry_run"] else f"pass {number}"
    print(f"{label}: {report['rotation']}, phase {report['phase'] or '-'}"
          f"{', complete' if report['complete'] else ''} ({counts or 'nothing to do'})")
    for record in report["progress"]:
        print(f"  {record['station'] or '(csms)':<24} {record['step']:<16} {record['outcome']:<8} {record['detail']}")
    if report["pending"]:
        print(f"  pending: {', '.join(report['pending'])}")


def run_passes(args: argparse.Namespace, rotation: str, body: dict[str, Any],
               first_pass_only: dict[str, Any] | None = None) -> int:
    """POST passes of ``rotation``; prints each report; the exit status."""
    prog = os.path.basename(sys.argv[0])
    give_up = time.monotonic() + args.timeout
    try:
        with client(args) as http:
            number = 1
            while True:
                remaining = give_up - time.monotonic()
                once = (first_pass_only or {}) if number == 1 else {}
                payload = {**body, **once, "dry_run": args.dry_run}
                if "max_seconds" in body:
                    payload["max_seconds"] = max(1.0, min(args.max_seconds, remaining if args.until_done else 600))
                report = request(http, "POST", f"/api/v1/rotations/{rotation}", payload)
                print_report(report, number)
                if report["dry_run"] or report["complete"] or not args.until_done:
                    return 0
                body.update({k: report["parameters"][k] for k in CARRIED if report["parameters"].get(k)})
                if time.monotonic() + args.pause >= give_up:
                    pending = report["pending"]
                    print(f"{prog}: timed out after {args.timeout:g} s: {len(pending)} station(s) pending"
                          f"{': ' + ', '.join(pending) if pending else ''}", file=sys.stderr)
                    return TIMED_OUT
                time.sleep(args.pause)
                number += 1
    except Refused as exc:
        print(f"{prog}: refused: {exc}", file=sys.stderr)
        return REFUSED
