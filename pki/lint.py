"""Pre-issuance linting of certificates, CRLs and OCSP responses with pkilint.

Everything runs in-process. pkilint is imported and its validator trees are built on
first use, once per process, then applied to every document.  The trees hold no
per-document state (each lint decodes a fresh pkilint Document), so one tree can serve
concurrent callers; only its construction is guarded by a lock.

``sign_linted`` implements "lint before signing": the to-be-signed certificate is first
signed with a throwaway key of the same type and size, that rehearsal is linted, and the
real CA key signs only when the rehearsal is clean.  A bad profile therefore never
produces a certificate that chains to our CA, not even one that is discarded later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pki.lint_shapes import LintedShapes, shape_of

if TYPE_CHECKING:
    from pkilint.document import Document
    from pkilint.validation import ValidatorContainer

__all__ = [
    "LintError",
    "LintFinding",
    "errors",
    "lint_certificate",
    "lint_crl",
    "lint_ocsp_response",
    "ensure_clean_certificate",
    "ensure_clean_crl",
    "ensure_clean_ocsp_response",
    "signature_hash_for",
    "sign_linted",
    "sign_crl_linted",
]

SigningKey = Union[
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
]
AnyKey = Union[
    SigningKey,
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
]
RsaPadding = Union[padding.PSS, padding.PKCS1v15]

# pkilint's ValidationFindingSeverity, most severe first; mirrored here so that
# filtering findings does not import pkilint.
SEVERITIES: tuple[str, ...] = ("FATAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")

# Findings that the lint rehearsal produces only because it was signed with the
# throwaway key rather than the real one (see _rehearsal_artifacts).
_AKI_ABSENT = "pkix.authority_key_identifier_extension_absent"
# RFC 5280 §4.2.1.6 takes RFC 1034's preferred name syntax, in which a single label is valid;
# pkilint's domain-name check wants two, and so refuses "localhost" (RFC 6761), the one
# single-label name we put in a certificate (development server certificates). Only that name passes.
_DOMAIN_SYNTAX = "pkix.invalid_domain_name_syntax"
_LOCALHOST_MESSAGE_END = '"localhost"'


@dataclass(frozen=True)
class LintFinding:
    severity: str
    code: str
    location: str
    message: str

    def __str__(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"{self.severity} {self.code} at {self.location}{detail}"


class LintError(Exception):
    """The document violates a MUST of its profile; ``findings`` holds the violations."""

    def __init__(self, what: str, findings: Sequence[LintFinding]) -> None:
        self.findings: tuple[LintFinding, ...] = tuple(findings)
        listing = "; ".join(str(f) for f in self.findings)
        super().__init__(
            f"{what} failed linting with {len(self.findings)} finding(s) "
            f"at ERROR or above: {listing}"
        )


# -- validator trees ---------------------------------------------------------------
# pkilint is imported inside the builders: importing it takes ~0.2 s, while building a
# tree takes under a millisecond, so modules that only need LintError or
# signature_hash_for do not pay for it.

_T = TypeVar("_T")
_Load = Callable[[bytes], "Document"]


@dataclass(frozen=True)
class _Linter:
    what: str
    validator: ValidatorContainer
    load: _Load


def _certificate_linter() -> _Linter:
    from pkilint import loader
    from pkilint.pkix import certificate, extension, name

    # The plain RFC 5280 profile. It needs no certificate type: pkilint decides CA
    # versus end-entity per document from BasicConstraints.cA (RFC5280Certificate.is_ca)
    # and applies e.g. the keyCertSign and SKI-presence rules accordingly.
    validator = certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )
    return _Linter("certificate", validator, loader.load_der_certificate)


def _crl_linter() -> _Linter:
    from pkilint import loader, pkix
    from pkilint.pkix import crl, extension, name

    # pkilint's CRL-versus-ARL switch only matters for the CA/B Forum profile; the
    # PKIX profile used here is the same for both.
    validator = crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            crl.create_issuer_validator_container([]),
            crl.create_validity_validator_container([]),
            crl.create_extensions_validator_container([]),
        ],
    )
    return _Linter("CRL", validator, loader.load_der_crl)


def _ocsp_response_linter() -> _Linter:
    from pkilint import loader, pkix
    from pkilint.pkix import extension, name, ocsp

    validator = ocsp.create_pkix_ocsp_response_validator_container(
        [
            ocsp.create_response_decoder(),
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )
    return _Linter(
        "OCSP response",
        validator,
        loader.RFC6960OCSPResponseDocumentLoader().load_der_document,
    )


class _BuiltOnce(Generic[_T]):
    """Builds a value on first use; concurrent first users wait instead of building twice."""

    def __init__(self, build: Callable[[], _T]) -> None:
        self._build = build
        self._value: _T | None = None
        self._lock = threading.Lock()

    def get(self) -> _T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value


_CERTIFICATE_LINTER = _BuiltOnce(_certificate_linter)
_CRL_LINTER = _BuiltOnce(_crl_linter)
_OCSP_RESPONSE_LINTER = _BuiltOnce(_ocsp_response_linter)


# -- linting -----------------------------------------------------------------------


def _run(linter: _Linter, der: bytes) -> list[LintFinding]:
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise TypeError(f"{linter.what} must be DER bytes, got {type(der).__name__}")
    try:
        document = linter.load(bytes(der))
    except ValueError as e:
        # Reported as a finding rather than raised so that callers handle "bad DER"
        # and "bad profile" the same way.
        return [
            LintFinding(
                severity="FATAL",
                code="chargeca.undecodable_document",
                location=linter.what,
                message=str(e),
            )
        ]
    return [
        LintFinding(
            severity=description.finding.severity.name,
            code=description.finding.code,
            location=result.node.path,
            message=description.message or "",
        )
        for result in linter.validator.validate(document.root)
        for description in result.finding_descriptions
    ]


def lint_certificate(der: bytes) -> list[LintFinding]:
    """All findings (any severity) of the RFC 5280 profile for one DER certificate."""
    return _run(_CERTIFICATE_LINTER.get(), der)


def lint_crl(der: bytes) -> list[LintFinding]:
    """All findings (any severity) of the RFC 5280 profile for one DER CRL."""
    return _run(_CRL_LINTER.get(), der)


def lint_ocsp_response(der: bytes) -> list[LintFinding]:
    """All findings (any severity) of the RFC 6960 profile for one DER OCSPResponse."""
    return _run(_OCSP_RESPONSE_LINTER.get(), der)


def _rank(severity: str) -> int:
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(
            f"unknown lint severity {severity!r}; expected one of {', '.join(SEVERITIES)}"
        ) from None


_ERROR_RANK = SEVERITIES.index("ERROR")


def errors(findings: Iterable[LintFinding]) -> list[LintFinding]:
    """The findings at ERROR or worse (FATAL): the ones that must block issuance."""
    return [f for f in findings if _rank(f.severity) <= _ERROR_RANK]


def _ensure_clean(what: str, findings: list[LintFinding]) -> None:
    blocking = errors(findings)
    if blocking:
        raise LintError(what, blocking)


def ensure_clean_certificate(der: bytes) -> None:
    _ensure_clean("certificate", lint_certificate(der))


def ensure_clean_crl(der: bytes) -> None:
    _ensure_clean("CRL", lint_crl(der))


def ensure_clean_ocsp_response(der: bytes) -> None:
    _ensure_clean("OCSP response", lint_ocsp_response(der))


# -- signing -----------------------------------------------------------------------

_EC_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    ec.SECP256R1.name: hashes.SHA256,
    ec.SECP384R1.name: hashes.SHA384,
    ec.SECP521R1.name: hashes.SHA512,
}


def signature_hash_for(key: AnyKey) -> hashes.HashAlgorithm:
    """The hash to sign with, matched to the key's strength (RFC 5480 §4 for EC)."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return hashes.SHA256()
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        hash_class = _EC_HASHES.get(key.curve.name)
        if hash_class is None:
            raise ValueError(
                f"no signature hash defined for curve {key.curve.name}; "
                f"supported curves: {', '.join(_EC_HASHES)}"
            )
        return hash_class()
    raise TypeError(
        f"no signature hash for {type(key).__name__}: only RSA and EC keys take "
        "one (Ed25519/Ed448 sign with algorithm=None)"
    )


