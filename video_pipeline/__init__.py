"""Batch vision-language inference over video collections."""

__version__ = "0.1.0"
