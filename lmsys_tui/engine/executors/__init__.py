"""Where a stage's heavy work runs when it is not this process: Ray (optional extra)."""
