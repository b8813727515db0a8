"""What an operator reads: /docs without a network, refusals that name their rule, and revocation
reasons listed as the CA accepts them (CLI help, REST schema, error messages)."""

from __future__ import annotations

import re
import subprocess
from urllib.parse import urlsplit

import pytest
from chargeca_process import chargeca
from cli_support import acme_init, cli_env, copy_init  # noqa: F401 - fixture
from rest_support import sqlite_api  # noqa: F401 - fixture

from pki.revocation import REVOKE_REASONS


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_documentation_loads_only_from_this_server(sqlite_api, page):  # noqa: F811
    html = sqlite_api.client.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text) + re.findall(r"""url: ?'([^']+)'""", html.text)
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts, html.text
    for url in urls:
        assert not urlsplit(url).netloc and url.startswith("/"), f"{page} loads {url} from elsewhere"
        fetched = sqlite_api.client.get(url)
        assert fetched.status_code == 200 and len(fetched.content) > 100, url
    assert any(len(sqlite_api.client.get(u).content) > 500_000 for u in scripts)  # the real bundle, not a stub


@pytest.fixture
def cli(tmp_path, acme_init):  # noqa: F811
    copy_init(acme_init, tmp_path / "data")  # as `chargeca init --org "Acme CSO" --fqdn csms.acme.test` left it
    env = cli_env(tmp_path / "data")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return chargeca(*args, input=stdin, env=env, cwd=tmp_path)

    return run


def test_a_refused_password_names_its_rule_on_the_cli(cli):
    refused = cli("station", "add", "CP-1", "--security-profile", "2", "--password-stdin", stdin="short\n")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "chargeca: error: station.password: password must have 16 to 64 characters"


def test_a_refused_password_names_its_rule_on_rest(sqlite_api):  # noqa: F811
    answer = sqlite_api.client.post("/api/v1/stations", json={"id": "CP-2", "security_profile": 2,
                                                              "password": "short"},
                                    headers=sqlite_api.headers("officer"))
    assert answer.status_code == 422
    assert (answer.json()["rule"], answer.json()["field"]) == ("station.password", "password")


def test_revocation_reasons_are_listed_as_accepted(cli, sqlite_api):  # noqa: F811
    assert "removeFromCRL" not in REVOKE_REASONS and "keyCompromise" in REVOKE_REASONS
    help_text = " ".join(cli("cert", "revoke", "--help").stdout.split())
    assert f"one of: {', '.join(REVOKE_REASONS)}" in help_text and "removeFromCRL" not in help_text

    refused = cli("cert", "revoke", "abcdef", "--reason", "becauseISaidSo")
    assert refused.returncode == 1 and "removeFromCRL" not in refused.stderr
    assert ", ".join(REVOKE_REASONS) in refused.stderr

    schema = sqlite_api.client.get("/openapi.json").json()["components"]["schemas"]["RevokeRequest"]
    assert schema["properties"]["reason"]["enum"] == list(REVOKE_REASONS)
