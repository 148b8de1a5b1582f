from django.contrib.auth import views as auth_views

from uplift.accounts.forms import PasswordChangeForm


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change one's own password; the old one is throttled as a sign-in (see the form)."""

    form_class = PasswordChangeForm

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "request": self.request}
