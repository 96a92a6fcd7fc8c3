"""The application's own PostgreSQL role: `flask diary grant-app-role` gives it what the API
and the worker need, they run as it, and it cannot rewrite, empty or restructure the audit
trail. The owner keeps DDL and could switch the triggers off; until it does, TRUNCATE of
`audit_events` is refused to it as well.

PostgreSQL only (roles and privileges have no SQLite counterpart), except the test that
the command refuses a SQLite database. Roles belong to the whole cluster: each test makes
its own, with a unique name, and drops it in a finalizer.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory
from psycopg import errors, sql
from sqlalchemy.engine import make_url

from diary import create_app
from diary.extensions import db
from diary.timeutil import UTC
from diary.worker import Worker
from tests.conftest import BACKENDS, BASE_CONFIG, Api, Database, World, _libpq_url, _migrate

# The newest migration: what `db upgrade` left in alembic_version, and must still be there.
HEAD_REVISION = ScriptDirectory(str(Path(__file__).resolve().parent.parent / "migrations")).get_current_head()

on_postgresql = pytest.mark.parametrize("database", [BACKENDS[1]], indirect=True)

DUE = dt.datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # the "+4h" check-in of a session at 12:00Z

ROW_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE"]
TABLES = [
    "alembic_version",
    "alerts",
    "assessments",
    "audit_events",
    "auth_sessions",
    "checkins",
    "clinics",
    "devices",
    "enrollment_codes",
    "entries",
    "entry_days",
    "entry_side_effects",
    "entry_versions",
    "notifications",
    "panel_window",
    "patient_panel",
    "patient_profiles",
    "refresh_tokens",
    "session_effects",
    "session_monitoring",
    "treatment_sessions",
    "users",
    "worker_heartbeats",
]
# The contract: rows of every table; audit rows only written and read; Alembic's table read.
EXPECTED_GRANTS = {
    table: {"audit_events": ["SELECT", "INSERT"], "alembic_version": ["SELECT"]}.get(table, ROW_PRIVILEGES)
    for table in TABLES
}


@dataclass(frozen=True)
class Role:
    name: str
    password: str

    def url(self, database_url: str) -> str:
        """The same database, connected as this role (SQLAlchemy URL)."""
        return make_url(database_url).set(username=self.name, password=self.password).render_as_string(False)

    def connect(self, database_url: str) -> psycopg.Connection:
        return psycopg.connect(_libpq_url(self.url(database_url)), autocommit=True)


def unique_role_name(prefix: str = "Diary-App") -> str:
    # Upper case and a hyphen: the command must quote it as an identifier to find it.
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def owner_connection(database_url: str) -> psycopg.Connection:
    return psycopg.connect(_libpq_url(database_url), autocommit=True)


@pytest.fixture
def make_role(db_url: str) -> Iterator:
    """`make_role(*attributes)`: a new LOGIN role, dropped (with its grants) at the end."""
    made: list[str] = []

    def create(*attributes: str) -> Role:
        role = Role(unique_role_name(), uuid.uuid4().hex)
        options = sql.SQL(" ").join(sql.SQL(a) for a in attributes)
        with owner_connection(db_url) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} {}").format(
                    sql.Identifier(role.name), sql.Literal(role.password), options
                )
            )
        made.append(role.name)
        return role

    yield create
    drop_roles(db_url, made)


def drop_roles(database_url: str, names: list[str]) -> None:
    with owner_connection(database_url) as conn:
        for name in names:
            # DROP OWNED BY also revokes the role's privileges in this database, which
            # DROP ROLE would otherwise refuse over.
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def grant(app, role: str):
    return app.test_cli_runner().invoke(args=["diary", "grant-app-role", role])


def granted(app, role: Role) -> dict:
    result = grant(app, role.name)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def assert_refused(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.output == f"Error: {message}\n"


def privileges(database_url: str, role: str) -> list[tuple[str, str, str]]:
    """(kind, object, privilege) for every ACL entry naming `role` in this database, as stored."""
    with owner_connection(database_url) as conn:
        rows = conn.execute(
            """
            WITH r AS (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
            SELECT 'table', c.relname, a.privilege_type
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
             WHERE n.nspname = 'public' AND a.grantee = (SELECT oid FROM r)
            UNION ALL
            SELECT 'column', c.relname || '.' || att.attname, a.privilege_type
              FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(att.attacl) a
             WHERE n.nspname = 'public' AND a.grantee = (SELECT oid FROM r)
            UNION ALL
            SELECT 'schema', n.nspname, a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a
             WHERE n.nspname = 'public' AND a.grantee = (SELECT oid FROM r)
            UNION ALL
            SELECT 'database', d.datname, a.privilege_type FROM pg_database d, aclexplode(d.datacl) a
             WHERE d.datname = current_database() AND a.grantee = (SELECT oid FROM r)
            UNION ALL
            SELECT 'default', d.defaclobjtype::text, a.privilege_type FROM pg_default_acl d, aclexplode(d.defaclacl) a
             WHERE a.grantee = (SELECT oid FROM r)
            """,
            {"role": role},
        ).fetchall()
    return sorted(rows)


def public_tables(database_url: str) -> list[str]:
    with owner_connection(database_url) as conn:
        return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


# --- what the command grants -----------------------------------------------------------------------


@on_postgresql
def test_the_command_grants_row_privileges_and_only_insert_and_select_on_audit_events(app, db_url, make_role):
    role = make_role()

    printed = granted(app, role)

    database = make_url(db_url).database
    assert public_tables(db_url) == TABLES
    assert printed == {
        "role": role.name,
        "database": database,
        "schema": "public",
        "tables": EXPECTED_GRANTS,
        "sequences": {},
    }
    assert privileges(db_url, role.name) == sorted(
        [("database", database, "CONNECT"), ("schema", "public", "USAGE")]
        + [("table", table, privilege) for table, held in EXPECTED_GRANTS.items() for privilege in held]
    )


@on_postgresql
def test_running_it_again_over_broader_earlier_grants_ends_in_the_same_state(app, db_url, make_role):
    role = make_role()
    first = granted(app, role)
    state = privileges(db_url, role.name)
    quoted = sql.Identifier(role.name)
    with owner_connection(db_url) as conn:
        for statement in (
            "GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}",
            "GRANT UPDATE (action) ON audit_events TO {role}",
            "GRANT CREATE ON SCHEMA public TO {role}",
            "GRANT ALL ON DATABASE {database} TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO {role}",
        ):
            conn.execute(sql.SQL(statement).format(role=quoted, database=sql.Identifier(make_url(db_url).database)))
    assert ("column", "audit_events.action", "UPDATE") in privileges(db_url, role.name)
    assert ("table", "audit_events", "TRUNCATE") in privileges(db_url, role.name)

    assert granted(app, role) == first
    assert privileges(db_url, role.name) == state
    assert granted(app, role) == first
    assert privileges(db_url, role.name) == state


# --- the API and the worker as the application's role ---------------------------------------------


@pytest.fixture
def app_role(app, make_role) -> Role:
    """A role granted by the command, run by the owner's app."""
    role = make_role()
    granted(app, role)
    return role


@pytest.fixture
def role_app(app_role, db_url, make_app):
    """An app connected as the application's role (the `app` fixture stays the owner's)."""
    app = make_app(SQLALCHEMY_DATABASE_URI=app_role.url(db_url))
    yield app, app_role
    # Before make_role's finalizer drops the role: no session of it may outlive this test.
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@on_postgresql
def test_the_api_and_the_worker_do_their_work_as_the_app_role(clock, role_app):
    app, role = role_app
    api = Api(app.test_client())
    world = World(app, api)
    assert world.rows("SELECT current_user") == [(role.name,)]
    clinician = world.staff(world.clinic())
    patient = world.patient(clinician, timezone="UTC")
    device = api.post("/me/devices", {"token": "tok-app-role", "platform": "android"}, token=patient.token)
    assert device.status_code == 201, device.json

    entry = {"id": str(uuid.uuid4()), "recorded_at": "2026-03-01T11:00:00Z", "mood": 6, "anxiety": 3}
    assert api.post("/me/entries", entry, token=patient.token).status_code == 201
    session = api.post(
        f"/patients/{patient.id}/sessions",
        {"started_at": "2026-03-01T12:00:00Z", "route": "iv", "dose_mg": 35},
        token=clinician.token,
    )
    assert session.status_code == 201, session.json
    checkin = session.json["checkins"][0]
    assert (checkin["label"], checkin["due_at"]) == ("+4h", "2026-03-01T16:00:00Z")
    summary = api.get(f"/patients/{patient.id}/summary", token=clinician.token)
    assert summary.status_code == 200, summary.json

    clock.set(DUE)
    stats = Worker(app, worker_id="app-role-worker").tick()

    assert (stats.claimed, stats.sent) == (1, 1)
    assert world.rows(
        "SELECT status, attempts, lease_owner FROM notifications WHERE checkin_id = :c AND kind = 'checkin'",
        c=checkin["id"],
    ) == [("sent", 1, None)]
    assert world.rows("SELECT status FROM checkins WHERE id = :c", c=checkin["id"]) == [("sent",)]
    assert world.rows("SELECT worker_id FROM worker_heartbeats") == [("app-role-worker",)]
    assert world.rows("SELECT actor_id, action, patient_id FROM audit_events WHERE action = 'patient.summary'") == [
        (clinician.id, "patient.summary", patient.id)
    ]


# --- what the application's role cannot do -----------------------------------------------------


AUDIT_ROW = {
    "id": "00000000-0000-4000-8000-0000000000a1",
    "action": "patient.read",
    "actor_role": "clinician",
    "resource_type": "patient",
}


def insert_audit_row(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO audit_events (id, at, actor_role, action, resource_type)"
        " VALUES (%(id)s, now(), %(actor_role)s, %(action)s, %(resource_type)s)",
        AUDIT_ROW,
    )


def audit_rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("SELECT id, action, actor_role, resource_type FROM audit_events ORDER BY id").fetchall()


@on_postgresql
def test_the_app_role_can_insert_and_read_audit_rows(app_role, db_url):
    with app_role.connect(db_url) as conn:
        insert_audit_row(conn)
        assert audit_rows(conn) == [(AUDIT_ROW["id"], "patient.read", "clinician", "patient")]


@on_postgresql
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'patient.tampered'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "TRUNCATE users CASCADE",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_events_no_truncate ON audit_events",
        "DROP TABLE audit_events",
        "ALTER TABLE entries ADD COLUMN x int",
        "CREATE TABLE shadow_audit (id int)",
        "CREATE INDEX ix_audit_events_action ON audit_events (action)",
        "UPDATE alembic_version SET version_num = '0001'",
        "SET session_replication_role = replica",
    ],
)
def test_the_app_role_cannot_change_the_audit_trail_or_the_schema(app_role, db_url, statement):
    with app_role.connect(db_url) as conn:
        insert_audit_row(conn)
        before = audit_rows(conn)

        with pytest.raises(errors.InsufficientPrivilege) as refused:
            conn.execute(statement)

        assert refused.value.sqlstate == "42501"
        assert audit_rows(conn) == before
    assert public_tables(db_url) == TABLES
    with owner_connection(db_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'entries' AND column_name = 'x'"
        ).fetchone() == (0,)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD_REVISION,)]
        assert conn.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass AND NOT tgisinternal"
            " ORDER BY tgname"
        ).fetchall() == [("audit_events_append_only", "O"), ("audit_events_no_truncate", "O")]


