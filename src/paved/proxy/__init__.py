"""paved.proxy"""

__all__: list[str] = []
