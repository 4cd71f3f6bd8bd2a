"""Round trip of the grid layer with QGIS: export the current grids to a file, read an edited
file back, and turn the differences into planner proposals (one per parent unit).

The file goes through the same path as an edit on the planner page: the proposals are checked
with :func:`geo.planning.validate`, previewed with :func:`geo.planning.impact` and saved with
:func:`planning.service.save` (the `onemap plan import` command does exactly that).

Columns of an exported layer: ``id``, ``code``, ``name``, ``parent_code``, ``version``,
``households`` (Shapefile: ``parent_cod``, since dBASE field names have at most 10 characters).
On import ``code``, ``name`` and ``version`` are required, ``parent_code`` and ``id`` optional;
``households`` and any other column are ignored.

How a file is compared with the database (per grid code):

- same code, same name and same geometry (within :data:`TOLERANCE_DEG` after normalising ring
  order and orientation — a Shapefile reverses rings and turns one-part MultiPolygons into
  Polygons) → unchanged, not part of any proposal;
- same code, other name or geometry → a new version of that grid; the ``version`` in the file
  is the version the planner edited, so a file exported before someone else saved the grid
  conflicts (:class:`store.planning.PlanConflict`) instead of overwriting their work;
- a code that is no current grid → a new grid under ``parent_code`` (or, when that is empty,
  under the parent unit that contains it);
- **retired grids**: a current grid whose code is missing from the file is retired only when
  the file *covers its parent*, i.e. has at least one row of that parent.  An export with
  ``--within`` always holds whole parents, so parents outside the exported scope (no rows in
  the file) are never touched; deleting every row of a parent therefore does nothing — retire
  those grids on the planner page.  Export again right before editing: a grid created by
  someone else after the export is missing from the old file too and would be retired.
- a different ``parent_code`` for an existing grid is refused: moving grids between villages
  is not supported (the planner edits the grids of one parent at a time).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.planning import NewUnit, Proposal
from loaders.importers.columns import normalise_header
from loaders.importers.encoding import dbf_encoding
from loaders.importers.options import LoadError
from loaders.importers.report import Reject
from store import grids as store_grids

FORMATS = {"geojson": ".geojson", "gpkg": ".gpkg", "shp": ".shp"}
SUFFIX_FORMAT = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp"}
DRIVERS = {"geojson": "GeoJSON", "gpkg": "GPKG", "shp": "ESRI Shapefile"}
LAYER = "grids"
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")

# Geometry equality tolerance in degrees (~0.1 mm): a file round trip may change the last digit.
TOLERANCE_DEG = 1e-9

# Normalised header → field (normalise_header drops case, spaces and underscores).
_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "unitid", "gridid"),
    "code": ("code", "编码", "网格编码", "网格代码", "网格编号", "gridcode"),
    "name": ("name", "名称", "网格名称", "网格名", "gridname"),
    "version": ("version", "ver", "版本", "版本号"),
    "parent_code": ("parentcode", "parentcod", "parent", "上级编码", "所属社区编码",
                    "所属村编码"),
}
REQUIRED = ("code", "name", "version")
MAX_SHOWN = 20


class PlanFileError(LoadError):
    """An import file was refused: unreadable, or rows with problems (``problems``, each naming
    the row, the field and the reason).  Nothing was written."""

    def __init__(self, user_msg: str, *, problems: Sequence[Reject] = (),
                 detail: str | None = None) -> None:
        super().__init__(user_msg, detail=detail)
        self.problems = list(problems)


def _refuse(name: str, problems: list[Reject], what: str = "with problems") -> PlanFileError:
    rows = sorted({p.row for p in problems})
    lines = [f"{name}: {len(rows)} row(s) {what}; nothing was imported. Fix them (e.g. in "
             "QGIS) and import again:"]
    lines += [f"  {name}: {p}" for p in problems[:MAX_SHOWN]]
    if len(problems) > MAX_SHOWN:
        lines.append(f"  … {len(problems) - MAX_SHOWN} more")
    return PlanFileError("\n".join(lines), problems=problems)


# --- export ----------------------------------------------------------------------------------
def grid_level(db: Any) -> int:
    """The deepest level of the current units: grids (what the planner edits)."""
    level = store_grids.grid_level(db)
    if level is None:
        raise LoadError("There are no units in the database; load boundaries or a demo first.")
    return int(level)


def current_grids(db: Any, *, within: str | None = None) -> gpd.GeoDataFrame:
    """Current grids (all, or those under the unit with code ``within``) with their parent's
    code and household count; columns id, code, name, parent_code, version, households."""
    level = grid_level(db)
    root = None
    if within is not None:
        row = store_grids.current_unit(db, within)
        if row is None:
            raise LoadError(f"--within {within!r}: no current unit has this code.")
        if row["level"] >= level:
            raise LoadError(
                f"--within {within!r} is a grid ({row['name']}); export its village or "
                "community instead, so the file holds every grid of the parent you edit.")
        root = int(row["id"])
    rows = store_grids.grids(db, level, root=root)
    geoms = shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else []
    frame = gpd.GeoDataFrame(
        {"id": [int(r["id"]) for r in rows], "code": [r["code"] for r in rows],
         "name": [r["name"] for r in rows], "parent_code": [r["parent_code"] for r in rows],
         "version": [int(r["version"]) for r in rows],
         "households": [int(r["households"]) for r in rows]},
        geometry=gpd.GeoSeries(list(geoms), crs="EPSG:4326"), crs="EPSG:4326")
    return frame


def export_format(path: Path, fmt: str | None) -> str:
    """``fmt`` checked, or guessed from the file's suffix."""
    if fmt is None:
        fmt = SUFFIX_FORMAT.get(Path(path).suffix.lower())
        if fmt is None:
            raise LoadError(f"{Path(path).name}: cannot tell the format from the suffix; use "
                            ".geojson, .gpkg or .shp, or give --format.")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise LoadError(f"Unknown format {fmt!r}; choose geojson, gpkg or shp.")
    return fmt


