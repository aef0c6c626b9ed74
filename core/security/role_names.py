"""Role names: the built-in names are reserved, no two roles of an organization look alike, and a
custom role is marked wherever its name is shown.

Why: an Organization Administrator could create a custom role called "System Administrator"; the
Users page then showed its holders under the operator's name. Names are compared by a *look-alike
key* (Unicode NFKC, invisible and control characters dropped, common Cyrillic and Greek letters
that look Latin mapped to them, case folded, spaces removed), so "ｓystem  administrator",
"System\u200bAdministrator" or a Cyrillic "Ѕystem Administrator" all meet the reserved name.

The check runs on every insert and every rename of a Role row (SQLAlchemy mapper events registered
below), so the Access page, the API and any future code path get it without calling anything.
`role_label` is the one way to show a role name to a person.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import event, inspect, or_, select

from core.models.security import Role
from core.security.permissions import BUILTIN_ROLES

NAME_MAX = 100
CUSTOM_MARK = " (custom)"

# Letters drawn as blanks that Unicode files as ordinary letters or symbols (Hangul fillers, braille
# blank), variation selectors and the combining grapheme joiner: invisible, like the format characters.
_INVISIBLE = {0x034F, 0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}
# Cyrillic and Greek letters drawn like Latin ones, by case (a capital and its small letter may look
# like different Latin letters: Greek Η is an H, η an n), mapped before case folding: the usual spoofs.
_LOOK_ALIKE = str.maketrans(dict(zip(
    "АВЕЁЅІЇЈКМНОРСТХУҮҺԚԜӀ" "аеёосрухѕіїјһԁԛԝӏүкпвмнт" "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ" "αορνικτυχη",
    "ABEESIIJKMHOPCTXYYHQWI" "aeeocpyxsiijhdqwlyknbmht" "ABEZHIKMNOPTYX" "aopviktuxn", strict=True)))


class RoleNameError(ValueError):
    """A role name that may not be used; the message says why in plain words."""


def _invisible(ch: str) -> bool:
    return (unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn") and ch not in "\t\n\r") \
        or ord(ch) in _INVISIBLE


def name_key(name: str) -> str:
    """The look-alike key: two names with the same key read the same to a person."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if not _invisible(ch)).translate(_LOOK_ALIKE)
    return "".join(text.casefold().split())  # no spaces at all: "Brand  Manager", "BrandManager"


_RESERVED = {name_key(n): n for n in BUILTIN_ROLES}


def clean_role_name(name: Any) -> str:
    """The name as it is stored: NFKC, single spaces, trimmed; RoleNameError when it is empty, too
    long or holds invisible or control characters (which could only serve to imitate another name)."""
    if not isinstance(name, str):
        raise RoleNameError("a role name must be text")
    text = unicodedata.normalize("NFKC", name)
    if any(_invisible(ch) for ch in text):
        raise RoleNameError("a role name cannot contain invisible or control characters")
    text = " ".join(text.split())
    if not text:
        raise RoleNameError("give the role a name")
    if len(text) > NAME_MAX:
        raise RoleNameError(f"a role name has at most {NAME_MAX} characters")
    return text


def check_role_name(existing: list[tuple[int, str]], name: Any, *, role_id: int | None = None) -> str:
    """The cleaned name, unless it is (or looks like) a built-in role's name or another role's name
    in `existing` (id, name pairs of the organization's roles; `role_id` is the role being renamed)."""
    key = name_key(name) if isinstance(name, str) else ""
    if key in _RESERVED:
        raise RoleNameError(f"“{_RESERVED[key]}” is the name of a built-in role; choose another name")
    text = clean_role_name(name)
    for other_id, other in existing:
        if other_id != role_id and name_key(other) == key:
            raise RoleNameError(f"a role named “{other}” exists already in this organization; choose a name "
                                "that does not look like it")
    return text


def role_label(name: str, builtin: bool) -> str:
    """A role name as a person sees it: custom roles carry a visible “(custom)” mark."""
    return name if builtin else name + CUSTOM_MARK


# ------------------------------------------------------------------------------------------------ the guard


def _is_builtin_row(role: Role) -> bool:
    return bool(role.is_builtin) and role.organization_id is None and role.name in BUILTIN_ROLES


def _guard(_mapper: Any, connection: Any, role: Role) -> None:
    """Before a Role row is inserted or renamed: clean and check its name against its organization."""
    if _is_builtin_row(role):
        return
    state = inspect(role)
    if state.persistent and not state.attrs.name.history.has_changes() \
            and not state.attrs.organization_id.history.has_changes():
        return
    rows = connection.execute(select(Role.id, Role.name).where(
        or_(Role.organization_id == role.organization_id, Role.organization_id.is_(None)))).all()
    role.name = check_role_name([(r.id, r.name) for r in rows], role.name, role_id=role.id)


event.listen(Role, "before_insert", _guard)
event.listen(Role, "before_update", _guard)
