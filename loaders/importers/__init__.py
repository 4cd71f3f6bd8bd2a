"""File importers: boundaries (GeoJSON, Shapefile, GeoPackage, KML) and point tables
(households, cameras, incidents from CSV/XLSX), each load one transaction.

Entry point: :func:`loaders.importers.core.run`; the `onemap load` command
(`loaders.commands`) only parses options and calls it.
"""
