"""CA keys in a PKCS#11 token (an HSM, or SoftHSM2 in tests), behind the ``KeyStore`` protocol.

Keys are generated inside the token as sensitive, non-extractable token objects: the private
half never exists outside it. ``load`` returns a cryptography private-key object whose ``sign``
asks the token, so certificates, CRLs and OCSP responses are built by the same code whichever
backend holds the key.

TLS server keys are the exception: Python's ``ssl`` module can only load a key from a file, so
keys created with ``for_tls=True`` go to the encrypted file store this one wraps.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pkcs11
from asn1crypto import algos as asn1_algos
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import PKCS11Error
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from pki.keystore import EncryptedFileKeyStore, KeyStoreError
from policies.keys import KEY_SPECS, RSA_PUBLIC_EXPONENT

_CURVES = {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}
# The private template: generated in the token, stored there, never readable or wrappable.
_PRIVATE_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN: True,
}
_PUBLIC_TEMPLATE = {Attribute.TOKEN: True, Attribute.VERIFY: True}
_PSS_HASHES = {
    "sha256": (Mechanism.SHA256, pkcs11.MGF.SHA256),
    "sha384": (Mechanism.SHA384, pkcs11.MGF.SHA384),
    "sha512": (Mechanism.SHA512, pkcs11.MGF.SHA512),
}


@dataclass(frozen=True)
class Pkcs11Settings:
    """Where the token is: the vendor's PKCS#11 module, the token's label, and a file with the
    user PIN (the PIN itself is never stored in ChargeCA's configuration)."""

    module: Path
    token_label: str
    pin_file: Path


def read_pin(pin_file: Path) -> str:
    """The PIN in ``pin_file``, refused when the file is readable by group or others."""
    try:
        info = pin_file.stat()
    except OSError as exc:
        raise KeyStoreError(f"PKCS#11 PIN file {pin_file} cannot be read: {exc.strerror}") from exc
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise KeyStoreError(f"PKCS#11 PIN file {pin_file} has mode {mode:04o}; it must be readable by "
                            "its owner only (chmod 600)")
    try:
        pin = pin_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise KeyStoreError(f"PKCS#11 PIN file {pin_file} cannot be read: {reason}") from exc
    except UnicodeDecodeError:
        # The decoder's message quotes the offending byte: a piece of the PIN.
        raise KeyStoreError(f"PKCS#11 PIN file {pin_file} is not UTF-8 text") from None
    if not pin:
        raise KeyStoreError(f"PKCS#11 PIN file {pin_file} is empty")
    return pin


class Pkcs11KeyStore:
    """CA keys in the token; TLS keys in ``files``. One logged-in session, used under a lock
    (a PKCS#11 session runs one operation at a time), reopened once if the token drops it."""

    def __init__(self, settings: Pkcs11Settings, files: EncryptedFileKeyStore) -> None:
        self._settings = settings
        self._files = files
        self._pin = read_pin(settings.pin_file)
        self._lock = threading.RLock()
        self._session: pkcs11.Session | None = None
        self._handles: dict[str, pkcs11.PrivateKey] = {}
        self._keys: dict[str, PrivateKeyTypes] = {}
        with self._lock:
            self._open()

    @property
    def settings(self) -> Pkcs11Settings:
        return self._settings

    def _open(self) -> pkcs11.Session:
        self._handles.clear()
        module = str(self._settings.module)
        if not os.path.exists(module):
            raise KeyStoreError(f"PKCS#11 module {module} does not exist")
        try:
            token = pkcs11.lib(module).get_token(token_label=self._settings.token_label)
        except pkcs11.NoSuchToken as exc:
            raise KeyStoreError(f"no PKCS#11 token labelled {self._settings.token_label!r} "
                                f"in {module}") from exc
        except PKCS11Error as exc:
            raise KeyStoreError(f"PKCS#11 module {module} cannot be used: {exc or type(exc).__name__}") from exc
        try:
            self._session = token.open(rw=True, user_pin=self._pin)
        except pkcs11.UserAlreadyLoggedIn:
            # Login state belongs to the process, not the session: another store of this
            # process already logged in, and a new session shares that login.
            self._session = token.open(rw=True)
        except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange) as exc:
            raise KeyStoreError(f"token {self._settings.token_label!r} refused the PIN in "
                                f"{self._settings.pin_file}") from exc
        except PKCS11Error as exc:
            raise KeyStoreError(f"cannot log in to token {self._settings.token_label!r}: "
                                f"{type(exc).__name__}") from exc
        return self._session

    def _call(self, operation):
        """Run ``operation(session)``; on a lost session or login, reopen once and retry."""
        with self._lock:
            session = self._session or self._open()
            try:
                return operation(session)
            except (pkcs11.SessionHandleInvalid, pkcs11.SessionClosed, pkcs11.UserNotLoggedIn,
                    pkcs11.KeyHandleInvalid, pkcs11.ObjectHandleInvalid, pkcs11.DeviceRemoved,
                    pkcs11.TokenNotPresent, pkcs11.OperationNotInitialized):
                self._session = None
                return operation(self._open())

    def _private_key_object(self, session: pkcs11.Session, label: str):
        # Found once per session: signing then starts with C_SignInit, which is also what
        # notices a lost session (a search on a dead session leaves python-pkcs11 noise behind).
        found = self._handles.get(label)
        if found is None:
            try:
                found = self._handles[label] = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            except pkcs11.NoSuchKey:
                return None
        return found

    # --- KeyStore protocol -------------------------------------------------------------

    def exists(self, label: str) -> bool:
        if self._files.exists(label):
            return True
        return self._call(lambda session: self._private_key_object(session, label) is not None)

    def create(self, label: str, spec: str, *, for_tls: bool = False) -> PrivateKeyTypes:
        if for_tls:
            return self._files.create(label, spec)
        if spec not in KEY_SPECS:
            raise KeyStoreError(f"unknown key type {spec!r} (one of {', '.join(KEY_SPECS)})")
        if self.exists(label):
            raise KeyStoreError(f"key {label!r} already exists; refusing to replace it")

        def generate(session: pkcs11.Session) -> None:
            common = dict(store=True, label=label, id=label.encode(), public_template=_PUBLIC_TEMPLATE,
                          private_template=_PRIVATE_TEMPLATE)
            if spec in _CURVES:
                parameters = session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[spec])}, local=True)
                parameters.generate_keypair(**common)
            else:
                session.generate_keypair(
                    KeyType.RSA, int(spec[4:]), **{**common, "public_template": {
                        **_PUBLIC_TEMPLATE, Attribute.PUBLIC_EXPONENT: RSA_PUBLIC_EXPONENT.to_bytes(3, "big")}})

        try:
            self._call(generate)
        except PKCS11Error as exc:
            raise KeyStoreError(f"token {self._settings.token_label!r} could not generate {spec} key "
                                f"{label!r}: {type(exc).__name__}") from exc
        return self.load(label)

    def load(self, label: str) -> PrivateKeyTypes:
        with self._lock:
            cached = self._keys.get(label)
        if cached is not None:
            return cached
        if self._files.exists(label):
            return self._files.load(label)
        key = self._call(lambda session: self._wrap(session, label))
        with self._lock:
            self._keys[label] = key
        return key

    def file_for_tls(self, label: str) -> tuple[Path, bytes]:
        if not self._files.exists(label) and self.exists(label):
            raise KeyStoreError(f"key {label!r} is in the PKCS#11 token; TLS keys must be created "
                                "with for_tls=True (Python's ssl loads keys from files only)")
        return self._files.file_for_tls(label)

    # --- token keys as cryptography keys ----------------------------------------------

    def _wrap(self, session: pkcs11.Session, label: str) -> PrivateKeyTypes:
        private = self._private_key_object(session, label)
        if private is None:
            raise KeyStoreError(f"key {label!r} not found in token {self._settings.token_label!r}")
        public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
        if private.key_type == KeyType.EC:
            spki = encode_ec_public_key(public)
            return TokenEcKey(self, label, serialization.load_der_public_key(spki))
        if private.key_type == KeyType.RSA:
            numbers = rsa.RSAPublicNumbers(int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
                                           int.from_bytes(public[Attribute.MODULUS], "big"))
            return TokenRsaKey(self, label, numbers.public_key())
        raise KeyStoreError(f"key {label!r} in the token is neither RSA nor EC")

    def sign_with_token(self, label: str, data: bytes, mechanism: Mechanism, parameter=None) -> bytes:
        def sign(session: pkcs11.Session) -> bytes:
            private = self._private_key_object(session, label)
            if private is None:
                raise KeyStoreError(f"key {label!r} not found in token {self._settings.token_label!r}")
            return private.sign(data, mechanism=mechanism, mechanism_param=parameter)

        try:
            return self._call(sign)
        except PKCS11Error as exc:
            raise KeyStoreError(f"token {self._settings.token_label!r} could not sign with {label!r}: "
                                f"{type(exc).__name__}") from exc

    def key_attributes(self, label: str) -> dict[str, bool]:
        """What the token says about a private key: for operators and tests to confirm that it
        can never leave the token."""
        names = {"token": Attribute.TOKEN, "sensitive": Attribute.SENSITIVE,
                 "extractable": Attribute.EXTRACTABLE, "never_extractable": Attribute.NEVER_EXTRACTABLE,
                 "always_sensitive": Attribute.ALWAYS_SENSITIVE}

        def read(session: pkcs11.Session) -> dict[str, bool]:
            private = self._private_key_object(session, label)
            if private is None:
                raise KeyStoreError(f"key {label!r} not found in token {self._settings.token_label!r}")
            return {name: bool(private[attribute]) for name, attribute in names.items()}

        return self._call(read)


