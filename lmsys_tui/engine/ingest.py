"""Load sources into the `queries` table: the first user turn of each conversation.

All heavy lifting is SQL in DuckDB, one transaction per batch: every record arrives as
JSON, is classified (kept, or skipped with a reason), deduplicated within the source and
against what is already loaded, and inserted. A rerun of the same load adds
nothing (a local file unchanged since a load read it whole is not read again); an
interrupted one rolls back its open batch and the rerun picks up from there.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import asdict, dataclass, field, replace

import duckdb

from . import hub
from .errors import JobCancelled, SourceError
from .progress import Progress, ProgressSink, null_sink
from .sources import HubSource, LocalSource, resolve
from .specs import LoadStep
from .store import transaction
from .workspace import Workspace

_BLANK = r"[\s\p{Z}\x{200B}\x{FEFF}]*"  # RE2: a prompt of only these is empty
# DuckDB's memory during a load: past it, staged rows spill to disk. A 1M-row file then
# peaks at ~1.3 GB instead of ~2.1 GB for ~0.4 s more (docs/benchmarks.md, "Ingest").
LOAD_MEMORY_MB = 1200


@dataclass(frozen=True)
class Schema:
    """Where the fields of one record live (JSON paths are built from these keys)."""

    name: str
    conversation_key: str | None
    role_key: str
    content_key: str
    user_roles: tuple[str, ...]
    id_key: str | None
    text_key: str | None = None


LMSYS = Schema("lmsys", "conversation", "role", "content", ("user",), "conversation_id")
SHAREGPT = Schema("sharegpt", "conversations", "from", "value", ("human", "user"), "id")


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
        reading = json.dumps(settings, sort_keys=True)
        return cls(os.path.abspath(path), stat.st_size, stat.st_mtime_ns, reading)


READING_SETTINGS = {"format", "schema_", "text_column", "id_column", "max_chars"}


def _path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _with_id(schema: Schema, id_column: str | None) -> Schema:
    return replace(schema, id_key=id_column) if id_column else schema


def text_schema(text_column: str, id_column: str | None) -> Schema:
    return Schema("text", None, "", "", (), id_column, text_key=text_column)


def detect_schema(
    con: duckdb.DuckDBPyConnection, relation_sql: str, params: list, step: LoadStep
) -> Schema:
    """Pick the schema from the step, or from the keys of the first valid records."""
    if step.schema_ == "text" or (step.text_column and step.schema_ is None):
        if not step.text_column:
            raise SourceError('schema = "text" needs text_column = "<column with the prompt>"')
        keys = _first_keys(con, relation_sql, params)
        if step.text_column not in keys:
            raise SourceError(
                f"no column {step.text_column!r} in the source; its columns are "
                f"{', '.join(sorted(keys)[:20])}"
            )
        return text_schema(step.text_column, step.id_column)
    if step.schema_ in ("lmsys", "sharegpt"):
        return _with_id(LMSYS if step.schema_ == "lmsys" else SHAREGPT, step.id_column)
    keys = _first_keys(con, relation_sql, params)
    if "conversation" in keys:
        return _with_id(LMSYS, step.id_column)
    if "conversations" in keys:
        return _with_id(SHAREGPT, step.id_column)
    shown = ", ".join(sorted(keys)[:12]) or "none"
    raise SourceError(
        "cannot tell the schema: no `conversation` (LMSYS) or `conversations` (ShareGPT) "
        f"field; name the prompt column with text_column = ... (columns: {shown})"
    )


def _first_keys(con: duckdb.DuckDBPyConnection, relation_sql: str, params: list) -> set[str]:
    """The keys of the first 100 object records.

    Raises:
        SourceError: the source holds no records at all.
    """
    rows = con.execute(
        f"SELECT DISTINCT unnest(json_keys(rec)) FROM (SELECT rec FROM ({relation_sql}) "
        "WHERE json_type(rec) = 'OBJECT' LIMIT 100)",
        params,
    ).fetchall()
    if not rows and not con.execute(f"SELECT 1 FROM ({relation_sql}) LIMIT 1", params).fetchall():
        where = params[0] if params else "the source"
        raise SourceError(f"{where} holds no records (the file is empty)")
    return {row[0] for row in rows}


def _classify_sql(schema: Schema, relation_sql: str) -> tuple[str, list]:
    """SQL yielding one row per record, in source order: skip reason (NULL = keep), fields.

    Built as nested SELECTs so each JSON value is extracted once (DuckDB re-evaluates a
    column alias at every use in the same SELECT), and the record's fields come out of one
    multi-path `json_extract`, the conversation's first turn with them. When that turn is
    the user's and the record has a turn count (LMSYS rows), it is the prompt: nothing
    more is parsed. Otherwise the roles and the first user turn are read from the record
    by path (a CASE branch DuckDB evaluates only for those rows); a conversation is never
    copied out whole (its long replies cost a third of the load), and one stored as a JSON
    string is decoded first and read the same way.
    """
    conversation = _path(schema.conversation_key) if schema.conversation_key else ""
    top_paths = [
        _path(schema.text_key) if schema.text_key else f"{conversation}[0]",
        _path(schema.id_key) if schema.id_key else "$.__no_id_column__",
        "$.model",
        "$.language",
        "$.turn",
    ]
    fields_layer = """
        SELECT rec, left(ltrim(rec::VARCHAR), 1) = '{{' AS is_object,
               f[1] AS top, f[2] AS raw_id, f[3] AS model, f[4] AS language, f[5] AS turn
        FROM (SELECT rec, json_extract(rec, ?::VARCHAR[]) AS f FROM ({}))"""
    if schema.text_key is not None:
        conversation_layer = "SELECT *, top AS content, 1 AS user_turns FROM ({})"
        conversation_params: list = []
        conversation_checks = ""
    else:
        role, content = _path(schema.role_key)[2:], _path(schema.content_key)[2:]
        conversation_layer = """
            SELECT *,
                CASE WHEN fast THEN json_extract(top, ?)
                     ELSE json_extract(
                        coalesce(decoded, rec),
                        CASE WHEN decoded IS NULL THEN ? ELSE '$' END
                            || '[' || (first_user_index - 1) || '].' || ?) END AS content
            FROM (
                SELECT *,
                    CASE WHEN fast THEN 1 ELSE list_position(is_user, true) END
                        AS first_user_index,
                    len(list_filter(is_user, lambda u: u)) AS user_turns
                FROM (
                    SELECT *, list_transform(roles, lambda r: list_contains(?, r)) AS is_user
                    FROM (
                        SELECT *,
                            CASE WHEN fast OR conv_type <> 'ARRAY' THEN NULL
                                 WHEN decoded IS NULL THEN json_extract_string(rec, ?)
                                 ELSE json_extract_string(decoded, ?) END AS roles
                        FROM (
                            SELECT *,
                                CASE WHEN top_type = 'VARCHAR'
                                     THEN coalesce(json_type(decoded), 'VARCHAR')
                                     ELSE top_type END AS conv_type
                            FROM (
                                SELECT *,
                                    CASE WHEN top_type = 'VARCHAR'
                                         THEN TRY_CAST(json_extract_string(rec, ?) AS JSON)
                                    END AS decoded
                                FROM (
                                    SELECT *,
                                        CASE WHEN fast THEN 'ARRAY' ELSE json_type(rec, ?) END
                                            AS top_type
                                    FROM (
                                        SELECT *,
                                            coalesce(list_contains(?, top ->> ?)
                                                AND TRY_CAST(turn ->> '$' AS INTEGER)
                                                    IS NOT NULL, false) AS fast
                                        FROM ({}))))))))"""
        conversation_params = [
            f"$.{content}",
            conversation,
            content,
            list(schema.user_roles),
            f"{conversation}[*].{role}",
            f"$[*].{role}",
            conversation,
            conversation,
            list(schema.user_roles),
            f"$.{role}",
        ]
        conversation_checks = """
                WHEN conv_type IS NULL OR conv_type = 'NULL' THEN 'no_user_turn'
                WHEN conv_type <> 'ARRAY' THEN 'wrong_type'
                WHEN first_user_index IS NULL OR first_user_index = 0 THEN 'no_user_turn'"""
    part = "regexp_extract(full_id, '^(.+)_([0-9]+)$', 2)" if schema.name == "sharegpt" else "''"
    missing_content = "'no_user_turn'" if schema.text_key is None else "'empty_text'"
    reason_layer = f"""
        SELECT *,
            CASE
                WHEN rec IS NULL THEN 'invalid_json'
                WHEN NOT is_object THEN 'wrong_type'
                {conversation_checks}
                WHEN content IS NULL OR content_type = 'NULL' THEN {missing_content}
                WHEN content_type <> 'VARCHAR' THEN 'wrong_type'
                WHEN regexp_full_match(text, ?) THEN 'empty_text'
                WHEN raw_id IS NOT NULL
                     AND json_type(raw_id) NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'NULL')
                     THEN 'wrong_type'
            END AS reason,
            coalesce(raw_id ->> '$', 'md5:' || md5(text)) AS full_id
        FROM (
            SELECT *, json_type(content) AS content_type, content ->> '$' AS text
            FROM ({{}}))"""
    output_layer = f"""
        SELECT
            reason, text,
            CASE WHEN part = '' THEN full_id
                 ELSE regexp_extract(full_id, '^(.+)_([0-9]+)$', 1) END AS conversation_id,
            CASE WHEN part NOT IN ('', '0') THEN 'continuation' END AS part_reason,
            model ->> '$' AS model,
            language ->> '$' AS language,
            coalesce(TRY_CAST(turn ->> '$' AS INTEGER), user_turns) AS turn,
            json_merge_patch(rec, ?) AS extra
        FROM (SELECT *, {part} AS part FROM ({{}}))
    """
    # Innermost first: the relation, then the fields, conversation, reason and output layers.
    query = relation_sql
    for layer in (fields_layer, conversation_layer, reason_layer, output_layer):
        query = layer.format(query)
    # Placeholders appear outermost first in the text, so their values go in that order.
    params = [_extra_patch(schema), _BLANK, *conversation_params, top_paths]
    return query, params


def _extra_patch(schema: Schema) -> str:
    """A JSON merge patch that drops the fields stored in their own columns."""
    keys = ["model", "language", "turn"]
    keys += [k for k in (schema.conversation_key, schema.id_key, schema.text_key) if k]
    return json.dumps({key: None for key in keys})


def _ingest_batch(
    ws: Workspace,
    parts: list[tuple[str, list]],
    schema: Schema,
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

    `parts` are relations (SQL, params) read in order. Staging has no window functions so
    DuckDB classifies in parallel; the staged table's rowid keeps the source order.
    """
    con = ws.con
    with transaction(con):
        for index, (relation_sql, relation_params) in enumerate(parts):
            classify, classify_params = _classify_sql(schema, relation_sql)
            head = "CREATE OR REPLACE TEMP TABLE staged AS" if index == 0 else "INSERT INTO staged"
            con.execute(f"{head} {classify}", [*classify_params, *relation_params])
        counts = dict(
            con.execute(
                "SELECT coalesce(reason, part_reason), count(*) FROM staged GROUP BY ALL"
            ).fetchall()
        )
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
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE kept AS
            SELECT rowid AS staged_row, rowid - (SELECT min(rowid) FROM staged) AS ordinal
            FROM staged s
            WHERE rowid IN (SELECT first_row FROM firsts)
              AND NOT EXISTS (
                  SELECT 1 FROM queries q
                  WHERE q.source = ? AND q.conversation_id = s.conversation_id)
            {order_sql} {limit_sql}
            """,
            [source_name, *order_params, *limit_params],
        )
        new_unique = con.execute(
            """
            SELECT count(*) FROM firsts f JOIN staged s ON s.rowid = f.first_row
            WHERE NOT EXISTS (SELECT 1 FROM queries q
                              WHERE q.source = ? AND q.conversation_id = s.conversation_id)
            """,
            [source_name],
        ).fetchall()[0][0]
        inserted, truncated = con.execute(
            "SELECT count(*), count(*) FILTER (length(text) > ?) "
            "FROM kept k JOIN staged s ON s.rowid = k.staged_row",
            [step.max_chars],
        ).fetchall()[0]
        con.execute(
            """
            INSERT INTO queries
            SELECT (SELECT coalesce(max(query_id), 0) FROM queries) + ordinal + 1,
                   conversation_id, ?, model, language, left(text, ?), turn, extra,
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


