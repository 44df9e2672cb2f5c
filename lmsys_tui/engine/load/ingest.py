"""Load sources into the `queries` table: the first user turn of each conversation.

All heavy lifting is SQL in DuckDB, one transaction per batch: every record is classified
(kept, or skipped with a reason; the SQL is in `records`), deduplicated within the source
and against what is already loaded, and inserted. A rerun of the same load adds
nothing (a local file unchanged since a load read it whole is not read again); an
interrupted one rolls back its open batch and the rerun picks up from there.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import duckdb

from ..errors import SourceError, is_interruption
from ..progress import Progress, ProgressSink, null_sink
from ..specs import LoadStep
from ..store import transaction
from ..workspace import Workspace
from . import hub
from .records import (
    UNDECIDED,
    UNREADABLE,
    Schema,
    classify_sql,
    detect_schema,
    key_census,
    typed_json_sql,
    typed_table_sql,
)
from .sources import (
    HubSource,
    LocalSource,
    SourceFile,
    first_invalid_line,
    last_line_is_broken,
    readable,
    remove_copies,
    repaired_lines,
    resolve,
)

# DuckDB's memory during a load: past it, staged rows spill to disk. A 1M-row file then
# peaks at ~1.3 GB instead of ~2.1 GB for ~0.4 s more (docs/benchmarks.md, "Ingest").
LOAD_MEMORY_MB = 1200
MAX_OBJECT_SIZE = 32 * 2**20  # one record's JSON; DuckDB's default is 16 MB
JSON_LAYOUTS = {"jsonl": "newline_delimited", "json": "array"}  # format -> DuckDB's name
# A CSV's lines that do not parse (a field count unlike the header's, bytes not in its
# encoding) are skipped and kept in these temporary tables, to be counted and named.
CSV_REJECTS, CSV_SCANS = "lmsys_csv_rejects", "lmsys_csv_scans"
TABLE_READERS = {  # format -> the DuckDB table function reading it (path as the parameter)
    "parquet": "read_parquet(?)",
    "csv": (
        "read_csv(?, header=true, all_varchar=true, encoding='{encoding}', store_rejects=true, "
        f"rejects_table='{CSV_REJECTS}', rejects_scan='{CSV_SCANS}')"
    ),
}


class Part(NamedTuple):
    """Records to stage (see `_stage`): a relation of them as JSON records (SQL, params),
    and how a typed reader may read them instead: a JSON file's layout for DuckDB's typed
    JSON reader, or the SQL of the same rows as typed columns (the same params)."""

    relation_sql: str
    params: list
    json_layout: str | None = None
    table_sql: str | None = None
    lines_path: str | None = None  # a JSON-lines file: its repairable lines (see _stage)
    csv_path: str | None = None  # a CSV file: its rejected lines are counted (see _stage)


def _file_part(path: str, fmt: str, encoding: str | None = None) -> Part:
    if fmt in JSON_LAYOUTS:
        layout = JSON_LAYOUTS[fmt]
        records = (
            f"SELECT json AS rec FROM read_json_objects(?, format='{layout}', "
            f"ignore_errors=true, maximum_object_size={MAX_OBJECT_SIZE})"
        )
        lines_path = path if layout == "newline_delimited" else None
        return Part(records, [path], json_layout=layout, lines_path=lines_path)
    if fmt == "csv":
        reader = TABLE_READERS[fmt].format(encoding=encoding or _csv_encoding(path))
        return _table_part(reader, [path])._replace(csv_path=path)
    if fmt in TABLE_READERS:
        return _table_part(TABLE_READERS[fmt], [path])
    raise SourceError(f"unknown format {fmt!r}")


def _csv_encoding(path: str) -> str:
    """UTF-16 when the file starts with its byte-order mark (Excel's "Unicode text"),
    else UTF-8 (DuckDB skips a UTF-8 mark itself)."""
    with open(path, "rb") as handle:
        return "utf-16" if handle.read(2) in (b"\xff\xfe", b"\xfe\xff") else "utf-8"


def _table_part(reader: str, params: list) -> Part:
    """Rows of a table: JSON records are the rows turned into JSON."""
    records = f"SELECT to_json(t) AS rec FROM {reader} t"
    return Part(records, params, table_sql=f"SELECT * FROM {reader}")


@dataclass
class LoadResult:
    source: str
    read: int = 0
    loaded: int = 0
    already_loaded: int = 0
    over_limit: int = 0
    truncated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {**asdict(self), "skipped": dict(sorted(self.skipped.items()))}


@dataclass(frozen=True)
class FileState:
    """A local file as a load found it: a rerun reads it again only if one of these changed."""

    path: str
    size: int
    modified_ns: int
    reading: str  # the step's settings that decide what the file yields

    @classmethod
    def of(cls, path: str, step: LoadStep) -> FileState:
        stat = os.stat(path)
        settings = step.model_dump(by_alias=True, include=READING_SETTINGS)
        for name in LATER_READING_SETTINGS:  # only when set: older states stay as they were
            if getattr(step, name) is not None:
                settings[name] = getattr(step, name)
        reading = json.dumps(settings, sort_keys=True)
        return cls(os.path.abspath(path), stat.st_size, stat.st_mtime_ns, reading)


READING_SETTINGS = {"format", "schema_", "text_column", "id_column", "max_chars"}
LATER_READING_SETTINGS = ("encoding", "conversation_column")


def _ingest_batch(
    ws: Workspace,
    parts: list[Part],
    schemas: list[Schema],
    step: LoadStep,
    source_name: str,
    limit: int | None,
    result: LoadResult,
    file_state: FileState | None = None,
) -> int:
    """Classify, dedupe and insert one batch in one transaction; return the rows inserted.

    `limit` caps the rows inserted (new conversations only), taken in source order or,
    with `sample`, in a seeded random order. A one-file batch read whole (no new
    conversation left out by the limit) records its `file_state` in the same transaction.

    `parts` are read in order. Staging has no window functions so DuckDB classifies in
    parallel; the staged table's rowid keeps the source order.
    """
    con = ws.con
    with transaction(con):
        counts: dict[str | None, int] = {}
        for index, part in enumerate(parts):
            staged = _stage(con, schemas[index], part, first=index == 0)
            _note_csv_rejects(part, staged, step.encoding, result)
            for why, n in staged.items():
                counts[why] = counts.get(why, 0) + n
            repaired = counts.pop(REPAIRED, 0)
            if repaired:
                lines = "1 line holds" if repaired == 1 else f"{repaired:,} lines hold"
                result.notes.append(
                    f"{os.path.basename(part.lines_path)}: {lines} a raw control character "
                    "(a tab, say) inside a string: read with it escaped"
                )
            first_invalid, invalid = counts.pop(FIRST_INVALID, 0), counts.pop(INVALID_LINES, 0)
            if first_invalid:
                lines = "1 line is" if invalid == 1 else f"{invalid:,} lines are"
                result.notes.append(
                    f"{os.path.basename(part.lines_path)}: {lines} not valid JSON, skipped "
                    f"(the first is line {first_invalid:,})"
                )
        for why, n in con.execute(
            "SELECT coalesce(reason, part_reason), count(*) FROM staged GROUP BY ALL"
        ).fetchall():
            counts[why] = counts.get(why, 0) + n
        counts = {why: n for why, n in counts.items() if n}
        valid = counts.pop(None, 0)
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE firsts AS
            SELECT min(rowid) AS first_row FROM staged
            WHERE reason IS NULL AND part_reason IS NULL GROUP BY conversation_id
            """
        )
        unique = con.execute("SELECT count(*) FROM firsts").fetchall()[0][0]
        if valid > unique:
            counts["duplicate_in_source"] = valid - unique
        if step.sample:
            order_sql, order_params = "ORDER BY hash(conversation_id || ?)", [str(step.seed)]
        else:
            order_sql, order_params = ("ORDER BY ordinal", []) if limit is not None else ("", [])
        limit_sql, limit_params = ("", []) if limit is None else ("LIMIT ?", [limit])
        # `kept` holds positions only: a copy of the staged texts would double the memory.
        # Counting characters is slow (~1 s per 1M texts): only a text of more bytes than
        # `max_chars` can have more characters.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE kept AS
            SELECT rowid AS staged_row, rowid - (SELECT min(rowid) FROM staged) AS ordinal,
                   strlen(text) > ? AND length(text) > ? AS too_long
            FROM staged s
            WHERE rowid IN (SELECT first_row FROM firsts)
              AND NOT EXISTS (
                  SELECT 1 FROM queries q
                  WHERE q.source = ? AND q.conversation_id = s.conversation_id)
            {order_sql} {limit_sql}
            """,
            [step.max_chars, step.max_chars, source_name, *order_params, *limit_params],
        )
        inserted, truncated = con.execute(
            "SELECT count(*), count(*) FILTER (too_long) FROM kept"
        ).fetchall()[0]
        new_unique = inserted  # without a limit every new conversation is kept
        if limit is not None:
            new_unique = con.execute(
                """
                SELECT count(*) FROM firsts f JOIN staged s ON s.rowid = f.first_row
                WHERE NOT EXISTS (SELECT 1 FROM queries q
                                  WHERE q.source = ? AND q.conversation_id = s.conversation_id)
                """,
                [source_name],
            ).fetchall()[0][0]
        con.execute(
            """
            INSERT INTO queries
            SELECT (SELECT coalesce(max(query_id), 0) FROM queries) + ordinal + 1,
                   conversation_id, ?, model, language,
                   CASE WHEN too_long THEN left(text, ?) ELSE text END, turn, extra,
                   now()::TIMESTAMP
            FROM kept k JOIN staged s ON s.rowid = k.staged_row
            """,
            [source_name, step.max_chars],
        )
        for table in ("staged", "firsts", "kept"):
            con.execute(f"DROP TABLE {table}")
        if file_state is not None and inserted == new_unique:
            con.execute(
                "INSERT OR REPLACE INTO loaded_files VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                [
                    source_name,
                    file_state.path,
                    file_state.size,
                    file_state.modified_ns,
                    file_state.reading,
                    unique,
                ],
            )
    result.read += valid + sum(counts.values()) - counts.get("duplicate_in_source", 0)
    result.loaded += inserted
    result.already_loaded += unique - new_unique
    result.over_limit += new_unique - inserted
    result.truncated += truncated
    for why, n in counts.items():
        result.skipped[why] = result.skipped.get(why, 0) + n
    return inserted


def _note_csv_rejects(part: Part, counts: dict, encoding: str | None, result: LoadResult) -> None:
    """Say where a CSV's skipped lines are (taking the first lines out of `counts`, one
    part's), and what to do about bytes not in its encoding."""
    if part.csv_path is None:
        return
    name, encoding = os.path.basename(part.csv_path), encoding or _csv_encoding(part.csv_path)
    for why, says in (
        (
            "invalid_csv",
            "not valid CSV (more or fewer fields than the header: a text "
            "that holds the delimiter needs quotes)",
        ),
        ("invalid_encoding", f"not {encoding.upper().replace('LATIN', 'Latin')} text"),
    ):
        first = counts.pop(FIRST_LINE.format(why), None)
        if first is None:
            continue
        lines = "1 line is" if counts[why] == 1 else f"{counts[why]:,} lines are"
        note = f"{name}: {lines} {says}, skipped (the first is line {first:,})"
        if why == "invalid_encoding":
            other = "latin-1" if encoding != "latin-1" else "utf-16"
            note += f': if the file has another encoding, name it in [load] (encoding = "{other}")'
        result.notes.append(note)


