"""What the dashboards show, built from one precomputed slice of the latest snapshot.

Everything here reads stored rows and formats them: no statistics happen in a request. Each
chart comes with the table of its numbers; the CSV download is that table, cell for cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

from django.utils.safestring import mark_safe

from uplift.estimates.vocabulary import Dimension, EstimateRowData, RowStatus, WarningCode
from uplift.worklog.models import Task

# The conditions as people read them, in every label, caption and CSV header below.
AI_ALLOWED = Task.Condition.AI.label
NO_AI = Task.Condition.NO_AI.label


def percent(value: float | None, digits: int = 1) -> str:
    """A ratio-scale change as signed percent points ("+18.8"), or an empty cell."""
    if value is None:
        return ""
    return f"{value * 100:+.{digits}f}"


def plain_percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{value * 100:.{digits}f}"


def multiplier(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


@dataclass
class Table:
    """A chart's numbers as displayed: header labels and rows of cell strings."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def body_html(self) -> str:
        """The table's rows as HTML: the first cell heads its row, numbers align right.

        Built here rather than in the template: the organisation page has thousands of cells
        and template loops over them were most of its server time.
        """
        return mark_safe(
            "".join(
                f'<tr><th scope="row">{escape(first)}</th>'
                + "".join(f'<td class="num">{escape(cell)}</td>' for cell in rest)
                + "</tr>"
                for first, *rest in self.rows
            )
        )


@dataclass
class Chart:
    slug: str
    title: str
    caption: str
    table: Table
    # Passed to static/js/dashboards.js as JSON: {kind, labels, datasets, ...}.
    config: dict | None = None
    note: str = ""


@dataclass
class Section:
    """A part of the dashboard below the summary, shown when opened: its charts, in order."""

    slug: str
    title: str
    charts: list[Chart]


@dataclass(frozen=True)
class Verdict:
    """What an estimate says, read from its 95% interval: one of four states.

    ``faster`` and ``slower`` need the whole interval on one side of zero; an interval that
    crosses zero is ``unclear`` ("no clear difference yet"), whatever its point estimate; a row
    without figures is ``insufficient``. The symbol repeats the word for readers who cannot
    tell the colours apart.
    """

    key: str
    words: str
    symbol: str


VERDICTS = {
    "faster": Verdict("faster", "Faster with AI", "◀"),
    "slower": Verdict("slower", "Slower with AI", "▶"),
    "unclear": Verdict("unclear", "No clear difference yet", "◆"),
    "insufficient": Verdict("insufficient", "Not enough data yet", "○"),
    "not_estimable": Verdict("not_estimable", "No estimate possible", "○"),
}


def verdict(row: dict | None) -> Verdict:
    """The verdict of an estimate row (or fit) from its interval."""
    status = (row or {}).get("status", RowStatus.OK)
    if status == RowStatus.NOT_ESTIMABLE:
        return VERDICTS["not_estimable"]
    if not row or status != RowStatus.OK:
        return VERDICTS["insufficient"]
    low, high = row.get("ci_low"), row.get("ci_high")
    if low is None or high is None:
        return VERDICTS["insufficient"]
    if high < 0:
        return VERDICTS["faster"]
    if low > 0:
        return VERDICTS["slower"]
    return VERDICTS["unclear"]


def amount(change: float) -> str:
    """The size of a time change, without its sign: "18%", "0.4%" below one percent."""
    size = abs(change) * 100
    return f"{size:.0f}%" if size >= 0.95 else f"{size:.1f}%"


def _direction(change: float) -> str:
    return "less time" if change < 0 else "longer"


def change_words(change: float) -> str:
    """A time change in words: "18% less time", "8% longer"."""
    return f"{amount(change)} {_direction(change)}"


def interval_words(row: dict) -> str:
    """A 95% interval in words, without double negatives.

    Both bounds on one side: "12% to 24% less" (smaller first); either side of zero:
    "from 17% less to 14% longer".
    """
    low, high = row["ci_low"], row["ci_high"]
    if high < 0:
        return f"{amount(high)} to {amount(low)} less"
    if low > 0:
        return f"{amount(low)} to {amount(high)} longer"
    return f"from {amount(low)} less to {amount(high)} longer"


