"""The questionnaires and rating scales the diary scores: one catalogue, rules as data.

Each instrument is a row of CATALOGUE: its items and answer range, who rates it, and how a
set of answers is read: severity bands by total, or risk levels by which items were
answered yes; which answer combinations are impossible (a screen's skip rule); and whether
the answers report self-harm (which raises the critical `self_harm` alert in the same
request and returns the crisis resources). Adding an instrument is a row here and a test.

Sources for the bands and rules: PHQ-9 (Kroenke et al. 2001), GAD-7 (Spitzer et al. 2006),
PCL-5 (Weathers et al. 2013; provisional PTSD cut-point 33 as API.md sets it), C-SSRS
screen version (Posner et al.; risk levels as API.md defines them), MADRS (Montgomery &
Åsberg 1979; bands as API.md sets them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from flask import current_app

from diary.domain.errors import Invalid
from diary.domain.safety import SELF_HARM_FROM

Rater = Literal["patient", "clinician"]


@dataclass(frozen=True)
class SkipRule:
    """Items that may only be answered (non-zero) after a given answer to another item:
    C-SSRS asks items 3-5 only after a yes to item 2. Items are numbered from 1."""

    when_item: int
    is_answer: int
    then_items: tuple[int, ...]


@dataclass(frozen=True)
class Instrument:
    code: str
    title: str
    items: int
    lowest: int
    highest: int
    rated_by: Rater
    # (highest total of the band, band) ascending; the last band's bound is the maximum total.
    bands: tuple[tuple[int, str], ...] = ()
    # (level, items whose yes sets it) from the highest level down; `no_risk` when none is met.
    risk_levels: tuple[tuple[str, tuple[int, ...]], ...] = ()
    no_risk: str = "none"
    skip_rules: tuple[SkipRule, ...] = ()
    # Self-harm: an item answered at least SELF_HARM_FROM, or a risk level among these.
    self_harm_item: int | None = None
    self_harm_risks: frozenset[str] = field(default_factory=frozenset)
    # The items' standard names, in order, where a form shows them one by one.
    item_names: tuple[str, ...] = ()

    @property
    def has_risk(self) -> bool:
        return bool(self.risk_levels)

    @property
    def levels(self) -> tuple[str, ...]:
        """Every severity band or risk level, from the best to the worst."""
        if self.has_risk:
            return (self.no_risk, *(level for level, _ in reversed(self.risk_levels)))
        return tuple(band for _, band in self.bands)

    def check(self, answers: Sequence[int]) -> None:
        """Answers this instrument can have, or Invalid naming `answers`."""
        if len(answers) != self.items:
            raise Invalid("answers", f"{self.code} has {self.items} items, got {len(answers)}")
        out_of_range = [n for n, answer in enumerate(answers, 1) if not self.lowest <= answer <= self.highest]
        if out_of_range:
            raise Invalid(
                "answers", f"{self.code} answers are {self.lowest} to {self.highest}; item {out_of_range[0]} is not"
            )
        for rule in self.skip_rules:
            if answers[rule.when_item - 1] == rule.is_answer and any(answers[i - 1] for i in rule.then_items):
                items = ", ".join(str(i) for i in rule.then_items)
                raise Invalid(
                    "answers", f"items {items} must be 0 when item {rule.when_item} is {rule.is_answer} (not asked)"
                )

    def total(self, answers: Sequence[int]) -> int:
        return sum(answers)

    def severity(self, total: int) -> str | None:
        for upper, band in self.bands:
            if total <= upper:
                return band
        return None

    def risk(self, answers: Sequence[int]) -> str | None:
        if not self.has_risk:
            return None
        for level, items in self.risk_levels:
            if any(answers[i - 1] for i in items):
                return level
        return self.no_risk

    def reports_self_harm(self, answers: Sequence[int]) -> bool:
        if self.self_harm_item is not None and answers[self.self_harm_item - 1] >= SELF_HARM_FROM:
            return True
        return self.risk(answers) in self.self_harm_risks


@dataclass(frozen=True)
class Score:
    total: int
    severity: str | None
    risk: str | None
    reports_self_harm: bool


CATALOGUE: dict[str, Instrument] = {
    instrument.code: instrument
    for instrument in (
        Instrument(
            code="phq9",
            title="PHQ-9",
            items=9,
            lowest=0,
            highest=3,
            rated_by="patient",
            bands=((4, "minimal"), (9, "mild"), (14, "moderate"), (19, "moderately_severe"), (27, "severe")),
            # Item 9: "thoughts that you would be better off dead, or of hurting yourself".
            self_harm_item=9,
        ),
        Instrument(
            code="gad7",
            title="GAD-7",
            items=7,
            lowest=0,
            highest=3,
            rated_by="patient",
            bands=((4, "minimal"), (9, "mild"), (14, "moderate"), (21, "severe")),
        ),
        Instrument(
            code="pcl5",
            title="PCL-5",
            items=20,
            lowest=0,
            highest=4,
            rated_by="patient",
            bands=((32, "below_threshold"), (80, "probable_ptsd")),
        ),
        Instrument(
            code="cssrs_screen",
            title="C-SSRS screen",
            items=6,
            lowest=0,
            highest=1,
            rated_by="patient",
            # 1 wish to be dead, 2 suicidal thoughts, 3 methods, 4 intent, 5 plan, 6 behaviour.
            risk_levels=(("high", (4, 5, 6)), ("moderate", (3,)), ("low", (1, 2))),
            skip_rules=(SkipRule(when_item=2, is_answer=0, then_items=(3, 4, 5)),),
            self_harm_risks=frozenset({"moderate", "high"}),
        ),
        Instrument(
            code="madrs",
            title="MADRS",
            items=10,
            lowest=0,
            highest=6,
            # Rated in the room by the clinician, who is the one who would act on item 10: it
            # raises no alert of its own.
            rated_by="clinician",
            bands=((6, "normal"), (19, "mild"), (34, "moderate"), (60, "severe")),
            item_names=(
                "Apparent sadness",
                "Reported sadness",
                "Inner tension",
                "Reduced sleep",
                "Reduced appetite",
                "Concentration difficulties",
                "Lassitude",
                "Inability to feel",
                "Pessimistic thoughts",
                "Suicidal thoughts",
            ),
        ),
    )
}

PATIENT_RATED = tuple(code for code, instrument in CATALOGUE.items() if instrument.rated_by == "patient")
CLINICIAN_RATED = tuple(code for code, instrument in CATALOGUE.items() if instrument.rated_by == "clinician")
MOST_ITEMS = max(instrument.items for instrument in CATALOGUE.values())


def score(code: str, answers: Sequence[int]) -> Score:
    """Validate and score answers to an instrument of the catalogue."""
    instrument = CATALOGUE[code]
    instrument.check(answers)
    total = instrument.total(answers)
    return Score(total, instrument.severity(total), instrument.risk(answers), instrument.reports_self_harm(answers))


RESPONSE_FALL_PERCENT = 50


def responded(baseline: int, latest: int) -> bool:
    """Response: a fall of at least RESPONSE_FALL_PERCENT (50 %) from the pre-treatment
    baseline, compared exactly in integers; a baseline of 0 has nothing to fall from."""
    return baseline > 0 and 100 * latest <= (100 - RESPONSE_FALL_PERCENT) * baseline


def in_remission(code: str, total: int) -> bool:
    """Remission: PHQ-9 below REMISSION_PHQ9_CUTOFF (5); MADRS at most MADRS_REMISSION_CUTOFF (10)."""
    cfg = current_app.config
    if code == "phq9":
        return total < cfg["REMISSION_PHQ9_CUTOFF"]
    if code == "madrs":
        return total <= cfg["MADRS_REMISSION_CUTOFF"]
    raise ValueError(f"no remission rule for {code}")
