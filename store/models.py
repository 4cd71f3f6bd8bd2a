"""The database schema as GeoAlchemy2 declarative models.

All geometries are SRID 4326.  CGCS2000 (EPSG:4490) differs from WGS84 by centimetres, far
below what grid governance can see, so CGCS2000 data is stored as 4326 without transformation.
Spatial indexes are declared here (``spatial_index=True``) for the models and created
explicitly in the migrations, where the columns use ``spatial_index=False`` so that Alembic does
not create them twice.
"""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geo.catalog import SOURCES as CHANNELS
from onemap.access import USER_ROLES

SRID = 4326

SOURCES = tuple(CHANNELS)  # the one registry of channels (geo.catalog)
SEVERITIES = ("high", "medium", "low")
CAMERA_KINDS = ("xueliang", "cuncuntong", "social")  # 雪亮 / 村村通 / 社会面
CAMERA_STATUSES = ("online", "offline")
# geo.workflow.STATES, repeated here so the schema does not import the workflow (a test checks).
INCIDENT_STATES = ("unlocated", "received", "dispatched", "accepted", "in_progress", "escalated",
                   "returned", "resolved", "rated", "reopened", "closed")
API_KEY_ROLES = ("reporter", "operator")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class Unit(Base):
    """A governance unit at any level (0 = county … deepest = grid); versions keep history."""

    __tablename__ = "unit"
    __table_args__ = (
        CheckConstraint("level >= 0", name="ck_unit_level"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_unit_validity"),
        Index("ux_unit_code_current", "code", unique=True,
              postgresql_where=text("valid_to IS NULL")),
        Index("ix_unit_parent", "parent_id"),
        Index("ix_unit_level", "level"),
        Index("ix_unit_code_valid_from", "code", "valid_from"),  # versions / grid_at (0005)
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[int] = mapped_column(SmallInteger)
    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True),
                         nullable=False)
    area_m2: Mapped[float] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Household(Base):
    __tablename__ = "household"
    __table_args__ = (
        CheckConstraint("size >= 0 AND registered >= 0 AND floating >= 0",
                        name="ck_household_counts"),
        Index("ix_household_grid", "grid_id"),
        Index("ux_household_code", "code", unique=True),
        # plus ix_household_address_key on reverse(onemap_address_key(address)) (migration 0003)
        Index("ix_household_address", "address"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(64))  # 户编码: natural key for re-loads
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    address: Mapped[str] = mapped_column(Text)
    building: Mapped[str | None] = mapped_column(Text)
    room: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    registered: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    floating: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    is_rental: Mapped[bool] = mapped_column(Boolean, server_default="false")
    is_elderly_alone: Mapped[bool] = mapped_column(Boolean, server_default="false")
    is_special_care: Mapped[bool] = mapped_column(Boolean, server_default="false")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    grid_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))


class HouseholdPerson(Base):
    """Personal data, kept apart so only the data layer reaches it (and can audit access)."""

    __tablename__ = "household_person"
    __table_args__ = (Index("ix_household_person_household", "household_id"),
                      Index("ix_household_person_phone_hash", "phone_hash"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    household_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("household.id", ondelete="CASCADE"))
    is_head: Mapped[bool] = mapped_column(Boolean, server_default="false")
    name: Mapped[str] = mapped_column(Text)
    # Sealed with AES-256-GCM by the application (onemap.crypto; key under var/keys), and the
    # phone's keyed hash for lookups (migration 0008).
    phone_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_hash: Mapped[str | None] = mapped_column(String(64))


class Camera(Base):
    __tablename__ = "camera"
    __table_args__ = (
        CheckConstraint(_in("kind", CAMERA_KINDS), name="ck_camera_kind"),
        CheckConstraint(_in("status", CAMERA_STATUSES), name="ck_camera_status"),
        Index("ix_camera_grid", "grid_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="online")
    stream_url: Mapped[str | None] = mapped_column(Text)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    fov_deg: Mapped[float | None] = mapped_column(Float)
    range_m: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))


class Department(Base):
    __tablename__ = "department"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(Text)


class GridWorker(Base):
    __tablename__ = "grid_worker"
    __table_args__ = (Index("ix_grid_worker_grid", "grid_id"),
                      Index("ux_grid_worker_code", "code", unique=True))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    grid_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))
    full_time: Mapped[bool] = mapped_column(Boolean, server_default="true")