def verdict_sentence(row: EstimateRowData) -> str:
    """The headline in words, e.g. "Tasks with AI allowed took 18% less time (95% CI: 12% to
    24% less)", or for an interval across zero, "No clear difference yet: ..."."""
    change = row["time_change"]
    if verdict(row).key == "unclear":
        return (
            f"No clear difference yet: tasks with AI allowed took {change_words(change)} on "
            f"average, but the 95% CI runs {interval_words(row)}"
        )
    return f"Tasks with AI allowed took {change_words(change)} (95% CI: {interval_words(row)})"


def needed_words(row: EstimateRowData) -> str:
    """What a row without enough data still needs: "needs 3 more completed No AI tasks"."""
    more = row.get("tasks_more_needed") or {}
    parts = []
    if more.get("ai"):
        parts.append(f"{more['ai']} more completed {AI_ALLOWED} tasks")
    if more.get("no_ai"):
        parts.append(f"{more['no_ai']} more completed {NO_AI} tasks")
    if more.get("researchers"):
        n = more["researchers"]
        parts.append(f"{n} more researcher{'' if n == 1 else 's'}")
    return "needs " + ", ".join(parts) if parts else ""


def needed_sentence(row: EstimateRowData) -> str:
    needed = needed_words(row)
    if not needed:
        return "Not enough data for an estimate."
    return f"Not enough data for an estimate: it {needed}."


def sample_progress(row: EstimateRowData) -> list[dict]:
    """Where a row without an estimate stands against the sample rule, item by item.

    Each item: its label, how many there are, how many the rule asks for, and whether that
    part is met. Empty for a row that has an estimate or cannot have one for another reason.
    """
    more = row.get("tasks_more_needed")
    if row["status"] != RowStatus.INSUFFICIENT_DATA or not more:
        return []
    items = (
        (f"Completed {AI_ALLOWED} tasks", row["n_ai"], more.get("ai", 0)),
        (f"Completed {NO_AI} tasks", row["n_no_ai"], more.get("no_ai", 0)),
        ("Researchers with completed tasks", row["n_researchers"], more.get("researchers", 0)),
    )
    return [
        {"label": label, "have": have, "need": have + missing, "met": not missing}
        for label, have, missing in items
    ]


def warnings_in_words(row: EstimateRowData, *, skip_status: bool = False) -> list[str]:
    """A row's warnings in words; with ``skip_status``, not the one repeating its status."""
    statuses = {WarningCode.INSUFFICIENT_DATA, WarningCode.NOT_ESTIMABLE} if skip_status else set()
    return [WarningCode.text_of(code) for code in row.get("warnings", []) if code not in statuses]


def _change_cells(row: dict) -> list[str]:
    # The time change and its 95% CI as table cells, in percent; empty without an estimate.
    return [
        percent(row.get("time_change")),
        percent(row.get("ci_low")),
        percent(row.get("ci_high")),
    ]


def status_words(row: EstimateRowData) -> str:
    """A row's status in words: "ok", "insufficient data" or "not estimable"."""
    return RowStatus(row["status"]).words


def no_estimate_sentence(row: EstimateRowData) -> str:
    """Why a row has no estimate: what it still needs, or the reason it cannot be computed."""
    if row["status"] == RowStatus.INSUFFICIENT_DATA:
        return needed_sentence(row)
    return f"No estimate: {row.get('reason') or status_words(row)}"


def _interval(row: dict | None) -> dict | None:
    # A point with its error bar, in percent; None when there is no estimate to draw.
    if not row or row.get("time_change") is None:
        return None
    return {
        "value": row["time_change"] * 100,
        "low": row["ci_low"] * 100,
        "high": row["ci_high"] * 100,
    }


# The summary's interval bars: an SVG 200 units wide with zero in the middle, scaled to the
# widest interval shown (between 10% and 100% either side).
BAR_WIDTH = 200
BAR_HALF = 92