def _digest(data: bytes, algorithm: hashes.HashAlgorithm | utils.Prehashed) -> tuple[bytes, hashes.HashAlgorithm]:
    if isinstance(algorithm, utils.Prehashed):
        return data, algorithm._algorithm  # noqa: SLF001 - Prehashed exposes no public accessor
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize(), algorithm


class _InToken:
    """What token keys share: a label, a public key read from the token, and no private half."""

    def __init__(self, store: Pkcs11KeyStore, label: str, public_key) -> None:
        self._store, self._label, self._public_key = store, label, public_key

    @property
    def label(self) -> str:
        return self._label

    def public_key(self):
        return self._public_key

    def _signing_only(self) -> NoReturn:
        raise KeyStoreError(f"token key {self._label!r} is for signing only")

    def private_numbers(self) -> NoReturn:
        raise KeyStoreError(f"key {self._label!r} lives in a PKCS#11 token and cannot be exported")

    def private_bytes(self, encoding, format, encryption_algorithm) -> NoReturn:
        self.private_numbers()

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class TokenEcKey(_InToken, ec.EllipticCurvePrivateKey):
    """An EC key in the token: ``sign`` hashes here and has the token sign the digest (CKM_ECDSA);
    the token's raw r||s is returned DER-encoded, as X.509 and cryptography expect."""

    def sign(self, data, signature_algorithm):
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise KeyStoreError(f"token EC key {self._label!r} signs ECDSA only")
        digest, _ = _digest(data, signature_algorithm.algorithm)
        raw = self._store.sign_with_token(self._label, digest, Mechanism.ECDSA)
        half = len(raw) // 2
        return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    @property
    def curve(self):
        return self._public_key.curve

    @property
    def key_size(self):
        return self._public_key.curve.key_size

    def exchange(self, algorithm, peer_public_key):
        self._signing_only()


