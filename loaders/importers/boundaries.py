"""Unit boundaries from GeoJSON, Shapefile, GeoPackage or KML, in any CRS pyproj knows.

Steps: read (detecting GBK attributes of shapefiles without ``.cpg``) → reproject to WGS84
(plus GCJ-02/BD-09 correction with ``--datum``) → map code / name / parent / level fields →
resolve parents (file, then database; by code, name, code prefix or position) → validate the
resulting hierarchy with `geo.coverage.check_hierarchy` (overlaps refuse the load unless
``allow_overlaps``) → stage and upsert by code (`store.bulk.upsert_units`).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy import Connection

from geo.coverage import check_hierarchy, repair_invalid
from geo.crs import area_m2, to_wgs84
from geo.errors import GeoError, GeometryError
from geo.levels import DEFAULT_NAMES_ZH as DEFAULT_LEVEL_NAMES
from loaders.importers.columns import require, resolve_columns
from loaders.importers.encoding import dbf_encoding, normalise_encoding
from loaders.importers.options import LoadError, LoadOptions
from loaders.importers.progress import Progress
from loaders.importers.report import LoadReport, Rejects
from store import bulk
from store.repository import load_units_frame

VECTOR_SUFFIXES = (".geojson", ".json", ".shp", ".gpkg", ".kml", ".kmz", ".zip")

# Level words, most specific first (a "社区网格" is a grid).
_LEVEL_WORDS = (
    (3, ("网格", "grid")),
    (2, ("社区", "村", "嘎查", "居委", "village", "community")),
    (1, ("街道", "乡", "镇", "苏木", "town", "street", "township")),
    (0, ("县", "区", "市", "旗", "county", "district")),
)


def read_layer(path: Path, options: LoadOptions) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The features of ``path`` (all layers of a KML) and notes on how it was read."""
    import pyogrio

    notes: list[str] = []
    suffix = path.suffix.lower()
    if suffix not in VECTOR_SUFFIXES:
        raise LoadError(f"{path.name}: expected GeoJSON, Shapefile, GeoPackage or KML, "
                        f"got {suffix or 'no extension'}.")
    kwargs: dict[str, Any] = {}
    if options.encoding:
        kwargs["encoding"] = normalise_encoding(options.encoding)
    elif suffix == ".shp":
        enc = dbf_encoding(path)
        if enc is not None:
            kwargs["encoding"] = enc
            notes.append(f"no .cpg: attributes read as {enc} (detected)")
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
        if options.sheet is not None:
            if options.sheet not in layers:
                raise LoadError(f"{path.name} has no layer {options.sheet!r}; layers: "
                                f"{', '.join(layers)}.")
            layers = [options.sheet]
        elif suffix != ".kml" and len(layers) > 1:
            notes.append(f"{len(layers)} layers; reading the first, {layers[0]!r} "
                         "(choose with --sheet)")
            layers = layers[:1]
        frames = [pyogrio.read_dataframe(path, layer=name, **kwargs) for name in layers]
    except LoadError:
        raise
    except Exception as exc:  # GDAL's message names the file and the problem
        raise LoadError(f"{path.name} cannot be read: {exc}") from None
    frames = [f for f in frames if len(f)]
    if not frames:
        raise LoadError(f"{path.name} has no features.")
    crs = frames[0].crs
    gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    return gdf, notes


