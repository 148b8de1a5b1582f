"""Specification of estimate_all (docs/estimation.md): METR reproduction and scope behaviour."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from uplift.estimates import stats
from uplift.estimates.stats import estimate_all
from uplift.estimates.vocabulary import Dimension

METR_CSV = (
    Path(__file__).resolve().parents[1] / "fixtures" / "metr-early-2025" / "data_complete.csv"
)
FIGURES = (
    "beta",
    "time_ratio",
    "time_change",
    "speedup",
    "ci_low",
    "ci_high",
    "se",
    "ci_z",
    "p_value",
    "q_value",
    "mde",
    "tasks_needed",
    "forecast_time_change",
    "posthoc_time_change",
    "perception_gap_forecast",
    "perception_gap_posthoc",
    "pooled",
    "paired",
    "sensitivity",
)


def make_tasks(
    n_researchers: int = 24,
    tasks_per_researcher: int = 30,
    *,
    ratio: float = 0.8,
    seed: int = 0,
    teams=("core", "infra", "research"),
    task_types=("bugfix", "feature", "refactor"),
    months=("2025-01", "2025-02", "2025-03"),
    tools=("claude", "copilot"),
    abandon_ai: float = 0.0,
    abandon_no_ai: float = 0.0,
    assignment: str = "randomized",
    id_offset: int = 0,
) -> pd.DataFrame:
    """Generated tasks with a known time ratio for AI allowed and researcher random effects."""
    rng = np.random.default_rng(seed)
    n = n_researchers * tasks_per_researcher
    researcher = np.repeat(np.arange(n_researchers), tasks_per_researcher)
    ai = rng.random(n) < 0.5
    log_forecast = rng.normal(4.0, 0.8, n)
    log_actual = (
        0.5
        + 0.85 * log_forecast
        + math.log(ratio) * ai
        + rng.normal(0, 0.4, n_researchers)[researcher]
        + rng.normal(0, 0.6, n)
    )
    abandoned = rng.random(n) < np.where(ai, abandon_ai, abandon_no_ai)
    status = np.where(abandoned, "abandoned", "completed")
    completed = status == "completed"
    tool_sets = [(), *[(t,) for t in tools], tuple(tools)]
    tool_pick = rng.integers(1, len(tool_sets), n)
    used = [tool_sets[k] if a else () for k, a in zip(tool_pick, ai, strict=True)]
    return pd.DataFrame(
        {
            "task_id": np.arange(n) + 1 + id_offset,
            "researcher": researcher,
            "team": np.array(teams, dtype=object)[researcher % len(teams)],
            "task_type": np.array(task_types, dtype=object)[rng.integers(0, len(task_types), n)],
            "assignment": assignment,
            "ai_allowed": ai,
            "allocation": 0.5,
            "forecast_no_ai": np.exp(log_forecast),
            "forecast_ai": np.exp(log_forecast - 0.2),
            "status": status,
            "actual_minutes": np.where(completed, np.exp(log_actual), np.nan),
            "perceived_other_minutes": np.nan,
            "month": np.where(
                completed, np.array(months, dtype=object)[rng.integers(0, len(months), n)], None
            ),
            "tools": pd.Series(used, dtype=object),
        }
    )


def metr_tasks() -> pd.DataFrame:
    """METR's 246 tasks as the product imports them (post-review imputed by the arm mean)."""
    d = pd.read_csv(METR_CSV)
    arm_mean = d.groupby("ai_treatment")["post_review_implementation_time"].transform("mean")
    actual = d["initial_implementation_time"] + d["post_review_implementation_time"].fillna(
        arm_mean
    )
    return pd.DataFrame(
        {
            "task_id": np.arange(len(d)) + 1,
            "researcher": d["dev_id"],
            "team": "oss",
            "task_type": "issue",
            "assignment": "randomized",
            "ai_allowed": d["ai_treatment"] == 1,
            "allocation": 0.5,
            "forecast_no_ai": d["predicted_time_no_ai"],
            "forecast_ai": d["predicted_time_ai_allowed"],
            "status": "completed",
            "actual_minutes": actual,
            "perceived_other_minutes": np.nan,
            "month": "2025-03",
            "tools": pd.Series([()] * len(d), dtype=object),
        }
    )


def row(result: dict, dimension: str, group=None) -> dict:
    return next(
        e for e in result["estimates"] if e["dimension"] == dimension and e["group"] == group
    )


