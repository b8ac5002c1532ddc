"""paved.codec"""

__all__: list[str] = []
