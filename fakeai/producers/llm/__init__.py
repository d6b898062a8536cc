"""Text and token layer for model-like generative endpoints."""
