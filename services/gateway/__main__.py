"""Run the gateway service alone: `python -m services.gateway`."""

from services.common.runner import load_settings, serve

from .app import create_app
from .settings import GatewaySettings


def main() -> None:
    """Serve the gateway service on `HUDDLE_GATEWAY_PORT`."""
    settings = load_settings(GatewaySettings)
    serve(
        "gateway",
        create_app(settings),
        settings,
        settings.gateway_port,
        max_frame_bytes=settings.max_frame_bytes,
        heartbeat_s=settings.heartbeat_interval_s,
    )


if __name__ == "__main__":
    main()
