"""The shape of the code: which app may import which, and what a web process loads.

The table below is the one in the README's "Architecture" section; keep them together.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "uplift"
APPS = ("accounts", "worklog", "estimates", "api", "dashboards")
# What each app may import of the other apps: a whole app ("worklog") or named modules
# ("estimates.selectors"). Shared modules at the package's top (uplift/spreadsheet.py,
# uplift/admin_base.py, ...) are open to every app. Migrations are history and not checked.
ALLOWED = {
    # The accepted team names' rules (a plain module that imports no model).
    "accounts": {"worklog.bounds"},
    "worklog": {"accounts"},
    # Reads the tasks and hears of their changes; never the worklog's pages or admin.
    "estimates": {"accounts.models", "worklog.models", "worklog.signals"},
    # Requests read snapshots and queue refreshes: never the refresh itself (compute). The
    # vocabulary of estimate rows (dimensions, statuses, warning codes) is plain Python.
    "api": {
        "accounts",
        "worklog",
        "estimates.models",
        "estimates.selectors",
        "estimates.vocabulary",
    },
    "dashboards": {
        "accounts",
        "worklog",
        "estimates.models",
        "estimates.selectors",
        "estimates.services",
        "estimates.vocabulary",
    },
}
SCIENTIFIC = ("numpy", "pandas", "scipy", "statsmodels")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imported(tree: ast.AST) -> set[str]:
    """Every ``uplift.…`` module a file imports, at any depth (lazy imports count too)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                names.add(candidate if _is_module(candidate) else node.module)
    return {name for name in names if name.split(".")[0] == "uplift"}


def project_imports() -> dict[str, set[str]]:
    """Module name -> the project modules it imports, for every module outside migrations."""
    return {
        _module_name(path): _imported(ast.parse(path.read_text(), filename=str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts
    }


def _app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in APPS else None


def forbidden_imports(imports: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(imports.items()):
        app = _app_of(module)
        if app is None:
            continue
        for target in sorted(targets):
            other = _app_of(target)
            if other is None or other == app:
                continue
            inside = target.split(".", 1)[1]  # "estimates.selectors", "worklog.admin"
            allowed = ALLOWED[app]
            if not any(inside == a or inside.startswith(a + ".") for a in allowed):
                found.append(f"{module} imports {target}")
    return found


def test_apps_import_only_in_the_allowed_direction():
    imports = project_imports()
    # The walk sees the project: known edges are there.
    assert "uplift.estimates.models" in imports["uplift.estimates.selectors"]
    assert "uplift.estimates.compute" in imports["uplift.estimates.tasks"]
    assert forbidden_imports(imports) == []
    # The shared modules at the top import no app; only the routes (uplift/urls.py) do.
    shared = {m: t for m, t in imports.items() if _app_of(m) is None and m != "uplift.urls"}
    assert {m: sorted(t) for m, t in shared.items() if any(map(_app_of, t))} == {}


def test_the_table_catches_the_dependencies_that_ran_the_wrong_way():
    wrong = {
        "uplift.worklog.services": {"uplift.estimates.services"},
        "uplift.estimates.admin": {"uplift.worklog.admin"},
        "uplift.accounts.management.commands.seed_demo": {"uplift.worklog.services"},
        "uplift.dashboards.lead_views": {"uplift.estimates.compute"},
        "uplift.api.views": {"uplift.estimates.stats", "uplift.spreadsheet"},
    }
    assert forbidden_imports(wrong) == [
        "uplift.accounts.management.commands.seed_demo imports uplift.worklog.services",
        "uplift.api.views imports uplift.estimates.stats",
        "uplift.dashboards.lead_views imports uplift.estimates.compute",
        "uplift.estimates.admin imports uplift.worklog.admin",
        "uplift.worklog.services imports uplift.estimates.services",
    ]


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
