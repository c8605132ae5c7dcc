"""Run the orchestrator service alone: `python -m services.orchestrator`."""

from services.common.runner import load_settings, serve

from .app import create_app
from .settings import OrchestratorSettings


def main() -> None:
    """Serve the orchestrator service on `HUDDLE_ORCHESTRATOR_PORT`."""
    settings = load_settings(OrchestratorSettings)
    serve("orchestrator", create_app(settings), settings, settings.orchestrator_port)


if __name__ == "__main__":
    main()
