"""Access-token verification from the auth service's JWKS: pinned algorithm, issuer, audience."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from pydantic import ValidationError

from .contracts import UserInfo

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
# Every claim an access token must carry; a token without one is refused.
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "sub", "sid", "iss", "aud")
RevocationCheck = Callable[[str], Awaitable[bool]]


class InvalidToken(Exception):
    """The token is malformed, expired, not ours, or signed by a key we do not know."""


@dataclass(frozen=True)
class Claims:
    """What a verified access token says."""

    user: UserInfo
    session_id: str
    expires_at: float


class KeySource(Protocol):
    """Finds a public verification key by `kid`."""

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key with this id, or None."""
        ...


class HttpJwksSource:
    """Keys fetched from a JWKS URL, cached, refreshed only when an unknown `kid` shows up."""

    def __init__(self, url: str, *, min_refresh_s: float = 10.0, timeout_s: float = 5.0) -> None:
        # At most one fetch per `min_refresh_s`: random `kid`s cannot make us hammer auth.
        self._url = url
        self._min_refresh_s = min_refresh_s
        self._timeout_s = timeout_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh_s:
                await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.get(self._url)
                response.raise_for_status()
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, jwt.PyJWTError, ValueError) as exc:
            log.warning("could not fetch JWKS from %s: %r", self._url, exc)
            return
        self._keys = {k.key_id: k for k in key_set.keys if k.key_id}


class TokenVerifier:
    """Verifies access tokens locally; never calls the auth service per request."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_s: float = 5.0,
        revoked: RevocationCheck | None = None,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._revoked = revoked

    def watch_revocations(self, revoked: RevocationCheck) -> None:
        """Refuse tokens of the sessions `revoked` names (set once the store is connected)."""
        self._revoked = revoked

    async def verify(self, token: str) -> Claims:
        """Return the token's claims or raise `InvalidToken`."""
        claims = await self.verify_signature(token)
        if self._revoked is not None and await self._revoked(claims.session_id):
            raise InvalidToken("session revoked")
        return claims

    async def verify_signature(self, token: str) -> Claims:
        """The claims of a well-signed, current token of ours, revoked or not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("token algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= 128:
            raise InvalidToken("token has no key id")
        key = await self._keys.key(kid)
        if key is None:
            raise InvalidToken("token signed by an unknown key")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return _claims(payload)


def _claims(payload: dict[str, Any]) -> Claims:
    roles = payload.get("roles", [])
    sid, exp = payload["sid"], payload["exp"]
    if not isinstance(roles, list) or not isinstance(sid, str) or not sid:
        raise InvalidToken("token claims have the wrong types")
    try:
        user = UserInfo(
            id=payload["sub"], username=payload.get("name", payload["sub"]), roles=tuple(roles)
        )
    except ValidationError as exc:
        raise InvalidToken("token claims have the wrong types") from exc
    return Claims(user=user, session_id=sid, expires_at=float(exp))