def export_layer(db: Any, path: Path | str, fmt: str | None = None, *,
                 within: str | None = None) -> list[Path]:
    """Write the current grids (see :func:`current_grids`) for editing in QGIS; returns the
    written file(s) — a Shapefile is several, with a ``.cpg`` saying UTF-8 so Chinese names
    open correctly.  An existing file is replaced."""
    import pyogrio

    path = Path(path)
    fmt = export_format(path, fmt)
    if SUFFIX_FORMAT.get(path.suffix.lower()) != fmt:
        path = path.with_name(path.name + FORMATS[fmt])
    frame = current_grids(db, within=within)
    if frame.empty:
        raise LoadError("There are no current grids" + (f" under {within!r}" if within else "")
                        + " to export.")
    frame["geometry"] = [g if isinstance(g, MultiPolygon) else MultiPolygon([g])
                         for g in frame.geometry]
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "shp":
        for suffix in SHAPEFILE_PARTS:
            path.with_suffix(suffix).unlink(missing_ok=True)
        frame = frame.rename(columns={"parent_code": "parent_cod"})
        pyogrio.write_dataframe(frame, path, driver=DRIVERS[fmt], encoding="UTF-8")
        cpg = path.with_suffix(".cpg")
        if not cpg.exists():  # GDAL writes it for encoding=UTF-8; make sure of it
            cpg.write_text("UTF-8")
        return [p for p in (path.with_suffix(s) for s in SHAPEFILE_PARTS) if p.exists()]
    path.unlink(missing_ok=True)
    options = {"layer": LAYER} if fmt == "gpkg" else {}
    pyogrio.write_dataframe(frame, path, driver=DRIVERS[fmt], **options)
    return [path]


# --- read ------------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    """Cell text; integer-valued floats lose their '.0' (codes or versions read as numbers)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    s = str(value).strip()
    return s or None


