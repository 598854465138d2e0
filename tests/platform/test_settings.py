"""One configuration path: every variable is declared once, and the README shows exactly
the declared ones."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from resources import settings as settings_module

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_is_generated_from_the_settings_module():
    text = README.read_text()
    block = re.search(r"<!-- settings table[^>]*-->\n(.*?)\n<!-- end of settings table -->", text, re.S)
    assert block, "README lost its generated settings table markers"
    assert block.group(1).strip() == settings_module.markdown_table().strip(), (
        "README settings table is stale: paste the output of `python -m resources.settings`"
    )


def test_undeclared_variables_cannot_be_read(monkeypatch):
    monkeypatch.setenv("SOME_UNDECLARED_SETTING", "x")
    with pytest.raises(KeyError, match="not a platform setting"):
        settings_module.raw("SOME_UNDECLARED_SETTING")


def test_a_set_variable_becomes_an_env_var_and_an_unset_one_the_local_default(monkeypatch):
    monkeypatch.delenv("CTS_URL", raising=False)
    assert settings_module.from_env("CTS_URL", "http://local") == "http://local"
    monkeypatch.setenv("CTS_URL", "https://cts.example.org")
    assert settings_module.from_env("CTS_URL", "http://local") == dg.EnvVar("CTS_URL")


def test_bad_platform_env_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("PLATFORM_ENV", "prod")
    with pytest.raises(ValueError, match="PLATFORM_ENV must be one of"):
        settings_module.settings()


def test_no_module_reads_the_environment_except_settings():
    """`os.environ`/`getenv` reads live in resources/settings.py only. The two other readers
    take process conventions, not platform settings: an external program's environment
    from PATH/HOME/LANG, and the CTS client's CAs from SSL_CERT_FILE/SSL_CERT_DIR (as every
    HTTP client does)."""
    root = Path(__file__).resolve().parents[2]
    allowed = {
        root / "resources" / "settings.py",
        root / "resources" / "shared" / "pipes.py",
        root / "resources" / "cts" / "deadline_http.py",
    }
    offenders = []
    for package in ("platform_assets", "resources", "sensors"):
        for path in (root / package).rglob("*.py"):
            if path in allowed:
                continue
            text = path.read_text()
            if re.search(r"os\.environ\.get|os\.getenv|os\.environ\[", text):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
