"""Where ChargeCA keeps its data, how it reaches its database and key passphrase, and the knobs of
its listeners and OCPP gateway.

Sources, strongest first: command-line flags, environment variables (CHARGECA_*), the data
directory's config.toml (written by `chargeca init`), built-in defaults. This module is the only
part of the service that reads the environment (docs/architecture.md, "Configuration"); the
README's configuration table lists every variable, and a test holds the two together.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from pki.pkcs11_keystore import Pkcs11Settings
from pki.profiles import public_url_problem
from policies.loader import load_policy
from policies.model import Policy
from storage.db import url_problem

DEFAULT_DATA_DIR = Path("chargeca-data")
DEV_FQDN = "chargeca.localhost"
_DEV_PASSPHRASE_FILE = "secrets/key-passphrase"
_FIRST_TOKEN_FILE = "secrets/first-officer-token"
EVENT_LOOPS = ("asyncio", "uvloop")
JSON_CODECS = ("stdlib", "msgspec")   # api/ocpp/json_codec.CODECS
FILES_PROCESSES = ("own", "inline")
# Group and others get nothing: the database holds password and token hashes and the audit log.
PRIVATE_DIR_MODE, PRIVATE_FILE_MODE = 0o700, 0o600


class SettingsError(RuntimeError):
    pass


@cache
def boot_statuses() -> tuple[str, ...]:
    """How a BootNotification may be answered (OCPP 2.0.1 RegistrationStatusEnumType).

    Imported when first asked: ``ocpp.v201`` loads the whole library (a tenth of a second), which
    a `chargeca` command that sends no OCPP message should not pay at every start."""
    from ocpp.v201.enums import RegistrationStatusEnumType

    return tuple(status.value for status in RegistrationStatusEnumType)


DEFAULT_BOOT_STATUS = "Accepted"  # one of boot_statuses() (tests/doors/test_configuration.py checks)


# How a journaled TransactionEvent is made durable before its answer (GatewayConfig.write_behind_sync).
WRITE_BEHIND_SYNCS = ("auto", "fsync", "none")
# Where that fdatasync runs (GatewayConfig.write_behind_sync_in): storage/sync_process.py says why.
WRITE_BEHIND_SYNCS_IN = ("process", "thread")
# Where the message log's frames become rows and are stored (GatewayConfig.message_log_writes_in):
# api/ocpp/message_log/writer_helper.py says why.
MESSAGE_LOG_WRITES_IN = ("process", "thread")


@dataclass(frozen=True)
class GatewayConfig:
    """The OCPP gateway's knobs (api/ocpp/gateway.py). Defaults suit a production CSMS; those in
    ``_GATEWAY_SOURCES`` come from CHARGECA_OCPP_* or config.toml through ``load_settings``."""

    # BootNotification answer for stations without a policy of their own (Station.boot_policy).
    default_boot_status: str = DEFAULT_BOOT_STATUS
    # BootNotificationResponse.interval: the heartbeat interval once Accepted ...
    heartbeat_interval: int = 300
    # ... and the wait before the next BootNotification while Pending or Rejected (B02/B03).
    boot_retry_interval: int = 60
    # How long a CSMS-initiated call waits (queue + answer) unless the caller says otherwise;
    # P4 leaves the value to us and the schema suggests 30 s for the station side.
    call_timeout: float = 30.0
    # Upper bound an operator may ask for, so a REST request cannot hold a slot for hours.
    max_call_timeout: float = 300.0
    # Station CALLs waiting for their handler. P4 allows one outstanding CALL per direction;
    # this tolerates stations that pipeline a few StatusNotifications, and bounds the rest.
    max_pending_station_calls: int = 16
    # Under steady traffic, how long a group commit of stations' writes waits for company
    # (storage/batching.py): fewer commits, at most this much added latency. 0 turns it off.
    commit_gather_ms: float = 2.0
    # How long the thread holding the interpreter lock keeps it while another waits
    # (sys.setswitchinterval; Python's default is 5 ms). A group commit's thread waits on the
    # database two or three times a group (PostgreSQL's round trips), and each time must win the
    # lock back from the busy event loop: at 1 ms the TransactionEvents' p99 on PostgreSQL fell
    # from 27.7-50.9 to 16.6-24.2 ms (4 rounds each, alternating), no change on SQLite nor in CPU.
    # The loop, in turn, lets the lock go at each system call and waits this long to have it back
    # from the message log's writer or the group store: at 0.25 ms against 1, on a slower day (8
    # rounds each, alternating), p99 median 34.8 against 61.2 ms, p50 5.4 against 6.9 ms, 721
    # against 811 µs of CPU a TransactionEvent (docs/benchmarks.md, 2026-12-07 08:35-08:58).
    switch_interval_ms: float = 0.25
    # TransactionEvents answered before they are stored (an Updated without an idToken, answered
    # {} whatever the store holds) are journaled, answered, and stored in groups within this long
    # (api/csms/transactions/write_behind.py): a third of the database's work per event of groups
    # of two or three. 0: every event is stored before its answer.
    write_behind_ms: float = 50.0
    # Whether such an event's journal entry is fdatasync'ed before its answer (in groups, as
    # commits are): "auto", as the database's commit is (PostgreSQL's is, SQLite's in WAL mode
    # with synchronous=NORMAL is not: it survives a crash of the process, not of the machine);
    # "fsync" always; "none" never.
    write_behind_sync: str = "auto"
    # Where: "process", a helper process of the gateway's (no interpreter lock to win back from
    # the busy event loop for each sync; a thread again should it end); "thread".
    write_behind_sync_in: str = "process"
    # "process", a helper process of the gateway's at a lower priority (a thread again should it
    # end; a thread always for a database in this process's memory); "thread".
    message_log_writes_in: str = "process"

    def __post_init__(self) -> None:
        # The default needs no look-up (and no import of the spec's enums at every start).
        if self.default_boot_status != DEFAULT_BOOT_STATUS and self.default_boot_status not in boot_statuses():
            raise ValueError(f"default boot status must be one of {', '.join(boot_statuses())}, "
                             f"not {self.default_boot_status!r}")
        if self.call_timeout <= 0 or self.heartbeat_interval < 0 or self.boot_retry_interval < 0:
            raise ValueError("timeouts and intervals must not be negative")
        if not 0 <= self.commit_gather_ms <= 50:
            raise ValueError(f"commit_gather_ms must be between 0 and 50, not {self.commit_gather_ms}")
        if not 0.1 <= self.switch_interval_ms <= 50:
            raise ValueError(f"switch_interval_ms must be between 0.1 and 50, not {self.switch_interval_ms}")
        for name, choices in (("write_behind_sync", WRITE_BEHIND_SYNCS),
                              ("write_behind_sync_in", WRITE_BEHIND_SYNCS_IN),
                              ("message_log_writes_in", MESSAGE_LOG_WRITES_IN)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}")
        if not 0 <= self.write_behind_ms <= 1000:
            raise ValueError(f"write_behind_ms must be between 0 and 1000, not {self.write_behind_ms}")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    public_url: str | None = None
    rest_host: str = "127.0.0.1"
    rest_port: int = 8080
    ocpp_host: str = "0.0.0.0"
    ocpp_ws_port: int = 9000
    ocpp_wss_port: int = 9443
    # The file service (api/csms/file_transfer): HTTPS on its own port with the wss listener's
    # certificates, FTP when the [file_transfer] policy turns it on. Addresses default to
    # ocpp_host; files_public_name (the host in the URLs stations get) to fqdn.
    files_host: str | None = None
    files_https_port: int = 9444
    files_public_name: str | None = None
    ftp_host: str | None = None
    ftp_port: int = 2121
    ftp_passive_ports: str = "60000-60099"    # "first-last"; "" = any port the system gives
    ftp_masquerade_address: str | None = None  # the address a NAT shows stations in PASV answers
    # RFC 6761 reserves .localhost for loopback; a single-label "localhost" is not a valid
    # dNSName for a certificate (pkilint refuses it), so the development default has two labels.
    fqdn: str = DEV_FQDN
    # Names this process among the nodes sharing the database; work it left unfinished (an outbox
    # call on the wire) is taken up at once by the next process with the same name. One running
    # process per name.
    node_id: str = field(default_factory=socket.gethostname)
    # Cluster mode when set: this node shares its stations with the others on one PostgreSQL
    # through this NATS server (api/cluster/). Unset: one process, SQLite or PostgreSQL, no NATS.
    # Several worker processes on one machine are nodes too (`chargeca serve --workers N`).
    nats_url: str | None = None
    # Listening sockets bound with SO_REUSEPORT, so that the worker processes of one machine share
    # each port (the kernel spreads new connections over them). Set by the supervisor, never by hand.
    shared_ports: bool = False
    # CA keys in a PKCS#11 token when set; otherwise every key is an encrypted file.
    pkcs11: Pkcs11Settings | None = None
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    # `chargeca serve`'s event loop ("asyncio" or "uvloop") and OCPP-J frame codec ("stdlib" or
    # "msgspec", api/ocpp/json_codec.py); the others need the optional extra "fast". The defaults
    # are what measured best (docs/benchmarks.md, "Faster per core").
    event_loop: str = "asyncio"
    json_codec: str = "stdlib"
    # Where `chargeca serve` runs the firmware and log file servers: "own", a niced process of
    # their own, so that bulk transfers never take the GIL from OCPP (api/csms/file_transfer/
    # process.py); "inline", on threads of the serve process: one interpreter less (its start,
    # its memory), for a small site or a lab whose stations move few files.
    files_process: str = "own"

    def __post_init__(self) -> None:
        for variable, name, allowed in (("CHARGECA_FILES_PROCESS", "files_process", FILES_PROCESSES),
                                        ("CHARGECA_EVENT_LOOP", "event_loop", EVENT_LOOPS),
                                        ("CHARGECA_JSON_CODEC", "json_codec", JSON_CODECS)):
            value = getattr(self, name)
            if value not in allowed:
                raise SettingsError(f"{variable} ({name}) must be one of {', '.join(allowed)}, not {value!r}")
        for variable, name in (("CHARGECA_REST_PORT", "rest_port"), ("CHARGECA_OCPP_WS_PORT", "ocpp_ws_port"),
                               ("CHARGECA_OCPP_WSS_PORT", "ocpp_wss_port"),
                               ("CHARGECA_FILES_HTTPS_PORT", "files_https_port"), ("CHARGECA_FTP_PORT", "ftp_port")):
            port = getattr(self, name)
            if not 0 <= port <= 65535:   # else `serve` went as far as bind(), and its OverflowError
                raise SettingsError(f"{variable} ({name}) must be a port from 0 to 65535, not {port}")
        problem = url_problem(self.database_url)
        if problem is not None:
            raise SettingsError(f"CHARGECA_DATABASE_URL (database_url) {problem}")
        problem = self.public_url and public_url_problem(self.public_url)
        if problem:
            raise SettingsError(f"CHARGECA_PUBLIC_URL (public_url) {problem}")

    @property
    def keystore_backend(self) -> str:
        return "pkcs11" if self.pkcs11 else "file"

    @property
    def uses_postgresql(self) -> bool:
        return self.database_url.startswith(("postgresql", "postgres:"))

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def first_token_file(self) -> Path:
        return self.data_dir / _FIRST_TOKEN_FILE

    @property
    def policy_file(self) -> Path:
        return self.data_dir / "policy.toml"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "config.toml"

    def policy(self) -> Policy:
        return load_policy(self.policy_file)

    def with_overrides(self, **changes: object) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# The gateway knobs an operator may set: GatewayConfig field, environment variable, config.toml key.
_GATEWAY_SOURCES = (
    ("default_boot_status", "CHARGECA_OCPP_BOOT_STATUS", "ocpp_boot_status", str),
    ("heartbeat_interval", "CHARGECA_OCPP_HEARTBEAT_INTERVAL", "ocpp_heartbeat_interval", int),
    ("boot_retry_interval", "CHARGECA_OCPP_BOOT_RETRY_INTERVAL", "ocpp_boot_retry_interval", int),
    ("call_timeout", "CHARGECA_OCPP_CALL_TIMEOUT", "ocpp_call_timeout", float),
    ("commit_gather_ms", "CHARGECA_OCPP_COMMIT_GATHER_MS", "ocpp_commit_gather_ms", float),
    ("switch_interval_ms", "CHARGECA_OCPP_SWITCH_INTERVAL_MS", "ocpp_switch_interval_ms", float),
    ("write_behind_ms", "CHARGECA_OCPP_WRITE_BEHIND_MS", "ocpp_write_behind_ms", float),
    ("write_behind_sync", "CHARGECA_OCPP_WRITE_BEHIND_SYNC", "ocpp_write_behind_sync", str),
    ("write_behind_sync_in", "CHARGECA_OCPP_WRITE_BEHIND_SYNC_IN", "ocpp_write_behind_sync_in", str),
    ("message_log_writes_in", "CHARGECA_OCPP_MESSAGE_LOG_WRITES_IN", "ocpp_message_log_writes_in", str),
)


def load_settings(data_dir: str | Path | None = None) -> Settings:
    directory = Path(data_dir or os.environ.get("CHARGECA_DATA") or DEFAULT_DATA_DIR).resolve()
    config: dict = {}
    config_file = directory / "config.toml"
    if config_file.exists():
        try:
            config = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config_file}: {exc}") from exc
        except OSError as exc:   # a directory in its place, no permission
            raise SettingsError(f"{config_file} cannot be read: {exc.strerror or type(exc).__name__}") from exc
        except UnicodeDecodeError:
            raise SettingsError(f"{config_file} is not UTF-8 text") from None
    section = config.get("chargeca", {})

    # Where each value not left at its default came from, to name it when the gateway's values
    # refuse each other (they are picked first, so at that point the list holds only theirs).
    given: list[str] = []

    def pick(variable: str, key: str, default: Any, convert: Callable[[Any], Any] = str) -> Any:
        """The environment's value, else config.toml's, else ``default``; an empty variable counts as unset."""
        if os.environ.get(variable):
            value, source = os.environ[variable], variable
        elif key in section:
            value, source = section[key], f"{config_file} [chargeca].{key}"
        else:
            return default
        given.append(source)
        try:
            return convert(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{source} must be {_KIND.get(convert, 'text')}, not {value!r}") from None

    gateway = {name: pick(variable, key, _GATEWAY_DEFAULTS[name], convert)
               for name, variable, key, convert in _GATEWAY_SOURCES}
    try:
        gateway_config = GatewayConfig(**gateway)
    except ValueError as exc:
        raise SettingsError(f"{', '.join(given)}: {exc}") from None
    return Settings(
        data_dir=directory,
        database_url=pick("CHARGECA_DATABASE_URL", "database_url", f"sqlite:///{directory / 'chargeca.db'}"),
        public_url=pick("CHARGECA_PUBLIC_URL", "public_url", None),
        rest_host=pick("CHARGECA_REST_HOST", "rest_host", _DEFAULTS["rest_host"]),
        rest_port=pick("CHARGECA_REST_PORT", "rest_port", _DEFAULTS["rest_port"], int),
        ocpp_host=pick("CHARGECA_OCPP_HOST", "ocpp_host", _DEFAULTS["ocpp_host"]),
        ocpp_ws_port=pick("CHARGECA_OCPP_WS_PORT", "ocpp_ws_port", _DEFAULTS["ocpp_ws_port"], int),
        ocpp_wss_port=pick("CHARGECA_OCPP_WSS_PORT", "ocpp_wss_port", _DEFAULTS["ocpp_wss_port"], int),
        files_host=pick("CHARGECA_FILES_HOST", "files_host", None),
        files_https_port=pick("CHARGECA_FILES_HTTPS_PORT", "files_https_port", _DEFAULTS["files_https_port"], int),
        files_public_name=pick("CHARGECA_FILES_PUBLIC_NAME", "files_public_name", None),
        ftp_host=pick("CHARGECA_FTP_HOST", "ftp_host", None),
        ftp_port=pick("CHARGECA_FTP_PORT", "ftp_port", _DEFAULTS["ftp_port"], int),
        ftp_passive_ports=pick("CHARGECA_FTP_PASSIVE_PORTS", "ftp_passive_ports", _DEFAULTS["ftp_passive_ports"]),
        ftp_masquerade_address=pick("CHARGECA_FTP_MASQUERADE_ADDRESS", "ftp_masquerade_address", None),
        fqdn=section.get("fqdn", DEV_FQDN),
        node_id=pick("CHARGECA_NODE_ID", "node_id", None) or socket.gethostname(),
        nats_url=pick("CHARGECA_NATS_URL", "nats_url", None),
        pkcs11=_pkcs11_settings(config.get("keystore", {}), config_file),
        gateway=gateway_config,
        event_loop=pick("CHARGECA_EVENT_LOOP", "event_loop", _DEFAULTS["event_loop"]),
        json_codec=pick("CHARGECA_JSON_CODEC", "json_codec", _DEFAULTS["json_codec"]),
        files_process=pick("CHARGECA_FILES_PROCESS", "files_process", _DEFAULTS["files_process"]),
    )


_DEFAULTS = {f.name: f.default for f in fields(Settings)}
_GATEWAY_DEFAULTS = {f.name: f.default for f in fields(GatewayConfig)}
_KIND = {int: "a whole number", float: "a number"}


def _pkcs11_settings(section: dict, config_file: Path) -> Pkcs11Settings | None:
    backend = section.get("backend", "file")
    if backend == "file":
        return None
    if backend != "pkcs11":
        raise SettingsError(f"{config_file}: [keystore].backend must be \"file\" or \"pkcs11\", not {backend!r}")
    missing = [key for key in ("module", "token_label", "pin_file") if not section.get(key)]
    if missing:
        raise SettingsError(f"{config_file}: [keystore] with backend pkcs11 needs {', '.join(missing)}")
    return Pkcs11Settings(Path(section["module"]), section["token_label"], Path(section["pin_file"]))


def write_config(settings: Settings) -> None:
    """Record what `init` decided, so later commands need no flags."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lines = ["[chargeca]", f'fqdn = "{settings.fqdn}"']
    if settings.public_url:
        lines.append(f'public_url = "{settings.public_url}"')
    if settings.pkcs11:
        # The PIN is not written here: only the path of the file that holds it.
        lines += ["", "[keystore]", 'backend = "pkcs11"', f"module = {_toml_string(str(settings.pkcs11.module))}",
                  f"token_label = {_toml_string(settings.pkcs11.token_label)}",
                  f"pin_file = {_toml_string(str(settings.pkcs11.pin_file))}"]
    settings.config_file.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _toml_string(value: str) -> str:
    # A JSON string (ASCII, escaped) is a valid TOML basic string.
    return json.dumps(value)


