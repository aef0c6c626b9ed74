"""The four data classification levels (issue 17), ordered, and the pure rules about them.

A metric, a section of the framework, a scenario and an imported data set each carry one level; an
organization chooses the level new ones get (`core.settings`). Reading a level above "internal" is
a permission (`data:read_confidential`, `data:read_restricted` in `core.security.permissions`), so
a person's clearance is the highest level whose permission they hold; `core.security.authorizer`
applies it in the scope filter. This module knows nothing of the database or of principals: the
models use it for their column default, the reports and pages for the label they show.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any


class Classification(enum.StrEnum):
    """Levels in increasing order of sensitivity: compare them with `rank`, never as strings."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return ORDER.index(self)

    @property
    def label(self) -> str:
        return self.value.capitalize()


ORDER: tuple[Classification, ...] = tuple(Classification)
LEVELS: tuple[str, ...] = tuple(level.value for level in ORDER)
DEFAULT = Classification.INTERNAL
# Exports holding a level at or above this carry a watermark (who, when) and an audit event.
WATERMARK_FROM = Classification.CONFIDENTIAL
# The kinds of thing an organization chooses a default level for (columns of `organizations`).
KINDS: tuple[str, ...] = ("metric", "scenario", "import")


class ClassificationError(ValueError):
    """A value that is not one of the four levels (the message names them)."""


def parse(value: Any) -> Classification:
    """The level `value` names (any case, surrounding spaces ignored), or ClassificationError."""
    text = str(value).strip().lower() if isinstance(value, str | Classification) else None
    if text not in LEVELS:
        raise ClassificationError(f"classification must be one of {', '.join(LEVELS)}")
    return Classification(text)


def readable(clearance: Classification) -> tuple[str, ...]:
    """The stored values a holder of `clearance` may read (every level up to it)."""
    return LEVELS[: clearance.rank + 1]


def highest(levels: Iterable[Any]) -> Classification:
    """The most sensitive of `levels` (stored strings or members); "public" for none."""
    found = [parse(level) for level in levels if level]
    return max(found, key=lambda level: level.rank) if found else Classification.PUBLIC


def needs_watermark(level: Classification) -> bool:
    """Whether an export holding data of `level` carries the watermark and the audit event."""
    return level.rank >= WATERMARK_FROM.rank
