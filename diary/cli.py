"""`flask --app wsgi diary ...`: admin commands."""

from __future__ import annotations

import json

import click
from flask import Flask
from flask.cli import AppGroup

from diary.domain import accounts
from diary.domain.errors import DomainError
from diary.extensions import db
from diary.models import Clinic

diary_cli = AppGroup("diary", help="Clinic administration, the worker and the demo.")


def _print(payload: dict) -> None:
    click.echo(json.dumps(payload))


@diary_cli.command("create-clinic")
@click.argument("name")
def create_clinic(name: str) -> None:
    """Create a clinic; prints {"id": ...}."""
    if not name.strip() or len(name) > 200:
        raise click.BadParameter("NAME must be 1-200 characters")
    clinic = accounts.create_clinic(name.strip())
    db.session.commit()
    _print({"id": clinic.id})


@diary_cli.command("create-user")
@click.option("--clinic-id", required=True)
@click.option("--role", required=True, type=click.Choice(["clinician", "ops", "admin"]))
@click.option("--email", required=True)
@click.option("--password", required=True, help="at least PASSWORD_MIN_LENGTH characters")
def create_user(clinic_id: str, role: str, email: str, password: str) -> None:
    """Create a staff account; prints {"id": ...}."""
    clinic = db.session.get(Clinic, clinic_id)
    if clinic is None:
        raise click.BadParameter(f"no clinic with id {clinic_id}", param_hint="--clinic-id")
    if "@" not in email or len(email) > 254:
        raise click.BadParameter("not a valid email address", param_hint="--email")
    try:
        user = accounts.create_staff(clinic, role, email, password)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    db.session.commit()
    _print({"id": user.id})


@diary_cli.command("erase-patient")
@click.option("--patient-id", required=True)
@click.option("--yes", is_flag=True, help="Confirm: this cannot be undone.")
def erase_patient(patient_id: str, yes: bool) -> None:
    """Right to erasure: delete everything about a patient (audit rows keep ids only)."""
    from diary.domain.erasure import erase_patient as erase

    if not yes:
        raise click.UsageError("erasure cannot be undone; pass --yes to confirm")
    try:
        counts = erase(patient_id)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    db.session.commit()
    _print({"erased": patient_id, "rows": counts})


@diary_cli.command("grant-app-role")
@click.argument("role")
def grant_app_role(role: str) -> None:
    """Grant the PostgreSQL role ROLE exactly what the API and worker need (run as the owner after `db upgrade`)."""
    from diary.domain.database_roles import grant_app_role as grant

    try:
        grants = grant(role)
    except DomainError as err:
        db.session.rollback()
        raise click.ClickException(err.message) from err
    db.session.commit()
    _print(vars(grants))


@diary_cli.command("fhir-export")
@click.option("--patient-id", required=True)
def fhir_export(patient_id: str) -> None:
    """Write the patient's FHIR R4 Bundle (JSON) to standard output; audited."""
    from flask import current_app

    from diary.domain.fhir import export_for_admin

    try:
        bundle = export_for_admin(patient_id, current_app.config["FHIR_CODE_SYSTEM_URL"])
    except DomainError as err:
        raise click.ClickException(err.message) from err
    db.session.commit()
    click.echo(bundle.decode())


@diary_cli.command("worker")
@click.option("--once", is_flag=True, help="Run one round of every job, then exit.")
@click.option("--until-idle", is_flag=True, help="Tick until nothing is due (or --max-seconds pass), then exit.")
@click.option("--max-seconds", type=click.FloatRange(min=0), default=600.0, show_default=True)
def worker(once: bool, until_idle: bool, max_seconds: float) -> None:
    """Run the scheduler/dispatcher in the foreground."""
    import time

    from flask import current_app

    from diary.worker import Worker

    runner = Worker(current_app._get_current_object())
    if once:
        _print(vars(runner.tick()))
        return
    if until_idle:
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            stats = runner.tick()
            if stats.claimed == 0:
                break
        return
    runner.run_forever()


@diary_cli.command("demo")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True, help="Where the app is served.")
def demo(base_url: str) -> None:
    """Seed a demo clinic with staff and patients (idempotent); prints the logins."""
    from diary.demo import seed

    summary = seed(base_url.rstrip("/"))
    click.echo(json.dumps(summary, indent=2))


class MigrationCommands(click.Group):
    """`flask db ...`: Flask-Migrate's own command group, imported and bound to the app only
    when a `db` command runs (diary.database.enable_migrations), never in a serving process."""

    def _real(self, ctx: click.Context) -> click.Group:
        from flask.cli import ScriptInfo
        from flask_migrate.cli import db as commands

        from diary.database import enable_migrations

        enable_migrations(ctx.ensure_object(ScriptInfo).load_app())
        return commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._real(ctx).list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._real(ctx).get_command(ctx, name)

    def make_context(self, info_name, args, parent=None, **extra):
        # The real group parses and runs (its callback puts -d and -x where Flask-Migrate
        # reads them), so `flask db ...` behaves exactly as Flask-Migrate's own.
        if parent is not None:
            return self._real(parent).make_context(info_name, args, parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


def init_app(app: Flask) -> None:
    app.cli.add_command(diary_cli)
    app.cli.add_command(MigrationCommands("db", help="Database migrations (Alembic, through Flask-Migrate)."))
