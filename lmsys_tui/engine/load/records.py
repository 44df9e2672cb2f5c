"""The SQL that turns source records into staged rows: a skip reason, or the prompt and its
fields (conversation id, model, language, turn, the record's other fields as `extra`).

Two readers apply the same rules. `classify_sql` takes any relation of records as JSON
text (a file read as JSON objects, Parquet or CSV rows turned into JSON, a hub batch).
`typed_json_sql` has DuckDB's typed reader parse a JSON file (lines or an array) once,
after a `KeyCensus` of the file named its keys (two parses and a merge patch fewer: a 1M-line load
~15 % faster, docs/benchmarks.md), and hands back to `classify_sql` whatever it cannot
decide (a conversation that is not a list of turns).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import duckdb

from ..errors import SourceError
from ..specs import LoadStep

_BLANK = r"[\s\p{Z}\x{200B}\x{FEFF}]*"  # RE2: a prompt of only these is empty


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


USER_ROLES = ("user", "human")  # datasets name the person either way, in any schema
LMSYS = Schema("lmsys", "conversation", "role", "content", USER_ROLES, "conversation_id")
SHAREGPT = Schema("sharegpt", "conversations", "from", "value", USER_ROLES, "id")
# OpenAI's chat format: fine-tuning files, API logs, many hub datasets (UltraChat, ...).
OPENAI = Schema("openai", "messages", "role", "content", USER_ROLES, "id")
SCHEMAS = {schema.name: schema for schema in (LMSYS, SHAREGPT, OPENAI)}


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
        _require_column(_first_keys(con, relation_sql, params), step.text_column)
        return text_schema(step.text_column, step.id_column)
    if step.conversation_column:
        _require_column(_first_keys(con, relation_sql, params), step.conversation_column)
        schema = SCHEMAS.get(step.schema_, OPENAI)
        schema = replace(schema, conversation_key=step.conversation_column)
        return _with_id(_turn_fields(con, relation_sql, params, schema), step.id_column)
    if step.schema_ in SCHEMAS:
        schema = SCHEMAS[step.schema_]
        return _with_id(_turn_fields(con, relation_sql, params, schema), step.id_column)
    keys = _first_keys(con, relation_sql, params)
    for schema in SCHEMAS.values():
        if schema.conversation_key in keys:
            return _with_id(_turn_fields(con, relation_sql, params, schema), step.id_column)
    shown = ", ".join(sorted(keys)[:12]) or "none"
    raise SourceError(
        "cannot tell the schema: no `conversation` (LMSYS), `conversations` (ShareGPT) or "
        "`messages` (OpenAI) field; name the field with the turns (conversation_column = "
        f"...) or the prompt column (text_column = ...) (columns: {shown})"
    )


def _require_column(keys: set[str], column: str) -> None:
    if column not in keys:
        raise SourceError(
            f"no column {column!r} in the source; its columns are {', '.join(sorted(keys)[:20])}"
        )


def _turn_fields(
    con: duckdb.DuckDBPyConnection, relation_sql: str, params: list, schema: Schema
) -> Schema:
    """The schema with the names its turns use: datasets mix ShareGPT's `from`/`value`
    with `role`/`content` under either conversation field. Told by the first turns of
    the first 100 records; the schema's own names unless only the others are there."""
    first_turn = _literal(_path(schema.conversation_key) + "[0]")
    rows = con.execute(
        f"SELECT DISTINCT unnest(json_keys(rec, {first_turn})) FROM (SELECT rec FROM "
        f"({relation_sql}) WHERE json_type(rec, {first_turn}) = 'OBJECT' LIMIT 100)",
        params,
    ).fetchall()
    keys = {row[0] for row in rows}
    if schema.role_key in keys or schema.content_key in keys:
        return schema
    for role, content in (("role", "content"), ("from", "value")):
        if role in keys and content in keys:
            return replace(schema, role_key=role, content_key=content)
    return schema


