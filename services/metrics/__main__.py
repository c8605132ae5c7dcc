"""Run the metrics service alone: `python -m services.metrics`."""

from services.common.runner import load_settings, serve
from services.common.settings import CommonSettings

from .app import create_app


def main() -> None:
    """Serve the metrics service on `HUDDLE_METRICS_PORT`."""
    settings = load_settings(CommonSettings)
    serve("metrics", create_app(settings), settings, settings.metrics_port)


if __name__ == "__main__":
    main()
