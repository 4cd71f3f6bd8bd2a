"""The OpenAPI 3 document for ``/api/openapi.json``, built from the same pydantic models
that validate requests, so the document cannot drift from what is enforced."""

from __future__ import annotations

from typing import Any

from geo.workflow import ACTIONS, STATES
from intake.schema import ActionIn, ReportIn

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}}}}},
}
_INCIDENT = {
    "type": "object",
    "description": "An incident: where it is (grid and every level above, with the reason "
                   "code), who handles it, its deadline and status.",
    "properties": {
        "id": {"type": "integer"}, "source": {"type": "string"},
        "external_id": {"type": "string"}, "category": {"type": "string"},
        "severity": {"type": "string", "enum": ["high", "medium", "low"]},
        "status": {"type": "string", "enum": list(STATES)},
        "location": {"type": "object", "properties": {
            "lon": {"type": ["number", "null"]},
            "lat": {"type": ["number", "null"]},
            "reason": {"type": "string", "enum": ["inside", "edge", "gap", "outside", "snapped",
                                                   "address", "unmatched", "manual"]}}},
        "units": {"type": "object", "description": "grid, village, town, county: "
                  "{id, code, name} or null"},
        "handling_level": {"type": ["integer", "null"],
                           "description": "3 grid, 2 village, 1 town, 0 county"},
        "grid_worker": {"type": ["object", "null"]},
        "department": {"type": ["object", "null"]},
        "due_at": {"type": ["string", "null"], "format": "date-time"},
        "duplicate_of": {"type": ["integer", "null"]},
        "allowed_actions": {"type": "array", "items": {"type": "string",
                                                       "enum": list(ACTIONS)}},
        "events": {"type": "array", "items": {"type": "object"}},
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed request", 401: "No API key", 403: "Key not valid for this",
            404: "Not found", 409: "Not allowed in the incident's state",
            413: "Body too large", 422: "Invalid field(s); nothing stored",
            503: "Database unavailable; nothing stored"}
    return {str(c): {"description": text[c], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {"Error": _ERROR, "Incident": _INCIDENT}
    for model in (ReportIn, ActionIn):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _query(name: str, description: str, schema: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _path_id() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


#: A report any deployment stores (201): its example for clients and test generators.
EXAMPLE_REPORT = {"source": "hotline_12345", "external_id": "12345-20261201-0001",
                  "category": "sanitation", "description": "小区门口垃圾堆放三天无人清理",
                  "location": {"lon": 97.04, "lat": 40.28, "datum": "wgs84"}}
#: From a stored report to its incident and its actions (OpenAPI links: generated clients
#: and stateful test runs follow them).
_LINKS = {"GetIncident": {"operationId": "getIncident",
                          "parameters": {"id": "$response.body#/id"}},
          "ActOnIncident": {"operationId": "actOnIncident",
                            "parameters": {"id": "$response.body#/id"}},
          "ListPhotos": {"operationId": "listPhotos",
                         "parameters": {"id": "$response.body#/id"}}}


def document(server_url: str = "/") -> dict[str, Any]:
    json_body = {"application/json": {
        "schema": {"$ref": "#/components/schemas/ReportIn"}, "example": EXAMPLE_REPORT}}
    incident = {"application/json": {"schema": {"$ref": "#/components/schemas/Incident"}}}
    idem = {"name": "Idempotency-Key", "in": "header", "required": False,
            "schema": {"type": "string", "maxLength": 200},
            "description": "Retry-safe submission: the same key returns the same incident."}
    return {
        "openapi": "3.1.0",
        "info": {"title": "OneMap 一张图 API", "version": "1.0",
                 "description": "Reports in from every channel; incidents and their "
                                "handling out. Open311 GeoReport v2 is served under "
                                "/open311/v2/ (see its discovery document)."},
        "servers": [{"url": server_url}],
        "security": [{"ApiKey": []}],
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header",
                                           "name": "X-API-Key"}},
            "schemas": _schemas(),
        },
        "paths": {
            "/api/v1/reports": {"post": {
                "operationId": "submitReport",
                "summary": "Submit one report",
                "description": "201: stored now. 200: the same (source, external_id) or "
                               "Idempotency-Key was stored before; nothing new written. "
                               "Near-duplicates (same category, 50 m, 24 h) are stored and "
                               "linked (duplicate_of).",
                "parameters": [idem],
                "requestBody": {"required": True, "content": json_body},
                "responses": {"201": {"description": "Stored", "content": incident,
                                      "links": _LINKS},
                              "200": {"description": "Already stored", "content": incident,
                                      "links": _LINKS},
                              **_errors(400, 401, 403, 413, 422, 503)}}},
            "/api/v1/reports:batch": {"post": {
                "summary": "Submit up to 10,000 reports; one result per item",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "properties": {"items": {
                        "type": "array", "maxItems": 10000,
                        "items": {"$ref": "#/components/schemas/ReportIn"}}}}}}},
                "responses": {"200": {"description": "Per-item results (status 201/200/4xx)"},
                              **_errors(400, 401, 403, 413, 503)}}},
            "/api/v1/incidents": {"get": {
                "summary": "List incidents, newest first, with cursor pagination",
                "parameters": [
                    _query("status", "Comma-separated states"),
                    _query("unit", "A unit id or code at any level"),
                    _query("category", "Comma-separated category codes"),
                    _query("source", "Comma-separated channels"),
                    _query("severity", "high, medium, low"),
                    _query("from", "Received at or after (ISO 8601)"),
                    _query("to", "Received before (ISO 8601)"),
                    _query("updated_after", "Changed after (ISO 8601)"),
                    _query("bbox", "min_lon,min_lat,max_lon,max_lat"),
                    _query("overdue", "true: open and past due now"),
                    _query("limit", "Page size (1-500, default 50)", {"type": "integer"}),
                    _query("cursor", "next_cursor of the previous page"),
                ],
                "responses": {"200": {"description": "A page of incidents"},
                              **_errors(400, 401, 403, 503)}}},
            "/api/v1/incidents/{id}": {"get": {
                "operationId": "getIncident",
                "summary": "One incident with its history",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "The incident", "content": incident},
                              **_errors(401, 403, 404, 503)}}},
            "/api/v1/incidents/{id}/actions": {"post": {
                "operationId": "actOnIncident",
                "summary": "Apply a workflow action (see the README's transition table)",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ActionIn"}}}},
                "responses": {"200": {"description": "The incident after the action",
                                      "content": incident},
                              **_errors(400, 401, 403, 404, 409, 422, 503)}}},
            "/api/v1/incidents/{id}/photos": {
                "post": {
                    "summary": "Add a photo (JPEG, PNG or WebP, at most ONEMAP_PHOTO_MAX_MB); "
                               "verified, re-encoded without EXIF (its GPS and time are kept "
                               "on the record), thumbnailed",
                    "parameters": [_path_id()],
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "required": ["file"], "properties": {
                            "file": {"type": "string", "format": "binary"}}}}}},
                    "responses": {"201": {"description": "Stored"},
                                  "200": {"description": "The same photo was stored before"},
                                  **_errors(400, 401, 403, 404, 413, 422, 503)}},
                "get": {"operationId": "listPhotos",
                        "summary": "The case's photos (URLs of the image and thumbnail)",
                        "parameters": [_path_id()],
                        "responses": {"200": {"description": "The photos"},
                                      **_errors(401, 403, 404, 503)}}},
            "/api/v1/incidents/{id}/photos/{name}": {"get": {
                "summary": "One photo (<sha256>.jpg) or its thumbnail (<sha256>.thumb.jpg)",
                "parameters": [_path_id(), {"name": "name", "in": "path", "required": True,
                                            "schema": {"type": "string"}}],
                "responses": {"200": {"description": "JPEG",
                                      "content": {"image/jpeg": {}}},
                              **_errors(401, 403, 404)}}},
            "/api/health": {"get": {"summary": "Liveness and database check", "security": [],
                                    "responses": {"200": {"description": "OK"},
                                                  "503": {"description": "Database down"}}}},
        },
    }
