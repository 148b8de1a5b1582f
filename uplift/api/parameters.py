"""Query parameters an endpoint does not take are refused (400, naming them), not ignored.

A misspelt filter (``?tem=3``) would otherwise answer every row as if it had filtered them.
What an operation takes is what its schema documents: its filters and ordering and, on a
paginated list, the cursor and page size (``filtered_actions`` says which actions besides
``list`` take the filters), and the parameters a view names in ``query_parameters`` by action
(or by method, for an ``APIView``). ``tests/api/test_parameters.py`` holds the two to the same
names for every operation of the schema.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

UNKNOWN_PARAMETER = "Unknown query parameter."


class KnownQueryParameters:
    """For every API view: refuse the query parameters it does not take, after the checks of
    sign-in, permission and throttle (someone not signed in learns nothing of them)."""

    filtered_actions: tuple[str, ...] = ()
    query_parameters: dict[str, tuple[str, ...]] = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        known = self.known_query_parameters()
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            takes = f"takes: {', '.join(sorted(known))}." if known else "takes none."
            message = f"{UNKNOWN_PARAMETER} This endpoint {takes}"
            raise ValidationError({name: [message] for name in unknown})

    def known_query_parameters(self) -> set[str]:
        action = getattr(self, "action", None) or self.request.method.lower()
        known = set(self.query_parameters.get(action, ()))
        if action in ("list", *self.filtered_actions):
            known |= self._filter_parameters()
        if action == "list" and getattr(self, "paginator", None) is not None:
            paginator = self.paginator
            known |= {
                name
                for name in (
                    getattr(paginator, "cursor_query_param", None),
                    getattr(paginator, "page_size_query_param", None),
                )
                if name
            }
        return known

    def _filter_parameters(self) -> set[str]:
        names = set()
        for backend_class in getattr(self, "filter_backends", ()):
            backend = backend_class()
            if isinstance(backend, OrderingFilter):
                names.add(backend.ordering_param)
            elif hasattr(backend, "get_filterset_class"):
                filterset_class = backend.get_filterset_class(self, self.get_queryset())
                if filterset_class is not None:
                    names |= set(filterset_class.base_filters)
        return names
