"""Command-line entry points: launch, worker (the torchrun entry), merge."""
