"""Prompt templates, packaged as files so users can read and override them."""
