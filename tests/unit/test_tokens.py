"""Access tokens: what verifies and every way one must not."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import jwt
import pytest

from services.auth.keys import Keyring, access_claims
from services.common.tokens import InvalidToken, TokenVerifier

ISSUER, AUDIENCE = "huddle-auth", "huddle"


def claims(**overrides: object) -> dict[str, object]:
    base = access_claims(
        user_id="u1",
        username="alice",
        roles=["member"],
        session_id="s1",
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_s=60,
    )
    return {**base, **overrides}


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


@pytest.fixture
def verifier(keyring: Keyring) -> TokenVerifier:
    return TokenVerifier(keyring, issuer=ISSUER, audience=AUDIENCE, leeway_s=1)


async def test_a_good_token_verifies(keyring: Keyring, verifier: TokenVerifier) -> None:
    verified = await verifier.verify(keyring.sign(claims()))
    assert (verified.user.id, verified.user.username, verified.session_id) == ("u1", "alice", "s1")
    assert jwt.get_unverified_header(keyring.sign(claims()))["kid"] == keyring.kid


@pytest.mark.parametrize(
    "bad",
    [
        # Times relative to when the test runs, not to when the suite was collected.
        lambda now: {"exp": now - 30},
        lambda now: {"nbf": now + 60},
        lambda now: {"iss": "someone-else"},
        lambda now: {"aud": "another-app"},
    ],
    ids=["expired", "not-yet-valid", "issuer", "audience"],
)
async def test_claims_that_do_not_verify(
    keyring: Keyring, verifier: TokenVerifier, bad: Callable[[int], dict[str, object]]
) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(keyring.sign(claims(**bad(int(time.time())))))


async def test_alg_none_is_refused(verifier: TokenVerifier, keyring: Keyring) -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": keyring.kid}).encode())
    payload = base64.urlsafe_b64encode(json.dumps(claims()).encode())
    with pytest.raises(InvalidToken, match="algorithm"):
        await verifier.verify(f"{header.decode().rstrip('=')}.{payload.decode().rstrip('=')}.")


async def test_other_key_is_refused(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(Keyring.generate().sign(claims()))


async def test_tampered_payload_is_refused(keyring: Keyring, verifier: TokenVerifier) -> None:
    header, _, signature = keyring.sign(claims()).split(".")
    forged = (
        base64.urlsafe_b64encode(json.dumps(claims(roles=["admin"])).encode()).decode().rstrip("=")
    )
    with pytest.raises(InvalidToken):
        await verifier.verify(f"{header}.{forged}.{signature}")


async def test_garbage_is_refused(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify("not.a.token")
