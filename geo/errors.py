"""Errors raised by the spatial core.

All derive from :class:`GeoError` (itself a :class:`onemap.errors.OneMapError`), so callers can
show ``str(err)`` to an operator: every message names the bad value, row index or field.
"""

from __future__ import annotations

from onemap.errors import OneMapError


class GeoError(OneMapError):
    """Root of the spatial core's errors."""


class CoordinateError(GeoError):
    """A coordinate is missing, impossible, or not where it has to be (e.g. not in China)."""


class DatumError(GeoError):
    """A datum or coordinate reference system is unknown or unsupported."""


class GeometryError(GeoError):
    """A geometry is empty, invalid, of the wrong type, or the layer's columns are wrong."""


class HierarchyError(GeoError):
    """The unit hierarchy (id / parent_id / level) is inconsistent."""
