"""Refresh rotation, reuse detection, logout and key rotation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.keys import Keyring
from services.auth.sessions import FAMILY, REFRESH, token_hash
from services.common.revocation import REVOKED_SESSION
from services.common.store import Entity
from tests.security.huddle import Huddle, Socket, running


def refresh(huddle: Huddle, token: str) -> tuple[int, dict[str, object]]:
    response = huddle.http.post("/auth/refresh", json={"refresh_token": token})
    return response.status_code, response.json() if response.content else {}


def test_refresh_rotates_and_keeps_only_hashes(huddle: Huddle) -> None:
    """Each refresh gives a new refresh token; the store never holds one in clear."""
    pair = huddle.login()
    status, second = refresh(huddle, pair["refresh_token"])
    assert status == 200 and second["refresh_token"] != pair["refresh_token"]
    store = huddle.adapters.store
    spent = huddle.portal_get(REFRESH, token_hash(pair["refresh_token"]))
    assert spent is not None and spent.state["used"] is True
    assert pair["refresh_token"] not in repr(spent) and "refresh_token" not in spent.state
    assert store is huddle.adapters.store


def test_a_refresh_token_used_twice_revokes_its_family(huddle: Huddle) -> None:
    """The replayed token is refused, and so is everything the session holds."""
    pair = huddle.login()
    status, rotated = refresh(huddle, pair["refresh_token"])
    assert status == 200
    with huddle.socket(str(rotated["access_token"])) as socket:
        status, body = refresh(huddle, pair["refresh_token"])  # the replay
        assert status == 401 and "already used" in str(body)
        started = time.monotonic()
        assert socket.closed_with() == 4401
        assert time.monotonic() - started < 1.0
    assert refresh(huddle, str(rotated["refresh_token"]))[0] == 401  # the thief's copy too
    me = huddle.http.get("/auth/me", headers=huddle.bearer(str(rotated["access_token"])))
    assert me.status_code == 401 and "revoked" in me.text
    family = huddle.portal_get(FAMILY, me_session(huddle, pair))
    assert family is not None and family.state["revoked"] is True


def me_status(huddle: Huddle, token: str) -> int:
    return int(huddle.http.get("/auth/me", headers=huddle.bearer(token)).status_code)


def me_session(huddle: Huddle, pair: dict[str, object]) -> str:
    record = huddle.portal_get(REFRESH, token_hash(str(pair["refresh_token"])))
    assert record is not None
    return str(record.state["session_id"])


def test_logout_closes_the_sessions_sockets_within_a_second(huddle: Huddle) -> None:
    """POST /auth/logout: 4401 on the session's sockets, its tokens refused; others unaffected."""
    pair, other = huddle.login(), huddle.login()
    with huddle.socket(pair["access_token"]) as mine, huddle.socket(other["access_token"]) as kept:
        response = huddle.http.post(
            "/auth/logout",
            headers=huddle.bearer(pair["access_token"]),
            json={"refresh_token": pair["refresh_token"]},
        )
        assert response.status_code == 204
        started = time.monotonic()
        assert mine.closed_with() == 4401
        assert time.monotonic() - started < 1.0
        assert kept.answer("ping")["event"] == "pong"  # another session of the same user
    assert refresh(huddle, pair["refresh_token"])[0] == 401
    assert (
        huddle.http.get("/auth/me", headers=huddle.bearer(pair["access_token"])).status_code == 401
    )
    with huddle.http.websocket_connect("/ws") as ws:
        ws.send_json({"event": "auth", "data": {"token": pair["access_token"]}})
        assert Socket(ws).closed_with() == 4401