REPAIRED = "__repaired"  # a count _stage returns: lines read again with escapes
FIRST_INVALID = "__first_invalid"  # ...and where the lines it still skips start
INVALID_LINES = "__invalid_lines"


def _stage(con: duckdb.DuckDBPyConnection, schema: Schema, part: Part, first: bool) -> dict:
    """Classify one part's records into `staged`; return the skip counts `staged` cannot
    tell by itself, under REPAIRED the lines read again (below), and under FIRST_INVALID
    and INVALID_LINES where the invalid lines still skipped start and how many they are.

    A typed table (Parquet, a hub batch) is classified from its columns when the prompt
    is text where the schema expects it. A JSON file (lines or an array) is read by
    DuckDB's typed reader (one parse per record instead of three) once a census of its
    keys allows it; its records without any field are counted by the census, by reason.
    Should the typed reader leave a record undecided (a conversation that is not a list
    of turns, a record whose fields are all null), the file is classified again from its
    records as JSON. Everything else is read as JSON records.

    A JSON-lines file with invalid lines has those that hold a raw control character
    inside a string (which DuckDB refuses, and Python's lenient parser reads) read again
    with it escaped, after the file's other records. A CSV file's lines that do not parse
    are counted by reason, with the first of each under FIRST_LINE.
    """
    if part.csv_path is not None:
        _drop_csv_rejects(con)  # what reads before staging (a first look) recorded
        return {**_stage_part(con, schema, part, first), **_csv_rejects(con)}
    start = 0 if first else _next_row(con)
    counts = _stage_part(con, schema, part, first)
    if part.lines_path is None:
        return counts
    census_counted = counts.get("invalid_json", 0)  # else they are rows of `staged`
    staged_invalid = "FROM staged WHERE reason = 'invalid_json' AND rowid >= ?"
    invalid = (
        census_counted
        or (con.execute(f"SELECT count(*) {staged_invalid}", [start]).fetchall()[0][0])
    )
    path = Path(part.lines_path)
    if not invalid or (invalid == 1 and last_line_is_broken(path)):  # a file cut mid-line
        return counts
    lines = repaired_lines(path)
    if len(lines) < invalid and (first := first_invalid_line(path)) is not None:
        counts = {**counts, FIRST_INVALID: first, INVALID_LINES: invalid - len(lines)}
    if not lines:
        return counts
    if census_counted:
        counts["invalid_json"] -= len(lines)
    else:
        con.execute(
            f"DELETE FROM staged WHERE rowid IN (SELECT rowid {staged_invalid} LIMIT ?)",
            [start, len(lines)],
        )
    repaired = Part("SELECT json(unnest(?::VARCHAR[])) AS rec", [lines])
    _stage_part(con, schema, repaired, first=False)
    return {**counts, REPAIRED: len(lines)}


