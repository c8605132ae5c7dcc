"""`python -m services.stack` (`make stack`): each service its own process on RabbitMQ and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from services.common.runner import load_settings
from services.common.settings import CommonSettings

SERVICES = ("auth", "orchestrator", "sync", "metrics", "gateway")


def _port(settings: CommonSettings, service: str) -> int:
    return int(getattr(settings, f"{service}_port"))


def wait_ready(url: str, timeout_s: float) -> bool:
    """Poll `url` until it answers 200 or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    """Start the five services, report where they are, stop them all on Ctrl-C or SIGTERM."""
    # Without these, a `kill` or a closed terminal ends this process alone, and the services
    # it started run on, holding their ports.
    for stopping in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stopping, _stop)
    settings = load_settings(CommonSettings)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for service in SERVICES:
            processes[service] = subprocess.Popen([sys.executable, "-m", f"services.{service}"])
            url = f"http://{settings.host}:{_port(settings, service)}/readyz"
            if not wait_ready(url, 30):
                sys.stderr.write(
                    f"huddle: {service} did not become ready at {url}; are RabbitMQ "
                    f"({settings.amqp_url}) and Redis ({settings.redis_url}) running?\n"
                )
                raise SystemExit(1)
        demo_user = os.environ.get("HUDDLE_DEMO_USER", "demo")
        demo_password = os.environ.get("HUDDLE_DEMO_PASSWORD", "demo")
        sys.stderr.write(
            f"\n  Huddle stack is running at http://{settings.host}:{settings.gateway_port}"
            f"  (log in as {demo_user} / {demo_password}); Ctrl-C stops it\n\n"
        )
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        dead = [name for name, p in processes.items() if p.poll() is not None]
        sys.stderr.write(f"huddle: {', '.join(dead)} exited; stopping the stack\n")
        raise SystemExit(1)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
