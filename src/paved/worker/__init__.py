"""paved.worker"""

__all__: list[str] = []
