"""What every entry point (CLI, REST, OCPP) needs once the process has started."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from api.core.settings import Settings, key_passphrase, prepare_data_dir
from pki.keystore import EncryptedFileKeyStore, KeyStore
from pki.pkcs11_keystore import Pkcs11KeyStore
from pki.profiles import PublicUrls
from policies.model import Policy
from storage.db import WAL_AUTOCHECKPOINT_PAGES, make_engine, migrate, restrict_sqlite_files
from storage.wal_checkpointer import BACKSTOP_PAGES


@dataclass(frozen=True)
class Context:
    settings: Settings
    engine: Engine
    keystore: KeyStore
    policy: Policy
    urls: PublicUrls


def open_keystore(settings: Settings, *, create_dev_passphrase: bool = False) -> KeyStore:
    """The backend the settings name. Server TLS keys are files in both (see pki/pkcs11_keystore.py),
    so the key passphrase is needed either way."""
    files = EncryptedFileKeyStore(settings.keys_dir, key_passphrase(settings, create_dev=create_dev_passphrase))
    if settings.pkcs11 is None:
        return files
    return Pkcs11KeyStore(settings.pkcs11, files)


def open_context(settings: Settings, *, create_dev_passphrase: bool = False, run_migrations: bool = True,
                 serving: bool = False) -> Context:
    """``serving``: for `chargeca serve`, whose own thread checkpoints a SQLite database's WAL
    (storage/wal_checkpointer.py); its commits checkpoint only past a backstop."""
    # The passphrase (and the token) first: a command refused for want of one leaves no data
    # directory or database behind that a second try would then find half made.
    keystore = open_keystore(settings, create_dev_passphrase=create_dev_passphrase)
    prepare_data_dir(settings)
    if run_migrations:
        migrate(settings.database_url)
    restrict_sqlite_files(settings.database_url)
    engine = make_engine(settings.database_url,
                         checkpoint_on_commit_pages=BACKSTOP_PAGES if serving else WAL_AUTOCHECKPOINT_PAGES)
    return Context(settings, engine, keystore, settings.policy(),
                   PublicUrls(settings.public_url))
