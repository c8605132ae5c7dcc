"""The auth service: login, refresh, logout, who-am-I, the public keys and the admin API."""

import logging
import math
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ConfigDict, Field

from services.common.adapters import Adapters
from services.common.addresses import client_address, parse_networks
from services.common.contracts import UserInfo
from services.common.http import bearer_claims
from services.common.revocation import SessionRevocations
from services.common.service_app import service_app
from services.common.tokens import Claims, InvalidToken, TokenVerifier

from .admin import admin_router
from .keys import Keyring, access_claims
from .members import Memberships
from .sessions import RefreshRefused, Sessions
from .settings import AuthSettings
from .throttle import LoginThrottle, Policy
from .users import User, Users

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=512)


class LogoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Identifies the session when the access token has expired already.
    refresh_token: str | None = Field(default=None, min_length=1, max_length=512)
    # End every session of the user, not only this one.
    everywhere: bool = False


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class AuthService:
    """Issues tokens; the only holder of the signing key."""

    name = "auth"

    def __init__(
        self, settings: AuthSettings, registry: CollectorRegistry, keyring: Keyring | None = None
    ) -> None:
        self.settings = settings
        self.keyring = keyring or (
            Keyring.from_file(settings.signing_key_file, settings.retired_key_files)
            if settings.signing_key_file
            else Keyring.generate()
        )
        self.verifier = TokenVerifier(
            self.keyring,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_s=settings.token_leeway_s,
        )
        self._proxies = parse_networks(settings.trusted_proxies)
        self._users: Users | None = None
        self._sessions: Sessions | None = None
        self._members: Memberships | None = None
        self._throttle: LoginThrottle | None = None
        self._logins = Counter(
            "huddle_auth_logins_total", "Login attempts by outcome", ["outcome"], registry=registry
        )
        self._refreshes = Counter(
            "huddle_auth_refreshes_total",
            "Refresh attempts by outcome",
            ["outcome"],
            registry=registry,
        )
        self.router = self._routes()
        self.router.include_router(
            admin_router(
                lambda: self.verifier,
                lambda: self.users,
                lambda: self.sessions,
                lambda: self.members,
                settings.min_password_chars,
            )
        )

    @property
    def users(self) -> Users:
        assert self._users is not None, "auth service not started"
        return self._users

    @property
    def sessions(self) -> Sessions:
        assert self._sessions is not None, "auth service not started"
        return self._sessions

    @property
    def members(self) -> Memberships:
        assert self._members is not None, "auth service not started"
        return self._members

    @property
    def throttle(self) -> LoginThrottle:
        assert self._throttle is not None, "auth service not started"
        return self._throttle

    async def start(self, adapters: Adapters) -> None:
        settings = self.settings
        # Kept as long as the last access token of a revoked session could still verify.
        revocations = SessionRevocations(
            adapters.store, settings.access_token_ttl_s + math.ceil(settings.token_leeway_s) + 1
        )
        self.verifier.watch_revocations(revocations.is_revoked)
        self._users = Users(adapters.store)
        self._sessions = Sessions(
            adapters.store,
            adapters.fanout,
            revocations,
            refresh_ttl_s=settings.refresh_token_ttl_s,
            max_per_user=settings.max_sessions_per_user,
        )
        self._members = Memberships(adapters.store, adapters.fanout)
        self._throttle = LoginThrottle(
            adapters.store,
            Policy(
                settings.login_free_failures,
                settings.login_backoff_base_s,
                settings.login_backoff_max_s,
                settings.login_failure_window_s,
            ),
            Policy(
                settings.login_free_failures_per_address,
                settings.login_backoff_base_s,
                settings.login_backoff_max_s,
                settings.login_failure_window_s,
            ),
        )
        if settings.is_development:
            password = settings.demo_password.get_secret_value()
            await self.users.ensure(settings.demo_user, password, ["admin", "member"])
        admin_password = settings.admin_secret()
        if admin_password is not None:
            await self.users.ensure(settings.admin_user, admin_password, ["admin", "member"])

    async def stop(self) -> None:
        return None

    async def _token_pair(self, user: User, session_id: str, refresh_token: str) -> TokenPair:
        claims = access_claims(
            user_id=user.id,
            username=user.username,
            roles=user.roles,
            session_id=session_id,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            ttl_s=self.settings.access_token_ttl_s,
        )
        return TokenPair(
            access_token=self.keyring.sign(claims),
            refresh_token=refresh_token,
            expires_in=self.settings.access_token_ttl_s,
        )

    def _address(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers, self._proxies)

    async def _logout_session(
        self, credentials: HTTPAuthorizationCredentials | None, body: LogoutRequest | None
    ) -> tuple[str, str]:
        """The (session id, user id) a logout names: by its access token, else its refresh."""
        if credentials is not None:
            try:
                # A revoked session may log out again: the signature is what counts here.
                claims = await self.verifier.verify_signature(credentials.credentials)
            except InvalidToken:
                pass
            else:
                return claims.session_id, claims.user.id
        if body is not None and body.refresh_token is not None:
            session = await self.sessions.session_of(body.refresh_token)
            if session is not None:
                return session.session_id, session.user_id
        raise HTTPException(
            401, "a valid access token or refresh token is required", {"WWW-Authenticate": "Bearer"}
        )

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix="/auth", tags=["auth"])
        CurrentClaims = Annotated[Claims, Depends(bearer_claims(lambda: self.verifier))]
        Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

        @router.post("/login")
        async def login(body: LoginRequest, request: Request) -> TokenPair:
            """Exchange a username and password for an access and a refresh token."""
            address = self._address(request)
            wait = await self.throttle.retry_after(body.username, address)
            if wait > 0:
                self._logins.labels("throttled").inc()
                seconds = math.ceil(wait)
                raise HTTPException(
                    429,
                    f"too many failed logins; try again in {seconds} s",
                    {"Retry-After": str(seconds)},
                )
            user = await self.users.authenticate(body.username, body.password)
            if user is None:
                self._logins.labels("rejected").inc()
                await self.throttle.failed(body.username, address)
                log.info("failed login for %r from %s", body.username[:64], address)
                raise HTTPException(401, "invalid username or password")
            self._logins.labels("accepted").inc()
            await self.throttle.succeeded(body.username)
            session_id, refresh = await self.sessions.open(user)
            return await self._token_pair(user, session_id, refresh)

        @router.post("/refresh")
        async def refresh(body: RefreshRequest) -> TokenPair:
            """Spend a refresh token for a new pair; a token used twice ends its session."""
            try:
                session, new_refresh = await self.sessions.rotate(body.refresh_token)
            except RefreshRefused as exc:
                self._refreshes.labels("refused").inc()
                raise HTTPException(401, str(exc)) from exc
            user = await self.users.get(session.username)
            if user is None or user.id != session.user_id:
                await self.sessions.revoke(session.session_id, session.user_id)
                raise HTTPException(401, "the user no longer exists")
            self._refreshes.labels("rotated").inc()
            # Roles are read afresh: a changed role shows in the next access token.
            return await self._token_pair(user, session.session_id, new_refresh)

        @router.post("/logout", status_code=204)
        async def logout(credentials: Bearer, body: LogoutRequest | None = None) -> Response:
            """End the session (and its open sockets); `everywhere` ends every session."""
            session_id, user_id = await self._logout_session(credentials, body)
            if body is not None and body.everywhere:
                await self.sessions.revoke_all(user_id)
            await self.sessions.revoke(session_id, user_id)
            return Response(status_code=204)

        @router.get("/me")
        async def me(claims: CurrentClaims) -> UserInfo:
            """The user the bearer token belongs to."""
            return claims.user

        @router.get("/jwks.json")
        async def jwks() -> dict[str, list[dict[str, str]]]:
            """The public keys that verify access tokens (the signing key and retired ones)."""
            return self.keyring.jwks()

        return router


def create_app(settings: AuthSettings | None = None, adapters: Adapters | None = None) -> FastAPI:
    """The auth service as its own HTTP app."""
    settings = settings or AuthSettings()
    return service_app(
        "Huddle auth", settings, lambda registry: AuthService(settings, registry), adapters
    )
