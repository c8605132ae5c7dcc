"""The keys that sign access tokens (Ed25519, `kid` = RFC 7638 thumbprint) and their JWKS.

One key signs; retired keys (the previous signing keys) still verify until the tokens they
signed have expired, and the JWKS publishes them all, so a rotation logs nobody out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.tokens import ALGORITHM


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as an OKP JWK with its thumbprint as `kid`."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    thumbprint = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
    return {**members, "kid": _b64(thumbprint), "alg": ALGORITHM, "use": "sig"}


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key of a PEM file holding either half of the pair."""
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return load_private_key(path).public_key()
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} does not hold an Ed25519 key")
    return key


class Keyring:
    """Signs with the current key; publishes every key still valid for verification."""

    def __init__(
        self, private_key: Ed25519PrivateKey, retired: Sequence[Ed25519PublicKey] = ()
    ) -> None:
        self._private_key = private_key
        self._jwk = public_jwk(private_key.public_key())
        retired_jwks = [public_jwk(key) for key in retired]
        self._jwks = [self._jwk, *(k for k in retired_jwks if k["kid"] != self._jwk["kid"])]
        self._verification = {jwk["kid"]: jwt.PyJWK(jwk) for jwk in self._jwks}

    @classmethod
    def generate(cls) -> Keyring:
        """A fresh key: development only (tokens die with the process)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_file(cls, path: Path, retired: Sequence[Path] = ()) -> Keyring:
        """Sign with the key in `path`; also verify with the keys of the `retired` files."""
        return cls(load_private_key(path), [load_public_key(p) for p in retired])

    @property
    def kid(self) -> str:
        return self._jwk["kid"]

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign claims as a JWT with the current key."""
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys as a JWK Set: the signing key first, then the retired ones."""
        return {"keys": list(self._jwks)}

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """`KeySource` for verifiers in the same process (embedded mode)."""
        return self._verification.get(kid)


def access_claims(
    *,
    user_id: str,
    username: str,
    roles: list[str],
    session_id: str,
    issuer: str,
    audience: str,
    ttl_s: int,
) -> dict[str, Any]:
    """The claims of an access token."""
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "name": username,
        "roles": roles,
        "sid": session_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
