"""Run the auth service alone: `python -m services.auth`."""

from services.common.runner import load_settings, serve

from .app import create_app
from .settings import AuthSettings


def main() -> None:
    """Serve the auth service on `HUDDLE_AUTH_PORT`."""
    settings = load_settings(AuthSettings)
    serve("auth", create_app(settings), settings, settings.auth_port)


if __name__ == "__main__":
    main()
