"""Configuration: YAML -> one typed, validated `Config`."""

from video_pipeline.config.loader import ConfigError, dump_config, load_config
from video_pipeline.config.schema import Config

__all__ = ["Config", "ConfigError", "dump_config", "load_config"]
