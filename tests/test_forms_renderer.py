"""The form renderer writes what Django's own widget and label templates write, character for
character (uplift/forms_renderer.py), and ``{% form_field %}`` what worklog/_field.html writes:
on every worklog form, blank and bound with errors, and on a form of awkward values."""

from datetime import UTC, datetime

import pytest
from django import forms
from django.conf import settings
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.utils.safestring import mark_safe

from tests.factories import (
    TaskFactory,
    TaskTypeFactory,
    TeamFactory,
    ToolFactory,
    ToolUseFactory,
    WorkSessionFactory,
)
from uplift.accounts.models import Team
from uplift.forms_renderer import FastTemplates
from uplift.worklog.forms import (
    HistoryFilterForm,
    TaskAbandonForm,
    TaskCompleteForm,
    TaskEditForm,
    TaskPlanForm,
    ToolUseForm,
    WorkSessionEditForm,
    WorkSessionForm,
)
from uplift.worklog.models import Task

DJANGO = DjangoTemplates()
FAST = FastTemplates()


def rendered(form: forms.Form, renderer) -> list[str]:
    """Every field's control and label, as a page shows them, with ``renderer``."""
    form.renderer = renderer
    out = []
    for field in form:
        out += [str(field), field.label_tag(), str(field.widget_type)]
        out += [field.label_tag(attrs={"class": "x", "hidden": True, "data-off": False})]
        out += [field.as_widget(attrs={"aria-describedby": "a b", "required": False})]
    return out


def assert_same(form: forms.Form) -> None:
    fast = rendered(form, FAST)
    assert fast == rendered(form, DJANGO)
    assert any(html.startswith(("<input", "<select", "<textarea")) for html in fast)


def test_the_fast_renderer_is_the_one_forms_use():
    assert settings.FORM_RENDERER == "uplift.forms_renderer.FastTemplates"
    assert isinstance(get_default_renderer(), FastTemplates)


class Awkward(forms.Form):
    text = forms.CharField(initial='<b>"quoted" & ampersand</b>', help_text="help")
    safe = forms.CharField(initial=mark_safe("<i>kept</i>"))
    number = forms.FloatField(initial=1234.5, widget=forms.NumberInput(attrs={"step": "any"}))
    hidden = forms.IntegerField(initial=7, widget=forms.HiddenInput())
    flag = forms.BooleanField(initial=True, required=False)
    off = forms.BooleanField(initial=False, required=False, disabled=True)
    when = forms.DateTimeField(initial=datetime(2026, 12, 4, 9, 30, tzinfo=UTC))
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    email = forms.EmailField(label="E-mail <address>", label_suffix=":")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), initial="line 1\nline <2>")
    empty_note = forms.CharField(widget=forms.Textarea, required=False)
    grouped = forms.ChoiceField(
        choices=[("", "None"), ("Fruit", [("a", "Apple & co"), ("b", "<Banana>")]), (3, 3.5)],
        initial="b",
    )
    many = forms.MultipleChoiceField(choices=[("x", "X"), ("y", "Y")], initial=["x", "y"])
    radio = forms.ChoiceField(choices=[("r", "R"), ("s", "S")], widget=forms.RadioSelect)


def test_awkward_values_blank_and_bound_with_errors():
    assert_same(Awkward())
    assert_same(Awkward(data={"text": "", "number": "x", "grouped": "zz", "note": "<&>"}))
    assert_same(Awkward(auto_id=False))


@pytest.mark.django_db
def test_every_worklog_form_blank_and_bound_with_errors():
    teams = [TeamFactory(name="Alignment & <co>"), TeamFactory(name="Interp")]
    TaskTypeFactory(name="Experiment code")
    TaskTypeFactory(name='Writing "drafts"')
    tools = [ToolFactory(name="Assistant"), ToolFactory(name="Agent <beta>")]
    task = TaskFactory(team=teams[0], perceived_other_minutes=42.5, title="A <b>task</b>")
    session = WorkSessionFactory(task=task, owner=task.owner)
    ToolUseFactory(task=task, tool=tools[1], minutes=12.5)
    uses = {use.tool_id: use for use in task.tool_uses.all()}
    one_team = Team.objects.filter(pk=teams[0].pk)
    two_teams = Team.objects.filter(pk__in=[t.pk for t in teams])
    for form in (
        TaskPlanForm(teams=one_team, initial={"task_type": None}),
        TaskPlanForm(teams=two_teams),
        TaskPlanForm({"title": "x" * 500, "forecast_ai_minutes": "-1"}, teams=two_teams),
        TaskEditForm(task=task, initial={"title": task.title, "perceived_other_minutes": 3.25}),
        TaskEditForm({"title": "a\nb"}, task=task),
        TaskCompleteForm(task=task, has_sessions=True),
        TaskCompleteForm({"actual_minutes": "abc"}, task=task, has_sessions=False),
        TaskAbandonForm(),
        TaskAbandonForm({"reason": ""}),
        ToolUseForm(tools=tools, current=uses),
        ToolUseForm(
            {f"tool_{tools[0].pk}": "on", f"minutes_{tools[0].pk}": "-4"}, tools=tools, current={}
        ),  # fmt: skip
        WorkSessionForm(),
        WorkSessionForm({"started_at": "yesterday"}),
        WorkSessionEditForm(
            initial={"task": task, "started_at": session.started_at},
            tasks=Task.objects.filter(pk=task.pk),
        ),
        HistoryFilterForm(),
        HistoryFilterForm({"condition": "nonsense"}),
    ):
        form.is_bound and form.is_valid()
        assert_same(form)
        included, tagged = field_template_and_tag(form)
        assert tagged == included


def field_template_and_tag(form: forms.Form) -> tuple[list[str], list[str]]:
    """Each field through worklog/_field.html and through ``{% form_field %}``."""
    from django.template import engines
    from django.template.loader import render_to_string

    tag = engines["django"].from_string(
        "{% load worklog %}{% form_field field %}|{% form_field field label_hidden=True %}"
    )
    included, tagged = [], []
    for field in form:
        included.append(
            render_to_string("worklog/_field.html", {"field": field}).lstrip("\n")
            + "|"
            + render_to_string(
                "worklog/_field.html", {"field": field, "label_hidden": True}
            ).lstrip("\n")
        )
        tagged.append(tag.render({"field": field}))
    return included, tagged


def test_the_form_field_tag_writes_what_the_field_template_writes():
    for form in (
        Awkward(),
        Awkward(data={"text": "", "number": "x", "grouped": "zz", "note": "<&>"}),
        Awkward(auto_id=False),
    ):
        form.is_bound and form.is_valid()
        included, tagged = field_template_and_tag(form)
        assert tagged == included
        assert any("field-error" in html for html in tagged) == form.is_bound
        assert any('class="help"' in html for html in tagged)
