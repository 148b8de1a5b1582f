"""Django's database sessions, read with SQL written once (``SESSION_ENGINE``).

Every signed-in request reads its session first; the ORM spent more CPU building that query
than sending it (uplift/fixed_sql.py). Writing (sign-in, sign-out, changes) stays Django's.
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

from uplift.fixed_sql import fetch_one


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        """The unexpired session of this key (only its data is read), or None."""
        model = self.model
        using = router.db_for_read(model)
        sql = (
            f'SELECT "session_data" FROM "{model._meta.db_table}"'
            ' WHERE "session_key" = %s AND "expire_date" > %s'
        )
        expire_date = model._meta.get_field("expire_date")
        now = expire_date.get_db_prep_value(timezone.now(), connections[using])
        row, _ = fetch_one(sql, [self.session_key, now], using)
        if row is None:
            self._session_key = None
            return None
        return model(session_key=self.session_key, session_data=row[0])
