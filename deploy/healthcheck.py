"""Docker HEALTHCHECK of a Huddle container: GET /healthz of the service it runs.

The service is read from PID 1's command line (`python -m services.<name>`), its port from
`HUDDLE_<NAME>_PORT` (or `HUDDLE_PORT` for embedded mode), with the stack's defaults.
"""

from __future__ import annotations

import os
import sys
import urllib.request

DEFAULT_PORTS = {"gateway": 8000, "auth": 8001, "orchestrator": 8002, "sync": 8003, "metrics": 8004}


def service(cmdline: bytes) -> str | None:
    """`gateway` for `python -m services.gateway`, None for embedded mode (`-m services`)."""
    for arg in cmdline.split(b"\0"):
        if arg.startswith(b"services."):
            return arg.decode().split(".")[1]
    return None


def port(name: str | None) -> int:
    """The port the service listens on."""
    if name is None:
        return int(os.environ.get("HUDDLE_PORT", "8000"))
    return int(os.environ.get(f"HUDDLE_{name.upper()}_PORT", DEFAULT_PORTS[name]))


def main() -> int:
    """0 when /healthz answers 200 within 3 s, else 1."""
    with open("/proc/1/cmdline", "rb") as f:
        url = f"http://127.0.0.1:{port(service(f.read()))}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
