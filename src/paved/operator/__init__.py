"""paved.operator"""

__all__: list[str] = []
