"""The form renderer: Django's, with its commonest widget templates written in Python.

Every ``{{ field }}`` and ``{{ field.label_tag }}`` renders a small Django template (an input
includes its attributes' template; a select includes one template per option). On the task
page and Today they were a fifth of a request's CPU. ``FastTemplates`` renders those templates
(inputs of every type, selects and their options, textareas, labels) in Python, to the same
characters (tests/test_forms_renderer.py compares the two on every worklog form); any other
template (a form's ``div.html``, radio buttons, a template overridden by name) is Django's.
"""

from collections.abc import Callable

from django.forms.renderers import DjangoTemplates
from django.template import Context
from django.template.base import render_value_in_context
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData

_CONTEXT = Context(autoescape=True)  # how a template shows {{ value }}: localized, escaped


def text(value) -> str:
    """``{{ value }}`` in a template: localized, escaped unless safe."""
    if type(value) is str:
        return escape(value)
    return render_value_in_context(value, _CONTEXT)


def _formatted(value) -> str:
    """``{{ value|stringformat:'s' }}``: the filter keeps a safe string safe."""
    if isinstance(value, SafeData):
        return conditional_escape(value)
    return escape("%s" % value)  # noqa: UP031 (the filter's own formatting)


def _attrs(attrs: dict) -> str:
    """django/forms/widgets/attrs.html (and django/forms/attrs.html)."""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        out.append(f" {text(name)}" if value is True else f' {text(name)}="{_formatted(value)}"')
    return "".join(out)


def _input(widget: dict) -> str:
    value = "" if widget["value"] is None else f' value="{_formatted(widget["value"])}"'
    return (
        f'<input type="{text(widget["type"])}" name="{text(widget["name"])}"{value}'
        f"{_attrs(widget['attrs'])}>"
    )


OPTION = "django/forms/widgets/select_option.html"


def _option(option: dict) -> str:
    # As included by select.html: with the newline that ends the template's file.
    return (
        f'<option value="{_formatted(option["value"])}"{_attrs(option["attrs"])}>'
        f"{text(option['label'])}</option>\n"
    )


def _select(widget: dict) -> str | None:
    out = [f'<select name="{text(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            out.append(f'\n  <optgroup label="{text(group_name)}">')
        for option in group_choices:
            if option["template_name"] != OPTION:
                return None  # an option of another kind: Django's templates
            out.append(f"\n  {_option(option)}")
        if group_name:
            out.append("\n  </optgroup>")
    out.append("\n</select>")
    return "".join(out)


def _textarea(widget: dict) -> str:
    value = text(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{text(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'


def _label(context: dict) -> str:
    if not context["use_tag"]:
        return text(context["label"])
    tag = text(context["tag"])
    return f"<{tag}{_attrs(context['attrs'] or {})}>{text(context['label'])}</{tag}>"


_WIDGETS: dict[str, Callable[[dict], str | None]] = {
    **{
        f"django/forms/widgets/{name}.html": _input
        for name in (
            "input",
            "text",
            "number",
            "email",
            "url",
            "password",
            "hidden",
            "date",
            "datetime",
            "time",
            "checkbox",
            "search",
            "tel",
            "color",
        )
    },  # fmt: skip
    "django/forms/widgets/select.html": _select,
    "django/forms/widgets/textarea.html": _textarea,
}


class FastTemplates(DjangoTemplates):
    """``django.forms.renderers.DjangoTemplates``, its widget and label templates in Python."""

    def render(self, template_name, context, request=None):
        if template_name == "django/forms/label.html":
            return _label(context).strip()
        widget = _WIDGETS.get(template_name)
        if widget is not None and "widget" in context:
            html = widget(context["widget"])
            if html is not None:
                return html.strip()
        return super().render(template_name, context, request)
