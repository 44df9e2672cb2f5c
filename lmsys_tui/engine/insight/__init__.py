"""Analyses of finished runs: comparing two runs, what sets a cluster apart."""