_throwaway_keys: dict[tuple[str, str], SigningKey] = {}
_throwaway_lock = threading.Lock()


def _throwaway_spec(key: SigningKey) -> tuple[tuple[str, str], Callable[[], SigningKey]]:
    if isinstance(key, rsa.RSAPrivateKey):
        size = key.key_size
        return ("RSA", str(size)), lambda: rsa.generate_private_key(65537, size)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curve = key.curve
        return ("EC", curve.name), lambda: ec.generate_private_key(type(curve)())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ("Ed25519", ""), ed25519.Ed25519PrivateKey.generate
    if isinstance(key, ed448.Ed448PrivateKey):
        return ("Ed448", ""), ed448.Ed448PrivateKey.generate
    raise TypeError(
        f"cannot lint before signing with a {type(key).__name__}; "
        "expected an RSA, EC, Ed25519 or Ed448 private key"
    )


def _throwaway_key_like(key: SigningKey) -> SigningKey:
    # The throwaway key only ever signs rehearsals that are discarded after linting,
    # so it is never trusted and one per key type can be reused for the process
    # lifetime; that matters for RSA, where generating a 4096-bit key takes seconds.
    spec, generate = _throwaway_spec(key)
    with _throwaway_lock:
        throwaway = _throwaway_keys.get(spec)
        if throwaway is None:
            throwaway = _throwaway_keys[spec] = generate()
    return throwaway


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _rehearsal_artifacts(
    findings: list[LintFinding], rehearsal: x509.Certificate, real_key: SigningKey
) -> list[LintFinding]:
    # pkilint accepts a root without AKI only if it is verifiably self-signed. The
    # rehearsal of a root carries the real public key but the throwaway signature, so
    # that check fails there although it would pass on the real certificate.
    self_signed_for_real = rehearsal.issuer == rehearsal.subject and _spki(
        rehearsal.public_key()
    ) == _spki(real_key.public_key())
    findings = [f for f in findings
                if not (f.code == _DOMAIN_SYNTAX and f.location.endswith(".dNSName")
                        and f.message.endswith(_LOCALHOST_MESSAGE_END))]
    if not self_signed_for_real:
        return findings
    return [f for f in findings if f.code != _AKI_ABSENT]


