"""A server process for a test: started, waited for until it answers, stopped afterwards."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def serving(
    args: Sequence[str], ready_url: str, log_file: Path, timeout_s: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` until `ready_url` answers 200; SIGTERM it (then SIGKILL) at the end."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(list(args), stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                assert process.poll() is None, f"{args[0]} exited; see {log_file}"
                try:
                    if httpx.get(ready_url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{ready_url} not ready after {timeout_s} s"
                time.sleep(0.1)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
