"""Ingest: every source format and schema, bad-row counts, dedupe, limit, resume."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from lmsys_tui.engine import hf_hub
from lmsys_tui.engine.errors import JobCancelled, SourceError
from lmsys_tui.engine.load import hub
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.specs import LoadStep
from tests.conftest import fixture_rows, write_jsonl


def texts(ws, source=None):
    sql = "SELECT query_text FROM queries" + (" WHERE source = ?" if source else "")
    return [
        row[0]
        for row in ws.con.execute(sql + " ORDER BY query_id", [source] if source else []).fetchall()
    ]


def test_lmsys_jsonl_keeps_first_user_turn_and_fields(workspace, lmsys_file):
    result = load(workspace, LoadStep(source=str(lmsys_file)))
    assert result.loaded == 30 and result.read == 30 and result.skipped == {}
    row = workspace.con.execute(
        "SELECT conversation_id, source, model, language, turn, query_text, extra "
        "FROM queries ORDER BY query_id LIMIT 1"
    ).fetchall()[0]
    assert row[:5] == ("sql-0", "chats.jsonl", "gpt-4", "English", 1)
    assert row[5] == fixture_rows()[0]["conversation"][0]["content"]
    assert json.loads(row[6]) == {"topic": "sql"}  # other source fields kept, conversation not


def test_first_user_turn_skips_a_leading_system_message(workspace, tmp_path):
    row = {
        "conversation_id": "a",
        "conversation": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "second question"},
        ],
    }
    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "s.jsonl", [row]))))
    assert texts(workspace) == ["first question"]
    assert workspace.con.execute("SELECT turn FROM queries").fetchall() == [(2,)]


def test_sharegpt_json_keeps_part_zero_only(workspace, tmp_path):
    records = [
        {
            "id": "abc_0",
            "conversations": [
                {"from": "human", "value": "hello there"},
                {"from": "gpt", "value": "hi"},
            ],
        },
        {"id": "abc_1", "conversations": [{"from": "human", "value": "a later part"}]},
        {"id": "xyz", "conversations": [{"from": "gpt", "value": "no human here"}]},
    ]
    path = tmp_path / "share.json"
    path.write_text(json.dumps(records, indent=2))
    result = load(workspace, LoadStep(source=str(path)))
    assert texts(workspace) == ["hello there"]
    assert workspace.con.execute("SELECT conversation_id FROM queries").fetchall() == [("abc",)]
    assert result.skipped == {"continuation": 1, "no_user_turn": 1}


def test_cut_off_json_array_reads_every_complete_record(workspace, tmp_path):
    records = [
        {"id": f"r{i}_0", "conversations": [{"from": "human", "value": f"question {i}"}]}
        for i in range(3)
    ]
    whole = json.dumps(records, indent=2)
    path = tmp_path / "cut.json"
    path.write_text(whole[: whole.rindex("question 2") + 5])  # stop inside the third record
    result = load(workspace, LoadStep(source=str(path)))
    assert texts(workspace) == ["question 0", "question 1"]
    assert any("read its 2 complete records" in note for note in result.notes)
    assert list(workspace.tmp_dir.iterdir()) == []  # the JSON-lines copy went once read
    again = load(workspace, LoadStep(source=str(path)))  # unchanged: no copy made at all
    assert (again.loaded, again.already_loaded) == (0, 2)
    assert again.notes == [f"{path} is unchanged since a load read it: not read again"]


def test_a_cut_off_array_is_read_a_chunk_at_a_time(tmp_path, monkeypatch):
    from lmsys_tui.engine.load import sources

    monkeypatch.setattr(sources, "SALVAGE_CHUNK", 7)  # records and numbers cross chunks
    records = [{"id": i, "text": f"line one\nline {i}"} for i in range(5)] + [12345, 678]
    whole = "\ufeff\n " + json.dumps(records, indent=1)
    path = tmp_path / "cut.json"
    path.write_text(whole[: whole.rindex("line 4")])  # cut inside the fifth record
    salvage = sources.salvage_json_array(path, tmp_path)
    lines = salvage.path.read_text().splitlines()
    assert salvage.count == 4 and [json.loads(line) for line in lines] == records[:4]
    assert salvage.ending == "cut"
    path.write_text(whole[:-1])  # only the "]" is gone
    salvage = sources.salvage_json_array(path, tmp_path)
    assert [json.loads(line) for line in salvage.path.read_text().splitlines()] == records
    assert salvage.ending == "cut"
    path.write_text(whole)
    assert sources.salvage_json_array(path, tmp_path)[1:] == (len(records), "end", 0, None)
    # A broken record is stepped over, across chunks, to the next object with a record's
    # keys followed by "," or "]": not one inside the broken record, nor a "{" in a string.
    broken = '{"a": 2 x, "b": {"a": 9}, "c": "{\\"a\\": 8}"}'
    path.write_text(f'[{{"a": 1}}, {broken}, ' + '{"a": 3}, ' * 100)
    salvage = sources.salvage_json_array(path, tmp_path)
    assert salvage[1:] == (101, "cut", 1, 2)  # no "]": cut after the last record
    assert {json.loads(line)["a"] for line in salvage.path.read_text().splitlines()} == {1, 3}
    path.write_text('[{"a": 1 x}, {"a": 3}]')  # the first: nothing to tell a record by
    assert sources.salvage_json_array(path, tmp_path)[1:] == (0, "broken", 0, None)
    path.write_text('{"not": ["an array"]}')
    with pytest.raises(SourceError, match="not a JSON array of records"):
        sources.salvage_json_array(path, tmp_path)


def test_a_json_array_duckdb_cannot_parse_whole_is_read_record_by_record(
    workspace, tmp_path, monkeypatch
):
    """A raw tab or newline inside a string (invalid JSON, common in scraped logs) made
    DuckDB refuse the whole file; now every record loads, its text as it was."""
    from lmsys_tui.engine.load import ingest

    rows = [{"id": f"r{i}", "prompt": f"question {i}"} for i in range(4)]
    raw = [json.dumps(row) for row in rows]
    raw[1] = '{"id": "r1", "prompt": "code:\tx = 1\n    y = 2"}'  # a raw tab and newline
    path = tmp_path / "chats.json"
    path.write_text("[\n" + ",\n".join(raw) + "\n]\n")
    result = load(workspace, LoadStep(source=str(path), text_column="prompt"))
    assert texts(workspace) == ["question 0", "code:\tx = 1\n    y = 2", "question 2", "question 3"]
    assert "chats.json is not valid JSON as a whole: read record by record, 4 records" in (
        result.notes
    )
    assert list(workspace.tmp_dir.iterdir()) == []
    # Past what DuckDB's first look reads (a file of many megabytes): the same, on retry.
    other = tmp_path / "later.json"
    other.write_text(path.read_text().replace('"r', '"s'))
    monkeypatch.setattr(
        ingest, "_openable_files", lambda ws, source, step, result, progress: source.files
    )
    again = load(workspace, LoadStep(source=str(other), text_column="prompt"))
    assert again.loaded == 4 and any("read record by record" in n for n in again.notes)
    # A record that does not parse at all: those before it, and the note says so.
    broken = tmp_path / "broken.json"
    broken.write_text(
        '[{"id": "b0", "prompt": "kept"}, {"id": "b1", "prompt": x}, '
        '{"id": "b2", "prompt": "read {on}"}, {}]'
    )
    result = load(workspace, LoadStep(source=str(broken), text_column="prompt"))
    assert result.loaded == 2 and texts(workspace)[-2:] == ["kept", "read {on}"]
    assert result.notes == [
        "broken.json: skipped 1 broken record (the first is record 2); read the other 3"
    ]
    # A first record that is broken leaves nothing to tell the next one by.
    first = tmp_path / "first.json"
    first.write_text('[{"id": "f0", "prompt": x}, {"id": "f1", "prompt": "lost"}]')
    with pytest.raises(SourceError, match=r"first.json: its first record is broken: no record"):
        load(workspace, LoadStep(source=str(first), text_column="prompt"))


@pytest.mark.parametrize("reader", ["typed", "records"])
def test_json_lines_with_a_raw_control_character_in_a_string_are_read_escaped(
    workspace, tmp_path, monkeypatch, reader
):
    """A raw tab inside a string made DuckDB skip the line as invalid JSON; now it loads,
    its text as written. A line broken otherwise is still skipped and counted."""
    from lmsys_tui.engine.load import ingest, records

    if reader == "records":  # too many keys for the typed reader: records read as JSON
        monkeypatch.setattr(records, "TYPED_MAX_KEYS", 0)
    lines = [json.dumps({"id": f"r{i}", "prompt": f"question {i}"}) for i in range(4)]
    lines[1] = '{"id": "r1", "prompt": "code:\tx = 1\r    y = 2\x01"}'  # raw tab, CR, SOH
    lines[2] = '{"id": "r2", "prompt": "cut'  # broken: stays out
    lines.append('{"id":\t"r4",\t"prompt": "a tab between values is whitespace"}')
    lines.append('{"id": "r5", "prompt": "\ttab", "score": NaN}')  # NaN: DuckDB reads it
    path = tmp_path / "chats.jsonl.gz"
    path.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n").encode()))
    result = load(workspace, LoadStep(source=str(path), text_column="prompt"))
    assert texts(workspace) == [
        "question 0",
        "question 3",
        "a tab between values is whitespace",
        "code:\tx = 1\r    y = 2\x01",  # after the file's other records
        "\ttab",
    ]
    assert result.skipped == {"invalid_json": 1} and result.read == 6
    assert result.notes == [
        "chats.jsonl.gz: 2 lines hold a raw control character (a tab, say) inside a string: "
        "read with it escaped",
        "chats.jsonl.gz: 1 line is not valid JSON, skipped (the first is line 3)",
    ]
    assert load(workspace, LoadStep(source=str(path), text_column="prompt")).loaded == 0
    # A file cut off mid-line has nothing to repair: it is not scanned.
    cut = tmp_path / "cut.jsonl"
    cut.write_text(lines[0].replace("r0", "c0") + "\n" + lines[3].replace("r3", "c3")[:20])
    monkeypatch.setattr(ingest, "repaired_lines", lambda path: pytest.fail("scanned"))
    result = load(workspace, LoadStep(source=str(cut), text_column="prompt"))
    assert result.loaded == 1 and result.skipped == {"invalid_json": 1} and result.notes == []


def test_a_load_says_which_line_of_a_json_lines_file_is_the_first_it_skipped(workspace, tmp_path):
    """Broken lines are counted, and the summary names the first, so a user can find it."""
    good = [json.dumps({"id": f"g{i}", "prompt": f"question {i}"}) for i in range(3)]
    lines = [good[0], "not json", good[1], "", '{"id": "b", "prompt": "cut', good[2]]
    path = tmp_path / "logs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = load(workspace, LoadStep(source=str(path), text_column="prompt"))
    assert result.loaded == 3 and result.skipped == {"invalid_json": 2}
    assert result.notes == ["logs.jsonl: 2 lines are not valid JSON, skipped (the first is line 2)"]


def test_a_cut_off_json_file_in_a_folder_that_is_no_array_is_skipped(workspace, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", fixture_rows()[:10])
    (folder / "b.json").write_text("id,prompt\n1,a CSV file named .json\n")
    result = load(workspace, LoadStep(source=str(folder)))
    assert result.loaded == 10 and result.skipped == {"unreadable_file": 1}
    assert result.notes[0] == (
        f"skipped a file: cannot load {folder / 'b.json'}: "
        f"{folder / 'b.json'}: not a JSON array of records"
    )


def test_parquet_with_native_lists(workspace, tmp_path):
    path = tmp_path / "chats.parquet"
    source = write_jsonl(tmp_path / "src.jsonl", fixture_rows()[:5])
    duckdb.sql(f"COPY (SELECT * FROM read_json('{source}')) TO '{path}' (FORMAT parquet)")
    result = load(workspace, LoadStep(source=str(path)))
    assert result.loaded == 5
    assert texts(workspace)[0] == fixture_rows()[0]["conversation"][0]["content"]


def test_csv_plain_table_with_named_text_column(workspace, tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text('id,prompt,lang\n1,"What is SQL?",en\n2,"Wie spät ist es?",de\n3,"",en\n')
    result = load(workspace, LoadStep(source=str(path), text_column="prompt", id_column="id"))
    assert texts(workspace) == ["What is SQL?", "Wie spät ist es?"]
    assert result.skipped == {"empty_text": 1}
    ids = workspace.con.execute("SELECT conversation_id FROM queries ORDER BY 1").fetchall()
    assert ids == [("1",), ("2",)]


def test_csv_lines_that_do_not_parse_are_skipped_counted_and_named(workspace, tmp_path):
    path = tmp_path / "prompts.csv"
    lines = ["id,prompt", "1,fine", "2,too,many,fields", "3,caf\xe9 au lait", "4,also fine"]
    path.write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    step = {"source": str(path), "text_column": "prompt", "id_column": "id"}
    result = load(workspace, LoadStep(**step))
    assert texts(workspace) == ["fine", "also fine"]  # not one column named "id,prompt"
    assert result.skipped == {"invalid_csv": 1, "invalid_encoding": 1} and result.read == 4
    assert result.notes == [
        "prompts.csv: 1 line is not valid CSV (more or fewer fields than the header: a text "
        "that holds the delimiter needs quotes), skipped (the first is line 3)",
        "prompts.csv: 1 line is not UTF-8 text, skipped (the first is line 4): if the file "
        'has another encoding, name it in [load] (encoding = "latin-1")',
    ]
    again = load(workspace, LoadStep(**step, encoding="latin-1"))  # as the note says
    assert again.loaded == 1 and again.skipped == {"invalid_csv": 1}
    assert texts(workspace) == ["fine", "also fine", "café au lait"]


def test_a_csv_with_a_utf16_byte_order_mark_is_read_as_utf16_and_tsv_as_csv(workspace, tmp_path):
    path = tmp_path / "excel.csv"  # Excel's "Unicode text": UTF-16 with a mark, tabs
    path.write_text("prompt\tid\nhéllo wörld\t1\n", encoding="utf-16")
    load(workspace, LoadStep(source=str(path), text_column="prompt"))
    tsv = tmp_path / "prompts.tsv"
    tsv.write_text("id\tprompt\n1\twith, a comma\n")
    load(workspace, LoadStep(source=str(tsv), text_column="prompt"))
    assert texts(workspace) == ["héllo wörld", "with, a comma"]


def test_csv_in_lmsys_schema_with_the_conversation_as_json_text(workspace, tmp_path):
    path = tmp_path / "export.csv"
    conversation = json.dumps([{"role": "user", "content": 'Explain, with "quotes", CSV'}])
    path.write_text(
        "conversation_id,model,conversation,turn,language\n"
        f'c1,gpt-4,"{conversation.replace(chr(34), chr(34) * 2)}",1,English\n'
    )
    load(workspace, LoadStep(source=str(path)))
    row = workspace.con.execute("SELECT query_text, model, turn FROM queries").fetchall()
    assert row == [('Explain, with "quotes", CSV', "gpt-4", 1)]


def test_plain_table_without_a_text_column_says_how_to_name_it(workspace, tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text("id,prompt\n1,hello\n")
    with pytest.raises(SourceError, match="text_column"):
        load(workspace, LoadStep(source=str(path)))


def test_folder_of_mixed_files_gzip_and_zstd(workspace, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    rows = fixture_rows()
    write_jsonl(folder / "a.jsonl", rows[:10])
    with gzip.open(folder / "b.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows[10:20])
    (folder / "notes.txt").write_text("not a data file")
    # A zstd-compressed JSON array, written by DuckDB (the standard library has no zstd).
    write_jsonl(tmp_path / "c.jsonl", rows[20:25])
    duckdb.sql(
        f"COPY (SELECT * FROM read_json('{tmp_path / 'c.jsonl'}')) TO '{folder / 'c.json.zst'}' "
        "(FORMAT json, ARRAY true, COMPRESSION zstd)"
    )
    result = load(workspace, LoadStep(source=str(folder)))
    assert result.loaded == 25
    assert result.source == "logs"


def test_a_folder_may_mix_schemas_each_file_told_by_its_records(workspace, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", fixture_rows()[:2])  # LMSYS
    write_jsonl(folder / "b.jsonl", OPENAI_RECORDS[:1])
    sharegpt = [{"id": "s_0", "conversations": [{"from": "human", "value": "shared"}]}]
    (folder / "c.json").write_text(json.dumps(sharegpt))
    shutil.copytree(folder, tmp_path / "sampled")
    write_jsonl(folder / "d.jsonl", [{"prompt": "a plain table"}])  # no turns: named, skipped
    result = load(workspace, LoadStep(source=str(folder)))
    assert result.loaded == 4 and result.skipped == {"unreadable_file": 1}
    assert "d.jsonl: cannot tell the schema" in result.notes[0]
    assert texts(workspace, "logs")[2:] == ["a plain string", "shared"]
    sampled = load(workspace, LoadStep(source=str(tmp_path / "sampled"), sample=True, limit=9))
    assert sampled.loaded == 4
    assert sorted(texts(workspace, "sampled")) == sorted(texts(workspace, "logs"))


def test_a_bad_file_in_a_folder_is_skipped_and_named_and_the_rest_loads(workspace, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    rows = fixture_rows()
    write_jsonl(folder / "a.jsonl", rows[:10])
    (folder / "b.parquet").write_bytes(b"PAR1 cut off while copying")
    write_jsonl(folder / "c.jsonl", rows[10:20])
    result = load(workspace, LoadStep(source=str(folder)))
    assert result.loaded == 20 and result.skipped == {"unreadable_file": 1}
    assert "b.parquet" in result.notes[0]
    source = write_jsonl(tmp_path / "b.jsonl", rows[20:25])
    duckdb.sql(f"COPY (SELECT * FROM read_json('{source}')) TO '{folder / 'b.parquet'}'")
    again = load(workspace, LoadStep(source=str(folder)))  # the file was copied again
    assert (again.loaded, again.already_loaded) == (5, 20)
    assert workspace.count("queries") == 25


def test_a_folder_load_with_a_limit_resumes(workspace, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    rows = fixture_rows()
    write_jsonl(folder / "a.jsonl", rows[:10])
    write_jsonl(folder / "c.jsonl", rows[10:20])
    load(workspace, LoadStep(source=str(folder), limit=12))
    write_jsonl(folder / "a.jsonl", rows[:10] + rows[20:25])  # the first file grew meanwhile
    result = load(workspace, LoadStep(source=str(folder), limit=22))
    assert workspace.count("queries") == 22
    assert (result.loaded, result.already_loaded) == (10, 12)
    again = load(workspace, LoadStep(source=str(folder), limit=22))
    assert again.loaded == 0 and again.read == 0 and "already holds 22" in again.notes[0]


def test_a_missing_text_column_and_an_empty_file_say_so(workspace, tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text("id,prompt,lang\n1,hello,en\n")
    with pytest.raises(SourceError, match="no column 'nosuch' in the source; its columns are id"):
        load(workspace, LoadStep(source=str(path), text_column="nosuch"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(SourceError, match="holds no records|is empty"):
        load(workspace, LoadStep(source=str(empty)))
    no_objects = tmp_path / "no-objects.jsonl"
    no_objects.write_text('{not json\n[1, 2]\n"a string"\n{}\n')
    with pytest.raises(SourceError, match="no record is an object with fields"):
        load(workspace, LoadStep(source=str(no_objects)))


def test_bad_rows_are_skipped_and_counted_by_reason(workspace, tmp_path):
    good = fixture_rows()[:3]
    bad = [
        {"conversation_id": "no-user", "conversation": [{"role": "assistant", "content": "hi"}]},
        {"conversation_id": "empty", "conversation": [{"role": "user", "content": "   \n "}]},
        {"conversation_id": "number", "conversation": [{"role": "user", "content": 42}]},
        {"conversation_id": "not-a-list", "conversation": "just a string"},
        {"conversation_id": {"nested": 1}, "conversation": [{"role": "user", "content": "x"}]},
        {"conversation_id": "no-conversation"},
        ["an", "array", "not", "an", "object"],
    ]
    path = write_jsonl(tmp_path / "bad.jsonl", good + bad, raw_lines=("{broken json", ""))
    result = load(workspace, LoadStep(source=str(path)))
    assert result.loaded == 3
    assert result.skipped == {
        "invalid_json": 1,
        "no_user_turn": 2,
        "empty_text": 1,
        "wrong_type": 4,
    }
    assert result.read == 3 + len(bad) + 1


MIXED_RECORDS = [
    {"conversation_id": "a", "model": "m", "conversation": [{"role": "user", "content": "hi"}]},
    {"conversation_id": "b", "conversation": [{"role": "user", "content": 5}], "turn": 1},
    {
        "conversation_id": "c",
        "conversation": [{"content": "no role"}, {"role": "user", "content": "c"}],
    },
    {"conversation_id": "d", "conversation": [None, {"role": "user", "content": "after null"}]},
    {"conversation_id": "e", "conversation": [{"role": "assistant", "content": "bot only"}]},
    {"conversation_id": "f", "conversation": [{"role": "user", "content": " \n"}], "turn": "x"},
    {"conversation_id": 7, "conversation": [{"role": "user", "content": "int id"}]},
    {"conversation_id": {"x": 1}, "conversation": [{"role": "user", "content": "object id"}]},
    {"conversation_id": "g", "conversation": [], "language": "Deutsch"},
    {"conversation": [{"role": "user", "content": "no id"}], "language": "Deutsch"},
    {},
    ["not", "an", "object"],
    {"conversation_id": "h", "conversation": [{"role": "user", "content": "rare"}], "rare": [1]},
]


def stored_rows(ws, source):
    return ws.con.execute(
        "SELECT conversation_id, model, language, turn, query_text, extra FROM queries "
        "WHERE source = ? ORDER BY query_id",
        [source],
    ).fetchall()


@pytest.fixture
def read_as_json_records(monkeypatch) -> list:
    """The calls of the JSON-records path: empty while the typed readers decide."""
    from lmsys_tui.engine.load import ingest

    calls: list = []
    classify = ingest.classify_sql
    monkeypatch.setattr(ingest, "classify_sql", lambda *a: calls.append(a) or classify(*a))
    return calls


def test_json_read_by_the_typed_reader_gives_what_json_records_give(
    workspace, tmp_path, read_as_json_records, monkeypatch
):
    from lmsys_tui.engine.load import ingest

    lines = write_jsonl(tmp_path / "mixed.jsonl", MIXED_RECORDS, raw_lines=("{broken json",))
    array = tmp_path / "mixed.json"
    array.write_text(json.dumps(MIXED_RECORDS))
    typed_lines = load(workspace, LoadStep(source=str(lines), schema="lmsys"))
    typed_array = load(workspace, LoadStep(source=str(array), schema="lmsys"))
    assert read_as_json_records == []  # the typed reader decided every record
    monkeypatch.setattr(ingest, "typed_json_sql", lambda *a: None)  # the typed readers decline
    monkeypatch.setattr(ingest, "typed_table_sql", lambda *a: None)
    reference = tmp_path / "records.json"
    reference.write_text(json.dumps(MIXED_RECORDS))
    exact = load(workspace, LoadStep(source=str(reference), schema="lmsys"))
    assert len(read_as_json_records) == 1
    expected = stored_rows(workspace, "records.json")
    assert stored_rows(workspace, "mixed.jsonl") == stored_rows(workspace, "mixed.json") == expected
    assert typed_lines.skipped == {**exact.skipped, "invalid_json": 1}
    assert typed_array.skipped == exact.skipped
    assert exact.skipped == {"no_user_turn": 3, "empty_text": 1, "wrong_type": 3}
    assert texts(workspace, "mixed.jsonl") == ["hi", "c", "after null", "int id", "no id", "rare"]
    rare = workspace.con.execute(
        "SELECT extra ->> '$.rare' FROM queries WHERE conversation_id = 'h'"
    ).fetchall()
    assert rare == [("[1]",)] * 3  # a key only the last record has is kept


def test_json_lines_the_typed_reader_cannot_decide_are_read_as_json(workspace, tmp_path):
    records = [
        {"conversation_id": "a", "conversation": [{"role": "user", "content": "plain"}]},
        {"conversation_id": "b", "conversation": json.dumps([{"role": "user", "content": "s"}])},
        {
            "conversation_id": "c",
            "Model": "upper",
            "conversation": [{"role": "user", "content": "c"}],
        },
    ]
    result = load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "x.jsonl", records))))
    assert result.loaded == 3 and result.skipped == {}
    assert texts(workspace) == ["plain", "s", "c"]
    extra = workspace.con.execute("SELECT extra FROM queries WHERE conversation_id = 'c'")
    assert json.loads(extra.fetchall()[0][0]) == {"Model": "upper"}


def test_a_sample_over_files_read_typed_and_as_json_keeps_every_record(workspace, tmp_path):
    typed = [
        {"conversation_id": f"t{i}", "conversation": [{"role": "user", "content": f"t{i}"}]}
        for i in range(3)
    ]
    undecided = [
        {"conversation_id": "s", "conversation": json.dumps([{"role": "user", "content": "s"}])},
        {"conversation_id": "u", "conversation": [{"role": "user", "content": "u"}]},
    ]
    folder = folder_of(tmp_path, a=typed, b=undecided)
    result = load(workspace, LoadStep(source=str(folder), sample=True, seed=1, limit=10))
    assert result.loaded == 5 and result.skipped == {}
    assert sorted(texts(workspace)) == ["s", "t0", "t1", "t2", "u"]


def test_parquet_read_from_its_columns_gives_what_json_records_give(
    workspace, tmp_path, read_as_json_records, monkeypatch
):
    from lmsys_tui.engine.load import ingest

    records = [
        {
            "conversation_id": "a",
            "model": "m",
            "turn": 2,
            "conversation": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "first"},
                {"role": "user", "content": "second"},
            ],
            "moderation": {"flagged": False, "scores": [0.5]},
        },
        {"conversation_id": "b", "conversation": [{"role": "assistant", "content": "bot"}]},
        {"conversation_id": "c", "conversation": [{"role": "user", "content": " \t"}]},
        {"conversation_id": "d", "conversation": []},
        {"language": "Deutsch", "conversation": [{"role": "user", "content": 'é "q" \\'}]},
        {"conversation_id": "a", "conversation": [{"role": "user", "content": "dup"}]},
    ]
    array = tmp_path / "chats.json"
    array.write_text(json.dumps(records))
    parquet = tmp_path / "chats.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_json('{array}')) TO '{parquet}'")
    typed = load(workspace, LoadStep(source=str(parquet)))
    assert read_as_json_records == []  # classified from the columns, no JSON
    monkeypatch.setattr(ingest, "typed_json_sql", lambda *a: None)  # the typed readers decline
    monkeypatch.setattr(ingest, "typed_table_sql", lambda *a: None)
    exact = load(workspace, LoadStep(source=str(array)))
    assert len(read_as_json_records) == 1
    assert stored_rows(workspace, "chats.parquet") == stored_rows(workspace, "chats.json")
    assert (
        typed.skipped
        == exact.skipped
        == {
            "no_user_turn": 2,
            "empty_text": 1,
            "duplicate_in_source": 1,
        }
    )
    assert texts(workspace, "chats.parquet") == ["first", 'é "q" \\']


OPENAI_RECORDS = [
    {
        "id": "a",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "a plain string"},
            {"role": "assistant", "content": "ok"},
        ],
    },
    {
        "id": "b",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            }
        ],
    },
    {"id": "c", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
    {
        "id": "d",
        "model": "gpt-4o",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
            }
        ],
    },
    {"id": "e", "messages": [{"role": "assistant", "content": "bot only"}]},
    {"id": "f", "messages": [{"role": "user", "content": []}]},
]


def test_openai_messages_and_text_parts_read_alike_by_every_reader(
    workspace, tmp_path, read_as_json_records, monkeypatch
):
    from lmsys_tui.engine.load import ingest

    lines = write_jsonl(tmp_path / "chat.jsonl", OPENAI_RECORDS)
    parquet = tmp_path / "chat.parquet"  # its content column is DuckDB's JSON type
    duckdb.sql(f"COPY (SELECT * FROM read_json('{lines}')) TO '{parquet}'")
    typed = load(workspace, LoadStep(source=str(lines)))  # the schema told by `messages`
    from_parquet = load(workspace, LoadStep(source=str(parquet)))
    assert len(read_as_json_records) == 1  # the JSON-typed column as JSON, the lines typed
    monkeypatch.setattr(ingest, "typed_json_sql", lambda *a: None)  # the typed readers decline
    reference = tmp_path / "records.json"
    reference.write_text(json.dumps(OPENAI_RECORDS))
    exact = load(workspace, LoadStep(source=str(reference), schema="openai"))
    expected = stored_rows(workspace, "records.json")
    assert (
        stored_rows(workspace, "chat.jsonl") == stored_rows(workspace, "chat.parquet") == expected
    )
    assert typed.skipped == from_parquet.skipped == exact.skipped
    assert exact.skipped == {"no_user_turn": 1, "empty_text": 2}  # no text in its parts
    assert [row[4] for row in expected] == ["a plain string", "What is in this image?", "one\ntwo"]
    assert [row[:2] for row in expected] == [("a", None), ("b", None), ("d", "gpt-4o")]


def test_turns_named_role_and_content_or_from_and_value_and_users_named_human_or_user(
    workspace, tmp_path
):
    conversations = [
        {"id": "x", "conversations": [{"role": "user", "content": "role under conversations"}]}
    ]
    messages = [{"id": "y", "messages": [{"from": "human", "value": "from under messages"}]}]
    human = [{"conversation_id": "z", "conversation": [{"role": "human", "content": "human"}]}]
    for name, records in (("c.jsonl", conversations), ("m.jsonl", messages), ("h.jsonl", human)):
        result = load(workspace, LoadStep(source=str(write_jsonl(tmp_path / name, records))))
        assert result.loaded == 1 and result.skipped == {}
    assert texts(workspace) == ["role under conversations", "from under messages", "human"]


def test_turns_under_any_field_named_by_conversation_column(workspace, tmp_path):
    battle = {  # Chatbot Arena's battles: two conversations, one per model
        "question_id": "q1",
        "model_a": "gpt-4",
        "conversation_a": [
            {"role": "user", "content": "Name a prime"},
            {"role": "assistant", "content": "7"},
        ],
        "conversation_b": [{"role": "user", "content": "Name a prime"}],
    }
    path = write_jsonl(tmp_path / "battles.jsonl", [battle])
    with pytest.raises(SourceError, match="conversation_column = ...") as told:
        load(workspace, LoadStep(source=str(path)))
    assert "(columns: conversation_a, conversation_b, model_a, question_id)" in str(told.value)
    with pytest.raises(SourceError, match="no column 'conversation' in the source"):
        load(workspace, LoadStep(source=str(path), conversation_column="conversation"))
    step = LoadStep(source=str(path), conversation_column="conversation_a", id_column="question_id")
    assert load(workspace, step).loaded == 1
    row = workspace.con.execute("SELECT conversation_id, query_text, extra FROM queries")
    conversation_id, text, extra = row.fetchall()[0]
    assert (conversation_id, text) == ("q1", "Name a prime")
    assert set(json.loads(extra)) == {"model_a", "conversation_b"}


def test_loading_twice_adds_nothing_and_duplicates_in_source_count_once(workspace, tmp_path):
    rows = fixture_rows()[:4]
    path = write_jsonl(tmp_path / "dup.jsonl", rows + rows[:2])
    first = load(workspace, LoadStep(source=str(path)))
    assert first.loaded == 4 and first.skipped == {"duplicate_in_source": 2}
    second = load(workspace, LoadStep(source=str(path)))
    assert second.loaded == 0 and second.already_loaded == 4
    assert workspace.count("queries") == 4


def folder_of(tmp_path, **files: list) -> Path:
    """A folder of JSON-lines files, name (without .jsonl) -> rows."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for name, rows in files.items():
        write_jsonl(folder / f"{name}.jsonl", rows)
    return folder


