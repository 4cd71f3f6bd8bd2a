"""Unit geometry for the browser, by URL, simplified per zoom band (issue #6, point 8).

The command wall puts ``dl.GeoJSON(url=...)`` layers on its Leaflet map and only switches their
``url``; geometry never travels through Dash callbacks.  This module is the server side:

* :class:`UnitLayers` — a process-wide cache built from :func:`store.repository.load_units_frame`.
  For every zoom band of :data:`geo.simplify.DEFAULT_ZOOMS` it holds the coverage-preserving
  simplification of each level (above the last band: the original geometry), shifted to the
  basemap's datum (GCJ-02 for Amap-style tiles) and pre-serialised to GeoJSON text with 6
  decimals, so a request only joins strings.  A cheap signature query
  (:func:`store.wall.units_signature`: counts, max id, max valid_from/valid_to, newest row
  version of ``unit``) is re-run at most every :data:`CHECK_EVERY_S` seconds; when it changes
  the cache is rebuilt, once, by one thread.
* :func:`register` — a Flask blueprint with ``GET /wall/units.geojson`` and
  ``GET /wall/units/bounds`` (ETag / 304, ``Cache-Control: public, max-age=60``, gzip).
* :func:`to_display` / :func:`from_display` / :func:`bbox_from_display` /
  :func:`shift_geojson` — points, map bounding boxes and GeoJSON geometries between WGS84
  (storage) and the display datum.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from flask import Blueprint, Flask, Response, g, request
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from dashboard import snapshot_cache
from geo import crs
from geo.errors import GeometryError
from geo.simplify import DEFAULT_ZOOMS, simplified_layers, tolerance_for_zoom
from onemap.context import Runtime
from onemap.errors import DatabaseError
from onemap.settings import Settings
from store import repository
from store.units import unit_cache

__all__ = ["CHECK_EVERY_S", "UnitLayers", "band_for_zoom", "bbox_from_display", "from_display",
           "layers", "register", "shift_geojson", "to_display"]

log = logging.getLogger(__name__)

CHECK_EVERY_S = 10.0  # seconds between two signature queries of one cache
PRECISION = 6  # decimals of served coordinates (~0.1 m)
MAX_IDS = 10_000  # ids one request may list
CACHE_ENTRIES = 256  # responses kept (raw and gzip bytes) per process
CACHE_BYTES = 96 * 1024 * 1024  # ... and at most this many bytes of them
FULL = None  # band key of the original geometry (zoom above the last band)

_ZOOMS = tuple(sorted(DEFAULT_ZOOMS))


# --- datum helpers -------------------------------------------------------------------------
def _scalar_or_array(x: np.ndarray, y: np.ndarray, lon: Any) -> tuple[Any, Any]:
    if np.ndim(lon) == 0:
        return float(x), float(y)
    return x, y


def to_display(lon: Any, lat: Any, datum: str) -> tuple[Any, Any]:
    """WGS84 lon/lat → the basemap's datum (floats for scalars, arrays for arrays)."""
    x, y = crs.from_wgs84(lon, lat, datum)
    return _scalar_or_array(x, y, lon)


def from_display(lon: Any, lat: Any, datum: str) -> tuple[Any, Any]:
    """Lon/lat in the basemap's datum (e.g. a click on the map) → WGS84."""
    x, y = crs.to_wgs84(lon, lat, datum)
    return _scalar_or_array(x, y, lon)


def bbox_from_display(bounds: Sequence[Sequence[float]], datum: str
                      ) -> tuple[float, float, float, float]:
    """A Leaflet bbox ``[[south, west], [north, east]]`` in the display datum → WGS84
    ``(west, south, east, north)`` (all four corners converted, the envelope returned)."""
    (s, w), (n, e) = bounds
    xs, ys = crs.to_wgs84([w, e, e, w], [s, s, n, n], datum)
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def shift_geojson(geometry: dict[str, Any] | str, datum: str) -> dict[str, Any]:
    """A WGS84 GeoJSON geometry (mapping or text) in the display datum, 6 decimals."""
    geom = shapely.from_geojson(geometry if isinstance(geometry, str) else json.dumps(geometry))
    return json.loads(shapely.to_geojson(shapely.transform(geom, _shift(datum))))