class Incident(Base):
    """A report and its handling; the unit ids of every level are frozen at receipt."""

    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_incident_source_external_id"),
        CheckConstraint(_in("source", SOURCES), name="ck_incident_source"),
        CheckConstraint(_in("severity", SEVERITIES), name="ck_incident_severity"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="ck_incident_rating"),
        CheckConstraint(_in("status", INCIDENT_STATES), name="ck_incident_status"),
        CheckConstraint("handling_level IS NULL OR handling_level >= 0",
                        name="ck_incident_level"),
        Index("ux_incident_idempotency_key", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
        Index("ix_incident_updated_at", "updated_at"),
        Index("ix_incident_duplicate_of", "duplicate_of",
              postgresql_where=text("duplicate_of IS NOT NULL")),
        Index("ix_incident_village", "village_id", "received_at"),
        Index("ix_incident_county", "county_id", "received_at"),
        Index("ix_incident_city", "city_id", "received_at",
              postgresql_where=text("city_id IS NOT NULL")),
        Index("ix_incident_status", "status"),
        Index("ix_incident_received_at", "received_at"),
        Index("ix_incident_grid", "grid_id", "received_at"),
        Index("ix_incident_town", "town_id", "received_at"),
        Index("ix_incident_due_open", "due_at", postgresql_where=text("closed_at IS NULL")),
        Index("ix_incident_closed_at", "closed_at",
              postgresql_where=text("closed_at IS NOT NULL")),
        Index("ux_incident_citizen_token", "citizen_token_hash", unique=True,
              postgresql_where=text("citizen_token_hash IS NOT NULL")),
        Index("ix_incident_supervised", "supervised_due",
              postgresql_where=text("supervised_due IS NOT NULL")),
        Index("ix_incident_supervised_open", "received_at", postgresql_where=text(
            "closed_at IS NULL AND supervised_due IS NOT NULL AND duplicate_of IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(Text)
    subcategory: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8), server_default="medium")
    description: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)
    address: Mapped[str | None] = mapped_column(Text)
    location_reason: Mapped[str | None] = mapped_column(String(16))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    status: Mapped[str] = mapped_column(String(32), server_default="received")
    grid_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))
    village_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))
    town_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))
    county_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))
    city_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))
    handling_level: Mapped[int | None] = mapped_column(SmallInteger)
    # the first dispatch and the first 签收 of the history, kept by a trigger on incident_event
    # (migration 0019), for the measures
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    department_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("department.id"))
    grid_worker_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("grid_worker.id"))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("incident.id"))
    # Missed a deadline at some point (for the on-time rate); missed_due_at is the due time the
    # escalation job last acted on, so it acts once per deadline.
    overdue: Mapped[bool] = mapped_column(Boolean, server_default="false")
    missed_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    reporter: Mapped[dict | None] = mapped_column(JSONB)
    media_urls: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    citizen_token_hash: Mapped[str | None] = mapped_column(String(64))  # /r/<token> (0011)
    urged_count: Mapped[int] = mapped_column(SmallInteger, server_default="0")  # 催办 (0012)
    supervised_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # 督办
    support_department_ids: Mapped[list[int]] = mapped_column(  # 协办 departments (0013)
        ARRAY(BigInteger), server_default="{}")


class ApiKey(Base):
    """A channel's API key; only the SHA-256 of the key is stored (keys are random 32 bytes)."""

    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(_in("role", API_KEY_ROLES), name="ck_api_key_role"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16), server_default="reporter")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unit_code: Mapped[str | None] = mapped_column(String(64))  # scope: None = everywhere


