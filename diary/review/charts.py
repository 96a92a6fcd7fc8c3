"""Chart geometry for the review pages: scales, ticks, polyline points, band rectangles.

The pages draw their charts as inline SVG on the server (README, "Review pages"): this
module turns the summary's numbers into coordinates, and the templates only draw them with
SVG presentation attributes. It computes no clinical number of its own: every value plotted
is one the summary or the panel returned (a session's response is the day's mood mean
minus the session's baseline, both from the summary).

Colours are Okabe and Ito's palette, told apart with the common colour-vision deficiencies,
and no series is told by colour alone: each has its own marker shape and dash pattern, and
the legend names them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from diary.domain.forecast import Forecast
from diary.domain.instruments import CATALOGUE

# Okabe & Ito (2008), "Color Universal Design".
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
GREEN = "#009E73"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#595959"  # text and axes: 7:1 on white

WIDTH = 720
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 16, 28, 30
# Daily points get markers only while they stay apart; a long window is drawn as lines.
MARKERS_UP_TO_DAYS = 92
# Days without entries longer than this break a line instead of bridging the gap.
LINE_GAP_DAYS = 3


@dataclass(frozen=True)
class Style:
    name: str
    colour: str
    dash: str | None  # SVG stroke-dasharray
    marker: str  # circle | square | diamond | triangle


MOOD = Style("Mood (daily mean)", BLUE, None, "circle")
ANXIETY = Style("Anxiety (daily mean)", VERMILLION, "6 4", "square")
CHECKIN_MOOD = Style("Check-in answer: mood", BLUE, None, "diamond")
CHECKIN_ANXIETY = Style("Check-in answer: anxiety", VERMILLION, None, "triangle")
SESSION = Style("Treatment session", BLACK, "2 3", "triangle")
SCORE = Style("Total score", BLACK, None, "circle")
# The latest sessions overlaid on the response chart: newest first.
RESPONSE_STYLES = (
    Style("", BLUE, None, "circle"),
    Style("", ORANGE, "7 4", "square"),
    Style("", PURPLE, "2 3", "diamond"),
)


@dataclass(frozen=True)
class Scale:
    """A linear map from a data domain [lo, hi] to pixels [start, end]."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        share = (value - self.lo) / span if span else 0.5
        return round(self.start + share * (self.end - self.start), 1)


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str  # the SVG <title>: what a pointer or a screen reader gets


@dataclass
class Series:
    style: Style
    lines: list[str] = field(default_factory=list)  # polyline "x,y x,y ..." strings
    markers: list[Marker] = field(default_factory=list)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.style.name


@dataclass(frozen=True)
class Band:
    """A horizontal severity band: a rectangle with its name right of the plot, where no
    point can cover it, and its upper cut-off drawn as a dashed line (None for the top band)."""

    y: float
    height: float
    fill: str
    label: str
    label_y: float
    cut_y: float | None = None


@dataclass(frozen=True)
class Rule:
    """A vertical mark across the plot (a session), labelled at the top."""

    x: float
    label: str
    title: str


@dataclass(frozen=True)
class Span:
    """A horizontal bar above the plot (how long a session's effect lasted), labelled at
    its right end."""

    x: float
    y: float
    width: float
    colour: str
    number: int  # the session's, written in the margin
    label: str  # written after the bar when it fits in the plot; the legend has it too


@dataclass(frozen=True)
class WearOffMark:
    """The forecast on the daily chart: the earliest-latest range shaded (day edges), a
    dashed line at the middle of the expected day (None when that day is off the chart)."""

    shade_x: float
    shade_width: float
    expected_x: float | None
    label: str
    anchor: str  # SVG text-anchor of the label: "end" near the right edge
    title: str


@dataclass
class Chart:
    title: str
    description: str  # one sentence for screen readers (aria-label)
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    y_label: str = ""
    x_label: str = ""
    series: list[Series] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    zero_y: float | None = None  # a reference line (the baseline of the response chart)
    zero_label: str = ""
    empty: str = ""  # what the chart says instead when there is nothing to draw
    wear_off: WearOffMark | None = None
    today_x: float | None = None  # a grey line at today, when the chart runs on past it
    notes: list[str] = field(default_factory=list)  # said under the chart (a clipped range)

    @property
    def plot_width(self) -> float:
        return self.right - self.left

    @property
    def plot_height(self) -> float:
        return self.bottom - self.top


