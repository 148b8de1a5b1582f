"""The dashboard charts read correctly in Chromium: the forest plots show zero, say which side
is faster, keep raw and pooled points apart, and fit a phone; the other value axes show zero.

What is checked is what Chart.js drew: its scales, the pixel positions of its points, the grid
lines and tick labels it laid out. Screenshots go to test-artifacts/dashboards/forest-*.png.
"""

import pytest
from playwright.sync_api import Page

from tests.dashboards.test_dashboard_browser import ARTIFACTS, sign_in, wait_for_charts
from uplift.estimates.models import ScopedEstimate, SnapshotScope

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
LONG_TYPE = "Paper writing and literature review for the quarterly report"

# What Chart.js laid out for a chart: the value axis, its grid lines, the category tick labels
# and, per dataset, each point's pixel position beside the pixel its value maps to.
GEOMETRY = """(slug) => {
    const canvas = document.getElementById("chart-" + slug);
    const chart = Chart.getChart(canvas);
    const horizontal = chart.config.type === "scatterWithErrorBars"
        || chart.options.indexAxis === "y";
    const value = horizontal ? chart.scales.x : chart.scales.y;
    const category = horizontal ? chart.scales.y : chart.scales.x;
    const grid = (value._gridLineItems || value._computeGridLineItems(chart.chartArea))
        .map(g => ({at: horizontal ? g.tx1 : g.ty1, color: g.color, width: g.width}));
    const title = value.options.title.text;
    return {
        type: chart.config.type,
        min: value.min,
        max: value.max,
        zero: value.getPixelForValue(0),
        leftOfZero: value.getPixelForValue(-1) < value.getPixelForValue(1),
        title: Array.isArray(title) ? title.join(" ") : title,
        grid: grid,
        labels: chart.data.labels,
        ticks: category.getLabelItems().map(item => ({
            text: Array.isArray(item.label) ? item.label.join(" ") : String(item.label),
            weight: item.font.weight,
        })),
        canvasWidth: canvas.getBoundingClientRect().width,
        canvasLeft: canvas.getBoundingClientRect().left,
        datasets: chart.data.datasets.map((set, i) => ({
            label: set.label,
            points: chart.getDatasetMeta(i).data.map((el, j) => {
                const raw = set.data[j];
                const v = raw === null ? null : (horizontal ? raw.x : raw.y);
                return {
                    value: v,
                    x: el.x,
                    y: el.y,
                    expected: v === null ? null : value.getPixelForValue(v),
                    skip: el.skip,
                };
            }),
        })),
    };
}"""


def geometry(page: Page, slug: str) -> dict:
    return page.evaluate(GEOMETRY, slug)


def assert_zero_marked(g: dict) -> None:
    """Zero is inside the value axis and its grid line is drawn unlike every other one."""
    assert g["min"] <= 0 <= g["max"], (g["min"], g["max"])
    zero = [line for line in g["grid"] if abs(line["at"] - g["zero"]) <= 1]
    others = [line for line in g["grid"] if abs(line["at"] - g["zero"]) > 1]
    assert len(zero) == 1, g["grid"]
    assert others, g["grid"]
    for line in others:
        assert (line["color"], line["width"]) != (zero[0]["color"], zero[0]["width"])
    assert zero[0]["width"] > max(line["width"] for line in others)


def assert_readable_forest(g: dict) -> None:
    assert_zero_marked(g)
    title = g["title"].lower()
    assert "faster" in title and "slower" in title, g["title"]
    # Negative (faster) is on the left, and the title names the left side first.
    assert g["leftOfZero"] and title.index("faster") < title.index("slower")
    # Every group has its label drawn, whole or cut short with an ellipsis.
    assert len(g["ticks"]) == len(g["labels"]), (g["ticks"], g["labels"])
    for tick, label in zip(g["ticks"], g["labels"], strict=True):
        text = tick["text"]
        assert text == label or (text.endswith("…") and label.startswith(text[:-1])), text
    raw, pooled = g["datasets"]
    for point in raw["points"] + pooled["points"]:
        if point["value"] is not None:
            assert point["x"] == pytest.approx(point["expected"], abs=0.5), point
    for a, b in zip(raw["points"], pooled["points"], strict=True):
        if a["value"] is not None and b["value"] is not None:
            assert abs(a["y"] - b["y"]) >= 6, (a, b)


