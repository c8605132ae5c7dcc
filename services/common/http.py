"""The HTTP shell every service shares: lifespan, health, readiness, metrics, error format."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Protocol, runtime_checkable

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .adapters import Adapters
from .api_docs import api_doc_routes
from .body_limit import BodyLimit
from .component import Component
from .errors import error_body
from .headers import SecurityHeaders
from .request_rate import RequestRateLimit
from .revocation import SessionRevocations
from .settings import CommonSettings
from .tokens import Claims, InvalidToken, TokenVerifier

log = logging.getLogger(__name__)


def new_registry() -> CollectorRegistry:
    """A Prometheus registry with process CPU, memory and file descriptors, as `huddle_process_*`.

    The standard `process_*` families are kept too: other tooling expects those names.
    """
    registry = CollectorRegistry()
    ProcessCollector(namespace="huddle", registry=registry)
    ProcessCollector(registry=registry)
    return registry


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as `{"error": {"code", "message"}}`."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse(error_body(422, problems or "invalid request"), status_code=422)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def install_request_metrics(app: FastAPI, registry: CollectorRegistry) -> None:
    """Histogram of HTTP request latency by route, method and status."""
    latency = Histogram(
        "huddle_http_request_duration_seconds",
        "HTTP request latency",
        ["route", "method", "status"],
        registry=registry,
    )

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        latency.labels(path, request.method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response


SocketEndpoint = Callable[[WebSocket], Awaitable[None]]


@runtime_checkable
class SocketServing(Protocol):
    """A component serving WebSockets on paths of its own."""

    def websocket_endpoints(self) -> dict[str, SocketEndpoint]:
        """The endpoint of each WebSocket path."""
        ...


class SocketShortcut:
    """ASGI: a WebSocket to a known path goes straight to its endpoint, past the middleware.

    The HTTP middleware does nothing for a WebSocket (headers, CORS and request metrics are
    HTTP-only), but its frames and closures would stay alive as long as each socket is open.
    """

    def __init__(self, app: ASGIApp, endpoints: dict[str, SocketEndpoint]) -> None:
        self.app = app
        self._endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            endpoint = self._endpoints.get(path[len(root) :] if path.startswith(root) else path)
            if endpoint is not None:
                await endpoint(WebSocket(scope, receive, send))
                return
        await self.app(scope, receive, send)


class HostApp(FastAPI):
    """A FastAPI app whose components' WebSocket endpoints skip the HTTP middleware."""

    socket_endpoints: dict[str, SocketEndpoint]

    def build_middleware_stack(self) -> ASGIApp:
        """The usual stack, behind the WebSocket shortcut."""
        return SocketShortcut(super().build_middleware_stack(), self.socket_endpoints)


@runtime_checkable
class ReadinessAware(Protocol):
    """A component that can tell it is not ready although the broker and Redis answer."""

    def ready_problem(self) -> str | None:
        """What is wrong, or None."""
        ...


