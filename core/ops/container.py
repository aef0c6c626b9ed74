"""The encrypted backup container: an authenticated header and a chunked AES-256-GCM stream.

Layout (all integers big-endian):

    magic        8 bytes   b"DCBACKUP"
    header_len   4 bytes
    header       header_len bytes of UTF-8 JSON (readable without the key, authenticated with it)
    chunks       repeated: ciphertext_len (4 bytes) + ciphertext (payload chunk + 16-byte GCM tag)

The header holds `format`, `cipher`, `chunk_size`, `salt` (16 random bytes, base64), `key_id` (a
fingerprint naming a wrong key as such) and whatever the caller adds (dialect, created_at, manifest).
The file key is HKDF-SHA256(master key, salt), so no two files share a key
and counter nonces never repeat. Chunk i is sealed with nonce = i (11 bytes) + final flag (1 byte)
and associated data SHA-256(magic + header_len + header): changing the header, reordering,
dropping or appending chunks, or cutting the file after any chunk fails authentication. The last
chunk carries the final flag; a stream without one is truncated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import struct
from collections.abc import Iterator, Mapping
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.ops.config import BACKUP_KEY_ENV as KEY_ENV

MAGIC = b"DCBACKUP"
FORMAT_VERSION = 1
CHUNK_SIZE = 1 << 20
MAX_HEADER = 16 << 20
_TAG = 16


class BackupError(RuntimeError):
    """A backup cannot be written or read; the message says why and what to do."""


class BackupKeyMissing(BackupError):
    pass


class BackupTampered(BackupError):
    """Authentication failed: the file was changed, truncated, or the key is not the one it was made with."""


def new_key() -> str:
    """A fresh master key in the form DIGICADENCE_BACKUP_KEY expects."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def master_key(raw: str | None) -> bytes:
    """The 32-byte master key from the value of DIGICADENCE_BACKUP_KEY (base64, `OpsConfig.backup_key`).

    Checked here, where a backup is written or read, not when the config is read: the commands that
    need no key (prune, retention, …) run without one."""
    raw = (raw or "").strip()
    if not raw:
        raise BackupKeyMissing(
            f"{KEY_ENV} is not set. Backups are encrypted with AES-256-GCM under a key you keep outside the "
            f"database: generate one with `python -m core.ops new-backup-key`, store it in your secret manager "
            f"and export {KEY_ENV}=<key> before running backup or restore.")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BackupKeyMissing(f"{KEY_ENV} is not valid base64") from exc
    if len(key) != 32:
        raise BackupKeyMissing(f"{KEY_ENV} must decode to 32 bytes (AES-256), not {len(key)}")
    return key


def key_id(master: bytes) -> str:
    """A short public fingerprint of the master key, so a wrong key is named as such."""
    return hashlib.sha256(b"digicadence backup key id" + master).hexdigest()[:16]


def _file_key(master: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"digicadence backup v1").derive(master)
    return AESGCM(derived)


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _preamble(header: Mapping[str, Any]) -> bytes:
    body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return MAGIC + struct.pack(">I", len(body)) + body


def write(out: IO[bytes], master: bytes, header: Mapping[str, Any], chunks: Iterator[bytes]) -> dict[str, Any]:
    """Write header and the encrypted chunks of `chunks` (any sizes; re-cut to CHUNK_SIZE); returns the header."""
    salt = os.urandom(16)
    full = {**header, "format": FORMAT_VERSION, "salt": base64.b64encode(salt).decode("ascii"),
            "cipher": "AES-256-GCM", "chunk_size": CHUNK_SIZE, "key_id": key_id(master)}
    preamble = _preamble(full)
    aad = hashlib.sha256(preamble).digest()
    gcm = _file_key(master, salt)
    out.write(preamble)
    index, buffer = 0, bytearray()
    for piece in chunks:
        buffer += piece
        while len(buffer) > CHUNK_SIZE:  # strictly more: the last full chunk may be the final one
            _seal(out, gcm, index, bytes(buffer[:CHUNK_SIZE]), aad, final=False)
            del buffer[:CHUNK_SIZE]
            index += 1
    _seal(out, gcm, index, bytes(buffer), aad, final=True)
    return full


