from django.urls import path

from uplift.worklog import views

app_name = "worklog"

urlpatterns = [
    path("tasks/<int:task_id>/", views.task_detail, name="task_detail"),
    path("tasks/<int:task_id>/timer/", views.task_timer, name="task_timer"),
    path("tasks/<int:task_id>/sessions/", views.session_add, name="session_add"),
    path(
        "tasks/<int:task_id>/sessions/<int:session_id>/",
        views.session_edit,
        name="session_edit",
    ),
    path(
        "tasks/<int:task_id>/sessions/<int:session_id>/delete/",
        views.session_delete,
        name="session_delete",
    ),
    path("tasks/<int:task_id>/tools/", views.tool_uses, name="tool_uses"),
    path("tasks/<int:task_id>/complete/", views.task_complete, name="task_complete"),
    path("tasks/<int:task_id>/abandon/", views.task_abandon, name="task_abandon"),
    path("tasks/<int:task_id>/edit/", views.task_edit, name="task_edit"),
    path("history/", views.history, name="history"),
    path("history/week/", views.history_week, name="history_week"),
    path("history/day/", views.history_day, name="history_day"),
    path("history/export/", views.history_export, name="history_export"),
    path("how-it-works/", views.how_it_works, name="how_it_works"),
    path("how-it-works/dismiss/", views.intro_dismiss, name="intro_dismiss"),
]
