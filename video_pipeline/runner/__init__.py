"""The per-rank runner: partition, skip done keys, decode, feed the engine, journal."""
