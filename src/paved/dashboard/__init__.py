"""paved.dashboard"""

__all__: list[str] = []
