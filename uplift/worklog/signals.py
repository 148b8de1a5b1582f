"""What the worklog announces: other apps react to it without the worklog knowing them."""

from django.dispatch import Signal

# Sent by the worklog's services inside the transaction that created, changed or imported
# tasks, whenever a change can alter what is computed from them (sender: the Task model). A
# receiver that acts on the data should wait for the commit (``transaction.on_commit``); the
# estimates app queues its refresh that way.
tasks_changed = Signal()