def _frame(title: str, description: str, height: int, *, top: float = MARGIN_TOP) -> Chart:
    return Chart(
        title=title,
        description=description,
        width=WIDTH,
        height=height,
        left=MARGIN_LEFT,
        top=top,
        right=WIDTH - MARGIN_RIGHT,
        bottom=height - MARGIN_BOTTOM,
    )


def _number(value: float) -> str:
    return f"{value:.1f}"


def _lines(points: Sequence[tuple[float, float, float]], x: Scale, y: Scale, gap: float) -> list[str]:
    """Polylines through (position, x value, y value) points, broken where positions jump by more than `gap`."""
    lines: list[list[tuple[float, float]]] = []
    previous: float | None = None
    for position, x_value, y_value in points:
        if previous is None or position - previous > gap:
            lines.append([])
        lines[-1].append((x(x_value), y(y_value)))
        previous = position
    # A day alone between gaps still shows: a stroke of two pixels, its round caps a dot.
    return [
        " ".join(
            f"{px},{py}"
            for px, py in (line if len(line) > 1 else [(line[0][0] - 1, line[0][1]), (line[0][0] + 1, line[0][1])])
        )
        for line in lines
    ]


# --- time axes ----------------------------------------------------------------------------


def _month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    day = first.replace(day=1)
    months = []
    while day <= last:
        if day >= first:
            months.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def date_ticks(first: dt.date, last: dt.date, x: Scale) -> list[Tick]:
    """At most about eight labelled dates: days or weeks for short windows, months beyond."""
    span = (last - first).days + 1
    if span <= 62:
        step = 1 if span <= 8 else 2 if span <= 16 else 7 if span <= 45 else 14
        days = [first + dt.timedelta(days=i) for i in range(0, span, step)]
        return [Tick(x((d - first).days), f"{d:%b} {d.day}") for d in days]
    months = _month_starts(first, last)
    every = max(1, math.ceil(len(months) / 8))
    ticks = []
    for i, month in enumerate(months[::every]):
        label = f"{month:%b %Y}" if i == 0 or month.month == 1 else f"{month:%b}"
        ticks.append(Tick(x((month - first).days), label))
    return ticks


def _value_ticks(lo: int, hi: int, step: int, y: Scale) -> list[Tick]:
    def label(v: int) -> str:
        if lo >= 0 or not v:
            return str(v)
        return f"+{v}" if v > 0 else f"\u2212{-v}"  # a typographic minus

    return [Tick(y(v), label(v)) for v in range(lo, hi + 1, step)]


def _position(instant: dt.datetime, first: dt.date, zone: ZoneInfo) -> float:
    """Days since the window's first local midnight, with the local time as a fraction."""
    local = instant.astimezone(zone)
    return (local.date() - first).days + (local.hour * 60 + local.minute) / 1440


def _iso_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


# --- the patient page's charts ------------------------------------------------------------


@dataclass(frozen=True)
class SessionMark:
    number: int
    started_at: dt.datetime
    route: str
    dose_mg: float | None

    @property
    def short(self) -> str:
        dose = f" {self.dose_mg:g} mg" if self.dose_mg is not None else ""
        return f"{route_label(self.route)}{dose}"


ROUTE_LABELS = {"iv": "IV", "im": "IM", "intranasal": "Intranasal", "oral": "Oral", "sublingual": "Sublingual"}


def route_label(route: str) -> str:
    return ROUTE_LABELS.get(route, route)


def session_marks(sessions: Iterable[dict[str, Any]]) -> list[SessionMark]:
    """The summary's sessions, numbered 1.. in time order (the number links chart and table)."""
    ordered = sorted(sessions, key=lambda s: s["started_at"])
    return [SessionMark(i, s["started_at"], s["route"], s["dose_mg"]) for i, s in enumerate(ordered, start=1)]