def _seal(out: IO[bytes], gcm: AESGCM, index: int, plain: bytes, aad: bytes, *, final: bool) -> None:
    sealed = gcm.encrypt(_nonce(index, final), plain, aad)
    out.write(struct.pack(">I", len(sealed)) + sealed)


def read_header(source: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    """The header (not yet authenticated) and the exact preamble bytes it was read from."""
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        raise BackupError("not a Digi-Cadence backup file (bad magic)")
    raw_len = source.read(4)
    if len(raw_len) != 4:
        raise BackupTampered("the file ends inside its header")
    (length,) = struct.unpack(">I", raw_len)
    if length > MAX_HEADER:
        raise BackupTampered("header length is implausible")
    body = source.read(length)
    if len(body) != length:
        raise BackupTampered("the file ends inside its header")
    try:
        header = json.loads(body)
    except ValueError as exc:
        raise BackupTampered("the header is not valid JSON") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
        raise BackupError(f"unsupported backup format {header.get('format') if isinstance(header, dict) else '?'}")
    return header, magic + raw_len + body


def decrypt(source: IO[bytes], master: bytes) -> tuple[dict[str, Any], Iterator[bytes]]:
    """The header and an iterator of plaintext chunks; any failed check raises BackupTampered.

    The iterator yields a chunk only after it authenticated, and raises at the end unless the final
    chunk was seen and nothing follows it; callers that must not act on a partial stream consume
    it to the end (into a private temporary file) before using any of it.
    """
    header, preamble = read_header(source)
    try:
        salt = base64.b64decode(header["salt"], validate=True)
    except (KeyError, binascii.Error, ValueError, TypeError) as exc:
        raise BackupTampered("the header has no valid salt") from exc
    if header.get("key_id") != key_id(master):
        raise BackupTampered(
            f"this backup was made with another key (key id {header.get('key_id')!r}, {KEY_ENV} has "
            f"{key_id(master)!r}); nothing was restored")
    return header, _open_chunks(source, _file_key(master, salt), hashlib.sha256(preamble).digest())


def _open_chunks(source: IO[bytes], gcm: AESGCM, aad: bytes) -> Iterator[bytes]:
    """The authenticated plaintext chunks of `source`, checked for truncation and trailing data."""
    index = 0
    while True:
        sealed = _next_sealed(source, index)
        plain, final = _open_chunk(gcm, index, sealed, aad)
        yield plain
        if final:
            if source.read(1):
                raise BackupTampered("data follows the final chunk")
            return
        index += 1


def _next_sealed(source: IO[bytes], index: int) -> bytes:
    """Chunk `index` as stored (ciphertext + tag), after its length prefix; BackupTampered if cut short."""
    raw_len = source.read(4)
    if not raw_len:
        raise BackupTampered("the backup is truncated: no final chunk")
    if len(raw_len) != 4:
        raise BackupTampered("the backup is truncated inside a chunk length")
    (length,) = struct.unpack(">I", raw_len)
    if length < _TAG or length > CHUNK_SIZE + _TAG:
        raise BackupTampered(f"chunk {index} has an implausible length")
    sealed = source.read(length)
    if len(sealed) != length:
        raise BackupTampered(f"the backup is truncated inside chunk {index}")
    return sealed


def _open_chunk(gcm: AESGCM, index: int, sealed: bytes, aad: bytes) -> tuple[bytes, bool]:
    """Chunk `index` decrypted, and whether it is the final one (the nonce's flag says which opened it)."""
    for final in (False, True):
        try:
            return gcm.decrypt(_nonce(index, final), sealed, aad), final
        except InvalidTag:
            continue
    raise BackupTampered(
        f"chunk {index} failed authentication: the file was altered, or {KEY_ENV} is not the key it was made with")