def health_routes(
    app: FastAPI,
    registry: CollectorRegistry,
    adapters: Callable[[], Adapters | None],
    components: Sequence[Component] = (),
) -> None:
    """`/healthz` (alive), `/readyz` (broker and Redis reachable), `/metrics` (Prometheus)."""

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> Response:
        current = adapters()
        if current is None:
            return JSONResponse(error_body(503, "starting"), status_code=503)
        try:
            await asyncio.wait_for(current.ping(), timeout=3.0)
        except Exception as exc:
            return JSONResponse(error_body(503, f"not ready: {exc!r}"), status_code=503)
        for component in components:
            if isinstance(component, ReadinessAware) and (problem := component.ready_problem()):
                return JSONResponse(error_body(503, f"not ready: {problem}"), status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def watch_revocations(components: Sequence[Component], revocations: SessionRevocations) -> None:
    """Make the token verifier of every component refuse revoked sessions' tokens."""
    for component in components:
        verifier = getattr(component, "verifier", None)
        if isinstance(verifier, TokenVerifier):
            verifier.watch_revocations(revocations.is_revoked)


def host_app(
    title: str,
    components: Sequence[Component],
    registry: CollectorRegistry,
    connect: Callable[[], Awaitable[Adapters]],
    *,
    close_adapters: bool = True,
    cors_origins: Sequence[str] = (),
    static_dir: Path | None = None,
    csp_connect_to: Sequence[str] = (),
    settings: CommonSettings | None = None,
) -> FastAPI:
    """A FastAPI app hosting `components`, with adapters built by `connect` at start-up.

    Every response carries the security headers (`headers.py`); `csp_connect_to` names the
    other origins the web client may call. `settings` (the environment's when not given) set
    HSTS, the body size limit and the API request limit.
    """
    settings = settings or CommonSettings()
    state: dict[str, Adapters] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        adapters = state["adapters"] = await connect()
        watch_revocations(components, SessionRevocations(adapters.store))
        started: list[Component] = []
        try:
            for component in components:
                await component.start(adapters)
                started.append(component)
            yield
        finally:
            if close_adapters:
                # Work in hand finishes before the components it uses stop (an agent call
                # must not find its provider closed); adapters shared with others are theirs.
                await adapters.bus.stop_consuming()
            for component in reversed(started):
                try:
                    await component.stop()
                except Exception:
                    log.exception("stopping %s failed", component.name)
            if close_adapters:
                await adapters.close()

    app = HostApp(title=title, lifespan=lifespan, docs_url=None, redoc_url=None)
    api_doc_routes(app)  # the viewers, under a CSP that lets them load
    app.socket_endpoints = {
        path: endpoint
        for component in components
        if isinstance(component, SocketServing)
        for path, endpoint in component.websocket_endpoints().items()
    }
    install_error_handlers(app)
    # Added first, so innermost: the route reads the body through it directly (a middleware
    # between would wrap its refusal in an exception group, which FastAPI answers 400).
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.http_rate_limit_per_min:
        # Inside the request metrics, which count its refusals, and inside CORS, so that a
        # browser on another origin can read the 429.
        app.add_middleware(
            RequestRateLimit,
            per_minute=settings.http_rate_limit_per_min,
            trusted_proxies=settings.trusted_proxies,
        )
    install_request_metrics(app, registry)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(
        SecurityHeaders,
        connect_to=csp_connect_to,
        behind_tls=settings.behind_tls,
        hsts_max_age_s=settings.hsts_max_age_s,
    )
    health_routes(app, registry, lambda: state.get("adapters"), components)
    for component in components:
        app.include_router(component.router)
    if static_dir is not None:
        # Last, so that it serves only what no route claims.
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="web")
    return app


_bearer = HTTPBearer(auto_error=False)


async def _verified(
    verifier: TokenVerifier, credentials: HTTPAuthorizationCredentials | None
) -> Claims:
    if credentials is None:
        raise HTTPException(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    try:
        return await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise HTTPException(401, f"invalid token: {exc}", {"WWW-Authenticate": "Bearer"}) from exc
    except Exception as exc:
        # The revocation list could not be read: fail closed, and say it is temporary.
        log.exception("could not check a token")
        raise HTTPException(503, "token check unavailable; retry") from exc


def bearer_claims(verifier: Callable[[], TokenVerifier]) -> Callable[..., Awaitable[Claims]]:
    """A FastAPI dependency that verifies `Authorization: Bearer <access JWT>`."""

    async def claims(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Claims:
        return await _verified(verifier(), credentials)

    return claims


def admin_claims(verifier: Callable[[], TokenVerifier]) -> Callable[..., Awaitable[Claims]]:
    """Like `bearer_claims`, and the user must have the `admin` role (else 403)."""

    async def claims(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Claims:
        found = await _verified(verifier(), credentials)
        if "admin" not in found.user.roles:
            raise HTTPException(403, "admins only")
        return found

    return claims
