"""Forged, stale and foreign access tokens: refused by HTTP routes (401) and sockets (4401)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from services.auth.keys import Keyring, access_claims
from tests.security.huddle import Huddle, Socket

ROUTES = ("/auth/me", "/api/projects", "/api/agents", "/api/messages/demo/general")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def claims(huddle: Huddle, **overrides: Any) -> dict[str, Any]:
    settings = huddle.auth.settings
    base = access_claims(
        user_id="u-attacker",
        username="attacker",
        roles=["admin", "member"],
        session_id="s-attacker",
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_s=300,
    )
    return {**base, **overrides}


def alg_none(huddle: Huddle) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": huddle.auth.keyring.kid}
    return f"{_b64(header)}.{_b64(claims(huddle))}."


def hs256_with_the_public_key(huddle: Huddle) -> str:
    """The classic confusion: an HMAC keyed with the (public) verification key, as PEM."""
    public = huddle.auth.keyring.jwks()["keys"][0]
    pem = jwt.PyJWK(public).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": huddle.auth.keyring.kid}
    signing_input = f"{_b64(header)}.{_b64(claims(huddle))}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def signed(**overrides: Any) -> Callable[[Huddle], str]:
    def make(huddle: Huddle) -> str:
        return huddle.auth.keyring.sign(claims(huddle, **overrides))

    return make


def shifted(**offsets: int) -> Callable[[Huddle], str]:
    """Signed with times this many seconds from when the token is made."""

    def make(huddle: Huddle) -> str:
        now = int(time.time())
        times = {claim: now + offset for claim, offset in offsets.items()}
        return huddle.auth.keyring.sign(claims(huddle, **times))

    return make


def unknown_kid(huddle: Huddle) -> str:
    return Keyring.generate().sign(claims(huddle))


def tampered(huddle: Huddle) -> str:
    """A real member's token with `roles` raised to admin: the signature no longer matches."""
    real = huddle.token("demo")
    header, _, signature = real.split(".")
    payload = json.loads(base64.urlsafe_b64decode(real.split(".")[1] + "=="))
    payload["sub"] = "u-someone-else"
    return f"{header}.{_b64(payload)}.{signature}"


def revoked(huddle: Huddle) -> str:
    pair = huddle.login("demo")
    headers = huddle.bearer(pair["access_token"])
    assert huddle.http.post("/auth/logout", headers=headers).status_code == 204
    return str(pair["access_token"])


FORGERIES: dict[str, Callable[[Huddle], str]] = {
    "alg none": alg_none,
    "HS256 signed with the public key": hs256_with_the_public_key,
    "expired": shifted(exp=-60, iat=-400, nbf=-400),
    "not yet valid": shifted(nbf=600, iat=600, exp=900),
    "wrong issuer": signed(iss="someone-else"),
    "wrong audience": signed(aud="another-app"),
    "no session id": signed(sid=None),
    "roles of the wrong type": signed(roles="admin"),
    "unknown kid": unknown_kid,
    "tampered payload": tampered,
    "revoked session": revoked,
    "garbage": lambda huddle: "not-a-token",
}


@pytest.mark.parametrize("forgery", FORGERIES, ids=list(FORGERIES))
def test_http_routes_refuse_the_token(huddle: Huddle, forgery: str) -> None:
    """Every service's routes answer 401 in the common error format."""
    token = FORGERIES[forgery](huddle)
    for route in ROUTES:
        response = huddle.http.get(route, headers=huddle.bearer(token))
        assert response.status_code == 401, (route, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("forgery", FORGERIES, ids=list(FORGERIES))
def test_sockets_refuse_the_token(huddle: Huddle, forgery: str) -> None:
    """The handshake closes 4401, and so does a re-`auth` with such a token."""
    token = FORGERIES[forgery](huddle)
    with huddle.http.websocket_connect("/ws") as ws:
        ws.send_json({"event": "auth", "data": {"token": token}})
        assert Socket(ws).closed_with() == 4401
    with huddle.socket(huddle.token()) as socket:
        socket.send("auth", {"token": token})
        assert socket.closed_with() == 4401


def test_a_good_token_passes_everywhere(huddle: Huddle) -> None:
    """The control: the same routes accept a real token."""
    token = huddle.token()
    for route in ROUTES[:3]:
        assert huddle.http.get(route, headers=huddle.bearer(token)).status_code == 200
