"""Security headers, a strict CSP, HSTS behind TLS, CORS only for configured origins."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.common.adapters import memory_adapters
from services.gateway.app import create_app as create_gateway
from services.gateway.settings import GatewaySettings
from tests.security.huddle import Huddle, running

SEED_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "x-xss-protection": "1; mode=block",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": "geolocation=(), microphone=(), camera=()",
}


def test_every_response_has_the_seed_headers_and_a_strict_csp(huddle: Huddle) -> None:
    """The web client, its assets, the APIs and errors alike; no HSTS over plain HTTP."""
    for path in ("/", "/js/main.js", "/css/app.css", "/config.json", "/auth/jwks.json", "/nope"):
        response = huddle.http.get(path)
        for name, value in SEED_HEADERS.items():
            assert response.headers[name] == value, (path, name)
        csp = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "strict-transport-security" not in response.headers


def test_only_the_api_viewers_may_load_the_cdn_and_run_inline_scripts(huddle: Huddle) -> None:
    """`/docs` and `/redoc` are FastAPI's pages (a CDN bundle started inline): their own CSP
    allows that and nothing else; the OpenAPI document and the app keep the strict one."""
    for path in ("/docs", "/redoc"):
        response = huddle.http.get(path)
        assert response.status_code == 200 and "/openapi.json" in response.text, path
        for name, value in SEED_HEADERS.items():
            assert response.headers[name] == value, (path, name)
        directives = dict(
            d.strip().split(" ", 1) for d in response.headers["content-security-policy"].split(";")
        )
        assert directives["script-src"] == "'self' 'unsafe-inline' https://cdn.jsdelivr.net"
        assert directives["connect-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-eval" not in response.headers["content-security-policy"]
    for path in ("/openapi.json", "/"):
        assert "unsafe-inline" not in huddle.http.get(path).headers["content-security-policy"]


def test_hsts_behind_tls() -> None:
    """`HUDDLE_BEHIND_TLS=true`, or a request that arrived over https, gets HSTS."""
    with running(gateway={"behind_tls": True}) as huddle:
        assert huddle.http.get("/").headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )
    with running() as huddle:
        secure = TestClient(huddle.http.app, base_url="https://testserver")
        assert "strict-transport-security" in secure.get("/healthz").headers


def test_the_stack_gateway_lets_the_page_reach_the_auth_and_api_origins_only() -> None:
    """Stand-alone, the gateway's CSP adds the auth and API origins to connect-src, no more."""
    settings = GatewaySettings(
        namespace="csp",
        public_auth_url="https://auth.example:8443/base",
        public_api_url="https://api.example",
    )
    with TestClient(create_gateway(settings, memory_adapters(settings))) as client:
        csp = client.get("/config.json").headers["content-security-policy"]
    assert "connect-src 'self' https://auth.example:8443 https://api.example;" in csp


def test_cors_allows_configured_origins_only() -> None:
    """A preflight from an allowed origin is answered; any other origin gets no CORS headers."""
    from services.auth.app import create_app
    from services.auth.settings import AuthSettings

    settings = AuthSettings(namespace="cors", cors_origins=("https://huddle.example",))
    with TestClient(create_app(settings, memory_adapters(settings))) as client:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = client.options(
            "/auth/login", headers={**preflight, "Origin": "https://huddle.example"}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://huddle.example"
        for origin in ("https://evil.example", "null", "https://huddle.example.evil.example"):
            refused = client.options("/auth/login", headers={**preflight, "Origin": origin})
            assert "access-control-allow-origin" not in refused.headers
