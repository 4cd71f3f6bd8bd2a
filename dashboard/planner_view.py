"""Pure helpers of the planner page: a proposal in a ``dcc.Store`` and back, GeoJSON for the
map in the basemap's datum, and the effective time of a save.

No Dash, no SQL: the callbacks in :mod:`dashboard.planner_callbacks` glue these to the store.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from dashboard import geodata
from geo.planning import NewUnit, Proposal


def proposal_to_store(proposal: Proposal) -> dict[str, Any]:
    """A proposal as JSON-able data (WGS84 GeoJSON geometries) for the browser to keep."""
    return {
        "parent_id": proposal.parent_id, "kind": proposal.kind,
        "removed": list(proposal.removed),
        "versions": {str(k): v for k, v in proposal.versions.items()},
        "note": proposal.note,
        "added": [{"code": u.code, "name": u.name, "replaces": list(u.replaces),
                   "geometry": mapping(u.geometry)} for u in proposal.added],
    }


def proposal_from_store(data: dict[str, Any]) -> Proposal:
    """The inverse of :func:`proposal_to_store`."""
    return Proposal(
        parent_id=int(data["parent_id"]), kind=data["kind"],
        removed=tuple(int(i) for i in data["removed"]),
        added=tuple(NewUnit(code=u["code"], name=u["name"], geometry=shape(u["geometry"]),
                            replaces=tuple(int(i) for i in u["replaces"]))
                    for u in data["added"]),
        versions={int(k): int(v) for k, v in data.get("versions", {}).items()},
        note=data.get("note", ""),
    )


def feature(geom: BaseGeometry, properties: dict[str, Any], datum: str) -> dict[str, Any]:
    """One GeoJSON feature in the display datum (6 decimals)."""
    return {"type": "Feature", "properties": properties,
            "geometry": geodata.shift_geojson(shapely.to_geojson(geom), datum)}


def collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def drawn_geometry(geojson: dict[str, Any] | None, datum: str) -> BaseGeometry | None:
    """The last feature drawn with the EditControl (or sent by the vertex editor) as a WGS84
    shapely geometry; None when there is none."""
    if not geojson:
        return None
    if "geometry" in geojson and "features" not in geojson:
        geometry = geojson["geometry"]
    else:
        features = [f for f in geojson.get("features", []) if f.get("geometry")]
        if not features:
            return None
        geometry = features[-1]["geometry"]
    geom = shapely.from_geojson(json.dumps(geometry))

    def back(coords: np.ndarray) -> np.ndarray:
        x, y = geodata.from_display(coords[:, 0], coords[:, 1], datum)
        return np.column_stack([x, y])

    return shapely.transform(geom, back)


def effective_time(day: str | None, tz: str, now: datetime) -> datetime:
    """When a saved version takes effect: now for today (or no date), else the start of the
    given local day.  A later day is refused by the store with a message."""
    zone = ZoneInfo(tz)
    if not day:
        return now
    chosen = date.fromisoformat(day[:10])
    if chosen == now.astimezone(zone).date():
        return now
    return datetime.combine(chosen, time(0, 0), tzinfo=zone)


def local_day_end(day: str, tz: str) -> datetime:
    """The end of a local day (23:59:59.999): "on date D" means the grid at the end of D."""
    chosen = date.fromisoformat(day[:10])
    return datetime.combine(chosen, time(23, 59, 59, 999_000), tzinfo=ZoneInfo(tz))


def suggested_parts(households: int, band: tuple[int, int]) -> int:
    """The fewest parts (at least 2) that bring an oversized grid's mean under the band's top:
    fewer parts keep each one as full as the band allows."""
    _low, high = band
    return max(2, int(np.ceil(households / high)))