def to_wgs84_layer(gdf: gpd.GeoDataFrame, options: LoadOptions) -> tuple[np.ndarray, list[str]]:
    """WGS84 geometries of the layer; refuses projected data with no CRS."""
    notes: list[str] = []
    if options.crs:
        try:
            crs = pyproj.CRS.from_user_input(options.crs)
        except pyproj.exceptions.CRSError as exc:
            raise LoadError(f"--crs {options.crs!r} is not a CRS pyproj knows: {exc}") from None
        if gdf.crs is not None and not gdf.crs.equals(crs):
            notes.append(f"file says {gdf.crs.name!r}; using --crs {crs.name!r}")
        gdf = gdf.set_crs(crs, allow_override=True)
    elif gdf.crs is None:
        x0, y0, x1, y1 = gdf.total_bounds
        if -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90:
            notes.append("no CRS in the file; coordinates look like degrees: taken as WGS84")
            gdf = gdf.set_crs(4326)
        else:
            raise LoadError(
                "The file has no CRS (no .prj) and its coordinates are not degrees "
                f"(x {x0:.0f}…{x1:.0f}); give it with --crs, e.g. --crs EPSG:4543 for "
                "CGCS2000 3-degree Gauss-Krüger CM 99E.")
    crs = gdf.crs
    if crs.to_epsg() not in (4326, 4490):
        notes.append(f"reprojected from {crs.name}")
        gdf = gdf.to_crs(4326)
    geoms = shapely.force_2d(np.asarray(gdf.geometry.values, dtype=object))
    datum = (options.datum or "wgs84").lower()
    if datum not in ("wgs84", "cgcs2000"):
        def shift(coords: np.ndarray) -> np.ndarray:
            return np.column_stack(to_wgs84(coords[:, 0], coords[:, 1], datum))

        geoms = shapely.transform(geoms, shift)
        notes.append(f"converted from {datum.upper()} to WGS84")
    return geoms, notes


def _as_text(values: pd.Series) -> np.ndarray:
    """Cell text; integer-valued floats lose their '.0' (codes read as numbers)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out[i] = None
        elif isinstance(v, float) and v.is_integer():
            out[i] = str(int(v))
        else:
            s = str(v).strip()
            out[i] = s or None
    return out


def parse_level(value: Any) -> int | None:
    """0-3 from digits or names (县/乡镇/街道/社区/村/网格…); None if not a level."""
    if value is None:
        return None
    s = str(value).strip().lower()
    if re.fullmatch(r"\d+", s):
        return int(s)
    for level, words in _LEVEL_WORDS:
        if any(w in s for w in words):
            return level
    return None


def load_boundaries(conn: Connection, path: Path, options: LoadOptions, progress: Progress,
                    report: LoadReport) -> tuple[Rejects, pd.DataFrame]:
    """Run the boundary load inside the caller's transaction; see the module doc."""
    t0 = time.perf_counter()
    progress.stage(f"reading {path.name}")
    gdf, notes = read_layer(path, options)
    report.notes += notes
    report.rows = len(gdf)
    attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    geoms, notes = to_wgs84_layer(gdf, options)
    report.notes += notes
    found = resolve_columns("boundaries", attrs.columns, options.mapping)
    require("boundaries", found, ("code",), attrs.columns)
    rejects = Rejects(len(gdf), first_row=1)
    t1 = time.perf_counter()
    report.seconds["read"] = t1 - t0

    progress.stage("validating")

    def col(fld: str) -> np.ndarray:
        if fld not in found:
            return np.full(len(attrs), None, dtype=object)
        return _as_text(attrs[found[fld]])

    label = {f: found.get(f, f) for f in ("code", "name", "level", "parent_code",
                                          "parent_name")}
    code, name = col("code"), col("name")
    rejects.add(pd.isna(code), label["code"], "missing")
    rejects.add(np.array([c is not None and len(c) > 64 for c in code]), label["code"],
                "longer than 64 characters", code)
    name = np.where(pd.isna(name), code, name)
    level = _levels(col("level"), options, rejects, label["level"])
    geoms = _check_geometries(geoms, rejects, report)
    dup = pd.Series(code).duplicated(keep="first").to_numpy() & ~pd.isna(code)
    rejects.add(dup, label["code"], "code appears earlier in the file", code)

    if options.repair:
        geoms = _repair(geoms, level, code, rejects.ok, options, report)
    current = load_units_frame(conn)
    parent = _resolve_parents(code, name, level, geoms, col("parent_code"), col("parent_name"),
                              current, rejects, label)
    keep = rejects.ok
    report.rejected = rejects.count
    _check_coverage(code[keep], level[keep], parent[keep], geoms[keep], current, options,
                    report)
    t2 = time.perf_counter()
    report.seconds["validate"] = t2 - t1

    staging = bulk.create_staging(conn, "_load_units", bulk.UNIT_STAGING)
    kept = geoms[keep]
    bulk.copy_columns(conn, staging, {
        "code": code[keep], "name": name[keep], "level": level[keep].tolist(),
        "parent_code": parent[keep], "geom": bulk.ewkb_hex(kept),
        "area_m2": area_m2(kept) if len(kept) else np.zeros(0),
    })
    inserted, updated = bulk.upsert_units(conn, staging, level[keep].tolist())
    bulk.drop_staging(conn, staging)
    report.inserted, report.updated = inserted, updated
    report.unchanged = int(keep.sum()) - inserted - updated
    per_level = pd.Series(level[keep]).value_counts().sort_index()
    report.notes.append("units per level in the file: " + ", ".join(
        f"level {k}: {v}" for k, v in per_level.items()))
    notice = level_notice(level[keep], name[keep], options)
    if notice:
        report.notes.append(notice)
    report.seconds["store"] = time.perf_counter() - t2
    return rejects, attrs


