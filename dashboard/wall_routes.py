"""Point and density layers of the command wall, served by URL as GeoJSON.

Each layer decides by zoom how much to send (issue #6, light payloads): far out, households
are counts per grid and incidents only the ones that need attention; close in, the points of
the visible box; the density hexagons only at street zoom.  Coordinates leave in the basemap's
datum (:mod:`dashboard.geodata`).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, request
from sqlalchemy.exc import OperationalError

from dashboard import geodata
from dashboard import view as v
from geo.workflow import OPEN_STATES
from onemap.context import Runtime
from store import wall as db_wall
from store.measures import Filters

STREET_ZOOM = 13  # from here on: density hexagons and every incident in view
HOUSEHOLD_POINTS_ZOOM = 15
CAMERA_BBOX_ZOOM = 12
MAX_POINTS = 5_000


class BadParameter(ValueError):
    """A query parameter the layer cannot use; answered with 400 naming it."""


def hex_size_m(zoom: float) -> float:
    """Hexagon size that keeps a cell about 30 pixels wide on screen (~19 m/px at zoom 13)."""
    if zoom < 14:
        return 600.0
    if zoom < 15:
        return 300.0
    if zoom < 16:
        return 150.0
    return 75.0


def _csv(name: str) -> tuple[str, ...]:
    raw = request.args.get(name, "")
    return tuple(x for x in raw.split(",") if x)


def _float(name: str, default: float) -> float:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadParameter(f"{name} must be a number, got {raw!r}") from None


def _bbox(datum: str) -> tuple[float, float, float, float] | None:
    raw = request.args.get("bbox")
    if not raw:
        return None
    try:
        x0, y0, x1, y1 = (float(c) for c in raw.split(","))
    except ValueError:
        raise BadParameter("bbox must be min_lon,min_lat,max_lon,max_lat") from None
    if not (x0 < x1 and y0 < y1):
        raise BadParameter("bbox must be min_lon,min_lat,max_lon,max_lat with min < max")
    # All four corners: a shifted box is not a box of shifted corners.
    return geodata.bbox_from_display([[y0, x0], [y1, x1]], datum)


def _within() -> tuple[int, int] | None:
    raw = request.args.get("within")
    if not raw:
        return None
    try:
        level, unit = raw.split(":")
        return (int(level), int(unit))
    except ValueError:
        raise BadParameter("within must be level:unit_id, e.g. 1:42") from None


def _filters() -> Filters:
    return v.filters_from(_csv("category"), _csv("severity"), _csv("source"), _csv("status"))


def _period(tz: str):
    window = request.args.get("window", v.DEFAULT_WINDOW)
    try:
        return v.period_for(window, datetime.now(UTC), tz, request.args.get("start"),
                            request.args.get("end"))
    except ValueError as err:
        raise BadParameter(str(err)) from None


def _points(rows: list[dict[str, Any]], datum: str, props: Callable[[dict], dict]
            ) -> list[dict[str, Any]]:
    rows = [r for r in rows if r.get("lon") is not None]
    if not rows:
        return []
    xs, ys = geodata.to_display([r["lon"] for r in rows], [r["lat"] for r in rows], datum)
    return [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [
        round(float(x), 6), round(float(y), 6)]}, "properties": props(r)}
        for r, x, y in zip(rows, xs, ys, strict=True)]


def _answer(features: list[dict[str, Any]], **extra: Any) -> Response:
    body = json.dumps({"type": "FeatureCollection", "features": features, **extra},
                      ensure_ascii=False, separators=(",", ":"), default=str).encode()
    resp = Response(content_type="application/geo+json; charset=utf-8")
    if "gzip" in request.headers.get("Accept-Encoding", "") and len(body) > 1024:
        body = gzip.compress(body, compresslevel=5)
        resp.headers["Content-Encoding"] = "gzip"
        resp.headers["Vary"] = "Accept-Encoding"
    resp.set_data(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def register(server: Flask, rt: Runtime) -> None:
    """Add ``/wall/<layer>.geojson`` for incidents, density, households, cameras, workers."""
    bp = Blueprint("wall_layers", __name__)
    settings = rt.settings
    datum, tz = settings.basemap_datum, settings.timezone

    def engine():
        # Layers are aggregates and points that need not show this request's own writes.
        return rt.for_reading().engine

    @bp.errorhandler(BadParameter)
    def _bad(err: BadParameter):
        return {"error": f"参数错误 / bad parameter: {err}"}, 400

    @bp.errorhandler(OperationalError)
    def _down(_err: OperationalError):
        return {"error": "数据库暂不可用 / the database is unavailable; retry shortly"}, 503

    @bp.route("/wall/incidents.geojson")
    def incidents():
        zoom = _float("z", 10)
        box, filters = _bbox(datum), _filters()
        if zoom < STREET_ZOOM:
            # Far out the choropleth tells the story; only what needs attention is drawn.
            filters = Filters(
                categories=filters.categories,
                severities=tuple(s for s in (filters.severities or ("high",)) if s == "high"),
                sources=filters.sources,
                statuses=tuple(s for s in (filters.statuses or OPEN_STATES) if s in OPEN_STATES))
        rows = db_wall.incident_points(engine(), box or (-180, -90, 180, 90), _period(tz),
                                       filters, within=_within(),
                                       limit=MAX_POINTS if zoom >= STREET_ZOOM else 1500)
        return _answer(_points(rows, datum, lambda r: {
            "id": r["id"], "status": r["status"], "severity": r["severity"],
            "category": r["category"], "overdue": bool(r.get("overdue"))}))

    @bp.route("/wall/density.geojson")
    def density():
        zoom = _float("z", 10)
        box = _bbox(datum)
        if zoom < STREET_ZOOM or box is None:
            return _answer([])
        try:
            cells = db_wall.hex_density(engine(), box, hex_size_m(zoom), _period(tz), _filters())
        except ValueError:  # box too large for this hexagon size: nothing worth drawing
            return _answer([])
        top = max((c["n"] for c in cells), default=0)
        features = []
        for c in cells:
            geom = geodata.shift_geojson(c["geometry"], datum)
            features.append({"type": "Feature", "geometry": geom,
                             "properties": {"n": c["n"], "max": top}})
        return _answer(features, max=top)

    @bp.route("/wall/households.geojson")
    def households():
        zoom, box = _float("z", 10), _bbox(datum)
        if zoom >= HOUSEHOLD_POINTS_ZOOM and box is not None:
            rows = db_wall.households_in_bbox(engine(), box, limit=MAX_POINTS)
            return _answer(_points(rows, datum, lambda r: {
                "kind": "household", "n": 1, "address": r["address"], "size": r["size"],
                "flags": [k for k in ("is_rental", "is_elderly_alone", "is_special_care")
                          if r.get(k)]}))
        rows = db_wall.households_per_grid(engine(), box)
        return _answer(_points(
            [{**r, "lon": r["label_lon"], "lat": r["label_lat"]} for r in rows if r["households"]],
            datum, lambda r: {"kind": "grid", "n": int(r["households"]), "name": r["name"],
                              "persons": int(r.get("persons") or 0)}))

    @bp.route("/wall/cameras.geojson")
    def cameras():
        zoom = _float("z", 10)
        box = _bbox(datum) if zoom >= CAMERA_BBOX_ZOOM else None
        rows = db_wall.cameras(engine(), box, _within())
        return _answer(_points(rows, datum, lambda r: {
            "id": r["id"], "code": r["code"], "name": r["name"], "kind": r["kind"],
            "status": r["status"], "stream_url": r["stream_url"]}))

    @bp.route("/wall/workers.geojson")
    def workers():
        rows = db_wall.workers(engine(), _within())
        return _answer(_points(rows, datum, lambda r: {
            "id": r["id"], "name": r["name"], "phone": r["phone"],
            "grid": r["grid_name"]}))

    server.register_blueprint(bp)