def _whole(value: str | None) -> int | None | str:
    """An int, None (blank) or "bad" for text that is not a whole number ≥ 0."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return "bad"
    if not number.is_integer() or number < 0:
        return "bad"
    return int(number)


def _read_raw(path: Path) -> gpd.GeoDataFrame:
    import pyogrio

    suffix = path.suffix.lower()
    kwargs: dict[str, Any] = {}
    if suffix == ".shp":
        for part in (".dbf", ".shx"):
            if not path.with_suffix(part).exists():
                raise PlanFileError(f"{path.name}: the Shapefile's {path.stem}{part} is "
                                    "missing; copy all its files (.shp .shx .dbf .prj .cpg).")
        enc = dbf_encoding(path)  # None when a .cpg says what it is
        if enc is not None:
            kwargs["encoding"] = enc
    elif suffix in (".geojson", ".json"):
        try:
            json.loads(path.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise PlanFileError(f"{path.name} is not UTF-8 text (byte {exc.start}); GeoJSON "
                                "must be UTF-8.") from None
        except json.JSONDecodeError as exc:
            raise PlanFileError(f"{path.name} is not valid JSON: line {exc.lineno}, column "
                                f"{exc.colno}: {exc.msg}.") from None
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
        layer = LAYER if LAYER in layers else (layers[0] if layers else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyogrio.read_dataframe(path, layer=layer, **kwargs)
    except PlanFileError:
        raise
    except Exception as exc:  # GDAL's message names the problem
        raise PlanFileError(f"{path.name} cannot be read: {exc}") from None


def _columns(name: str, columns: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for column in columns:
        key = normalise_header(column)
        for fld, aliases in _ALIASES.items():
            if key in aliases and fld not in found:
                found[fld] = column
    missing = [f for f in REQUIRED if f not in found]
    if missing:
        raise PlanFileError(
            f"{name} has no column {', '.join(missing)} (row 1 is the header); it has "
            f"{', '.join(map(str, columns)) or 'no columns'}. Columns code, name and version "
            "are needed — export the grids with `onemap plan export` and edit that file.")
    return found


def read_layer(path: Path | str) -> gpd.GeoDataFrame:
    """The grids of an edited file, checked row by row; raises :class:`PlanFileError` naming
    the file, rows, fields and reasons.

    Returns columns ``row`` (feature number, 1 = first feature), ``id`` (Int64, may be NA),
    ``code``, ``name``, ``parent_code`` (None when absent), ``version`` (Int64, NA when blank)
    and ``geometry`` (EPSG:4326, 2D).  ``frame.attrs`` holds ``path`` and ``notes`` (e.g. a
    reprojection).
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise PlanFileError(f"{path}: no such file.")
    if path.suffix.lower() not in SUFFIX_FORMAT:
        raise PlanFileError(f"{name}: expected a GeoJSON (.geojson), GeoPackage (.gpkg) or "
                            f"Shapefile (.shp), got {path.suffix or 'no suffix'}.")
    raw = _read_raw(path)
    if raw.empty:
        raise PlanFileError(f"{name} has no features.")
    found = _columns(name, [c for c in raw.columns if c != raw.geometry.name])
    notes: list[str] = []

    crs = raw.crs
    if crs is None:
        hint = " (its .prj is missing)" if path.suffix.lower() == ".shp" else ""
        raise PlanFileError(f"{name} has no coordinate reference system{hint}; set the layer's "
                            "CRS to EPSG:4326 in QGIS and save it again.")
    epsg = crs.to_epsg()
    if epsg in (4326, 4490):
        raw = raw.set_crs(4326, allow_override=True)
    else:
        try:
            raw = raw.to_crs(4326)
        except Exception as exc:
            raise PlanFileError(f"{name}: its CRS {crs.name!r} cannot be converted to WGS84 "
                                f"({exc}).") from None
        notes.append(f"{name}: reprojected from {crs.name} to EPSG:4326 (WGS84)")

    n = len(raw)
    rows = np.arange(1, n + 1)
    problems: list[Reject] = []

    def cells(fld: str) -> list[str | None]:
        if fld not in found:
            return [None] * n
        return [_text(v) for v in raw[found[fld]].tolist()]

    def label(fld: str) -> str:
        return found.get(fld, fld)

    codes, names, parents = cells("code"), cells("name"), cells("parent_code")
    versions: list[int | None] = []
    ids: list[int | None] = []
    for i in range(n):
        if codes[i] is None:
            problems.append(Reject(int(rows[i]), label("code"), "missing"))
        elif len(codes[i]) > 64:
            problems.append(Reject(int(rows[i]), label("code"), "longer than 64 characters",
                                   codes[i]))
        if names[i] is None:
            problems.append(Reject(int(rows[i]), label("name"), "missing"))
    for fld, out in (("version", versions), ("id", ids)):
        for i, cell in enumerate(cells(fld)):
            value = _whole(cell)
            if value == "bad":
                problems.append(Reject(int(rows[i]), label(fld), "not a whole number", cell))
                value = None
            out.append(value)  # type: ignore[arg-type]
    first: dict[str, int] = {}
    for i, code in enumerate(codes):
        if code is None:
            continue
        if code in first:
            problems.append(Reject(int(rows[i]), label("code"),
                                   f"duplicate code, also in row {first[code]}", code))
        else:
            first[code] = int(rows[i])

    geoms = np.asarray(raw.geometry.values, dtype=object)
    geoms = np.array([None if g is None else shapely.force_2d(g) for g in geoms], dtype=object)
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            problems.append(Reject(int(rows[i]), "geometry", "missing or empty"))
        elif not isinstance(g, Polygon | MultiPolygon):
            problems.append(Reject(int(rows[i]), "geometry",
                                   f"expected Polygon or MultiPolygon, got {g.geom_type}"))
        elif not g.is_valid:
            problems.append(Reject(int(rows[i]), "geometry",
                                   f"invalid ({shapely.is_valid_reason(g)}); repair it, e.g. "
                                   "with QGIS 'Fix geometries'"))
    if problems:
        problems.sort(key=lambda p: p.row)
        raise _refuse(name, problems)

    frame = gpd.GeoDataFrame({
        "row": rows,
        "id": pd.array(ids, dtype="Int64"),
        "code": pd.Series(codes, dtype=object),
        "name": pd.Series(names, dtype=object),
        "parent_code": pd.Series(parents, dtype=object),
        "version": pd.array(versions, dtype="Int64"),
    }, geometry=gpd.GeoSeries(list(geoms), crs="EPSG:4326"), crs="EPSG:4326")
    frame.attrs["path"] = str(path)
    frame.attrs["notes"] = notes
    return frame


