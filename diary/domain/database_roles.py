"""The PostgreSQL role the API and the worker connect as: what it may do, and nothing more.

The database owner runs the migrations; the application connects as a separate role
that can read and write rows but cannot change the schema, so the append-only audit
trail holds against the application itself: the owner can disable the triggers of
`audit_events`, its own role cannot even UPDATE, DELETE or TRUNCATE that table.

`grant_app_role` first revokes whatever the role had on the schema's tables, sequences,
the schema and the database, then grants the exact set below, then reads back the
privileges the role *effectively* holds (through PUBLIC and the roles it belongs to as
well) and refuses if any is broader. Running it twice, or on a role with earlier grants,
ends in the same state. It runs in the caller's transaction; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql
from sqlalchemy import text

from diary.domain.errors import DomainError
from diary.extensions import db

# What the application does to rows. Audit rows are written and read, never changed.
ROW_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND_ONLY = {"audit_events": ("SELECT", "INSERT")}
# Alembic's bookkeeping, not an application table: reading it lets `flask db current`
# (and a readiness or deploy check) run under the application's own URL to show the
# schema's revision; writing it would let the application fake that revision.
MIGRATION_STATE = {"alembic_version": ("SELECT",)}
# A column-level grant (`GRANT UPDATE (action) ...`) counts as the privilege as well.
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
COLUMN_LEVEL = {"SELECT", "INSERT", "UPDATE", "REFERENCES"}
# nextval() for an INSERT needs USAGE; SELECT (currval) and UPDATE (setval) it does not.
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")


class AppRoleRefused(DomainError):
    code = "app_role_refused"


@dataclass(frozen=True)
class AppRoleGrants:
    """What the role holds once granted, as the database reports it."""

    role: str
    database: str
    schema: str
    tables: dict[str, list[str]]
    sequences: dict[str, list[str]]


def grant_app_role(role: str) -> AppRoleGrants:
    """Grant `role` exactly what the API and the worker need; refuse a role that could do more."""
    session = db.session
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        raise AppRoleRefused(f"grant-app-role needs PostgreSQL; this database is {dialect}")
    found = session.execute(
        text("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).one_or_none()
    if found is None:
        raise AppRoleRefused(f"role {role!r} does not exist; create it first (CREATE ROLE ... LOGIN)")
    is_superuser, can_create_roles = found
    me, database, schema = session.execute(text("SELECT current_user, current_database(), current_schema()")).one()

    expected = _expected_table_privileges()
    owners = _table_owners(schema, list(expected))
    missing = sorted(set(expected) - set(owners))
    if missing:
        raise AppRoleRefused(f"table {missing[0]!r} is missing from schema {schema!r}: run `flask db upgrade` first")
    # Each refusal below is a role that could switch the audit triggers off or act as the owner.
    if is_superuser:
        raise AppRoleRefused(f"role {role!r} is a superuser: it could disable the audit triggers")
    if role == me:
        raise AppRoleRefused(f"role {role!r} is the current user, who runs the migrations; use a separate role")
    for owner in sorted(set(owners.values())):
        if _is_member(role, owner):
            raise AppRoleRefused(f"role {role!r} is (or is a member of) {owner!r}, the owner of the tables")
    if can_create_roles:
        raise AppRoleRefused(f"role {role!r} has CREATEROLE: it could make itself a member of the owner's role")
    for owner in sorted(set(owners.values())):
        if not _is_member(me, owner, "USAGE"):
            raise AppRoleRefused(f"run this as the owner of the tables ({owner!r}), not {me!r}")

    # Every statement runs at once on the session's connection: nothing is left to flush.
    _revoke_everything(role, database, schema)
    _grant(role, database, schema, expected, _sequences(schema))
    return _verified(role, database, schema, expected)


def _expected_table_privileges() -> dict[str, tuple[str, ...]]:
    tables = {table.name: ROW_PRIVILEGES for table in db.metadata.sorted_tables}
    return {**tables, **APPEND_ONLY, **MIGRATION_STATE}


def _table_owners(schema: str, tables: list[str]) -> dict[str, str]:
    rows = db.session.execute(
        text(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND c.relname = ANY(:tables)"
        ),
        {"schema": schema, "tables": tables},
    )
    return dict(rows.all())


def _is_member(role: str, of: str, privilege: str = "MEMBER") -> bool:
    # MEMBER: can SET ROLE to `of`; USAGE: holds its privileges (superusers hold every role's).
    query = text("SELECT pg_has_role(:role, :of, :privilege)")
    return bool(db.session.scalar(query, {"role": role, "of": of, "privilege": privilege}))


def _sequences(schema: str) -> list[str]:
    """The schema's sequences (none today: every key is a UUID or a natural key)."""
    return list(
        db.session.scalars(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = :schema AND c.relkind = 'S' ORDER BY c.relname"
            ),
            {"schema": schema},
        )
    )


