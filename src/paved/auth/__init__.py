"""paved.auth"""

__all__: list[str] = []