# --- compare ---------------------------------------------------------------------------------
def _canonical(geom: BaseGeometry) -> MultiPolygon:
    multi = geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])
    return shapely.normalize(multi)


def same_geometry(a: BaseGeometry, b: BaseGeometry, tolerance: float = TOLERANCE_DEG) -> bool:
    """True when ``a`` and ``b`` are the same shape up to ``tolerance`` degrees: vertices equal
    after normalising (ring order, orientation, start point, Polygon vs one-part MultiPolygon),
    or — when a program added or dropped collinear vertices — boundaries within tolerance."""
    ca, cb = _canonical(a), _canonical(b)
    if shapely.equals_exact(ca, cb, tolerance):
        return True
    if abs(ca.area - cb.area) > tolerance * max(ca.length, cb.length):
        return False
    ba = shapely.segmentize(ca.boundary, 1e-3)
    bb = shapely.segmentize(cb.boundary, 1e-3)
    return shapely.hausdorff_distance(ba, bb) <= tolerance


def _current(db: Any, level: int, *, codes: Sequence[str] = (),
             parent_ids: Sequence[int] = ()) -> pd.DataFrame:
    """Current units with the given codes, or current grids of the given parents."""
    rows = store_grids.units_by_codes_or_parents(db, level, codes, parent_ids)
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "wkb"} for r in rows],
                         columns=["id", "code", "name", "level", "version", "parent_id",
                                  "parent_code"])
    frame["geometry"] = list(shapely.from_wkb([bytes(r["wkb"]) for r in rows])) if rows else []
    return frame


def _parents(db: Any, level: int, frame: gpd.GeoDataFrame, known: pd.DataFrame,
             problems: list[Reject]) -> dict[int, int]:
    """Parent id of every row (by position); existing grids keep theirs, new ones take the
    ``parent_code`` or the parent unit containing them."""
    by_code = {r.code: r for r in known.itertuples(index=False)}
    parent_by_code = store_grids.ids_by_code(
        db, level - 1, [c for c in frame["parent_code"] if isinstance(c, str)])
    out: dict[int, int] = {}
    for pos, row in enumerate(frame.itertuples(index=False)):
        unit = by_code.get(row.code)
        if unit is not None:
            if unit.level != level:
                problems.append(Reject(row.row, "code", f"is a level-{unit.level} unit "
                                       f"({unit.name}), not a grid; only grids can be imported",
                                       row.code))
                continue
            if isinstance(row.parent_code, str) and row.parent_code != unit.parent_code:
                problems.append(Reject(
                    row.row, "parent_code", f"grid {row.code} belongs to {unit.parent_code}; "
                    "moving grids between villages is not supported (keep the parent_code, "
                    "or retire the grid and create a new one there)", row.parent_code))
                continue
            out[pos] = int(unit.parent_id)
            continue
        if isinstance(row.parent_code, str):
            pid = parent_by_code.get(row.parent_code)
            if pid is None:
                problems.append(Reject(row.row, "parent_code", "no current village/community "
                                       "has this code", row.parent_code))
                continue
            out[pos] = pid
            continue
        point = row.geometry.representative_point()
        found = store_grids.unit_at(db, level - 1, point.wkt)
        if found is None:
            problems.append(Reject(row.row, "parent_code", f"new grid {row.code} lies in no "
                                   "village/community; give its parent_code"))
            continue
        out[pos] = int(found)
    return out