def _execute(statement: sql.Composable) -> None:
    # On the session's own connection, so it commits or rolls back with the caller's
    # transaction; psycopg.sql quotes each name as an identifier, never as text.
    db.session.connection().connection.driver_connection.execute(statement)


def _revoke_everything(role: str, database: str, schema: str) -> None:
    grantee, schema_name = sql.Identifier(role), sql.Identifier(schema)
    for statement in (
        "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
        "REVOKE ALL ON SCHEMA {schema} FROM {role}",
        "REVOKE ALL ON DATABASE {database} FROM {role}",
        # Defaults the owner may have set for tables a later migration creates.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {role}",
        "ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM {role}",
        "ALTER DEFAULT PRIVILEGES REVOKE ALL ON SEQUENCES FROM {role}",
    ):
        _execute(sql.SQL(statement).format(role=grantee, schema=schema_name, database=sql.Identifier(database)))


def _grant(role: str, database: str, schema: str, expected: dict[str, tuple[str, ...]], sequences: list[str]) -> None:
    grantee = sql.Identifier(role)
    _execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), grantee))
    _execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), grantee))
    for table, privileges in sorted(expected.items()):
        _execute(
            sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in privileges), sql.Identifier(schema, table), grantee
            )
        )
    for sequence in sequences:
        _execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.Identifier(schema, sequence), grantee))


def _verified(role: str, database: str, schema: str, expected: dict[str, tuple[str, ...]]) -> AppRoleGrants:
    """The privileges `role` effectively holds, checked against the intended set.

    A privilege the revokes above cannot take away (granted to PUBLIC, to a role it
    belongs to, by another grantor, or through pg_write_all_data) shows up here.
    """
    tables = _effective_table_privileges(role, schema)
    sequence_grants = _effective_sequence_privileges(role, schema)
    broader = [
        f"{privilege} on table {table}"
        for table, held in sorted(tables.items())
        for privilege in held
        if privilege not in expected.get(table, ())
    ]
    broader += [
        f"{privilege} on sequence {sequence}"
        for sequence, held in sorted(sequence_grants.items())
        for privilege in held
        if privilege != "USAGE"
    ]
    connect, usage, create_in_schema, create_in_database = db.session.execute(
        text(
            "SELECT has_database_privilege(:role, :db, 'CONNECT'), has_schema_privilege(:role, :schema, 'USAGE'),"
            " has_schema_privilege(:role, :schema, 'CREATE'), has_database_privilege(:role, :db, 'CREATE')"
        ),
        {"role": role, "schema": schema, "db": database},
    ).one()
    if not (connect and usage):
        # A table owner that owns neither the database nor the schema can only warn on
        # those two grants; the role usually holds them through PUBLIC anyway.
        raise AppRoleRefused(
            f"role {role!r} lacks CONNECT on database {database} or USAGE on schema {schema};"
            " grant them as the database owner, then run this again"
        )
    if create_in_schema:
        broader.append(f"CREATE on schema {schema}")
    if create_in_database:
        broader.append(f"CREATE on database {database}")
    # PostgreSQL 15 lets a non-superuser be granted this setting, which switches triggers off.
    if db.session.scalar(text("SELECT current_setting('server_version_num')::int >= 150000")) and db.session.scalar(
        text("SELECT has_parameter_privilege(:role, 'session_replication_role', 'SET')"), {"role": role}
    ):
        broader.append("SET on parameter session_replication_role")
    if broader:
        raise AppRoleRefused(
            f"role {role!r} still holds {', '.join(broader)} (through PUBLIC, another grantor or a role it"
            " belongs to); revoke that where it was granted, then run this again"
        )
    return AppRoleGrants(
        role=role,
        database=database,
        schema=schema,
        tables={table: held for table, held in sorted(tables.items()) if held},
        sequences=sequence_grants,
    )


def _effective_table_privileges(role: str, schema: str) -> dict[str, list[str]]:
    columns = ", ".join(
        f"has_any_column_privilege(:role, c.oid, '{p}')"
        if p in COLUMN_LEVEL
        else f"has_table_privilege(:role, c.oid, '{p}')"
        for p in TABLE_PRIVILEGES
    )
    rows = db.session.execute(
        text(
            f"SELECT c.relname, {columns} FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"  # noqa: S608
            " WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname"
        ),
        {"role": role, "schema": schema},
    )
    return {name: [p for p, held in zip(TABLE_PRIVILEGES, flags, strict=True) if held] for name, *flags in rows}


def _effective_sequence_privileges(role: str, schema: str) -> dict[str, list[str]]:
    columns = ", ".join(f"has_sequence_privilege(:role, c.oid, '{p}')" for p in SEQUENCE_PRIVILEGES)
    rows = db.session.execute(
        text(
            f"SELECT c.relname, {columns} FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"  # noqa: S608
            " WHERE n.nspname = :schema AND c.relkind = 'S' ORDER BY c.relname"
        ),
        {"role": role, "schema": schema},
    )
    return {name: [p for p, held in zip(SEQUENCE_PRIVILEGES, flags, strict=True) if held] for name, *flags in rows}
