"""Bulk writes through psycopg 3 COPY: loaders and the demo generator never insert row by row.

Geometries go in as hex EWKB (``shapely.to_wkb(..., hex=True, include_srid=True)``), which
PostGIS parses fastest; the caller's transaction is used, so a failed load leaves nothing.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geo.levels import ALL_COLUMNS


def ewkb_hex(geoms: Sequence[Any] | np.ndarray, srid: int = 4326) -> np.ndarray:
    """Hex EWKB strings for shapely geometries (None stays None), ready for COPY."""
    arr = shapely.set_srid(np.asarray(geoms, dtype=object), srid)
    return shapely.to_wkb(arr, hex=True, include_srid=True)


# --- staging tables and upserts for the importers ------------------------------------------
# Each importer COPYs its clean rows into a temporary staging table, then one INSERT … ON
# CONFLICT per target table merges them on the natural key.  ``xmax = 0`` in RETURNING tells a
# fresh insert from an update; rows whose values did not change are not touched at all, so a
# re-load of the same file reports them as unchanged and writes nothing.

def create_staging(conn: Connection, name: str, columns: Mapping[str, str]) -> str:
    """A temporary table ``name`` (dropped first if a previous load left it in this session)."""
    cols = ", ".join(f"{c} {t}" for c, t in columns.items())
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{name}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({cols}) ON COMMIT DROP")
    return name


def drop_staging(conn: Connection, name: str) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{name}")


def _plain(values: Any) -> list[Any]:
    """A column as a list of Python values with NaN/NaT/pd.NA turned into None (SQL NULL)."""
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind == "f":
        return np.where(np.isfinite(arr), arr, None).tolist()
    if arr.dtype.kind in "iub":
        return arr.tolist()
    out = arr.astype(object)
    missing = np.frompyfunc(lambda v: v is None or v is _NA or v != v, 1, 1)(out).astype(bool)
    if missing.any():
        out = out.copy()
        out[missing] = None
    return out.tolist()


try:  # pandas is always there for the importers, but bulk.py should not need it to import
    from pandas import NA as _NA
except ImportError:  # pragma: no cover
    _NA = object()


def copy_columns(conn: Connection, table: str, columns: Mapping[str, Any],
                 *, chunk: int = 100_000, progress: Callable[[int], None] | None = None) -> int:
    """COPY equal-length column arrays into ``table`` (fast path: native lists, no per-row
    Python objects beyond the tuple); ``progress(n)`` is called after each chunk."""
    names = list(columns)
    data = [_plain(columns[c]) for c in names]
    n = len(data[0]) if data else 0
    driver = conn.connection.driver_connection
    with driver.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
            for start in range(0, n, chunk):
                for row in zip(*(col[start:start + chunk] for col in data), strict=True):
                    copy.write_row(row)
                if progress:
                    progress(min(chunk, n - start))
    return n


def staged_has_null(conn: Connection, staging: str, column: str) -> bool:
    """Whether any staged row lacks ``column`` (decides which merge to run)."""
    return bool(conn.execute(text(
        f"SELECT EXISTS (SELECT 1 FROM {staging} WHERE {column} IS NULL)")).scalar())


def _counts(conn: Connection, sql: str, params: Mapping[str, Any] | None = None
            ) -> tuple[int, int]:
    row = conn.execute(text(sql), dict(params or {})).one()
    return int(row[0] or 0), int(row[1] or 0)


INCIDENT_STAGING = {
    "source": "text", "external_id": "text", "category": "text", "subcategory": "text",
    "severity": "text", "description": "text", "lon": "float8", "lat": "float8",
    "address": "text", "location_reason": "text", "reported_at": "float8",
    "received_at": "float8", "status": "text", "grid_id": "bigint", "village_id": "bigint",
    "town_id": "bigint", "county_id": "bigint", "city_id": "bigint", "due_at": "float8",
    "closed_at": "float8",
    "rating": "smallint", "handling_level": "smallint", "reporter": "jsonb",
}
_INCIDENT_VALUES = [c for c in INCIDENT_STAGING if c not in ("lon", "lat")]
WORKFLOW_COLUMNS = frozenset({"status", "due_at", "closed_at", "rating", "handling_level"})
# The units of every level are frozen at receipt: a re-load moves a case only when its
# location changed (a grid redrawn since then must not be undone, see store.planning).
UNIT_COLUMNS = frozenset(ALL_COLUMNS)


def upsert_incidents(conn: Connection, staging: str, actor: str, *,
                     keep_received: bool = False,
                     duplicates: tuple[float, float, str] | None = None) -> tuple[int, int]:
    """Merge staged incidents on (source, external_id); returns (inserted, updated).

    Times are staged as epoch seconds.  A NULL received_at means "now" for a new incident;
    with ``keep_received`` an existing incident keeps its own (so re-loading a file without
    receipt times changes nothing).  A first insert also appends the 'import' event to the
    incident's history.

    With ``duplicates=(radius_m, window_s, note)`` every new located incident is checked
    against the others like :func:`store.incidents.near_duplicate` checks one report: the
    first case of its category within the radius and window (stored before, or earlier in the
    file) becomes its ``duplicate_of`` and its import event gets ``note`` (``{first}`` → that
    id).  :func:`last_duplicates_marked` tells how many were marked.
    """
    def val(c: str) -> str:
        if c in ("reported_at", "due_at", "closed_at"):
            return f"to_timestamp(s.{c})"
        if c == "received_at":
            old = "i.received_at, " if keep_received else ""
            return f"coalesce(to_timestamp(s.received_at), {old}now())"
        return f"s.{c}"

    cols = ["geom", *_INCIDENT_VALUES]
    select = ", ".join(["CASE WHEN s.lon IS NULL THEN NULL ELSE "
                        "ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) END",
                        *(val(c) for c in _INCIDENT_VALUES)])
    updatable = [c for c in cols if c not in ("source", "external_id")]
    # Once the workflow has acted on a case (any event but import/receive, or the 'reassign'
    # of a grid redraw), its workflow state belongs to the app: a re-loaded file updates the
    # content, not the handling.
    acted = ("EXISTS (SELECT 1 FROM incident_event e WHERE e.incident_id = incident.id "
             "AND e.action NOT IN ('import', 'receive', 'reassign'))")
    same_place = ("(incident.geom IS NOT NULL AND excluded.geom IS NOT NULL "
                  "AND ST_Equals(incident.geom, excluded.geom))")

    def new(c: str) -> str:
        if c in WORKFLOW_COLUMNS:
            return f"CASE WHEN {acted} THEN incident.{c} ELSE excluded.{c} END"
        if c in UNIT_COLUMNS:
            return f"CASE WHEN {same_place} THEN incident.{c} ELSE excluded.{c} END"
        return f"excluded.{c}"

    sets = ", ".join(f"{c} = {new(c)}" for c in updatable)
    changed = " OR ".join(f"incident.{c} IS DISTINCT FROM {new(c)}" for c in updatable)
    join = ("LEFT JOIN incident i ON i.source = s.source AND i.external_id = s.external_id"
            if keep_received else "")
    sql = f"""
        WITH up AS (
            INSERT INTO incident ({', '.join(cols)})
            SELECT {select} FROM {staging} s {join}
            ON CONFLICT (source, external_id) DO UPDATE SET {sets} WHERE {changed}
            RETURNING id, status, category, ST_X(geom) AS lon, ST_Y(geom) AS lat,
                      extract(epoch FROM received_at) AS t, (xmax = 0) AS inserted
        ), fresh AS (
            INSERT INTO _new_incident (id, status, category, lon, lat, t)
            SELECT id, status, category, lon, lat, t FROM up WHERE inserted
            RETURNING 1
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
    """
    conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS _new_incident (id bigint, "
                      "status text, category text, lon float8, lat float8, t float8, "
                      "first bigint) ON COMMIT DROP"))
    conn.execute(text("TRUNCATE _new_incident"))
    counts = _counts(conn, sql)
    if counts[0] <= SMALL_LOAD:  # the GiST probes look new ids up one by one
        conn.execute(text("CREATE INDEX IF NOT EXISTS _new_incident_id ON _new_incident (id)"))
    conn.execute(text("ANALYZE _new_incident"))
    conn.info["onemap_duplicates_marked"] = 0
    head = tail = ""
    if duplicates is not None and counts[0]:
        radius_m, window_s, note = duplicates
        conn.info["onemap_duplicates_marked"] = _mark_near_duplicates(conn, radius_m, window_s)
        head, _, tail = note.partition("{first}")
    # The history is append-only: each new case's import event is written once, with the
    # near-duplicate note when it has one (as the API's receive event).
    conn.execute(text("""
        INSERT INTO incident_event (incident_id, actor, action, to_status, note)
        SELECT n.id, :actor, 'import', n.status,
               CASE WHEN n.first IS NOT NULL THEN :head || n.first::text || :tail END
        FROM _new_incident n"""), {"actor": actor, "head": head, "tail": tail})
    return counts


def last_duplicates_marked(conn: Connection) -> int:
    """How many incidents the last :func:`upsert_incidents` on ``conn`` marked as
    near-duplicates."""
    return int(conn.info.get("onemap_duplicates_marked", 0))


SMALL_LOAD = 5_000  # up to this many new cases, stored candidates are fetched by GiST probes


def _mark_near_duplicates(conn: Connection, radius_m: float, window_s: float) -> int:
    """Link each new incident (``_new_incident``) to the first near one of its category
    (:func:`geo.duplicates.first_reports`); returns how many were linked."""
    from geo.duplicates import Reports, first_reports

    new = _reports(conn, "SELECT id, category, lon, lat, t, -1 FROM _new_incident "
                         "WHERE lon IS NOT NULL", {})
    if not len(new["id"]):
        return 0
    deg = radius_m / 111_320.0 * 2  # generous box for the index; the exact test follows
    columns = """o.id, o.category, ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat,
                 extract(epoch FROM o.received_at) AS t, coalesce(o.duplicate_of, -1)"""
    not_new = "NOT EXISTS (SELECT 1 FROM _new_incident k WHERE k.id = o.id)"
    if len(new["id"]) <= SMALL_LOAD:
        # As in store.incidents.near_duplicate: each probe starts from the few incidents in
        # a small box (GiST, fenced by OFFSET 0), not from everything received in the window.
        stored = _reports(conn, f"""
            SELECT DISTINCT {columns.replace('o.', 'near.')} FROM _new_incident n
            JOIN incident x ON x.id = n.id
            CROSS JOIN LATERAL (
                SELECT o.id, o.category, o.geom, o.received_at, o.duplicate_of FROM incident o
                WHERE o.geom && ST_Expand(x.geom, :deg) OFFSET 0) near
            WHERE x.geom IS NOT NULL AND near.category = x.category
              AND near.received_at BETWEEN x.received_at - make_interval(secs => :w)
                                       AND x.received_at + make_interval(secs => :w)
              AND {not_new.replace('o.id', 'near.id')}""", {"deg": deg, "w": window_s})
    else:  # a large load: every stored case in its box and time span, in one scan
        stored = _reports(conn, f"""
            SELECT {columns} FROM incident o
            WHERE o.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
              AND o.received_at BETWEEN to_timestamp(:t0) AND to_timestamp(:t1)
              AND o.category = ANY(:cats)""",
            {"x0": float(new["lon"].min()) - deg, "y0": float(new["lat"].min()) - deg,
             "x1": float(new["lon"].max()) + deg, "y1": float(new["lat"].max()) + deg,
             "t0": float(new["t"].min()) - window_s, "t1": float(new["t"].max()) + window_s,
             "cats": sorted(set(new["category"].tolist()))})
        stored = {k: v[~np.isin(stored["id"], new["id"])] for k, v in stored.items()}
    first = first_reports(Reports(**{k: v for k, v in new.items() if k != "duplicate_of"}),
                          Reports(**stored), radius_m, window_s)
    marked = first >= 0
    if marked.any():
        params = {"ids": new["id"][marked].tolist(), "firsts": first[marked].tolist()}
        for table in ("incident", "_new_incident"):
            column = "duplicate_of" if table == "incident" else "first"
            conn.execute(text(f"""
                UPDATE {table} i SET {column} = v.first
                FROM unnest(CAST(:ids AS bigint[]), CAST(:firsts AS bigint[])) AS v(id, first)
                WHERE i.id = v.id AND i.id = ANY(CAST(:ids AS bigint[]))"""), params)
    return int(marked.sum())


def _reports(conn: Connection, sql: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Rows of (id, category, lon, lat, t, duplicate_of) as arrays."""
    rows = conn.execute(text(sql), params).all()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    return {"id": np.asarray(cols[0], dtype=np.int64),
            "category": np.asarray(cols[1], dtype=object),
            "lon": np.asarray(cols[2], dtype=float), "lat": np.asarray(cols[3], dtype=float),
            "t": np.asarray(cols[4], dtype=float),
            "duplicate_of": np.asarray(cols[5], dtype=np.int64)}


HOUSEHOLD_STAGING = {
    "code": "text", "lon": "float8", "lat": "float8", "address": "text", "building": "text",
    "room": "text", "size": "smallint", "registered": "smallint", "floating": "smallint",
    "is_rental": "boolean", "is_elderly_alone": "boolean", "is_special_care": "boolean",
    "tags": "text[]", "grid_id": "bigint",
    "head_name": "text", "head_phone_sealed": "bytea", "head_id_number_sealed": "bytea",
    "head_phone_hash": "text",
}
_HOUSEHOLD_VALUES = ["address", "building", "room", "size", "registered", "floating",
                     "is_rental", "is_elderly_alone", "is_special_care", "tags", "grid_id"]


def upsert_households(conn: Connection, staging: str) -> tuple[int, int]:
    """Merge staged households on code; replace the head person of households that have one
    in the file.  Personal data goes to household_person only.  Returns (inserted, updated)."""
    inserted, updated = _merge_points_on_code(conn, "household", staging, _HOUSEHOLD_VALUES)
    conn.execute(text(f"""
        DELETE FROM household_person p USING household h, {staging} s
        WHERE p.household_id = h.id AND h.code = s.code AND p.is_head
          AND s.head_name IS NOT NULL"""))
    conn.execute(text(f"""
        INSERT INTO household_person (household_id, is_head, name, phone_sealed,
                                      id_number_sealed, phone_hash)
        SELECT h.id, true, s.head_name, s.head_phone_sealed, s.head_id_number_sealed,
               s.head_phone_hash
        FROM {staging} s JOIN household h ON h.code = s.code
        WHERE s.head_name IS NOT NULL"""))
    return inserted, updated


CAMERA_STAGING = {
    "code": "text", "name": "text", "lon": "float8", "lat": "float8", "kind": "text",
    "status": "text", "stream_url": "text", "heading_deg": "float8", "fov_deg": "float8",
    "range_m": "float8", "grid_id": "bigint",
}
_CAMERA_VALUES = ["name", "kind", "status", "stream_url", "heading_deg", "fov_deg", "range_m",
                  "grid_id"]


def upsert_cameras(conn: Connection, staging: str) -> tuple[int, int]:
    """Merge staged cameras on code; returns (inserted, updated)."""
    return _merge_points_on_code(conn, "camera", staging, _CAMERA_VALUES)


def _merge_points_on_code(conn: Connection, table: str, staging: str,
                          values: list[str]) -> tuple[int, int]:
    """INSERT … ON CONFLICT (code) for point tables staged with lon/lat; rows whose values
    did not change are left alone, so a re-load counts them as unchanged."""
    cols = ["code", "geom", *values]
    select = ", ".join(["s.code", "ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)",
                        *(f"s.{c}" for c in values)])
    updatable = cols[1:]
    sets = ", ".join(f"{c} = excluded.{c}" for c in updatable)
    changed = " OR ".join(f"{table}.{c} IS DISTINCT FROM excluded.{c}" for c in updatable)
    return _counts(conn, f"""
        WITH up AS (
            INSERT INTO {table} ({', '.join(cols)})
            SELECT {select} FROM {staging} s
            ON CONFLICT (code) DO UPDATE SET {sets} WHERE {changed}
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
    """)


# --- units ---------------------------------------------------------------------------------
UNIT_STAGING = {"code": "text", "name": "text", "level": "smallint", "parent_code": "text",
                "geom": "geometry", "area_m2": "float8"}


def update_units_in_place(conn: Connection, staging: str, level: int) -> int:
    """Overwrite name, parent, geometry and area of current units whose code is staged.

    Interim behaviour: the planner issue replaces this with versioning (close the current
    row with valid_to, insert the new version), so keep every in-place update here.
    """
    return conn.execute(text(f"""
        UPDATE unit u SET name = s.name, level = s.level, geom = ST_Multi(s.geom),
               area_m2 = s.area_m2, parent_id = p.id
        FROM {staging} s LEFT JOIN unit p ON p.code = s.parent_code AND p.valid_to IS NULL
        WHERE u.code = s.code AND u.valid_to IS NULL AND s.level = :level
          AND (u.name IS DISTINCT FROM s.name OR u.parent_id IS DISTINCT FROM p.id
               OR u.level IS DISTINCT FROM s.level
               OR NOT ST_Equals(u.geom, ST_Multi(s.geom)))
    """), {"level": level}).rowcount


def insert_new_units(conn: Connection, staging: str, level: int) -> int:
    """Insert staged units of ``level`` whose code has no current unit (parents resolved by
    code, so call level by level from the top)."""
    return conn.execute(text(f"""
        INSERT INTO unit (code, name, level, parent_id, geom, area_m2)
        SELECT s.code, s.name, s.level, p.id, ST_Multi(s.geom), s.area_m2
        FROM {staging} s LEFT JOIN unit p ON p.code = s.parent_code AND p.valid_to IS NULL
        WHERE s.level = :level
          AND NOT EXISTS (SELECT 1 FROM unit u WHERE u.code = s.code AND u.valid_to IS NULL)
    """), {"level": level}).rowcount


def upsert_units(conn: Connection, staging: str, levels: Iterable[int]) -> tuple[int, int]:
    """Insert new units and update existing ones, top level first; (inserted, updated)."""
    inserted = updated = 0
    for level in sorted(set(levels)):
        updated += update_units_in_place(conn, staging, level)
        inserted += insert_new_units(conn, staging, level)
    return inserted, updated


# --- whole frames: the fast path for generated demo data -------------------------------
CHUNK_ROWS = 200_000


def _timestamps_as_text(column: pd.Series) -> np.ndarray:
    """A datetime column as ISO text for COPY (None for NaT): aware ones in UTC with ``+00``.

    pandas formats timestamps one by one in Python (most of a demo load's client time);
    numpy's ``datetime_as_string`` does the whole column in C, to the same instants.
    """
    if column.dt.tz is not None:
        values = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        out = np.char.add(np.datetime_as_string(values, unit="us"), "+00").astype(object)
    else:
        values = column.to_numpy()
        out = np.datetime_as_string(values, unit="us").astype(object)
    out[np.isnat(values)] = None
    return out


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    dated = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    if not dated:
        return frame
    return frame.assign(**{c: _timestamps_as_text(frame[c]) for c in dated})


def copy_frame(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` (columns named as the table's) into ``table``; None/NaN become NULL.

    Array columns must already be PostgreSQL array literals (e.g. ``"{a,b}"``) and geometry
    columns hex EWKB (`store.bulk.ewkb_hex`).
    """
    if frame.empty:
        return 0
    driver = conn.connection.driver_connection
    columns = ", ".join(frame.columns)
    with driver.cursor() as cur:
        with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
                      ) as copy:
            for start in range(0, len(frame), CHUNK_ROWS):
                buffer = io.StringIO()
                chunk = _csv_ready(frame.iloc[start:start + CHUNK_ROWS])
                chunk.to_csv(buffer, header=False, index=False, na_rep="\\N")
                copy.write(buffer.getvalue())
    return len(frame)


def reserve_ids(conn: Connection, table: str, n: int) -> int:
    """Reserve ``n`` consecutive ids of ``table``'s id sequence; returns the first.

    Lets a loader COPY parents and children with their keys known in advance.
    """
    seq = conn.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
    first = int(conn.scalar(text("SELECT nextval(:s)"), {"s": seq}))
    if n > 1:
        conn.execute(text("SELECT setval(:s, :v)"), {"s": seq, "v": first + n - 1})
    return first
