"""Seeded mutations of real inputs, for the fuzz corpora: JSON values replaced by odd
ones, lines cut or repeated, bytes flipped and files cut. Every corpus is seeded, so a
failing case number reproduces; ``within`` bounds each case's time."""

from __future__ import annotations

import contextlib
import copy
import json
import random
import time

# Values a hand-edited or hostile file gives a field: wrong types, huge, negative, empty.
ODD = [None, 0, -1, 2**31, 2**63, 1e308, float("nan"), "", "x" * 1000, [], [1, "a"], {}, {"a": {"b": []}}, True]
DEEP = "[" * 100_000  # JSON nested deeper than Python's stack


def mutate_json(value: object, rng: random.Random) -> object:
    """A copy of ``value`` with 1 to 3 nodes replaced by an ODD value, or a key dropped."""
    value = copy.deepcopy(value)
    for _ in range(rng.randint(1, 3)):
        parent, key = _random_node(value, rng)
        if parent is None:
            return rng.choice(ODD)
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[key]
        else:
            parent[key] = rng.choice(ODD)
    return value


def _random_node(value: object, rng: random.Random) -> tuple[object, object]:
    """A (container, key) somewhere in the tree; (None, None) for the root itself."""
    parent, key = None, None
    node = value
    while isinstance(node, dict | list) and node and rng.random() < 0.75:
        key = rng.choice(sorted(node, key=str)) if isinstance(node, dict) else rng.randrange(len(node))
        parent, node = node, node[key]
    return parent, key


def mutated_lines(lines: list[str], rng: random.Random) -> list[str]:
    """A few lines of a text file damaged: a JSON line's field given an odd value, a line
    cut, bytes flipped, a line dropped or repeated."""
    lines = list(lines)
    for _ in range(rng.randint(1, 3)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        kind = rng.random()
        if kind < 0.5:
            try:
                record = json.loads(lines[i])
            except ValueError:
                continue
            lines[i] = json.dumps(mutate_json(record, rng))
        elif kind < 0.7:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        elif kind < 0.85:
            raw = bytearray(lines[i].encode())
            if raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            lines[i] = raw.decode("utf-8", "replace")
        else:
            lines.insert(i, lines[i]) if rng.random() < 0.5 else lines.pop(i)
    return lines


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """1 to 4 damages: a byte overwritten, a range repeated or dropped, the file cut."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not out:
            break
        at = rng.randrange(len(out))
        kind = rng.random()
        if kind < 0.5:
            out[at] = rng.randrange(256)
        elif kind < 0.7:
            out[at:at] = out[at : at + rng.randint(1, 64)]
        elif kind < 0.9:
            del out[at : at + rng.randint(1, 64)]
        else:
            del out[at:]
    return bytes(out)


@contextlib.contextmanager
def within(seconds: float, case: object):
    """The case must finish in ``seconds`` (a hang shows as a slow case, named)."""
    start = time.perf_counter()
    yield
    took = time.perf_counter() - start
    assert took < seconds, f"case {case} took {took:.1f} s"


def one_line(exc: BaseException, names: str, case: object) -> None:
    """The promise for an error: one line that names the file (or server)."""
    text = str(exc)
    assert names in text and "\n" not in text, (case, text)
