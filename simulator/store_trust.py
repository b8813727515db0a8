"""TLS trust taken from what a simulated station has installed, as a real station does it.

A real station verifies the CSMS server certificate against the CSMSRootCertificate entries it
holds (M05), not against a file a lab hands it. That matters in a root rollover: the station
reaches the CSMS with the new server certificates only once the new root is installed, and
stops trusting the old root when it is deleted. Use ``InstalledRootsTrust`` in place of
``TlsOptions`` to get that behaviour (``station.tls = InstalledRootsTrust(station.certificates)``).

Every installed CSMS root is a trust anchor, self-signed or not: a station with
AdditionalRootCertificateCheck keeps the new root in the form it received it, cross-signed by
the old one, and after the old root is gone that certificate alone must anchor the chain
(OpenSSL's partial-chain mode).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from simulator.certificate_store import CSMS_ROOT, CertificateStore


@dataclass(frozen=True)
class InstalledRootsTrust:
    store: CertificateStore
    server_hostname: str | None = None   # name to check the certificate for, if not the URL host

    def context(self, client_cert: Path | None, client_key: Path | None) -> ssl.SSLContext:
        roots = "".join(c.public_bytes(Encoding.PEM).decode() for c in self.store.certificates(CSMS_ROOT))
        # Not create_default_context: a station trusts its own roots, not the host's CA bundle.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if roots:
            context.load_verify_locations(cadata=roots)
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        if client_cert:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        return context
