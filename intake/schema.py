"""What a report must look like, checked before anything touches the database.

The models double as the OpenAPI schemas (``model_json_schema``).  Every refusal names the
field (``location.lat``, ``items[3].category``) so a channel's developers can fix their side.
Text fields are plain text: markup (``<script>``…) is refused rather than stored and echoed
to an operator's browser; identifiers are restricted to a safe alphabet.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from geo.catalog import (
    CATEGORIES,
    CATEGORY_ALIASES,
    CATEGORY_BY_CODE,
    CATEGORY_BY_ZH,
    SOURCE_ALIASES,
    SOURCES,
)
from geo.crs import in_china
from geo.workflow import ALL_ACTIONS
from onemap.errors import OneMapError

MAX_DESCRIPTION = 4000
MAX_BATCH = 10_000
DATUMS = ("wgs84", "gcj02", "bd09", "cgcs2000")
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>|javascript:", re.IGNORECASE)
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,127}$"


class ReportError(OneMapError):
    """A report (or action) is refused; ``fields`` lists (field, message) pairs."""

    def __init__(self, user_msg: str, fields: list[tuple[str, str]] | None = None,
                 *, status: int = 422, code: str = "invalid") -> None:
        super().__init__(user_msg)
        self.fields = fields or []
        self.status = status
        self.code = code

    def as_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.user_msg,
                          "fields": [{"field": f, "message": m} for f, m in self.fields]}}


#: C0 control characters other than tab and newline, DEL, and the Unicode bidi controls
#: (embeddings, overrides, isolates: text that displays in another order than it reads).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _no_controls(value: str) -> str:
    """``value`` with CR LF as LF, or a ValueError naming the first control character."""
    value = value.replace("\r\n", "\n")
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"must not contain control character U+{ord(found.group()):04X} "
                         f"(at position {found.start() + 1}); only tab and newline are allowed")
    return value


def _plain(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if _MARKUP.search(value):
        raise ValueError("must be plain text: remove HTML markup such as <script> or <a>")
    value = _no_controls(value)
    if len(value) > limit:
        raise ValueError(f"is {len(value)} characters long; at most {limit} are allowed")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _text_fields(cls, v: Any) -> Any:
        """Every text field of every model: no control characters, no bidi overrides."""
        if isinstance(v, str):
            return _no_controls(v)
        if isinstance(v, list):
            return [_no_controls(x) if isinstance(x, str) else x for x in v]
        return v


class Location(_Strict):
    """A point as the sender's device gives it; converted to WGS84 on receipt."""

    # strict: a number, not a string holding one; the ranges are checked below (with their
    # own messages) and stated in the OpenAPI document.
    lon: float = Field(strict=True, description="Longitude in degrees (east positive), -180 "
                       "to 180.", json_schema_extra={"minimum": -180, "maximum": 180})
    lat: float = Field(strict=True, description="Latitude in degrees (north positive), -90 "
                       "to 90.", json_schema_extra={"minimum": -90, "maximum": 90})
    datum: Literal["wgs84", "gcj02", "bd09", "cgcs2000"] = Field(
        "wgs84", description="Datum of lon/lat: gcj02 for Amap/Tencent, bd09 for Baidu.")

    @field_validator("lon")
    @classmethod
    def _lon(cls, v: float) -> float:
        if not -180 <= v <= 180:
            raise ValueError(f"{v} is not a longitude (-180 to 180 degrees)")
        return v

    @field_validator("lat")
    @classmethod
    def _lat(cls, v: float, info: ValidationInfo) -> float:
        lon = info.data.get("lon")
        if lon is not None and bool(in_china(v, lon)) and not bool(in_china(lon, v)):
            raise ValueError(f"lon={lon}, lat={v} look swapped (lat/lon order); send "
                             "longitude as lon and latitude as lat")
        if not -90 <= v <= 90:
            raise ValueError(f"{v} is not a latitude (-90 to 90 degrees)")
        return v

    @model_validator(mode="after")
    def _in_china(self) -> Location:
        if not bool(in_china(self.lon, self.lat)):
            raise ValueError(f"lon={self.lon}, lat={self.lat} is not in China "
                             "(expected lon 73-135, lat 18-54)")
        return self