def summary_table(rows: list[EstimateRowData], dimension: Dimension, *, selected: str = "") -> dict:
    """The summary's compact table: each subgroup's verdict, its change with its interval in
    words, and the interval as a bar centred on zero (drawn on the server, same scale for all).
    """
    bounds = [
        abs(bound)
        for row in rows
        if row["status"] == RowStatus.OK
        for bound in (row["ci_low"], row["ci_high"])
        if bound is not None
    ]
    scale = min(1.0, max([0.1, *bounds]))

    def x(value: float) -> float:
        return round(BAR_WIDTH / 2 + max(-1.0, min(1.0, value / scale)) * BAR_HALF, 1)

    items = []
    for row in rows:
        item = {
            "group": row["group"],
            "n_tasks": row["n_tasks"],
            "verdict": verdict(row),
            "selected": row["group"] == selected,
        }
        if row["status"] == RowStatus.OK:
            item.update(
                change=change_words(row["time_change"]),
                interval=interval_words(row),
                bar={
                    "low": x(row["ci_low"]),
                    "high": x(row["ci_high"]),
                    "point": x(row["time_change"]),
                    "open_low": row["ci_low"] < -scale,
                    "open_high": row["ci_high"] > scale,
                },
            )
        else:
            item["change"] = (
                needed_words(row)
                if row["status"] == RowStatus.INSUFFICIENT_DATA
                else row.get("reason") or ""
            )
        items.append(item)
    return {
        "dimension": Dimension(dimension).words,
        "slug": f"summary-{dimension.replace('_', '-')}",
        "rows": items,
        "scale": f"{scale * 100:.0f}%",
        "middle": BAR_WIDTH / 2,
    }


def forest_chart(rows: list[EstimateRowData], dimension: Dimension, *, selected: str = "") -> Chart:
    """Time change by subgroup with 95% CIs, raw and partially pooled."""
    title = Dimension(dimension).words
    table = Table(
        [
            title.capitalize(),
            "Tasks",
            "Researchers",
            "Time change %",
            "95% CI low %",
            "95% CI high %",
            "Pooled change %",
            "Pooled CI low %",
            "Pooled CI high %",
            "q-value",
            "Verdict",
        ]
    )
    labels, raw, pooled = [], [], []
    # Pooling needs four subgroups with an estimate (stats_fit.MIN_POOLED_GROUPS).
    unpooled = any(row["status"] == RowStatus.OK and not row.get("pooled") for row in rows)
    for row in rows:
        ok = row["status"] == RowStatus.OK
        pool = row.get("pooled") or {}
        table.rows.append(
            [
                row["group"],
                str(row["n_tasks"]),
                str(row["n_researchers"]),
                *_change_cells(row),
                *_change_cells(pool),
                _p(row.get("q_value")),
                verdict(row).words,
            ]
        )
        labels.append(row["group"] if ok else f"{row['group']} ({verdict(row).words.lower()})")
        raw.append(_interval(row))
        pooled.append(_interval(pool) if pool else None)
    return Chart(
        slug=f"by-{dimension.replace('_', '-')}",
        title=f"Time change by {title}",
        caption=(
            f"Time change with AI allowed by {title}, percent, with 95% confidence intervals: "
            "raw (each fitted alone) and partially pooled toward the mean of all"
            + (" (pooling needs at least four with an estimate)." if unpooled else ".")
        ),
        table=table,
        config={
            "kind": "forest",
            "labels": labels,
            "selected": selected,
            "datasets": [
                {"label": "Raw", "points": raw},
                {"label": "Partially pooled", "points": pooled},
            ],
        },
    )


def trend_chart(rows: list[EstimateRowData]) -> Chart:
    table = Table(["Month", "Tasks", "Time change %", "95% CI low %", "95% CI high %", "Verdict"])
    labels, points = [], []
    for row in rows:
        table.rows.append(
            [
                row["group"],
                str(row["n_tasks"]),
                *_change_cells(row),
                verdict(row).words,
            ]
        )
        labels.append(row["group"])
        points.append(_interval(row))
    return Chart(
        slug="trend",
        title="Trend by month",
        caption="Time change with AI allowed by month of completion, percent, with 95% CI band.",
        table=table,
        config={"kind": "trend", "labels": labels, "points": points},
    )


