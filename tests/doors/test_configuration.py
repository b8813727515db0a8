"""Configuration as an operator sets it: every variable the code reads is in the README's table,
the OCPP gateway's knobs follow the same order of sources as every other setting (environment over
config.toml over defaults), a value the service cannot use stops it naming the variable, and a
station sees what was configured."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from chargeca_process import chargeca
from ocpp.v201.enums import RegistrationStatusEnumType
from ocpp_support import BOOT, Csms

from api.core.settings import DEFAULT_BOOT_STATUS, GatewayConfig, SettingsError, boot_statuses, load_settings
from api.csms.file_transfer.service import FileServiceConfig
from api.ocpp.transport.listener import ListenerConfig
from api.rest.app import create_app
from api.stack import running_stack

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_VARIABLES = ("CHARGECA_OCPP_BOOT_STATUS", "CHARGECA_OCPP_HEARTBEAT_INTERVAL",
                     "CHARGECA_OCPP_BOOT_RETRY_INTERVAL", "CHARGECA_OCPP_CALL_TIMEOUT",
                     "CHARGECA_OCPP_COMMIT_GATHER_MS", "CHARGECA_OCPP_SWITCH_INTERVAL_MS",
                     "CHARGECA_OCPP_WRITE_BEHIND_MS", "CHARGECA_OCPP_WRITE_BEHIND_SYNC")
# A name, not the prefix of a family ("CHARGECA_OCPP_*" in prose).
_NAME = re.compile(r"\bCHARGECA_[A-Z0-9_]*[A-Z0-9]\b(?!_)")


def names_in_code() -> dict[str, str]:
    """Every CHARGECA_* name the service, the scripts, CI and the test harness mention → one file
    that does. A variable a single test sets for a child process of its own is not configuration,
    so test modules other than the harness (conftest, support/) are not read."""
    files = [*(ROOT / "api").rglob("*.py"), *(ROOT / "pki").rglob("*.py"), *(ROOT / "policies").rglob("*.py"),
             *(ROOT / "storage").rglob("*.py"), *(ROOT / "simulator").rglob("*.py"),
             *(ROOT / "scripts").glob("*"), *(ROOT / ".ci").glob("*"),
             ROOT / "tests" / "conftest.py", *(ROOT / "tests" / "support").glob("*.py")]
    found: dict[str, str] = {}
    for path in sorted(p for p in files if p.is_file()):
        for name in _NAME.findall(path.read_text(encoding="utf-8", errors="replace")):
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def readme_configuration_table() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Configuration\n"):]
    section = section[:section.index("\n## ", 1)]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


@pytest.mark.fast
def test_the_readme_table_lists_every_environment_variable_the_code_reads():
    table = readme_configuration_table()
    missing = {name: where for name, where in names_in_code().items() if f"`{name}`" not in table}
    assert missing == {}, "add these to the README's configuration table (meaning and default)"


@pytest.mark.fast
def test_the_check_sees_the_gateway_variables_and_not_the_family_prefix():
    """The scan can fail: it finds the gateway variables where Settings reads them, and a
    prose mention of the family ("CHARGECA_OCPP_*") is no name."""
    found = names_in_code()
    assert {name: found.get(name) for name in GATEWAY_VARIABLES} == dict.fromkeys(
        GATEWAY_VARIABLES, "api/core/settings.py")
    assert _NAME.findall("overrides by CHARGECA_OCPP_* and $CHARGECA_REST_PORT") == ["CHARGECA_REST_PORT"]


@pytest.fixture
def clean_env(monkeypatch):
    for name in os.environ:
        if name.startswith("CHARGECA_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.fast
def test_gateway_knobs_come_from_the_environment_over_config_toml_over_defaults(clean_env, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    assert load_settings(data).gateway == GatewayConfig(), "nothing set: the defaults"
    (data / "config.toml").write_text('[chargeca]\nocpp_boot_status = "Pending"\nocpp_heartbeat_interval = 120\n'
                                      'ocpp_call_timeout = 12\n')
    clean_env.setenv("CHARGECA_OCPP_HEARTBEAT_INTERVAL", "17")
    clean_env.setenv("CHARGECA_OCPP_BOOT_RETRY_INTERVAL", "")  # empty: as if unset
    gateway = load_settings(data).gateway
    assert (gateway.default_boot_status, gateway.heartbeat_interval, gateway.boot_retry_interval,
            gateway.call_timeout) == ("Pending", 17, 60, 12.0)
    assert gateway.max_call_timeout == GatewayConfig().max_call_timeout, "not an operator's knob"


@pytest.mark.fast
def test_the_default_boot_status_is_one_the_spec_allows():
    """GatewayConfig takes its default without looking it up (the spec's enums load the whole
    OCPP library, which most `chargeca` commands never need)."""
    assert DEFAULT_BOOT_STATUS == GatewayConfig().default_boot_status == RegistrationStatusEnumType.accepted.value
    assert boot_statuses() == tuple(status.value for status in RegistrationStatusEnumType)


@pytest.mark.fast
@pytest.mark.parametrize("variable, value, says", [
    ("CHARGECA_OCPP_BOOT_STATUS", "Sometimes", "one of Accepted, Pending, Rejected, not 'Sometimes'"),
    ("CHARGECA_OCPP_HEARTBEAT_INTERVAL", "5m", "must be a whole number, not '5m'"),
    ("CHARGECA_OCPP_CALL_TIMEOUT", "0", "must not be negative"),
    ("CHARGECA_OCPP_COMMIT_GATHER_MS", "500", "between 0 and 50, not 500"),
    ("CHARGECA_OCPP_SWITCH_INTERVAL_MS", "0", "between 0.1 and 50, not 0.0"),
    ("CHARGECA_OCPP_WRITE_BEHIND_MS", "5000", "between 0 and 1000, not 5000.0"),
    ("CHARGECA_OCPP_WRITE_BEHIND_SYNC", "sometimes", "one of auto, fsync, none, not 'sometimes'"),
    ("CHARGECA_OCPP_WRITE_BEHIND_SYNC_IN", "kernel", "one of process, thread, not 'kernel'"),
    ("CHARGECA_OCPP_MESSAGE_LOG_WRITES_IN", "forked", "one of process, thread, not 'forked'"),
])
def test_a_gateway_value_the_service_cannot_use_is_refused_naming_the_variable(clean_env, tmp_path, variable,
                                                                                value, says):
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings(tmp_path / "data")
    assert variable in str(refused.value) and says in str(refused.value)


@pytest.mark.fast
@pytest.mark.parametrize("variable, key, value", [("CHARGECA_REST_PORT", "rest_port", "99999"),
                                                  ("CHARGECA_OCPP_WSS_PORT", "ocpp_wss_port", "-1"),
                                                  ("CHARGECA_FTP_PORT", "ftp_port", "65536")])
def test_a_port_no_socket_can_have_is_refused_naming_the_variable(clean_env, tmp_path, variable, key, value):
    # `chargeca serve` went as far as bind(), whose OverflowError ended it in a traceback.
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"^{variable} \({key}\) must be a port from 0 to 65535, not {value}$"):
        load_settings(tmp_path / "data")


@pytest.mark.fast
def test_the_file_servers_run_in_a_process_of_their_own_unless_told_inline(clean_env, tmp_path):
    settings = load_settings(tmp_path / "data")
    assert FileServiceConfig.from_settings(settings, settings.policy().file_transfer).own_process is True
    clean_env.setenv("CHARGECA_FILES_PROCESS", "inline")
    settings = load_settings(tmp_path / "data")
    assert FileServiceConfig.from_settings(settings, settings.policy().file_transfer).own_process is False
    clean_env.setenv("CHARGECA_FILES_PROCESS", "threads")
    with pytest.raises(SettingsError, match=r"CHARGECA_FILES_PROCESS \(files_process\) must be one of own, "
                                            r"inline, not 'threads'"):
        load_settings(tmp_path / "data")


def test_serve_with_an_unusable_gateway_value_stops_at_once_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGECA_")}
    env["CHARGECA_OCPP_BOOT_STATUS"] = "accepted"   # the spec's values are case-sensitive
    served = chargeca("serve", cwd=tmp_path, env=env, timeout=60)
    assert served.returncode == 3, served.stderr
    assert served.stderr.strip().splitlines() == [
        "chargeca: error: CHARGECA_OCPP_BOOT_STATUS: default boot status must be one of Accepted, Pending, "
        "Rejected, not 'accepted'"]
    assert not (tmp_path / "chargeca-data").exists(), "refused before anything was created"


async def test_a_station_is_answered_with_the_configured_boot_status_and_intervals(sqlite_pki, clean_env):
    """`chargeca serve`'s stack takes the gateway's knobs from the settings: no GatewayConfig is
    passed here, only the environment is set."""
    clean_env.setenv("CHARGECA_OCPP_BOOT_STATUS", "Pending")
    clean_env.setenv("CHARGECA_OCPP_BOOT_RETRY_INTERVAL", "7")
    configured = load_settings(sqlite_pki.ctx.settings.data_dir).gateway
    ctx = replace(sqlite_pki.ctx, settings=replace(sqlite_pki.ctx.settings, gateway=configured))
    app = create_app(ctx)
    listener_config = ListenerConfig(host="127.0.0.1", ws_port=0, wss_port=None, ping_interval=None,
                                     tls_watch_interval=None)
    async with running_stack(ctx, app, listener_config=listener_config,
                             certificate_options={"pass_interval": None}) as stack:
        csms = Csms(ctx, stack.gateway, stack.listeners, rest=None, root_pem=Path())
        station = await csms.connect_raw("CP_CONF", csms.add_station("CP_CONF"))
        try:
            answer = await station.boot(BOOT)
        finally:
            await station.close()
    assert (answer["status"], answer["interval"]) == ("Pending", 7)