def test_a_rerun_reads_only_the_files_that_changed_since_a_load_read_them(workspace, tmp_path):
    rows = fixture_rows()
    folder = folder_of(tmp_path, a=rows[:10], b=rows[10:20] + rows[:2])  # 2 also in a
    assert load(workspace, LoadStep(source=str(folder))).loaded == 20
    again = load(workspace, LoadStep(source=str(folder)))
    assert (again.read, again.loaded, again.already_loaded) == (0, 0, 22)  # as if read
    assert again.notes == [
        f"2 files ({folder / 'a.jsonl'}, …) are unchanged since a load read them: not read again"
    ]
    write_jsonl(folder / "b.jsonl", rows[10:20] + rows[:2] + rows[20:25])  # b grew
    third = load(workspace, LoadStep(source=str(folder)))
    assert (third.read, third.loaded, third.already_loaded) == (17, 5, 22)
    other_settings = load(workspace, LoadStep(source=str(folder), max_chars=50))
    assert other_settings.read == 27 and other_settings.loaded == 0
    assert workspace.count("queries") == 25


def test_a_file_cut_by_the_limit_or_a_cancel_is_read_again(workspace, tmp_path):
    rows = fixture_rows()
    folder = folder_of(tmp_path, a=rows[:10], b=rows[10:20])

    def cancel_after_the_first_file(event):
        if event.done == 1:
            raise JobCancelled("stopped")

    with pytest.raises(JobCancelled):
        load(workspace, LoadStep(source=str(folder)), cancel_after_the_first_file)
    resumed = load(workspace, LoadStep(source=str(folder), limit=15))
    assert (resumed.read, resumed.loaded, resumed.already_loaded) == (10, 5, 10)
    rest = load(workspace, LoadStep(source=str(folder)))  # b was cut by the limit
    assert (rest.read, rest.loaded, rest.already_loaded) == (10, 5, 15)


