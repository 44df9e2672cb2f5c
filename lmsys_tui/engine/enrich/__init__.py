"""Facts derived per query after loading: detected languages, copies within a run."""
