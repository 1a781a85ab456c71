"""Shared by the scripts that generate parts of the docs: ``--write`` or ``--check``."""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_requested(description: str | None) -> bool:
    """Parse ``--write`` / ``--check`` (one of them is required); True for ``--write``."""
    parser = argparse.ArgumentParser(description=description)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    return bool(parser.parse_args().write)


def sync(wanted: dict[Path, str], write: bool, script: str) -> int:
    """Write the files whose text differs from ``wanted``, or report them as stale.

    Returns:
        The exit status: 1 when checking found a stale file, else 0.
    """
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    for path in stale:
        if write:
            path.write_text(wanted[path])
        else:
            print(f"{path.relative_to(ROOT)} is stale: run python {script} --write")
    return 1 if stale and not write else 0
