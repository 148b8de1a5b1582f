"""Signing in with a username and password: Django's ``ModelBackend``, with the signed-in
user of each request read in SQL written once (uplift/fixed_sql.py).

Every signed-in request reads its user; the ORM spent more CPU building that query than
sending it. Everything else (passwords, permissions, an inactive account refused) is Django's.
"""

from django.contrib.auth.backends import ModelBackend

from uplift.accounts.models import User
from uplift.fixed_sql import BIGINT_RANGE, Columns, select

_USER = Columns(User, "u")
_USER_SQL = f'SELECT {_USER.sql} FROM "{User._meta.db_table}" u WHERE u."id" = %s'


class UserBackend(ModelBackend):
    def get_user(self, user_id):
        """The active user of this id, or None (Django's ``ModelBackend.get_user``)."""
        if user_id not in BIGINT_RANGE:
            return None
        found = select(_USER_SQL, [user_id], _USER)
        if not found:
            return None
        [user] = found[0]
        return user if self.user_can_authenticate(user) else None