def band_for_zoom(zoom: float) -> int | None:
    """The band whose geometry to draw at ``zoom``: the smallest band key >= zoom, None
    (original geometry) above the last band."""
    for z in _ZOOMS:
        if zoom <= z:
            return z
    return FULL


# --- the snapshot ------------------------------------------------------------------------
@dataclass
class Snapshot:
    """Everything served for one signature of the unit table (immutable once built)."""

    signature: tuple
    datum: str
    ids: np.ndarray  # int64, in the frame's order (level, code)
    levels: np.ndarray  # int64
    parent_ids: list[int | None]
    props: list[dict[str, Any]]  # id, code, name, level, parent_id
    heads: list[str]  # '{"type":"Feature","id":..,"properties":{..},"geometry":'
    geometry: dict[int | None, list[str]]  # band → GeoJSON geometry text per unit
    bounds: np.ndarray  # (n, 4) minx, miny, maxx, maxy in the display datum
    index: dict[int, int] = field(default_factory=dict)  # unit id → row
    children: dict[int, list[int]] = field(default_factory=dict)  # unit id → child ids
    token: str = ""  # short hash of (signature, datum), for ETags

    @property
    def level_set(self) -> set[int]:
        return {int(v) for v in np.unique(self.levels)}

    def descendants(self, unit_id: int) -> list[int]:
        """Ids of every unit below ``unit_id`` (any depth), not including it."""
        out: list[int] = []
        stack = list(self.children.get(unit_id, ()))
        seen: set[int] = set()
        while stack:
            uid = stack.pop()
            if uid in seen:  # a cycle would be a data error; never loop on it
                continue
            seen.add(uid)
            out.append(uid)
            stack.extend(self.children.get(uid, ()))
        return out

    def select(self, level: int | None = None, parent: int | None = None,
               ids: Iterable[int] | None = None) -> np.ndarray:
        """Row numbers of the units matching every given filter, in frame order."""
        mask = np.ones(len(self.ids), dtype=bool)
        if level is not None:
            mask &= self.levels == level
        if parent is not None:
            mask &= np.isin(self.ids, np.asarray(self.descendants(parent), dtype=np.int64))
        if ids is not None:
            mask &= np.isin(self.ids, np.fromiter(ids, dtype=np.int64))
        return np.flatnonzero(mask)

    def feature_collection(self, rows: Iterable[int], band: int | None) -> str:
        geoms = self.geometry[band]
        feats = ",".join(self.heads[i] + geoms[i] + "}" for i in rows)
        return '{"type":"FeatureCollection","features":[' + feats + "]}"

    def leaflet_bounds(self, unit_id: int | None = None) -> list[list[float]] | None:
        """``[[south, west], [north, east]]`` of a unit (or of everything), display datum."""
        if unit_id is None:
            if not len(self.bounds):
                return None
            b = self.bounds
            x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        else:
            row = self.index.get(unit_id)
            if row is None:
                return None
            x0, y0, x1, y1 = self.bounds[row]
        r = PRECISION
        return [[round(float(y0), r), round(float(x0), r)],
                [round(float(y1), r), round(float(x1), r)]]


def _round_coords(coords: np.ndarray) -> np.ndarray:
    return np.round(coords, PRECISION)


def _shift(datum: str):
    """Vectorised coordinate function for shapely.transform: WGS84 → ``datum``, rounded."""
    if crs._datum(datum) in (crs.Datum.WGS84, crs.Datum.CGCS2000):
        return _round_coords

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = crs.from_wgs84(coords[:, 0], coords[:, 1], datum)
        return _round_coords(np.column_stack([x, y]))

    return fn