def test_logout_everywhere_and_by_refresh_token(huddle: Huddle) -> None:
    """With only a refresh token the session still ends; `everywhere` ends them all."""
    first, second = huddle.login(), huddle.login()
    response = huddle.http.post("/auth/logout", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 204
    assert refresh(huddle, first["refresh_token"])[0] == 401
    third = huddle.login()
    response = huddle.http.post(
        "/auth/logout", headers=huddle.bearer(third["access_token"]), json={"everywhere": True}
    )
    assert response.status_code == 204
    assert refresh(huddle, second["refresh_token"])[0] == 401
    assert refresh(huddle, third["refresh_token"])[0] == 401
    assert huddle.http.post("/auth/logout").status_code == 401  # nothing to log out


def test_taking_a_role_away_ends_the_users_sessions(huddle: Huddle) -> None:
    """A demoted admin's tokens (which still say admin) stop working at once."""
    user_id = huddle.create_user("demoted", roles=("admin", "member"))
    pair = huddle.login("demoted")
    response = huddle.http.put(
        f"/auth/users/{user_id}/roles",
        json={"roles": ["member"]},
        headers=huddle.bearer(huddle.token()),
    )
    assert response.status_code == 200 and response.json()["roles"] == ["member"]
    assert (
        huddle.http.get("/auth/me", headers=huddle.bearer(pair["access_token"])).status_code == 401
    )
    assert refresh(huddle, pair["refresh_token"])[0] == 401
    fresh = huddle.http.get("/auth/me", headers=huddle.bearer(huddle.token("demoted")))
    assert fresh.json()["roles"] == ["member"]


def test_a_login_over_the_session_limit_ends_the_oldest() -> None:
    """`HUDDLE_MAX_SESSIONS_PER_USER`: state per user stays bounded, the newest sessions live."""
    with running(auth={"max_sessions_per_user": 2}) as huddle:
        first, second, third = huddle.login(), huddle.login(), huddle.login()
        assert refresh(huddle, first["refresh_token"])[0] == 401
        assert me_status(huddle, first["access_token"]) == 401
        assert refresh(huddle, second["refresh_token"])[0] == 200
        assert refresh(huddle, third["refresh_token"])[0] == 200


def _pem(path: Path) -> Path:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_key_rotation_logs_nobody_out(tmp_path: Path) -> None:
    """A token of the retired key still verifies; the JWKS serves both keys during the overlap."""
    old, new = _pem(tmp_path / "old.pem"), _pem(tmp_path / "new.pem")
    with running(auth={"signing_key_file": old}) as before:
        old_kid = before.auth.keyring.kid
        token = before.token()
        claims = before.http.get("/auth/me", headers=before.bearer(token))
        assert claims.status_code == 200
    rotated = Keyring.from_file(new, [old])
    assert [k["kid"] for k in rotated.jwks()["keys"]] == [rotated.kid, old_kid]
    with running(auth={"signing_key_file": new, "retired_key_files": (old,)}) as after:
        kids = [k["kid"] for k in after.http.get("/auth/jwks.json").json()["keys"]]
        assert kids == [after.auth.keyring.kid, old_kid] and after.auth.keyring.kid != old_kid
        # The old token names a session this (fresh, in-memory) store never saw: still valid.
        assert after.http.get("/auth/me", headers=after.bearer(token)).status_code == 200
        assert after.http.get("/api/projects", headers=after.bearer(token)).status_code == 200
    with running(auth={"signing_key_file": new}) as retired:
        assert retired.http.get("/auth/me", headers=retired.bearer(token)).status_code == 401


@pytest.mark.parametrize(
    "setting", ["access_token_ttl_s", "refresh_token_ttl_s", "max_sessions_per_user"]
)
def test_token_lifetimes_are_settings(setting: str) -> None:
    """Defaults 15 minutes and 30 days; out-of-range values refuse to start."""
    from pydantic import ValidationError

    from services.auth.settings import AuthSettings

    defaults = AuthSettings()
    assert (defaults.access_token_ttl_s, defaults.refresh_token_ttl_s) == (900, 2_592_000)
    with pytest.raises(ValidationError):
        AuthSettings.model_validate({setting: 0})


def test_an_unreadable_revocation_list_fails_closed() -> None:
    """If the store cannot say whether a session is revoked, the token is not let in."""
    with running() as huddle:
        token = huddle.token()
        store = huddle.adapters.store
        real_get = store.get

        async def broken(kind: str, key: str) -> Entity | None:
            if kind == REVOKED_SESSION:
                raise ConnectionError("store down")
            return await real_get(kind, key)

        store.get = broken  # type: ignore[method-assign]
        response = huddle.http.get("/api/projects", headers=huddle.bearer(token))
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
        with huddle.http.websocket_connect("/ws") as ws:
            ws.send_json({"event": "auth", "data": {"token": token}})
            assert Socket(ws).closed_with() == 1013
