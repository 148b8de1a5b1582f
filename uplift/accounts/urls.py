"""Signing in and out, and changing one's own password.

There is no password reset by email: Uplift sends no mail. An administrator sets a new password
in the admin.
"""

from django.contrib.auth import views as auth_views
from django.urls import path

from uplift.accounts.views import LoginView, PasswordChangeView

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
