"""The auth service: login, refresh, who-am-I and the public keys."""

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, ConfigDict, Field

from services.common.adapters import Adapters, connect_adapters
from services.common.contracts import UserInfo
from services.common.http import bearer_claims, host_app, new_registry
from services.common.tokens import Claims, TokenVerifier

from .keys import Keyring, access_claims
from .settings import AuthSettings
from .users import User, Users

log = logging.getLogger(__name__)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=512)


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
            Keyring.from_file(settings.signing_key_file)
            if settings.signing_key_file
            else Keyring.generate()
        )
        self.verifier = TokenVerifier(
            self.keyring, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
        self._users: Users | None = None
        self._logins = Counter(
            "huddle_auth_logins_total", "Login attempts by outcome", ["outcome"], registry=registry
        )
        self.router = self._routes()

    @property
    def users(self) -> Users:
        assert self._users is not None, "auth service not started"
        return self._users

    async def start(self, adapters: Adapters) -> None:
        self._users = Users(adapters.store, refresh_ttl_s=self.settings.refresh_token_ttl_s)
        if self.settings.is_development:
            password = self.settings.demo_password.get_secret_value()
            await self.users.ensure(self.settings.demo_user, password, ["admin", "member"])
        admin_password = self.settings.admin_secret()
        if admin_password is not None:
            await self.users.ensure(self.settings.admin_user, admin_password, ["admin", "member"])

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

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix="/auth", tags=["auth"])
        CurrentClaims = Annotated[Claims, Depends(bearer_claims(lambda: self.verifier))]

        @router.post("/login")
        async def login(body: LoginRequest) -> TokenPair:
            """Exchange a username and password for an access and a refresh token."""
            user = await self.users.authenticate(body.username, body.password)
            if user is None:
                self._logins.labels("rejected").inc()
                raise HTTPException(401, "invalid username or password")
            self._logins.labels("accepted").inc()
            session_id = uuid.uuid4().hex
            refresh = await self.users.issue_refresh(user, session_id)
            return await self._token_pair(user, session_id, refresh)

        @router.post("/refresh")
        async def refresh(body: RefreshRequest) -> TokenPair:
            """Spend a refresh token for a new pair (each refresh token works once)."""
            rotated = await self.users.rotate_refresh(body.refresh_token)
            if rotated is None:
                raise HTTPException(401, "refresh token is invalid, expired or already used")
            session, new_refresh = rotated
            return await self._token_pair(session.user, session.session_id, new_refresh)

        @router.get("/me")
        async def me(claims: CurrentClaims) -> UserInfo:
            """The user the bearer token belongs to."""
            return claims.user

        @router.get("/jwks.json")
        async def jwks() -> dict[str, list[dict[str, str]]]:
            """The public keys that verify access tokens."""
            return self.keyring.jwks()

        return router


def create_app(settings: AuthSettings | None = None, adapters: Adapters | None = None) -> FastAPI:
    """The auth service as its own HTTP app."""
    settings = settings or AuthSettings()
    registry = new_registry()
    service = AuthService(settings, registry)

    async def connect() -> Adapters:
        return adapters or await connect_adapters(settings)

    return host_app(
        "Huddle auth",
        [service],
        registry,
        connect,
        close_adapters=adapters is None,
        cors_origins=settings.allowed_origins,
    )
