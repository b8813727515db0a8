"""The base of every REST request body: a field the API does not know is refused, not ignored.

Ignored, a misspelt optional field leaves its default in place behind a 2xx answer: ``"pasword"``
on a new station, and the station gets a generated password; ``"evseId"`` on a remote start,
and the station picks the EVSE. Refused, the 422 names the field (api/rest/errors.py). The
typed commands' bodies, dataclasses, refuse the same way (api/ocpp/command.py), and
tests/rest/test_unknown_fields.py holds every route's body to it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# What pydantic says of a field it does not know: on a model, on a dataclass.
UNKNOWN_FIELD_ERRORS = frozenset({"extra_forbidden", "unexpected_keyword_argument"})


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
