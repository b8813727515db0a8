"""Which public keys are acceptable, and the names policy files use for key types."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from policies.model import KEY_SPECS as KEY_SPECS  # re-exported: the key stores name them from here
from policies.model import Decision, KeyPolicy

# The only RSA public exponent accepted: small exponents (e = 3) make signature forgeries of
# sloppy verifiers practical, and every station key generator in use defaults to 65537.
RSA_PUBLIC_EXPONENT = 65537


def describe_key(public_key: object) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    return type(public_key).__name__


def check_public_key(public_key: object, policy: KeyPolicy) -> Decision:
    """A00.FR.502/503: RSA within the policy's sizes with e = 65537, EC only on the policy's
    curves; nothing else. The upper size bound keeps a hostile key from costing every verifier
    (stations, OCSP clients) a multi-second RSA operation."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < policy.rsa_min_bits:
            return Decision.refuse(
                "key.rsa_size",
                f"RSA key of {public_key.key_size} bits is below the minimum of {policy.rsa_min_bits}",
            )
        if public_key.key_size > policy.rsa_max_bits:
            return Decision.refuse(
                "key.rsa_size",
                f"RSA key of {public_key.key_size} bits is above the maximum of {policy.rsa_max_bits}",
            )
        exponent = public_key.public_numbers().e
        if exponent != RSA_PUBLIC_EXPONENT:
            return Decision.refuse(
                "key.rsa_exponent",
                f"RSA public exponent {exponent} is not allowed (only {RSA_PUBLIC_EXPONENT})",
            )
        return Decision.allow()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in policy.ec_curves:
            return Decision.refuse(
                "key.ec_curve",
                f"EC curve {public_key.curve.name} is not allowed (allowed: {', '.join(policy.ec_curves)})",
            )
        return Decision.allow()
    return Decision.refuse(
        "key.algorithm", f"key type {describe_key(public_key)} is not allowed (RSA or EC only)"
    )


def check_iso15118_key(public_key: object) -> Decision:
    """ISO 15118-2 certificates are ECDSA on secp256r1 only; EVs reject anything else."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1":
        return Decision.allow()
    return Decision.refuse(
        "key.iso15118", f"key type {describe_key(public_key)} is not allowed for ISO 15118 "
                        "(EC secp256r1 only)")
