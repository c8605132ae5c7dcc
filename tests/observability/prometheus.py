"""A real Prometheus (Debian's binary) on a free port, scraping a local stack."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.observability.daemon import serving
from tests.processes import ROOT, free_port

DEPLOY = ROOT / "deploy"
CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "rules"


def tool(name: str) -> str:
    """The path of `promtool` or `prometheus`, or a failure that says how to get it."""
    path = shutil.which(name)
    assert path is not None, (
        f"{name} not found: install Debian's prometheus package "
        "(`apt-get install --no-install-recommends prometheus`; .ci/run does)"
    )
    return path


def local_config(ports: Mapping[str, int], own_port: int, interval_s: float) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with its targets on this machine and short intervals.

    Every job keeps its name (dashboards and alerts select by job); its service discovery is
    replaced by the local port of the service of the same name.
    """
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    every = f"{round(interval_s * 1000)}ms"
    config["global"].update(scrape_interval=every, evaluation_interval=every, scrape_timeout=every)
    config["rule_files"] = [str(path) for path in sorted(RULES.glob("*.yml"))]
    jobs = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        port = own_port if name == "prometheus" else ports[name]
        jobs.append({"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]})
    config["scrape_configs"] = jobs
    return config


class PrometheusApi:
    """The few HTTP API calls the checks need."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (or matrix rows)."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", (expr, answer)
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def has_data(self, expr: str) -> bool:
        """Whether `expr` returns at least one finite value now."""
        return any(math.isfinite(float(row["value"][1])) for row in self.query(expr))

    def get(self, path: str) -> Any:
        """`/api/v1/<path>`'s data."""
        answer = httpx.get(f"{self.url}/api/v1/{path}", timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]


@contextmanager
def running_prometheus(
    ports: Mapping[str, int], work_dir: Path, interval_s: float = 1.0
) -> Iterator[PrometheusApi]:
    """Prometheus scraping the services at `ports`, with the deploy's rules; stopped after."""
    port = free_port()
    config_file = work_dir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(local_config(ports, port, interval_s)))
    args = [
        tool("prometheus"),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={work_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    with serving(args, f"{url}/-/ready", work_dir / "prometheus.log"):
        yield PrometheusApi(url)
