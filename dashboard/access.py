"""Who may see which page and run which callback — checked on the server, every time.

A Dash client can post any value to `/_dash-update-component`, so a dropdown's options protect
nothing. Every callback is declared with `protected_callback`: a permission, and for each input
that names an object (a project, a brand, …) a check that the signed-in principal may read that
very object. Every page registers through `register_page(__name__, permission=...)`, which states
the permission once: for the shell's navigation and the request gate (Dash's page registry) and for
the layout, which shows the 403 view to anyone lacking it. The authorization matrix test walks the
app's callback map and page registry, so a callback or page added without a protection fails the suite.

There are no background callbacks: long work is a durable job (core.jobs.queue.submit, which
authorizes again at submit and in the worker), submitted and followed by ordinary callbacks.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dash
from flask import abort

from core.security import Principal
from core.security.authorizer import Forbidden, authorize_each, deny
from dashboard.auth.principal import current_principal, holds_anywhere, page_allowed
from dashboard.components import empty_state

# A check is a kind for the authorizer ("project", "brand", "scenario", "user", "organization", …),
# or (kind, function(principal, value) -> bool) for rules the authorizer's kinds do not cover. The
# kind also tells the authorization matrix test which foreign ids to craft for that input.
ObjectCheck = str | tuple[str, Callable[[Principal, Any], bool]]


@dataclass(frozen=True)
class Protection:
    permission: str
    objects: dict[str, ObjectCheck] = field(default_factory=dict)


def check_objects(principal: Principal, protection: Protection, arguments: dict[str, Any]) -> None:
    """Raise Forbidden unless the principal may use every object id the callback received (the ids
    of one parameter are resolved together: one query, none for projects and brands on a warm cache)."""
    for name, check in protection.objects.items():
        value = arguments.get(name)
        items = [item for item in (value if isinstance(value, list | tuple) else [value]) if item is not None]
        if not items:
            continue
        if isinstance(check, str):
            authorize_each(principal, protection.permission, check, items)
            continue
        for item in items:
            if not check[1](principal, item):
                deny(principal, protection.permission, (check[0], item), "object out of scope")


def protected_callback(*args, permission: str, objects: dict[str, ObjectCheck] | None = None, **kwargs):
    """`dash.callback` that first re-checks who is asking: signed in (401), holding `permission`
    somewhere (403), and allowed on every object id named in `objects` (403).

    objects: {parameter name: kind or (kind, check)} for every parameter that carries an id.
    """
    if kwargs.get("background"):
        raise TypeError("background callbacks are not used: submit a job (core.jobs.queue) and follow its row")
    protection = Protection(permission, dict(objects or {}))

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        unknown = set(protection.objects) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{fn.__name__}: objects name no parameter: {sorted(unknown)}")
        for name, check in protection.objects.items():
            if not (isinstance(check, str) or (isinstance(check, tuple) and len(check) == 2 and callable(check[1]))):
                raise TypeError(f"{fn.__name__}: objects[{name!r}] must be a kind such as 'user', or a pair "
                                "(kind, check(principal, value) -> bool) so the authorization matrix test knows "
                                "which foreign ids to try")
        @functools.wraps(fn)
        def guarded(*call_args, **call_kwargs):
            principal = current_principal()
            if principal is None:
                abort(401)
            if not holds_anywhere(principal, permission):
                deny(principal, permission, ("system", None), "permission not held")
            bound = signature.bind(*call_args, **call_kwargs)
            check_objects(principal, protection, bound.arguments)
            return fn(*call_args, **call_kwargs)

        guarded.dc_protection = protection
        return dash.callback(*args, **kwargs)(guarded)

    return decorate


# Module name → permission of every page registered through `register_page`, for the matrix test.
_PAGES: dict[str, str] = {}


def register_page(module: str, *, permission: str, **dash_kwargs: Any) -> None:
    """`dash.register_page` with the page's permission stated once.

    The registry entry carries `permission` (the request gate and the navigation read it there) and the
    layout Dash renders is a guard that answers the 403 view unless the principal holds `permission`
    somewhere, then calls the module's own `layout(**query)`. The module is looked up at render time
    because its `layout` is defined below the registration.
    """
    if "layout" in dash_kwargs:
        raise TypeError(f"{module}: define `layout` in the page module; register_page guards it")

    def layout(**query: Any) -> Any:
        if not holds_anywhere(current_principal(), permission):
            return forbidden_view()
        return sys.modules[module].layout(**query)

    layout.dc_permission = permission
    layout.__qualname__ = layout.__name__ = f"guarded_layout[{module}]"
    dash.register_page(module, permission=permission, layout=layout, **dash_kwargs)
    _PAGES[module] = permission


def registered_pages() -> dict[str, str]:
    """Module name → permission of every page that went through `register_page`."""
    return dict(_PAGES)


def forbidden_view() -> Any:
    """What a page shows to a signed-in user who lacks its permission."""
    return empty_state("403 — you do not have access to this page.",
                       "Ask an administrator of your organization if you need it.")


__all__ = ["Forbidden", "Protection", "page_allowed", "protected_callback", "register_page", "registered_pages"]
