"""Settings: defaults, and refusing unsafe ones outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.auth.settings import AuthSettings
from services.common.settings import CommonSettings, Environment
from services.gateway.settings import GatewaySettings


def test_contract_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults PROTOCOL.md names."""
    for name in ("HUDDLE_NAMESPACE", "HUDDLE_GATEWAY_PORT", "HUDDLE_MAX_FRAME_BYTES"):
        monkeypatch.delenv(name, raising=False)
    gateway = GatewaySettings()
    assert (gateway.namespace, gateway.gateway_port, gateway.max_frame_bytes) == (
        "huddle",
        8000,
        65536,
    )
    assert (
        gateway.auth_port,
        gateway.orchestrator_port,
        gateway.sync_port,
        gateway.metrics_port,
    ) == (
        8001,
        8002,
        8003,
        8004,
    )
    auth = AuthSettings()
    assert (auth.access_token_ttl_s, auth.refresh_token_ttl_s) == (900, 2_592_000)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUDDLE_NAMESPACE", "staging")
    monkeypatch.setenv("HUDDLE_PUBLISH_TIMEOUT_S", "0.5")
    settings = CommonSettings()
    assert (settings.namespace, settings.publish_timeout_s) == ("staging", 0.5)


BROKER = "amqp://huddle:a-real-password@rabbitmq:5672/"


@pytest.mark.parametrize("env", ["production", "test"])
def test_only_development_may_generate_a_signing_key(env: Environment) -> None:
    """No demo user and no generated key outside development: a test deployment is shared."""
    with pytest.raises(
        ValidationError, match=f"HUDDLE_SIGNING_KEY_FILE is required when HUDDLE_ENV={env}"
    ):
        AuthSettings(env=env, amqp_url=BROKER)
    assert AuthSettings(env="development").is_development


@pytest.mark.parametrize("url", ["amqp://guest:guest@127.0.0.1:5672/", "amqp://huddle:@r/"])
def test_production_refuses_the_default_broker_password(url: str) -> None:
    with pytest.raises(ValidationError, match="HUDDLE_AMQP_URL"):
        CommonSettings(env="production", amqp_url=url)
    assert CommonSettings(env="development", amqp_url=url).amqp_url == url


@pytest.mark.parametrize("password", ["demo", "admin", "short-pw"])
def test_production_refuses_default_or_weak_admin_passwords(tmp_path: Path, password: str) -> None:
    key = tmp_path / "key.pem"
    key.write_text("unused")
    with pytest.raises(ValidationError, match="refusing to start"):
        AuthSettings(
            env="production", signing_key_file=key, admin_password=password, amqp_url=BROKER
        )


def test_production_accepts_a_real_secret(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("unused")
    secret = tmp_path / "admin"
    secret.write_text("a-long-and-random-password\n")
    settings = AuthSettings(
        env="production", signing_key_file=key, admin_password_file=secret, amqp_url=BROKER
    )
    assert settings.admin_secret() == "a-long-and-random-password"


def test_namespace_is_checked() -> None:
    with pytest.raises(ValidationError):
        CommonSettings(namespace="has spaces")


def test_amqp_heartbeat_at_its_bounds() -> None:
    """Whole seconds from 0 (no heartbeat) to 600; 15 unless set."""
    assert CommonSettings().amqp_heartbeat_s == 15
    assert CommonSettings(amqp_heartbeat_s=0).amqp_heartbeat_s == 0
    assert CommonSettings(amqp_heartbeat_s=600).amqp_heartbeat_s == 600
    for refused in (-1, 601, 2.5):
        with pytest.raises(ValidationError):
            CommonSettings(amqp_heartbeat_s=refused)
