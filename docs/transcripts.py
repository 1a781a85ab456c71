"""Regenerate (or check) the redis-cli transcripts of the script protocol docs.

Every transcript is replayed with the real ``redis-cli`` against a fresh server, so the
documentation shows what the scripts answer today. Usage::

    python docs/transcripts.py --write   # rewrite the blocks in place
    python docs/transcripts.py --check   # exit 1 if the document is stale (the tests do this)
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

from generated import ROOT, sync, write_requested

DOCS = (ROOT / "docs" / "lua-protocol.md", ROOT / "docs" / "lua-protocol-ivfpq.md")
SCRIPTS = (
    "init",
    "insert",
    "delete",
    "query",
    "gather",
    "move",
    "clear",
    "ivf_insert",
    "ivf_scan",
    "ivf_delete",
    "ivf_verify",
    "ivf_compact",
)


def record(index: int, code: str) -> str:
    """A 10-byte IVF-PQ record as redis-cli writes it: int64-le id, 2-byte code."""
    return "".join(f"\\x{byte:02x}" for byte in index.to_bytes(8, "little")) + code


LOAD = " | redis-cli -x SCRIPT LOAD"
"""A transcript line ``$ <shell command> | redis-cli -x SCRIPT LOAD`` loads what the
command prints (run in the repository), which must be a script as lshrs loads it."""

TRANSCRIPTS: dict[str, list[str]] = {
    "load": [
        "$ sed -e '/^--- @include \"prelude\"$/{r lua/includes/prelude.lua' -e 'd}' "
        "lua/init.lua" + LOAD,
    ],
    "functions": [
        'FCALL {function_init} 1 "{{fn}}:" "fp-f" "" num_bands 1 sig_bytes 1',
        'FCALL_RO {function_query} 1 "{{fn}}:" "fp-f" 10 "\\x00\\x00\\x01"',
        'FCALL_RO {function_init} 1 "{{fn}}:" "fp-f" "" num_bands 1 sig_bytes 1',
        'FCALL lshrs_000000000000_init 1 "{{fn}}:" "fp-f" "" num_bands 1 sig_bytes 1',
    ],
    "init": [
        'EVALSHA {init} 1 "{{demo}}:" "fp-1" "" num_bands 2 sig_bytes 1',
        'EVALSHA {init} 1 "{{demo}}:" "fp-1" "" num_bands 2 sig_bytes 1',
        'EVALSHA {init} 1 "{{demo}}:" "fp-2" "" num_bands 2 sig_bytes 1',
        'HGETALL "{{demo}}:cfg"',
    ],
    "insert": [
        'EVALSHA {insert} 1 "{{demo}}:" "fp-1" 2 5 "\\x01\\x02" 6 "\\x01\\x03" 3 '
        '"\\x00\\x00\\x01" 2 5 6 "\\x00\\x01\\x02" 1 5 "\\x00\\x01\\x03" 1 6',
        'SMEMBERS "{{demo}}:b\\x00\\x00\\x01"',
        'HGETALL "{{demo}}:r0"',
        'EVALSHA {insert} 1 "{{demo}}:" "fp-1" 1 5 "\\x01\\x02" 2 "\\x00\\x00\\x01" 1 5 '
        '"\\x00\\x01\\x02" 1 5',
        'EVALSHA {insert} 1 "{{demo}}:" "fp-1" 1 8 "\\x01\\x02" *',
        'EVALSHA {insert} 1 "{{demo}}:" "fp-1" 1 5 "\\x01" 0',
    ],
    "query": [
        'EVALSHA {query} 1 "{{demo}}:" "fp-1" 10 "\\x00\\x00\\x01" "\\x00\\x01\\x02"',
        'EVALSHA {query} 1 "{{demo}}:" "fp-1" 1 "\\x00\\x00\\x01" "\\x00\\x01\\x03"',
        'EVALSHA {query} 1 "{{demo}}:" "fp-2" 10 "\\x00\\x00\\x01"',
    ],
    "gather": [
        'EVALSHA {gather} 1 "{{demo}}:" "fp-1" "\\x00\\x00\\x01" "\\x00\\x01\\x02"',
    ],
    "move": [
        'EVALSHA {move} 1 "{{demo}}:" "fp-1" 5 1 "\\x03"',
        'SMEMBERS "{{demo}}:b\\x00\\x01\\x03"',
        'EVALSHA {move} 1 "{{demo}}:" "fp-1" 7 1 "\\x03"',
    ],
    "delete": [
        'EVALSHA {delete} 1 "{{demo}}:" 5 99',
        'EVALSHA {query} 1 "{{demo}}:" "fp-1" 10 "\\x00\\x00\\x01" "\\x00\\x01\\x03"',
        'HGET "{{demo}}:cfg" count',
    ],
    "clear": [
        'EVALSHA {clear} 1 "{{demo}}:" 0 1000',
        'EXISTS "{{demo}}:cfg"',
    ],
    "ivf_init": [
        'EVALSHA {init} 1 "{{docs}}:" "fp-pq" "" scheme ivfpq nlist 4 code_bytes 2 '
        "record_bytes 10 nprobe 2",
    ],
    "ivf_insert": [
        f'EVALSHA {{ivf_insert}} 1 "{{{{docs}}}}:" "fp-pq" 0 "{record(5, "AB")}{record(6, "CD")}" '
        f'3 "{record(7, "EF")}"',
        'HGETALL "{{docs}}:n"',
        'HGET "{{docs}}:r0" 6',
        f'EVALSHA {{ivf_insert}} 1 "{{{{docs}}}}:" "fp-pq" 3 "{record(6, "GH")}"',
        'HGET "{{docs}}:r0" 6',
        f'EVALSHA {{ivf_insert}} 1 "{{{{docs}}}}:" "fp-pq" 9 "{record(8, "IJ")}"',
        f'EVALSHA {{ivf_insert}} 1 "{{{{docs}}}}:" "fp-pq" 1 "{record(8, "IJ")}{record(8, "KL")}"',
    ],
    "ivf_scan": [
        'EVALSHA {ivf_scan} 1 "{{docs}}:" "fp-pq" 65536 0 3 0 1',
        'EVALSHA {ivf_scan} 1 "{{docs}}:" "fp-pq" 10 0 3 0 1',
        'EVALSHA {ivf_scan} 1 "{{docs}}:" "fp-pq" 20 1 3 0 1',
        'EVALSHA {ivf_scan} 1 "{{docs}}:" "fp-other" 65536 0 3',
    ],
    "ivf_delete": [
        'EVALSHA {ivf_delete} 1 "{{docs}}:" "fp-pq" 7 99',
        'EVALSHA {ivf_scan} 1 "{{docs}}:" "fp-pq" 65536 0 3',
        'HGET "{{docs}}:r0" 6',
        'HGET "{{docs}}:cfg" count',
    ],
    "ivf_compact": [
        'EVALSHA {ivf_compact} 1 "{{docs}}:" "fp-pq" 0 3',
    ],
    "ivf_verify": [
        'EVALSHA {ivf_verify} 1 "{{docs}}:" "fp-pq" 0 lists 0 1 2 3',
        'HDEL "{{docs}}:r0" 5',
        'EVALSHA {ivf_verify} 1 "{{docs}}:" "fp-pq" 1 lists 0',
        'EVALSHA {ivf_verify} 1 "{{docs}}:" "fp-pq" 0 range 3 0 1000',
        'EVALSHA {ivf_verify} 1 "{{docs}}:" "fp-pq" 0 entries 0',
    ],
}


def source_of(name: str) -> bytes:
    """The script as lshrs loads it: lua/<name>.lua with its includes expanded."""
    from lshrs.protocol import script_source

    return script_source(name).encode()


def sha_of(name: str) -> str:
    return hashlib.sha1(source_of(name)).hexdigest()


def run(port: int, command: str) -> str:
    if command.startswith("$ ") and command.endswith(LOAD):
        source = subprocess.run(
            command[2 : -len(LOAD)], shell=True, cwd=ROOT, capture_output=True, check=True
        ).stdout
        if source not in {source_of(name) for name in SCRIPTS}:
            raise SystemExit(f"{command!r} does not print a script as lshrs loads it")
        out = subprocess.run(
            ["redis-cli", "-p", str(port), "-x", "SCRIPT", "LOAD"],
            input=source,
            capture_output=True,
            check=True,
        )
        return f"{command}\n{out.stdout.decode().strip()}"
    from lshrs.protocol import function_name

    shas = {name: sha_of(name) for name in SCRIPTS}
    functions = {f"function_{name}": function_name(name) for name in SCRIPTS}
    line = command.format(**shas, **functions)
    out = subprocess.run(
        ["redis-cli", "--no-raw", "-p", str(port)],
        input=(line + "\n").encode(),
        capture_output=True,
        check=True,
    )
    return f"redis> {line}\n{out.stdout.decode().rstrip()}"


def render(port: int) -> dict[str, str]:
    from lshrs.functions import library_code

    subprocess.run(
        ["redis-cli", "-p", str(port), "-x", "FUNCTION", "LOAD"],
        input=library_code().encode(),
        capture_output=True,
        check=True,
    )
    for name in SCRIPTS:
        subprocess.run(
            ["redis-cli", "-p", str(port), "-x", "SCRIPT", "LOAD"],
            input=source_of(name),
            capture_output=True,
            check=True,
        )
    return {
        name: "\n".join(run(port, command) for command in commands)
        for name, commands in TRANSCRIPTS.items()
    }


def apply(texts: dict[Path, str], blocks: dict[str, str]) -> dict[Path, str]:
    """The documents with every transcript block replaced; each block must be in one."""
    updated = dict(texts)
    for name, body in blocks.items():
        pattern = re.compile(
            rf"(<!-- transcript:{name} -->\n```text\n).*?(```\n<!-- /transcript -->)", re.S
        )
        homes = [path for path, text in updated.items() if pattern.search(text)]
        if len(homes) != 1:
            raise SystemExit(f"transcript block {name!r} must be in exactly one doc, got {homes}")
        updated[homes[0]] = pattern.sub(
            lambda m, body=body: m.group(1) + body + "\n" + m.group(2), updated[homes[0]]
        )
    return updated


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.redis_server import RedisProcess, server_binaries

    write = write_requested(__doc__)
    server = RedisProcess(next(iter(server_binaries().values()))).start()
    texts = {path: path.read_text() for path in DOCS}
    try:
        updated = apply(texts, render(server.port))
    finally:
        server.stop()
    return sync(updated, write, "docs/transcripts.py")


if __name__ == "__main__":
    sys.exit(main())
