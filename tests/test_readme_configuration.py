"""The README's configuration table names every variable the settings read, and no other."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = (ROOT / "uplift" / "settings.py").read_text()
README = (ROOT / "README.md").read_text()
# Read outside the settings: by the Makefile, the compose file or gunicorn.
READ_ELSEWHERE = {"PORT": "Makefile", "WEB_CONCURRENCY": "docker-compose.yml"}


def documented() -> set[str]:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.M))


def read_by_settings() -> set[str]:
    calls = r'\b(?:env|env_bool|env_list|os\.environ\.get)\(\s*"([A-Z_]+)"'
    return set(re.findall(calls, SETTINGS))


def test_every_variable_the_settings_read_is_documented():
    assert read_by_settings() - documented() == set()


def test_every_documented_variable_is_read():
    for name, reader in READ_ELSEWHERE.items():
        assert name in (ROOT / reader).read_text()
    assert documented() - read_by_settings() - set(READ_ELSEWHERE) == set()
