"""The shape of the code: what a web process loads."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIENTIFIC = ("numpy", "pandas", "scipy", "statsmodels")


# A web process: the routes (every view module), the WSGI application, and what queuing a
# refresh imports (the Celery app with its task modules).
WEB_PROCESS = """
import json, sys
import django
django.setup()
import uplift.urls
import uplift.wsgi
from uplift.celery_app import app
app.loader.import_default_modules()
app.finalize()
print(json.dumps({
    "scientific": sorted(m for m in %r if m in sys.modules),
    "views": sorted(m for m in sys.modules if m.endswith(("views", "lead_views"))),
    "tasks": sorted(name for name in app.tasks if name.startswith("uplift.")),
}))
"""


def test_a_web_process_does_not_load_the_scientific_stack():
    result = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS % (SCIENTIFIC,)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "uplift.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"uplift.api.views", "uplift.dashboards.lead_views", "uplift.worklog.views"} <= set(
        loaded["views"]
    )
    assert "uplift.estimates.tasks.estimates_refresh_task" in loaded["tasks"]
    assert loaded["scientific"] == []