@on_postgresql
@pytest.mark.parametrize("statement", ["TRUNCATE audit_events", "TRUNCATE users CASCADE"])
def test_even_the_owner_meets_the_truncate_trigger(db_url, statement):
    with owner_connection(db_url) as conn:
        insert_audit_row(conn)

        with pytest.raises(errors.RaiseException, match="audit_events is append-only") as refused:
            conn.execute(statement)

        assert refused.value.sqlstate == "P0001"
        assert audit_rows(conn) == [(AUDIT_ROW["id"], "patient.read", "clinician", "patient")]


# --- what the command refuses --------------------------------------------------------------------


@on_postgresql
def test_an_unknown_role_is_refused_and_never_spliced_into_sql(app, db_url):
    name = "x; DROP TABLE entries; --"
    assert_refused(grant(app, name), f"role {name!r} does not exist; create it first (CREATE ROLE ... LOGIN)")
    assert "entries" in public_tables(db_url)


@on_postgresql
def test_a_superuser_is_refused(app, db_url, make_role):
    role = make_role("SUPERUSER")
    assert_refused(grant(app, role.name), f"role {role.name!r} is a superuser: it could disable the audit triggers")
    assert privileges(db_url, role.name) == []


@on_postgresql
def test_a_member_of_the_owner_role_is_refused(app, db_url, make_role):
    role = make_role()
    owner = make_url(db_url).username
    with owner_connection(db_url) as conn:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(owner), sql.Identifier(role.name)))
    assert_refused(
        grant(app, role.name), f"role {role.name!r} is (or is a member of) {owner!r}, the owner of the tables"
    )
    assert privileges(db_url, role.name) == []