def _file_relation(fmt: str) -> str:
    """SQL reading one file (path as the parameter) as one JSON column `rec`."""
    if fmt in ("jsonl", "json"):
        layout = "newline_delimited" if fmt == "jsonl" else "array"
        return (
            f"SELECT json AS rec FROM read_json_objects(?, format='{layout}', "
            "ignore_errors=true, maximum_object_size=33554432)"
        )
    if fmt == "parquet":
        return "SELECT to_json(t) AS rec FROM read_parquet(?) t"
    if fmt == "csv":
        return "SELECT to_json(t) AS rec FROM read_csv(?, header=true, all_varchar=true) t"
    raise SourceError(f"unknown format {fmt!r}")


def _local_parts(files: list) -> list[tuple[str, list]]:
    return [(_file_relation(fmt), [str(path)]) for path, fmt in files]


def _readable_files(ws: Workspace, source: LocalSource, result: LoadResult, progress) -> list:
    """The source's files DuckDB can open. One bad file of a folder is skipped with a note
    (the others load); a lone file, or a folder of bad files, is a one-line error."""
    good, bad = [], []
    for path, fmt in source.files:
        try:
            ws.con.execute(f"SELECT 1 FROM ({_file_relation(fmt)}) LIMIT 1", [str(path)])
            good.append((path, fmt))
        except duckdb.Error as error:
            bad.append(f"cannot read {path} as {fmt}: {_first_line(error)}")
    if bad and not good:
        raise SourceError(bad[0] + (f" (and {len(bad) - 1} more files)" if len(bad) > 1 else ""))
    for message in bad:
        _skip_file(result, progress, message)
    return good


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
    source = resolve(step.source, step.format, step.name, ws.tmp_dir)
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
        status = "cancelled" if isinstance(error, (KeyboardInterrupt, JobCancelled)) else "failed"
        _finish(ws, load_id, status, result)
        raise
    _finish(ws, load_id, "complete", result)
    return result


