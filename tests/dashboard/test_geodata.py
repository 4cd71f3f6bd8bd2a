"""Unit geometry served by URL (dashboard/geodata.py) against a real PostGIS database.

The module has its own database (``<test db>_geodata``, the built-in sample: 1 county, 2 towns,
4 villages, 12 grids) because one test commits a unit and removes it again.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Iterator

import flask
import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

from dashboard import geodata
from geo import crs
from onemap.settings import Settings
from store.engine import database_url, get_engine
from store.runtime import build_runtime
from tests.helpers import free_port, fresh_demo_database, sibling_database

URL = "/wall/units.geojson"


@pytest.fixture(scope="module")
def gd_url(db_url: str) -> str:
    return sibling_database(db_url, "geodata")


@pytest.fixture(scope="module")
def gd_engine(gd_url: str) -> Iterator[Engine]:
    engine = fresh_demo_database(gd_url)
    yield engine
    engine.dispose()


def _settings(settings: Settings, url: str, datum: str = "wgs84") -> Settings:
    return settings.with_(database_url=url, basemap_datum=datum, escalate_every_s=0)


def _client(s: Settings):
    app = flask.Flask(__name__)
    geodata.register(app, build_runtime(s))
    return app.test_client()


@pytest.fixture(scope="module")
def gd_settings(settings: Settings, gd_url: str, gd_engine: Engine) -> Settings:
    return _settings(settings, gd_url)


@pytest.fixture(scope="module")
def client(gd_settings: Settings):
    return _client(gd_settings)


@pytest.fixture(scope="module")
def gcj_client(settings: Settings, gd_url: str, gd_engine: Engine):
    return _client(_settings(settings, gd_url, "gcj02"))


def _sql(engine: Engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def _features(resp) -> list[dict]:
    assert resp.status_code == 200, resp.data
    doc = json.loads(resp.data)
    assert doc["type"] == "FeatureCollection"
    return doc["features"]


def _geoms(features: list[dict]) -> np.ndarray:
    return np.asarray([shapely.from_geojson(json.dumps(f["geometry"])) for f in features],
                      dtype=object)


DESCENDANTS = """
    WITH RECURSIVE d AS (SELECT id FROM unit WHERE parent_id = :p AND valid_to IS NULL
        UNION ALL SELECT u.id FROM unit u JOIN d ON u.parent_id = d.id WHERE u.valid_to IS NULL)
    SELECT u.id FROM unit u JOIN d USING (id) WHERE u.level = :lv ORDER BY u.id"""


# --- filters -------------------------------------------------------------------------------
def test_counts_per_level_match_sql(client, gd_engine: Engine) -> None:
    counts = dict(_sql(gd_engine, "SELECT level, count(*) FROM unit WHERE valid_to IS NULL "
                                  "GROUP BY level"))
    assert counts == {0: 1, 1: 2, 2: 4, 3: 12}
    for level, n in counts.items():
        feats = _features(client.get(f"{URL}?level={level}&z=10"))
        assert len(feats) == n
        for f in feats:
            assert f["id"] == f["properties"]["id"]
            assert set(f["properties"]) == {"id", "code", "name", "level", "parent_id"}
            assert f["properties"]["level"] == level
            assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_parent_selects_descendants_at_any_depth(client, gd_engine: Engine) -> None:
    county = _sql(gd_engine, "SELECT id FROM unit WHERE level = 0")[0][0]
    towns = [r[0] for r in _sql(gd_engine, "SELECT id FROM unit WHERE level = 1")]
    for parent in [county, *towns]:
        for level in (1, 2, 3):
            want = [r[0] for r in _sql(gd_engine, DESCENDANTS, p=parent, lv=level)]
            got = sorted(f["id"] for f in _features(
                client.get(f"{URL}?level={level}&parent={parent}&z=12")))
            assert got == want
    assert len(_features(client.get(f"{URL}?level=3&parent={county}&z=14"))) == 12
    assert len(_features(client.get(f"{URL}?level=3&parent={towns[0]}&z=14"))) == 6


def test_ids_filter(client, gd_engine: Engine) -> None:
    grids = [r[0] for r in _sql(gd_engine, "SELECT id FROM unit WHERE level = 3 ORDER BY id")]
    town = _sql(gd_engine, "SELECT id FROM unit WHERE level = 1 ORDER BY id")[0][0]
    picked = grids[:3]
    feats = _features(client.get(f"{URL}?ids={','.join(map(str, picked))}&z=14"))
    assert sorted(f["id"] for f in feats) == picked
    # filters combine: listed ids of another level give nothing; unknown ids are ignored
    assert _features(client.get(f"{URL}?level=2&ids={picked[0]}")) == []
    assert [f["id"] for f in _features(client.get(f"{URL}?ids={town},999999"))] == [town]
    assert _features(client.get(f"{URL}?level=3&ids=")) == []
    # level=any (what the wall's context layer sends) is no level filter
    both = _features(client.get(f"{URL}?level=any&ids={town},{picked[0]}&z=10"))
    assert sorted(f["id"] for f in both) == sorted([town, picked[0]])
    assert len(_features(client.get(f"{URL}?level=any&z=8"))) == 19


# --- simplification ------------------------------------------------------------------------
def test_bands_simplify_and_still_tile(client, gd_engine: Engine) -> None:
    areas = {i: a for i, a in _sql(gd_engine, "SELECT id, ST_Area(geom) FROM unit "
                                              "WHERE valid_to IS NULL")}
    originals = {f["id"]: _geoms([f])[0] for f in _features(client.get(f"{URL}?z=18"))}
    for z in (5, 8, 10, 12, 14):
        for level in (1, 2, 3):
            feats = _features(client.get(f"{URL}?level={level}&z={z}"))
            geoms = _geoms(feats)
            ids = [f["id"] for f in feats]
            for uid, g in zip(ids, geoms, strict=True):
                assert shapely.get_num_coordinates(g) <= shapely.get_num_coordinates(
                    originals[uid])
            assert shapely.coverage_is_valid(geoms)
            by_parent: dict[int, list] = {}
            for f, g in zip(feats, geoms, strict=True):
                by_parent.setdefault(f["properties"]["parent_id"], []).append(g)
            for parent, gs in by_parent.items():
                union = shapely.union_all(gs).area
                assert union == pytest.approx(areas[parent], rel=1e-9)


def _wiggly_coverage() -> gpd.GeoDataFrame:
    """Two neighbours sharing a densely wiggling edge, plus their parent (the union)."""
    xs = np.linspace(100.0, 100.1, 400)
    ys = 30.05 + 0.002 * np.sin(xs * 2000)
    edge = list(zip(xs, ys, strict=True))
    south = shapely.Polygon([(100.0, 30.0), (100.1, 30.0), *edge[::-1]])
    north = shapely.Polygon([*edge, (100.1, 30.1), (100.0, 30.1)])
    parent = shapely.box(100.0, 30.0, 100.1, 30.1)
    return gpd.GeoDataFrame(
        {"id": [1, 2, 3], "code": ["P", "S", "N"], "name": ["父", "南", "北"],
         "level": [0, 1, 1], "parent_id": gpd.pd.array([None, 1, 1], dtype="Int64")},
        geometry=[parent, south, north], crs="EPSG:4326")


def test_low_zoom_drops_vertices_and_keeps_shared_edges() -> None:
    snap = geodata.build_snapshot(_wiggly_coverage(), ("sig",), "wgs84")
    full = sum(shapely.get_num_coordinates(shapely.from_geojson(g))
               for g in snap.geometry[None])
    counts = {}
    for band in (8, 10, 12, 14):
        geoms = shapely.from_geojson(snap.geometry[band][1:])
        counts[band] = int(shapely.get_num_coordinates(geoms).sum())
        assert shapely.coverage_is_valid(geoms)
        assert shapely.union_all(geoms).area == pytest.approx(0.01, rel=1e-9)
    assert counts[8] < counts[10] <= counts[12] <= counts[14] < full


def test_invalid_coverage_falls_back_per_polygon(caplog) -> None:
    frame = _wiggly_coverage()
    frame.loc[2, "geometry"] = shapely.affinity.translate(frame.geometry[2], 0, -0.001)
    with caplog.at_level(logging.WARNING, logger="dashboard.geodata"):
        snap = geodata.build_snapshot(frame, ("sig",), "wgs84")
    assert "level 1" in caplog.text and "not a valid coverage" in caplog.text
    for band in (8, 10, 12, 14, None):
        geoms = shapely.from_geojson(snap.geometry[band])
        assert shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any()
    low = shapely.get_num_coordinates(shapely.from_geojson(snap.geometry[8][1:])).sum()
    high = shapely.get_num_coordinates(shapely.from_geojson(snap.geometry[None][1:])).sum()
    assert low < high


def test_band_for_zoom() -> None:
    assert [geodata.band_for_zoom(z) for z in (0, 7.5, 8, 8.1, 10, 11, 12, 13.9, 14)] == [
        8, 8, 8, 10, 10, 12, 12, 14, 14]
    assert geodata.band_for_zoom(14.01) is None
    assert geodata.band_for_zoom(19) is None


# --- datum ---------------------------------------------------------------------------------
def test_gcj02_shifts_served_coordinates(client, gcj_client, gd_engine: Engine) -> None:
    grid = _sql(gd_engine, "SELECT id FROM unit WHERE level = 3 ORDER BY code LIMIT 1")[0][0]
    wgs = shapely.get_coordinates(_geoms(_features(client.get(f"{URL}?ids={grid}&z=16"))))
    gcj = shapely.get_coordinates(_geoms(_features(gcj_client.get(f"{URL}?ids={grid}&z=16"))))
    assert wgs.shape == gcj.shape
    x, y = crs.from_wgs84(wgs[:, 0], wgs[:, 1], "gcj02")
    assert np.allclose(gcj, np.column_stack([x, y]), atol=2e-6)
    shift_m = np.hypot((gcj[:, 0] - wgs[:, 0]) * 111_320 * np.cos(np.radians(wgs[:, 1])),
                       (gcj[:, 1] - wgs[:, 1]) * 111_320)
    assert (shift_m > 100).all() and (shift_m < 1500).all()
    # bounds in the display datum too
    b_w = client.get(f"/wall/units/bounds?id={grid}").json["bounds"]
    b_g = gcj_client.get(f"/wall/units/bounds?id={grid}").json["bounds"]
    (s, w), (n, e) = b_w
    gx, gy = crs.from_wgs84([w, e], [s, n], "gcj02")
    assert np.allclose(np.ravel(b_g), [gy[0], gx[0], gy[1], gx[1]], atol=2e-6)


def test_display_helpers_round_trip() -> None:
    x, y = geodata.to_display(97.01, 40.26, "gcj02")
    assert isinstance(x, float) and isinstance(y, float)
    assert np.hypot(x - 97.01, y - 40.26) > 1e-3  # GCJ-02 moves points hundreds of metres
    assert geodata.to_display(97.01, 40.26, "wgs84") == (97.01, 40.26)
    bx, by = geodata.from_display(x, y, "gcj02")
    assert (bx, by) == pytest.approx((97.01, 40.26), abs=1e-7)
    xs, ys = geodata.to_display([97.0, 97.1], [40.25, 40.33], "gcj02")
    w, s, e, n = geodata.bbox_from_display([[ys[0], xs[0]], [ys[1], xs[1]]], "gcj02")
    # the envelope of the four converted corners: contains the box, a few metres larger
    assert w <= 97.0 and s <= 40.25 and e >= 97.1 and n >= 40.33
    assert (w, s, e, n) == pytest.approx((97.0, 40.25, 97.1, 40.33), abs=3e-4)
    assert geodata.bbox_from_display([[40.25, 97.0], [40.33, 97.1]], "wgs84") == (
        97.0, 40.25, 97.1, 40.33)


def test_shift_geojson() -> None:
    geom = {"type": "Polygon", "coordinates": [[[97.0, 40.25], [97.02, 40.25],
                                                [97.02, 40.27], [97.0, 40.25]]]}
    shifted = geodata.shift_geojson(geom, "gcj02")
    xy = np.asarray(shifted["coordinates"][0])
    x, y = crs.from_wgs84([97.0, 97.02, 97.02, 97.0], [40.25, 40.25, 40.27, 40.25], "gcj02")
    assert np.allclose(xy, np.column_stack([x, y]), atol=1e-6)
    assert geodata.shift_geojson(json.dumps(geom), "wgs84") == geom


# --- bounds --------------------------------------------------------------------------------
def test_bounds(client, gd_engine: Engine) -> None:
    village = _sql(gd_engine, "SELECT id FROM unit WHERE level = 2 ORDER BY code LIMIT 1")[0][0]
    x0, y0, x1, y1 = _sql(gd_engine, "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                                     "FROM (SELECT ST_Extent(geom) e FROM unit WHERE id = :i) q",
                          i=village)[0]
    resp = client.get(f"/wall/units/bounds?id={village}")
    assert resp.status_code == 200
    assert np.allclose(np.ravel(resp.json["bounds"]), [y0, x0, y1, x1], atol=1e-6)
    whole = client.get("/wall/units/bounds").json["bounds"]
    assert np.allclose(np.ravel(whole), [40.25, 97.0, 40.33, 97.12], atol=1e-6)
    missing = client.get("/wall/units/bounds?id=987654321")
    assert missing.status_code == 404 and "987654321" in missing.json["error"]
    assert client.get("/wall/units/bounds?id=abc").status_code == 400


# --- HTTP caching and errors ---------------------------------------------------------------
def test_etag_and_304(client) -> None:
    first = client.get(f"{URL}?level=3&z=9")
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, max-age=60"  # per user: scoped
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = client.get(f"{URL}?level=3&z=9", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    # same band, same content, same tag; another band or query, another tag
    assert client.get(f"{URL}?level=3&z=10").headers["ETag"] == etag
    assert client.get(f"{URL}?level=3&z=11").headers["ETag"] != etag
    assert client.get(f"{URL}?level=2&z=9").headers["ETag"] != etag
    stale = client.get(f"{URL}?level=3&z=9", headers={"If-None-Match": '"nope"'})
    assert stale.status_code == 200 and stale.data == first.data


def test_gzip(client) -> None:
    raw = client.get(f"{URL}?level=3&z=14")
    assert "Content-Encoding" not in raw.headers
    packed = client.get(f"{URL}?level=3&z=14", headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.data) < len(raw.data)
    assert json.loads(gzip.decompress(packed.data)) == json.loads(raw.data)
    tag = packed.headers["ETag"]
    assert tag != raw.headers["ETag"]
    assert client.get(f"{URL}?level=3&z=14", headers={
        "Accept-Encoding": "gzip", "If-None-Match": tag}).status_code == 304


@pytest.mark.parametrize(("query", "param"), [
    ("level=x", "level"), ("level=9", "level"), ("level=1.5", "level"),
    ("parent=abc", "parent"), ("ids=1,a", "ids"), ("z=abc", "z"), ("z=-1", "z"),
    ("z=nan", "z"),
])
def test_bad_parameters_are_400(client, query: str, param: str) -> None:
    resp = client.get(f"{URL}?{query}")
    assert resp.status_code == 400
    assert resp.is_json and f"'{param}'" in resp.json["error"]


def test_unknown_parent_is_404(client) -> None:
    resp = client.get(f"{URL}?level=3&parent=987654321")
    assert resp.status_code == 404 and "parent" in resp.json["error"]


def test_database_down_is_503(settings: Settings) -> None:
    down = settings.with_(database_url=f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}"
                                       "/nowhere", escalate_every_s=0)
    c = _client(down)
    for path in (f"{URL}?level=1", "/wall/units/bounds"):
        resp = c.get(path)
        assert resp.status_code == 503
        assert "database" in resp.json["error"]


# --- cache life ----------------------------------------------------------------------------
def test_cache_rebuilds_when_units_change(client, gd_engine: Engine,
                                          gd_settings: Settings) -> None:
    lay = geodata.layers(get_engine(database_url(gd_settings)), gd_settings)
    assert _features(client.get(f"{URL}?level=3&z=14"))  # built
    builds = lay.builds
    village = _sql(gd_engine, "SELECT id FROM unit WHERE level = 2 ORDER BY code LIMIT 1")[0][0]
    with gd_engine.begin() as conn:
        new_id = conn.scalar(text("""
            INSERT INTO unit (code, name, level, parent_id, geom, area_m2)
            VALUES ('GEODATA-T1', '测试网格', 3, :p,
                    ST_Multi(ST_MakeEnvelope(97.30, 40.40, 97.31, 40.41, 4326)), 1)
            RETURNING id"""), {"p": village})
    try:
        # within the check interval the cached layers are served...
        assert len(_features(client.get(f"{URL}?level=3&z=14"))) == 12
        lay.check_every_s = 0  # ...then the signature is re-checked and the cache rebuilt
        feats = _features(client.get(f"{URL}?level=3&z=14"))
        assert len(feats) == 13 and new_id in {f["id"] for f in feats}
        assert lay.builds == builds + 1
        assert lay.unit(new_id)["name"] == "测试网格"
        assert client.get(f"/wall/units/bounds?id={new_id}").status_code == 200
    finally:
        with gd_engine.begin() as conn:
            conn.execute(text("DELETE FROM unit WHERE id = :i"), {"i": new_id})
    try:
        assert len(_features(client.get(f"{URL}?level=3&z=14"))) == 12
        assert lay.builds == builds + 2
        assert lay.unit(new_id) is None
        # an in-place geometry edit is seen too
        with gd_engine.begin() as conn:
            conn.execute(text("UPDATE unit SET geom = ST_Translate(geom, 0, 0) WHERE id = :i"),
                         {"i": village})
        client.get(f"{URL}?level=3&z=14")
        assert lay.builds == builds + 3
        # unchanged table: no rebuild
        client.get(f"{URL}?level=3&z=14")
        assert lay.builds == builds + 3
    finally:
        lay.check_every_s = geodata.CHECK_EVERY_S


def test_build_is_thread_safe_and_happens_once(gd_engine: Engine) -> None:
    lay = geodata.UnitLayers(gd_engine, "gcj02")
    barrier = threading.Barrier(8)
    seen = []

    def work() -> None:
        barrier.wait()
        seen.append(lay.snapshot())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(s is seen[0] for s in seen)
    assert lay.builds == 1
    assert len(lay.names()) == 19
    assert len(lay.descendants(lay.units(level=0)[0]["id"])) == 18
    assert not lay.refresh()  # same signature: nothing rebuilt
    assert lay.refresh(force=True) and lay.builds == 2
