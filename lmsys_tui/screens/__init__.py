"""Textual screens: Runs, Clusters, Query Inspector, Search, Jobs, and their modals."""
