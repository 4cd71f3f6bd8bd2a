"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), translated to and from the
native model.  Pure: no Flask and no database here; ``dashboard.api.open311`` serves it.

* **Services** are the catalogue's categories (``geo.catalog.CATEGORIES``): ``service_code``
  is the category code.  Every service has the attribute ``severity`` (high/medium/low) and,
  when the category has any, ``subcategory`` (its subcategories, keyed by their Chinese name).
* **Posting** a request builds a native report (:func:`form_to_report`) that
  ``intake.schema.parse_report`` validates like any other channel's; its refusals are turned
  back into Open311 errors naming the Open311 parameter (:func:`report_error`).
* **Tokens**: every request posted here gets ``external_id`` = its token, ``o311-`` and 32 hex
  digits: random, or derived from the channel and the ``Idempotency-Key`` header when one is
  given (:func:`token_for`), so that a retry maps to the same incident.
* **Status**: ``open`` while the workflow state is one of ``geo.workflow.OPEN_STATES`` (not
  yet handled: received, dispatched, escalated, reopened, …); ``closed`` once handling is
  finished — ``resolved`` (办结), ``rated`` or ``closed`` (归档).  The workflow state itself is
  in ``status_notes`` (its Chinese label) and, with ``extensions=true``, in
  ``extended_attributes.workflow_status``.
* Reporter contact data (name, phone, e-mail) is stored but never returned.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from geo.catalog import CATEGORIES, CATEGORY_BY_CODE, DEPARTMENTS, Category
from geo.levels import LEVEL_KEYS
from geo.workflow import DONE_STATES, OPEN_STATES, STATE_LABELS
from intake.schema import ReportError

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2025-06-01T00:00:00+08:00"  # bump when services or fields change
CONTACT = "请联系县（市、区）网格化服务管理中心，或拨打 12345 政务服务便民热线"
KEY_SERVICE = "API 密钥由系统管理员发放（onemap apikey add）；查询无需密钥，提交需要密钥"
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
MIME_TYPES = ["text/xml", "application/json"]
TOKEN_PREFIX = "o311-"
# GeoReport v2: "the default query … the last 90 days … up to 1,000 requests".
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000
MAX_SPAN_DAYS = 90
# Categories whose cases concern named persons (社区矫正, 精神障碍, 吸毒人员): never in the public,
# keyless feed; an operator key (api_key) shows them.
PRIVATE_CATEGORIES = frozenset({"key_person"})

OPEN311_STATUS = {"open": OPEN_STATES, "closed": DONE_STATES}
SEVERITY_NAMES = {"zh": {"high": "高", "medium": "中", "low": "低"},
                  "en": {"high": "High", "medium": "Medium", "low": "Low"}}
DEPARTMENT_NAMES = {code: name for code, name, _kind in DEPARTMENTS}

# Native field (as ReportError names it) → the Open311 parameter the client sent.
_FIELD_NAMES = {
    "category": "service_code", "location": "lat/long", "location.lat": "lat",
    "location.lon": "long", "location.datum": "lat/long", "address": "address_string",
    "description": "description", "subcategory": "attribute[subcategory]",
    "severity": "attribute[severity]", "reporter.name": "first_name/last_name",
    "reporter.phone": "phone", "reporter.email": "email", "reporter": "first_name/last_name",
    "photo_urls": "media_url", "photo_urls[0]": "media_url", "external_id": "token",
    "source": "api_key", "(body)": "request",
}
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]*)\]$")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CJK = re.compile(r"[\u3400-\u9fff]")


class Open311Error(Exception):
    """An error in the spec's form: HTTP ``code`` and a ``description`` naming the field."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.code, "description": self.description}]


def open311_field(field: str) -> str:
    """The Open311 parameter a native field name came from (``location.lat`` → ``lat``)."""
    if field in _FIELD_NAMES:
        return _FIELD_NAMES[field]
    if field.startswith("photo_urls"):
        return "media_url"
    if field.startswith("reporter."):
        return _FIELD_NAMES.get(field, field.removeprefix("reporter."))
    return field


def report_error(err: ReportError) -> Open311Error:
    """A native refusal as an Open311 error: validation failures are 400, naming each
    parameter (``lat: 200.0 is not a latitude (-90 to 90 degrees)``)."""
    if err.fields:
        description = "; ".join(f"{open311_field(f)}: {m}" for f, m in err.fields)
    else:
        description = err.user_msg
    status = 400 if err.status == 422 and err.code == "invalid" else err.status
    return Open311Error(status, description)


# -- language --------------------------------------------------------------------------------

def lang_of(raw: str | None) -> str:
    """``en`` (or ``en-US``…) → English; anything else → Chinese, the default."""
    return "en" if raw and raw.lower().startswith("en") else "zh"


# -- discovery and services ------------------------------------------------------------------

def discovery(base_url: str) -> dict[str, Any]:
    """The service discovery document; ``base_url`` is this server's ``…/open311/v2``."""
    return {
        "changeset": CHANGESET, "contact": CONTACT, "key_service": KEY_SERVICE,
        "endpoints": [{"specification": SPECIFICATION, "url": base_url,
                       "changeset": CHANGESET, "type": "production",
                       "formats": list(MIME_TYPES)}],
    }


