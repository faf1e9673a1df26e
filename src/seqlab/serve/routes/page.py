"""``GET /``: the page that shows what the models see; ``GET /static/NAME``: its files.

The page is plain HTML, CSS and JavaScript shipped in the package (``seqlab/serve/static``): no
build step and no external assets, so it works on a machine without network. The files are read
once, when the application is made, and served from memory by name, so only a file the package
ships can be asked for (no request path is ever joined to a folder). A Content-Security-Policy
header holds the page to that: it may load only its own files and talk only to its own origin
(the API and the WebSocket).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import PurePosixPath

from fastapi import APIRouter, Response

from seqlab.serve.errors import ApiError
from seqlab.serve.state import ServiceState

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",  # revalidate: a new version of the package shows at once
}


def static_files() -> dict[str, tuple[bytes, str]]:
    """Every file of ``seqlab/serve/static`` whose kind is known: name -> (content, media type)."""
    folder = files("seqlab.serve").joinpath("static")
    found = {}
    for entry in folder.iterdir():
        media_type = MEDIA_TYPES.get(PurePosixPath(entry.name).suffix)
        if media_type is not None and entry.is_file():
            found[entry.name] = (entry.read_bytes(), media_type)
    return found


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()
    shipped = static_files()

    def serve(name: str) -> Response:
        if name not in shipped:
            raise ApiError(404, "NotFound", f"the page has no file {name!r}", field="name")
        content, media_type = shipped[name]
        return Response(content, media_type=media_type, headers=HEADERS)

    @routes.get("/", include_in_schema=False)
    def page() -> Response:
        return serve("index.html")

    @routes.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        return serve(name)

    return routes
