"""Access (#15): accounts, sessions, personal tokens, the audit trail (append-only, hash
chained), scoped API keys, and the database's own wall — the application role and row-level
security on the tables that hold cases and people.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from onemap.access import USER_ROLES

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APP_ROLE = "onemap_app"
TS = sa.DateTime(timezone=True)

# Row-level security: the scope is read from the transaction's settings (store.scope).
# Subqueries of the form (SELECT f()) are evaluated once per query (an InitPlan), so a row
# costs a few comparisons: a case is matched on the frozen unit id of each level against the
# actor's home units (a handful of ids); rows bound to a grid by a hashed lookup in the
# home units' subtree.
_HOMES = "((SELECT onemap_scope_homes())::bigint[])"
_PLACED = ("(SELECT onemap_scope_all()) OR {col} IN (SELECT unnest(onemap_scope_units()))")
POLICIES = {
    "incident": (
        "((SELECT onemap_scope_department()) IS NULL "
        " OR department_id = (SELECT onemap_scope_department())) AND ("
        "(SELECT onemap_scope_all()) "
        f"OR county_id = ANY {_HOMES} OR town_id = ANY {_HOMES} "
        f"OR village_id = ANY {_HOMES} OR grid_id = ANY {_HOMES} "
        "OR (coalesce(grid_id, village_id, town_id, county_id) IS NULL "
        "    AND (SELECT onemap_scope_unlocated())))"),
    "incident_event": ("(SELECT onemap_scope_all()) OR "
                       "EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_event.incident_id)"),
    "household": _PLACED.format(col="grid_id"),
    "household_person": (
        "(SELECT onemap_scope_all()) OR "
        "EXISTS (SELECT 1 FROM household h WHERE h.id = household_person.household_id)"),
    "grid_worker": _PLACED.format(col="grid_id"),
    "camera": _PLACED.format(col="grid_id"),
}


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("unit_code", sa.String(64)),
        sa.Column("department_id", sa.BigInteger, sa.ForeignKey("department.id")),
        sa.Column("active", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("password_changed_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("must_change_password", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", TS),
        sa.Column("totp_secret", sa.LargeBinary),  # AES-GCM sealed (store.crypto)
        sa.Column("totp_enabled", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("last_login_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"role IN ({', '.join(repr(r) for r in USER_ROLES)})",
                           name="ck_app_user_role"),
        sa.CheckConstraint("username ~ '^[a-z0-9][a-z0-9_.-]{1,63}$'",
                           name="ck_app_user_username"),
    )
    op.create_index("ux_app_user_username", "app_user", ["username"], unique=True)

    op.create_table(
        "user_session",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("sid_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("last_seen_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("second_factor_ok", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("ended_at", TS),
        sa.Column("end_reason", sa.Text),
    )
    op.create_index("ix_user_session_user", "user_session", ["user_id"])

    op.create_table(
        "user_token",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.add_column("api_key", sa.Column("unit_code", sa.String(64)))

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("at", TS, nullable=False, server_default=sa.text("clock_timestamp()")),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.Text),
        sa.Column("address", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("object_type", sa.Text),
        sa.Column("object_id", sa.Text),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("detail", postgresql.JSONB),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("result IN ('ok', 'denied', 'failed')", name="ck_audit_result"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    op.execute("""
        CREATE FUNCTION onemap_audit_hash(prev text, a audit_log) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$
          SELECT encode(sha256(convert_to(concat_ws(E'\\x1f', prev, a.id::text,
            to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), a.actor,
            coalesce(a.role, ''), coalesce(a.address, ''), a.action,
            coalesce(a.object_type, ''), coalesce(a.object_id, ''), a.result,
            coalesce(a.detail::text, '')), 'UTF8')), 'hex') $$;
        CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- One writer at a time, so id order is chain order.
          PERFORM pg_advisory_xact_lock(hashtext('onemap.audit_log'));
          NEW.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
          NEW.at := clock_timestamp();
          NEW.prev_hash := coalesce(
            (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), repeat('0', 64));
          NEW.hash := onemap_audit_hash(NEW.prev_hash, NEW);
          RETURN NEW;
        END $$;
        CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
    """)

    # The scope functions the policies call.
    op.execute("""
        CREATE FUNCTION onemap_scope_all() RETURNS boolean LANGUAGE sql STABLE AS $$
          SELECT coalesce(current_setting('onemap.scope', true), '') = 'all' $$;
        CREATE FUNCTION onemap_scope_unlocated() RETURNS boolean LANGUAGE sql STABLE AS $$
          SELECT coalesce(current_setting('onemap.unlocated', true), '') = 'on' $$;
        CREATE FUNCTION onemap_scope_department() RETURNS bigint LANGUAGE sql STABLE AS $$
          SELECT nullif(current_setting('onemap.department', true), '')::bigint $$;
        CREATE FUNCTION onemap_scope_homes() RETURNS bigint[] LANGUAGE sql STABLE AS $$
          SELECT coalesce(array_agg(x::bigint), '{}') FROM unnest(string_to_array(
            coalesce(current_setting('onemap.scope', true), ''), ',')) AS x
          WHERE x ~ '^[0-9]{1,18}$' $$;
        CREATE FUNCTION onemap_scope_units() RETURNS bigint[] LANGUAGE sql STABLE AS $$
          WITH RECURSIVE tree(id) AS (
            SELECT u.id FROM unit u WHERE u.id = ANY (onemap_scope_homes())
            UNION
            SELECT c.id FROM unit c JOIN tree t ON c.parent_id = t.id)
          SELECT coalesce(array_agg(id), '{}') FROM tree $$;
    """)

    # The application's role: no superuser, no BYPASSRLS, not the owner — so the policies
    # apply to it.  The migrating user becomes a member so its connections may SET ROLE.
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
          END IF;
        END $$;
        DO $$ BEGIN
          IF current_user <> '{APP_ROLE}' AND NOT pg_has_role(current_user, '{APP_ROLE}',
                                                              'MEMBER') THEN
            EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
          END IF;
        END $$;
        GRANT USAGE ON SCHEMA public TO {APP_ROLE};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
        REVOKE UPDATE, DELETE ON audit_log FROM {APP_ROLE};
        REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {APP_ROLE};
        GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
          GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
          GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE};
    """)
    for table, rule in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY onemap_scope ON {table} USING ({rule}) WITH CHECK ({rule})")


def downgrade() -> None:
    for table in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS onemap_scope ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for fn in ("units", "homes", "department", "unlocated", "all"):
        op.execute(f"DROP FUNCTION IF EXISTS onemap_scope_{fn}()")
    op.execute("DROP FUNCTION IF EXISTS onemap_audit_hash(text, audit_log)")
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_chain()")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_column("api_key", "unit_code")
    op.drop_table("user_token")
    op.drop_table("user_session")
    op.drop_table("app_user")
