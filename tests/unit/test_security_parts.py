"""Small security parts: client addresses, the connection limiter, headers, revocation, keys."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from services.auth.keys import Keyring, access_claims, load_public_key
from services.auth.settings import AuthSettings
from services.common.addresses import client_address, parse_networks
from services.common.headers import content_security_policy, origin_of
from services.common.revocation import SessionRevocations
from services.common.settings import CommonSettings
from services.common.store import MemoryStore
from services.common.tokens import InvalidToken, TokenVerifier
from services.gateway.ratelimit import AddressLimiter

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # not a proxy: the header is ignored
        ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client's own claim is left
        ("10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1"),  # through two of our proxies
        ("10.1.2.3", "", "10.1.2.3"),
        (None, "", "unknown"),
    ],
)
def test_client_address_trusts_only_our_proxies(
    peer: str | None, forwarded: str, expected: str
) -> None:
    assert client_address(peer, {"x-forwarded-for": forwarded}, PROXIES) == expected


def test_trusted_proxies_must_be_networks() -> None:
    assert CommonSettings(trusted_proxies=("10.0.0.0/8",)).trusted_proxies == ("10.0.0.0/8",)
    with pytest.raises(ValidationError):
        CommonSettings(trusted_proxies=("not-an-address",))


def test_the_connection_limiter_refills_and_forgets() -> None:
    limiter = AddressLimiter(rate=1000.0, burst=2, max_addresses=2)
    assert limiter.allow("a") and limiter.allow("a")
    assert not limiter.allow("a")
    time.sleep(0.01)
    assert limiter.allow("a")  # refilled
    slow = AddressLimiter(rate=0.001, burst=1, max_addresses=2)
    assert slow.allow("a") and not slow.allow("a")
    assert slow.allow("b") and slow.allow("c")  # "a" is forgotten: at most two remembered
    assert slow.allow("a")


def test_csp_is_strict_and_names_extra_origins() -> None:
    csp = content_security_policy(["https://auth.example"])
    assert "script-src 'self';" in csp and "unsafe" not in csp
    assert "connect-src 'self' https://auth.example;" in csp
    assert origin_of("https://auth.example:8443/x?y") == "https://auth.example:8443"
    assert origin_of("") is None and origin_of("/relative") is None


async def test_revoked_sessions_are_refused_by_the_verifier() -> None:
    keyring = Keyring.generate()
    revocations = SessionRevocations(MemoryStore(), ttl_s=60)
    verifier = TokenVerifier(keyring, issuer="i", audience="a", revoked=revocations.is_revoked)
    claims = access_claims(
        user_id="u", username="u", roles=[], session_id="s1", issuer="i", audience="a", ttl_s=60
    )
    token = keyring.sign(claims)
    assert (await verifier.verify(token)).session_id == "s1"
    await revocations.revoke("s1")
    await revocations.revoke("s1")  # twice is fine
    with pytest.raises(InvalidToken, match="revoked"):
        await verifier.verify(token)
    assert (await verifier.verify_signature(token)).session_id == "s1"


def _pem(path: Path, public: bool = False) -> Path:
    key = Ed25519PrivateKey.generate()
    data = (
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if public
        else key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.write_bytes(data)
    return path


async def test_retired_keys_verify_but_do_not_sign(tmp_path: Path) -> None:
    old = _pem(tmp_path / "old.pem")
    public_only = _pem(tmp_path / "older.pub", public=True)
    old_ring = Keyring.from_file(old)
    ring = Keyring.from_file(_pem(tmp_path / "new.pem"), [old, public_only])
    assert len(ring.jwks()["keys"]) == 3 and ring.kid != old_ring.kid
    assert await ring.key(old_ring.kid) is not None
    assert load_public_key(public_only) is not None
    claims = access_claims(
        user_id="u", username="u", roles=[], session_id="s", issuer="i", audience="a", ttl_s=60
    )
    verifier = TokenVerifier(ring, issuer="i", audience="a")
    assert (await verifier.verify(old_ring.sign(claims))).user.id == "u"


def test_missing_key_files_stop_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        AuthSettings(signing_key_file=tmp_path / "missing.pem")
    with pytest.raises(ValidationError, match="does not exist"):
        AuthSettings(retired_key_files=(tmp_path / "gone.pem",))
    with pytest.raises(ValidationError, match="HUDDLE_SIGNING_KEY_FILE"):
        AuthSettings(env="production", amqp_url="amqp://u:a-real-password@r/")


def test_jwks_refresh_interval_is_a_setting() -> None:
    assert CommonSettings().jwks_min_refresh_s == 10.0
    with pytest.raises(ValidationError):
        CommonSettings(jwks_min_refresh_s=0)
