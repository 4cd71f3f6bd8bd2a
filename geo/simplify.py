"""Coverage-preserving simplification, so the map can send light geometry at low zoom.

Simplifying each polygon on its own (Douglas-Peucker) moves a shared edge differently for the
two neighbours and opens slivers or overlaps between them.  ``shapely.coverage_simplify``
(GEOS CoverageSimplifier, Visvalingam-Whyatt on the shared edge graph) simplifies every shared
edge once, so neighbours keep identical boundaries.  PostGIS 3.3 on Debian lacks
``ST_CoverageSimplify``, hence this runs in Python.

Tolerances follow the web map: at zoom z one 256-px tile spans 360°/2^z of longitude, so a
tolerance of ``pixels`` screen pixels is ``pixels · 360 / (256 · 2^z) · cos(lat)`` degrees
(the latitude factor makes it the same ground distance in both axes).
"""

from __future__ import annotations

from typing import Any, Literal

import geopandas as gpd
import numpy as np
import shapely

from geo.errors import GeometryError

__all__ = ["DEFAULT_ZOOMS", "simplified_layers", "simplify_coverage", "tolerance_for_zoom"]

DEFAULT_ZOOMS = (8, 10, 12, 14)
_M_PER_PX_Z0 = 156_543.033_928_041  # web-mercator metres per pixel at zoom 0 on the equator


def tolerance_for_zoom(
    zoom: int, lat: float, *, pixels: float = 0.5, unit: Literal["deg", "m"] = "deg"
) -> float:
    """Simplification tolerance worth ``pixels`` screen pixels at ``zoom`` and latitude ``lat``.

    ``unit="deg"`` for WGS84 geometries (what :func:`simplify_coverage` is usually given),
    ``unit="m"`` for projected ones.
    """
    if not 0 <= zoom <= 30:
        raise GeometryError(f"Zoom must be between 0 and 30, got {zoom!r}.")
    if not -85.06 <= lat <= 85.06:
        raise GeometryError(f"Latitude {lat!r} is outside the web map's range (±85.06°).")
    c = float(np.cos(np.radians(lat)))
    if unit == "m":
        return pixels * _M_PER_PX_Z0 * c / 2**zoom
    return pixels * 360.0 / (256.0 * 2**zoom) * c


def _geom_array(geoms: Any) -> np.ndarray:
    if isinstance(geoms, gpd.GeoDataFrame | gpd.GeoSeries):
        return np.asarray(
            geoms.geometry.values if isinstance(geoms, gpd.GeoDataFrame) else geoms.values,
            dtype=object,
        )
    return np.asarray(geoms, dtype=object)


def simplify_coverage(
    geoms: Any, tolerance: float, *, simplify_boundary: bool = True, check: bool = True
) -> Any:
    """Simplify a coverage (polygons that do not overlap) keeping shared edges shared.

    ``tolerance`` is in the geometries' units (degrees for WGS84: see
    :func:`tolerance_for_zoom`).  ``simplify_boundary=False`` keeps the outer boundary of the
    whole layer exact.  Returns the same kind of container it was given (array, GeoSeries,
    GeoDataFrame).  With ``check`` an input that is not a valid coverage raises
    :class:`GeometryError` — run :func:`geo.coverage.check_coverage` to see why.
    """
    arr = _geom_array(geoms)
    if tolerance < 0 or not np.isfinite(tolerance):
        raise GeometryError(f"Simplification tolerance must be >= 0, got {tolerance!r}.")
    if check and len(arr) and not shapely.coverage_is_valid(arr):
        raise GeometryError(
            "These polygons are not a valid coverage (they overlap or their shared edges do "
            "not match), so they cannot be simplified together; run "
            "geo.coverage.check_coverage to locate the problems."
        )
    out = shapely.coverage_simplify(arr, tolerance, simplify_boundary=simplify_boundary)
    if isinstance(geoms, gpd.GeoDataFrame):
        res = geoms.copy()
        return res.set_geometry(gpd.GeoSeries(out, index=geoms.index, crs=geoms.crs), crs=geoms.crs)
    if isinstance(geoms, gpd.GeoSeries):
        return gpd.GeoSeries(out, index=geoms.index, crs=geoms.crs)
    return out


def simplify_layer(geoms: Any, tolerance: float) -> np.ndarray:
    """Simplify one layer for drawing: coverage-preserving (shared edges stay shared) when
    the polygons are a valid coverage, else polygon by polygon (neighbours may then show
    hairline slivers).  Returns an object array."""
    arr = _geom_array(geoms)
    try:
        return np.asarray(simplify_coverage(arr, tolerance), dtype=object)
    except (GeometryError, shapely.errors.GEOSException):
        return np.asarray(shapely.simplify(arr, tolerance, preserve_topology=True),
                          dtype=object)


def simplified_layers(
    units: gpd.GeoDataFrame,
    zooms: tuple[int, ...] = DEFAULT_ZOOMS,
    *,
    pixels: float = 0.5,
    lat: float | None = None,
) -> dict[int, gpd.GeoDataFrame]:
    """Per zoom band, a copy of ``units`` simplified level by level (each level a coverage).

    Key ``z`` is the layer to draw for zooms up to ``z`` (above the previous key); above the
    largest key send the original geometry.  The tolerance is that of zoom ``z`` itself, the
    most detailed zoom of its band, so no band ever shows errors above ``pixels``.
    """
    if lat is None:
        _, y0, _, y1 = units.total_bounds
        lat = float((y0 + y1) / 2)
    levels = units["level"].to_numpy() if "level" in units.columns else np.zeros(len(units))
    layers: dict[int, gpd.GeoDataFrame] = {}
    for z in sorted(zooms):
        tol = tolerance_for_zoom(z, lat, pixels=pixels)
        out = np.asarray(units.geometry.values, dtype=object).copy()
        for lv in np.unique(levels):
            sel = levels == lv
            out[sel] = simplify_coverage(out[sel], tol)
        layer = units.copy()
        layers[z] = layer.set_geometry(gpd.GeoSeries(out, index=units.index, crs=units.crs))
    return layers
