"""`python -m services` (`make run`): the whole of Huddle in one process, no servers needed."""

from services.common.runner import load_settings, serve
from services.embedded import EmbeddedSettings, create_app


def main() -> None:
    """Serve embedded Huddle on `HUDDLE_PORT` (default 8000)."""
    settings = load_settings(EmbeddedSettings)
    serve(
        "huddle",
        create_app(settings),
        settings,
        settings.port,
        settings.max_frame_bytes,
        settings.heartbeat_interval_s,
    )


if __name__ == "__main__":
    main()
