from django.contrib.auth import views as auth_views
from django.urls import reverse

from uplift.accounts.access import access_for
from uplift.accounts.forms import PasswordChangeForm


class LoginView(auth_views.LoginView):
    """Sign in, then land where the role works (``Access.landing_page``): a lead on their
    dashboard, an analyst on the API page, an admin on the organisation dashboard, anyone else
    on Today. A ``next`` that Django accepts as safe still wins."""

    def get_default_redirect_url(self) -> str:
        return reverse(access_for(self.request.user).landing_page)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change one's own password; the old one is throttled as a sign-in (see the form)."""

    form_class = PasswordChangeForm

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "request": self.request}
