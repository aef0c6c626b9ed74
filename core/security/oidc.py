"""OpenID Connect, the protocol half: discovery, the authorization URL, the code exchange, the id_token.

Authorization code with PKCE (S256), through Authlib's requests client; the id_token is checked with
Authlib's `CodeIDToken` rules on top of joserfc's signature check against the provider's JWKS:
signature, iss (the organization's configured issuer, never whoever answered), aud (our client id),
azp, nonce, exp, iat and at_hash. Every failure raises `SSORefused` with a reason code for the audit
and a sentence for the person. Nothing here touches the database: `core.security.sso` does that.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from authlib.common.urls import add_params_to_uri
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

SCOPES = "openid email profile groups"
FLOW_TTL_S = 600  # a started sign-in must come back from the provider within ten minutes
METADATA_TTL_S = 600
LEEWAY_S = 60  # clock difference tolerated between us and the provider
HTTP_TIMEOUT_S = 10


class SSORefused(Exception):
    """The sign-in is refused: `reason` for the audit and tests, `message` for the person."""

    def __init__(self, reason: str, message: str, *, organization_id: int | None = None,
                 email: str | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message
        self.organization_id, self.email = organization_id, email


TRY_AGAIN = "Your company sign-in did not complete. Please start again from the sign-in page."
PROVIDER_DOWN = "We could not reach your company's sign-in service. Try again in a few minutes."


@dataclass(frozen=True)
class Client:
    """One organization's registration at its provider."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass
class Flow:
    """What the server-side session keeps between the redirect out and the callback."""

    organization_id: int
    state: str
    nonce: str
    code_verifier: str
    next_url: str = "/"
    started_at: float = field(default_factory=time.time)

    @classmethod
    def new(cls, organization_id: int, next_url: str) -> Flow:
        return cls(organization_id, secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                   secrets.token_urlsafe(64), next_url)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Any) -> Flow | None:
        try:
            return cls(**data) if isinstance(data, dict) else None
        except TypeError:
            return None


class Discovery:
    """The providers' metadata and signing keys, fetched once and kept for METADATA_TTL_S.

    The metadata must name exactly the configured issuer (OpenID Connect Discovery §4.3): a
    document served at A's address that claims to be B is refused.
    """

    def __init__(self, http: requests.Session | None = None) -> None:
        self.http = http or requests.Session()
        self._metadata: dict[str, tuple[float, dict]] = {}
        self._jwks: dict[str, dict] = {}

    def metadata(self, issuer: str) -> dict:
        cached = self._metadata.get(issuer)
        if cached is not None and time.monotonic() - cached[0] < METADATA_TTL_S:
            return cached[1]
        try:
            response = self.http.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=HTTP_TIMEOUT_S)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SSORefused("provider_unreachable", PROVIDER_DOWN) from exc
        if not isinstance(data, dict) or data.get("issuer") != issuer:
            raise SSORefused("wrong_issuer", TRY_AGAIN)
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str):
                raise SSORefused("bad_metadata", PROVIDER_DOWN)
        self._metadata[issuer] = (time.monotonic(), data)
        return data

    def keys(self, issuer: str, *, refresh: bool = False) -> KeySet:
        if refresh or issuer not in self._jwks:
            try:
                response = self.http.get(self.metadata(issuer)["jwks_uri"], timeout=HTTP_TIMEOUT_S)
                response.raise_for_status()
                self._jwks[issuer] = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise SSORefused("provider_unreachable", PROVIDER_DOWN) from exc
        return KeySet.import_key_set(self._jwks[issuer])


def authorization_url(discovery: Discovery, client: Client, flow: Flow) -> str:
    """Where to send the browser: code flow, PKCE S256, our state and nonce."""
    metadata = discovery.metadata(client.issuer)
    oauth = OAuth2Session(client.client_id, client.client_secret, scope=SCOPES, redirect_uri=client.redirect_uri,
                          code_challenge_method="S256")
    url, _state = oauth.create_authorization_url(metadata["authorization_endpoint"], state=flow.state,
                                                 nonce=flow.nonce, code_verifier=flow.code_verifier)
    return url


def check_callback(flow: Flow | None, params: dict[str, str], issuer: str | None, now: float | None = None) -> str:
    """The authorization code, once the callback matches the flow this browser started; else SSORefused.

    State must equal ours (constant-time), the flow must be younger than FLOW_TTL_S, and when the
    provider names itself (RFC 9207 `iss`) it must be the issuer we sent the person to.
    """
    if flow is None:
        raise SSORefused("no_flow", TRY_AGAIN)
    if not hmac.compare_digest(str(params.get("state", "")).encode(), flow.state.encode()):
        raise SSORefused("wrong_state", TRY_AGAIN, organization_id=flow.organization_id)
    if (now if now is not None else time.time()) - flow.started_at > FLOW_TTL_S:
        raise SSORefused("flow_expired", TRY_AGAIN, organization_id=flow.organization_id)
    if "iss" in params and issuer is not None and params["iss"] != issuer:
        raise SSORefused("wrong_issuer", TRY_AGAIN, organization_id=flow.organization_id)
    if params.get("error"):
        raise SSORefused("provider_error", "Your company's sign-in service did not let you in "
                         f"({str(params.get('error'))[:60]}).", organization_id=flow.organization_id)
    if not params.get("code"):
        raise SSORefused("no_code", TRY_AGAIN, organization_id=flow.organization_id)
    return str(params["code"])


