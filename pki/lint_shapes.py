"""Linting a fleet of certificates of one shape with one pkilint run per shape.

A full pkilint run costs ~6 ms (2 ms decoding the DER, 4 ms walking the validator tree): at a
root rollover it is most of the time spent per certificate. Yet the certificates of one batch
come from one profile, one issuer and one validity; they differ only in four values the CA
draws or copies: the serial, the subject CN (the station identity), the subject's EC public key
and the SubjectKeyIdentifier computed from it.

The *shape* of a to-be-signed certificate is its TBSCertificate DER with exactly those four
values blanked (same tags, same lengths, so every other byte stands where it stood). Two
certificates of one shape are byte-identical outside those values. pkilint is run in full on
the first certificate of each shape; a later one of the same shape is clean when its four values
obey the rules pkilint applies to them, checked here on each certificate:

- serial: within 1 .. 2^159-1 (pkix.certificate_serial_number_out_of_range);
- CN: OCPP identifierString characters only (ASCII, so the length in bytes that the shape fixes
  is the length in characters that ub-common-name bounds), under the same string tag;
- public key: id-ecPublicKey, the curve is in the AlgorithmIdentifier (not blanked), the point is
  uncompressed (its 0x04 is not blanked) and its length is fixed by the shape; the key was
  parsed, so validated on the curve, by cryptography when the CSR was read;
- SKI: SHA-1 of that key's BIT STRING (RFC 5280 method 1), recomputed here.

The lengths stay in the shape: a serial drawn shorter (1 in 256 of them) or a longer station
identity makes another shape, linted in full the first time. Anything else (an RSA key, another CN alphabet, a certificate whose structure is not the one
walked below) has no shape: it is linted in full, as before. Only DER TLV headers are read to
find the four values; nothing is decoded into objects.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict

_SEQUENCE, _SET, _INTEGER, _BIT_STRING, _OCTET_STRING, _OID = 0x30, 0x31, 0x02, 0x03, 0x04, 0x06
_EXTENSIONS = 0xA3
_CN_OID = bytes.fromhex("0603550403")              # 2.5.4.3
_SKI_OID = bytes.fromhex("0603551d0e")             # 2.5.29.14
_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")   # 1.2.840.10045.2.1
_STRING_TAGS = (0x0C, 0x13)                         # UTF8String, PrintableString
_IDENTIFIER = re.compile(rb"[A-Za-z0-9*\-_=:+|@.]+")   # OCPP identifierString
_MAX_SERIAL = (1 << 159) - 1
_SHAPES_KEPT = 256


class _NoShape(Exception):
    pass


def _tlv(data: bytes, at: int, end: int) -> tuple[int, int, int, int]:
    """(tag, start of the content, end of the content, end of this TLV) of the TLV at ``at``."""
    if at + 2 > end:
        raise _NoShape
    tag, length = data[at], data[at + 1]
    start = at + 2
    if length & 0x80:
        octets = length & 0x7F
        if not 0 < octets <= 3 or start + octets > end:
            raise _NoShape
        length = int.from_bytes(data[start:start + octets], "big")
        start += octets
    if start + length > end:
        raise _NoShape
    return tag, start, start + length, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    out, at = [], start
    while at < end:
        tag, s, e, at = _tlv(data, at, end)
        out.append((tag, s, e, at))
    return out


def _blank(spans: list[tuple[int, int]], data: bytes) -> bytes:
    masked = bytearray(data)
    for s, e in spans:
        masked[s:e] = bytes(e - s)
    return bytes(masked)


def _serial_span(tbs: bytes, serial: tuple[int, int, int, int]) -> tuple[int, int]:
    tag, s, e, _ = serial
    value = int.from_bytes(tbs[s:e], "big", signed=True)
    if tag != _INTEGER or not 1 <= value <= _MAX_SERIAL:
        raise _NoShape
    return s, e


def _cn_spans(tbs: bytes, subject: tuple[int, int, int, int]) -> list[tuple[int, int]]:
    tag, s, e, _ = subject
    if tag != _SEQUENCE:
        raise _NoShape
    spans = []
    for rdn_tag, rs, re_, _ in _children(tbs, s, e):
        if rdn_tag != _SET:
            raise _NoShape
        for atv_tag, as_, ae, _ in _children(tbs, rs, re_):
            parts = _children(tbs, as_, ae)
            if atv_tag != _SEQUENCE or len(parts) != 2:
                raise _NoShape
            (oid_tag, os_, _, oend), (value_tag, vs, ve, _) = parts
            if tbs[os_ - 2:oend] == _CN_OID:
                if value_tag not in _STRING_TAGS or not _IDENTIFIER.fullmatch(tbs[vs:ve]):
                    raise _NoShape
                spans.append((vs, ve))
    if len(spans) != 1:
        raise _NoShape
    return spans


def _key_span(tbs: bytes, spki: tuple[int, int, int, int]) -> tuple[int, int, bytes]:
    """The blanked part of the EC point (after its unused-bits octet and the 0x04), and the whole
    BIT STRING content, which the SKI is the SHA-1 of."""
    tag, s, e, _ = spki
    parts = _children(tbs, s, e) if tag == _SEQUENCE else []
    if len(parts) != 2:
        raise _NoShape
    (alg_tag, algs, alge, _), (bit_tag, bs, be, _) = parts
    algorithm = _children(tbs, algs, alge) if alg_tag == _SEQUENCE else []
    if not algorithm or tbs[algorithm[0][1] - 2:algorithm[0][3]] != _EC_PUBLIC_KEY:
        raise _NoShape
    if bit_tag != _BIT_STRING or be - bs < 3 or tbs[bs] != 0 or tbs[bs + 1] != 0x04:
        raise _NoShape
    return bs + 2, be, tbs[bs + 1:be]


def _ski_span(tbs: bytes, extensions: tuple[int, int, int, int], key_bits: bytes) -> tuple[int, int]:
    tag, s, e, _ = extensions
    outer = _children(tbs, s, e) if tag == _EXTENSIONS else []
    if len(outer) != 1 or outer[0][0] != _SEQUENCE:
        raise _NoShape
    found = []
    for ext_tag, es, ee, _ in _children(tbs, outer[0][1], outer[0][2]):
        parts = _children(tbs, es, ee) if ext_tag == _SEQUENCE else []
        if not parts:
            raise _NoShape
        if tbs[parts[0][1] - 2:parts[0][3]] != _SKI_OID:
            continue
        value_tag, vs, ve, _ = parts[-1]
        inner = _children(tbs, vs, ve) if value_tag == _OCTET_STRING else []
        if len(inner) != 1 or inner[0][0] != _OCTET_STRING:
            raise _NoShape
        if tbs[inner[0][1]:inner[0][2]] != hashlib.sha1(key_bits).digest():
            raise _NoShape
        found.append((inner[0][1], inner[0][2]))
    if len(found) != 1:
        raise _NoShape
    return found[0]


def shape_of(tbs: bytes) -> bytes | None:
    """The TBSCertificate with its serial, CN, EC point and SKI blanked, when each of them obeys
    the rules in the module docstring; None when the certificate has no shape (lint it in full)."""
    try:
        tag, s, e, end = _tlv(tbs, 0, len(tbs))
        fields = _children(tbs, s, e)
        if tag != _SEQUENCE or end != len(tbs) or len(fields) != 8 or fields[0][0] != 0xA0:
            return None
        _, serial, _, _, _, subject, spki, extensions = fields
        key_start, key_end, key_bits = _key_span(tbs, spki)
        spans = [_serial_span(tbs, serial), *_cn_spans(tbs, subject), (key_start, key_end),
                 _ski_span(tbs, extensions, key_bits)]
    except _NoShape:
        return None
    return _blank(spans, tbs)


class LintedShapes:
    """Shapes whose pkilint run found nothing blocking, most recent kept. Thread-safe."""

    def __init__(self, keep: int = _SHAPES_KEPT) -> None:
        self._keep = keep
        self._shapes: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, shape: bytes) -> bool:
        with self._lock:
            if shape in self._shapes:
                self._shapes.move_to_end(shape)
                return True
            return False

    def add(self, shape: bytes) -> None:
        with self._lock:
            self._shapes[shape] = None
            self._shapes.move_to_end(shape)
            while len(self._shapes) > self._keep:
                self._shapes.popitem(last=False)
