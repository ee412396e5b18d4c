"""JSONL input, keys and the per-rank journals."""