FIRST_LINE = "__first_line_{}"  # a CSV's first line skipped for a reason (see _stage)
CSV_ENCODING_ERRORS = ("INVALID ENCODING", "INVALID UNICODE")  # DuckDB's names, new and old


def _csv_rejects(con: duckdb.DuckDBPyConnection) -> dict:
    """The lines the CSV reader skipped since the rejects tables were dropped, by reason
    (`invalid_encoding` before any other error of the line), and the first of each."""
    try:
        rows = con.execute(
            f"""
            SELECT why, count(*), min(line) FROM (
                SELECT line, CASE WHEN bool_or(error_type IN ?) THEN 'invalid_encoding'
                                  ELSE 'invalid_csv' END AS why
                FROM {CSV_REJECTS} GROUP BY line)
            GROUP BY why
            """,
            [list(CSV_ENCODING_ERRORS)],
        ).fetchall()
    except duckdb.CatalogException:  # no line was rejected: the table was never made
        return {}
    finally:
        _drop_csv_rejects(con)
    counts = {why: n for why, n, _ in rows}
    return counts | {FIRST_LINE.format(why): first for why, _, first in rows}


def _drop_csv_rejects(con: duckdb.DuckDBPyConnection) -> None:
    for table in (CSV_REJECTS, CSV_SCANS):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _next_row(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT coalesce(max(rowid) + 1, 0) FROM staged").fetchall()[0][0]


def _stage_part(con: duckdb.DuckDBPyConnection, schema: Schema, part: Part, first: bool) -> dict:
    head = "CREATE OR REPLACE TEMP TABLE staged AS" if first else "INSERT INTO staged"
    start = 0 if first else _next_row(con)
    if part.table_sql is not None:
        typed = typed_table_sql(con, schema, part.table_sql, part.params)
        if typed is not None:
            typed_sql, typed_params = typed
            con.execute(f"{head} {typed_sql}", [*typed_params, *part.params])
            return {}
    if part.json_layout is not None:
        census = key_census(con, part.relation_sql, part.params)
        typed = typed_json_sql(schema, census, part.json_layout, MAX_OBJECT_SIZE)
        if typed is not None:
            typed_sql, typed_params = typed
            con.execute(f"{head} {typed_sql}", [*typed_params, *part.params])
            unreadable, undecided = con.execute(
                "SELECT count(*) FILTER (reason = ?), count(*) FILTER (reason = ?) "
                "FROM staged WHERE rowid >= ?",
                [UNREADABLE, UNDECIDED, start],
            ).fetchall()[0]
            if not undecided and unreadable == census.keyless:
                missing = "no_user_turn" if schema.text_key is None else "empty_text"
                return {
                    UNREADABLE: -unreadable,
                    "invalid_json": census.invalid_json,
                    "wrong_type": census.not_object,
                    missing: census.empty_object,
                }
            if not first:
                con.execute("DELETE FROM staged WHERE rowid >= ?", [start])
    classify, classify_params = classify_sql(schema, part.relation_sql)
    con.execute(f"{head} {classify}", [*classify_params, *part.params])
    return {}


def _openable_files(
    ws: Workspace, source: LocalSource, step: LoadStep, result: LoadResult, progress
) -> list:
    """The source's files DuckDB can open. One bad file of a folder is skipped with a note
    (the others load); a lone file, or a folder of bad files, is a one-line error. A
    cut-off JSON array is checked when its copy is made (see `_read_batch`)."""
    good, bad = [], []
    for file in source.files:
        if file.cut_off:
            good.append(file)
            continue
        try:
            part = _file_part(str(file.path), file.fmt, step.encoding)
            ws.con.execute(f"SELECT 1 FROM ({part.relation_sql}) LIMIT 1", part.params)
            good.append(file)
        except duckdb.Error as error:
            if _by_records(file, error):
                good.append(replace(file, malformed=True))
                continue
            bad.append(f"cannot read {file.path} as {file.fmt}: {_first_line(error)}")
    if bad and not good:
        raise SourceError(bad[0] + (f" (and {len(bad) - 1} more files)" if len(bad) > 1 else ""))
    for message in bad:
        _skip_file(result, progress, message)
    return good


def _by_records(file: SourceFile, error: Exception) -> bool:
    """Whether DuckDB refused a JSON array for a record it cannot parse (a raw tab inside
    a string, say): read record by record instead, as a cut-off array is, rather than
    losing the file for one record."""
    return (
        file.fmt == "json"
        and not (file.cut_off or file.malformed)
        and "Malformed JSON" in str(error)
    )


def _skip_file(result: LoadResult, progress, message: str) -> None:
    result.notes.append(f"skipped a file: {message}")
    result.skipped["unreadable_file"] = result.skipped.get("unreadable_file", 0) + 1
    progress(Progress("load", 0, None, f"skipped a file: {message}"))


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def load(ws: Workspace, step: LoadStep, progress: ProgressSink = null_sink) -> LoadResult:
    """Run a load step and return what it read, loaded and skipped (by reason).

    `limit` caps how many queries the source holds in the workspace, so a rerun of the
    same step adds nothing and an interrupted one finishes the job.

    Raises:
        SourceError: the source is missing, unreadable, of unknown format or schema, or gated.
    """
    source = resolve(step.source, step.format, step.name)
    result = LoadResult(source=source.name)
    remaining = None
    if step.limit is not None:
        held = ws.con.execute(
            "SELECT count(*) FROM queries WHERE source = ?", [source.name]
        ).fetchall()[0][0]
        remaining = step.limit - held
        if remaining <= 0:
            result.already_loaded = held
            result.notes.append(
                f"{source.name} already holds {held:,} queries (limit {step.limit:,})"
            )
            return result
    load_id = uuid.uuid4().hex[:12]
    ws.con.execute(
        "INSERT INTO loads VALUES (?, ?, ?, ?, NULL, 'running', now()::TIMESTAMP, NULL)",
        [load_id, source.name, source.location, step.model_dump_json(by_alias=True)],
    )
    progress(Progress("load", 0, None, f"reading {source.location}"))
    try:
        with _MemoryCap(ws.con) as cap:
            _load_source(ws, source, step, remaining, result, progress, cap)
    except BaseException as error:
        status = "cancelled" if is_interruption(error) else "failed"
        _finish(ws, load_id, status, result)
        raise
    _finish(ws, load_id, "complete", result)
    return result


def _load_source(ws, source, step, remaining, result, progress, cap: _MemoryCap) -> None:
    """Local files (one transaction each) or a Hugging Face stream (one per batch)."""
    if isinstance(source, LocalSource):
        remove_copies(ws.tmp_dir)
        files = _openable_files(ws, source, step, result, progress)
        _load_local(ws, source, files, step, remaining, result, progress, cap)
    else:
        _load_hub(ws, source, step, remaining, result, progress, cap)


class _MemoryCap:
    """DuckDB's memory limit lowered to LOAD_MEMORY_MB for a load (never raised), and
    lifted for a batch that runs out within it: one pasted record of tens of MB takes
    more memory to classify than a million short ones."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.before = self._current()
        self.active = _megabytes(self.before) > LOAD_MEMORY_MB

    def __enter__(self) -> _MemoryCap:
        if self.active:
            self._set(f"{LOAD_MEMORY_MB}MB")
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            self._restore()

    def ingest(self, *args) -> int:
        """`_ingest_batch(*args)` within the cap, once more without it if DuckDB runs out
        of memory (the batch rolled back: nothing was counted or written)."""
        try:
            return _ingest_batch(*args)
        except duckdb.OutOfMemoryException:
            if not self.active:
                raise
        self._restore()
        try:
            return _ingest_batch(*args)
        finally:
            self._set(f"{LOAD_MEMORY_MB}MB")

    def _current(self) -> str:
        return self.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    def _set(self, limit: str) -> None:
        self.con.execute(f"SET memory_limit = '{limit}'")

    def _restore(self) -> None:
        """The limit as it was. DuckDB shows it rounded ('18.8 GiB'): set back from that
        text it would shrink a little with every load, so the default is RESET instead."""
        self.con.execute("RESET memory_limit")
        if self._current() != self.before:
            self._set(self.before)


def _megabytes(setting: str) -> float:
    """'18.6 GiB' -> 19046.4 (MiB and MB alike: only a comparison needs it)."""
    found = re.match(r"\s*([0-9.]+)\s*([KMGT]?)i?B", setting, re.IGNORECASE)
    if not found:
        return float("inf")
    scale = {"": 2**-20, "K": 2**-10, "M": 1, "G": 2**10, "T": 2**20}[found[2].upper()]
    return float(found[1]) * scale


def _load_local(
    ws: Workspace,
    source: LocalSource,
    files: list[SourceFile],
    step: LoadStep,
    remaining: int | None,
    result: LoadResult,
    progress: ProgressSink,
    cap: _MemoryCap,
) -> None:
    """Load file by file, one transaction each, so an interrupted folder load keeps the
    files it finished (a file that fails mid-way is skipped with a note when others
    remain). A file unchanged since a load read it whole is not read again. A random
    sample must see every file at once: one transaction. Each file's schema is told by its
    own records, so a folder may mix LMSYS, ShareGPT and OpenAI files."""
    batches = [files] if step.sample else [[file] for file in files]
    unchanged: list[str] = []
    read_one = False  # until a file is read, a failure is the load's (a wrong text_column)

    def ingest(batch: list[SourceFile]) -> int:
        with _read_batch(ws, batch, step, result, progress) as parts:
            schemas = [detect_schema(ws.con, p.relation_sql, p.params, step) for p in parts]
            return cap.ingest(ws, parts, schemas, step, source.name, remaining, result, state)

    for done, batch in enumerate(batches, start=1):
        state = None if step.sample else FileState.of(str(batch[0].path), step)
        held = _held_if_unchanged(ws, source.name, state) if state else None
        if held is not None:
            result.already_loaded += held
            unchanged.append(state.path)
            progress(Progress("load", done, len(batches), f"{state.path} is unchanged"))
            continue
        try:
            try:
                inserted = ingest(batch)
            except duckdb.Error as error:  # a bad record past what the first look read
                if len(batch) != 1 or not _by_records(batch[0], error):
                    raise
                inserted = ingest([replace(batch[0], malformed=True)])  # rolled back first
        except (duckdb.Error, SourceError) as error:
            if len(batches) == 1 or not read_one:
                if isinstance(error, SourceError):
                    raise
                raise SourceError(f"cannot load {source.location}: {_first_line(error)}") from None
            _skip_file(result, progress, f"cannot load {batch[0].path}: {_first_line(error)}")
            continue
        read_one = True
        progress(Progress("load", done, len(batches)))
        if remaining is not None:
            remaining -= inserted
            if remaining <= 0:
                break
    if len(unchanged) == 1:
        result.notes.append(f"{unchanged[0]} is unchanged since a load read it: not read again")
    elif unchanged:
        result.notes.append(
            f"{len(unchanged)} files ({unchanged[0]}, …) are unchanged since a load read them: "
            "not read again"
        )


@contextmanager
def _read_batch(
    ws: Workspace, batch: list[SourceFile], step: LoadStep, result: LoadResult, progress
) -> Iterator[list[Part]]:
    """The batch's files as parts to stage; a cut-off JSON array through its copy, which
    goes once the batch is read."""
    with ExitStack() as copies:
        parts = []
        for file in batch:
            path, fmt, note = copies.enter_context(readable(file, ws.tmp_dir))
            if note:
                result.notes.append(note)
                progress(Progress("load", 0, None, note))
            parts.append(_file_part(path, fmt, step.encoding))
        yield parts


def _held_if_unchanged(ws: Workspace, source_name: str, state: FileState) -> int | None:
    """The conversations a file gave when a load last read it whole, if it is unchanged."""
    rows = ws.con.execute(
        "SELECT held FROM loaded_files WHERE source = ? AND path = ? AND size = ? "
        "AND modified_ns = ? AND reading = ?",
        [source_name, state.path, state.size, state.modified_ns, state.reading],
    ).fetchall()
    return rows[0][0] if rows else None


def _finish(ws: Workspace, load_id: str, status: str, result: LoadResult) -> None:
    ws.con.execute(
        "UPDATE loads SET status = ?, counts = ?, finished_at = now()::TIMESTAMP WHERE load_id = ?",
        [status, json.dumps(result.as_dict()), load_id],
    )


def _load_hub(
    ws: Workspace,
    source: HubSource,
    step: LoadStep,
    remaining: int | None,
    result: LoadResult,
    progress: ProgressSink,
    cap: _MemoryCap,
) -> None:
    """Stream a Hugging Face dataset in batches, committing each one."""
    if step.sample:
        raise SourceError("sample = true needs a local source; use limit for a hub stream")
    part = _table_part("hub_batch", [])
    schema = None
    for batch in hub.iter_hub_batches(source.location, step.split):
        ws.con.register("hub_batch", batch)
        try:
            if schema is None:
                schema = detect_schema(ws.con, part.relation_sql, [], step)
            inserted = cap.ingest(ws, [part], [schema], step, source.name, remaining, result)
        finally:
            ws.con.unregister("hub_batch")
        progress(Progress("load", result.read, None))
        if remaining is not None:
            remaining -= inserted
            if remaining <= 0:
                break