def perception_chart(row: EstimateRowData) -> Chart:
    table = Table(["Figure", "Time change %", "95% CI low %", "95% CI high %", "Based on"])
    measured = _interval(row)
    items = [
        ("Forecast", row.get("forecast_time_change"), None, "forecasts before randomization"),
        (
            "Post-hoc",
            row.get("posthoc_time_change"),
            None,
            f"{row.get('n_posthoc') or 0} completed {AI_ALLOWED} tasks",
        ),
        ("Measured", row.get("time_change"), measured, f"{row['n_tasks']} completed tasks"),
    ]
    values = []
    for label, value, interval, basis in items:
        table.rows.append(
            [
                label,
                percent(value),
                percent(row["ci_low"]) if interval else "",
                percent(row["ci_high"]) if interval else "",
                basis,
            ]
        )
        point = None
        if value is not None:
            point = {"value": value * 100}
            if interval:
                point.update(low=interval["low"], high=interval["high"])
        values.append(point)
    return Chart(
        slug="perception",
        title="Perceived against measured",
        caption=(
            "What researchers expected (forecast) and believed afterwards (post-hoc) against "
            "the measured time change, percent; only the measurement has a confidence interval."
        ),
        table=table,
        config={"kind": "bars", "labels": [i[0] for i in items], "points": values},
    )


def evidence_table(row: EstimateRowData) -> Chart:
    diagnostics = row.get("diagnostics") or {}
    attrition = diagnostics.get("attrition") or {}
    compliance = diagnostics.get("compliance") or {}
    ratio = diagnostics.get("sample_ratio") or {}
    more = row.get("tasks_more_needed") or {}
    table = Table(["Measure", "Value"])
    needed = row.get("tasks_needed")
    table.rows = [
        [f"Completed {AI_ALLOWED} tasks", str(row["n_ai"])],
        [f"Completed {NO_AI} tasks", str(row["n_no_ai"])],
        ["Researchers", str(row["n_researchers"])],
        ["Smallest slowdown detectable (80% power) %", plain_percent(row.get("mde"))],
        ["Smallest speedup detectable (80% power) %", plain_percent(row.get("mde_faster"))],
        ["Tasks needed for +/-10%, same researchers", "" if needed is None else str(needed)],
        [
            "Tasks still needed for +/-10%, same researchers",
            "" if needed is None else str(max(0, needed - row["n_tasks"])),
        ],
        [
            "Researchers needed for +/-10%, as many tasks each",
            "" if row.get("researchers_needed") is None else str(row["researchers_needed"]),
        ],
        ["More tasks needed for an estimate", _more_needed(more)],
        ["Sample-ratio mismatch p", _p(ratio.get("p_value"))],
        [f"Abandoned, {AI_ALLOWED} %", plain_percent(attrition.get("ai"))],
        [f"Abandoned, {NO_AI} %", plain_percent(attrition.get("no_ai"))],
        [f"{NO_AI} tasks that used AI %", plain_percent(compliance.get("share"))],
    ]
    return Chart(
        slug="evidence",
        title="Strength of evidence",
        caption="Sample sizes, power and diagnostics behind the headline estimate.",
        table=table,
    )


ROBUSTNESS_FITS = (
    ("no_covariate", "Without the forecast"),
    ("researcher_fixed_effects", "Researcher fixed effects"),
    ("mixed_model", "Mixed model (random researcher intercepts)"),
    ("self_selected_included", "Self-selected tasks included"),
)


