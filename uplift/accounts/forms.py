"""The password change form: the old password is checked like a sign-in, and throttled like one."""

from django.contrib.auth import authenticate
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's form, checking the old password through the authentication backends.

    So a wrong old password is a failed sign-in for django-axes: it counts towards the lock of
    that username from that address, and a locked username cannot change its password either.
    Otherwise a stolen session would allow guessing the password without any limit.
    """

    def __init__(self, user, *args, request: HttpRequest, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        checked = authenticate(
            self.request, username=self.user.get_username(), password=old_password
        )
        if checked is None or checked.pk != self.user.pk:
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password
