"""The pipeline (ingest, languages, embed, cluster, name, hierarchy, index, search) and
the views the front ends read; knows nothing of Textual."""
