"""``/planner/export``: the current grids as a file for QGIS (GeoJSON, GeoPackage, or a zipped
Shapefile with its UTF-8 ``.cpg``), written by :func:`loaders.planner_files.export_layer`."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from flask import Flask, Response, jsonify, request, send_file

from accounts.audit import audit
from dashboard.callbacks import runtime
from onemap.context import Runtime
from onemap.errors import OneMapError

SUFFIX = {"geojson": ".geojson", "gpkg": ".gpkg", "shp": ".zip"}
MIMETYPE = {"geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3",
            "shp": "application/zip"}


def register(server: Flask, rt: Runtime) -> None:
    @server.route("/planner/export")
    def _planner_export() -> Response:
        from loaders import planner_files

        fmt = request.args.get("format", "geojson").lower()
        within = request.args.get("within") or None
        if fmt not in SUFFIX:
            return jsonify(error=f"format must be one of {', '.join(SUFFIX)}"), 400
        actor_rt = runtime()
        if actor_rt.actor.units is not None:  # a planner exports within their own units
            tree = actor_rt.units.tree()
            codes = {u["code"] for u in tree.units.values()}
            if within is None:
                tops = tree.tops()
                within = tree.units[tops[0]]["code"] if tops else "-"
            if within not in codes:
                return jsonify(error=f"no unit with code {within!r}"), 404
        name = f"grids-{within or 'all'}"
        with tempfile.TemporaryDirectory(prefix="onemap-export-") as tmp:
            target = Path(tmp) / f"{name}{'.shp' if fmt == 'shp' else SUFFIX[fmt]}"
            try:
                with rt.engine.connect() as conn:
                    files = planner_files.export_layer(conn, target, fmt, within=within)
            except OneMapError as exc:
                return jsonify(error=exc.user_msg), 404
            buffer = io.BytesIO()
            if fmt == "shp":
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                    for f in files:
                        archive.write(f, f.name)
            else:
                buffer.write(files[0].read_bytes())
        buffer.seek(0)
        audit(actor_rt, "export.download", object_type="grids", object_id=within or "all",
              detail={"format": fmt})
        return send_file(buffer, mimetype=MIMETYPE[fmt], as_attachment=True,
                         download_name=f"{name}{SUFFIX[fmt]}")