def robustness_table(row: EstimateRowData) -> Chart:
    """The headline beside the other estimates of the same scope: the paired within-block
    estimate and the sensitivity fits, with the mixed model's convergence."""
    table = Table(["Estimate", "Time change %", "95% CI low %", "95% CI high %", "Tasks", "Note"])

    def add(name: str, fit: dict | None, note: str = "", tasks: str = "") -> None:
        if not fit or fit.get("time_change") is None:
            table.rows.append([name, "", "", "", tasks, note or "not estimated"])
            return
        cells = [percent(fit["time_change"]), percent(fit["ci_low"]), percent(fit["ci_high"])]
        table.rows.append([name, *cells, tasks or str(fit.get("n_tasks", "")), note])

    effective = row.get("effective_researchers")
    add(
        "Headline (primary fit)",
        row,
        note=f"{effective:.1f} effective researchers" if effective else "",
        tasks=str(row.get("n_tasks", "")),
    )
    paired = row.get("paired")
    paired_note = ""
    if paired:
        paired_note = f"{paired['n_blocks']} blocks from {paired['n_researchers']} researchers"
        if paired.get("ci_low") is None:
            paired_note += "; an interval needs 5 researchers"
    add("Paired within researcher and task type", paired, note=paired_note, tasks="-")
    sensitivity = row.get("sensitivity") or {}
    for key, name in ROBUSTNESS_FITS:
        fit = sensitivity.get(key)
        note = ""
        if key == "mixed_model" and fit is not None:
            converged = fit.get("converged")
            note = {True: "converged", False: "did not converge: ignore"}.get(converged, "")
            if converged and fit.get("boundary"):
                note += ", no variance between researchers"
        if fit and fit.get("covariate_dropped"):
            note = (note + ", " if note else "") + "forecast constant: fitted without it"
        add(name, fit, note=note)
    add(*_without_outliers_cells(row))
    return Chart(
        slug="robustness",
        title="Other ways of estimating it",
        caption="The headline beside the paired estimate and the sensitivity fits of the same "
        "tasks. Estimates that disagree much say the headline depends on the model.",
        table=table,
    )


def _without_outliers_cells(row: dict) -> tuple[str, dict | None, str]:
    """The robustness table's "Without N flagged tasks" row: its name, fit and note."""
    outliers = row.get("outliers")
    if not outliers:
        return "Without flagged tasks", None, ""
    n = outliers["n_flagged"]
    if not n:
        return "Without flagged tasks", None, "no task flagged as extreme"
    fit = (row.get("sensitivity") or {}).get("without_outliers")
    note = "extreme against their forecast" if fit else "not estimable without them"
    return f"Without {n} flagged task{'' if n == 1 else 's'}", fit, note


def ratio_words(value: float | None) -> str:
    """A ratio of minutes as a multiplier: "×1.25", "×10,000", "×0.0004"; empty if None."""
    if value is None:
        return ""
    if value >= 100:
        return f"×{value:,.0f}"
    if value >= 0.01:
        return f"×{value:.2f}"
    return f"×{value:.2g}"


def flagged_summary(row: EstimateRowData) -> dict:
    """What the flagged-tasks page says about one estimate row, in words.

    The rule's typical ratio and its bounds, the headline beside the fit without the flagged
    tasks, and the ids to list (none for a row without an estimate).
    """
    outliers = row.get("outliers") or {}
    summary = {
        "row": row,
        "ok": row["status"] == RowStatus.OK,
        "checked": bool(outliers),
        "reason": "" if row["status"] == RowStatus.OK else no_estimate_sentence(row),
        "flagged_ids": list(outliers.get("task_ids") or []),
        "n_flagged": outliers.get("n_flagged", 0),
        "truncated": bool(outliers.get("truncated")),
        "warning": (
            WarningCode.OUTLIERS_CHANGE_RESULT.text
            if WarningCode.OUTLIERS_CHANGE_RESULT in row.get("warnings", [])
            else ""
        ),
    }
    median, distance = outliers.get("median_log_ratio"), outliers.get("threshold_log_distance")
    if median is not None and distance is not None:
        summary.update(
            typical_ratio=ratio_words(math.exp(median)),
            ratio_above=ratio_words(math.exp(min(median + distance, 700.0))),
            ratio_below=ratio_words(math.exp(median - distance)),
        )
    if summary["ok"]:
        summary["headline"] = _change_words(row)
        without = (row.get("sensitivity") or {}).get("without_outliers")
        summary["without"] = _change_words(without) if without else ""
    return summary