def _category_name(cat: Category, lang: str) -> str:
    return cat.en if lang == "en" else cat.zh


def service(cat: Category, lang: str = "zh") -> dict[str, Any]:
    """One category as an Open311 service."""
    dept = DEPARTMENT_NAMES.get(cat.department, cat.department)
    if lang == "en":
        description = (f"{cat.en}: reports handled by {dept} ({cat.department}); default risk "
                       f"{cat.severity}" + (f"; e.g. {', '.join(cat.subcategories)}"
                                            if cat.subcategories else ""))
    else:
        description = (f"{cat.zh}：由{dept}办理，默认风险等级"
                       f"{SEVERITY_NAMES['zh'][cat.severity]}"
                       + (f"；如{'、'.join(cat.subcategories)}" if cat.subcategories else ""))
    return {
        "service_code": cat.code, "service_name": _category_name(cat, lang),
        "description": description, "metadata": bool(attributes(cat, lang)),
        "type": "realtime",
        "keywords": ", ".join((cat.zh, cat.en.lower(), *cat.subcategories)),
        "group": dept,
    }


def services(lang: str = "zh") -> list[dict[str, Any]]:
    """Every category of the catalogue, in catalogue order."""
    return [service(cat, lang) for cat in CATEGORIES]


def attributes(cat: Category, lang: str = "zh") -> list[dict[str, Any]]:
    en = lang == "en"
    out: list[dict[str, Any]] = []
    if cat.subcategories:
        out.append({
            "variable": True, "code": "subcategory", "datatype": "singlevaluelist",
            "required": False, "datatype_description": None, "order": len(out) + 1,
            "description": "Subcategory (optional)" if en else "细类（选填）",
            "values": [{"key": s, "name": s} for s in cat.subcategories],
        })
    names = SEVERITY_NAMES[lang]
    default = names[cat.severity]
    out.append({
        "variable": True, "code": "severity", "datatype": "singlevaluelist",
        "required": False, "datatype_description": None, "order": len(out) + 1,
        "description": (f"Risk level (optional; default {default})" if en
                        else f"风险等级（选填，默认{default}）"),
        "values": [{"key": k, "name": v} for k, v in names.items()],
    })
    return out


def service_definition(service_code: str, lang: str = "zh") -> dict[str, Any]:
    cat = CATEGORY_BY_CODE.get(service_code)
    if cat is None:
        raise Open311Error(404, f"service_code: there is no service {service_code!r}")
    return {"service_code": cat.code, "attributes": attributes(cat, lang)}


# -- posting a request -----------------------------------------------------------------------

def new_token() -> str:
    return f"{TOKEN_PREFIX}{uuid.uuid4().hex}"


def token_for(source: str, idempotency_key: str | None) -> str:
    """The request's token (its ``external_id``): random, or — with an Idempotency-Key — the
    same for every retry from the same channel."""
    if not idempotency_key:
        return new_token()
    digest = hashlib.sha256(f"{source}\x00{idempotency_key}".encode()).hexdigest()
    return f"{TOKEN_PREFIX}{digest[:32]}"


def flatten_params(data: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON body's ``{"attribute": {"severity": "high"}}`` as ``attribute[severity]``, the
    form's spelling; other keys unchanged."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "attribute" and isinstance(value, Mapping):
            for name, v in value.items():
                out[f"attribute[{name}]"] = v
        else:
            out[str(key)] = value
    return out


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool | dict | list):
        raise Open311Error(400, f"{name}: must be text")
    value = str(value).strip()
    return value or None