def _simplified(frame: Any) -> dict[int, np.ndarray]:
    """Per band, the geometry array simplified level by level (coverage-preserving where each
    level is a valid coverage; otherwise per polygon, with a warning)."""
    _, y0, _, y1 = frame.total_bounds
    lat = float((y0 + y1) / 2)
    try:
        out = simplified_layers(frame, _ZOOMS, lat=lat)
        return {z: np.asarray(g.geometry.values, dtype=object) for z, g in out.items()}
    except GeometryError:
        pass
    original = np.asarray(frame.geometry.values, dtype=object)
    levels = frame["level"].to_numpy()
    result = {z: original.copy() for z in _ZOOMS}
    for lv in np.unique(levels):
        sel = levels == lv
        try:
            sub = simplified_layers(frame[sel], _ZOOMS, lat=lat)
            for z in _ZOOMS:
                result[z][sel] = np.asarray(sub[z].geometry.values, dtype=object)
        except GeometryError:
            log.warning("Units of level %s (%d) are not a valid coverage (overlaps or unmatched "
                        "shared edges; see geo.coverage.check_coverage): simplifying them "
                        "polygon by polygon, so neighbours may show slivers at low zoom.",
                        int(lv), int(sel.sum()))
            for z in _ZOOMS:
                tol = tolerance_for_zoom(z, lat)
                result[z][sel] = shapely.simplify(original[sel], tol, preserve_topology=True)
    return result


