"""Run the sync service alone: `python -m services.sync`."""

from services.common.runner import load_settings, serve

from .app import create_app
from .settings import SyncSettings


def main() -> None:
    """Serve the sync service on `HUDDLE_SYNC_PORT`."""
    settings = load_settings(SyncSettings)
    serve("sync", create_app(settings), settings, settings.sync_port)


if __name__ == "__main__":
    main()