_PROVINCE = ("省", "自治区")
_COUNTY_LIKE = ("区", "县", "市", "旗")


def level_notice(level: np.ndarray, name: np.ndarray, options: LoadOptions) -> str | None:
    """What OneMap will call each level of the file, when its top level does not look like
    one county (many units, or names of provinces or of cities above counties) — or when the
    user named the top level with ``--root-level``."""
    names = options.level_names or DEFAULT_LEVEL_NAMES
    levels = sorted({int(v) for v in level if v >= 0})
    mapping = "; ".join(f"level {k} → {names[k] if k < len(names) else f'level {k}'}"
                        for k in levels)
    top = [str(n) for n, lv in zip(name, level, strict=True) if lv == 0 and n]
    below = [str(n) for n, lv in zip(name, level, strict=True) if lv == 1 and n]
    province = [n for n in top if n.endswith(_PROVINCE)]
    city = [n for n in top if n.endswith("市")
            and sum(b.endswith(_COUNTY_LIKE) for b in below) > len(below) / 2]
    if options.root_level:
        said = options.root_level.strip()
        if names and said != names[0]:
            return (f"--root-level {said}: the file's levels are {said} and below, while "
                    f"this deployment names its levels {', '.join(names)} — set "
                    f"ONEMAP_LEVEL_NAMES (e.g. {said},…) so the pages name them right "
                    f"({mapping}).")
        return f"--root-level {said}: {mapping}."
    if len(top) <= 3 and not province and not city:
        return None
    shown = "、".join(top[:5]) + ("…" if len(top) > 5 else "")
    kind = "a province" if province else "a city above counties" if city else \
        "more than one county"
    return (f"WARNING: level 0 of this file holds {len(top)} unit(s) ({shown}): it looks "
            f"like {kind}, but OneMap will call {mapping}. If the top level is a province or "
            "a city, load with --root-level 省 (or 市) and set ONEMAP_LEVEL_NAMES to the "
            "file's levels (e.g. 省,市,县,乡镇) so the pages and reports name them right.")


def _levels(cells: np.ndarray, options: LoadOptions, rejects: Rejects, label: str
            ) -> np.ndarray:
    n = len(cells)
    if options.level is not None:
        return np.full(n, int(options.level), dtype=np.int64)
    if all(c is None for c in cells):
        raise LoadError("The file has no level column; give the level of its units with "
                        "--level 0|1|2|3 (county, town, village, grid) or map one with "
                        "--map level=<column>.")
    parsed = np.array([parse_level(c) for c in cells], dtype=object)
    bad = np.array([p is None or p > 9 for p in parsed])
    rejects.add(bad, label, "unknown level (0-3 or 县/乡镇/街道/村/社区/网格)", cells)
    return np.array([p if p is not None else -1 for p in parsed], dtype=np.int64)


