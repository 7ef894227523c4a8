"""The OpenAI-compatible gateway service and its HTTP routes."""
