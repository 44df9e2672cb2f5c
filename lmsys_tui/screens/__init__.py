"""Textual screens (the TUI arrives with issue 5)."""