class IncidentTally(Base):
    """Sums of the cases per local month, frozen unit of a level and category, kept by
    triggers (migration 0020, :mod:`store.tally`); rows are deltas summed by the readers."""

    __tablename__ = "incident_tally"
    __table_args__ = (
        CheckConstraint("lvl IN ('city', 'county', 'town', 'village', 'grid')",
                        name="incident_tally_lvl_check"),
        Index("ix_incident_tally", "lvl", "month", "unit_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    lvl: Mapped[str] = mapped_column(Text)
    unit_id: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(Text)


for _name in ("n", "located", "resolved", "on_time", *(f"closed_l{k}" for k in range(5)),
              "dispatched", "urged", "rated", "rating_sum", "accepted", "sup_late", "sup_open"):
    IncidentTally.__table__.append_column(
        Column(_name, Integer, nullable=False, server_default="0"))
IncidentTally.__table__.append_column(
    Column("accept_secs", Float, nullable=False, server_default="0"))
IncidentTally.__table__.append_column(
    Column("escalations", Integer, nullable=False, server_default="0"))


class HouseholdTally(Base):
    """Households per grid (0: none) as delta rows kept by triggers (migration 0021)."""

    __tablename__ = "household_tally"
    __table_args__ = (Index("ix_household_tally_grid", "grid_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    grid_id: Mapped[int] = mapped_column(BigInteger)
    n: Mapped[int] = mapped_column(Integer)


class IncidentTallySetting(Base):
    """The zone the tally's months are in, and how far it was last compacted."""

    __tablename__ = "incident_tally_setting"
    __table_args__ = (CheckConstraint("one", name="incident_tally_setting_one_check"),)

    one: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default="true")
    tz: Mapped[str] = mapped_column(Text)
    compacted_to: Mapped[int] = mapped_column(BigInteger, server_default="0")


class IncidentEvent(Base):
    """Append-only history of an incident; a trigger refuses UPDATE and DELETE.  Partitioned
    by month of ``at``."""

    __tablename__ = "incident_event"
    # Partitioned by month of ``at`` (migration 0016, store.partitions): the key holds ``at``,
    # and an action's Idempotency-Key is kept single by the case's row lock, not an index.
    __table_args__ = (Index("ix_incident_event_incident", "incident_id", "at"),
                      Index("ix_incident_event_escalate_at", "at",
                            postgresql_where=text("action = 'escalate'")),
                      Index("ix_incident_event_client_key", "incident_id", "client_key",
                            postgresql_where=text("client_key IS NOT NULL")),
                      {"postgresql_partition_by": "RANGE (at)"})

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incident.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                         primary_key=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Float)  # a check-in's GPS (0013)
    lat: Mapped[float | None] = mapped_column(Float)
    client_key: Mapped[str | None] = mapped_column(String(200))  # Idempotency-Key of an action


class UnitChange(Base):
    """One saved planner edit (append-only log): which grids of a parent were retired, which
    rows replaced them, who saved it, from when it counts, and what moved (``summary``)."""

    __tablename__ = "unit_change"
    __table_args__ = (Index("ix_unit_change_parent_at", "parent_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("unit.id"))
    kind: Mapped[str | None] = mapped_column(Text)
    removed_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    added_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    note: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict | None] = mapped_column(JSONB)


# --- access (#15): accounts, sessions, personal tokens, the audit trail ----------------------

_TS = DateTime(timezone=True)


class AppUser(Base):
    """A person's account: role and home unit (scope), argon2id hash, lockout, TOTP."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint(_in("role", USER_ROLES), name="ck_app_user_role"),
        CheckConstraint("username ~ '^[a-z0-9][a-z0-9_.-]{1,63}$'",
                        name="ck_app_user_username"),
        Index("ux_app_user_username", "username", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(String(64))
    department_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    password_hash: Mapped[str] = mapped_column(Text)
    password_changed_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())
    must_change_password: Mapped[bool] = mapped_column(Boolean, server_default="false")
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(_TS)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    last_login_at: Mapped[datetime | None] = mapped_column(_TS)
    created_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())


class UserSession(Base):
    """A signed-in session (server side); the cookie carries the signed session id."""

    __tablename__ = "user_session"
    __table_args__ = (Index("ix_user_session_user", "user_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())
    second_factor_ok: Mapped[bool] = mapped_column(Boolean, server_default="false")
    ended_at: Mapped[datetime | None] = mapped_column(_TS)
    end_reason: Mapped[str | None] = mapped_column(Text)


class UserToken(Base):
    """A personal API token (shown once, stored as SHA-256), scoped like its user."""

    __tablename__ = "user_token"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(_TS)
    revoked_at: Mapped[datetime | None] = mapped_column(_TS)


class AuditLog(Base):
    """The audit trail: append-only (triggers refuse UPDATE, DELETE, TRUNCATE), each row's
    hash covers the previous row's (migration 0007)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("result IN ('ok', 'denied', 'failed')", name="ck_audit_result"),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(_TS, server_default=text("clock_timestamp()"))
    actor: Mapped[str] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    object_type: Mapped[str | None] = mapped_column(Text)
    object_id: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(8))
    detail: Mapped[dict | None] = mapped_column(JSONB)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class IncidentPhoto(Base):
    """A stored photo of a case: the file is ``<media>/<sha256[:2]>/<sha256>.jpg`` (and
    ``….thumb.jpg``), re-encoded without EXIF; ``taken_at``/``lon``/``lat`` come from the
    EXIF the photo had (migration 0010)."""

    __tablename__ = "incident_photo"
    __table_args__ = (UniqueConstraint("incident_id", "sha256", name="uq_incident_photo_sha"),
                      Index("ix_incident_photo_incident", "incident_id"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incident.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime | None] = mapped_column(_TS)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    uploaded_by: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())


# --- bulk jobs (#18): partitioned work on Dask that a re-run resumes -------------------------


class BulkJob(Base):
    """One bulk job (re-assign households, back-fill incidents' unit ids …): what, with which
    parameters, split into ``parts`` id ranges; finished when every part is."""

    __tablename__ = "bulk_job"
    __table_args__ = (Index("ix_bulk_job_kind_open", "kind",
                            postgresql_where=text("finished_at IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSONB)
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_TS, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(_TS)


class BulkJobPart(Base):
    """One id range of a job.  ``done_at`` is set in the same transaction that writes the
    range's results, so a re-run skips exactly the ranges whose results are stored."""

    __tablename__ = "bulk_job_part"

    job_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("bulk_job.id"),
                                        primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    lo: Mapped[int] = mapped_column(BigInteger)
    hi: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int | None] = mapped_column(Integer)
    changed: Mapped[int | None] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(_TS)