class Reporter(_Strict):
    name: Annotated[str | None, Field(max_length=64)] = None
    phone: Annotated[str | None, Field(max_length=32, pattern=r"^[0-9+\-() ]{3,32}$")] = None
    email: Annotated[str | None, Field(max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+$")] = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return _plain(v, 64)


class ReportIn(_Strict):
    """One report from a channel (grid-worker app, 12345 hotline, citizen app, 110, …)."""

    source: str = Field(description="Channel code (" + ", ".join(SOURCES) + ") or its "
                        "Chinese name; must be the channel of the API key.",
                        json_schema_extra={"enum": list(SOURCES)})
    external_id: str = Field(pattern=IDENTIFIER, description="The channel's own id for the "
                             "report: letters, digits and _ . : / - (at most 128).")
    category: str = Field(description="Category code (" + ", ".join(c.code for c in CATEGORIES)
                          + ") or its Chinese name.",
                          json_schema_extra={"enum": [c.code for c in CATEGORIES]})
    subcategory: str | None = Field(None, max_length=64)
    severity: Literal["high", "medium", "low"] | None = Field(
        None, description="Risk level; when omitted, the category's default.")
    description: str = Field(min_length=1, description=f"Plain text, ≤ {MAX_DESCRIPTION} chars.",
                             json_schema_extra={"maxLength": MAX_DESCRIPTION})
    location: Location | None = None
    address: str | None = Field(None, description="Used to locate the report when no "
                                "location is given (matched against the household register).",
                                json_schema_extra={"maxLength": 200})
    reported_at: datetime | None = Field(None, description="When the citizen reported it; "
                                         "ISO 8601, local time zone when none is given.")
    reporter: Reporter | None = None
    photo_urls: list[Annotated[str, Field(pattern=r"^https?://[^\s<>\"']+$", max_length=2048)]
                     ] = Field(default_factory=list, max_length=20)

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        code = v if v in SOURCES else SOURCE_ALIASES.get(v)
        if code is None:
            raise ValueError(f"unknown channel {v!r}; expected one of {', '.join(SOURCES)}")
        return code

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        cat = CATEGORY_BY_CODE.get(v) or CATEGORY_BY_ZH.get(v) \
            or CATEGORY_BY_CODE.get(CATEGORY_ALIASES.get(v, ""))
        if cat is None:
            raise ValueError(f"unknown category {v!r}; expected one of "
                             + ", ".join(f"{c.code} ({c.zh})" for c in CATEGORIES))
        return cat.code

    @field_validator("description")
    @classmethod
    def _description(cls, v: str) -> str:
        return _plain(v, MAX_DESCRIPTION)  # type: ignore[return-value]

    @field_validator("subcategory")
    @classmethod
    def _subcategory(cls, v: str | None) -> str | None:
        return _plain(v, 64)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        v = _plain(v, 200)
        return v or None

    @model_validator(mode="after")
    def _where(self) -> ReportIn:
        if self.location is None and not self.address:
            raise ValueError("give a location (lon/lat) or an address")
        return self

    @property
    def effective_severity(self) -> str:
        return self.severity or CATEGORY_BY_CODE[self.category].severity

    def fingerprint(self) -> str:
        """SHA-256 of the report's content (not its external_id, which a client may
        regenerate on retry), to tell a retry from a different report that reuses an
        Idempotency-Key."""
        data = self.model_dump(mode="json", exclude={"external_id"})
        return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False)
                              .encode()).hexdigest()


class BatchIn(_Strict):
    items: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


class ActionIn(_Strict):
    """A workflow action on one incident."""

    action: Literal[ALL_ACTIONS]  # type: ignore[valid-type]  # geo.workflow's actions
    actor: str | None = Field(None, max_length=64, description="Who acts (shown in history); "
                              "defaults to the API key's name.")
    note: str | None = Field(None, description="Reason or remark (required to return).",
                             json_schema_extra={"maxLength": 2000})
    rating: int | None = Field(None, ge=1, le=5, strict=True, description="1-5, for rate.")
    department: str | None = Field(None, max_length=64, description="Department code for "
                                   "dispatch; defaults to the category's department.")
    location: Location | None = Field(None, description="Where an unlocated incident is, "
                                      "for locate.")
    days: int | None = Field(None, ge=1, le=90, strict=True, description="Days the "
                             "supervision (督办) gives, for supervise (default 3).")
    support: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=5, description="Supporting departments' codes (协办) for dispatch; "
        "they see the case, the lead department acts.")
    accuracy_m: float | None = Field(None, ge=0, le=100_000, strict=True,
                                     description="The GPS fix's accuracy in metres, for "
                                     "checkin.")

    @field_validator("actor")
    @classmethod
    def _actor(cls, v: str | None) -> str | None:
        return _plain(v, 64)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        return _plain(v, 2000)


def _field_name(loc: tuple[Any, ...], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
        elif item not in ("function-after", "function-before") and not str(item).startswith(
                ("list[", "str", "constrained", "literal")):
            parts.append(str(item))
    return ".".join(p for p in parts if p)


def errors_from(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Pydantic's errors as (field, message) pairs a person can read."""
    out = []
    for err in exc.errors(include_url=False):
        field = _field_name(tuple(err.get("loc", ())), prefix) or "(body)"
        msg = err.get("msg", "invalid")
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "missing":
            msg = "is required"
        elif err.get("type") == "extra_forbidden":
            msg = "is not a known field"
        elif err.get("type") == "string_pattern_mismatch":
            msg = ("may only contain letters, digits and _ . : / - (at most 128 characters)"
                   if field.endswith("external_id") else "has characters that are not allowed")
        elif err.get("type") == "finite_number":
            msg = "must be a finite number (not NaN or infinity)"
        out.append((field, msg))
    return out


def parse_report(data: Any, prefix: str = "") -> ReportIn:
    """Validate one report; raises :class:`ReportError` naming every bad field."""
    if not isinstance(data, dict):
        raise ReportError("the report must be a JSON object", [(prefix or "(body)",
                                                                "must be an object")])
    _reject_nan(data, prefix)
    try:
        return ReportIn.model_validate(data)
    except ValidationError as exc:
        fields = errors_from(exc, prefix)
        raise ReportError("; ".join(f"{f}: {m}" for f, m in fields), fields) from None


def parse_action(data: Any) -> ActionIn:
    if not isinstance(data, dict):
        raise ReportError("the action must be a JSON object", [("(body)", "must be an object")])
    _reject_nan(data, "")
    try:
        return ActionIn.model_validate(data)
    except ValidationError as exc:
        fields = errors_from(exc)
        raise ReportError("; ".join(f"{f}: {m}" for f, m in fields), fields) from None


def _reject_nan(data: Any, path: str) -> None:
    """JSON parsers accept NaN/Infinity literals; refuse them wherever they hide."""
    if isinstance(data, float) and not math.isfinite(data):
        raise ReportError(f"{path or '(body)'}: must be a finite number (not NaN or infinity)",
                          [(path or "(body)", "must be a finite number (not NaN or infinity)")])
    if isinstance(data, dict):
        for key, value in data.items():
            _reject_nan(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _reject_nan(value, f"{path}[{i}]")