@on_postgresql
def test_a_role_that_can_create_roles_is_refused(app, db_url, make_role):
    role = make_role("CREATEROLE")
    assert_refused(
        grant(app, role.name), f"role {role.name!r} has CREATEROLE: it could make itself a member of the owner's role"
    )
    assert privileges(db_url, role.name) == []


@on_postgresql
def test_privileges_held_through_another_role_are_refused_and_nothing_is_granted(app, db_url, make_role):
    role, group = make_role(), make_role()
    with owner_connection(db_url) as conn:
        conn.execute(sql.SQL("GRANT TRUNCATE, UPDATE ON audit_events TO {}").format(sql.Identifier(group.name)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group.name), sql.Identifier(role.name)))

    assert_refused(
        grant(app, role.name),
        f"role {role.name!r} still holds UPDATE on table audit_events, TRUNCATE on table audit_events (through"
        " PUBLIC, another grantor or a role it belongs to); revoke that where it was granted, then run this again",
    )
    assert privileges(db_url, role.name) == []


@on_postgresql
def test_the_current_user_is_refused_when_it_is_a_plain_owner(make_role, database: Database):
    """The production shape: the owner is no superuser. It can grant; it cannot name itself."""
    owner = make_role()
    name = f"diary_owner_{uuid.uuid4().hex[:8]}"
    with owner_connection(database.url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner.name)))
    owned_url = make_url(database.url).set(database=name).render_as_string(False)
    app_role = make_role()
    try:
        _migrate(owner.url(owned_url))
        owner_app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": owner.url(owned_url)})

        assert_refused(
            grant(owner_app, owner.name),
            f"role {owner.name!r} is the current user, who runs the migrations; use a separate role",
        )
        assert granted(owner_app, app_role)["tables"]["audit_events"] == ["SELECT", "INSERT"]
        with app_role.connect(owned_url) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute("TRUNCATE audit_events")
        with owner_app.app_context():
            db.engine.dispose()
    finally:
        with owner_connection(database.url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_sqlite_database_is_refused(tmp_path):
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'diary.sqlite3'}"})
    assert_refused(grant(app, "diary_app"), "grant-app-role needs PostgreSQL; this database is sqlite")
