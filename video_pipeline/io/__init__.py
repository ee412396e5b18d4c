"""JSONL input, keys, the per-rank journals, and files replaced atomically."""
