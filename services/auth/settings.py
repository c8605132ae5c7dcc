"""Settings of the auth service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from services.common.settings import CommonSettings

DEFAULT_DEMO_PASSWORD = "demo"
WEAK_PASSWORDS = frozenset({"", "demo", "admin", "password", "changeme", "secret", "huddle"})


class SettingsError(ValueError):
    """A setting that makes start-up unsafe or impossible."""


class AuthSettings(CommonSettings):
    """Tokens, keys and the bootstrap users."""

    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_s: int = Field(default=2_592_000, ge=300)
    # PEM file of the Ed25519 private key that signs access tokens (a docker secret in production).
    signing_key_file: Path | None = None
    # Earlier signing keys (PEM, private or public): still in the JWKS and still verifying, so
    # a rotation logs nobody out. Drop one once access_token_ttl_s has passed since its retiring.
    retired_key_files: tuple[Path, ...] = ()
    demo_user: str = "demo"
    demo_password: SecretStr = SecretStr(DEFAULT_DEMO_PASSWORD)
    # Outside development the first admin comes from these instead of the demo user.
    admin_user: str = "admin"
    admin_password: SecretStr | None = None
    admin_password_file: Path | None = None
    min_password_chars: int = Field(default=12, ge=8)
    # Sessions (refresh-token families) a user may hold; a new login ends the oldest over it.
    max_sessions_per_user: int = Field(default=50, ge=1, le=10_000)
    # Failed logins allowed per username, and per client address, before the lock-out starts.
    login_free_failures: int = Field(default=5, ge=1, le=1000)
    login_free_failures_per_address: int = Field(default=20, ge=1, le=100_000)
    # The first lock-out; each further failure doubles it, up to the maximum.
    login_backoff_base_s: float = Field(default=1.0, gt=0, le=3600)
    login_backoff_max_s: float = Field(default=900.0, gt=0, le=86_400)
    # Failures are forgotten after this long without one.
    login_failure_window_s: int = Field(default=900, ge=1, le=86_400)

    @model_validator(mode="after")
    def _refuse_defaults_outside_development(self) -> AuthSettings:
        for path in (self.signing_key_file, *self.retired_key_files):
            if path is not None and not path.is_file():
                raise SettingsError(f"key file {path} does not exist or is not a file")
        if self.is_development:
            return self
        if self.signing_key_file is None:
            raise SettingsError(
                f"HUDDLE_SIGNING_KEY_FILE is required when HUDDLE_ENV={self.env}: "
                "generated signing keys are for development only"
            )
        password = self.admin_secret()
        if password is not None and (
            password in WEAK_PASSWORDS or len(password) < self.min_password_chars
        ):
            raise SettingsError(
                "the admin password (HUDDLE_ADMIN_PASSWORD or HUDDLE_ADMIN_PASSWORD_FILE) is a "
                f"default or shorter than {self.min_password_chars} characters; "
                f"refusing to start with HUDDLE_ENV={self.env}"
            )
        return self

    def admin_secret(self) -> str | None:
        """The bootstrap admin password, from the setting or its file."""
        if self.admin_password_file is not None:
            return self.admin_password_file.read_text().strip()
        return None if self.admin_password is None else self.admin_password.get_secret_value()
