"""Debian's nginx with the deploy's configuration: checked as it is, or run before a stack."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.observability.daemon import serving
from tests.processes import ROOT, free_port

NGINX = ROOT / "deploy" / "nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")


def nginx() -> str:
    """The nginx binary, or a failure that says how to get it."""
    path = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    assert path is not None, (
        "nginx not found: install Debian's nginx (`apt-get install --no-install-recommends "
        "nginx`; .ci/run does)"
    )
    return path


def main_config(work_dir: Path, server: str) -> str:
    """An nginx.conf like the image's, with everything it writes kept under `work_dir`."""
    temp = "\n".join(
        f"    {kind}_temp_path {work_dir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
worker_processes 1;
pid {work_dir / "nginx.pid"};
error_log {work_dir / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    access_log off;
{temp}
{server}
}}
"""


def deploy_config(work_dir: Path, *, tls: bool = False) -> Path:
    """deploy/nginx as compose mounts it (paths rewritten to this checkout); TLS optional."""
    include = work_dir / "huddle"
    include.mkdir(exist_ok=True)
    shutil.copy(NGINX / "huddle-routes.conf", include / "huddle-routes.conf")
    if tls:
        shutil.copy(NGINX / "tls.conf.disabled", include / "tls.conf")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-keyout", str(work_dir / "privkey.pem"),
             "-out", str(work_dir / "fullchain.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
    for conf in include.glob("*.conf"):
        text = conf.read_text().replace("/etc/nginx/certs/", f"{work_dir}/")
        conf.write_text(text.replace("/etc/nginx/huddle/", f"{include}/"))
    server = (NGINX / "huddle.conf").read_text().replace("/etc/nginx/huddle/", f"{include}/")
    path = work_dir / "nginx.conf"
    path.write_text(main_config(work_dir, server))
    return path


def check(config: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on a configuration."""
    return subprocess.run(
        [nginx(), "-t", "-c", str(config)], capture_output=True, text=True, timeout=30
    )


def local_config(work_dir: Path, ports: Mapping[str, int], port: int) -> Path:
    """deploy/nginx routing to services on this machine, listening on `port`."""
    include = work_dir / "huddle"
    include.mkdir(exist_ok=True)
    routes = (NGINX / "huddle-routes.conf").read_text()
    for service, service_port in ports.items():
        routes = re.sub(
            rf"set \${service} http://{service}:\d+;",
            f"set ${service} http://127.0.0.1:{service_port};",
            routes,
        )
    routes = routes.replace("root /usr/share/nginx/html;", f"root {ROOT / 'web'};")
    (include / "huddle-routes.conf").write_text(routes)
    server = (NGINX / "huddle.conf").read_text()
    server = re.sub(r"resolver [^;]*;", "", server)  # addresses, not names, in this test
    server = re.sub(r"listen \[::\]:80;", "", server)
    server = server.replace("listen 80;", f"listen 127.0.0.1:{port};")
    server = server.replace("/etc/nginx/huddle/", f"{include}/")
    path = work_dir / "nginx.conf"
    path.write_text(main_config(work_dir, server) + "daemon off;\n")
    return path


@contextmanager
def running_nginx(ports: Mapping[str, int], work_dir: Path) -> Iterator[str]:
    """nginx in front of the services at `ports`; its base URL. Stopped afterwards."""
    port = free_port()
    config = local_config(work_dir, ports, port)
    checked = check(config)
    assert checked.returncode == 0, checked.stderr
    url = f"http://127.0.0.1:{port}"
    with serving([nginx(), "-c", str(config)], f"{url}/", work_dir / "nginx.out", 10):
        yield url
