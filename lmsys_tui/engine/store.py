"""The DuckDB schema and its migrations.

The schema version lives in the `meta` table. Each migration is a list of statements
applied in one transaction; a workspace written by a newer version is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from .errors import WorkspaceError

SCHEMA_V1 = [
    """
    CREATE TABLE queries (
        query_id BIGINT PRIMARY KEY,
        conversation_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        model VARCHAR,
        language VARCHAR,
        query_text VARCHAR NOT NULL,
        turn INTEGER,
        extra JSON,
        loaded_at TIMESTAMP NOT NULL,
        UNIQUE (source, conversation_id)
    )
    """,
    """
    CREATE TABLE loads (
        load_id VARCHAR PRIMARY KEY,
        source VARCHAR NOT NULL,
        location VARCHAR NOT NULL,
        parameters JSON,
        counts JSON,
        status VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    )
    """,
    """
    CREATE TABLE embedding_spaces (
        space_id VARCHAR PRIMARY KEY,
        provider VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        dim INTEGER NOT NULL,
        normalized BOOLEAN NOT NULL,
        n_vectors BIGINT NOT NULL,
        created_at TIMESTAMP NOT NULL,
        UNIQUE (provider, model)
    )
    """,
    # One row per embedded query; row_index is its row in vectors/<space>.f16.npy.
    """
    CREATE TABLE embeddings (
        space_id VARCHAR NOT NULL,
        query_id BIGINT NOT NULL,
        row_index BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE clustering_runs (
        run_id VARCHAR PRIMARY KEY,
        algorithm VARCHAR NOT NULL,
        space_id VARCHAR NOT NULL,
        parameters JSON NOT NULL,
        n_queries BIGINT,
        n_clusters INTEGER,
        description VARCHAR,
        metrics JSON,
        status VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    )
    """,
    """
    CREATE TABLE query_clusters (
        run_id VARCHAR NOT NULL,
        query_id BIGINT NOT NULL,
        cluster_id INTEGER NOT NULL,
        distance REAL,
        probability REAL
    )
    """,
    """
    CREATE TABLE clusters (
        run_id VARCHAR NOT NULL,
        cluster_id INTEGER NOT NULL,
        size BIGINT NOT NULL,
        centroid FLOAT[],
        PRIMARY KEY (run_id, cluster_id)
    )
    """,
    """
    CREATE TABLE jobs (
        job_id VARCHAR PRIMARY KEY,
        spec JSON NOT NULL,
        status VARCHAR NOT NULL,
        step VARCHAR,
        result JSON,
        error VARCHAR,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    )
    """,
]

# Cluster summaries (titles, descriptions) and hierarchies of broader categories.
SCHEMA_V2 = [
    """
    CREATE TABLE summary_runs (
        summary_run_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        alias VARCHAR,
        model VARCHAR NOT NULL,
        parameters JSON NOT NULL,
        status VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    )
    """,
    """
    CREATE TABLE cluster_summaries (
        summary_run_id VARCHAR NOT NULL,
        cluster_id INTEGER NOT NULL,
        title VARCHAR,
        description VARCHAR,
        keywords VARCHAR[],
        representative_ids BIGINT[],
        error VARCHAR,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (summary_run_id, cluster_id)
    )
    """,
    """
    CREATE TABLE hierarchy_runs (
        hierarchy_run_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        summary_run_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        parameters JSON NOT NULL,
        status VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    )
    """,
    # level 0 nodes are the run's clusters (cluster_id set); a top node has no parent.
    """
    CREATE TABLE hierarchy_nodes (
        hierarchy_run_id VARCHAR NOT NULL,
        node_id VARCHAR NOT NULL,
        level INTEGER NOT NULL,
        parent_id VARCHAR,
        cluster_id INTEGER,
        title VARCHAR,
        description VARCHAR,
        size BIGINT NOT NULL,
        PRIMARY KEY (hierarchy_run_id, node_id)
    )
    """,
]

# Validated LLM replies, keyed by model, endpoint, prompt and expected shape.
SCHEMA_V3 = [
    """
    CREATE TABLE llm_cache (
        cache_key VARCHAR PRIMARY KEY,
        model VARCHAR NOT NULL,
        reply JSON NOT NULL,
        created_at TIMESTAMP NOT NULL
    )
    """,
]

# The keyword index: BM25 postings over words of every query (moved out in v9).
SCHEMA_V4 = [
    "CREATE TABLE keyword_postings (term VARCHAR NOT NULL, query_id BIGINT NOT NULL, tf INTEGER)",
    "CREATE TABLE keyword_docs (query_id BIGINT PRIMARY KEY, n_terms INTEGER NOT NULL)",
    "CREATE TABLE keyword_terms (term VARCHAR PRIMARY KEY, df BIGINT NOT NULL)",
]

# Curation: every edit of a run is an audit row; tags on clusters; runs say when edited.
SCHEMA_V5 = [
    """
    CREATE TABLE edits (
        edit_id BIGINT NOT NULL,
        run_id VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        target JSON NOT NULL,
        previous JSON,
        new JSON,
        reason VARCHAR,
        edited_at TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE cluster_tags (
        run_id VARCHAR NOT NULL,
        cluster_id INTEGER NOT NULL,
        tag VARCHAR NOT NULL,
        note VARCHAR,
        tagged_at TIMESTAMP NOT NULL,
        PRIMARY KEY (run_id, cluster_id, tag)
    )
    """,
    "ALTER TABLE clustering_runs ADD COLUMN edited_at TIMESTAMP",
]

# Copies within a run (exact after normalising, or near by embedding), and the queries
# whose language was detected (queries.language filled where the data had none).
SCHEMA_V6 = [
    """
    CREATE TABLE duplicates (
        run_id VARCHAR NOT NULL,
        query_id BIGINT NOT NULL,
        canonical_id BIGINT NOT NULL,
        kind VARCHAR NOT NULL,
        PRIMARY KEY (run_id, query_id)
    )
    """,
    """
    CREATE TABLE detected_languages (
        query_id BIGINT PRIMARY KEY,
        language VARCHAR,
        confidence REAL
    )
    """,
]

# A checksum per appended block of a vector file, committed with the block's embeddings
# rows, so damage inside the file is found and only those rows are embedded again.
SCHEMA_V7 = [
    """
    CREATE TABLE vector_chunks (
        space_id VARCHAR NOT NULL,
        first_row BIGINT NOT NULL,
        n_rows BIGINT NOT NULL,
        sha256 VARCHAR NOT NULL,
        PRIMARY KEY (space_id, first_row)
    )
    """,
]

# Queries put into an existing run after it was made ([assign]): their nearest cluster,
# distance, and whether they were farther than the run's own members (novel). And the
# cost ledger of LLM passes.
SCHEMA_V8 = [
    """
    CREATE TABLE assignments (
        run_id VARCHAR NOT NULL,
        query_id BIGINT NOT NULL,
        nearest_cluster INTEGER NOT NULL,
        distance REAL NOT NULL,
        novel BOOLEAN NOT NULL,
        assigned_at TIMESTAMP NOT NULL,
        PRIMARY KEY (run_id, query_id)
    )
    """,
    # The cost ledger of LLM passes: requests, tokens, cost, cache hits, summed over passes.
    "ALTER TABLE summary_runs ADD COLUMN usage JSON",
    "ALTER TABLE hierarchy_runs ADD COLUMN usage JSON",
]

# The keyword index moved to Tantivy beside the database (index/keywords/).
SCHEMA_V9 = [
    "DROP TABLE keyword_postings",
    "DROP TABLE keyword_docs",
    "DROP TABLE keyword_terms",
]

# Local files a load read whole: a rerun skips a file whose size, modification time and
# reading settings are unchanged, instead of classifying every record again.
SCHEMA_V10 = [
    """
    CREATE TABLE loaded_files (
        source VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        size BIGINT NOT NULL,
        modified_ns BIGINT NOT NULL,
        reading VARCHAR NOT NULL,
        held BIGINT NOT NULL,
        loaded_at TIMESTAMP NOT NULL,
        PRIMARY KEY (source, path)
    )
    """,
]

# `queries` without UNIQUE (source, conversation_id): a load already keeps one row per
# conversation (its dedupe is tested), and DuckDB's index behind the constraint cost a
# 1M-row load ~0.5-1 s and held ~100 MB while a workspace is open. DuckDB cannot drop a
# constraint, so the table is rebuilt (its columns as in v1; ~1 s per 1M rows).
SCHEMA_V11 = [
    """
    CREATE TABLE queries_v11 (
        query_id BIGINT PRIMARY KEY,
        conversation_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        model VARCHAR,
        language VARCHAR,
        query_text VARCHAR NOT NULL,
        turn INTEGER,
        extra JSON,
        loaded_at TIMESTAMP NOT NULL
    )
    """,
    "INSERT INTO queries_v11 SELECT * FROM queries",  # in stored order (by query_id)
    "DROP TABLE queries",
    "ALTER TABLE queries_v11 RENAME TO queries",
]

# Each query's text identity for exact copies (enrich.duplicates.NORMALISED_TEXT_HASH),
# kept: a query's text never changes, and normalising 1M prompts of ~300 characters takes
# ~10 s, which every assign, move and merge paid again to mark copies.
SCHEMA_V12 = [
    "CREATE TABLE text_hashes (query_id BIGINT NOT NULL, h UHUGEINT NOT NULL)",
]

# What a merge or delete took out of a run, kept with its edit so `edit undo` can put it
# back: the cluster's members, their near-copy marks, its names in each summary run, its
# leaf in each hierarchy, its tags (the rows as JSON, so later columns do not break them).
SCHEMA_V13 = [
    """
    CREATE TABLE removed_clusters (
        edit_id BIGINT NOT NULL,
        cluster_id INTEGER NOT NULL,
        query_ids BIGINT[] NOT NULL,
        near_copies JSON NOT NULL,
        names JSON NOT NULL,
        leaves JSON NOT NULL,
        tags JSON NOT NULL,
        PRIMARY KEY (edit_id, cluster_id)
    )
    """,
]

# MIGRATIONS[i] takes a workspace from version i to version i + 1.
MIGRATIONS: list[list[str]] = [
    SCHEMA_V1,
    SCHEMA_V2,
    SCHEMA_V3,
    SCHEMA_V4,
    SCHEMA_V5,
    SCHEMA_V6,
    SCHEMA_V7,
    SCHEMA_V8,
    SCHEMA_V9,
    SCHEMA_V10,
    SCHEMA_V11,
    SCHEMA_V12,
    SCHEMA_V13,
]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """Return the workspace's schema version, 0 for a new database."""
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchall()[0][0]
    if not has_meta:
        return 0
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else 0


def migrate(con: duckdb.DuckDBPyConnection, migrations: list[list[str]] = MIGRATIONS) -> int:
    """Bring the schema up to date, one transaction per migration; return the new version."""
    current = schema_version(con)
    if current > len(migrations):
        raise WorkspaceError(
            f"workspace schema v{current} is newer than this lmsys-tui understands "
            f"(v{len(migrations)}): upgrade lmsys-tui"
        )
    for version in range(current, len(migrations)):
        with transaction(con):
            con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            for statement in migrations[version]:
                con.execute(statement)
            con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version + 1)]
            )
    return len(migrations)


_IN_TRANSACTION: set[int] = set()  # ids of connections inside a transaction block


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit what the block writes, or roll all of it back (Ctrl-C included). A block
    inside another on the same connection joins it: the outer one commits both or
    neither (DuckDB has no nested transactions)."""
    if id(con) in _IN_TRANSACTION:
        yield
        return
    con.execute("BEGIN TRANSACTION")
    _IN_TRANSACTION.add(id(con))
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        _IN_TRANSACTION.discard(id(con))
    con.execute("COMMIT")


def slug(text: str) -> str:
    """Lowercase letters and digits joined by single dashes, for readable ids."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def unique_id(con: duckdb.DuckDBPyConnection, table: str, column: str, base: str) -> str:
    """`base`, or `base-2`, `base-3`... whichever is not in `table.column` yet."""
    candidate, suffix = base, 1
    while con.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", [candidate]).fetchall():
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate
