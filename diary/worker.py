"""The worker: APScheduler as a ticker only. All state is in the database.

`flask --app wsgi diary worker` runs it in the foreground (BlockingScheduler). Each tick
claims and delivers due outbox rows, expires unanswered check-ins, enqueues daily
reminders and writes a heartbeat that /readyz reads. Any number of workers may run
against one PostgreSQL. SIGTERM lets the batch in hand finish, then exits.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
import uuid

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from diary.delivery import push_sender, webhook_sender
from diary.domain import alerts, dispatch, maintenance, panel
from diary.extensions import db
from diary.timeutil import utcnow

log = logging.getLogger("diary.worker")

MAX_BATCHES_PER_TICK = 50
WANING_CHECK_SECONDS = 15 * 60


class Worker:
    def __init__(self, app: Flask, worker_id: str | None = None):
        self.app = app
        self.worker_id = worker_id or f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self._last_disengagement_check = self._last_waning_check = -math.inf

    def dispatch_tick(self) -> dispatch.BatchStats:
        with self.app.app_context():
            try:
                return self.dispatch_due(push_sender(self.app), webhook_sender(self.app))
            finally:
                db.session.remove()

    def dispatch_due(self, sender, webhook) -> dispatch.BatchStats:
        """Claim and deliver batches until nothing is due (or asked to stop). The claim is
        committed before anything is sent (the lease keeps other workers off those rows), and
        outcomes after every provider call, so a crash can repeat at most the pushes of one
        call, never those of the whole claim."""
        cfg = self.app.config
        total = dispatch.BatchStats()
        for _ in range(MAX_BATCHES_PER_TICK):
            if self.stopping.is_set():
                break
            ids = dispatch.claim(
                self.worker_id,
                now=utcnow(),
                limit=cfg["DISPATCH_BATCH_SIZE"],
                lease_seconds=cfg["DISPATCH_LEASE_SECONDS"],
            )
            db.session.commit()
            if not ids:
                break
            step = cfg["FCM_BATCH_SIZE"]
            for start in range(0, len(ids), step):
                total.add(dispatch.deliver(self.worker_id, ids[start : start + step], sender, webhook=webhook))
                db.session.commit()
        if total.claimed:
            log.info("worker %s delivered %s", self.worker_id, vars(total))
        return total

    def maintenance_tick(self) -> None:
        """Expiry, reminders, escalation, disengagement (once a minute) and the heartbeat,
        each committed on its own."""
        with self.app.app_context():
            try:
                now = utcnow()
                jobs = [
                    lambda: maintenance.expire_checkins(now),
                    lambda: maintenance.enqueue_reminders(now),
                    lambda: alerts.escalate(now),
                ]
                # A scan of every patient: once a minute is plenty for a days-long rule.
                if time.monotonic() - self._last_disengagement_check >= 60:
                    jobs.append(lambda: alerts.evaluate_disengagement(now))
                    self._last_disengagement_check = time.monotonic()
                # Forecasts move by whole local days: checked every 15 minutes (API.md: at least hourly).
                if time.monotonic() - self._last_waning_check >= WANING_CHECK_SECONDS:
                    jobs.append(lambda: alerts.evaluate_waning(now))
                    self._last_waning_check = time.monotonic()
                # The panel's 7 days move with the clock; stale forecasts are recomputed.
                jobs.append(lambda: panel.refresh(now))
                jobs.append(lambda: maintenance.heartbeat(self.worker_id, now))
                for job in jobs:
                    job()
                    db.session.commit()
            finally:
                db.session.remove()

    def tick(self) -> dispatch.BatchStats:
        """One full round, in the order a scheduler runs them (used by --once and tests)."""
        self.maintenance_tick()
        return self.dispatch_tick()

    def _schedule(self, scheduler: BaseScheduler) -> None:
        seconds = self.app.config["SCHEDULER_TICK_SECONDS"]
        # One instance of each job at a time; a tick that overruns is skipped, not stacked.
        for job, name in ((self.maintenance_tick, "maintenance"), (self.dispatch_tick, "dispatch")):
            scheduler.add_job(
                job, "interval", seconds=seconds, id=name, max_instances=1, coalesce=True, next_run_time=utcnow()
            )

    def run_forever(self) -> None:
        scheduler = BlockingScheduler(timezone="UTC")
        self._schedule(scheduler)

        def stop(signum, frame) -> None:
            log.info("worker %s stopping on signal %s", self.worker_id, signum)
            self.stopping.set()
            # shutdown(wait=True) lets the running batch finish; off the signal handler's frame.
            threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("worker %s started, tick %ss", self.worker_id, self.app.config["SCHEDULER_TICK_SECONDS"])
        scheduler.start()
        log.info("worker %s stopped", self.worker_id)

    def start_in_background(self) -> BackgroundScheduler:
        """For `make run`: the same jobs inside the dev server process."""
        scheduler = BackgroundScheduler(timezone="UTC", daemon=True)
        self._schedule(scheduler)
        scheduler.start()
        return scheduler
