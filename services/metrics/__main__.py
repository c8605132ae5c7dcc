"""Run the metrics service alone: `python -m services.metrics`."""

from services.common.runner import load_settings, serve

from .app import create_app
from .settings import MetricsSettings


def main() -> None:
    """Serve the metrics service on `HUDDLE_METRICS_PORT`."""
    settings = load_settings(MetricsSettings)
    serve("metrics", create_app(settings), settings, settings.metrics_port)


if __name__ == "__main__":
    main()