def test_rows_without_ids_are_identified_by_their_text(workspace, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "same"}\n{"prompt": "same"}\n{"prompt": "other"}\n')
    load(workspace, LoadStep(source=str(path), text_column="prompt"))
    load(workspace, LoadStep(source=str(path), text_column="prompt"))
    assert texts(workspace) == ["same", "other"]


def test_limit_takes_the_first_rows_and_sample_is_seeded(workspace, tmp_path, lmsys_file):
    result = load(workspace, LoadStep(source=str(lmsys_file), limit=5))
    assert result.loaded == 5 and result.over_limit == 25
    assert texts(workspace) == [r["conversation"][0]["content"] for r in fixture_rows()[:5]]
    picks = []
    for name in ("s1", "s2"):
        load(workspace, LoadStep(source=str(lmsys_file), limit=7, sample=True, seed=3, name=name))
        picks.append(sorted(texts(workspace, name)))
    assert picks[0] == picks[1] and len(picks[0]) == 7
    assert picks[0] != sorted(texts(workspace, "chats.jsonl")[:7])


def test_huge_text_is_truncated_and_counted(workspace, tmp_path):
    row = {"conversation_id": "big", "conversation": [{"role": "user", "content": "x" * 5000}]}
    result = load(
        workspace, LoadStep(source=str(write_jsonl(tmp_path / "h.jsonl", [row])), max_chars=1000)
    )
    assert result.truncated == 1
    assert workspace.con.execute("SELECT length(query_text) FROM queries").fetchall() == [(1000,)]


