"""The JWKS cache: fetched once, refetched on an unknown `kid`, never more often than allowed."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.auth.keys import Keyring, access_claims
from services.common.tokens import HttpJwksSource, InvalidToken, TokenVerifier


class Jwks:
    """A JWKS endpoint on a free port that counts its requests (and answers after `delay_s`)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.keys: dict[str, list[dict[str, str]]] = {"keys": []}
        self.requests = 0
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.requests += 1
                time.sleep(delay_s)
                body = json.dumps(served.keys).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base_url}/auth/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    served = Jwks()
    yield served
    served.server.shutdown()


def token(keyring: Keyring) -> str:
    return keyring.sign(
        access_claims(
            user_id="u", username="u", roles=[], session_id="s", issuer="i", audience="a", ttl_s=60
        )
    )


async def test_keys_are_cached_and_refreshed_only_for_an_unknown_kid(jwks: Jwks) -> None:
    first, second = Keyring.generate(), Keyring.generate()
    jwks.keys = first.jwks()
    verifier = TokenVerifier(HttpJwksSource(jwks.url, min_refresh_s=0.2), issuer="i", audience="a")
    for _ in range(5):
        await verifier.verify(token(first))
    assert jwks.requests == 1  # never per request
    jwks.keys = {"keys": first.jwks()["keys"] + second.jwks()["keys"]}  # a rotation
    await asyncio.sleep(0.25)
    assert (await verifier.verify(token(second))).user.id == "u"
    assert jwks.requests == 2
    for _ in range(10):  # random kids cannot make it hammer the auth service
        with pytest.raises(InvalidToken, match="unknown key"):
            await verifier.verify(token(Keyring.generate()))
    assert jwks.requests <= 3
