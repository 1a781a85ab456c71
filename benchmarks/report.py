"""Placeholder replaced below."""


def write(results, directory):
    pass