class TokenRsaKey(_InToken, rsa.RSAPrivateKey):
    """An RSA key in the token: PKCS#1 v1.5 (DigestInfo built here, CKM_RSA_PKCS) or PSS
    (CKM_RSA_PKCS_PSS over the digest)."""

    def sign(self, data, padding_, algorithm):
        digest, hash_algorithm = _digest(data, algorithm)
        if isinstance(padding_, padding.PKCS1v15):
            info = asn1_algos.DigestInfo({"digest_algorithm": {"algorithm": hash_algorithm.name},
                                          "digest": digest})
            return self._store.sign_with_token(self._label, info.dump(), Mechanism.RSA_PKCS)
        if isinstance(padding_, padding.PSS):
            if hash_algorithm.name not in _PSS_HASHES:
                raise KeyStoreError(f"PSS with {hash_algorithm.name} is not supported by the token backend")
            salt = padding_._salt_length  # noqa: SLF001 - PSS exposes no public accessor
            if salt is padding.PSS.DIGEST_LENGTH:
                salt = hash_algorithm.digest_size
            elif salt is padding.PSS.MAX_LENGTH:
                salt = (self.key_size + 7) // 8 - hash_algorithm.digest_size - 2
            elif not isinstance(salt, int):
                raise KeyStoreError("PSS signing needs an explicit salt length")
            mechanism, mgf = _PSS_HASHES[hash_algorithm.name]
            return self._store.sign_with_token(self._label, digest, Mechanism.RSA_PKCS_PSS, (mechanism, mgf, salt))
        raise KeyStoreError(f"token RSA key {self._label!r} signs with PKCS#1 v1.5 or PSS only")

    @property
    def key_size(self):
        return self._public_key.key_size

    def decrypt(self, ciphertext, padding_):
        self._signing_only()


__all__ = ["Pkcs11KeyStore", "Pkcs11Settings", "TokenEcKey", "TokenRsaKey", "read_pin"]