def _replaced(geom: BaseGeometry, removed: pd.DataFrame) -> tuple[int, ...]:
    """Ids of removed grids whose area this new grid takes over (positive overlap)."""
    if removed.empty:
        return ()
    areas = shapely.area(shapely.intersection(np.asarray(removed["geometry"].tolist(),
                                                         dtype=object), geom))
    limit = 1e-6 * max(geom.area, 1e-12)
    return tuple(int(i) for i, a in zip(removed["id"], areas, strict=True) if a > limit)


def proposals_from_layer(db: Any, frame: gpd.GeoDataFrame) -> list[Proposal]:
    """The edits a file (from :func:`read_layer`) makes, as one ``kind="import"`` proposal per
    parent unit with changes (see the module doc for the rules); ``versions`` come from the
    file so a stale file conflicts when saved.  Raises :class:`PlanFileError` for rows that
    cannot be imported (a grid moved to another parent, a code of a non-grid unit…)."""
    name = Path(frame.attrs.get("path", "the file")).name
    if frame.empty:
        return []
    level = grid_level(db)
    known = _current(db, level, codes=list(frame["code"]))
    problems: list[Reject] = []
    parent_of = _parents(db, level, frame, known, problems)
    if problems:
        raise _refuse(name, sorted(problems, key=lambda p: p.row), "that cannot be imported")

    parent_ids = sorted(set(parent_of.values()))
    current = _current(db, level, parent_ids=parent_ids)
    current = current[current["level"] == level]
    note = f"import {name}"
    proposals: list[Proposal] = []
    for pid in parent_ids:
        siblings = current[current["parent_id"] == pid]
        in_file = frame.iloc[[pos for pos, p in parent_of.items() if p == pid]]
        file_codes = set(in_file["code"])
        by_code = {r.code: r for r in siblings.itertuples(index=False)}
        reference = (shapely.GeometryCollection(list(siblings["geometry"]))
                     if len(siblings) else None)
        changed: list[tuple[Any, Any]] = []  # (file row, current row or None)
        for row in in_file.itertuples(index=False):
            old = by_code.get(row.code)
            if old is None:
                changed.append((row, None))
            elif row.name != old.name or not same_geometry(row.geometry, old.geometry):
                if pd.isna(row.version):
                    problems.append(Reject(row.row, "version", "missing; it says which version "
                                           "of the grid you edited — export again to get it"))
                    continue
                changed.append((row, old))
        retired = siblings[~siblings["code"].isin(file_codes)]
        if not changed and retired.empty:
            continue
        removed_ids = [int(old.id) for _, old in changed if old is not None] \
            + [int(i) for i in retired["id"]]
        removed = siblings[siblings["id"].isin(removed_ids)]
        versions = {int(old.id): int(row.version) for row, old in changed if old is not None}
        versions.update({int(r.id): int(r.version) for r in retired.itertuples(index=False)})
        added = []
        for row, old in changed:
            geom = row.geometry
            if reference is not None:  # undo last-digit noise against the stored vertices
                geom = shapely.snap(geom, reference, TOLERANCE_DEG)
                if not geom.is_valid:
                    geom = row.geometry
            replaces = set(_replaced(geom, removed))
            if old is not None:
                replaces.add(int(old.id))
            added.append(NewUnit(code=row.code, name=row.name, geometry=geom,
                                 replaces=tuple(sorted(replaces))))
        proposals.append(Proposal(parent_id=pid, kind="import",
                                  removed=tuple(sorted(removed_ids)), added=tuple(added),
                                  versions=versions, note=note))
    if problems:
        raise _refuse(name, sorted(problems, key=lambda p: p.row), "that cannot be imported")
    return proposals
