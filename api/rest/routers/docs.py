"""/docs (Swagger UI) and /redoc served with their scripts from this server, never from a CDN.

An operator's lab or an air-gapped CA has no network: the pages FastAPI serves by default load
their scripts from a CDN and stay blank there. The scripts and styles come from the
fastapi-offline package's files (``STATIC_PATH``, mounted at ``STATIC_URL`` by create_app).

These are module-level routes, shared by every application of the process like the other
routers (api/rest/app.py): they read the application from the request, so no route holds one.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

STATIC_PATH = Path(fastapi_offline.__file__).parent / "static"
STATIC_URL = "/static-offline-docs"
_SWAGGER_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


def _base(request: Request) -> str:
    return request.scope.get("root_path", "")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    base, app = _base(request), request.app
    return get_swagger_ui_html(openapi_url=f"{base}{app.openapi_url}", title=f"{app.title} - Swagger UI",
                               oauth2_redirect_url=f"{base}{_SWAGGER_REDIRECT}",
                               swagger_js_url=f"{base}{STATIC_URL}/swagger-ui-bundle.js",
                               swagger_css_url=f"{base}{STATIC_URL}/swagger-ui.css",
                               swagger_favicon_url=f"{base}{STATIC_URL}/favicon.png",
                               swagger_ui_parameters=app.swagger_ui_parameters)


@router.get(_SWAGGER_REDIRECT)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    base, app = _base(request), request.app
    return get_redoc_html(openapi_url=f"{base}{app.openapi_url}", title=f"{app.title} - ReDoc",
                          redoc_js_url=f"{base}{STATIC_URL}/redoc.standalone.js",
                          redoc_favicon_url=f"{base}{STATIC_URL}/favicon.png", with_google_fonts=False)
