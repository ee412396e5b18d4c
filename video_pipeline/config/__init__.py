"""Configuration: YAML -> one typed, validated `Config`."""

from video_pipeline.config.errors import ConfigError
from video_pipeline.config.loader import dump_config, load_config
from video_pipeline.config.schema import Config
from video_pipeline.config.tasks import task_configs

__all__ = ["Config", "ConfigError", "dump_config", "load_config", "task_configs"]