def shown_until(first: dt.date, last: dt.date, expected: Forecast | None, today: dt.date | None) -> dt.date:
    """The daily chart's last day: the window's, or, when the window ends today and the
    forecast's range runs on past it, the range's latest day, at most the window's length
    past today (a longer range is clipped, and the chart says so)."""
    if expected is None or today is None or last != today or expected.latest <= today:
        return last
    return min(expected.latest, last + dt.timedelta(days=(last - first).days + 1))


def wear_off_mark(
    expected: Forecast, first: dt.date, shown_last: dt.date, x: Scale
) -> tuple[WearOffMark | None, list[str]]:
    """The forecast drawn on a chart of local days `first`..`shown_last`, and what of it
    does not fit, in words."""
    notes = []
    low, high = max(expected.earliest, first), min(expected.latest, shown_last)
    if expected.latest > shown_last:
        notes.append(f"The wear-off range runs on past this chart, to {_day(expected.latest)}.")
    if expected.earliest < first:
        notes.append(f"The wear-off range starts before this chart, on {_day(expected.earliest)}.")
    if low > high:
        return None, [f"The forecast ({_day(expected.earliest)} to {_day(expected.latest)}) lies outside this chart."]
    shade_x = x((low - first).days)
    expected_x = None
    if first <= expected.expected_wear_off_date <= shown_last:
        expected_x = x((expected.expected_wear_off_date - first).days + 0.5)
    else:
        notes.append(f"The expected wear-off day, {_day(expected.expected_wear_off_date)}, is not on this chart.")
    label = f"Expected wear-off {_day(expected.expected_wear_off_date)}"
    anchor = "end" if expected_x is not None and expected_x > (x.start + x.end) / 2 else "start"
    title = (
        f"Expected wear-off {expected.expected_wear_off_date.isoformat()} "
        f"(earliest {expected.earliest.isoformat()}, latest {expected.latest.isoformat()})"
    )
    mark = WearOffMark(shade_x, round(x((high - first).days + 1) - shade_x, 1), expected_x, label, anchor, title)
    return mark, notes


