"""A software WebAuthn authenticator (P-256, "none" attestation) for tests of the server side.

It builds what a browser and a key send — clientDataJSON, authenticator data with the sign counter,
an ECDSA signature — so the real verification code runs on real bytes. `clone()` copies the key
with its counter, as a cloned hardware key would be.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftKey:
    def __init__(self, origin: str = "http://localhost:8050", rp_id: str = "localhost", sign_count: int = 0) -> None:
        self.origin, self.rp_id, self.sign_count = origin, rp_id, sign_count
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)
        self.user_handle: str | None = None

    def clone(self) -> SoftKey:
        return copy.deepcopy(self)

    def _cose(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, flags: int, attested: bool = False) -> bytes:
        data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags]) + self.sign_count.to_bytes(4, "big")
        if attested:
            data += bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self._cose()
        return data

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict, origin: str | None = None) -> dict:
        """The answer of navigator.credentials.create(options) with this key."""
        self.user_handle = options["user"]["id"]
        auth = self._auth_data(UP | UV | AT, attested=True)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth})
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64url(self._client_data("webauthn.create", options["challenge"],
                                                                        origin)),
                             "attestationObject": b64url(attestation), "transports": ["usb"]},
                "clientExtensionResults": {}}

    def get(self, options: dict, origin: str | None = None, user_verified: bool = True) -> dict:
        """The answer of navigator.credentials.get(options): the counter moves on by one."""
        self.sign_count += 1
        auth = self._auth_data(UP | (UV if user_verified else 0))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.private.sign(auth + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth),
                             "signature": b64url(signature), "userHandle": self.user_handle},
                "clientExtensionResults": {}}