def test_max_chars_counts_characters_not_bytes(workspace, tmp_path):
    rows = [
        {"conversation_id": "fits", "conversation": [{"role": "user", "content": "é" * 6}]},
        {"conversation_id": "cut", "conversation": [{"role": "user", "content": "é" * 7}]},
    ]
    path = write_jsonl(tmp_path / "accents.jsonl", rows)
    result = load(workspace, LoadStep(source=str(path), max_chars=6))
    assert result.truncated == 1
    assert texts(workspace) == ["é" * 6, "é" * 6]


def test_a_record_over_the_readers_buffer_loads_and_the_memory_limit_comes_back(
    workspace, tmp_path
):
    # 40 MB: more than read_json_objects' 32 MB maximum_object_size, a paste that happens.
    row = {
        "conversation_id": "paste",
        "conversation": [{"role": "user", "content": "y" * 40_000_000}],
    }
    before = workspace.con.execute("SELECT current_setting('memory_limit')").fetchall()
    result = load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "p.jsonl", [row]))))
    assert result.loaded == 1 and result.truncated == 1
    assert workspace.con.execute("SELECT current_setting('memory_limit')").fetchall() == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "no such file or folder"),
        ("table.xlsx", "x", "unknown format .xlsx"),
        ("fake.parquet", "this is not parquet", "cannot read"),
    ],
)
def test_wrong_path_or_format_is_a_one_line_error(workspace, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SourceError, match=message) as caught:
        load(workspace, LoadStep(source=str(path)))
    assert "\n" not in str(caught.value)


