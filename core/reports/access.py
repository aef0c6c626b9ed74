"""Who may export what, and the parameter parsing every report shares.

A report shows what its reader may read *where they may also export*. `exporting_principal`
narrows the principal to the scopes whose grants include report:export, and the report runs the
very read models the dashboard uses with that narrowed principal, so their scope filters apply
unchanged (a person with read but no export somewhere cannot export that part). An id that does
not exist and an id out of scope raise the same `ReportNotFound`, so a report leaks nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any, NoReturn

from core.security import Forbidden, Principal
from core.security.authorizer import deny

EXPORT = "report:export"


class ReportNotFound(Forbidden):
    """No such object for this person: the same error whether it is missing or out of their scope."""

    def __init__(self, kind: str, ident: Any) -> None:
        super().__init__(EXPORT, (kind, ident), "not found")
        self.kind = kind
        self.ident = ident

    def __str__(self) -> str:
        return f"no {self.kind} {self.ident} to report on"


def not_found(principal: Principal, kind: str, ident: Any) -> NoReturn:
    """Audit the refusal like every other one, then raise the uniform `ReportNotFound`."""
    try:
        deny(principal, EXPORT, (kind, ident), "not found")
    except Forbidden:
        raise ReportNotFound(kind, ident) from None


def _keep(perms: frozenset[str]) -> frozenset[str]:
    return perms if EXPORT in perms else frozenset()


def exporting_principal(principal: Principal) -> Principal:
    """The principal with only the grants that include report:export (refused if there are none)."""
    if principal.scopes(EXPORT).empty:
        deny(principal, EXPORT, ("system", None), "permission not held")
    return replace(
        principal,
        system=_keep(principal.system),
        organizations={k: _keep(v) for k, v in principal.organizations.items()},
        projects={k: _keep(v) for k, v in principal.projects.items()},
        brands={k: _keep(v) for k, v in principal.brands.items()},
    )


def check_keys(params: dict[str, Any], allowed: set[str]) -> None:
    if not isinstance(params, dict):
        raise ValueError("params must be a mapping")
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}")


def int_param(params: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise ValueError(f"{name} is required")
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer id, not {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be an integer id, not {value!r}") from None
    if number <= 0:
        raise ValueError(f"{name} must be a positive id, not {value!r}")
    return number


def month_param(params: dict[str, Any], name: str = "as_of") -> date | None:
    """An optional month given as 'YYYY-MM' or 'YYYY-MM-DD' (or a date), as its first day."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.replace(day=1)
    text = str(value).strip()
    try:
        parsed = date.fromisoformat(text if len(text) > 7 else f"{text}-01")
    except ValueError:
        raise ValueError(f"{name} must be a month like 2026-05, not {value!r}") from None
    return parsed.replace(day=1)


def month_label(period: date) -> str:
    return f"{period:%B %Y}"
