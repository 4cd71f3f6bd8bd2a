"""Case photos for signed-in users: ``GET /media/<case>/photos/<sha>.jpg`` (and
``.thumb.jpg``) and ``POST /media/<case>/photos`` (multipart ``file``; the desk and the phone
page) — through :mod:`intake.photos`, scoped to the user (another town's photo is 404)."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request, send_file

from dashboard.callbacks import runtime
from intake import photos
from intake.schema import ReportError

PREFIX = "/media"


def register(server: Flask) -> None:
    @server.get(f"{PREFIX}/<int:incident_id>/photos/<name>")
    def _photo(incident_id: int, name: str) -> Response:
        try:
            path = photos.open_photo(runtime(), incident_id, name)
        except ReportError as err:
            return jsonify(err.as_json()), err.status
        resp = send_file(path, mimetype="image/jpeg", conditional=True, max_age=3600)
        resp.headers["Cache-Control"] = "private, max-age=3600"
        return resp

    @server.post(f"{PREFIX}/<int:incident_id>/photos")
    def _upload(incident_id: int) -> Response:
        upload = request.files.get("file")
        if upload is None:
            return jsonify(error="send the photo in the multipart field 'file'"), 400
        try:
            row = photos.add_photo(runtime(), incident_id, upload.read())
        except ReportError as err:
            return jsonify(err.as_json()), err.status
        return jsonify(photos.photo_urls(incident_id, [row], PREFIX)[0]), \
            201 if row["created"] else 200