def test_a_missing_relative_file_is_not_taken_for_a_hub_name(workspace):
    import re
    from pathlib import Path

    tried = Path.cwd() / "nowhere" / "missing.parquet"  # the full path it tried
    with pytest.raises(SourceError, match=re.escape(f"no such file or folder: {tried}")):
        load(workspace, LoadStep(source="nowhere/missing.parquet"))


def test_a_failed_load_keeps_earlier_results(workspace, tmp_path, lmsys_file):
    load(workspace, LoadStep(source=str(lmsys_file)))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 garbage")
    with pytest.raises(SourceError):
        load(workspace, LoadStep(source=str(broken)))
    assert workspace.count("queries") == 30


def test_hub_stream_resumes_after_interruption(workspace, tmp_path, monkeypatch):
    parquet = tmp_path / "hub.parquet"
    source = write_jsonl(tmp_path / "src.jsonl", fixture_rows())
    duckdb.sql(f"COPY (SELECT * FROM read_json('{source}')) TO '{parquet}' (FORMAT parquet)")
    step = LoadStep(source=f"hf://parquet:{parquet}", name="hub")
    original = hub.iter_hub_batches
    monkeypatch.setattr(hub, "iter_hub_batches", lambda d, s: original(d, s, batch_rows=8))

    def stop_after_two_batches(event):
        if event.done >= 16:
            raise JobCancelled("stopped")

    with pytest.raises(JobCancelled):
        load(workspace, step, stop_after_two_batches)
    assert workspace.count("queries") == 16  # two committed batches survive
    result = load(workspace, step)
    assert result.already_loaded == 16 and result.loaded == 14
    assert workspace.count("queries") == 30
    status = workspace.con.execute("SELECT status FROM loads ORDER BY started_at").fetchall()
    assert [s for (s,) in status] == ["cancelled", "complete"]


