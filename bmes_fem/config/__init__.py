"""Configuration: the YAML case file validated into typed, unit-resolved sections (SI inside)."""

from bmes_fem.config.case import Config
from bmes_fem.config.loader import load_config, parse_config, with_overrides

__all__ = ["Config", "load_config", "parse_config", "with_overrides"]
