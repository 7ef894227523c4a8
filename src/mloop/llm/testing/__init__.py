"""Test tools that ship with mloop: a scriptable fake LLM provider server."""
