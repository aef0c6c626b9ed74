"""Who may see which page and run which callback — checked on the server, every time.

A Dash client can post any value to `/_dash-update-component`, so a dropdown's options protect
nothing. Every callback is declared with `protected_callback`: a permission, and for each input
that names an object (a project, a brand, …) a check that the signed-in principal may read that
very object. Every page registers through `register_page(__name__, permission=...)`, which states
the permission once: for the shell's navigation and the request gate (Dash's page registry) and for
the layout, which shows the 403 view to anyone lacking it. The authorization matrix test walks the
app's callback map and page registry, so a callback or page added without a protection fails the suite.

Background callbacks (`protected_callback(..., background=True)`) run in a job with no request: on
Celery in another process, on diskcache in a child process. They are checked twice. In the request,
before the job is queued (and on every progress poll): signed in, permission held, objects allowed.
In the job, again, with a Principal loaded from the database for the user id that the request's
`custom_data("auth")` hook recorded — never from a value the browser sent. The job's function reads
that principal and a database of its own through `job_context()`.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import dash
from flask import abort, current_app, has_app_context
from flask_login import current_user

from core.db import Database
from core.security import Principal, authorize, load_principal
from core.security.authorizer import Forbidden, deny
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state

# A check is a kind for the authorizer ("project", "brand", "scenario", "user", "organization", …),
# or (kind, function(principal, value) -> bool) for rules the authorizer's kinds do not cover. The
# kind also tells the authorization matrix test which foreign ids to craft for that input.
ObjectCheck = str | tuple[str, Callable[[Principal, Any], bool]]


@dataclass(frozen=True)
class Protection:
    permission: str
    objects: dict[str, ObjectCheck] = field(default_factory=dict)


def holds_anywhere(principal: Principal | None, permission: str) -> bool:
    return principal is not None and not principal.scopes(permission).empty


def page_allowed(principal: Principal | None, page: dict) -> bool:
    permission = page.get("permission")
    return permission is not None and holds_anywhere(principal, permission)


def check_objects(principal: Principal, protection: Protection, arguments: dict[str, Any]) -> None:
    """Raise Forbidden unless the principal may use every object id the callback received."""
    for name, check in protection.objects.items():
        value = arguments.get(name)
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is None:
                continue
            if isinstance(check, str):
                authorize(principal, protection.permission, (check, item))
            elif not check[1](principal, item):
                deny(principal, protection.permission, (check[0], item), "object out of scope")


def protected_callback(*args, permission: str, objects: dict[str, ObjectCheck] | None = None, **kwargs):
    """`dash.callback` that first re-checks who is asking: signed in (401), holding `permission`
    somewhere (403), and allowed on every object id named in `objects` (403).

    objects: {parameter name: kind or (kind, check)} for every parameter that carries an id.
    With `background=True` the same checks run in the request and again inside the job (see the
    module docstring); with `progress=` the function's first parameter is Dash's set_progress.
    """
    protection = Protection(permission, dict(objects or {}))
    background = bool(kwargs.get("background"))

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        if background and kwargs.get("progress") is not None:
            signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        unknown = set(protection.objects) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{fn.__name__}: objects name no parameter: {sorted(unknown)}")
        for name, check in protection.objects.items():
            if not (isinstance(check, str) or (isinstance(check, tuple) and len(check) == 2 and callable(check[1]))):
                raise TypeError(f"{fn.__name__}: objects[{name!r}] must be a kind such as 'user', or a pair "
                                "(kind, check(principal, value) -> bool) so the authorization matrix test knows "
                                "which foreign ids to try")
        if background:
            return _background_callback(fn, signature, protection, args, kwargs)

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


@dash.hooks.custom_data("auth")
def _user_asking(_context: Any) -> int | None:
    """The signed-in user's id, read from the session in the request; a background job's only identity."""
    return int(current_user.id) if current_user.is_authenticated else None


@dataclass(frozen=True)
class JobContext:
    """Inside a protected background callback: who asked (re-loaded from the database) and a database."""

    principal: Principal
    db: Database


_JOB: ContextVar[JobContext | None] = ContextVar("digicadence_job", default=None)


def job_context() -> JobContext:
    """The running job's principal and database; only inside a `protected_callback(background=True)`."""
    context = _JOB.get()
    if context is None:
        raise RuntimeError("job_context() is only available inside a protected background callback")
    return context


def _job_database_url() -> str:
    """Which database the job uses: its app's (diskcache: the forked request's app; Celery: the worker's)."""
    app_server = current_app if has_app_context() else dash.get_app().server
    return app_server.extensions["digicadence"].db.url


def _require(permission: str) -> Principal:
    principal = current_principal()
    if principal is None:
        abort(401)
    if not holds_anywhere(principal, permission):
        deny(principal, permission, ("system", None), "permission not held")
    return principal


def _background_callback(fn: Callable, signature: inspect.Signature, protection: Protection, args: tuple,
                         kwargs: dict) -> Callable:
    """Register `fn` as a background callback checked in the request and again inside the job."""
    permission = protection.permission
    has_progress = kwargs.get("progress") is not None

    @functools.wraps(fn)
    def job(*call_args, **call_kwargs):
        user_id = (dash.ctx.custom_data or {}).get("auth")
        if user_id is None:
            raise Forbidden(permission, ("system", None), "no signed-in user behind this job")
        # A fresh engine: pooled connections must not cross the fork into a job process.
        db = Database(_job_database_url())
        try:
            principal = load_principal(db, int(user_id))
            if not holds_anywhere(principal, permission):
                deny(principal, permission, ("system", None), "permission not held")
            values = call_args[1:] if has_progress else call_args
            check_objects(principal, protection, signature.bind_partial(*values).arguments)
            token = _JOB.set(JobContext(principal, db))
            try:
                return fn(*call_args, **call_kwargs)
            finally:
                _JOB.reset(token)
        finally:
            db.dispose()

    # What a request passes (no set_progress): the matrix test and the request check bind to this.
    job.__signature__ = signature
    job.dc_protection = protection
    dash.callback(*args, **kwargs)(job)
    _guard_request(job, protection, signature)
    return job


def _guard_request(job: Callable, protection: Protection, signature: inspect.Signature) -> None:
    """Wrap Dash's request handler of the background callback `job` with the request-side checks.

    Dash calls the registered function only inside the job; the request that queues the job (and each
    progress poll) runs Dash's own wrapper, which is replaced here by one that checks first.
    """
    from dash._callback import GLOBAL_CALLBACK_MAP

    entry = next((e for e in GLOBAL_CALLBACK_MAP.values() if getattr(e.get("callback"), "__wrapped__", None) is job),
                 None)
    if entry is None:
        raise RuntimeError(f"{job.__name__}: background callback not found in Dash's callback map")
    dispatch = entry["callback"]

    @functools.wraps(dispatch)
    def request_guard(*values, **dash_kwargs):
        principal = _require(protection.permission)
        check_objects(principal, protection, signature.bind_partial(*values).arguments)
        return dispatch(*values, **dash_kwargs)

    entry["callback"] = request_guard


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


__all__ = ["Forbidden", "JobContext", "Protection", "job_context", "page_allowed", "protected_callback",
           "register_page", "registered_pages"]
