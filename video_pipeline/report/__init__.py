"""The browsable report of a run: frames beside answers, quality flags, stats charts."""
