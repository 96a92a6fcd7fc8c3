"""The one code table of the FHIR export: every code system and code it writes.

Plain data (no FHIR library import), so the table can be read, reviewed and tested on
its own. Each code carries the page it was checked against. LOINC displays are the
Long Common Names as LOINC (or an HL7 guide validated against LOINC's terminology)
publishes them; where only the code could be checked, `display` is None and the export
writes the code without a display rather than guess one (FHIR makes display optional).

What has no standard code is coded in the project's own code system, whose canonical
URL is configuration (FHIR_CODE_SYSTEM_URL); its codes are the `PROJECT_*` entries.

Instruments and vitals of issue 12 (pcl5, cssrs_screen, madrs, session monitoring) are
listed already: adding one to the export is an entry in INSTRUMENT_CODES, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# The project's own code system: stands for the configured FHIR_CODE_SYSTEM_URL.
PROJECT = "project"


@dataclass(frozen=True)
class Code:
    system: str  # a URL, or PROJECT for the configured project code system
    code: str
    display: str | None
    source: str  # where the code (and display, when given) was checked


# --- Observation categories (FHIR core code system) -------------------------------------
SURVEY = Code(
    OBSERVATION_CATEGORY,
    "survey",
    "Survey",
    "https://hl7.org/fhir/R4/codesystem-observation-category.html",
)
VITAL_SIGNS = Code(
    OBSERVATION_CATEGORY,
    "vital-signs",
    "Vital Signs",
    "https://hl7.org/fhir/R4/codesystem-observation-category.html",
)

# --- Project code system ----------------------------------------------------------------
PROJECT_MOOD = Code(PROJECT, "mood", "Mood, 0 (worst) to 10 (best)", "project code system")
PROJECT_ANXIETY = Code(PROJECT, "anxiety", "Anxiety, 0 (none) to 10 (worst)", "project code system")

_LL358 = "https://loinc.org/LL358-3 (answer list page: LOINC terms using it, with their long common names)"
_PHQSADS = "https://loinc.org/69729-2 (PHQ-SADS panel hierarchy, LOINC)"
_PHR_GAD7 = (
    "HL7 Personal Health Record IG, Questionnaire gad7 (github.com/HL7/personal-health-record-format-ig, "
    "codes and displays as validated by the IG publisher against LOINC)"
)
_HL7_VALIDATOR_44250 = (
    "HL7 validator (tx.fhir.org LOINC) message quoted in a public test report: "
    "\"Valid display is 'Little interest or pleasure in doing things in last 2 weeks'\" / "
    "\"... 'Feeling down, depressed, or hopeless in last 2 weeks'\""
)


@dataclass(frozen=True)
class InstrumentCodes:
    """How one instrument's assessment is coded: the total and one code per item, in item order."""

    total: Code
    items: tuple[Code, ...]


# PHQ-9 items in questionnaire order (order from https://loinc.org/69729-2 and US Core's
# PHQ-9 panel example Observation-PHQ9-panel-example-44249-1, hasMember order).
PHQ9 = InstrumentCodes(
    total=Code(
        LOINC,
        "44261-6",
        "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        "https://cdn.loinc.org/44261-6",
    ),
    items=(
        Code(LOINC, "44250-9", "Little interest or pleasure in doing things in last 2 weeks", _HL7_VALIDATOR_44250),
        Code(LOINC, "44255-8", "Feeling down, depressed, or hopeless in last 2 weeks", _HL7_VALIDATOR_44250),
        Code(
            LOINC,
            "44259-0",
            "Trouble falling or staying asleep, or sleeping too much in last 2 weeks [Reported.PHQ]",
            "HL7 US Core IG example Observation-PHQ9-item-example-44259-0 (github.com/HL7/US-Core)",
        ),
        Code(LOINC, "44254-1", "Feeling tired or having little energy in last 2 weeks [Reported.PHQ]", _LL358),
        Code(LOINC, "44251-7", "Poor appetite or overeating in last 2 weeks [Reported.PHQ]", _LL358),
        Code(
            LOINC,
            "44258-2",
            "Feeling bad about yourself - or that you are a failure or have let yourself or your family down "
            "in last 2 weeks [Reported.PHQ]",
            _LL358,
        ),
        Code(
            LOINC,
            "44252-5",
            "Trouble concentrating on things, such as reading the newspaper or watching television "
            "in last 2 weeks [Reported.PHQ]",
            _LL358,
        ),
        Code(
            LOINC,
            "44253-3",
            "Moving or speaking so slowly that other people could have noticed. Or the opposite - being so "
            "fidgety or restless that you have been moving around a lot more than usual in last 2 weeks "
            "[Reported.PHQ]",
            _LL358,
        ),
        Code(
            LOINC,
            "44260-8",
            "Thoughts that you would be better off dead, or of hurting yourself in some way in last 2 weeks "
            "[Reported.PHQ]",
            _LL358,
        ),
    ),
)