def test_hub_limit_stops_the_stream(workspace, tmp_path, monkeypatch, read_as_json_records):
    parquet = tmp_path / "hub.parquet"
    source = write_jsonl(tmp_path / "src.jsonl", fixture_rows())
    duckdb.sql(f"COPY (SELECT * FROM read_json('{source}')) TO '{parquet}' (FORMAT parquet)")
    original = hub.iter_hub_batches
    monkeypatch.setattr(hub, "iter_hub_batches", lambda d, s: original(d, s, batch_rows=8))
    result = load(workspace, LoadStep(source=f"hf://parquet:{parquet}", limit=10))
    assert result.loaded == 10
    assert read_as_json_records == []  # Arrow batches are classified from their columns


def test_gated_and_offline_hub_errors_are_explained_in_one_line():
    gated = hub.explain_hub_error(
        "lmsys/lmsys-chat-1m",
        RuntimeError("Dataset 'lmsys/lmsys-chat-1m' is a gated dataset\nmore"),
    )
    assert "HF_TOKEN" in gated and "accept its terms" in gated and "\n" not in gated
    offline = hub.explain_hub_error("a/b", ConnectionError("Failed to resolve host"))
    assert offline.startswith("cannot reach the Hugging Face hub")


def test_unreachable_hub_dataset_is_a_one_line_error(tmp_path):
    # A fresh process, since datasets reads HF_HUB_OFFLINE when it is first imported.
    script = (
        "import sys; from lmsys_tui.engine.workspace import open_workspace;"
        "from lmsys_tui.engine.load.ingest import load;"
        "from lmsys_tui.engine.specs import LoadStep;"
        "from lmsys_tui.engine.errors import SourceError\n"
        "try:\n load(open_workspace(sys.argv[1]), LoadStep(source='nobody-here/no-such-data'))\n"
        "except SourceError as error:\n print(error)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.stdout.startswith("cannot reach the Hugging Face hub for nobody-here/no-such-data")
    assert done.stdout.count("\n") == 1


def test_a_hub_dataset_with_no_network_fails_at_once(workspace, monkeypatch):
    for name in ("HF_HUB_OFFLINE", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # refused, as on a machine offline
    started = time.perf_counter()
    with pytest.raises(SourceError) as caught:
        load(workspace, LoadStep(source="lmsys/lmsys-chat-1m"))
    assert str(caught.value) == (
        "cannot reach the Hugging Face hub (http://127.0.0.1:9) to stream lmsys/lmsys-chat-1m: "
        "check the network, or load a local copy of its files (a folder of Parquet or JSON "
        "lines)"
    )
    assert time.perf_counter() - started < 10  # datasets alone retried for 26 s and more
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    assert not hf_hub.hub_unreachable()  # behind a proxy a direct connection proves nothing


def test_sharegpt_sample_reads_every_complete_record(workspace):
    result = load(workspace, LoadStep(source="sharegpt-sample", limit=50))
    assert result.loaded == 50
    assert any("complete records" in note for note in result.notes)
    assert result.read > 9000  # every record of the bundled file is read and classified
