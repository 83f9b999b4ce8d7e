"""Configuration: the YAML case file validated into typed, unit-resolved sections (SI inside)."""
