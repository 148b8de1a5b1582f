"""OpenAPI generation: every operation documents the errors it can answer, always as JSON."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

_COMMON_ERRORS = {
    "401": "Not signed in, or the token is invalid, revoked or expired.",
    "403": "Signed in, but this role may not do this.",
}
_ERRORS_WITH_INPUT = {
    "400": "Invalid input: a list of messages per field or parameter. A query parameter the "
    "operation does not take is refused, named, never ignored."
}
_ERRORS_OF_NEGOTIATION = {"406": "The Accept header names no media type this operation answers."}
_ERRORS_ON_OBJECT = {"404": "No such object, or not one this user may see."}
# An object's path whose id is the name of one of the collection's actions (work-sessions/stop/)
# is that action's path, which answers only its own method.
_ERRORS_ON_ACTION_PATH = {"405": "The id is the name of an action, which takes another method."}
_ERRORS_ON_WRITE = {
    "415": "The body is not in a media type this operation reads.",
    "429": "Too many writes: wait as the Retry-After header says.",
}


class UpliftAutoSchema(AutoSchema):
    """drf-spectacular's schema with 400/401/403/404/406/415/429 added where they can happen."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        # Any operation can meet invalid input: a body, a filter or a query parameter.
        errors = {**_COMMON_ERRORS, **_ERRORS_WITH_INPUT}
        method = self.method.upper()
        if "{" in self.path or getattr(self.view, "may_be_missing", False):
            errors.update(_ERRORS_ON_OBJECT)
        if "{" in self.path and _collection_actions(self.view):
            errors.update(_ERRORS_ON_ACTION_PATH)
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            errors.update(_ERRORS_ON_WRITE)
        if set(self.map_renderers("media_type")) != {"application/json"}:
            errors.update(_ERRORS_OF_NEGOTIATION)  # the export: Accept chooses its format
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(response=_ERROR_SCHEMA, description=description),
                    code,
                    media_types=["application/json"],
                )
        return responses


def _collection_actions(view) -> list:
    """The view's extra actions on the whole collection (``@action(detail=False)``)."""
    extra = getattr(view, "get_extra_actions", None)
    return [action for action in extra() if not action.detail] if extra else []


# Free-form on purpose: a 400 carries one key per invalid field, with nested lists or objects.
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {}},
    "additionalProperties": True,
}
