"""Naming clusters: summary runs (`summarize`) whose titles come from key phrases and
taxonomy matches with no LLM (`offline`, `phrases`, `taxonomy`) or from an LLM
(`llm_labels`)."""
