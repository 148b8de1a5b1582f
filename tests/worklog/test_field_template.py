"""The shared form field template: every id once, and what the control names exists."""

import re
from collections import Counter

from django import forms
from django.template.loader import render_to_string


class _Form(forms.Form):
    minutes = forms.FloatField(help_text="Minutes of work.")
    agreed = forms.BooleanField(help_text="Tick to agree.")


def _rendered(field_name: str) -> str:
    form = _Form(data={"minutes": "x", "agreed": ""})
    form.is_valid()
    form.add_error(field_name, "A second problem.")
    return render_to_string("worklog/_field.html", {"field": form[field_name]})


def test_a_field_with_two_errors_repeats_no_id_and_describes_the_control_by_both():
    for name in ("minutes", "agreed"):
        html = _rendered(name)
        ids = Counter(re.findall(r'\bid="([^"]+)"', html))
        assert [i for i, n in ids.items() if n > 1] == []
        described = re.search(r'aria-describedby="([^"]+)"', html).group(1).split()
        assert described == [f"id_{name}_helptext", f"id_{name}_error"]
        assert all(ids[i] == 1 for i in described)
        errors = re.search(rf'id="id_{name}_error"[^>]*>(.*?)</div>', html, re.S).group(1)
        assert errors.count('class="field-error"') == 2
        assert "A second problem." in errors
