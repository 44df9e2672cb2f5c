"""The pipeline (ingest, languages, embed, cluster, name, hierarchy, index, search) and
the views the front ends read; knows nothing of Textual."""

# The workspace's database file (here, not in workspace.py: front ends check for it
# without importing DuckDB).
DATABASE_FILE = "lmsys.duckdb"
