"""``/m``: the grid worker's phone page, a progressive web app (#16).

The shell (``/m``), its script, style, service worker, manifest and icons are plain files
from ``dashboard/mobile/`` — no Dash, so the first load on a slow network is a few
kilobytes.  Its data comes from three JSON routes of the signed-in worker: ``boot.json``
(categories, the worker's grids and neighbours: cached by the service worker for offline
use), ``tasks.json`` and ``POST reports`` / ``POST incidents/<id>/actions`` (each with an
``Idempotency-Key``: the phone's offline queue may send an item twice, the server stores it
once).  Photos go to ``/media/<id>/photos``.
"""

from __future__ import annotations

import hashlib
import io
from functools import cache
from pathlib import Path

from flask import Flask, Response, request
from PIL import Image, ImageDraw

from dashboard.callbacks import runtime
from intake import mobile, service
from intake.http.common import api_route, json_response, read_json
from intake.schema import parse_action

HERE = Path(__file__).with_name("mobile")
PREFIX = "/m"
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


@cache
def _file(name: str) -> bytes:
    return (HERE / name).read_bytes()


@cache
def version() -> str:
    """Changes with any file of the shell: the service worker's cache name."""
    digest = hashlib.sha256()
    for name in ("index.html", "app.js", "app.css", "sw.js"):
        digest.update(_file(name))
    return digest.hexdigest()[:12]


@cache
def icon(size: int) -> bytes:
    """The app's icon: a grid on the command-centre blue (drawn, so nothing is fetched)."""
    img = Image.new("RGB", (size, size), (21, 101, 192))
    draw = ImageDraw.Draw(img)
    step, pad, width = size // 4, size // 8, max(2, size // 48)
    for k in range(4):
        at = pad + k * (size - 2 * pad) // 3
        draw.line([(at, pad), (at, size - pad)], fill="white", width=width)
        draw.line([(pad, at), (size - pad, at)], fill="white", width=width)
    r = step // 3
    draw.ellipse([size // 2 - r, size // 2 - r, size // 2 + r, size // 2 + r],
                 fill=(255, 193, 7))
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


MANIFEST = {
    "name": "一张图 · 网格员", "short_name": "网格员", "lang": "zh-CN",
    "start_url": "/m", "scope": "/m", "display": "standalone",
    "background_color": "#0b1b2b", "theme_color": "#1565c0",
    "icons": [{"src": f"/m/icon-{s}.png", "sizes": f"{s}x{s}", "type": "image/png",
               "purpose": "any maskable"} for s in (192, 512)],
}


def _lang() -> str:
    return "en" if request.args.get("lang") == "en" else runtime().settings.lang


def _static(body: bytes, mimetype: str, max_age: int = 0) -> Response:
    resp = Response(body, mimetype=mimetype)
    resp.headers["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-cache"
    resp.set_etag(hashlib.sha256(body).hexdigest()[:16])
    return resp.make_conditional(request)


def register(server: Flask) -> None:
    @server.get(PREFIX)
    def _shell() -> Response:
        resp = _static(_file("index.html"), "text/html")
        resp.headers["Cache-Control"] = "no-cache, private"
        return resp

    @server.get(f"{PREFIX}/<any(app.js, app.css):name>")
    def _asset(name: str) -> Response:
        return _static(_file(name), STATIC[name])

    @server.get(f"{PREFIX}/sw.js")
    def _worker() -> Response:
        body = _file("sw.js").replace(b"__VERSION__", version().encode())
        resp = _static(body, "text/javascript")
        resp.headers["Service-Worker-Allowed"] = PREFIX
        return resp

    @server.get(f"{PREFIX}/manifest.webmanifest")
    def _manifest() -> Response:
        return json_response(MANIFEST, headers={"Cache-Control": "public, max-age=3600"})

    @server.get(f"{PREFIX}/icon-<int(fixed_digits=3):size>.png")
    def _icon(size: int) -> Response:
        if size not in (192, 512):
            return Response(status=404)
        return _static(icon(size), "image/png", 86400)

    @server.get(f"{PREFIX}/boot.json")
    @api_route
    def _boot() -> Response:
        body = mobile.boot(runtime(), _lang())
        return json_response(body, headers={"Cache-Control": "private, no-cache"})

    @server.get(f"{PREFIX}/tasks.json")
    @api_route
    def _tasks() -> Response:
        return json_response({"items": mobile.tasks(runtime(), _lang())},
                             headers={"Cache-Control": "private, no-cache"})

    @server.post(f"{PREFIX}/reports")
    @api_route
    def _report() -> Response:
        result = mobile.report(runtime(), read_json(), request.headers.get("Idempotency-Key"))
        row = result.incident
        return json_response({"id": row["id"], "created": result.created,
                              "grid": row.get("grid_name"), "status": row["status"],
                              "warnings": result.warnings,
                              "citizen_url": result.citizen_url}, result.http_status)

    @server.post(f"{PREFIX}/incidents/<int:incident_id>/actions")
    @api_route
    def _action(incident_id: int) -> Response:
        action = parse_action(read_json())
        row = service.act(runtime(), incident_id, action,
                          idempotency_key=request.headers.get("Idempotency-Key"))
        return json_response({"id": row["id"], "status": row["status"]})
