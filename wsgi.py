"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from diary import create_app

app = create_app()
