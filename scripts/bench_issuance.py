#!/usr/bin/env python3
"""Issuance throughput on this machine. Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_issuance.py [--count N] [--database-url URL]

1. raw ECDSA P-256 signatures/s (cryptography, one core): the ceiling for a P-256 CA;
2. certificates/s issued end to end in-process through the same call the CLI and REST use
   (CSR policy check + profile build + lint + sign + store with its audit entry, one
   transaction per certificate), with and without pre-issuance lint;
3. each as a ratio to (1).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.core.audit import Actor
from api.core.context import open_context  # noqa: E402
from api.core.settings import load_settings  # noqa: E402
from api.csms.security.authority_service import sign_csr
from api.operations.stations import add_station
from pki.authorities import init_pki  # noqa: E402
from storage.db import session_scope  # noqa: E402

ORG = "Bench CSO"


def raw_signatures_per_second(seconds: float = 2.0) -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    message = os.urandom(200)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            key.sign(message, ec.ECDSA(hashes.SHA256()))
        count += 200
    return count / elapsed


def make_csrs(prefix: str, count: int) -> list[tuple[str, str]]:
    csrs = []
    for i in range(count):
        station = f"{prefix}-{i:05d}"
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                                        x509.NameAttribute(NameOID.COMMON_NAME, station)]))
               .sign(key, hashes.SHA256()))
        csrs.append((station, csr.public_bytes(serialization.Encoding.PEM).decode()))
    return csrs


def issue_all(ctx, csrs, lint: bool) -> float:
    actor = Actor("bench")
    for station, _ in csrs:
        add_station(ctx, actor, station, security_profile=3)
    start = time.perf_counter()
    for station, pem in csrs:
        sign_csr(ctx, actor, station, pem, lint=lint)
    return len(csrs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="certificates per run")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("CHARGECA_KEY_PASSPHRASE", "bench-passphrase-0123456789")
        if args.database_url:
            os.environ["CHARGECA_DATABASE_URL"] = args.database_url
        ctx = open_context(load_settings(Path(tmp) / "data"))
        with session_scope(ctx.engine) as session:
            init_pki(session, ctx.keystore, organization=ORG, fqdn="csms.bench", policy=ctx.policy, urls=ctx.urls)
        backend = ctx.engine.dialect.name

        raw = raw_signatures_per_second()
        with_lint = issue_all(ctx, make_csrs("LINT", args.count), lint=True)
        without_lint = issue_all(ctx, make_csrs("NOLINT", args.count), lint=False)
        ctx.engine.dispose()

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, database {backend}, "
          f"{args.count} certificates per run")
    print(f"raw ECDSA P-256 signatures/s          {raw:10.0f}")
    print(f"issued end to end, with lint (cert/s) {with_lint:10.1f}   ratio to raw {with_lint / raw:.4f}")
    print(f"issued end to end, no lint   (cert/s) {without_lint:10.1f}   ratio to raw {without_lint / raw:.4f}")
    print(f"lint cost per certificate (ms)        {1000 / with_lint - 1000 / without_lint:10.2f}")


if __name__ == "__main__":
    main()
