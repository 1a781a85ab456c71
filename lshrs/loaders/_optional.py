"""Import checks for the optional dependencies behind the loaders and fetchers."""

from __future__ import annotations

import importlib


def require(module: str, extra: str) -> None:
    """Raise a helpful ``ImportError`` when an optional dependency is missing.

    Args:
        module: Importable name of the dependency, e.g. ``"psycopg"``.
        extra: The lshrs extra that installs it, e.g. ``"postgres"``.

    Raises:
        ImportError: ``module`` cannot be imported; the message gives the pip command.
    """
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this feature needs the optional dependency {module!r}, which is not installed; "
            f'install it with: pip install "lshrs[{extra}]"'
        ) from error