def build_snapshot(frame: Any, signature: tuple, datum: str) -> Snapshot:
    """Simplify, shift to ``datum`` and serialise a units frame (see load_units_frame)."""
    n = len(frame)
    ids = frame["id"].to_numpy(dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    levels = frame["level"].to_numpy(dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    parents = [None if pd.isna(p) else int(p) for p in frame["parent_id"].tolist()] if n else []
    shift = _shift(datum)
    original = np.asarray(frame.geometry.values, dtype=object) if n else np.zeros(0, object)
    bands: dict[int | None, np.ndarray] = _simplified(frame) if n else {z: original
                                                                         for z in _ZOOMS}
    bands[FULL] = original
    geometry: dict[int | None, list[str]] = {}
    shown_full = None
    for band, geoms in bands.items():
        shown = shapely.transform(geoms, shift) if n else geoms
        if band is FULL:
            shown_full = shown
        geometry[band] = [str(s) for s in shapely.to_geojson(shown)] if n else []
    bounds = shapely.bounds(shown_full) if n else np.zeros((0, 4))
    props: list[dict[str, Any]] = []
    heads: list[str] = []
    for i, rec in enumerate(frame[["code", "name"]].itertuples(index=False) if n else ()):
        p = {"id": int(ids[i]), "code": str(rec.code), "name": str(rec.name),
             "level": int(levels[i]), "parent_id": parents[i]}
        props.append(p)
        pj = json.dumps(p, ensure_ascii=False, separators=(",", ":"))
        heads.append(f'{{"type":"Feature","id":{p["id"]},"properties":{pj},"geometry":')
    children: dict[int, list[int]] = {}
    for uid, pid in zip(ids.tolist(), parents, strict=True):
        if pid is not None:
            children.setdefault(pid, []).append(uid)
    token = hashlib.sha1(repr((signature, datum)).encode()).hexdigest()[:16]
    return Snapshot(signature=signature, datum=datum, ids=ids, levels=levels,
                    parent_ids=parents, props=props, heads=heads, geometry=geometry,
                    bounds=bounds, index={int(u): i for i, u in enumerate(ids.tolist())},
                    children=children, token=token)


# --- the process-wide cache (and its copy on disk: dashboard.snapshot_cache) ------------
class UnitLayers:
    """Current units, simplified per zoom band and serialised, rebuilt when the table changes.

    Thread-safe: the first caller builds while the others wait; later, one thread re-checks
    the signature (at most every ``check_every_s`` seconds) and rebuilds while the others keep
    serving the previous snapshot.  If the database is unreachable after a first build, the
    last snapshot keeps being served.
    """

    def __init__(self, engine: Engine, datum: str = "wgs84", *,
                 check_every_s: float = CHECK_EVERY_S, cache_root: Path | None = None) -> None:
        crs._datum(datum)  # fail early on an unknown datum
        self.engine = engine
        self.cache_root = cache_root  # keep snapshots on disk there (dashboard.snapshot_cache)
        self.datum = datum
        self.check_every_s = check_every_s
        self.builds = 0
        self.build_seconds = 0.0
        self._snap: Snapshot | None = None
        self._checked_at = -math.inf
        self._lock = threading.Lock()
        self._responses: OrderedDict[tuple, bytes] = OrderedDict()
        self._response_bytes = 0
        self._resp_lock = threading.Lock()

    # -- freshness
    def snapshot(self) -> Snapshot:
        """The current snapshot, checking the signature if it is due (may build)."""
        snap = self._snap
        if snap is not None and time.monotonic() - self._checked_at < self.check_every_s:
            return snap
        if snap is not None:
            if not self._lock.acquire(blocking=False):
                return snap  # another thread is checking or rebuilding
            try:
                return self._refresh_locked()
            finally:
                self._lock.release()
        with self._lock:
            if self._snap is not None:
                return self._snap
            return self._refresh_locked()

    def refresh(self, force: bool = False) -> bool:
        """Re-check the signature now; rebuild when it changed (always with ``force``).
        Returns True when a new snapshot was built."""
        with self._lock:
            before = self._snap
            return self._refresh_locked(force=force) is not before

    def _refresh_locked(self, force: bool = False) -> Snapshot:
        try:
            signature = unit_cache(self.engine).signature(force=True)
        except (OperationalError, DBAPIError, DatabaseError):
            if self._snap is None:
                raise
            self._checked_at = time.monotonic()
            log.warning("Cannot check the units signature (database unreachable); serving the "
                        "cached unit geometry.")
            return self._snap
        if not force and self._snap is not None and self._snap.signature == signature:
            self._checked_at = time.monotonic()
            return self._snap
        t0 = time.perf_counter()
        snap = self._build(signature, force)
        self.build_seconds = time.perf_counter() - t0
        self.builds += 1
        self._snap = snap
        self._checked_at = time.monotonic()
        with self._resp_lock:
            self._responses.clear()
            self._response_bytes = 0
        return snap

    def _build(self, signature: tuple, force: bool) -> Snapshot:
        """Read the snapshot of ``signature`` from disk, else build it (and keep it there)."""
        def build() -> Snapshot:
            return build_snapshot(repository.load_units_frame(self.engine), signature,
                                  self.datum)
        if self.cache_root is None:
            return build()
        name = snapshot_cache.key(self.engine.url.render_as_string(hide_password=True),
                                  signature, self.datum)
        with snapshot_cache.building(self.cache_root, name):
            snap = None if force else snapshot_cache.load(self.cache_root, name,
                                                          partial(Snapshot, signature))
            if snap is None:
                snapshot_cache.save(self.cache_root, name, snap := build())
        return snap

    # -- convenience for page code (no SQL)
    def names(self) -> dict[int, str]:
        snap = self.snapshot()
        return {p["id"]: p["name"] for p in snap.props}

    def unit(self, unit_id: int) -> dict[str, Any] | None:
        """id, code, name, level, parent_id of a current unit, or None."""
        snap = self.snapshot()
        row = snap.index.get(int(unit_id))
        return None if row is None else dict(snap.props[row])

    def units(self, level: int | None = None, parent: int | None = None,
              ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        snap = self.snapshot()
        return [dict(snap.props[i]) for i in snap.select(level, parent, ids)]

    def descendants(self, unit_id: int) -> list[int]:
        return self.snapshot().descendants(int(unit_id))

    def bounds(self, unit_id: int | None = None) -> list[list[float]] | None:
        """Leaflet ``[[south, west], [north, east]]`` in the display datum; None if unknown."""
        return self.snapshot().leaflet_bounds(None if unit_id is None else int(unit_id))

    def bounds_of(self, unit_ids: Iterable[int]) -> list[list[float]] | None:
        """The box around several units (an actor's home units); None if none is known."""
        boxes = [b for b in (self.bounds(u) for u in unit_ids) if b]
        if not boxes:
            return None
        return [[min(b[0][0] for b in boxes), min(b[0][1] for b in boxes)],
                [max(b[1][0] for b in boxes), max(b[1][1] for b in boxes)]]

    def geojson(self, level: int | None = None, parent: int | None = None,
                ids: Iterable[int] | None = None, zoom: float | None = None) -> str:
        """FeatureCollection text of the matching units at ``zoom``'s band (None: original)."""
        snap = self.snapshot()
        band = FULL if zoom is None else band_for_zoom(zoom)
        return snap.feature_collection(snap.select(level, parent, ids), band)

    # -- response cache
    def cached_response(self, key: tuple, make) -> bytes:
        with self._resp_lock:
            body = self._responses.get(key)
            if body is not None:
                self._responses.move_to_end(key)
                return body
        body = make()
        with self._resp_lock:
            if key not in self._responses:
                self._responses[key] = body
                self._response_bytes += len(body)
                while self._responses and (len(self._responses) > CACHE_ENTRIES
                                           or self._response_bytes > CACHE_BYTES):
                    _k, old = self._responses.popitem(last=False)
                    self._response_bytes -= len(old)
        return body


_LAYERS: dict[tuple[str, str], UnitLayers] = {}
_LAYERS_LOCK = threading.Lock()


def layers(engine: Engine, settings: Settings) -> UnitLayers:
    """The process-wide cache for ``engine``'s database in the configured basemap datum."""
    key = (engine.url.render_as_string(hide_password=False), settings.basemap_datum)
    with _LAYERS_LOCK:
        if key not in _LAYERS:
            _LAYERS[key] = UnitLayers(engine, settings.basemap_datum, cache_root=settings.var_path)
        return _LAYERS[key]


# --- HTTP ----------------------------------------------------------------------------------
class _BadParam(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status,
                    mimetype="application/json")


def _int_param(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _BadParam(400, f"参数 {name} 必须是整数 / parameter '{name}' must be an integer"
                             f"{' (or any)' if name == 'level' else ''}, got {raw!r}") from None


def _level_param() -> int | None:
    raw = (request.args.get("level") or "").strip().lower()
    if raw in ("any", "all"):
        return None
    return _int_param("level")


def _ids_param() -> tuple[int, ...] | None:
    raw = request.args.get("ids")
    if raw is None:
        return None
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if len(parts) > MAX_IDS:
        raise _BadParam(400, f"参数 ids 最多 {MAX_IDS} 个 / parameter 'ids' lists more than "
                             f"{MAX_IDS} ids")
    try:
        return tuple(sorted({int(p) for p in parts}))
    except ValueError:
        raise _BadParam(400, "参数 ids 必须是逗号分隔的整数 / parameter 'ids' must be "
                             f"comma-separated integers, got {raw!r}") from None


def _zoom_param() -> float | None:
    raw = request.args.get("z")
    if raw is None or raw.strip() == "":
        return None
    try:
        z = float(raw)
    except ValueError:
        z = math.nan
    if not (math.isfinite(z) and 0 <= z <= 30):
        raise _BadParam(400, "参数 z 必须是 0-30 的缩放级别 / parameter 'z' must be a zoom "
                             f"level between 0 and 30, got {raw!r}")
    return z


def _wants_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def _etag_matches(base: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag.removesuffix("-gz") == base:
            return True
    return False


_DB_DOWN = ("数据库暂不可用，请稍后重试 / the database is unavailable, please retry shortly "
            "(check `onemap db status`)")


def register(server: Flask, rt: Runtime) -> None:
    """Mount ``/wall/units.geojson`` and ``/wall/units/bounds`` on the dashboard's server."""
    bp = Blueprint("wall_geodata", __name__)

    def cache() -> UnitLayers:
        return layers(rt.engine, rt.settings)

    def snapshot(lay: UnitLayers) -> Snapshot:
        try:
            return lay.snapshot()
        except (OperationalError, DBAPIError, DatabaseError) as exc:
            raise _BadParam(503, _DB_DOWN) from exc

    @bp.errorhandler(_BadParam)
    def _bad(exc: _BadParam) -> Response:
        return _json({"error": exc.message}, exc.status)

    def visible() -> frozenset[int] | None:
        """The units the request's actor may see (None: every unit).  The guard
        (:mod:`dashboard.guard`) lets no request reach these routes without an actor."""
        actor = g.get("onemap_actor")
        if actor is None or actor.units is None:
            return None
        return frozenset(rt.acting_as(actor).units.tree().units)

    @bp.get("/wall/units.geojson")
    def units_geojson() -> Response:
        level = _level_param()
        parent = _int_param("parent")
        ids = _ids_param()
        zoom = _zoom_param()
        lay = cache()
        snap = snapshot(lay)
        allowed = visible()
        if allowed is not None:
            if parent is not None and parent not in allowed:
                raise _BadParam(404, f"参数 parent 无此单元 / parameter 'parent': no current "
                                     f"unit with id {parent}")
            ids = tuple(sorted(allowed if ids is None else set(ids) & allowed))
        if level is not None and level not in snap.level_set:
            known = ", ".join(str(v) for v in sorted(snap.level_set)) or "none"
            raise _BadParam(400, f"参数 level 无此层级 / parameter 'level': no current units "
                                 f"of level {level} (levels: {known})")
        if parent is not None and parent not in snap.index:
            raise _BadParam(404, f"参数 parent 无此单元 / parameter 'parent': no current unit "
                                 f"with id {parent}")
        band = FULL if zoom is None else band_for_zoom(zoom)
        query = (level, parent, ids, band)
        base = hashlib.sha1(repr((snap.token, query)).encode()).hexdigest()[:24]
        gz = _wants_gzip()
        headers = {"Cache-Control": "private, max-age=60", "Vary": "Accept-Encoding, Cookie",
                   "ETag": f'"{base}-gz"' if gz else f'"{base}"'}
        if _etag_matches(base):
            return Response(status=304, headers=headers)

        def raw() -> bytes:
            return lay.cached_response(
                (snap.token, query, False),
                lambda: snap.feature_collection(snap.select(level, parent, ids),
                                                band).encode())

        if gz:
            body = lay.cached_response((snap.token, query, True),
                                       lambda: gzip.compress(raw(), compresslevel=6, mtime=0))
            headers["Content-Encoding"] = "gzip"
        else:
            body = raw()
        return Response(body, status=200, headers=headers,
                        content_type="application/geo+json; charset=utf-8")

    @bp.get("/wall/units/bounds")
    def units_bounds() -> Response:
        unit_id = _int_param("id")
        snap = snapshot(cache())
        allowed = visible()
        if allowed is not None and unit_id is not None and unit_id not in allowed:
            return _json({"error": f"参数 id 无此单元 / parameter 'id': no current unit with "
                                   f"id {unit_id}"}, 404)
        if allowed is not None and unit_id is None:
            box = cache().bounds_of(allowed)
            if box is None:
                return _json({"error": "尚无单元 / there are no current units"}, 404)
            return _json({"bounds": box, "datum": snap.datum})
        bounds = snap.leaflet_bounds(unit_id)
        if bounds is None:
            if unit_id is None:
                return _json({"error": "尚无单元 / there are no current units"}, 404)
            return _json({"error": f"参数 id 无此单元 / parameter 'id': no current unit with "
                                   f"id {unit_id}"}, 404)
        return _json({"bounds": bounds, "datum": snap.datum})

    server.register_blueprint(bp)
