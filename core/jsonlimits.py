"""JSON from strangers, parsed with a nesting limit checked before Python's parser recurses.

`json.loads` recurses once per nesting level: a body of 100,000 `[` raises RecursionError (or, on a
small thread stack, crashes the process) instead of a ValueError. `loads_limited` first measures the
bracket depth of the raw bytes outside string literals (a regex and numpy, so a 12 MB body takes
about 0.1 s) and refuses a body nested deeper than the limit before any parsing starts.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

# A JSON string literal (escapes included); brackets inside strings are text, not nesting.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonTooDeep(ValueError):
    """The document nests deeper than allowed; a ValueError, so JSON callers treat it as bad input."""

    def __init__(self, depth: int, limit: int) -> None:
        super().__init__(f"the JSON nests {depth} levels deep; at most {limit} are allowed")
        self.depth = depth
        self.limit = limit


def size_text(size: int) -> str:
    """A byte count as a person reads a limit: "2 MB", "512 KB"."""
    return f"{size / 1048576:.0f} MB" if size >= 1048576 else f"{max(size // 1024, 1)} KB"


def json_depth(data: bytes | str) -> int:
    """The deepest bracket nesting of `data` outside string literals (0 for a bare scalar)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    skeleton = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if not skeleton:
        return 0
    brackets = np.frombuffer(skeleton, dtype=np.uint8)
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def check_depth(data: bytes | str, limit: int) -> None:
    """Raise JsonTooDeep when `data` nests deeper than `limit`."""
    depth = json_depth(data)
    if depth > limit:
        raise JsonTooDeep(depth, limit)


def loads_limited(data: bytes | str, limit: int, **kwargs: Any) -> Any:
    """`json.loads` that refuses (JsonTooDeep) a document nested deeper than `limit` before parsing."""
    check_depth(data, limit)
    return json.loads(data, **kwargs)
