#!/usr/bin/env python3
"""Issuance throughput on this machine. Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_issuance.py [--count N] [--workers N] [--database-url URL]
                                               [--single-count N] [--softhsm N]

The numbers are noisy on a shared machine, so each is printed with its ratio to a reference
measured in the same run: raw ECDSA P-256 signatures/s on one core (the ceiling of a P-256 CA).

1. raw signatures/s;
2. the per-certificate path (reference; what an operator's `chargeca sign` runs): CSR check,
   build, lint, sign, store and audit, one transaction per certificate, one process;
3. the fleet path a root rollover runs: ``--count`` SignCertificate requests stored as accepted
   (as the stations' SignCertificate leaves them, not timed), then signed in batches
   (api/csms/security/certificate_batches.py: CSR check, build, lint, sign, store the certificate
   and its CertificateSigned delivery, audit — every step, every certificate) by 1 process, then
   by ``--workers`` processes sharing the requests;
4. with ``--softhsm N``: the fleet path in one process with the CA keys in a SoftHSM2 token.

With a postgresql:// URL a scratch database is made on that server and dropped afterwards;
without one, SQLite in a temporary directory (where writers queue on one lock).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch_database import scratch_database  # noqa: E402
from sqlmodel import select  # noqa: E402

from api.core.audit import Actor  # noqa: E402
from api.core.context import open_context  # noqa: E402
from api.core.settings import load_settings  # noqa: E402
from api.csms.security.authority_service import sign_csr  # noqa: E402
from api.csms.security.certificate_batches import MAX_BATCH, sign_all  # noqa: E402
from pki.authorities import init_pki  # noqa: E402
from pki.pkcs11_keystore import Pkcs11Settings  # noqa: E402
from storage import audit  # noqa: E402
from storage.certificate_requests import CertificateRequest, RequestStatus  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.stations import Station  # noqa: E402

ORG = "Bench CSO"
PASSPHRASE = "bench-passphrase-0123456789"


def raw_signatures_per_second(seconds: float = 2.0) -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    message = os.urandom(200)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            key.sign(message, ec.ECDSA(hashes.SHA256()))
        count += 200
    return count / elapsed


def make_csr(station: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                                    x509.NameAttribute(NameOID.COMMON_NAME, station)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def register(ctx, stations: list[str]) -> None:
    with session_scope(ctx.engine) as session:
        session.add_all([Station(id=s, security_profile=3) for s in stations])


def per_certificate(ctx, prefix: str, count: int) -> float:
    """Certificates/s of the one-transaction-per-certificate path."""
    stations = [f"{prefix}-{i}" for i in range(count)]
    register(ctx, stations)
    csrs = [make_csr(s) for s in stations]
    actor = Actor("bench")
    start = time.perf_counter()
    for station, pem in zip(stations, csrs):
        sign_csr(ctx, actor, station, pem)
    return count / (time.perf_counter() - start)


def accepted_requests(ctx, prefix: str, count: int) -> list[int]:
    """``count`` stations, each with a SignCertificate request accepted and not signed yet."""
    stations = [f"{prefix}-{i}" for i in range(count)]  # ids of several lengths, as in a fleet
    register(ctx, stations)
    with session_scope(ctx.engine) as session:
        rows = [CertificateRequest(station_id=s, certificate_type="ChargingStationCertificate", csr_pem=make_csr(s))
                for s in stations]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def _worker(data_dir: str, request_ids: list[int], ready, go, results) -> None:
    try:
        ctx = open_context(load_settings(data_dir), run_migrations=False)
        sign_all(ctx, [])  # imports made before the clock starts
        ctx.engine.connect().close()
    finally:
        ready.put(None)
    go.wait()
    start = time.perf_counter()
    signed = 0
    try:
        signed = sum(delivery is not None for delivery in sign_all(ctx, request_ids))
    finally:  # a worker that failed still reports (its traceback is on stderr)
        results.put((signed, start, time.perf_counter()))
    ctx.engine.dispose()


def batched(data_dir: str, request_ids: list[int], workers: int) -> tuple[float, int]:
    """(certificates/s, certificates signed) of ``workers`` processes signing ``request_ids``."""
    spawn = multiprocessing.get_context("spawn")
    ready, results, go = spawn.Queue(), spawn.Queue(), spawn.Event()
    shares = [request_ids[i::workers] for i in range(workers)]
    processes = [spawn.Process(target=_worker, args=(data_dir, share, ready, go, results)) for share in shares]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get()
    go.set()
    outcomes = [results.get() for _ in processes]
    for process in processes:
        process.join()
    signed = sum(o[0] for o in outcomes)
    elapsed = max(o[2] for o in outcomes) - min(o[1] for o in outcomes)
    return signed / elapsed, signed


def softhsm_token(directory: Path) -> Pkcs11Settings | None:
    """A fresh SoftHSM2 token (SOFTHSM2_CONF set for this process), or None without SoftHSM2."""
    module = next((Path(m) for m in ("/usr/lib/softhsm/libsofthsm2.so",
                                     "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so") if Path(m).exists()), None)
    if module is None or shutil.which("softhsm2-util") is None:
        return None
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    config = directory / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(config)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", "1234-bench-pin",
                    "--so-pin", "5678-bench-so-pin"], check=True, capture_output=True)
    pin_file = directory / "pin"
    pin_file.write_text("1234-bench-pin\n")
    pin_file.chmod(0o600)
    return Pkcs11Settings(module, "bench", pin_file)


def in_token(tmp: str, url: str | None, count: int) -> float | None:
    """Certificates/s of the fleet path in this process with the CA keys in a SoftHSM2 token."""
    token = softhsm_token(Path(tmp) / "softhsm")
    if token is None:
        return None
    with scratch_database(url) as url:
        os.environ["CHARGECA_DATABASE_URL"] = url or f"sqlite:///{Path(tmp) / 'token.db'}"
        ctx = open_context(load_settings(Path(tmp) / "token-data").with_overrides(pkcs11=token))
        with session_scope(ctx.engine) as session:
            init_pki(session, ctx.keystore, organization=ORG, fqdn="csms.bench", policy=ctx.policy, urls=ctx.urls)
        request_ids = accepted_requests(ctx, "HSM", count)
        start = time.perf_counter()
        sign_all(ctx, request_ids)
        rate = count / (time.perf_counter() - start)
        ctx.engine.dispose()
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000, help="certificates per fleet run")
    parser.add_argument("--single-count", type=int, default=300, help="certificates of the per-certificate run")
    parser.add_argument("--workers", type=int, default=2, help="processes of the fleet run")
    parser.add_argument("--softhsm", type=int, default=0, metavar="N",
                        help="also sign N certificates with the CA keys in a SoftHSM2 token (1 process)")
    parser.add_argument("--database-url", help="postgresql://… server (a scratch database is made there); "
                                               "default: SQLite in a temporary directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.database_url) as url:
        data_dir = str(Path(tmp) / "data")
        os.environ.setdefault("CHARGECA_KEY_PASSPHRASE", PASSPHRASE)
        if url:
            os.environ["CHARGECA_DATABASE_URL"] = url
        ctx = open_context(load_settings(data_dir))
        with session_scope(ctx.engine) as session:
            init_pki(session, ctx.keystore, organization=ORG, fqdn="csms.bench", policy=ctx.policy,
                     urls=ctx.urls)
        backend = ctx.engine.dialect.name

        raw = raw_signatures_per_second()
        single = per_certificate(ctx, "ONE", args.single_count)
        one_process, _ = batched(data_dir, accepted_requests(ctx, "P1", args.count), 1)
        many, signed = batched(data_dir, accepted_requests(ctx, "PN", args.count), args.workers)
        token = in_token(tmp, args.database_url, args.softhsm) if args.softhsm else None
        with session_scope(ctx.engine) as session:
            chain = audit.verify_chain(session)
            left = len(session.exec(select(CertificateRequest.id).where(
                CertificateRequest.status != RequestStatus.SIGNED)).all())
        ctx.engine.dispose()

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, database {backend}; "
          f"fleet runs of {args.count} certificates, batches of up to {MAX_BATCH}, lint on")
    print(f"raw ECDSA P-256 signatures/s (1 core)                 {raw:10.0f}")
    print(f"per certificate, 1 transaction each, 1 process  cert/s {single:10.1f}   "
          f"ratio to raw {single / raw:.4f}")
    print(f"fleet batches, 1 process                        cert/s {one_process:10.1f}   "
          f"ratio to raw {one_process / raw:.4f}   x{one_process / single:.1f} the per-certificate path")
    print(f"fleet batches, {args.workers} processes                      cert/s {many:10.1f}   "
          f"ratio to raw {many / raw:.4f}   x{many / single:.1f} the per-certificate path, "
          f"x{many / one_process:.2f} 1 process")
    if args.softhsm:
        print("fleet batches, 1 process, CA key in SoftHSM2   cert/s "
              + (f"{token:10.1f}   ratio to raw {token / raw:.4f}" if token else "  (SoftHSM2 is not installed)"))
    print(f"signed {signed}/{args.count} in the {args.workers}-process run; requests left unsigned: {left}; "
          f"audit chain {'verifies' if chain.ok else 'BROKEN at ' + str(chain.first_bad_seq)} "
          f"({chain.entries} entries)")


if __name__ == "__main__":
    main()
