"""Configurable resources. Every external address and secret comes from the environment
(see `resources.settings` for the variables and their local defaults)."""
