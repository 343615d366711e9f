"""populace: a self-hosted, PingOne-compatible identity directory."""

__version__ = "0.1.0"
