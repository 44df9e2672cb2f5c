"""The hierarchy stage: broader categories over a summary run's clusters, built offline or
named by an LLM (`llm_levels`), through one entry point (`build`)."""
