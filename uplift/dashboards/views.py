from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from uplift.worklog.selectors import task_list_open


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"open_tasks": task_list_open(owner=request.user)})