def exchange_code(discovery: Discovery, client: Client, flow: Flow, code: str) -> dict:
    """The token response for the code (PKCE verifier sent); a used or expired code is refused by the provider."""
    metadata = discovery.metadata(client.issuer)
    oauth = OAuth2Session(client.client_id, client.client_secret, redirect_uri=client.redirect_uri,
                          code_challenge_method="S256")
    try:
        token = oauth.fetch_token(metadata["token_endpoint"], grant_type="authorization_code", code=code,
                                  code_verifier=flow.code_verifier, timeout=HTTP_TIMEOUT_S)
    except (OAuth2Error, OAuthError) as exc:
        raise SSORefused("code_refused", TRY_AGAIN, organization_id=flow.organization_id) from exc
    except requests.RequestException as exc:
        raise SSORefused("provider_unreachable", PROVIDER_DOWN, organization_id=flow.organization_id) from exc
    if not isinstance(token, dict) or not token.get("id_token"):
        raise SSORefused("no_id_token", TRY_AGAIN, organization_id=flow.organization_id)
    return dict(token)


def validate_id_token(id_token: str, *, keys: KeySet, issuer: str, client_id: str, nonce: str,
                      access_token: str | None = None, algorithms: list[str] | None = None,
                      now: float | None = None, leeway: int = LEEWAY_S) -> dict[str, Any]:
    """The id_token's claims if it is signed by one of `keys` and is for us, now; else SSORefused.

    `now` (seconds since the epoch) moves the clock for tests of expiry; production leaves it None.
    """
    try:
        registry = JWSRegistry(algorithms=algorithms or ["RS256", "ES256", "PS256"], strict_check_header=False)
        token = jwt.decode(id_token, key=keys, registry=registry)
    except (JoseError, ValueError) as exc:
        raise SSORefused("bad_signature", TRY_AGAIN) from exc
    params = {"nonce": nonce, "client_id": client_id}
    if access_token:
        params["access_token"] = access_token
    options = {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id},
               "nonce": {"essential": True}}
    claims = CodeIDToken(token.claims, token.header, options, params)
    try:
        claims.validate(now=int(now) if now is not None else None, leeway=leeway)
    except JoseError as exc:
        claim = getattr(exc, "claim", "") or str(exc)
        raise SSORefused(_claim_reason(claim, str(exc)), TRY_AGAIN) from exc
    if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise SSORefused("wrong_nonce", TRY_AGAIN)
    return dict(claims)


def _claim_reason(claim: str, text: str) -> str:
    """An audit reason code for the claim that failed (wrong_issuer, wrong_audience, expired, ...)."""
    for name, reason in (("iss", "wrong_issuer"), ("aud", "wrong_audience"), ("azp", "wrong_audience"),
                         ("nonce", "wrong_nonce"), ("exp", "expired"), ("iat", "issued_in_future"),
                         ("nbf", "not_yet_valid"), ("at_hash", "bad_at_hash")):
        if claim == name or f"'{name}'" in text:
            return reason
    return "bad_id_token"


def verified_claims(discovery: Discovery, client: Client, flow: Flow, token: dict,
                    now: float | None = None) -> dict[str, Any]:
    """`validate_id_token` with the provider's keys (fetched again once for an unknown key id)."""
    metadata = discovery.metadata(client.issuer)
    algorithms = metadata.get("id_token_signing_alg_values_supported")
    kwargs = {"issuer": client.issuer, "client_id": client.client_id, "nonce": flow.nonce,
              "access_token": token.get("access_token"), "algorithms": algorithms, "now": now}
    try:
        return validate_id_token(token["id_token"], keys=discovery.keys(client.issuer), **kwargs)
    except SSORefused as exc:
        if exc.reason != "bad_signature":
            raise
        return validate_id_token(token["id_token"], keys=discovery.keys(client.issuer, refresh=True), **kwargs)


def logout_url(discovery: Discovery, issuer: str, client_id: str, id_token: str,
               post_logout_redirect_uri: str) -> str | None:
    """RP-initiated logout at the provider (end_session_endpoint), or None when it offers none."""
    try:
        endpoint = discovery.metadata(issuer).get("end_session_endpoint")
    except SSORefused:
        return None
    if not isinstance(endpoint, str):
        return None
    params = [("id_token_hint", id_token), ("post_logout_redirect_uri", post_logout_redirect_uri),
              ("client_id", client_id)]
    return add_params_to_uri(endpoint, params)
