"""The words of an estimate row: its dimensions, statuses and warning codes, and its keys.

`estimate_all` writes rows in these words and the pages, the API and the admin read them, so
they are defined here once. Plain Python (no Django, no numpy): the statistics and every web
process import it. The values are what the JSON of a snapshot holds, and what users see in
the API and `show_estimates`; changing one is changing the published format.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict

# The sample rule: a scope has an estimate from this many completed tasks in each arm and
# this many researchers (`tasks_more_needed` counts what is missing; the pages show progress).
MIN_TASKS_PER_ARM = 5
MIN_RESEARCHERS = 3


class Dimension(StrEnum):
    """What a row's scope is cut by; `group` names the subgroup (None for a single row)."""

    OVERALL = "overall"
    TEAM = "team"
    TASK_TYPE = "task_type"
    MONTH = "month"
    TOOL = "tool"
    OBSERVATIONAL = "observational"

    @property
    def words(self) -> str:
        """The dimension in a sentence: "task type"."""
        return self.value.replace("_", " ")

    @classmethod
    def subgroups(cls) -> tuple[Dimension, ...]:
        """The dimensions with one row per subgroup, compared by q-values and pooling."""
        return (cls.TEAM, cls.TASK_TYPE, cls.MONTH, cls.TOOL)

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.words.capitalize()) for member in cls]


class RowStatus(StrEnum):
    """Whether a row has figures: `ok`, or why not (its `reason` says more)."""

    OK = "ok"
    INSUFFICIENT_DATA = "insufficient_data"
    NOT_ESTIMABLE = "not_estimable"

    @property
    def words(self) -> str:
        """The status in a sentence: "insufficient data"."""
        return self.value.replace("_", " ")

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [
            (member.value, "OK" if member is cls.OK else member.words.capitalize())
            for member in cls
        ]


class WarningCode(StrEnum):
    """A row's warnings (`warnings`, in this order of kinds), each with what the pages say.

    A row without figures starts with its status; then what its tasks are (observational,
    descriptive), the design checks that failed, and what its figures rest on.
    """

    text: str

    def __new__(cls, code: str, text: str) -> WarningCode:
        member = str.__new__(cls, code)
        member._value_ = code
        member.text = text
        return member

    INSUFFICIENT_DATA = "insufficient_data", "Not enough data for an estimate yet."
    NOT_ESTIMABLE = (
        "not_estimable",
        "No estimate could be computed for this scope from its data.",
    )
    OBSERVATIONAL = "observational", "Self-selected tasks: observational, not causal."
    DESCRIPTIVE = (
        "descriptive",
        "Tool use was not randomized: this comparison is descriptive only.",
    )
    SAMPLE_RATIO_MISMATCH = (
        "sample_ratio_mismatch",
        "The AI allowed share of tasks is far from the planned allocation: "
        "randomization may be being bypassed.",
    )
    DIFFERENTIAL_ATTRITION = (
        "differential_attrition",
        "Tasks are abandoned at different rates under AI allowed and under No AI, which can "
        "bias the result.",
    )
    NON_COMPLIANCE = "non_compliance", "Some No AI tasks logged AI tool use."
    DEGENERATE_DESIGN = (
        "degenerate_design",
        "The data cannot separate the AI effect from the forecast.",
    )
    CONSTANT_FORECAST = (
        "constant_forecast",
        "Every task here has the same forecast, so the estimate is fitted without the forecast.",
    )
    FEW_CLUSTERS = (
        "few_clusters",
        "Fewer than 10 effective researchers (few of them, or one doing most of the tasks): "
        "the interval is wide and rests on few people.",
    )
    PAIRED_DISAGREES = (
        "paired_disagrees",
        "The paired estimate disagrees with the main one beyond their intervals.",
    )
    OUTLIERS_CHANGE_RESULT = (
        "outliers_change_result",
        "Leaving out the tasks flagged as extreme against their forecast changes the direction "
        "or the significance of this estimate: check those tasks' recorded times.",
    )

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.text) for member in cls]

    @classmethod
    def text_of(cls, code: str) -> str:
        """What the pages say for a stored code; an unknown one (an older method's) in words."""
        try:
            return cls(code).text
        except ValueError:
            return code.replace("_", " ")


class EstimateRowData(TypedDict):
    """One row of `estimate_all` (the `data` of a stored estimate), as docs/estimation.md says.

    Figures are None when the row is not `ok`; the nested objects are described there too.
    """

    dimension: Dimension
    group: str | None
    status: RowStatus
    n_tasks: int
    n_ai: int
    n_no_ai: int
    n_researchers: int
    n_scope_tasks: int
    beta: float | None
    time_ratio: float | None
    time_change: float | None
    speedup: float | None
    ci_low: float | None
    ci_high: float | None
    se: dict[str, float] | None
    ci_z: dict[str, list[float]] | None
    df: float | None
    effective_researchers: float | None
    p_value: float | None
    q_value: float | None
    mde: float | None
    mde_faster: float | None
    tasks_needed: int | None
    researchers_needed: int | None
    forecast_time_change: float | None
    posthoc_time_change: float | None
    n_posthoc: int | None
    perception_gap_forecast: float | None
    perception_gap_posthoc: float | None
    pooled: dict | None
    paired: dict | None
    sensitivity: dict | None
    outliers: dict | None
    warnings: list[WarningCode]
    tasks_more_needed: dict[str, int] | None
    reason: str | None
    diagnostics: dict