def key_passphrase(settings: Settings, *, create_dev: bool = False) -> bytes:
    """CHARGECA_KEY_PASSPHRASE, else the file CHARGECA_KEY_PASSPHRASE_FILE names, else the
    development passphrase file in the data directory (created only when ``create_dev``)."""
    value = os.environ.get("CHARGECA_KEY_PASSPHRASE")
    if value:
        return value.encode()
    path_text = os.environ.get("CHARGECA_KEY_PASSPHRASE_FILE")
    path = Path(path_text) if path_text else settings.data_dir / _DEV_PASSPHRASE_FILE
    if path.exists():
        what = "CHARGECA_KEY_PASSPHRASE_FILE" if path_text else "the development passphrase file"
        _require_private(path, what)
        return _read_secret(path, what)
    if path_text:
        raise SettingsError(f"CHARGECA_KEY_PASSPHRASE_FILE {path} does not exist")
    if not create_dev:
        raise SettingsError(
            "no key passphrase: set CHARGECA_KEY_PASSPHRASE or CHARGECA_KEY_PASSPHRASE_FILE")
    write_private(path, secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip().encode()


def _read_secret(path: Path, what: str) -> bytes:
    try:
        return path.read_text(encoding="utf-8").strip().encode()
    except OSError as exc:
        raise SettingsError(f"{what} {path} cannot be read: {exc.strerror or type(exc).__name__}") from exc
    except UnicodeDecodeError:
        # The decoder's message quotes the offending byte: a piece of the passphrase.
        raise SettingsError(f"{what} {path} is not UTF-8 text") from None


def _require_private(path: Path, what: str) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SettingsError(f"{what} {path} is readable or writable by group or others (mode {mode:04o}); "
                            f"refusing to use it: run `chmod 600 {path}`")


def write_private(path: Path, text: str) -> None:
    """A new file only its owner can read, in a directory only its owner can enter; never replaces one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(path.parent, PRIVATE_DIR_MODE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def prepare_data_dir(settings: Settings) -> None:
    """The data directory, private to its owner whatever the umask (made or found)."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    except OSError as exc:   # a file in its place or on its path, a read-only file system
        raise SettingsError(f"cannot make the data directory {settings.data_dir} ({exc.strerror})") from exc
    try:
        os.chmod(settings.data_dir, PRIVATE_DIR_MODE)
    except OSError as exc:
        raise SettingsError(f"cannot make the data directory {settings.data_dir} private ({exc.strerror}); "
                            f"run `chmod 700 {settings.data_dir}` as its owner") from exc


def dev_passphrase_in_use(settings: Settings) -> bool:
    return not (os.environ.get("CHARGECA_KEY_PASSPHRASE") or os.environ.get("CHARGECA_KEY_PASSPHRASE_FILE"))