def _first_keys(con: duckdb.DuckDBPyConnection, relation_sql: str, params: list) -> set[str]:
    """The keys of the first 100 object records.

    Raises:
        SourceError: the source holds no records at all, or no record with a field.
    """
    rows = con.execute(
        f"SELECT DISTINCT unnest(json_keys(rec)) FROM (SELECT rec FROM ({relation_sql}) "
        "WHERE json_type(rec) = 'OBJECT' LIMIT 100)",
        params,
    ).fetchall()
    if not rows:
        where = params[0] if params else "the source"
        if not con.execute(f"SELECT 1 FROM ({relation_sql}) LIMIT 1", params).fetchall():
            raise SourceError(f"{where} holds no records (the file is empty)")
        raise SourceError(
            f"{where}: no record is an object with fields (invalid JSON, or arrays, strings, "
            "numbers or {}); a chat log has one object per conversation"
        )
    return {row[0] for row in rows}


def classify_sql(schema: Schema, relation_sql: str) -> tuple[str, list]:
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
                        conv_src, conv_path || '[' || (first_user_index - 1) || '].' || ?)
                END AS content
            FROM (
                SELECT *,
                    CASE WHEN fast THEN 1 ELSE list_position(is_user, true) END
                        AS first_user_index,
                    len(list_filter(is_user, lambda u: u)) AS user_turns
                FROM (
                    SELECT *, list_transform(roles, lambda r: list_contains(?, r)) AS is_user
                    FROM (
                        SELECT *,
                            CASE WHEN found_roles IS NULL
                                   OR len(found_roles) = json_array_length(conv_src, conv_path)
                                 THEN found_roles
                                 ELSE list_transform(
                                    range(json_array_length(conv_src, conv_path)::BIGINT),
                                    lambda i: json_extract_string(
                                        conv_src, conv_path || '[' || i || '].' || ?))
                            END AS roles
                        FROM (
                            SELECT *,
                                CASE WHEN fast OR conv_type <> 'ARRAY' THEN NULL
                                     WHEN decoded IS NULL THEN json_extract_string(rec, ?)
                                     ELSE json_extract_string(decoded, ?)
                                END AS found_roles
                            FROM (
                                SELECT *,
                                    CASE WHEN top_type = 'VARCHAR'
                                         THEN coalesce(json_type(decoded), 'VARCHAR')
                                         ELSE top_type END AS conv_type,
                                    coalesce(decoded, rec) AS conv_src,
                                    CASE WHEN decoded IS NULL THEN ? ELSE '$' END AS conv_path
                                FROM (
                                    SELECT *,
                                        CASE WHEN top_type = 'VARCHAR'
                                             THEN TRY_CAST(json_extract_string(rec, ?) AS JSON)
                                        END AS decoded
                                    FROM (
                                        SELECT *,
                                            CASE WHEN fast THEN 'ARRAY'
                                                 ELSE json_type(rec, ?) END AS top_type
                                        FROM (
                                            SELECT *,
                                                coalesce(list_contains(?, top ->> ?)
                                                    AND TRY_CAST(turn ->> '$' AS INTEGER)
                                                        IS NOT NULL, false) AS fast
                                            FROM ({})))))))))"""
        # The roles come from one wildcard path, which skips turns without a role: when
        # that list is shorter than the conversation, each turn's role is read by index.
        conversation_params = [
            f"$.{content}",
            content,
            list(schema.user_roles),
            role,
            f"{conversation}[*].{role}",
            f"$[*].{role}",
            conversation,
            conversation,
            conversation,
            list(schema.user_roles),
            f"$.{role}",
        ]
        conversation_checks = """
                WHEN conv_type IS NULL OR conv_type = 'NULL' THEN 'no_user_turn'
                WHEN conv_type <> 'ARRAY' THEN 'wrong_type'
                WHEN first_user_index IS NULL OR first_user_index = 0 THEN 'no_user_turn'"""
    checks = f"""
                WHEN rec IS NULL THEN 'invalid_json'
                WHEN NOT is_object THEN 'wrong_type'{conversation_checks}"""
    # Innermost first: the relation, then the fields and conversation layers.
    query = relation_sql
    for layer in (fields_layer, conversation_layer):
        query = layer.format(query)
    outer, outer_params = _reason_and_output_sql(schema, query, checks, "json_merge_patch(rec, ?)")
    # Placeholders appear outermost first in the text, so their values go in that order.
    return outer, [_extra_patch(schema), *outer_params, *conversation_params, top_paths]


def _reason_and_output_sql(
    schema: Schema,
    inner_sql: str,
    checks: str,
    extra_sql: str,
    content_type_sql: str = "json_type(content)",
    text_sql: str = "content ->> '$'",
) -> tuple[str, list]:
    """The layers both readers share: the skip reason (after the reader's own `checks`),
    then the stored columns. `inner_sql` yields the record's fields as JSON values
    (raw_id, model, language, turn), `content` and `user_turns`. A content that is a
    list of parts (OpenAI's `[{"type": "text", "text": ...}, {"type": "image_url", ...}]`)
    is the text of its parts, one per line: none is an empty text."""
    part = "regexp_extract(full_id, '^(.+)_([0-9]+)$', 2)" if schema.name == "sharegpt" else "''"
    missing_content = "'no_user_turn'" if schema.text_key is None else "'empty_text'"
    reason_layer = f"""
        SELECT *,
            CASE {checks}
                WHEN content IS NULL OR content_type = 'NULL' THEN {missing_content}
                WHEN content_type <> 'VARCHAR' THEN 'wrong_type'
                WHEN regexp_full_match(text, ?) THEN 'empty_text'
                WHEN raw_id IS NOT NULL
                     AND json_type(raw_id) NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'NULL')
                     THEN 'wrong_type'
            END AS reason,
            coalesce(raw_id ->> '$', 'md5:' || md5(text)) AS full_id
        FROM (
            SELECT * REPLACE (
                CASE WHEN content_type = 'ARRAY' THEN 'VARCHAR' ELSE content_type END
                    AS content_type,
                CASE WHEN content_type = 'ARRAY'
                     THEN array_to_string(json_extract_string(content, '$[*].text'), chr(10))
                     ELSE text END AS text)
            FROM (
                SELECT *, {content_type_sql} AS content_type, {text_sql} AS text
                FROM ({inner_sql})))"""
    output_layer = f"""
        SELECT
            reason, text,
            CASE WHEN part = '' THEN full_id
                 ELSE regexp_extract(full_id, '^(.+)_([0-9]+)$', 1) END AS conversation_id,
            CASE WHEN part NOT IN ('', '0') THEN 'continuation' END AS part_reason,
            model ->> '$' AS model,
            language ->> '$' AS language,
            coalesce(TRY_CAST(turn ->> '$' AS INTEGER), user_turns) AS turn,
            {extra_sql} AS extra
        FROM (SELECT *, {part} AS part FROM ({reason_layer}))
    """
    return output_layer, [_BLANK]


def _stored_keys(schema: Schema) -> list[str]:
    """The record's fields with columns of their own: `extra` holds the others."""
    keys = ["model", "language", "turn"]
    return keys + [k for k in (schema.conversation_key, schema.id_key, schema.text_key) if k]


def _extra_patch(schema: Schema) -> str:
    """A JSON merge patch that drops the fields stored in their own columns."""
    return json.dumps({key: None for key in _stored_keys(schema)})


# Typed readers: DuckDB's JSON reader told each key's type (one parse per record), or a
# table whose columns already have types (Parquet, a hub batch: no JSON at all).

UNREADABLE = "__unreadable"  # typed rows with no field: their reasons come from the census
UNDECIDED = "__undecided"  # a conversation the typed reader could not read as turns
TYPED_MAX_KEYS = 256  # more distinct keys than this: records are read as JSON text


@dataclass(frozen=True)
class KeyCensus:
    """What a first pass over a JSON file found: the keys of its objects (in the
    order records hold them) and how many records have none."""

    keys: tuple[str, ...]
    invalid_json: int
    not_object: int
    empty_object: int

    @property
    def keyless(self) -> int:
        return self.invalid_json + self.not_object + self.empty_object


def key_census(con: duckdb.DuckDBPyConnection, relation_sql: str, params: list) -> KeyCensus:
    """Count the keys of every record (DuckDB's reader ignores keys it was not told of, so
    a sample could lose a rare field) and the records without any."""
    rows = con.execute(
        f"""
        SELECT kind, key, count(*) FROM (
            SELECT kind, unnest(keys) AS key, generate_subscripts(keys, 1) AS position
            FROM (
                SELECT CASE WHEN rec IS NULL THEN 'invalid'
                            WHEN len(found) = 0 THEN json_type(rec) END AS kind,
                       CASE WHEN len(found) > 0 THEN found ELSE [NULL] END AS keys
                FROM (SELECT rec, json_keys(rec) AS found FROM ({relation_sql}))))
        GROUP BY ALL ORDER BY min(position), key
        """,
        params,
    ).fetchall()
    keys = tuple(key for kind, key, _ in rows if kind is None)
    keyless = {kind: count for kind, _, count in rows if kind is not None}
    not_object = sum(n for kind, n in keyless.items() if kind not in ("invalid", "OBJECT"))
    return KeyCensus(keys, keyless.get("invalid", 0), not_object, keyless.get("OBJECT", 0))


def typed_json_sql(
    schema: Schema, census: KeyCensus, layout: str, max_object_size: int
) -> tuple[str, list] | None:
    """SQL that classifies a JSON file (path as the last parameter; `layout` is DuckDB's
    "newline_delimited" or "array") like `classify_sql`, from DuckDB's typed reader: every
    key read as JSON, the conversation as a list of turns. Rows it cannot decide get the
    reasons UNREADABLE (no field at all: invalid JSON, not an object, or `{}`, counted by
    the census) and UNDECIDED.

    None when the keys rule it out (see `_typed_sql`). `extra` keeps the other fields, as
    `classify_sql` does, except those whose value is null (the typed reader reads a null
    as a missing field).
    """
    keys = census.keys
    if len(keys) > TYPED_MAX_KEYS:
        return None
    turn_type = f"STRUCT({_ident(schema.role_key)} VARCHAR, {_ident(schema.content_key)} JSON)[]"
    columns = ", ".join(
        f"{_literal(key)}: {_literal(turn_type if key == schema.conversation_key else 'JSON')}"
        for key in keys
    )
    reader = (
        f"read_json(?, format={_literal(layout)}, ignore_errors=true, "
        f"maximum_object_size={int(max_object_size)}, columns={{{columns}}})"
    )
    return _typed_sql(schema, keys, reader, native=False)


def typed_table_sql(
    con: duckdb.DuckDBPyConnection, schema: Schema, table_sql: str, params: list
) -> tuple[str, list] | None:
    """SQL that classifies the rows of `table_sql` (its parameters last) like
    `classify_sql` would once they are turned into JSON, straight from their typed
    columns: nothing is serialised but the small fields and `extra`.

    None unless the prompt is text where the schema expects it: a VARCHAR column, or a
    list of turns whose role and content are VARCHAR (anything else, such as a
    conversation kept as JSON text, is read as JSON records). `extra` leaves out null
    columns (JSON records would keep them as nulls).
    """
    described = con.execute(f"SELECT * FROM ({table_sql}) LIMIT 0", params).description
    types = {name: column_type for name, column_type, *_ in described}
    prompt_type = types.get(schema.conversation_key or schema.text_key)
    if schema.text_key is not None:
        fits = _is_varchar(prompt_type)
    else:
        turn = getattr(prompt_type, "child", None) if _type_id(prompt_type) == "list" else None
        fields = dict(turn.children) if _type_id(turn) == "struct" else {}
        fits = _is_varchar(fields.get(schema.role_key)) and _is_varchar(
            fields.get(schema.content_key)
        )
    if not fits:
        return None
    return _typed_sql(schema, tuple(types), f"({table_sql})", native=True)


def _type_id(column_type) -> str | None:
    return getattr(column_type, "id", None)


def _is_varchar(column_type) -> bool:
    """Text, not JSON (DuckDB's JSON type is a VARCHAR underneath: its string may be a
    list of parts, a number, or a quoted string)."""
    return _type_id(column_type) == "varchar" and str(column_type) != "JSON"


def _typed_sql(
    schema: Schema, keys: tuple[str, ...], reader: str, native: bool
) -> tuple[str, list] | None:
    """The classification over a typed reader whose columns are the record's `keys`.

    From DuckDB's JSON reader (`native` false) every field but the conversation is JSON
    text, turn contents included. From a typed table every column keeps its type: small
    fields are turned into JSON for the shared layers, the prompt is VARCHAR already.
    None when the keys rule it out: an empty one, or two that differ only in case
    (DuckDB's column names do not).
    """
    stored = _stored_keys(schema)
    folded = {key.casefold() for key in (*keys, *stored)}
    if not keys or "" in keys or len(folded) != len(set(keys) | set(stored)):
        return None

    def as_json(key: str | None) -> str:
        if key not in keys:
            return "NULL::JSON"
        return f"to_json({_ident(key)})" if native else _ident(key)

    # Each field comes back as minified JSON text: `extra` is put together as text.
    members = ", ".join(
        f"CASE WHEN {_ident(key)} IS NOT NULL "
        f"THEN {_literal(json.dumps(key, ensure_ascii=False) + ':')} || {as_json(key)} END"
        for key in keys
        if key not in stored
    )
    extra = f"('{{' || concat_ws(',', {members}) || '}}')" if members else "'{}'"
    prompt_key = schema.conversation_key or schema.text_key
    prompt = _ident(prompt_key) if prompt_key in keys else "NULL"
    if native:
        checks, unreadable = "", "false"
    else:
        checks = f"\n                WHEN unreadable THEN '{UNREADABLE}'"
        unreadable = " AND ".join(f"{_ident(key)} IS NULL" for key in keys)
    reader_sql = f"""
        SELECT {as_json(schema.id_key)} AS raw_id, {as_json("model")} AS model,
               {as_json("language")} AS language, {as_json("turn")} AS turn,
               {unreadable} AS unreadable, {extra} AS extra, {prompt} AS top
        FROM {reader}"""
    if schema.text_key is not None:
        inner = f"SELECT *, top AS content, 1 AS user_turns FROM ({reader_sql})"
        params: list = []
    else:
        content = _ident(schema.content_key)
        role = _ident(schema.role_key)
        inner = f"""
            SELECT *, top[first_user_index].{content} AS content
            FROM (
                SELECT *, list_position(is_user, true) AS first_user_index,
                       len(list_filter(is_user, lambda u: u)) AS user_turns
                FROM (
                    SELECT *, list_transform(top, lambda t: list_contains(?, t.{role}))
                        AS is_user
                    FROM ({reader_sql})))"""
        # A typed table's NULL conversation is a null value; the JSON reader's may be one
        # it could not read as turns (a JSON string, say): JSON records tell those apart.
        missing = "'no_user_turn'" if native else f"'{UNDECIDED}'"
        checks += f"""
                WHEN top IS NULL THEN {missing}
                WHEN first_user_index IS NULL OR first_user_index = 0 THEN 'no_user_turn'"""
        params = [list(schema.user_roles)]
    if native:  # the prompt is VARCHAR
        content_type, text = "CASE WHEN content IS NOT NULL THEN 'VARCHAR' END", "content"
    else:  # JSON text, minified: its first character tells a string
        content_type = (
            "CASE WHEN content IS NULL THEN NULL WHEN content = 'null' THEN 'NULL' "
            "WHEN starts_with(content, '\"') THEN 'VARCHAR' "
            "WHEN starts_with(content, '[') THEN 'ARRAY' ELSE 'OTHER' END"
        )
        text = "content ->> '$'"
    outer, outer_params = _reason_and_output_sql(schema, inner, checks, "extra", content_type, text)
    return outer, [*outer_params, *params]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
