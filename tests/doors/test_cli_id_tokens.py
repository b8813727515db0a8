"""`chargeca id-token …` in process: the same operations and audit as REST, exit codes and one
line on refusal (1 refused, 2 usage)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from api.cli import main
from api.core.audit import run_in_session
from storage.audit import AuditEntry

pytestmark = pytest.mark.fast


@pytest.fixture
def cli(ctx, tmp_path, capsys):
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--data", str(tmp_path / "data"), "id-token", *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def _audit(ctx, action: str) -> list[AuditEntry]:
    return run_in_session(ctx, lambda s: list(s.exec(select(AuditEntry).where(AuditEntry.action == action))))


def test_add_set_list_delete(cli, ctx):
    code, out, _ = cli("add", "ISO14443", "04AB", "--group", "FLEET", "--evse", "1;2", "--local-list", "*")
    assert code == 0 and out.startswith("id token ISO14443 04AB added")
    code, out, _ = cli("set", "ISO14443", "04ab", "--status", "Blocked", "--group", "")
    assert code == 0 and "group_id_token, status" in out
    code, out, _ = cli("list")
    assert code == 0 and out.split("\t")[1:4] == ["ISO14443", "04AB", "Blocked"] and "FLEET" not in out
    assert cli("delete", "ISO14443", "04AB")[0] == 0
    assert cli("list")[1] == ""
    assert _audit(ctx, "id_token.add")[0].actor.startswith("cli:")
    assert len(_audit(ctx, "id_token.change")) == len(_audit(ctx, "id_token.delete")) == 1


def test_refusals_exit_1_with_one_line(cli, ctx):
    cli("add", "ISO14443", "04AB")
    code, _, err = cli("add", "ISO14443", "04ab")
    assert code == 1 and err.strip().count("\n") == 0 and "id_token.exists" in err
    code, _, err = cli("add", "KeyCode", "K1", "--cache-expiry", "soon")
    assert code == 1 and "cache_expiry" in err
    code, _, err = cli("delete", "ISO14443", "NOPE")
    assert code == 1 and "no ISO14443 token 'NOPE'" in err
    code, _, err = cli("set", "ISO14443", "04AB")
    assert code == 2 and "nothing to change" in err


def test_import_and_export_files(cli, ctx, tmp_path):
    good = tmp_path / "tokens.csv"
    good.write_text("id_token,type,status\nA,ISO14443,Accepted\nB,eMAID,Blocked\n")
    code, out, _ = cli("import", str(good))
    assert code == 0 and out.strip() == "imported 2 id token(s): 2 added, 0 replaced"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id_token": "C", "type": "ISO14443"}, {"id_token": "D", "type": "Nope"}]))
    code, _, err = cli("import", str(bad))
    assert code == 1 and "row 2: type" in err and "nothing changed" in err
    assert [e.outcome for e in _audit(ctx, "id_token.import")] == ["success", "refused"]

    out_file = tmp_path / "export.json"
    assert cli("export", "--out", str(out_file))[0] == 0
    assert [t["id_token"] for t in json.loads(out_file.read_text())["tokens"]] == ["A", "B"]
    code, out, _ = cli("export", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("id,id_token,type,status")
    assert cli("import", str(tmp_path / "missing.csv"))[0] == 1


def test_master_pass_group(cli, ctx):
    code, out, _ = cli("master-pass", "MASTER")
    assert code == 0 and "every station: MASTER" in out
    assert cli("master-pass")[0] == 2
    assert cli("master-pass", "--clear")[0] == 0
    assert len(_audit(ctx, "id_token.master_pass_group")) == 2
    code, _, err = cli("master-pass", "MASTER", "--station", "")
    assert code == 1 and "station_id: must not be empty" in err
    assert cli("master-pass", "M\x7f")[0] == 1
    code, _, err = cli("master-pass", "MASTER", "--station", "NOT-REGISTERED")
    assert code == 1 and "NOT-REGISTERED" in err, err
    assert json.loads(cli("export")[1]) == {"tokens": []} and len(_audit(ctx, "id_token.master_pass_group")) == 5


def test_an_import_with_values_no_column_can_store_names_the_row(cli, ctx, tmp_path):
    """A JSON file may carry a lone surrogate (an escape alone), a CSV file a time that is in
    year 0 once in UTC: no database can store either; the import names the row and field,
    exits 1, and adds nothing."""
    bad = tmp_path / "surrogate.json"
    bad.write_text('[{"id_token": "A", "type": "ISO14443"}, {"id_token": "B\\ud800", "type": "ISO14443"}]')
    code, _, err = cli("import", str(bad))
    assert code == 1 and "row 2: id_token" in err and "surrogate" in err and "nothing changed" in err
    beyond = tmp_path / "beyond.csv"
    beyond.write_text("id_token,type,cache_expiry\nA,ISO14443,2030-01-01T00:00:00Z\n"
                      "B,ISO14443,0001-01-01T00:00:00+14:00\n")
    code, _, err = cli("import", str(beyond))
    assert code == 1 and "row 2: cache_expiry" in err and "years 1 to 9999" in err
    assert cli("list")[1] == ""


def test_a_file_that_cannot_be_read_exits_1_without_a_traceback(cli, ctx, tmp_path):
    """Each of these was a traceback: a CSV cell past the reader's limit, a bare carriage return
    in a cell, a JSON file nested deeper than the parser goes, a key holding a lone surrogate
    (echoed into a message no terminal takes); and an export to a directory that is not there."""
    files = {"long.csv": "id_token,type,message_content\nA,ISO14443," + "x" * 200_000 + "\n",
             "cr.csv": "id_token,type\nA\rB,ISO14443\n",
             "deep.json": "[" * 100_000 + "]" * 100_000,
             "key.json": '[{"id_token": "A", "type": "ISO14443", "\\ud800": 1}]'}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        code, _, err = cli("import", str(tmp_path / name))
        assert code == 1 and err.startswith("chargeca: error: id_token.field:") and err.count("\n") == 1, err
    assert [e.outcome for e in _audit(ctx, "id_token.import")] == ["refused"] * 4
    assert cli("list")[1] == ""
    code, _, err = cli("export", "--out", str(tmp_path / "no-such-dir" / "tokens.csv"))
    assert code == 1 and "cannot write" in err and "No such file or directory" in err


@pytest.mark.parametrize(("name", "text", "said"), [
    ("column.csv", 'id_token,type,"st\x1b[2Jatus\nX"\nA,ISO14443,Blocked\n', "a column name holds a control"),
    ("c1-column.csv", 'id_token,type,"sta\x9btus"\nA,ISO14443,Blocked\n', "a column name holds a control"),
    ("key.json", json.dumps([{"id_token": "A", "type": "ISO14443", "sta\x1b]0;x\x07tus\n": 1}]),
     "a key holds a control"),
    ("beside.json", json.dumps({"tokens": [], "replace\nall\x85": True}), "body: unknown key beside"),
], ids=["csv-column", "csv-c1-column", "json-key", "json-key-beside-tokens"])
def test_a_name_in_a_file_holding_control_characters_is_not_echoed(cli, ctx, tmp_path, name, text, said):
    """An unknown column or key was named in the refusal as it was: a line break split the
    one-line message, and an escape sequence (clear the screen, set the window title) reached the
    officer's terminal from the file."""
    (tmp_path / name).write_text(text)
    code, _, err = cli("import", str(tmp_path / name))
    assert code == 1 and err.count("\n") == 1 and said in err, err
    assert not any(c in err for c in "\x1b\x07\x85\x9b"), err
    assert [e.outcome for e in _audit(ctx, "id_token.import")] == ["refused"]
    assert cli("list")[1] == ""


def test_master_pass_with_both_a_group_and_clear_is_a_usage_error(cli, ctx):
    # `--clear` won silently: an officer who typed the group and --clear lost every station's group.
    assert cli("master-pass", "MASTER")[0] == 0
    code, _, err = cli("master-pass", "OTHER", "--clear")
    assert code == 2 and "not both" in err and err.count("\n") == 1
    assert len(_audit(ctx, "id_token.master_pass_group")) == 1
