"""citybot: a Chinese citizen-service bot for city management (城市管理)."""

__version__ = "0.1.0"
