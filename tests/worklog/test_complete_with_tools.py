"""Completing a task saves the AI tools ticked in the same form: nothing entered is lost."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from tests.factories import TaskFactory, ToolFactory, ToolUseFactory, WorkSessionFactory
from uplift.worklog import services
from uplift.worklog.models import Task, ToolUse

pytestmark = pytest.mark.django_db

RANGE_ERROR = "Minutes must be between 0.1 and 43,200 minutes (30 days)."


@pytest.fixture
def tools(db):
    return ToolFactory(name="ChatGPT"), ToolFactory(name="Claude")


@pytest.fixture
def signed_in(client, plain_http, researcher):
    client.force_login(researcher)
    return client


def ticked(tools, **minutes_by_name) -> dict:
    """The tool rows as the task page posts them: every mode, ticks and minutes as given."""
    data = {}
    for tool in tools:
        data[f"mode_{tool.pk}"] = "chat"
        data[f"minutes_{tool.pk}"] = ""
        if tool.name in minutes_by_name:
            data[f"tool_{tool.pk}"] = "on"
            data[f"minutes_{tool.pk}"] = minutes_by_name[tool.name]
    return data


def logged(task) -> list[tuple]:
    return [(u.tool.name, u.minutes, u.mode) for u in task.tool_uses.order_by("tool__name")]


@pytest.mark.parametrize("condition", [Task.Condition.AI, Task.Condition.NO_AI])
def test_complete_saves_the_tools_ticked_with_it(signed_in, researcher, team, tools, condition):
    task = TaskFactory(owner=researcher, team=team, title="Sweep", condition=condition)
    WorkSessionFactory(task=task)
    response = signed_in.post(
        reverse("worklog:task_complete", args=[task.pk]),
        {**ticked(tools, Claude="20"), "perceived_other_minutes": "75"},
        follow=True,
    )
    assert response.redirect_chain == [("/", 302)]
    assert "Completed “Sweep” in 30 min, AI tools used: Claude." in response.content.decode()
    task.refresh_from_db()
    assert (task.status, task.perceived_other_minutes) == (Task.Status.COMPLETED, 75)
    assert logged(task) == [("Claude", 20, "chat")]
    # On a No AI task the ticks are non-compliance, flagged as when saved on their own.
    page = signed_in.get(reverse("worklog:task_detail", args=[task.pk])).content.decode()
    flag = "it is recorded as non-compliance"
    assert (flag in page) == (condition == Task.Condition.NO_AI)
    history = signed_in.get(reverse("worklog:history")).content.decode()
    assert ("AI used on No AI" in history) == (condition == Task.Condition.NO_AI)


def test_complete_with_no_tool_ticked_clears_them_as_saving_would(
    signed_in, researcher, team, tools
):
    task = TaskFactory(owner=researcher, team=team)
    ToolUseFactory(task=task, tool=tools[0])
    response = signed_in.post(
        reverse("worklog:task_complete", args=[task.pk]),
        {**ticked(tools), "actual_minutes": "40"},
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, logged(task)) == (Task.Status.COMPLETED, [])


def test_complete_without_the_tool_fields_keeps_the_logged_tools(
    signed_in, researcher, team, tools
):
    task = TaskFactory(owner=researcher, team=team)
    ToolUseFactory(task=task, tool=tools[1], minutes=5)
    response = signed_in.post(
        reverse("worklog:task_complete", args=[task.pk]), {"actual_minutes": "40"}
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, logged(task)) == (Task.Status.COMPLETED, [("Claude", 5, "other")])


@pytest.mark.parametrize("value", ["0", "99999", "soon"])
def test_invalid_tool_minutes_refuse_the_whole_completion_beside_the_field(
    signed_in, researcher, team, tools, value
):
    task = TaskFactory(owner=researcher, team=team)
    WorkSessionFactory(task=task)
    claude = tools[1]
    response = signed_in.post(
        reverse("worklog:task_complete", args=[task.pk]),
        {**ticked(tools, ChatGPT="10", Claude=value), "perceived_other_minutes": "75"},
    )
    assert response.status_code == 400
    form = response.context["tool_form"]
    expected = RANGE_ERROR if value != "soon" else "Enter a number of minutes, like 45."
    assert form.errors == {f"minutes_{claude.pk}": [expected]}
    page = response.content.decode()
    assert f'aria-describedby="id_minutes_{claude.pk}_error"' in page
    assert f'id="id_minutes_{claude.pk}_error"' in page
    # What was typed comes back as it was: the ticks, the minutes and the completion fields.
    assert f'name="tool_{tools[0].pk}" id="id_tool_{tools[0].pk}" checked' in page
    assert f'value="{value}"' in page and 'value="75"' in page
    task.refresh_from_db()
    assert (task.status, task.completed_at, ToolUse.objects.count()) == (
        Task.Status.PLANNED,
        None,
        0,
    )


def test_a_refused_completion_keeps_the_ticks_and_saves_nothing(signed_in, researcher, team, tools):
    task = TaskFactory(owner=researcher, team=team)  # no session: its minutes are required
    response = signed_in.post(
        reverse("worklog:task_complete", args=[task.pk]), ticked(tools, Claude="20")
    )
    assert response.status_code == 400
    assert list(response.context["complete_form"].errors) == ["actual_minutes"]
    assert response.context["tool_form"]["tool_" + str(tools[1].pk)].value() is True
    assert ToolUse.objects.count() == 0


def test_the_service_saves_tools_and_completion_together_or_not_at_all(researcher, team, tools):
    task = TaskFactory(owner=researcher, team=team, condition=Task.Condition.NO_AI)
    chatgpt, claude = tools
    with pytest.raises(ValidationError) as refused:
        services.task_complete(
            task=task,
            actual_minutes=0,
            tool_uses=[services.ToolUseEntry(tool=claude, minutes=1e9)],
        )
    assert set(refused.value.error_dict) == {"actual_minutes", f"minutes_{claude.pk}"}
    task.refresh_from_db()
    assert (task.status, ToolUse.objects.count()) == (Task.Status.PLANNED, 0)

    services.task_complete(
        task=task,
        actual_minutes=40,
        tool_uses=[services.ToolUseEntry(tool=chatgpt, minutes=15, mode="agent")],
    )
    task.refresh_from_db()
    assert (task.status, logged(task)) == (Task.Status.COMPLETED, [("ChatGPT", 15, "agent")])


def test_a_forgotten_timer_stops_the_completion_but_keeps_the_ticks(
    signed_in, researcher, team, tools
):
    task = TaskFactory(owner=researcher, team=team)
    WorkSessionFactory(task=task, started_at=timezone.now() - timedelta(days=3), ended_at=None)
    response = signed_in.post(
        reverse("worklog:task_complete", args=[task.pk]), ticked(tools, Claude="20")
    )
    assert response.status_code == 302 and "/sessions/" in response["Location"]
    task.refresh_from_db()
    assert (task.status, logged(task)) == (Task.Status.PLANNED, [("Claude", 20, "chat")])


def test_saving_tools_from_the_completion_form_keeps_what_was_typed_to_complete(
    signed_in, researcher, team, tools
):
    task = TaskFactory(owner=researcher, team=team)
    WorkSessionFactory(task=task)
    response = signed_in.post(
        reverse("worklog:tool_uses", args=[task.pk]),
        {**ticked(tools, Claude="20"), "perceived_other_minutes": "75"},
    )
    assert response.status_code == 200
    assert response.context["complete_form"]["perceived_other_minutes"].value() == "75"
    assert "AI tools used: Claude." in response.content.decode()
    assert logged(task) == [("Claude", 20, "chat")]


def test_the_task_page_posts_tools_and_completion_in_one_form(signed_in, researcher, team, tools):
    task = TaskFactory(owner=researcher, team=team)
    page = signed_in.get(reverse("worklog:task_detail", args=[task.pk])).content.decode()
    complete = reverse("worklog:task_complete", args=[task.pk])
    form = page[page.index(f'action="{complete}"') :]
    form = form[: form.index("</form>")]
    assert f'name="tool_{tools[0].pk}"' in form and "Complete task" in form
    assert f'formaction="{reverse("worklog:tool_uses", args=[task.pk])}"' in form
