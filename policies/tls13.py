"""Apply the policy's TLS 1.3 suites although Python's ``ssl`` has no call for it.

Python up to 3.13 binds ``SSL_CTX_set_cipher_list`` (TLS 1.2 and lower) but not
``SSL_CTX_set_ciphersuites`` (TLS 1.3), so without this a policy such as "AES-GCM only" would
silently also allow ChaCha20-Poly1305. We call OpenSSL through ctypes on the context's own
``SSL_CTX``, found in CPython's ``PySSLContext`` right after the object header.

Nothing is written unless that pointer proves to be the context's: OpenSSL must report for it
the very option bits Python reports for the context. After the call the caller checks what the
context accepts, so a mismatch can never pass unnoticed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ssl
import sys

_HEADER = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)  # ob_refcnt, ob_type


def _libssl() -> ctypes.CDLL | None:
    # The libssl Python's _ssl module is linked against is already loaded in this process.
    for name in (f"libssl.so.{ssl.OPENSSL_VERSION_INFO[0]}", ctypes.util.find_library("ssl")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if hasattr(lib, "SSL_CTX_set_ciphersuites") and hasattr(lib, "SSL_CTX_get_options"):
            lib.SSL_CTX_get_options.restype = ctypes.c_uint64
            lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
            lib.SSL_CTX_set_ciphersuites.restype = ctypes.c_int
            lib.SSL_CTX_set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            return lib
    return None


def _ssl_ctx_pointer(context: ssl.SSLContext, lib: ctypes.CDLL) -> int | None:
    if sys.implementation.name != "cpython":
        return None
    pointer = ctypes.c_void_p.from_address(id(context) + _HEADER).value
    if not pointer:
        return None
    if lib.SSL_CTX_get_options(pointer) != int(context.options):
        return None
    return pointer


def set_tls13_ciphersuites(context: ssl.SSLContext, suites: list[str] | tuple[str, ...]) -> bool:
    """True when OpenSSL took ``suites`` for ``context``; False when this interpreter offers no
    safe way (the caller then reports what is in effect)."""
    if hasattr(context, "set_ciphersuites"):  # a future Python with the binding
        context.set_ciphersuites(":".join(suites))
        return True
    lib = _libssl()
    if lib is None:
        return False
    pointer = _ssl_ctx_pointer(context, lib)
    if pointer is None:
        return False
    if lib.SSL_CTX_set_ciphersuites(pointer, ":".join(suites).encode("ascii")) != 1:
        raise ValueError(f"OpenSSL refused the TLS 1.3 suites {', '.join(suites)}")
    return True
