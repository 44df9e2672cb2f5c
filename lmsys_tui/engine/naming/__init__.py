"""Naming clusters and categories: key phrases and taxonomy matches, no LLM needed."""
