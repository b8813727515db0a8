"""The base of every REST request body: a field the API does not know is refused, not ignored.

Ignored, a misspelt optional field leaves its default in place behind a 2xx answer: ``"pasword"``
on a new station, and the station gets a generated password; ``"evseId"`` on a remote start,
and the station picks the EVSE. Refused, the 422 names the field (api/rest/errors.py). The
typed commands' bodies, dataclasses, refuse the same way (api/ocpp/command.py), and
tests/rest/test_unknown_fields.py holds every route's body to it. Both also refuse a value that
pydantic would read as another JSON type than it was sent as (api/core/json_kinds.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ModelWrapValidatorHandler, model_validator

from api.core.json_kinds import read_as_sent

# What pydantic says of a field it does not know: on a model, on a dataclass.
UNKNOWN_FIELD_ERRORS = frozenset({"extra_forbidden", "unexpected_keyword_argument"})


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _as_sent(cls, sent: Any, read: ModelWrapValidatorHandler["RequestBody"]) -> "RequestBody":
        # A value is taken as the JSON type it was sent as, or refused (api/core/json_kinds.py):
        # "dry_run": 0 is not false, nor 1000000000000 a date-time.
        return read_as_sent(sent, read, lambda body: body.model_dump(mode="json", by_alias=True))