def _change_words(fit: dict) -> str:
    # "+12.0% (95% CI -3.1% to +29.4%)"
    if any(fit.get(key) is None for key in ("time_change", "ci_low", "ci_high")):
        return "beyond the range of numbers"
    return (
        f"{percent(fit['time_change'])}% (95% CI {percent(fit['ci_low'])}% to "
        f"{percent(fit['ci_high'])}%)"
    )


def _more_needed(more: dict) -> str:
    if not more:
        return "none"
    return ", ".join(f"{v} {k.replace('_', '-')}" for k, v in more.items() if v) or "none"


def _p(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def lab_charts(lab: dict | None) -> tuple[Chart, Chart]:
    lab = lab or {"types": [], "bottlenecks": []}
    share = Table(
        [
            "Task type",
            "Share of time %",
            f"Time ratio with {AI_ALLOWED}",
            "Share of remaining time %",
            "Lab throughput gain if twice as fast %",
            "Estimated",
        ]
    )
    by_name = {t["task_type"]: t for t in lab["types"]}
    for t in lab["types"]:
        share.rows.append(
            [
                t["task_type"],
                plain_percent(t["share"]),
                multiplier(t["time_ratio"]),
                plain_percent(t["remaining_share"]),
                plain_percent(t["throughput_gain_if_doubled"]),
                "yes" if t["estimated"] else "no (counted as 1)",
            ]
        )
    ranking = Table(["Rank", "Task type", "Lab throughput gain if twice as fast %"])
    for rank, name in enumerate(lab["bottlenecks"], start=1):
        ranking.rows.append(
            [str(rank), name, plain_percent(by_name[name]["throughput_gain_if_doubled"])]
        )
    return (
        Chart(
            slug="time-share",
            title="Where researcher time goes",
            caption="Share of logged completed minutes by task type, percent.",
            table=share,
            config={
                "kind": "hbar",
                "labels": [t["task_type"] for t in lab["types"]],
                "values": [t["share"] * 100 for t in lab["types"]],
                "label": "Share of time %",
            },
        ),
        Chart(
            slug="bottlenecks",
            title="Where faster AI would add most",
            caption=(
                "Task types ranked by their share of the remaining time with AI; the gain in lab "
                "throughput if that type alone became twice as fast (Amdahl's law), percent."
            ),
            table=ranking,
            config={
                "kind": "hbar",
                "labels": list(lab["bottlenecks"]),
                "values": [
                    by_name[n]["throughput_gain_if_doubled"] * 100 for n in lab["bottlenecks"]
                ],
                "label": "Throughput gain if twice as fast %",
            },
        ),
    )


def tool_chart(rows: list[EstimateRowData], overall: EstimateRowData) -> Chart:
    """Share of completed AI-allowed tasks that logged each tool, and the descriptive rows."""
    table = Table(
        [
            "Tool",
            f"{AI_ALLOWED} tasks using it",
            f"Share of {AI_ALLOWED} tasks %",
            "Time change % (descriptive)",
            "95% CI low %",
            "95% CI high %",
        ]
    )
    n_ai = overall["n_ai"]
    labels, shares = [], []
    for row in rows:
        share = row["n_ai"] / n_ai if n_ai else None
        table.rows.append(
            [
                row["group"],
                str(row["n_ai"]),
                plain_percent(share),
                *_change_cells(row),
            ]
        )
        labels.append(row["group"])
        shares.append(None if share is None else share * 100)
    return Chart(
        slug="tools",
        title="AI tool usage",
        caption=(
            f"Share of completed {AI_ALLOWED} tasks that logged each tool, percent (a task may "
            f"use several). Time change compares those tasks with all {NO_AI} tasks: descriptive, "
            "since tools were not randomized."
        ),
        table=table,
        config={"kind": "hbar", "labels": labels, "values": shares, "label": "Share %"},
    )