def _load_source(ws, source, step, remaining, result, progress, cap: _MemoryCap) -> None:
    """Local files (one transaction each) or a Hugging Face stream (one per batch)."""
    if isinstance(source, LocalSource):
        result.notes += source.notes
        for note in source.notes:
            progress(Progress("load", 0, None, note))
        files = _readable_files(ws, source, result, progress)
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
    files: list,
    step: LoadStep,
    remaining: int | None,
    result: LoadResult,
    progress: ProgressSink,
    cap: _MemoryCap,
) -> None:
    """Load file by file, one transaction each, so an interrupted folder load keeps the
    files it finished (a file that fails mid-way is skipped with a note when others
    remain). A file unchanged since a load read it whole is not read again. A random
    sample must see every file at once: one transaction."""
    parts = _local_parts(files)
    schema = detect_schema(ws.con, *parts[0], step)
    batches = [parts] if step.sample else [[part] for part in parts]
    unchanged: list[str] = []
    for done, batch in enumerate(batches, start=1):
        state = None if step.sample else FileState.of(batch[0][1][0], step)
        held = _held_if_unchanged(ws, source.name, state) if state else None
        if held is not None:
            result.already_loaded += held
            unchanged.append(state.path)
            progress(Progress("load", done, len(batches), f"{state.path} is unchanged"))
            continue
        try:
            inserted = cap.ingest(ws, batch, schema, step, source.name, remaining, result, state)
        except duckdb.Error as error:
            if len(batches) == 1:
                raise SourceError(f"cannot load {source.location}: {_first_line(error)}") from None
            _skip_file(result, progress, f"cannot load {batch[0][1][0]}: {_first_line(error)}")
            continue
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
    relation = "SELECT to_json(t) AS rec FROM hub_batch t"
    schema = None
    for batch in hub.iter_hub_batches(source.location, step.split):
        ws.con.register("hub_batch", batch)
        try:
            if schema is None:
                schema = detect_schema(ws.con, relation, [], step)
            inserted = cap.ingest(
                ws, [(relation, [])], schema, step, source.name, remaining, result
            )
        finally:
            ws.con.unregister("hub_batch")
        progress(Progress("load", result.read, None))
        if remaining is not None:
            remaining -= inserted
            if remaining <= 0:
                break