def _number(params: Mapping[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Open311Error(400, f"{name}: {value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise Open311Error(400, f"{name}: {value!r} is not a number (decimal degrees, "
                           "WGS84)") from None


def _name(first: str | None, last: str | None) -> str | None:
    parts = [p for p in (first, last) if p]
    if not parts:
        return None
    if _CJK.search("".join(parts)):  # Chinese order: family name first, no space
        return "".join(p for p in (last, first) if p)
    return " ".join(parts)


def form_to_report(params: Mapping[str, Any], *, source: str, token: str,
                   address_from_id: str | None = None) -> dict[str, Any]:
    """The native report for a POST request's parameters (form or flattened JSON).

    Checks what only Open311 knows (service_code, lat+long, attributes); everything else is
    left to ``intake.schema.parse_report``.  ``address_from_id`` is the register's address
    for ``address_id`` (looked up by the caller).
    """
    code = _text(params, "service_code")
    if code is None:
        raise Open311Error(400, "service_code: is required (see services.json)")
    cat = CATEGORY_BY_CODE.get(code)
    if cat is None:  # the spec: "404 - service_code … not found"
        raise Open311Error(404, f"service_code: {code!r} is not a service; expected one of "
                           + ", ".join(c.code for c in CATEGORIES))
    lat, lon = _number(params, "lat"), _number(params, "long")
    if (lat is None) != (lon is None):
        missing = "long" if lon is None else "lat"
        raise Open311Error(400, f"{missing}: is required with "
                           f"{'lat' if missing == 'long' else 'long'}")
    address = _text(params, "address_string") or address_from_id
    if lat is None and not address:
        raise Open311Error(400, "lat/long: a location is required: send lat and long (WGS84), "
                           "or address_string, or address_id")
    report: dict[str, Any] = {"source": source, "external_id": token, "category": cat.code}
    description = params.get("description")
    if description is not None and not isinstance(description, str):
        raise Open311Error(400, "description: must be text")
    description = (description or "").strip()
    attrs: dict[str, str] = {}
    for key in params:  # other unknown parameters (jurisdiction_id, device_id…) are ignored
        m = _ATTRIBUTE.match(key)
        value = _text(params, key) if m else None
        if m and value is not None:
            attrs[m.group(1)] = value
    allowed = {a["code"]: a for a in attributes(cat)}
    for name, value in attrs.items():
        attr = allowed.get(name)
        if attr is None:
            raise Open311Error(400, f"attribute[{name}]: service {cat.code!r} has no such "
                               "attribute; see services/" + cat.code + ".json")
        keys = [v["key"] for v in attr["values"]]
        if value not in keys:
            raise Open311Error(400, f"attribute[{name}]: {value!r} is not one of "
                               + ", ".join(keys))
    if "subcategory" in attrs:
        report["subcategory"] = attrs["subcategory"]
    if "severity" in attrs:
        report["severity"] = attrs["severity"]
    # The spec makes description optional; the native model needs one: say what was chosen.
    report["description"] = description or attrs.get("subcategory") or cat.zh
    if lat is not None:
        report["location"] = {"lon": lon, "lat": lat, "datum": "wgs84"}
    if address:
        report["address"] = address
    media = _text(params, "media_url")
    if media:
        report["photo_urls"] = [media]
    reporter = {"name": _name(_text(params, "first_name"), _text(params, "last_name")),
                "phone": _text(params, "phone"), "email": _text(params, "email")}
    reporter = {k: v for k, v in reporter.items() if v is not None}
    if reporter:
        report["reporter"] = reporter
    return report


# -- incidents as service requests -----------------------------------------------------------

def w3_time(value: datetime | None, tz: str) -> str | None:
    """ISO 8601 (w3 subset) with the offset of the configured time zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def open311_status(workflow_status: str) -> str:
    """``open`` until handling is finished (resolved, rated or closed), then ``closed``."""
    return "open" if workflow_status in OPEN_STATES else "closed"


def service_notice(row: Mapping[str, Any], tz: str, lang: str = "zh") -> str:
    """What happens next, in one sentence."""
    en = lang == "en"
    if row["status"] == "unlocated":
        return ("The place could not be determined; an operator will locate it before "
                "dispatch." if en else "地址未能定位，待人工定位后派单办理")
    dept = row.get("department_name") or ("the responsible department" if en else "职能部门")
    due = row.get("due_at")
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=ZoneInfo(tz))
    due_text = due.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if due else None
    if row["status"] in DONE_STATES:
        return f"Handled by {dept}." if en else f"已由{dept}办结"
    if en:
        return f"Handled by {dept}" + (f"; due by {due_text}." if due_text else ".")
    return f"由{dept}办理" + (f"，办理时限 {due_text}" if due_text else "")


def status_notes(workflow_status: str, last_note: str | None, lang: str = "zh") -> str:
    label = STATE_LABELS.get(workflow_status, (workflow_status, workflow_status))
    text = label[1] if lang == "en" else label[0]
    if last_note:
        text += ("; " if lang == "en" else "：") + last_note
    return text


LEVEL_NAMES = tuple(LEVEL_KEYS.values())


def to_request(row: Mapping[str, Any], *, tz: str, last_note: str | None = None,
               lang: str = "zh", extensions: bool = False) -> dict[str, Any]:
    """One incident (a ``store.incidents.get_incident`` row) as an Open311 service request;
    no reporter contact data."""
    cat = CATEGORY_BY_CODE.get(row["category"])
    media = row.get("media_urls") or []
    out: dict[str, Any] = {
        "service_request_id": str(row["id"]),
        "status": open311_status(row["status"]),
        "status_notes": status_notes(row["status"], last_note, lang),
        "service_name": _category_name(cat, lang) if cat else row["category"],
        "service_code": row["category"],
        "description": row["description"],
        "agency_responsible": row.get("department_name"),
        "service_notice": service_notice(row, tz, lang),
        "requested_datetime": w3_time(row["received_at"], tz),
        "updated_datetime": w3_time(row.get("updated_at"), tz),
        "expected_datetime": w3_time(row.get("due_at"), tz),
        "address": row.get("address"),
        "address_id": None,
        "zipcode": None,
        "lat": row.get("lat"),
        "long": row.get("lon"),
        "media_url": media[0] if media else None,
    }
    if extensions:
        ext: dict[str, Any] = {}
        for level in LEVEL_NAMES:
            ext[f"{level}_code"] = row.get(f"{level}_code")
            ext[f"{level}_name"] = row.get(f"{level}_name")
        level = row.get("handling_level")
        label = STATE_LABELS.get(row["status"], (row["status"], row["status"]))
        ext.update({
            "workflow_status": row["status"],
            "workflow_status_name": label[1] if lang == "en" else label[0],
            "handling_level": LEVEL_NAMES[level] if level is not None else None,
            "due_at": w3_time(row.get("due_at"), tz),
            "overdue_now": bool(row.get("overdue_now")),
            "duplicate_of": (str(row["duplicate_of"]) if row.get("duplicate_of") is not None
                             else None),
            "subcategory": row.get("subcategory"),
            "severity": row.get("severity"),
            "location_reason": row.get("location_reason"),
        })
        out["extended_attributes"] = ext
    return out


def post_result(row: Mapping[str, Any], *, created: bool, tz: str,
                lang: str = "zh", duplicate_of: int | None = None,
                citizen_url: str | None = None) -> list[dict[str, Any]]:
    """The answer to POST requests: one element with the new ``service_request_id`` (no
    token: the spec returns one or the other); ``citizen_url`` (an extension field) is the
    reporter's progress and rating page, for an SMS."""
    notice = service_notice(row, tz, lang)
    if not created:
        notice = ("This request was already received (a retry); "
                  if lang == "en" else "该请求此前已受理（重复提交）；") + notice
    if duplicate_of is not None:
        notice += (f"; similar to request {duplicate_of} nearby" if lang == "en"
                   else f"；与附近的请求 {duplicate_of} 疑似重复")
    # The spec: token "should not be returned if the service_request_id is returned" — a
    # request is stored (and numbered) at once here, so the answer has the id only.
    out = {"service_request_id": str(row["id"]), "service_notice": notice,
           "account_id": None}
    if citizen_url:
        out["citizen_url"] = citizen_url
    return [out]


# -- rendering -------------------------------------------------------------------------------

# Root element of a top-level list, and the element of each item of a named list.
LIST_ROOTS = {"services": "service", "service_requests": "request", "errors": "error"}
_ITEM_NAMES = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute",
               "values": "value", **LIST_ROOTS}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    return str(obj)


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _XML_INVALID.sub("", str(value))


def _xml_fill(elem: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _xml_fill(ET.SubElement(elem, key), child)
    elif isinstance(value, list | tuple):
        item = _ITEM_NAMES.get(elem.tag, "item")
        for child in value:
            _xml_fill(ET.SubElement(elem, item), child)
    else:
        elem.text = _xml_text(value)


def to_xml(body: Any, root: str) -> str:
    """``body`` (a dict, or a list rendered as ``<root><item>…``) as an XML document."""
    elem = ET.Element(root)
    _xml_fill(elem, body)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(elem, encoding="unicode")


def render(body: Any, fmt: str, root: str) -> str:
    """The body in ``fmt`` (json or xml); ``root`` names the XML root element."""
    if fmt == "json":
        return json.dumps(body, ensure_ascii=False, default=_json_default)
    return to_xml(body, root)
