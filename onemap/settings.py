"""Settings: one documented registry, read from the environment and an optional YAML file.

Every setting has an environment variable, a default and a line of documentation; the README's
configuration table is checked against :data:`REGISTRY` by a test, so a setting cannot be
added without being documented.  Settings are read when :func:`load_settings` is called and
passed explicitly (``create_app(settings)``) — never read at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from onemap.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]

DEFAULT_LEVEL_NAMES = ("县(市/区/旗)", "乡镇(街道)", "村(社区)", "网格")
DEFAULT_LEVELS = "county,town,village,grid"
#: the two level sets a deployment may have (``ONEMAP_LEVELS``)
LEVEL_SETS: tuple[tuple[str, ...], ...] = (("county", "town", "village", "grid"),
                                            ("city", "county", "town", "village", "grid"))


@dataclass(frozen=True)
class Setting:
    """One entry of the registry: the field name, its environment variable and its meaning."""

    field: str
    env: str
    default: Any
    doc: str
    parse: Callable[[str], Any] = str


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise ValueError(f"{port} is not a TCP port (1-65535)")
    return port


def _names(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    if not names:
        raise ValueError("give at least one level name, separated by commas")
    return names


def parse_levels(value: str) -> tuple[str, ...]:
    """'county,town,village,grid' or 'city,county,town,village,grid' → the level keys."""
    keys = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    if keys not in LEVEL_SETS:
        raise ValueError(f"{value!r} is not a level set; use "
                         + " or ".join(",".join(k) for k in LEVEL_SETS))
    return keys


def _lang(value: str) -> str:
    if value not in ("zh", "en"):
        raise ValueError(f"{value!r} is not a supported language (zh or en)")
    return value


def _datum(value: str) -> str:
    if value not in ("wgs84", "gcj02"):
        raise ValueError(f"{value!r} is not a basemap datum (wgs84 or gcj02)")
    return value


def _bool(value: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not a yes/no value (true or false)")


def _positive(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError(f"{value!r} must be a number ≥ 0")
    return number


def _day_rules(value: str) -> tuple[tuple[str, int], ...]:
    """'3:0,2:3,1:5,0:7' or 'high:1,medium:3,low:7' → ((key, days), …)."""
    out = []
    for part in value.split(","):
        key, sep, days = part.partition(":")
        if not sep or not key.strip() or not days.strip().isdigit():
            raise ValueError(f"{part!r} is not key:days (e.g. 3:0 or high:1)")
        out.append((key.strip(), int(days)))
    return tuple(out)


def _band(value: str) -> tuple[int, int]:
    """'300-500' → (300, 500): a target range of households per grid."""
    low, sep, high = value.replace("–", "-").partition("-")
    if not sep:
        raise ValueError(f"{value!r} is not a range; write it as LOW-HIGH, e.g. 300-500")
    band = (int(low), int(high))
    if not 0 <= band[0] < band[1]:
        raise ValueError(f"{value!r}: LOW must be ≥ 0 and below HIGH")
    return band


def _retention(value: str) -> int:
    days = int(value)
    if days < 180:
        raise ValueError("the audit trail must be kept at least 180 days (等保 2.0: 6 months)")
    return days


def _live(value: str) -> str:
    if value not in ("notify", "poll"):
        raise ValueError(f"{value!r} is not notify or poll")
    return value


def _optional_path(value: str) -> Path | None:
    return Path(value).expanduser() if value else None


REGISTRY: tuple[Setting, ...] = (
    Setting("database_url", "DATABASE_URL", "",
            "PostGIS to use, e.g. postgresql+psycopg://user:pw@host:5432/onemap. "
            "Empty: OneMap runs its own cluster under var/pg (the embedded default)."),
    Setting("var_dir", "ONEMAP_VAR_DIR", str(PROJECT_ROOT / "var"),
            "Where the embedded cluster, logs and pid files live.", lambda v: v),
    Setting("pg_port", "ONEMAP_PG_PORT", 54329,
            "Port of the embedded PostgreSQL cluster (listens on 127.0.0.1 only).", _port),
    Setting("pg_bindir", "ONEMAP_PG_BINDIR", "",
            "Directory holding initdb/pg_ctl/postgres, when they are not found by themselves."),
    Setting("db_name", "ONEMAP_DB_NAME", "onemap",
            "Database name in the embedded cluster."),
    Setting("test_db_name", "ONEMAP_TEST_DB_NAME", "onemap_test",
            "Database created fresh for each `make test` run (on the same server)."),
    Setting("host", "ONEMAP_HOST", "127.0.0.1", "Address the dashboard listens on."),
    Setting("port", "ONEMAP_PORT", 8050, "Port the dashboard listens on.", _port),
    Setting("workers", "ONEMAP_WORKERS", 2, "Number of web server (gunicorn) workers.", int),
    Setting("preload", "ONEMAP_PRELOAD", True,
            "Warm the caches (boundaries, unit tree, assignment engine) once in the server's "
            "master before it listens and forks its workers, which share them; off: each "
            "worker warms its own in the background after it starts.", _bool),
    Setting("timezone", "ONEMAP_TIMEZONE", "Asia/Shanghai",
            "Time zone for local days and deadlines (times are stored as timestamptz)."),
    Setting("lang", "ONEMAP_LANG", "zh", "Default interface language: zh or en.", _lang),
    Setting("levels", "ONEMAP_LEVELS", tuple(DEFAULT_LEVELS.split(",")),
            "The unit levels from the top down: county,town,village,grid, or "
            "city,county,town,village,grid for a city (市) above its districts and counties. "
            "Fixed for a deployment and read from the environment only, when a process starts.",
            parse_levels),
    Setting("level_names", "ONEMAP_LEVEL_NAMES", (),
            "Names of the unit levels from the top down, separated by commas. Empty: "
            "市(州), 县(市/区/旗), 乡镇(街道), 村(社区), 网格 for the levels the deployment has.",
            _names),
    Setting("basemap_url", "ONEMAP_BASEMAP_URL", "",
            "Tile URL template ({z}/{x}/{y}) for the basemap. Empty: a plain background, "
            "no request leaves the machine."),
    Setting("basemap_attribution", "ONEMAP_BASEMAP_ATTRIBUTION", "",
            "Attribution text shown for the basemap."),
    Setting("basemap_datum", "ONEMAP_BASEMAP_DATUM", "wgs84",
            "Datum of the basemap tiles: wgs84 or gcj02 (Amap-style tiles).", _datum),
    Setting("demo_region", "ONEMAP_DEMO_REGION", "yumen",
            "Demo data `make run` loads into an empty database: yumen, donghai, etuoke, "
            "chengguan, all, or sample (a few rectangles)."),
    Setting("level_deadline_days", "ONEMAP_LEVEL_DEADLINE_DAYS",
            "grid:0,village:3,town:5,county:7,city:10",
            "Days allowed per handling level, by key (or by depth, 0 the top); 0 means by the "
            "end of the same local day. A key of a level the deployment lacks is ignored.",
            _day_rules),
    Setting("severity_deadline_days", "ONEMAP_SEVERITY_DEADLINE_DAYS", "high:1,medium:3,low:7",
            "Days allowed per risk level; the stricter of the two deadlines applies.",
            _day_rules),
    Setting("working_days", "ONEMAP_WORKING_DAYS", False,
            "Count deadline days as working days (Chinese holidays and 调休 make-up days from "
            "data/calendar/cn_workdays.csv) instead of calendar days.", _bool),
    Setting("snap_m", "ONEMAP_SNAP_M", 50.0,
            "Reports and points up to this many metres outside every grid are placed in the "
            "nearest grid (marked snapped); farther ones stay unlocated.", _positive),
    Setting("duplicate_radius_m", "ONEMAP_DUPLICATE_RADIUS_M", 50.0,
            "Near-duplicates: reports of one category within this many metres (and "
            "ONEMAP_DUPLICATE_HOURS) are stored and linked to the first.", _positive),
    Setting("duplicate_hours", "ONEMAP_DUPLICATE_HOURS", 24.0,
            "Near-duplicates: the time window in hours (with ONEMAP_DUPLICATE_RADIUS_M).",
            _positive),
    Setting("escalate_every_s", "ONEMAP_ESCALATE_EVERY", 60.0,
            "Seconds between runs of the in-process escalation job; 0 turns it off (then run "
            "`onemap escalate` from cron).", _positive),
    Setting("grid_households_urban", "ONEMAP_GRID_HOUSEHOLDS_URBAN", "300-500",
            "Target households per grid in communities (社区/居委会): the planner flags "
            "grids outside this range.", _band),
    Setting("grid_households_rural", "ONEMAP_GRID_HOUSEHOLDS_RURAL", "100-800",
            "Target households per grid in villages (wider: hamlets are far apart).", _band),
    Setting("db_app_role", "ONEMAP_DB_APP_ROLE", "onemap_app",
            "PostgreSQL role the web app acts as (SET ROLE): row-level security applies to "
            "it, so a query without the request's scope returns no rows. Empty: the "
            "connecting user (only for debugging).", lambda v: v),
    Setting("session_idle_min", "ONEMAP_SESSION_IDLE_MIN", 30.0,
            "Minutes without a request after which a signed-in session ends.", _positive),
    Setting("session_max_hours", "ONEMAP_SESSION_MAX_HOURS", 12.0,
            "Hours after signing in at which a session ends however active it is.", _positive),
    Setting("password_max_age_days", "ONEMAP_PASSWORD_MAX_AGE_DAYS", 90,
            "Days after which a password must be changed at the next sign-in.", int),
    Setting("lockout_failures", "ONEMAP_LOCKOUT_FAILURES", 5,
            "Failed sign-ins in a row that lock an account.", int),
    Setting("lockout_min", "ONEMAP_LOCKOUT_MIN", 15.0,
            "Minutes an account stays locked after too many failed sign-ins.", _positive),
    Setting("login_rate", "ONEMAP_LOGIN_RATE", "20 per minute",
            "Sign-in attempts allowed per client address (Flask-Limiter syntax)."),
    Setting("audit_retention_days", "ONEMAP_AUDIT_RETENTION_DAYS", 180,
            "Days the audit trail is kept; less than 180 is refused.", _retention),
    Setting("tls_cert", "ONEMAP_TLS_CERT", "",
            "Certificate file (PEM): with ONEMAP_TLS_KEY, `onemap serve` speaks HTTPS and "
            "sends HSTS; session cookies are then Secure."),
    Setting("tls_key", "ONEMAP_TLS_KEY", "", "Private key file (PEM) for ONEMAP_TLS_CERT."),
    Setting("media_dir", "ONEMAP_MEDIA_DIR", "",
            "Where case photos are stored (named by content hash). Empty: var/media.",
            lambda v: v),
    Setting("photo_max_mb", "ONEMAP_PHOTO_MAX_MB", 10.0,
            "Largest photo accepted, in megabytes.", _positive),
    Setting("jurisdiction_id", "ONEMAP_JURISDICTION_ID", "",
            "Open311 jurisdiction_id this server answers to. Empty: the code of any top "
            "unit (e.g. 620981); another value is refused (404).", lambda v: v.strip()),
    Setting("backup_dir", "ONEMAP_BACKUP_DIR", "",
            "Where `onemap db backup` keeps base backups and the WAL archive. Empty: "
            "var/backups.", lambda v: v),
    Setting("replica_url", "DATABASE_REPLICA_URL", "",
            "A read-only standby for the wall's aggregates and layers, the monthly report "
            "and exports (`onemap db replica up` makes one; `onemap db replica url` prints "
            "it). Empty: everything reads the primary.", lambda v: v.strip()),
    Setting("replica_max_lag_s", "ONEMAP_REPLICA_MAX_LAG_S", 30.0,
            "When the standby is further behind than this (seconds), reads go to the primary.",
            _positive),
    Setting("live_updates", "ONEMAP_LIVE_UPDATES", "notify",
            "How walls learn of new and changed cases: notify (PostgreSQL LISTEN/NOTIFY; a "
            "wall reads the database only when its units changed) or poll (every wall reads "
            "it every tick).", _live),
    Setting("proxy_hops", "ONEMAP_PROXY_HOPS", 0,
            "How many reverse proxies (nginx) stand in front of the app: their X-Forwarded-For/"
            "-Proto/-Host are trusted that many hops deep (client address for sign-in limits "
            "and the audit trail, https for Secure cookies). 0: none; `onemap proxy up` sets 1.",
            int),
    Setting("config_file", "ONEMAP_CONFIG", "",
            "Optional YAML file with any of these settings (keys are the lower-case names "
            "without ONEMAP_, e.g. pg_port: 54330); environment variables win.",
            _optional_path),
)


@dataclass(frozen=True)
class Settings:
    """The project's configuration, immutable once loaded."""

    database_url: str = ""
    var_dir: str = str(PROJECT_ROOT / "var")
    pg_port: int = 54329
    pg_bindir: str = ""
    db_name: str = "onemap"
    test_db_name: str = "onemap_test"
    host: str = "127.0.0.1"
    port: int = 8050
    workers: int = 2
    preload: bool = True
    timezone: str = "Asia/Shanghai"
    lang: str = "zh"
    levels: tuple[str, ...] = tuple(DEFAULT_LEVELS.split(","))
    level_names: tuple[str, ...] = ()
    basemap_url: str = ""
    basemap_attribution: str = ""
    basemap_datum: str = "wgs84"
    demo_region: str = "yumen"
    level_deadline_days: tuple[tuple[str, int], ...] = (("grid", 0), ("village", 3), ("town", 5),
                                                         ("county", 7), ("city", 10))
    severity_deadline_days: tuple[tuple[str, int], ...] = (("high", 1), ("medium", 3),
                                                            ("low", 7))
    working_days: bool = False
    snap_m: float = 50.0
    duplicate_radius_m: float = 50.0
    duplicate_hours: float = 24.0
    escalate_every_s: float = 60.0
    grid_households_urban: tuple[int, int] = (300, 500)
    grid_households_rural: tuple[int, int] = (100, 800)
    db_app_role: str = "onemap_app"
    session_idle_min: float = 30.0
    session_max_hours: float = 12.0
    password_max_age_days: int = 90
    lockout_failures: int = 5
    lockout_min: float = 15.0
    login_rate: str = "20 per minute"
    audit_retention_days: int = 180
    tls_cert: str = ""
    tls_key: str = ""
    media_dir: str = ""
    photo_max_mb: float = 10.0
    jurisdiction_id: str = ""
    backup_dir: str = ""
    replica_url: str = ""
    replica_max_lag_s: float = 30.0
    live_updates: str = "notify"
    proxy_hops: int = 0
    config_file: Path | None = None

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)

    @property
    def media_path(self) -> Path:
        """Where case photos live (``ONEMAP_MEDIA_DIR``, else ``var/media``)."""
        return Path(self.media_dir) if self.media_dir else self.var_path / "media"

    @property
    def backup_path(self) -> Path:
        """Base backups and the WAL archive (``ONEMAP_BACKUP_DIR``, else ``var/backups``)."""
        return Path(self.backup_dir) if self.backup_dir else self.var_path / "backups"

    @property
    def embedded(self) -> bool:
        """True when OneMap manages its own PostgreSQL cluster (no DATABASE_URL given)."""
        return not self.database_url

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _yaml_values(path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - pyyaml is a dependency
        raise ConfigError("Reading ONEMAP_CONFIG needs PyYAML: pip install pyyaml") from exc
    if not path.is_file():
        raise ConfigError(f"ONEMAP_CONFIG points to {path}, which is not a file.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of setting: value.")
    if "levels" in data:
        raise ConfigError(f"{path}: levels is read from the environment only "
                          "(ONEMAP_LEVELS), when a process starts; remove it from the file.")
    known = {s.field for s in REGISTRY}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}.")
    return {k: ("" if v is None else v) for k, v in data.items()}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from defaults, then the YAML file, then the environment."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    config_file = env.get("ONEMAP_CONFIG", "")
    if config_file:
        raw.update(_yaml_values(Path(config_file).expanduser()))
    for setting in REGISTRY:
        if setting.env in env and env[setting.env] != "":
            raw[setting.field] = env[setting.env]
    values: dict[str, Any] = {}
    for setting in REGISTRY:
        if setting.field not in raw:
            continue
        value = raw[setting.field]
        try:
            values[setting.field] = setting.parse(str(value)) if not isinstance(
                value, (list, tuple)) else setting.parse(",".join(map(str, value)))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{setting.env}={value!r} is not usable: {exc}") from exc
    known = {f.name for f in fields(Settings)}
    assert known == {s.field for s in REGISTRY}, "Settings and REGISTRY disagree"
    return Settings(**values)
