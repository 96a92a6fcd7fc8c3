"""Instructions per POST /me/entries, ours against the baseline, counted by callgrind (run by hand).

    .venv/bin/python -m bench.instructions [--requests 400] [--patients 200]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

(needs valgrind). Wall-clock throughput on a shared machine moves by tens of percent from
one minute to the next; instruction counts do not, so this is the measure to compare two
versions of the code by. Each app (ours, wsgi:app as production runs it: JSON request
logs, multiprocess metrics; the baseline, bench/baseline_app.py) is served in-process,
without gunicorn, under `valgrind --tool=callgrind` twice: both runs build the same requests
and serve 200 to warm up, then one serves `--requests` more and the other none; the
difference of their totals, divided by `--requests`, is what one request costs the app
(gunicorn's own parsing, the same for both, is left out). The database is PostgreSQL, a
fresh one created here and dropped at the end, seeded as bench/ingest.py seeds it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 200
APPS = {"ours": "wsgi", "baseline": "bench.baseline_app"}


def environ(token: str, rng: random.Random) -> dict:
    """One POST /me/entries as gunicorn would hand it to the app, with a fresh entry."""
    recorded_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=rng.uniform(0, 12 * 3600))
    body = json.dumps(
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "recorded_at": recorded_at.isoformat(timespec="seconds"),
            "mood": rng.randint(0, 10),
            "anxiety": rng.randint(0, 10),
            "sleep_hours": rng.choice([None, 5.5, 7.0, 8.5]),
            "self_harm_thoughts": 0,
        }
    ).encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/me/entries",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def serve(which: str, requests: int, tokens_path: Path) -> None:
    """Inside valgrind: build the app, then serve WARM_UP + `requests` entries of WARM_UP +
    the largest count (built in both runs, so building them cancels out)."""
    tokens = json.loads(tokens_path.read_text())
    rng = random.Random(f"{which}/{requests}")  # both runs side by side in one database: their own ids
    module = __import__(APPS[which], fromlist=["app"])
    batch = [environ(rng.choice(tokens), rng) for _ in range(WARM_UP + int(os.environ["BENCH_MOST_REQUESTS"]))]
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    for env in batch[: WARM_UP + requests]:
        body = module.app(env, start_response)
        b"".join(body)
        getattr(body, "close", lambda: None)()
    failed = [s for s in statuses if not s.startswith("201")]
    if failed:
        sys.exit(f"{len(failed)} requests failed, first: {failed[0]}")


def counted(which: str, requests: int, most: int, env: dict[str, str], tmp: Path) -> int:
    """Instructions callgrind counted for a whole run of `serve`."""
    out = tmp / f"callgrind.{which}.{requests}"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "bench.instructions",
        "--serve",
        which,
        "--requests",
        str(requests),
        "--tokens",
        str(tmp / "tokens.json"),
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**env, "BENCH_MOST_REQUESTS": str(most)},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{which} ({requests} requests) failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--serve", choices=sorted(APPS), help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.requests, args.tokens)
        return

    sys.path.insert(0, str(ROOT))
    from bench.ingest import SECRET_KEY, TOKEN_TTL, seed
    from diary import create_app
    from diary.database import enable_migrations
    from diary.extensions import db

    name = f"diary_instr_{uuid.uuid4().hex[:8]}"
    admin = args.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.database_url.rpartition('/')[0]}/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp_dir:
            tmp = Path(tmp_dir)
            app = create_app(
                {
                    "SQLALCHEMY_DATABASE_URI": url,
                    "APP_ENV": "testing",
                    "SECRET_KEY": SECRET_KEY,
                    "ACCESS_TOKEN_TTL_SECONDS": TOKEN_TTL,
                    "LOG_FORMAT": "none",
                }
            )
            with app.app_context():
                from flask_migrate import upgrade

                enable_migrations(app)
                upgrade(directory=str(ROOT / "migrations"))
            (tmp / "tokens.json").write_text(json.dumps(seed(app, args.patients)))
            with app.app_context():
                db.engine.dispose()
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            (tmp / "prometheus").mkdir()
            common = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY}
            envs = {
                "ours": {**common, "APP_ENV": "production", "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus")},
                "baseline": common,
            }
            runs = [(which, n) for which in APPS for n in (0, args.requests)]
            with ThreadPoolExecutor(2) as pool:  # counts do not depend on timing: run side by side
                totals = dict(
                    zip(
                        runs,
                        pool.map(lambda run: counted(run[0], run[1], args.requests, envs[run[0]], tmp), runs),
                        strict=True,
                    )
                )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    per_request = {which: (totals[(which, args.requests)] - totals[(which, 0)]) / args.requests for which in APPS}
    print(f"POST /me/entries, in-process (no gunicorn), {args.requests} requests after {WARM_UP} to warm up")
    for which in APPS:
        print(f"{which:9} {per_request[which] / 1e6:6.3f} M instructions per request")
    print(f"ours / baseline: {per_request['ours'] / per_request['baseline']:.2f}")


if __name__ == "__main__":
    main()
