"""CSV cells that a spreadsheet shows as text instead of running as formulas.

Our CSV exports carry text that stations chose (a malformed frame, an action, signed meter data,
a unit) and text from imported token lists. A security officer opens them in a spreadsheet, and a
cell such as ``=HYPERLINK(...)`` or ``@SUM(...)`` is a formula there: a station could make the
officer's own machine fetch a URL or run a command (CSV injection). A text cell starting with one
of the characters spreadsheets read as a formula is written with a ``'`` before it, which they
show as text. A cell already starting with ``'`` gets one too, so that ``readable`` undoes
``written`` exactly and an exported token list imports back unchanged. Numbers are written as
they are: ``-5`` is a number, not a formula. The JSON exports stay byte-exact.
"""

from __future__ import annotations

from typing import Any

# What Excel, LibreOffice and Google Sheets start a formula with (tab and CR included: a
# spreadsheet trims them and reads on), their full-width forms, which some locales convert, and
# the escape itself.
_STARTS_A_FORMULA = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20'")
_ESCAPE = "'"


def written(value: Any) -> Any:
    """``value`` as a CSV cell: text that would start a formula is escaped, anything else kept."""
    if isinstance(value, str) and value[:1] in _STARTS_A_FORMULA:
        return _ESCAPE + value
    return value


def readable(cell: str) -> str:
    """A cell of one of our CSV exports as the text it was written from (``written`` undone)."""
    if cell[:1] == _ESCAPE and cell[1:2] and cell[1] in _STARTS_A_FORMULA:
        return cell[1:]
    return cell
