"""How a service that does not sign tokens gets a verifier for them."""

from __future__ import annotations

from .settings import CommonSettings
from .tokens import HttpJwksSource, KeySource, TokenVerifier


def token_verifier(settings: CommonSettings, keys: KeySource | None = None) -> TokenVerifier:
    """A verifier on `keys`, or on the auth service's JWKS when none are given."""
    source = keys or HttpJwksSource(
        settings.auth_url.rstrip("/") + "/auth/jwks.json",
        min_refresh_s=settings.jwks_min_refresh_s,
        timeout_s=settings.jwks_fetch_timeout_s,
    )
    return TokenVerifier(
        source,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_s=settings.token_leeway_s,
    )
