"""PHQ-9 and GAD-7 scoring with their published severity bands."""

from __future__ import annotations

# (upper bound inclusive, band) in ascending order.
PHQ9_BANDS = ((4, "minimal"), (9, "mild"), (14, "moderate"), (19, "moderately_severe"), (27, "severe"))
GAD7_BANDS = ((4, "minimal"), (9, "mild"), (14, "moderate"), (21, "severe"))

INSTRUMENTS = {"phq9": (9, PHQ9_BANDS), "gad7": (7, GAD7_BANDS)}


def item_count(instrument: str) -> int:
    return INSTRUMENTS[instrument][0]


def severity(instrument: str, total: int) -> str:
    for upper, band in INSTRUMENTS[instrument][1]:
        if total <= upper:
            return band
    raise ValueError(f"{instrument} total {total} out of range")


def score(instrument: str, answers: list[int]) -> tuple[int, str]:
    count, _ = INSTRUMENTS[instrument]
    if len(answers) != count or any(a not in (0, 1, 2, 3) for a in answers):
        raise ValueError(f"{instrument} needs {count} answers between 0 and 3")
    total = sum(answers)
    return total, severity(instrument, total)


def reports_self_harm(instrument: str, answers: list[int]) -> bool:
    """PHQ-9 item 9: thoughts that you would be better off dead or of hurting yourself."""
    return instrument == "phq9" and answers[8] >= 1
