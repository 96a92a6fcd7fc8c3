"""Dates and shares in words, as the review pages write them (Jinja filters).

A date is told against the patient's own local today ("in 3 days", "tomorrow", "2 days
ago"), never the server's: a patient in Kiritimati may already be a day ahead. A share is
always written beside its counts ("1 of 3 (33 %)"), so a rate of a tiny cohort reads as
what it is.
"""

from __future__ import annotations

import datetime as dt


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """ "1 session", "2 sessions" (`nouns` for irregular plurals)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def spelled(count: int) -> str:
    """Small counts in words, as prose writes them ("two"); digits from 11 on."""
    return NUMBER_WORDS[count] if 0 <= count < len(NUMBER_WORDS) else str(count)


def days_from(day: dt.date, today: dt.date) -> str:
    """`day` told from `today`: "today", "tomorrow", "in 3 days", "yesterday", "2 days ago"."""
    offset = (day - today).days
    if offset == 0:
        return "today"
    if offset == 1:
        return "tomorrow"
    if offset == -1:
        return "yesterday"
    if offset > 0:
        return f"in {offset} days"
    return f"{-offset} days ago"


def short_date(day: dt.date) -> str:
    """ "Mar 4": the month and day, as the charts' date ticks write them."""
    return f"{day:%b} {day.day}"


def share(count: int, total: int) -> str:
    """ "1 of 3 (33 %)"; "0 of 0 (—)" when there is nothing to count from."""
    rate = f"{round(100 * count / total)} %" if total else "—"
    return f"{count} of {total} ({rate})"