def sign_linted(
    builder: x509.CertificateBuilder,
    real_key: SigningKey,
    algorithm: hashes.HashAlgorithm | None,
    *,
    lint: bool = True,
    rsa_padding: RsaPadding | None = None,
    shapes: LintedShapes | None = None,
) -> x509.Certificate:
    """Sign ``builder`` with ``real_key`` only if a throwaway-signed rehearsal lints clean.

    Raises LintError, before ``real_key`` is used at all, when the rehearsal has
    findings at ERROR or above.  ``lint=False`` signs directly (for tests and for
    deliberately non-conforming certificates).  ``shapes``: a rehearsal of a shape linted
    clean before is not run through pkilint again (pki/lint_shapes.py says why that is the
    same verdict); one linted clean now joins them.
    """
    if not lint:
        return builder.sign(real_key, algorithm, rsa_padding=rsa_padding)

    # CertificateBuilder is immutable and sign() does not consume it, so the same
    # builder yields the rehearsal and, later, the real certificate.
    rehearsal = builder.sign(
        _throwaway_key_like(real_key), algorithm, rsa_padding=rsa_padding
    )
    shape = shape_of(rehearsal.tbs_certificate_bytes) if shapes is not None else None
    if shape is None or shape not in shapes:
        blocking = _rehearsal_artifacts(
            errors(lint_certificate(rehearsal.public_bytes(Encoding.DER))),
            rehearsal,
            real_key,
        )
        if blocking:
            raise LintError(f"certificate for {rehearsal.subject.rfc4514_string()!r}", blocking)
        if shape is not None:
            shapes.add(shape)

    issued = builder.sign(real_key, algorithm, rsa_padding=rsa_padding)
    if issued.tbs_certificate_bytes != rehearsal.tbs_certificate_bytes:
        # Would mean the builder injected something non-deterministic, so what was
        # linted is not what was signed; refuse rather than hand out an unlinted cert.
        raise RuntimeError(
            "signed certificate differs from the linted rehearsal; refusing to return it"
        )
    return issued


def sign_crl_linted(
    builder: x509.CertificateRevocationListBuilder,
    real_key: SigningKey,
    algorithm: hashes.HashAlgorithm | None,
    *,
    lint: bool = True,
    rsa_padding: RsaPadding | None = None,
) -> x509.CertificateRevocationList:
    """The CRL counterpart of ``sign_linted``: the real key signs only a clean CRL."""
    if not lint:
        return builder.sign(real_key, algorithm, rsa_padding=rsa_padding)

    rehearsal = builder.sign(
        _throwaway_key_like(real_key), algorithm, rsa_padding=rsa_padding
    )
    _ensure_clean(
        f"CRL of {rehearsal.issuer.rfc4514_string()!r}",
        lint_crl(rehearsal.public_bytes(Encoding.DER)),
    )
    issued = builder.sign(real_key, algorithm, rsa_padding=rsa_padding)
    if issued.tbs_certlist_bytes != rehearsal.tbs_certlist_bytes:
        raise RuntimeError("signed CRL differs from the linted rehearsal; refusing to return it")
    return issued
