"""Curation of a clustering run: rename, move, merge, split, delete and tag clusters
(`edits`), each with an audit row (`audit`), and undo of the newest edit (`undo`)."""