@pytest.fixture(scope="module")
def metr() -> dict:
    return row(estimate_all(metr_tasks()), "overall")


@pytest.fixture(scope="module")
def generated() -> dict:
    return estimate_all(make_tasks(seed=3))


def test_metr_time_change_is_plus_18_8_percent(metr):
    assert round(metr["time_change"], 3) == 0.188


def test_metr_z_intervals_match_the_published_three(metr):
    rounded = {k: [round(v, 3) for v in ci] for k, ci in metr["ci_z"].items()}
    assert rounded == {
        "nonrobust": [0.013, 0.395],
        "hc3": [0.013, 0.394],
        "cluster": [0.016, 0.390],
    }


def test_metr_counts(metr):
    assert (metr["n_ai"], metr["n_no_ai"], metr["n_researchers"]) == (136, 110, 16)
    assert metr["n_tasks"] == 246


def test_metr_forecast_perception_is_about_minus_24_percent(metr):
    # The data give -0.2484 (METR reports "about -24%"): -0.25 to two decimals.
    assert round(metr["forecast_time_change"], 2) == -0.25
    assert metr["perception_gap_forecast"] == pytest.approx(
        metr["forecast_time_change"] - metr["time_change"]
    )


def test_output_is_plain_json_without_nan(generated):
    assert not [k for e in generated["estimates"] for k in e if k.startswith("_")]
    text = json.dumps(generated, allow_nan=False)
    assert json.loads(text) == generated


def test_every_dimension_has_rows(generated):
    dims = {(e["dimension"], e["group"]) for e in generated["estimates"]}
    assert ("overall", None) in dims and ("observational", None) in dims
    for dimension, groups in [
        ("team", ("core", "infra", "research")),
        ("task_type", ("bugfix", "feature", "refactor")),
        ("month", ("2025-01", "2025-02", "2025-03")),
        ("tool", ("claude", "copilot")),
    ]:
        assert {g for d, g in dims if d == dimension} == set(groups)


def test_time_ratio_speedup_and_change_are_consistent(generated):
    e = row(generated, "overall")
    assert e["time_ratio"] == pytest.approx(math.exp(e["beta"]))
    assert e["time_change"] == pytest.approx(e["time_ratio"] - 1)
    assert e["speedup"] == pytest.approx(1 / e["time_ratio"])


def test_shuffled_rows_give_identical_output():
    tasks = make_tasks(seed=5)
    shuffled = tasks.sample(frac=1.0, random_state=11).reset_index(drop=True)
    assert estimate_all(shuffled) == estimate_all(tasks)


def test_self_selected_tasks_never_change_randomized_estimates():
    randomized = make_tasks(seed=7)
    extra = make_tasks(
        12, 20, seed=8, ratio=0.5, assignment="self_selected", id_offset=10_000, abandon_ai=0.2
    )
    extra["researcher"] += 3  # the same researchers, doing unrandomized work too
    before = estimate_all(randomized)
    after = estimate_all(pd.concat([randomized, extra], ignore_index=True))
    causal = [e for e in after["estimates"] if e["dimension"] != "observational"]
    assert len(causal) == len([e for e in before["estimates"] if e["dimension"] != "observational"])
    for new in causal:
        old = row(before, new["dimension"], new["group"])
        changed = new["sensitivity"].pop("self_selected_included")
        old["sensitivity"].pop("self_selected_included")
        assert new == old
        assert changed["n_tasks"] > old["n_tasks"]


def test_observational_row_uses_self_selected_tasks_only():
    randomized = make_tasks(seed=7)
    extra = make_tasks(10, 12, seed=8, assignment="self_selected", id_offset=10_000)
    e = row(estimate_all(pd.concat([randomized, extra], ignore_index=True)), "observational")
    assert e["status"] == "ok"
    assert "observational" in e["warnings"]
    assert (e["n_ai"], e["n_no_ai"]) == (
        int(extra["ai_allowed"].sum()),
        int((~extra["ai_allowed"]).sum()),
    )
    assert e["sensitivity"] is None


