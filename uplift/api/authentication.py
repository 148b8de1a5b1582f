"""Personal API tokens sent as ``Authorization: Bearer <token>`` (django-rest-knox)."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from uplift.api.models import ApiToken

# Recording every single use would turn each read into a write; a minute is precise enough.
LAST_USE_RESOLUTION = timedelta(minutes=1)


class BearerTokenAuthentication(TokenAuthentication):
    """Knox's hashed, expiring tokens, also recording when each token was last used."""

    def authenticate_credentials(self, token: bytes):
        # Tokens are printable ASCII: anything else is a bad token like any other (never
        # decoded, looked up or echoed).
        if not (token.isascii() and token.decode("ascii").isprintable()):
            raise AuthenticationFailed("Invalid token.")
        user, auth_token = super().authenticate_credentials(token)
        now = timezone.now()
        if auth_token.last_used_at is None or now - auth_token.last_used_at > LAST_USE_RESOLUTION:
            ApiToken.objects.filter(pk=auth_token.pk).update(last_used_at=now)
            auth_token.last_used_at = now
        return user, auth_token


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token as an HTTP bearer scheme in the OpenAPI schema."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from the “API tokens” page.",
        }
