"""Producers: turn a request into an answer body (generated from the schema, templates, LLM-like text)."""
