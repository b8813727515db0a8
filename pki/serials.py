"""Certificate serial numbers: 127 random bits from the OS CSPRNG, positive, never zero."""

from __future__ import annotations

import secrets


def random_serial() -> int:
    # 16 bytes with the top bit cleared: positive in DER, at most 20 octets (RFC 5280 4.1.2.2),
    # and far above the 64 bits of entropy CA/B Forum asks for.
    while True:
        value = int.from_bytes(secrets.token_bytes(16), "big") & ((1 << 127) - 1)
        if value >= 1 << 64:
            return value


def serial_hex(serial: int) -> str:
    """The form OCPP CertificateHashData uses: lowercase hex without leading zeros."""
    return format(serial, "x")