def _repair(geoms: np.ndarray, level: np.ndarray, code: np.ndarray, ok: np.ndarray,
            options: LoadOptions, report: LoadReport) -> np.ndarray:
    """``--repair``: each level of the file made a valid coverage (geo.coverage_repair),
    every change listed in the report."""
    from geo.coverage_repair import repair_coverage

    geoms = geoms.copy()
    for lv in sorted({int(v) for v in level[ok]}):
        rows = np.flatnonzero(ok & (level == lv))
        if len(rows) < 2:
            continue
        fixed, changes = repair_coverage(geoms[rows], options.tolerance_m)
        geoms[rows] = fixed
        for c in changes:
            unit = code[rows[c.index]] if c.index >= 0 else "-"
            report.repairs.append({"level": lv, "code": unit, "kind": c.kind,
                                   "area_m2": round(c.area_m2, 2), "lon": round(c.lon, 7),
                                   "lat": round(c.lat, 7)})
    if report.repairs:
        kinds = pd.Series([r["kind"] for r in report.repairs]).value_counts()
        report.notes.append(
            f"--repair (tolerance {options.tolerance_m:g} m): "
            + ", ".join(f"{k} {n}" for k, n in kinds.items()) + "; first ones: "
            + "; ".join(f"{r['code']} {r['kind']} {r['area_m2']:g} m² at "
                        f"{r['lon']:.6f},{r['lat']:.6f}" for r in report.repairs[:10]))
    else:
        report.notes.append("--repair: nothing to repair")
    return geoms


def _check_geometries(geoms: np.ndarray, rejects: Rejects, report: LoadReport) -> np.ndarray:
    geoms = geoms.copy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    rejects.add(missing, "geometry", "no geometry")
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, (3, 6))
    rejects.add(~missing & ~polygonal, "geometry", "not a polygon",
                shapely.get_type_id(geoms).astype(str))
    invalid = np.flatnonzero(~missing & polygonal & ~shapely.is_valid(geoms))
    repaired = 0
    for i in invalid:
        try:
            geoms[i] = repair_invalid(geoms[i])
            repaired += 1
        except GeometryError as exc:
            rejects.add_rows([i], "geometry", f"invalid and not repairable: {exc.user_msg}")
    if repaired:
        report.notes.append(f"{repaired} invalid geometr{'y' if repaired == 1 else 'ies'} "
                            "repaired with make_valid (geo.coverage.repair_invalid)")
    return geoms


def _resolve_parents(code: np.ndarray, name: np.ndarray, level: np.ndarray, geoms: np.ndarray,
                     parent_code: np.ndarray, parent_name: np.ndarray,
                     current: gpd.GeoDataFrame, rejects: Rejects,
                     label: dict[str, str]) -> np.ndarray:
    """Parent code per row: given code, else given name, else code prefix, else position."""
    ok = rejects.ok
    existing = current[["code", "name", "level"]].to_dict("records")
    level_of: dict[str, int] = {u["code"]: int(u["level"]) for u in existing}
    by_name: dict[tuple[int, str], set[str]] = {}
    for u in existing:
        by_name.setdefault((int(u["level"]), u["name"]), set()).add(u["code"])
    for i in np.flatnonzero(ok):
        level_of[code[i]] = int(level[i])  # the file wins over the database
        by_name.setdefault((int(level[i]), name[i]), set()).add(code[i])
    codes_at: dict[int, set[str]] = {}
    for c, lv_c in level_of.items():
        codes_at.setdefault(lv_c, set()).add(c)
    out = np.full(len(code), None, dtype=object)
    need_space: list[int] = []
    for i in np.flatnonzero(ok):
        lv = int(level[i])
        if parent_code[i] is not None:
            pc = parent_code[i]
            if pc not in level_of:
                rejects.add_rows([i], label["parent_code"], "unknown parent code", [pc])
            elif level_of[pc] != lv - 1:
                rejects.add_rows([i], label["parent_code"],
                                 f"parent is level {level_of[pc]}, expected {lv - 1}", [pc])
            else:
                out[i] = pc
            continue
        if lv == 0:
            continue
        if parent_name[i] is not None:
            hits = by_name.get((lv - 1, parent_name[i]), set())
            if len(hits) == 1:
                out[i] = next(iter(hits))
            else:
                reason = "unknown parent name" if not hits else \
                    f"parent name matches {len(hits)} units; give the parent code"
                rejects.add_rows([i], label["parent_name"], reason, [parent_name[i]])
            continue
        prefix = _longest_prefix(code[i], codes_at.get(lv - 1, set()))
        if prefix is not None:
            out[i] = prefix
        else:
            need_space.append(i)
    if need_space:
        _parents_by_position(need_space, code, level, geoms, out, rejects, current)
    return out