# GAD-7 items in questionnaire order (https://loinc.org/69729-2). 69689-8's long common
# name really says "4 weeks" (LOINC shares the term with the PHQ-SADS); it is the term
# LOINC's GAD-7 panel uses.
GAD7 = InstrumentCodes(
    total=Code(
        LOINC,
        "70274-6",
        "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
        _PHQSADS,
    ),
    items=(
        Code(LOINC, "69725-0", "Feeling nervous, anxious or on edge in last 2 weeks", _PHR_GAD7),
        Code(LOINC, "68509-9", "Not able to stop or control worrying in the last 2 weeks", _PHR_GAD7),
        Code(LOINC, "69733-4", "Worrying too much about different things in last 2 weeks [Reported.PHQ]", _PHR_GAD7),
        Code(LOINC, "69734-2", "Trouble relaxing in last 2 weeks [Reported.PHQ]", _PHR_GAD7),
        Code(LOINC, "69735-9", "Being so restless that it is hard to sit still in last 2 weeks [Reported.PHQ]", _LL358),
        Code(LOINC, "69689-8", "Becoming easily annoyed or irritable in last 4 weeks [Reported.PHQ]", _LL358),
        Code(
            LOINC,
            "69736-7",
            "Feeling afraid as if something awful might happen in last 2 weeks [Reported.PHQ]",
            _LL358,
        ),
    ),
)

# Issue 12's instruments, ready for when their assessments exist.
# PCL-5: LOINC has the panel 101697-1 and the score 101698-9; its 20 item terms were not
# checked here, so the items are coded in the project system.
PCL5 = InstrumentCodes(
    total=Code(
        LOINC,
        "101698-9",
        "PTSD PCL-5 score [PCL-5]",
        "LOINC table as republished at findacode.com/loinc/101697-1 (panel) and "
        "healthassure.in/codes/loinc-101698-9 (score); loinc.org's own page was not in reach",
    ),
    items=tuple(Code(PROJECT, f"pcl5-item-{n}", f"PCL-5 item {n}", "project code system") for n in range(1, 21)),
)

# C-SSRS screen: LOINC has no term for "number of yes answers" (the project's total), so
# the total is a project code. Items 1-5 are the LOINC C-SSRS "1 month" terms the HL7 US
# Behavioral Health Profiles IG uses for the screen version (QuestionnaireResponse
# C-SSRS-example-1); their displays were not checked, so none is written. Item 6 (any
# suicidal behaviour in the past 3 months) has no single LOINC term: LOINC splits it into
# lifetime behaviour (93267-3) and "was this within the past 3 months" (93269-9).
_BHP_CSSRS = "https://build.fhir.org/ig/HL7/us-behavioral-health-profiles/QuestionnaireResponse-C-SSRS-example-1.html"
CSSRS_SCREEN = InstrumentCodes(
    total=Code(PROJECT, "cssrs-screen-yes-count", "C-SSRS screen, number of yes answers", "project code system"),
    items=(
        Code(LOINC, "93246-7", None, _BHP_CSSRS),
        Code(LOINC, "93247-5", None, _BHP_CSSRS),
        Code(LOINC, "93248-3", None, _BHP_CSSRS),
        Code(LOINC, "93249-1", None, _BHP_CSSRS),
        Code(LOINC, "93250-9", None, _BHP_CSSRS),
        Code(PROJECT, "cssrs-screen-item-6", "Suicidal behaviour in the past 3 months", "project code system"),
    ),
)

