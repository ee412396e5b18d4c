"""Tasks: the questions asked of every video. Importing this registers the built-ins."""

from video_pipeline.tasks import clip_summary, describe, rewrite, structured_caption, transcribe  # noqa: F401
