"""LLM calls shared by naming and hierarchies: the litellm client (`client`) and what a
step will ask for and cost before it asks (`costs`)."""
