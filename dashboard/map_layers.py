"""Builders that turn repository rows into dash-leaflet components (no callbacks, no SQL)."""

from __future__ import annotations

from typing import Any

import dash_leaflet as dl

from onemap.settings import Settings

# Outline style per level, from the county (thick, bright) down to grids (thin, muted).
LEVEL_STYLES: list[dict[str, Any]] = [
    {"color": "#ffd54f", "weight": 5, "opacity": 1.0, "fillOpacity": 0.0},
    {"color": "#4fc3f7", "weight": 3.5, "opacity": 0.95, "fillOpacity": 0.0},
    {"color": "#81c784", "weight": 2, "opacity": 0.9, "fillOpacity": 0.0},
    {"color": "#90a4ae", "weight": 1, "opacity": 0.8, "fillColor": "#1e88e5",
     "fillOpacity": 0.08},
]


def basemap_layer(settings: Settings) -> list[Any]:
    """The configured tile layer, or nothing: without a URL the map uses a plain background."""
    if not settings.basemap_url:
        return []
    return [dl.TileLayer(url=settings.basemap_url, attribution=settings.basemap_attribution,
                         maxZoom=19)]