def _day(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


def daily_chart(
    daily: Sequence[dict[str, Any]],
    first: dt.date,
    last: dt.date,
    zone: str,
    sessions: Sequence[dict[str, Any]],
    *,
    expected: Forecast | None = None,
    today: dt.date | None = None,
) -> Chart:
    """Daily mood and anxiety means over the window (0-10), every session a vertical mark
    labelled with route and dose, and each answered check-in as its own marker; the
    forecast's wear-off day and range, past today when the window ends today."""
    tz = ZoneInfo(zone)
    shown_last = shown_until(first, last, expected, today)
    days = (shown_last - first).days + 1
    forecast_text = (
        f" Expected wear-off {expected.expected_wear_off_date.isoformat()}, "
        f"between {expected.earliest.isoformat()} and {expected.latest.isoformat()}."
        if expected
        else ""
    )
    chart = _frame(
        "Mood and anxiety, daily",
        f"Daily mean mood and anxiety from {first.isoformat()} to {last.isoformat()}, "
        f"{len(daily)} days with entries, {len(sessions)} sessions marked.{forecast_text}",
        300,
        top=44,
    )
    x = Scale(0, days, chart.left, chart.right)
    y = Scale(0, 10, chart.bottom, chart.top)
    chart.x_ticks = date_ticks(first, shown_last, x)
    if expected is not None:
        chart.wear_off, chart.notes = wear_off_mark(expected, first, shown_last, x)
    if shown_last > last and today is not None:
        chart.today_x = x((today - first).days + 0.5)
    chart.y_ticks = _value_ticks(0, 10, 2, y)
    chart.y_label = "score 0-10"
    with_markers = days <= MARKERS_UP_TO_DAYS
    for style, key in ((MOOD, "mood_mean"), (ANXIETY, "anxiety_mean")):
        points = [((_iso_date(d["date"]) - first).days + 0.5, d[key]) for d in daily]
        series = Series(style, lines=_lines([(p, p, v) for p, v in points], x, y, LINE_GAP_DAYS))
        if with_markers:
            series.markers = [
                Marker(x(p), y(v), f"{_iso_date(d['date']).isoformat()}: {style.name.split(' ')[0].lower()} {v:.1f}")
                for (p, v), d in zip(points, daily, strict=True)
            ]
        chart.series.append(series)
    answers = {CHECKIN_MOOD: Series(CHECKIN_MOOD), CHECKIN_ANXIETY: Series(CHECKIN_ANXIETY)}
    marks = session_marks(sessions)
    # Room for "Intranasal 84 mg" beside each mark, else the number alone (the table has the rest).
    positions = [x(_position(m.started_at, first, tz)) for m in marks]
    roomy = all(b - a >= 96 for a, b in itertools.pairwise(positions))
    for mark, position in zip(marks, positions, strict=True):
        local = mark.started_at.astimezone(tz)
        label = f"{mark.number} {mark.short}" if roomy else str(mark.number)
        chart.rules.append(Rule(position, label, f"Session {mark.number}: {local:%Y-%m-%d %H:%M}, {mark.short}"))
    for session in sessions:
        for checkin in session["checkins"]:
            position = _position(checkin["due_at"], first, tz)
            if not 0 <= position <= days:
                continue
            for style, key in ((CHECKIN_MOOD, "mood"), (CHECKIN_ANXIETY, "anxiety")):
                if checkin[key] is not None:
                    answers[style].markers.append(
                        Marker(x(position), y(checkin[key]), f"Check-in {checkin['label']}: {key} {checkin[key]}")
                    )
    chart.series.extend(s for s in answers.values() if s.markers)
    if not daily and not marks and chart.wear_off is None:
        chart.empty = "No entries and no sessions in this window."
    return chart


@dataclass(frozen=True)
class ResponseDay:
    """One day after a dose: the day's mood mean against the session's baseline."""

    session_number: int
    day: int  # days since the session's local day (0 = that day)
    date: dt.date
    mood_mean: float
    baseline: float

    @property
    def difference(self) -> float:
        return self.mood_mean - self.baseline


@dataclass(frozen=True)
class Response:
    mark: SessionMark
    baseline: float
    effect_days: int | None
    days: list[ResponseDay]
    style: Style


RESPONSE_SESSIONS = 3
RESPONSE_HORIZON_DAYS = 14


def responses(
    sessions: Sequence[dict[str, Any]], daily: Sequence[dict[str, Any]], zone: str, *, latest: int = RESPONSE_SESSIONS
) -> list[Response]:
    """The latest sessions that have a baseline, newest first, each with the daily mood means
    from its local day until the next session's day (or RESPONSE_HORIZON_DAYS)."""
    tz = ZoneInfo(zone)
    by_date = {_iso_date(d["date"]): d["mood_mean"] for d in daily}
    marks = session_marks(sessions)
    ordered = sorted(sessions, key=lambda s: s["started_at"])
    local_days = [s["started_at"].astimezone(tz).date() for s in ordered]
    chosen = [i for i, s in enumerate(ordered) if s["baseline"]["mood"] is not None][-latest:][::-1]
    result = []
    for style, i in zip(RESPONSE_STYLES, chosen, strict=False):
        session, day0 = ordered[i], local_days[i]
        until = RESPONSE_HORIZON_DAYS
        later = [d for d in local_days[i + 1 :] if d > day0]
        if later:
            until = min(until, (later[0] - day0).days - 1)
        baseline = session["baseline"]["mood"]
        days = [
            ResponseDay(marks[i].number, k, day0 + dt.timedelta(days=k), by_date[day0 + dt.timedelta(days=k)], baseline)
            for k in range(until + 1)
            if day0 + dt.timedelta(days=k) in by_date
        ]
        result.append(Response(marks[i], baseline, session["effect_days"], days, style))
    return result


def response_chart(found: Sequence[Response]) -> Chart:
    """Each response as mood minus baseline (0 = the baseline) by days since the dose, the
    latest sessions overlaid; a bar above the plot spans each session's effect_days."""
    rows = max(1, len(found))
    chart = _frame(
        "Response to the latest sessions",
        "Daily mood minus the session's baseline, by days since the dose, "
        f"for the latest {len(found)} sessions with a baseline.",
        300 + 16 * rows,
        top=20 + 16 * rows,
    )
    chart.bottom -= 14  # room for the x axis' name under its ticks
    if not found:
        chart.empty = "No session in this window has a baseline (entries in the 7 days before it)."
        return chart
    horizon = max([7] + [d.day for r in found for d in r.days] + [r.effect_days or 0 for r in found])
    horizon = min(horizon, RESPONSE_HORIZON_DAYS)
    reach = max([3.0] + [abs(d.difference) for r in found for d in r.days])
    bound = math.ceil(reach)
    x = Scale(0, horizon, chart.left, chart.right)
    y = Scale(-bound, bound, chart.bottom, chart.top)
    chart.x_ticks = [Tick(x(k), str(k)) for k in range(0, horizon + 1, 1 if horizon <= 14 else 2)]
    chart.y_ticks = _value_ticks(-bound, bound, 1 if bound <= 4 else 2, y)
    chart.x_label = "days since the dose"
    chart.y_label = "mood vs baseline"
    chart.zero_y = y(0)
    chart.zero_label = "baseline"
    for row, response in enumerate(found):
        local = response.mark
        effect = response.effect_days
        effect_text = (
            f"effect {effect} day{'s' if effect != 1 else ''}" if effect is not None else "effect not yet ended"
        )
        label = f"Session {local.number} ({local.short}): baseline {_number(response.baseline)}, {effect_text}"
        series = Series(response.style, label=label)
        points = [(d.day, d.day, d.difference) for d in response.days]
        series.lines = _lines(points, x, y, LINE_GAP_DAYS)
        series.markers = [
            Marker(x(d.day), y(d.difference), f"Session {local.number}, day {d.day}: mood {d.mood_mean:.1f}")
            for d in response.days
        ]
        chart.series.append(series)
        width = max(x(min(effect, horizon)) - x(0) if effect is not None else x(horizon) - x(0), 2.0)
        # About 7 px a character at 12 px: the text goes after the bar only where it fits.
        fits = x(0) + width + 6 + 7 * len(effect_text) <= chart.right
        chart.spans.append(
            Span(x(0), 6 + 16 * row, round(width, 1), response.style.colour, local.number, effect_text if fits else "")
        )
    return chart


# Band shades from light to darker grey: the band names carry the meaning, not the shade.
BAND_FILLS = ("#F4F4F4", "#E9E9E9", "#DDDDDD", "#D1D1D1", "#C5C5C5")
BAND_LABELS = {"probable_ptsd": "probable PTSD"}
# Room right of a score chart's plot for its band names ("moderately severe", "probable ptsd").
BAND_LABEL_ROOM = 128


def score_chart(
    title: str,
    scores: Sequence[dict[str, Any]],
    bands: Sequence[tuple[int, str]],
    first: dt.date,
    last: dt.date,
    zone: str,
) -> Chart:
    """Questionnaire totals over the window on their severity bands (`bands`: the
    instrument's (inclusive upper bound, name) pairs from diary.domain.instruments)."""
    tz = ZoneInfo(zone)
    days = (last - first).days + 1
    top_score = bands[-1][0]
    chart = _frame(title, f"{title} totals from {first.isoformat()} to {last.isoformat()}: {len(scores)} scores.", 240)
    chart.right -= BAND_LABEL_ROOM
    x = Scale(0, days, chart.left, chart.right)
    y = Scale(0, top_score, chart.bottom, chart.top)
    chart.x_ticks = date_ticks(first, last, x)
    # About six to nine labelled totals, whatever the scale's range (GAD-7 21 .. PCL-5 80).
    step = 3 if top_score <= 21 else 5 if top_score <= 30 else 10 if top_score <= 60 else 20
    chart.y_ticks = _value_ticks(0, top_score, step, y)
    chart.y_label = "total"
    lower = 0.0
    for (upper, name), fill in zip(bands, BAND_FILLS, strict=False):
        # A total of 4 belongs to 0-4: the band's edge sits half a point above its bound.
        high = min(upper + 0.5, top_score)
        label_y = round((y(high) + y(lower)) / 2, 1)
        cut = y(high) if high < top_score else None
        label = BAND_LABELS.get(name, name.replace("_", " "))
        chart.bands.append(Band(y(high), round(y(lower) - y(high), 1), fill, label, label_y, cut))
        lower = high
    points = [(_position(s["recorded_at"], first, tz), s) for s in scores]
    series = Series(SCORE)
    series.lines = _lines([(p, p, s["total"]) for p, s in points], x, y, float("inf"))
    series.markers = [
        Marker(x(p), y(s["total"]), f"{s['recorded_at'].astimezone(tz):%Y-%m-%d}: {s['total']} ({s['severity']})")
        for p, s in points
    ]
    chart.series.append(series)
    if not scores:
        chart.empty = f"No {title} in this window."
    return chart


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    y: float
    width: float
    value_x: float


@dataclass
class BarChart:
    title: str
    description: str
    width: int
    height: int
    left: float
    bars: list[Bar]
    bar_height: float
    colour: str = BLUE
    empty: str = ""


def side_effect_chart(side_effects: dict[str, int]) -> BarChart:
    """Reported side effects, most frequent first (counts of entries that named each)."""
    reported = sorted(((n, name) for name, n in side_effects.items() if n), key=lambda t: (-t[0], t[1]))
    left, row = 150, 26
    chart = BarChart(
        "Side effects reported",
        f"{len(reported)} kinds of side effect reported in this window.",
        WIDTH,
        max(1, len(reported)) * row + 12,
        left,
        [],
        18,
    )
    if not reported:
        chart.empty = "No side effects reported in this window."
        return chart
    scale = Scale(0, reported[0][0], 0, WIDTH - left - 60)
    for i, (count, name) in enumerate(reported):
        width = max(scale(count), 2.0)
        chart.bars.append(Bar(name.replace("_", " "), count, 6 + i * row, width, left + width + 6))
    return chart


# --- the panel's sparklines ---------------------------------------------------------------


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    lines: list[str]
    last: Marker | None
    description: str


def sparkline(values: Sequence[float | None], name: str, *, lo: float = 0, hi: float = 10) -> Sparkline:
    """A small line of daily means (None = no entries that day), the latest point dotted."""
    width, height = 96, 24
    x = Scale(0, max(1, len(values) - 1), 2, width - 2)
    y = Scale(lo, hi, height - 2, 2)
    points = [(i, i, v) for i, v in enumerate(values) if v is not None]
    known = [v for v in values if v is not None]
    if not known:
        return Sparkline(width, height, [], None, f"{name}: no entries in the last {len(values)} days")
    last_i, _, last_v = points[-1]
    description = (
        f"{name}, last {len(values)} days: {len(known)} days with entries, "
        f"lowest {min(known):.1f}, highest {max(known):.1f}, latest {last_v:.1f}"
    )
    return Sparkline(width, height, _lines(points, x, y, LINE_GAP_DAYS), Marker(x(last_i), y(last_v), ""), description)


# --- the patient page, all charts ---------------------------------------------------------


@dataclass(frozen=True)
class PatientCharts:
    sessions: list[SessionMark]
    daily: Chart
    responses: list[Response]
    response: Chart
    phq9: Chart
    gad7: Chart
    side_effects: BarChart
    madrs: Chart
    pcl5: Chart


def for_patient(page: Any) -> PatientCharts:
    """Every chart of the patient page (a diary.domain.review.PatientReview)."""
    summary, first, last, zone = page.summary, page.window.first, page.window.last, page.timezone
    found = responses(summary["sessions"], summary["daily"], zone)
    return PatientCharts(
        sessions=session_marks(summary["sessions"]),
        daily=daily_chart(
            summary["daily"],
            first,
            last,
            zone,
            summary["sessions"],
            expected=summary["forecast"],
            today=page.window.today,
        ),
        responses=found,
        response=response_chart(found),
        phq9=score_chart("PHQ-9", summary["assessments"]["phq9"], CATALOGUE["phq9"].bands, first, last, zone),
        gad7=score_chart("GAD-7", summary["assessments"]["gad7"], CATALOGUE["gad7"].bands, first, last, zone),
        side_effects=side_effect_chart(summary["side_effects"]),
        madrs=score_chart("MADRS", summary["assessments"]["madrs"], CATALOGUE["madrs"].bands, first, last, zone),
        pcl5=score_chart("PCL-5", summary["assessments"]["pcl5"], CATALOGUE["pcl5"].bands, first, last, zone),
    )
