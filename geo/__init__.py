"""OneMap's pure spatial core.

* ``geo.crs`` — WGS84 / GCJ-02 / BD-09 / CGCS2000, swapped lat/lon, Gauss-Krüger zones, m².
* ``geo.assign`` — :class:`~geo.assign.AssignmentEngine`: points → grid and every level above,
  with a reason per point (inside / edge / gap / outside / snapped); uses ``geo.lookup``
  (raster of interior cells) and ``geo.nearest`` (distance to the nearest grid).
* ``geo.coverage`` — overlaps, gaps, slivers, invalid shapes, children outside their parent.
* ``geo.simplify`` — coverage-preserving simplification per zoom level.
* ``geo.testing`` — deterministic synthetic jurisdictions and points (tests, benchmarks).

Kept free of database and web imports (see ``tests/geo/test_purity.py``) so that loaders, the
dashboard and batch jobs can all use it.  This package module itself imports nothing heavy.
"""
