#!/usr/bin/env python3
"""Firmware registry and pre-send check on this machine. Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_firmware.py [--mib N] [--stations N]

1. registering an image ChargeCA signs: streamed to disk and hashed, signed with the firmware
   key from the key store, recorded (MiB/s, end to end through the call the CLI uses);
2. the check before each UpdateFirmware (the station's inventory holds the root, certificate
   valid and not revoked, the signature verified over the stored file's digest), per station,
   first (the file hashed again) and then with the digest known.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.core.audit import Actor, run_in_session  # noqa: E402
from api.core.context import open_context  # noqa: E402
from api.core.settings import load_settings  # noqa: E402
from api.csms.firmware import registry, service  # noqa: E402
from api.csms.security.installed_certificates import store_report  # noqa: E402
from api.operations.stations import add_station  # noqa: E402
from pki.authorities import init_pki  # noqa: E402
from pki.hashdata import certificate_hash_data  # noqa: E402
from storage.db import session_scope  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="image size in MiB")
    parser.add_argument("--stations", type=int, default=500, help="stations checked")
    args = parser.parse_args()
    actor = Actor("bench", "officer")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("CHARGECA_KEY_PASSPHRASE", "bench-passphrase-0123456789")
        ctx = open_context(load_settings(Path(tmp) / "data"))
        with session_scope(ctx.engine) as session:
            init_pki(session, ctx.keystore, organization="Bench CSO", fqdn="csms.bench", policy=ctx.policy,
                     urls=ctx.urls)
        registry.signer_view(ctx, actor)  # the keys exist before timing
        data = os.urandom(args.mib * 1024 * 1024)
        start = time.perf_counter()
        staged = registry.stage_file(ctx, io.BytesIO(data))
        image = registry.register_image(ctx, actor, staged, registry.ImageIn("bench", "1.0", sign=True))
        register_s = time.perf_counter() - start

        root = registry.root_certificate(run_in_session(ctx, lambda s: registry.roots(s)[0]))
        hash_data = certificate_hash_data(root, root).to_ocpp()
        ids = [f"FW-{i:05d}" for i in range(args.stations)]
        for station_id in ids:
            add_station(ctx, actor, station_id, security_profile=2)
        run_in_session(ctx, lambda s: [store_report(s, sid, ("ManufacturerRootCertificate",), {
            "status": "Accepted", "certificateHashDataChain": [{"certificateType": "ManufacturerRootCertificate",
                                                               "certificateHashData": hash_data}]}) for sid in ids])
        registry._digests.clear()  # noqa: SLF001 - the first check hashes the file again
        start = time.perf_counter()
        first = run_in_session(ctx, lambda s: service.check_update(ctx, s, ids[0], image))
        first_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        decisions = run_in_session(ctx, lambda s: [service.check_update(ctx, s, sid, image) for sid in ids])
        per_station_ms = (time.perf_counter() - start) * 1000 / len(ids)
        ctx.engine.dispose()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"register a {args.mib} MiB image signed by ChargeCA: {register_s:.2f} s ({args.mib / register_s:.0f} MiB/s)")
    print(f"check before UpdateFirmware, first (file hashed again): {first_ms:.1f} ms ({bool(first)})")
    print(f"check before UpdateFirmware, per station ({len(ids)} stations): {per_station_ms:.2f} ms "
          f"({sum(map(bool, decisions))} allowed)")


if __name__ == "__main__":
    main()
