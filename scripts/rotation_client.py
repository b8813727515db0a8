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
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
REFUSED, TIMED_OUT = 2, 3
# What every pass report holds (api/rest/routers/rotations.py ReportOut) and the scripts read.
REPORT_KEYS = ("rotation", "dry_run", "phase", "complete", "pending", "counts", "parameters", "progress")
# Report parameters a re-run must send again to continue the same rotation.
CARRIED = ("issued_before",)


class Refused(Exception):
    pass


def seconds(low: float, high: float = math.inf) -> Callable[[str], float]:
    """An argparse type: a number of seconds within [low, high]. NaN and infinities are refused
    here, since past this point they would never end a wait (NaN compares false) or crash one."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            bounds = f"from {low:g} to {high:g}" if math.isfinite(high) else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{text!r} seconds: must be {bounds}")
        return value
    return parse


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("CHARGECA_URL", DEFAULT_URL),
                        help=f"ChargeCA REST API base URL (env CHARGECA_URL; default {DEFAULT_URL})")
    parser.add_argument("--token", default=os.environ.get("CHARGECA_TOKEN"),
                        help="API token cca_<id>_<secret> (env CHARGECA_TOKEN)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; nothing is sent or changed")
    parser.add_argument("--max-seconds", type=seconds(1, 600), default=60.0,
                        help="time budget of one pass on the server (default 60, at most 600)")
    parser.add_argument("--until-done", action="store_true",
                        help="run passes until nothing is pending or --timeout is up")
    parser.add_argument("--timeout", type=seconds(0), default=600.0, help="with --until-done: give up after this many "
                                                                     "seconds (default 600)")
    parser.add_argument("--pause", type=seconds(0), default=5.0, help="with --until-done: seconds between passes")


def client(args: argparse.Namespace) -> httpx.Client:
    if not args.token:
        raise Refused("no API token: give --token or set CHARGECA_TOKEN")
    if not (args.token.isascii() and args.token.isprintable()):
        # An HTTP header carries ASCII only; the token is never echoed, it may be a real one.
        raise Refused("the API token holds characters no token has (non-ASCII or control characters)")
    try:
        return httpx.Client(base_url=args.url.rstrip("/"), headers={"Authorization": f"Bearer {args.token}"},
                            timeout=httpx.Timeout(args.max_seconds + 60, connect=10))
    except httpx.InvalidURL as exc:
        raise Refused(f"--url {args.url!r} is not a URL: {exc}") from None


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "..."


def request(http: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None,
            expect: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON object answered, with the keys in ``expect``; Refused otherwise."""
    try:
        answer = http.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise Refused(f"cannot reach {http.base_url}: {exc}") from None
    try:
        data = answer.json()
    except ValueError:
        data = None
    if answer.status_code != 200:
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            reason = data["error"] + (f" [{data['rule']}]" if data.get("rule") else "")
        else:
            reason = _one_line(answer.text) or answer.reason_phrase
        raise Refused(f"{answer.status_code}: {reason}")
    missing = [key for key in expect if key not in data] if isinstance(data, dict) else list(expect)
    if not isinstance(data, dict) or missing:
        # Something answered 200, but not the rotations API: most likely --url names another service.
        raise Refused(f"{method} {path} was not answered as the ChargeCA REST API answers "
                      f"({'no JSON object' if not isinstance(data, dict) else 'no ' + ', '.join(missing)}); "
                      "check --url")
    return data


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
                report = request(http, "POST", f"/api/v1/rotations/{rotation}", payload, expect=REPORT_KEYS)
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
