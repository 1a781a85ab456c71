"""lshrs: approximate nearest-neighbour search with a Redis hash index."""
