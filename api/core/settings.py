"""Where ChargeCA keeps its data and how it reaches its database and key passphrase.

Sources, strongest first: command-line flags, environment variables (CHARGECA_*), the data
directory's config.toml (written by `chargeca init`), built-in defaults.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from pki.pkcs11_keystore import Pkcs11Settings
from policies.loader import load_policy
from policies.model import Policy

DEFAULT_DATA_DIR = Path("chargeca-data")
DEV_FQDN = "chargeca.localhost"
_DEV_PASSPHRASE_FILE = "secrets/key-passphrase"
_FIRST_TOKEN_FILE = "secrets/first-officer-token"
# Group and others get nothing: the database holds password and token hashes and the audit log.
PRIVATE_DIR_MODE, PRIVATE_FILE_MODE = 0o700, 0o600


class SettingsError(RuntimeError):
    pass


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
    # RFC 6761 reserves .localhost for loopback; a single-label "localhost" is not a valid
    # dNSName for a certificate (pkilint refuses it), so the development default has two labels.
    fqdn: str = DEV_FQDN
    # Names this process among the nodes sharing the database; work it left unfinished (an outbox
    # call on the wire) is taken up at once by the next process with the same name. One running
    # process per name.
    node_id: str = field(default_factory=socket.gethostname)
    # CA keys in a PKCS#11 token when set; otherwise every key is an encrypted file.
    pkcs11: Pkcs11Settings | None = None

    @property
    def keystore_backend(self) -> str:
        return "pkcs11" if self.pkcs11 else "file"

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


def load_settings(data_dir: str | Path | None = None) -> Settings:
    directory = Path(data_dir or os.environ.get("CHARGECA_DATA") or DEFAULT_DATA_DIR).resolve()
    config: dict = {}
    config_file = directory / "config.toml"
    if config_file.exists():
        try:
            config = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config_file}: {exc}") from exc
    section = config.get("chargeca", {})
    env = os.environ
    return Settings(
        data_dir=directory,
        database_url=env.get("CHARGECA_DATABASE_URL") or section.get("database_url")
        or f"sqlite:///{directory / 'chargeca.db'}",
        public_url=env.get("CHARGECA_PUBLIC_URL") or section.get("public_url"),
        rest_host=env.get("CHARGECA_REST_HOST") or section.get("rest_host", "127.0.0.1"),
        rest_port=int(env.get("CHARGECA_REST_PORT") or section.get("rest_port", 8080)),
        ocpp_host=env.get("CHARGECA_OCPP_HOST") or section.get("ocpp_host", "0.0.0.0"),
        ocpp_ws_port=int(env.get("CHARGECA_OCPP_WS_PORT") or section.get("ocpp_ws_port", 9000)),
        ocpp_wss_port=int(env.get("CHARGECA_OCPP_WSS_PORT") or section.get("ocpp_wss_port", 9443)),
        fqdn=section.get("fqdn", DEV_FQDN),
        node_id=env.get("CHARGECA_NODE_ID") or section.get("node_id") or socket.gethostname(),
        pkcs11=_pkcs11_settings(config.get("keystore", {}), config_file),
    )


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
        _require_private(path, "CHARGECA_KEY_PASSPHRASE_FILE" if path_text else "the development passphrase file")
        return path.read_text(encoding="utf-8").strip().encode()
    if path_text:
        raise SettingsError(f"CHARGECA_KEY_PASSPHRASE_FILE {path} does not exist")
    if not create_dev:
        raise SettingsError(
            "no key passphrase: set CHARGECA_KEY_PASSPHRASE or CHARGECA_KEY_PASSPHRASE_FILE")
    write_private(path, secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip().encode()


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
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    try:
        os.chmod(settings.data_dir, PRIVATE_DIR_MODE)
    except OSError as exc:
        raise SettingsError(f"cannot make the data directory {settings.data_dir} private ({exc.strerror}); "
                            f"run `chmod 700 {settings.data_dir}` as its owner") from exc


def dev_passphrase_in_use(settings: Settings) -> bool:
    return not (os.environ.get("CHARGECA_KEY_PASSPHRASE") or os.environ.get("CHARGECA_KEY_PASSPHRASE_FILE"))
