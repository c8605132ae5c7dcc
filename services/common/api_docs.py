"""`/docs` (Swagger UI) and `/redoc` for a service's OpenAPI document, under a CSP of their own.

FastAPI's viewer pages load their scripts and styles from a CDN and start them with an inline
script; the strict CSP every other response carries (`headers.py`) blocked both and left the
pages blank. These two pages, and only they, get what the seed's CSP allowed (the CDN and
inline scripts): they show no user data, and the app's own pages keep the strict policy.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {CDN}; "
    f"style-src 'self' 'unsafe-inline' {CDN} https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _with_docs_csp(page: HTMLResponse) -> HTMLResponse:
    page.headers["content-security-policy"] = DOCS_CSP
    return page


def api_doc_routes(app: FastAPI) -> None:
    """Serve the OpenAPI viewers; the app must be built with `docs_url=None, redoc_url=None`."""
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _with_docs_csp(
            get_swagger_ui_html(openapi_url=app.openapi_url or "", title=f"{title} - API")
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _with_docs_csp(
            get_redoc_html(openapi_url=app.openapi_url or "", title=f"{title} - API")
        )
