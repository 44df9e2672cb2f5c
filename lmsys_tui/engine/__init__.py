"""The pipeline: ingest, embed, cluster; knows nothing of Textual."""