def test_four_tasks_in_one_arm_is_insufficient_with_one_more_needed():
    tasks = make_tasks(6, 10, seed=2)
    ai_rows = tasks.index[tasks["ai_allowed"]]
    tasks = tasks.drop(ai_rows[4:])
    e = row(estimate_all(tasks), "overall")
    assert e["status"] == "insufficient_data"
    assert e["warnings"][0] == "insufficient_data"
    assert e["tasks_more_needed"] == {"ai": 1, "no_ai": 0, "researchers": 0}
    assert (e["n_ai"], e["n_researchers"]) == (4, int(tasks["researcher"].nunique()))
    assert all(e[key] is None for key in FIGURES)


def test_two_researchers_is_insufficient_with_one_more_researcher_needed():
    e = row(estimate_all(make_tasks(2, 30, seed=2)), "overall")
    assert e["status"] == "insufficient_data"
    assert e["tasks_more_needed"] == {"ai": 0, "no_ai": 0, "researchers": 1}
    assert e["n_researchers"] == 2
    assert all(e[key] is None for key in FIGURES)


def test_fewer_than_ten_effective_researchers_warns_few_clusters():
    few = row(estimate_all(make_tasks(9, 20, seed=4)), "overall")
    many = row(estimate_all(make_tasks(10, 20, seed=4)), "overall")
    assert "few_clusters" in few["warnings"]
    assert "few_clusters" not in many["warnings"]
    assert many["effective_researchers"] == pytest.approx(10, abs=0.1)
    # Twelve researchers, one of whom logs nine tasks in ten: few effective researchers.
    tasks = make_tasks(12, 20, seed=4)
    busy = make_tasks(1, 2000, seed=5, id_offset=90_000).assign(researcher=0)
    dominated = row(estimate_all(pd.concat([tasks, busy], ignore_index=True)), "overall")
    assert dominated["n_researchers"] == 12
    assert dominated["effective_researchers"] < 4
    assert "few_clusters" in dominated["warnings"]


def test_abandoning_more_ai_tasks_warns_differential_attrition():
    e = row(estimate_all(make_tasks(seed=4, abandon_ai=0.2)), "overall")
    attrition = e["diagnostics"]["attrition"]
    assert "differential_attrition" in e["warnings"]
    assert attrition["ai"] > 0.1 and attrition["no_ai"] == 0.0
    table = [
        [attrition["abandoned_ai"], e["n_ai"]],
        [attrition["abandoned_no_ai"], e["n_no_ai"]],
    ]
    assert attrition["p_value"] == pytest.approx(sps.fisher_exact(table).pvalue, rel=1e-12)


def test_equal_abandonment_does_not_warn():
    e = row(estimate_all(make_tasks(seed=4)), "overall")
    assert "differential_attrition" not in e["warnings"]
    assert e["diagnostics"]["attrition"]["difference"] == 0.0


