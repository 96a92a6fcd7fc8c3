"""The worker: APScheduler as a ticker only. All state is in the database.

`flask --app wsgi diary worker` runs it in the foreground (BlockingScheduler). Each tick
claims and delivers due outbox rows, expires unanswered check-ins, enqueues daily
reminders and writes a heartbeat that /readyz reads. Any number of workers may run
against one PostgreSQL. SIGTERM lets the batch in hand finish, then exits.
"""

from __future__ import annotations

import logging
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
from diary.domain import alerts, dispatch, maintenance
from diary.extensions import db
from diary.timeutil import utcnow

log = logging.getLogger("diary.worker")


class Worker:
    def __init__(self, app: Flask, worker_id: str | None = None):
        self.app = app
        self.worker_id = worker_id or f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self._last_disengagement_check = 0.0

    def dispatch_tick(self) -> dispatch.BatchStats:
        with self.app.app_context():
            try:
                return dispatch.dispatch_due(
                    self.worker_id,
                    push_sender(self.app),
                    webhook=webhook_sender(self.app),
                    should_stop=self.stopping.is_set,
                )
            finally:
                db.session.remove()

    def maintenance_tick(self) -> None:
        with self.app.app_context():
            try:
                now = utcnow()
                maintenance.expire_checkins(now)
                maintenance.enqueue_reminders(now)
                alerts.escalate(now)
                # A scan of every patient: once a minute is plenty for a days-long rule.
                if time.monotonic() - self._last_disengagement_check >= 60:
                    alerts.evaluate_disengagement(now)
                    self._last_disengagement_check = time.monotonic()
                maintenance.heartbeat(self.worker_id, now)
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
            log.warning("worker %s stopping on signal %s", self.worker_id, signum)
            self.stopping.set()
            # shutdown(wait=True) lets the running batch finish; off the signal handler's frame.
            threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.warning("worker %s started, tick %ss", self.worker_id, self.app.config["SCHEDULER_TICK_SECONDS"])
        scheduler.start()
        log.warning("worker %s stopped", self.worker_id)

    def start_in_background(self) -> BackgroundScheduler:
        """For `make run`: the same jobs inside the dev server process."""
        scheduler = BackgroundScheduler(timezone="UTC", daemon=True)
        self._schedule(scheduler)
        scheduler.start()
        return scheduler
