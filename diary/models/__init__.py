"""Typed SQLAlchemy models, one module per aggregate."""

from diary.models.alerts import ALERT_STATUSES, RULES, SEVERITY, UNRESOLVED, Alert
from diary.models.audit import AuditEvent
from diary.models.clinics import Clinic
from diary.models.effects import SessionEffect
from diary.models.entries import SIDE_EFFECTS, Assessment, Entry, EntryDay, EntrySideEffect, EntryVersion
from diary.models.monitoring import ADVERSE_EVENTS, OBSERVED_LEVELS, SessionMonitoring
from diary.models.outbox import KINDS, OPEN_STATUSES, Notification, WorkerHeartbeat
from diary.models.panel import NO_MOOD, PanelWindow, PatientPanel
from diary.models.sessions import CHECKIN_STATUSES, MEDICATIONS, ROUTES, Checkin, TreatmentSession
from diary.models.users import (
    ROLES,
    STAFF_ROLES,
    AuthSession,
    Device,
    EnrollmentCode,
    PatientProfile,
    RefreshToken,
    User,
)

__all__ = [
    "ADVERSE_EVENTS",
    "ALERT_STATUSES",
    "CHECKIN_STATUSES",
    "KINDS",
    "MEDICATIONS",
    "NO_MOOD",
    "OBSERVED_LEVELS",
    "OPEN_STATUSES",
    "ROLES",
    "ROUTES",
    "RULES",
    "SEVERITY",
    "SIDE_EFFECTS",
    "STAFF_ROLES",
    "UNRESOLVED",
    "Alert",
    "Assessment",
    "AuditEvent",
    "AuthSession",
    "Checkin",
    "Clinic",
    "Device",
    "EnrollmentCode",
    "Entry",
    "EntryDay",
    "EntrySideEffect",
    "EntryVersion",
    "Notification",
    "PanelWindow",
    "PatientPanel",
    "PatientProfile",
    "RefreshToken",
    "SessionEffect",
    "SessionMonitoring",
    "TreatmentSession",
    "User",
    "WorkerHeartbeat",
]