def _longest_prefix(code: str, candidates: set[str]) -> str | None:
    """The longest proper prefix of ``code`` in ``candidates`` (Chinese codes nest)."""
    for k in range(len(code) - 1, 0, -1):
        if code[:k] in candidates:
            return code[:k]
    return None


def _parents_by_position(rows: list[int], code: np.ndarray, level: np.ndarray,
                         geoms: np.ndarray, out: np.ndarray, rejects: Rejects,
                         current: gpd.GeoDataFrame) -> None:
    """Parent = the unit one level up (file first, then database) covering a point inside."""
    ok = rejects.ok
    db = current[~current["code"].isin(set(code[ok]))]
    cand_code = np.concatenate([code[ok], db["code"].to_numpy(dtype=object)])
    cand_level = np.concatenate([level[ok], db["level"].to_numpy(dtype=np.int64)])
    cand_geom = np.concatenate([geoms[ok], np.asarray(db.geometry.values, dtype=object)])
    probe = shapely.point_on_surface(geoms[rows])
    tree = shapely.STRtree(cand_geom)
    pi, ci = tree.query(probe, predicate="covered_by")
    for j, i in enumerate(rows):
        hits = ci[(pi == j) & (cand_level[ci] == level[i] - 1)]
        if len(hits) == 1:
            out[i] = cand_code[hits[0]]
        else:
            rejects.add_rows([i], "parent", "no parent found (give a parent code column, "
                             "e.g. --map parent_code=<column>)" if not len(hits) else
                             "several possible parents; give a parent code column", [code[i]])


def _check_coverage(code: np.ndarray, level: np.ndarray, parent: np.ndarray,
                    geoms: np.ndarray, current: gpd.GeoDataFrame, options: LoadOptions,
                    report: LoadReport) -> None:
    """Check the hierarchy as it will be after the load; refuse on overlaps.

    Units of the file replace the database's units with the same code; the others stay.
    """
    if not len(code):
        return
    old_code_of = dict(zip(current["id"].tolist(), current["code"].tolist(), strict=True))
    kept = current[~current["code"].isin(set(code))].copy()
    next_id = int(current["id"].max()) + 1 if len(current) else 1
    new_ids = np.arange(next_id, next_id + len(code), dtype=np.int64)
    id_of = dict(zip(kept["code"].tolist(), kept["id"].tolist(), strict=True))
    id_of.update(zip(code.tolist(), new_ids.tolist(), strict=True))
    incoming = gpd.GeoDataFrame({
        "id": new_ids, "code": code, "name": code, "level": level,
        "parent_id": pd.array([id_of.get(p) if p else None for p in parent], dtype="Int64"),
    }, geometry=list(geoms), crs=4326)
    # units that stay keep their parent, which may be a unit of the file (new id)
    kept["parent_id"] = pd.array(
        [id_of.get(old_code_of.get(int(p))) if pd.notna(p) else None for p in kept["parent_id"]],
        dtype="Int64")
    units = gpd.GeoDataFrame(pd.concat([kept, incoming], ignore_index=True) if len(kept)
                             else incoming, geometry="geometry", crs=4326)
    try:
        coverage = check_hierarchy(units)
    except GeoError as exc:  # broken parent links, projected input, unusable geometry
        raise LoadError(f"The boundaries do not form a valid hierarchy: {exc.user_msg}") from exc
    mine = set(new_ids.tolist())
    code_by_id = {v: k for k, v in id_of.items()}
    problems = [p for p in coverage.problems if mine.intersection(p.unit_ids)]

    def describe(p: Any) -> str:
        codes = ", ".join(code_by_id.get(i, str(i)) for i in p.unit_ids)
        return f"[{p.severity}] codes {codes}: {p.message}"

    report.notes += [f"coverage {describe(p)}" for p in problems]
    overlaps = [p for p in problems if p.kind == "overlap"]
    if overlaps and not options.allow_overlaps:
        shown = "; ".join(describe(p) for p in overlaps[:5])
        raise LoadError(f"Refused: {len(overlaps)} overlap(s) between units — {shown}"
                        f"{' …' if len(overlaps) > 5 else ''}. Fix the boundaries, or load "
                        "anyway with --allow-overlaps.")
