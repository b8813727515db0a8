"""The journal (storage/journal.py): what was appended past the mark comes back at the next open,
in order and only once stored is it gone; a torn last line is skipped; the bound holds."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest
from durable_writes import DurableWrites

from storage import journal as journal_module
from storage.journal import Journal

pytestmark = pytest.mark.fast


def test_entries_past_the_mark_come_back_in_order_and_the_seq_goes_on(tmp_path):
    path = tmp_path / "journal" / "events.jsonl"
    journal, left = Journal.open(path, 100, stored_through=0)
    assert left == []
    seqs = [journal.append(json.dumps({"n": n})) for n in range(5)]
    assert seqs == [1, 2, 3, 4, 5] and journal.pending == 5
    journal.close()   # as a crash leaves it: nothing said stored

    journal, left = Journal.open(path, 100, stored_through=2)   # the mark says 1 and 2 were stored
    assert left == [(3, '{"n": 2}'), (4, '{"n": 3}'), (5, '{"n": 4}')]
    assert journal.pending == 3
    assert journal.append("{}") == 6   # never a seq given before
    journal.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_entry_starts_a_line_of_its_own(tmp_path):
    path = tmp_path / "events.jsonl"
    journal, _ = Journal.open(path, 100, stored_through=0)
    journal.append('{"whole": true}')
    journal.close()
    with path.open("ab") as handle:
        handle.write(b'2 {"torn": ')   # the crash came in the middle of the write
    journal, left = Journal.open(path, 100, stored_through=0)
    assert left == [(1, '{"whole": true}')]
    seq = journal.append('{"after": true}')
    journal.close()
    _, left = Journal.open(path, 100, stored_through=0)
    assert left == [(1, '{"whole": true}'), (seq, '{"after": true}')]


def test_past_its_bound_nothing_is_written_until_entries_are_stored(tmp_path):
    path = tmp_path / "events.jsonl"
    journal, _ = Journal.open(path, 2, stored_through=0)
    assert journal.append("{}") == 1 and journal.append("{}") == 2
    size = path.stat().st_size
    assert journal.append("{}") is None
    assert path.stat().st_size == size
    journal.stored(1)
    assert journal.pending == 1
    assert journal.append("{}") == 3


def test_a_journal_with_nothing_left_to_store_is_emptied_once_large(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "EMPTIED_PAST", 100)
    path = tmp_path / "events.jsonl"
    journal, _ = Journal.open(path, 1000, stored_through=0)
    for _ in range(5):
        journal.append('{"pad": "' + "x" * 30 + '"}')
    journal.stored(4)          # one entry still to store: kept
    assert path.stat().st_size > 100
    journal.stored(5)
    assert path.stat().st_size == 0
    assert journal.append("{}") == 6
    journal.close()
    _, left = Journal.open(path, 1000, stored_through=5)
    assert left == [(6, "{}")]


def test_an_open_finding_everything_stored_starts_an_empty_file(tmp_path):
    path = tmp_path / "events.jsonl"
    journal, _ = Journal.open(path, 10, stored_through=0)
    journal.append("{}")
    journal.close()
    journal, left = Journal.open(path, 10, stored_through=1)
    assert left == [] and path.stat().st_size == 0
    assert journal.append("{}") == 2


def test_an_entry_held_for_the_sync_is_written_by_it_in_order_and_by_a_close(tmp_path):
    path = tmp_path / "events.jsonl"
    journal, _ = Journal.open(path, 10, stored_through=0, written_at_sync=True)
    assert journal.append('{"n": 1}') == 1
    assert journal.append('{"n": 2}') == 2
    assert path.stat().st_size == 0            # the loop wrote nothing
    journal.sync()
    assert path.read_bytes().split(b"\0")[0] == b'1 {"n": 1}\n2 {"n": 2}\n'   # then the zeros ahead
    journal.append('{"n": 3}')                 # its sync never came: the close writes it
    journal.close()
    _, left = Journal.open(path, 10, stored_through=1)
    assert left == [(2, '{"n": 2}'), (3, '{"n": 3}')]


@pytest.mark.skipif(not hasattr(os, "RWF_DSYNC"), reason="no RWF_DSYNC on this system (Linux 4.7 and later)")
def test_a_sync_writes_the_held_entries_durably_in_one_system_call(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "_DSYNC", os.RWF_DSYNC)
    path = tmp_path / "events.jsonl"
    journal, _ = Journal.open(path, 100, stored_through=0, written_at_sync=True)
    for n in range(3):
        journal.append(json.dumps({"n": n}))
    calls = DurableWrites(monkeypatch)
    journal.sync()
    assert calls.pwritev == [os.RWF_DSYNC] and calls.fdatasync == 0
    assert path.read_bytes().split(b"\0")[0] == b'1 {"n": 0}\n2 {"n": 1}\n3 {"n": 2}\n'
    journal.sync()                       # nothing held: an fdatasync, which finds nothing to do
    assert calls.pwritev == [os.RWF_DSYNC] and calls.fdatasync == 1
    journal.close()


@pytest.mark.skipif(not hasattr(os, "RWF_DSYNC"), reason="no RWF_DSYNC on this system (Linux 4.7 and later)")
def test_where_the_system_refuses_rwf_dsync_a_sync_writes_then_fdatasyncs(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "_DSYNC", os.RWF_DSYNC)
    path = tmp_path / "events.jsonl"
    journal, _ = Journal.open(path, 100, stored_through=0, written_at_sync=True)
    journal.append('{"n": 1}')
    calls = DurableWrites(monkeypatch, refuse=errno.EOPNOTSUPP)
    journal.sync()
    assert calls.pwritev == [os.RWF_DSYNC] and calls.fdatasync == 1
    journal.append('{"n": 2}')
    journal.sync()                       # not asked again
    assert calls.pwritev == [os.RWF_DSYNC] and calls.fdatasync == 2
    journal.close()
    _, left = Journal.open(path, 100, stored_through=0)
    assert left == [(1, '{"n": 1}'), (2, '{"n": 2}')]


def test_a_journal_written_at_sync_writes_over_zeros_and_reads_back_only_its_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "AHEAD", 64)
    path = tmp_path / "events.jsonl"
    journal, _ = Journal.open(path, 100, stored_through=0, written_at_sync=True)
    for n in range(3):
        journal.append(json.dumps({"n": n}))
    journal.sync()
    written = path.read_bytes()
    assert written.startswith(b'1 {"n": 0}\n2 {"n": 1}\n3 {"n": 2}\n') and written.endswith(b"\0" * 64)
    journal.close()
    # A crash in the middle of the next write: part of a line, then the zeros.
    with path.open("r+b") as handle:
        handle.seek(written.index(b"\0"))
        handle.write(b'4 {"to')
    journal, left = Journal.open(path, 100, stored_through=1, written_at_sync=True)
    assert left == [(2, '{"n": 1}'), (3, '{"n": 2}')]
    assert journal.append('{"after": true}') == 4   # the torn 4 was never answered
    journal.sync()
    journal.close()
    # Over the zeros, right after the torn line (ended): the file does not grow at each start.
    assert path.read_bytes().startswith(written[:written.index(b"\0")] + b'4 {"to\n4 {"after": true}\n\0')
    _, left = Journal.open(path, 100, stored_through=3)
    assert left == [(4, '{"after": true}')]


def test_a_journal_written_at_sync_cut_once_everything_is_stored_starts_over_from_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "EMPTIED_PAST", 100)
    path = tmp_path / "events.jsonl"
    journal, _ = Journal.open(path, 1000, stored_through=0, written_at_sync=True)
    for _ in range(5):
        journal.append('{"pad": "' + "x" * 30 + '"}')
    journal.sync()
    journal.stored(5)
    assert path.stat().st_size == 0
    journal.append("{}")
    journal.sync()
    journal.close()
    _, left = Journal.open(path, 1000, stored_through=5)
    assert left == [(6, "{}")]