def test_skewed_arm_counts_warn_sample_ratio_mismatch():
    tasks = make_tasks(seed=4)
    no_ai = tasks.index[~tasks["ai_allowed"]]
    skewed = tasks.drop(no_ai[: len(no_ai) // 2])
    e = row(estimate_all(skewed), "overall")
    srm = e["diagnostics"]["sample_ratio"]
    counts = [srm["n_ai"], srm["n_no_ai"]]
    assert srm["p_value"] == pytest.approx(sps.chisquare(counts).pvalue, rel=1e-12)
    assert srm["p_value"] < 0.001
    assert "sample_ratio_mismatch" in e["warnings"]
    assert "sample_ratio_mismatch" not in row(estimate_all(tasks), "overall")["warnings"]


def test_ai_tool_use_in_no_ai_arm_warns_non_compliance():
    tasks = make_tasks(seed=4)
    no_ai = tasks.index[~tasks["ai_allowed"]]
    tasks.loc[no_ai[:40], "tools"] = pd.Series([("claude",)] * 40, index=no_ai[:40], dtype=object)
    e = row(estimate_all(tasks), "overall")
    compliance = e["diagnostics"]["compliance"]
    assert compliance["share"] == pytest.approx(40 / len(no_ai))
    assert "non_compliance" in e["warnings"]


def test_tool_rows_compare_tool_users_with_all_no_ai_tasks_and_are_descriptive():
    tasks = make_tasks(seed=6)
    e = row(estimate_all(tasks), "tool", "claude")
    uses = tasks["tools"].map(lambda t: "claude" in t)
    assert e["n_ai"] == int((tasks["ai_allowed"] & uses).sum())
    assert e["n_no_ai"] == int((~tasks["ai_allowed"]).sum())
    assert "descriptive" in e["warnings"]
    assert e["diagnostics"]["sample_ratio"] is None


def test_balance_is_mean_log_forecast_per_arm(generated):
    tasks = make_tasks(seed=3)
    balance = row(generated, "overall")["diagnostics"]["balance"]
    log_forecast = np.log(tasks["forecast_no_ai"])
    assert balance["ai"] == pytest.approx(log_forecast[tasks["ai_allowed"]].mean(), rel=1e-12)
    assert balance["no_ai"] == pytest.approx(log_forecast[~tasks["ai_allowed"]].mean(), rel=1e-12)


def test_perception_figures_on_a_known_mix():
    tasks = make_tasks(seed=9)
    tasks["forecast_ai"] = tasks["forecast_no_ai"] * 0.8
    ai = tasks["ai_allowed"]
    tasks.loc[ai, "perceived_other_minutes"] = tasks.loc[ai, "actual_minutes"] / 0.9
    e = row(estimate_all(tasks), "overall")
    assert e["forecast_time_change"] == pytest.approx(-0.2, abs=1e-12)
    assert e["posthoc_time_change"] == pytest.approx(-0.1, abs=1e-12)
    assert e["n_posthoc"] == int(ai.sum())
    assert e["perception_gap_forecast"] == pytest.approx(-0.2 - e["time_change"], abs=1e-12)
    assert e["perception_gap_posthoc"] == pytest.approx(-0.1 - e["time_change"], abs=1e-12)


def test_mde_is_on_the_t_quantiles_of_the_headline_test_and_tasks_needed_scales_with_se(
    generated,
):
    from scipy import stats as sps

    e = row(generated, "overall")
    se, df = e["se"]["cr2"], e["df"]
    assert df == pytest.approx(e["n_researchers"] - 1, abs=0.5)
    m = sps.t.ppf(0.975, df) + sps.t.ppf(0.80, df)
    assert e["mde"] == pytest.approx(math.exp(m * se) - 1, rel=1e-12)
    assert e["mde_faster"] == pytest.approx(math.exp(-m * se) - 1, rel=1e-12)
    se_target = math.log(1.10) / m
    assert e["tasks_needed"] == math.ceil(e["n_tasks"] * (se / se_target) ** 2)
    assert e["researchers_needed"] >= e["n_researchers"]
    looser = estimate_all(make_tasks(seed=3), target_mde=0.5)
    assert row(looser, "overall")["tasks_needed"] < e["tasks_needed"]


def test_subgroup_q_values_are_bh_of_their_dimension(generated):
    from statsmodels.stats.multitest import multipletests

    teams = [e for e in generated["estimates"] if e["dimension"] == "team"]
    expected = multipletests([e["p_value"] for e in teams], method="fdr_bh")[1]
    assert [e["q_value"] for e in teams] == pytest.approx(list(expected), rel=1e-12)
    overall = row(generated, "overall")
    assert overall["q_value"] == overall["p_value"]


def test_subgroup_rows_carry_pooled_estimates_and_overall_does_not(generated):
    five_types = estimate_all(make_tasks(seed=3, task_types=("a", "b", "c", "d", "e")))
    assert row(five_types, "task_type", "a")["pooled"] is not None
    for result, dimension in ((generated, "team"), (five_types, "task_type")):
        rows = [e for e in result["estimates"] if e["dimension"] == dimension]
        ok = [e for e in rows if e["status"] == "ok"]
        pooled = stats.partial_pooling(
            [e["beta"] for e in ok], [e["se"]["cr2"] for e in ok], [e["df"] for e in ok]
        )
        if len(ok) < 4:  # three teams: too few to pool
            assert pooled is None and all(e["pooled"] is None for e in rows)
            continue
        for i, e in enumerate(ok):
            assert e["pooled"]["beta"] == pytest.approx(pooled["shrunk"][i], rel=1e-12)
            assert e["pooled"]["tau2"] == pytest.approx(pooled["tau2"])
            assert e["pooled"]["raw_weight"] == pytest.approx(pooled["raw_weight"][i], rel=1e-12)
            assert 0 <= e["pooled"]["raw_weight"] <= 1
            assert e["pooled"]["ci_low"] <= e["pooled"]["time_change"] <= e["pooled"]["ci_high"]
    assert row(generated, "overall")["pooled"] is None


def test_every_ok_row_has_a_paired_estimate_with_interval(generated):
    for e in generated["estimates"]:
        if e["status"] == "ok":
            assert e["paired"]["n_blocks"] > 0
            assert e["paired"]["ci_low"] <= e["paired"]["time_change"] <= e["paired"]["ci_high"]


def test_lab_view_uses_task_type_estimates_and_completed_minutes(generated):
    tasks = make_tasks(seed=3)
    lab = generated["lab"]
    minutes = tasks.groupby("task_type")["actual_minutes"].sum()
    shares = {t["task_type"]: t["share"] for t in lab["types"]}
    assert shares == pytest.approx((minutes / minutes.sum()).to_dict(), rel=1e-12)
    ratios = {t: row(generated, "task_type", t)["time_ratio"] for t in shares}
    assert lab["R"] == pytest.approx(sum(shares[t] * ratios[t] for t in shares), rel=1e-12)
    assert lab["throughput_multiplier"] == pytest.approx(1 / lab["R"], rel=1e-12)
    assert lab["ci_low"] < lab["throughput_multiplier"] < lab["ci_high"]


def test_progress_is_reported_per_scope_up_to_the_total():
    calls = []
    estimate_all(make_tasks(seed=3), progress=lambda done, total: calls.append((done, total)))
    totals = {total for _, total in calls}
    assert len(totals) == 1
    assert [done for done, _ in calls] == list(range(1, totals.pop() + 1))


def test_mixed_model_is_fitted_on_every_scope_of_a_large_refresh():
    # 6,000 analysed tasks: beyond the 5,000 up to which MixedLM used to be fitted on every scope.
    result = estimate_all(make_tasks(60, 100, seed=3))
    assert result["method"]["mixed_model"] == "all_scopes"
    rows = [e for e in result["estimates"] if e["status"] == "ok"]
    assert {e["dimension"] for e in rows} == {*Dimension.subgroups(), "overall"}
    for e in rows:
        shown = e["sensitivity"]
        assert "mixed_model_note" not in shown
        mixed = shown["mixed_model"]
        assert mixed["n_tasks"] == e["n_tasks"]
        assert mixed["converged"] is True
        assert mixed["researcher_variance"] > 0
        # The generated effect is -22%; each scope's mixed model lands near it.
        assert -0.45 < mixed["time_change"] < 0.05
        assert mixed["ci_low"] < mixed["time_change"] < mixed["ci_high"]


def test_categorical_columns_with_unused_categories_give_identical_output():
    tasks = make_tasks(seed=12)
    tasks.loc[::7, "month"] = "2025-09"  # months of unfinished tasks are never labels
    tasks.loc[::7, "status"] = "abandoned"
    tasks.loc[::7, "actual_minutes"] = np.nan
    coded = tasks.copy()
    for column in ("team", "task_type", "status", "assignment", "month", "researcher"):
        values = tasks[column].dropna().unique().tolist()
        # Categories out of sorted order, plus categories no task uses.
        categories = ["zz-unused", *sorted(values, key=str, reverse=True)]
        if column == "researcher":
            categories = [999, *sorted(values, reverse=True)]
        coded[column] = pd.Categorical(tasks[column], categories=categories)
    expected = estimate_all(tasks)
    result = estimate_all(coded)
    assert result == expected
    groups = {(e["dimension"], e["group"]) for e in result["estimates"]}
    assert ("team", "zz-unused") not in groups
    assert {g for d, g in groups if d == "month"} == {"2025-01", "2025-02", "2025-03"}
    assert all(isinstance(g, str) for d, g in groups if d in ("team", "task_type", "month"))


def test_integer_coded_team_and_task_type_are_labelled_as_str():
    tasks = make_tasks(seed=13)
    tasks["team"] = tasks["researcher"] % 3
    tasks["task_type"] = pd.Categorical(tasks["researcher"] % 2)
    result = estimate_all(tasks)
    groups = {(e["dimension"], e["group"]) for e in result["estimates"]}
    assert {g for d, g in groups if d == "team"} == {"0", "1", "2"}
    assert {g for d, g in groups if d == "task_type"} == {"0", "1"}


def test_repeated_task_ids_keep_the_stable_order():
    tasks = make_tasks(seed=14)
    tasks["task_id"] = tasks["task_id"] // 3
    shuffled = tasks.sample(frac=1.0, random_state=2).reset_index(drop=True)
    expected = estimate_all(shuffled.sort_values("task_id", kind="stable"))
    assert estimate_all(shuffled) == expected
