"""The API's errors name a task's condition in the pages' words, and quote its codes."""

import pytest

CONDITIONS = 'give AI allowed ("ai") or No AI ("no_ai").'


@pytest.mark.parametrize("value", ["AI-allowed", "no-ai"])
def test_an_unknown_condition_in_a_change_is_refused_in_the_words_and_the_codes(world, value):
    response = world.client("researcher").patch(
        f"/api/v1/tasks/{world.own_task.pk}/", {"condition": value}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"condition": [f"“{value}” is not a condition: {CONDITIONS}"]}


def test_an_unknown_condition_in_a_filter_is_refused_in_the_words_and_the_codes(world):
    response = world.client("analyst").get("/api/v1/tasks/", {"condition": "No AI"})
    assert response.status_code == 400
    assert response.json() == {"condition": [f"“No AI” is not a condition: {CONDITIONS}"]}
    # The codes themselves are the filter's values.
    response = world.client("analyst").get("/api/v1/tasks/", {"condition": "no_ai"})
    assert response.status_code == 200
