"""Engines the runner feeds: vLLM's offline engine, and a fake one for unit tests."""

from video_pipeline.engine.base import Engine, Finished, RequestRejected

__all__ = ["Engine", "Finished", "RequestRejected"]
