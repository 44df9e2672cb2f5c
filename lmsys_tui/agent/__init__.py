"""The agent CLI: subcommands that print a Rich table, or one JSON document with --json."""
