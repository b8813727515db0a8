"""Id tokens the CSMS knows (block C) and what each station's local authorization list holds (block D).

Lengths are the OCPP 2.0.1 schema's (IdTokenType.idToken 36, IdTokenInfoType.language1/2 8,
MessageContentType.content 512, language 8), so a stored token always fits the messages it goes into.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

ID_TOKEN_MAX = 36
TOKEN_TYPE_MAX = 20      # the longest IdTokenEnumType is "NoAuthorization"
STATUS_MAX = 20          # the longest AuthorizationStatusEnumType is "NotAllowedTypeEVSE"
LANGUAGE_MAX = 8
MESSAGE_MAX = 512
SELECTOR_MAX = 100
EVSE_IDS_MAX = 64        # evse ids one token may be restricted to


class IdToken(SQLModel, table=True):
    __tablename__ = "id_token"
    # IdTokenType.idToken is case insensitive: "04a1" and "04A1" of one type are one token.
    __table_args__ = (UniqueConstraint("lookup", "type", name="uq_id_token_lookup_type"),)

    id: int | None = Field(default=None, primary_key=True)
    id_token: str = Field(max_length=ID_TOKEN_MAX)     # as the operator wrote it
    lookup: str = Field(max_length=ID_TOKEN_MAX)       # id_token in lower case, what a station's token is found by
    type: str = Field(max_length=TOKEN_TYPE_MAX)
    status: str = Field(max_length=STATUS_MAX)
    cache_expiry: datetime | None = Field(default=None, sa_type=UtcDateTime)
    group_id_token: str | None = Field(default=None, max_length=ID_TOKEN_MAX)
    group_type: str | None = Field(default=None, max_length=TOKEN_TYPE_MAX)
    # The EVSEs the token may be used at (IdTokenInfoType.evseId); None: every EVSE.
    evse_ids: list[int] | None = Field(default=None, sa_type=JSON)
    language1: str | None = Field(default=None, max_length=LANGUAGE_MAX)
    language2: str | None = Field(default=None, max_length=LANGUAGE_MAX)
    message_format: str | None = Field(default=None, max_length=8)
    message_language: str | None = Field(default=None, max_length=LANGUAGE_MAX)
    message_content: str | None = Field(default=None, max_length=MESSAGE_MAX)
    # Which stations' local lists carry the token: a glob over station ids ("*", "DEPOT-A-*");
    # None: no local list (the token is still answered online).
    local_list: str | None = Field(default=None, max_length=SELECTOR_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class MasterPassGroup(SQLModel, table=True):
    """AuthCtrlr.MasterPassGroupId as the CSMS knows it: scope '' for every station, or one
    station's id, which then wins for that station (C16)."""

    __tablename__ = "master_pass_group"

    scope: str = Field(primary_key=True, max_length=48)
    group_id_token: str = Field(max_length=ID_TOKEN_MAX)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class LocalListState(SQLModel, table=True):
    """A station's local authorization list as the CSMS last set it and as the station last reported it."""

    __tablename__ = "local_list_state"

    # No foreign key, as station_disconnect: station deletion need not know of this table.
    station_id: str = Field(primary_key=True, max_length=48)
    version: int = Field(default=0)               # the version the last accepted SendLocalList set
    reported_version: int | None = Field(default=None)   # GetLocalListVersion's answer
    reported_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # LocalAuthListCtrlr.ItemsPerMessage / BytesPerMessage as read with GetVariables; None while unread.
    items_per_message: int | None = Field(default=None)
    bytes_per_message: int | None = Field(default=None)
    last_update_type: str | None = Field(default=None, max_length=16)
    last_outcome: str | None = Field(default=None, max_length=32)
    last_sent_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class LocalListEntry(SQLModel, table=True):
    """One entry of a station's local list as last accepted by the station, with the idTokenInfo sent."""

    __tablename__ = "local_list_entry"
    __table_args__ = (UniqueConstraint("station_id", "id_token", "type", name="uq_local_list_entry"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    id_token: str = Field(max_length=ID_TOKEN_MAX)
    type: str = Field(max_length=TOKEN_TYPE_MAX)
    info: dict | None = Field(default=None, sa_type=JSON)