# MADRS: no LOINC term was found (searched loinc.org material for a MADRS total), so the
# project system codes it.
MADRS = InstrumentCodes(
    total=Code(PROJECT, "madrs-total", "MADRS total score", "project code system"),
    items=tuple(Code(PROJECT, f"madrs-item-{n}", f"MADRS item {n}", "project code system") for n in range(1, 11)),
)

# The instruments the export codes, by the `instrument` value stored on an assessment.
INSTRUMENT_CODES: dict[str, InstrumentCodes] = {
    "phq9": PHQ9,
    "gad7": GAD7,
    "pcl5": PCL5,
    "cssrs_screen": CSSRS_SCREEN,
    "madrs": MADRS,
}

# --- Medications (RxNorm) ---------------------------------------------------------------
MEDICATIONS: dict[str, Code] = {
    # 6130: as API.md states; no RxNav page was in reach here to re-check it.
    "ketamine": Code(RXNORM, "6130", "ketamine", "API.md v1 (RxNorm ingredient); not re-checked here"),
    # The esketamine ingredient (IN) RxCUI could not be checked here; esketamine is only
    # marketed as a nasal spray, so the checked dose-form concept (SCDF) is used.
    "esketamine": Code(
        RXNORM,
        "2201623",
        "esketamine Nasal Spray",
        "https://ndclist.com/rxnorm/rxcui/2201623 (RxNorm SCDF, NLM RXNORM source 20AA_260601F)",
    ),
}

# --- Routes of administration (SNOMED CT), by the session's `route` ---------------------
_ROUTE_CODES = "https://hl7.org/fhir/R4B/valueset-route-codes.html (SNOMED CT Route Codes expansion)"
ROUTES: dict[str, Code] = {
    "iv": Code(SNOMED, "47625008", "Intravenous route", _ROUTE_CODES),
    "im": Code(SNOMED, "78421000", "Intramuscular route", _ROUTE_CODES),
    "intranasal": Code(SNOMED, "46713006", "Nasal route", _ROUTE_CODES),
    "oral": Code(SNOMED, "26643006", "Oral route", _ROUTE_CODES),
    "sublingual": Code(SNOMED, "37839007", "Sublingual route", _ROUTE_CODES),
}

# --- Vital signs (session monitoring, issue 12) -----------------------------------------
_VITALS_VS = "https://hl7.org/fhir/R4/valueset-observation-vitalsignresult.html"
BLOOD_PRESSURE_PANEL = Code(LOINC, "85354-9", "Blood pressure panel with all children optional", _VITALS_VS)
SYSTOLIC = Code(LOINC, "8480-6", "Systolic blood pressure", _VITALS_VS)
DIASTOLIC = Code(LOINC, "8462-4", "Diastolic blood pressure", _VITALS_VS)
HEART_RATE = Code(LOINC, "8867-4", "Heart rate", _VITALS_VS)
# The R4 vital-signs profile requires 2708-6 for oxygen saturation; 59408-5 says it was
# measured by pulse oximetry (both codings, as the FHIR example observation-example-satO2).
OXYGEN_SATURATION = Code(LOINC, "2708-6", "Oxygen saturation in Arterial blood", _VITALS_VS)
PULSE_OXIMETRY = Code(
    LOINC,
    "59408-5",
    "Oxygen saturation in Arterial blood by Pulse oximetry",
    "https://hl7.org/fhir/R4/observation-example-satO2.json.html",
)

# UCUM units: (code, human unit) per https://ucum.org/ucum and the R4 vital-signs profile.
UNIT_MG = ("mg", "mg")
UNIT_MMHG = ("mm[Hg]", "mmHg")
UNIT_PER_MIN = ("/min", "beats/minute")
UNIT_PERCENT = ("%", "%")