def shoot(page: Page, name: str, viewport: dict) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(viewport)
    page.wait_for_timeout(400)  # charts resize and redraw
    page.screenshot(path=str(ARTIFACTS / f"forest-{name}-{viewport['width']}.png"), full_page=True)
    for slug in ("by-team", "by-task-type", "trend", "perception"):  # each chart alone
        box = page.locator(f"#chart-{slug}")
        if box.count():
            box.screenshot(path=str(ARTIFACTS / f"forest-{name}-{slug}-{viewport['width']}.png"))


def open_charts(page: Page, live_server, password, user: str, path: str, viewport) -> None:
    """Sign in as ``user`` and open ``path`` at ``viewport`` with every chart drawn (points
    drawn where they end, at once: no animation)."""
    page.emulate_media(reduced_motion="reduce")
    sign_in(page, live_server, user, password)
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}{path}")
    wait_for_charts(page)


def test_forest_plots_show_zero_sides_and_fit_a_phone(
    page: Page, live_server, organisation, password, plain_http
):
    open_charts(page, live_server, password, "root", "/dashboards/org/", DESKTOP)
    for slug in ("by-team", "by-task-type"):
        assert_readable_forest(geometry(page, slug))
    shoot(page, "org", DESKTOP)

    shoot(page, "org", PHONE)
    for slug in ("by-team", "by-task-type"):
        g = geometry(page, slug)
        assert g["canvasLeft"] >= 0 and g["canvasLeft"] + g["canvasWidth"] <= PHONE["width"]
        assert_readable_forest(g)
    for slug in ("trend", "perception"):
        assert_zero_marked(geometry(page, slug))


def test_zero_stays_on_the_axis_when_every_interval_is_faster(
    page: Page, live_server, organisation, password, plain_http
):
    """Fixed rows, every interval below zero, raw and pooled, one long task type name."""
    scope = SnapshotScope.objects.get(kind="org", window="all")
    fixed = {
        "Experiment code": ((-0.30, -0.38, -0.21), (-0.27, -0.34, -0.19)),
        "Paper writing": ((-0.12, -0.20, -0.05), (-0.15, -0.22, -0.08)),
    }
    for estimate in ScopedEstimate.objects.filter(scope=scope, dimension="task_type"):
        if estimate.group not in fixed:
            continue
        (value, low, high), (p_value, p_low, p_high) = fixed[estimate.group]
        data = dict(estimate.data, time_change=value, ci_low=low, ci_high=high)
        data["pooled"] = {"time_change": p_value, "ci_low": p_low, "ci_high": p_high}
        if estimate.group == "Paper writing":
            data["group"] = LONG_TYPE
        estimate.data = data
        estimate.save(update_fields=["data"])
    open_charts(
        page, live_server, password, "root", "/dashboards/org/?type=Experiment+code", DESKTOP
    )

    g = geometry(page, "by-task-type")
    assert g["labels"][:2] == ["Experiment code", LONG_TYPE]
    values = [p["value"] for d in g["datasets"] for p in d["points"] if p["value"] is not None]
    assert sorted(values) == pytest.approx([-30, -27, -15, -12])
    assert_readable_forest(g)
    assert g["max"] > 0  # a little room beyond zero, not an axis that ends on it
    assert g["ticks"][0]["weight"] == "bold"  # the chosen task type stands out
    assert g["ticks"][1]["weight"] != "bold"
    # The raw point sits above the pooled one in each row, and rows keep the table's order.
    raw, pooled = g["datasets"]
    assert raw["points"][0]["y"] < pooled["points"][0]["y"] < raw["points"][1]["y"]
    shoot(page, "faster", DESKTOP)

    shoot(page, "faster", PHONE)
    g = geometry(page, "by-task-type")
    assert g["canvasLeft"] + g["canvasWidth"] <= PHONE["width"]
    assert_readable_forest(g)
    assert g["ticks"][1]["text"].endswith("…")  # the long name is cut short on a phone


def test_forest_tooltip_names_the_group_in_full(
    page: Page, live_server, organisation, password, plain_http
):
    open_charts(page, live_server, password, "lin", "/dashboards/", PHONE)
    g = geometry(page, "by-task-type")
    assert_readable_forest(g)
    point = g["datasets"][0]["points"][1]
    canvas = page.locator("#chart-by-task-type")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_function(
        """() => Chart.getChart(document.getElementById("chart-by-task-type"))
                .tooltip.getActiveElements().length > 0"""
    )
    tooltip = page.evaluate(
        """() => {
            const t = Chart.getChart(document.getElementById("chart-by-task-type")).tooltip;
            return {title: t.title, body: t.body.map(b => b.lines.join(" "))};
        }"""
    )
    assert tooltip["title"] == ["Paper writing"]
    assert tooltip["body"][0].startswith("Raw: ")
    assert "95% CI" in tooltip["body"][0]
