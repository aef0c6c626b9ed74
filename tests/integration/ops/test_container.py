"""The chunked AES-256-GCM container: a multi-chunk stream round-trips, and every way of cutting,
reordering or splicing chunks is caught."""

from __future__ import annotations

import base64
import io
import json
import os
import struct

import pytest

from core.ops import container
from core.ops.container import BackupTampered

KEY = os.urandom(32)


def _sealed(payload: bytes, pieces: int = 7) -> bytes:
    out = io.BytesIO()
    step = max(1, len(payload) // pieces)
    container.write(out, KEY, {"dialect": "test"}, (payload[i:i + step] for i in range(0, len(payload), step)))
    return out.getvalue()


def _open(blob: bytes, key: bytes = KEY) -> bytes:
    return b"".join(container.decrypt(io.BytesIO(blob), key)[1])


def _split(blob: bytes) -> tuple[bytes, list[bytes]]:
    """(preamble, [length-prefixed chunks])."""
    (length,) = struct.unpack(">I", blob[8:12])
    at = 12 + length
    preamble, chunks = blob[:at], []
    while at < len(blob):
        (size,) = struct.unpack(">I", blob[at:at + 4])
        chunks.append(blob[at:at + 4 + size])
        at += 4 + size
    return preamble, chunks


@pytest.mark.parametrize("size", [0, 1, container.CHUNK_SIZE, 2 * container.CHUNK_SIZE + 123])
def test_round_trip_across_chunk_boundaries(size):
    payload = os.urandom(size)
    blob = _sealed(payload)
    assert _open(blob) == payload
    assert len(_split(blob)[1]) == max(1, -(-size // container.CHUNK_SIZE))


def test_cutting_reordering_or_splicing_chunks_is_caught():
    payload = os.urandom(2 * container.CHUNK_SIZE + 10)
    blob = _sealed(payload)
    preamble, chunks = _split(blob)
    assert len(chunks) == 3
    with pytest.raises(BackupTampered, match="no final chunk"):  # cut at a chunk boundary
        _open(preamble + b"".join(chunks[:2]))
    with pytest.raises(BackupTampered, match="failed authentication"):  # reordered
        _open(preamble + chunks[1] + chunks[0] + chunks[2])
    other = _split(_sealed(os.urandom(len(payload))))[1]
    with pytest.raises(BackupTampered, match="failed authentication"):  # a chunk of another file, same key
        _open(preamble + chunks[0] + other[1] + chunks[2])
    with pytest.raises(BackupTampered, match="follows the final chunk"):
        _open(blob + chunks[2])


def test_the_header_is_authenticated_and_the_key_is_named():
    blob = _sealed(b"payload")
    header, preamble = container.read_header(io.BytesIO(blob))
    changed = dict(header, created_at="2020-01-01")
    body = json.dumps(changed, sort_keys=True, separators=(",", ":")).encode()
    forged = container.MAGIC + struct.pack(">I", len(body)) + body + blob[len(preamble):]
    with pytest.raises(BackupTampered, match="failed authentication"):
        _open(forged)
    with pytest.raises(BackupTampered, match="another key"):
        _open(blob, os.urandom(32))
    with pytest.raises(container.BackupKeyMissing, match="32 bytes"):
        container.master_key(base64.b64encode(b"short").decode())
    with pytest.raises(container.BackupError, match="not a Digi-Cadence backup"):
        _open(b"PGDMP" + blob)
