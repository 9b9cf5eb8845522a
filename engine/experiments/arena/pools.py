"""Arena pools: named sets of contestants (``llmbench arena add POOL SPEC...``), kept in
``arena.json`` in the data folder. A pool may name a reference (the full-precision
model its quantizations are scored against by ``llmbench fidelity``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ... import paths
from ...errors import ArenaError
from ...util.files import atomic_write_json, keep_aside, read_json_file

POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass
class Pool:
    name: str
    models: list[str] = field(default_factory=list)
    reference: str | None = None

    def to_dict(self) -> dict:
        return {"models": list(self.models), "reference": self.reference}


def pools_path():
    return paths.data_dir() / "arena.json"


def read_pools() -> tuple[dict[str, Pool], str | None]:
    """The pools that are well formed, and one line on what is wrong with the file."""
    path = pools_path()
    data, problem = read_json_file(path, "the arena pools are")
    if problem or data is None:
        return {}, problem
    table = data.get("pools") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        return {}, f'{path}: no "pools" table; no pool could be read'
    good, bad = {}, []
    for name, entry in table.items():
        models = entry.get("models") if isinstance(entry, dict) else None
        reference = entry.get("reference") if isinstance(entry, dict) else None
        if isinstance(models, list) and all(isinstance(m, str) for m in models) and isinstance(reference, str | None):
            good[name] = Pool(name, models, reference)
        else:
            bad.append(str(name))
    return good, (f"{path}: pools that could not be read were skipped: {', '.join(bad[:5])}" if bad else None)


def get_pool(name: str) -> Pool:
    pools, problem = read_pools()
    if name not in pools:
        known = f"; pools: {', '.join(sorted(pools))}" if pools else "; none yet (llmbench arena add POOL SPEC...)"
        raise ArenaError(f"no arena pool named {name!r}{known}" + (f" ({problem})" if problem else ""))
    return pools[name]


def save_pools(pools: dict[str, Pool]) -> str | None:
    """Write every pool; a damaged file is first kept aside: returns a line saying where."""
    kept = keep_aside(pools_path()) if read_pools()[1] and pools_path().exists() else None
    atomic_write_json(paths.ensure(pools_path().parent) / pools_path().name,
                      {"pools": {n: p.to_dict() for n, p in sorted(pools.items())}})  # fmt: skip
    return f"the damaged pools file was kept as {kept}" if kept else None


def add_to_pool(name: str, specs: list[str], reference: str | None = None) -> tuple[Pool, str | None]:
    """Create ``name`` or add to it (a spec already there is not added twice)."""
    if not POOL_NAME.fullmatch(name):
        raise ArenaError(f"{name!r} is not a usable pool name (letters, digits, . _ -; at most 64)")
    pools, _ = read_pools()
    pool = pools.get(name) or Pool(name)
    for spec in specs:
        if spec not in pool.models:
            pool.models.append(spec)
    if reference is not None:
        pool.reference = reference
    pools[name] = pool
    return pool, save_pools(pools)


def remove_pool(name: str) -> None:
    pools, _ = read_pools()
    if name not in pools:
        get_pool(name)  # the one message for an unknown pool
    del pools[name]
    save_pools(pools)
