"""The "API tokens" page: a user creates, names, reviews and revokes personal tokens."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from uplift.api.models import ApiToken
from uplift.timezones import in_reader_time_zone

EXPIRY_CHOICES = {
    "30": ("30 days", timedelta(days=30)),
    "90": ("90 days", timedelta(days=90)),
    "365": ("One year", timedelta(days=365)),
    "never": ("Never", None),
}


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. “analysis notebook”."
    )
    expires = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in EXPIRY_CHOICES.items()], initial="90"
    )


@login_required
@require_http_methods(["GET", "POST"])
@in_reader_time_zone
def tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; a POST creates one and shows its secret this once, with curl and
    pandas lines that use it on this site's export."""
    form = TokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        _, expiry = EXPIRY_CHOICES[form.cleaned_data["expires"]]
        token, secret = ApiToken.objects.create(
            user=request.user, expiry=expiry, name=form.cleaned_data["name"]
        )
        form = TokenForm()
    now = timezone.now()
    tokens = list(ApiToken.objects.filter(user=request.user).order_by("-created"))
    for token in tokens:
        token.expired = token.expiry is not None and token.expiry <= now
    context = {
        "form": form,
        "secret": secret,
        "tokens": tokens,
        "export_url": request.build_absolute_uri(reverse("api:task-export")),
    }
    return render(request, "api/tokens.html", context)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_key: str) -> HttpResponse:
    """Revoke (delete) one of the user's own tokens: it stops working at once."""
    tokens_of_user = ApiToken.objects.filter(user=request.user, token_key=token_key)
    token = get_object_or_404(tokens_of_user)
    token.delete()
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("api:tokens")
