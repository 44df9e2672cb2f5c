"""The load stage: a source string becomes files or a hub stream (`sources`, `hub`), each
record a skip reason or a prompt (`records`), and the prompts rows of `queries` (`ingest`)."""
