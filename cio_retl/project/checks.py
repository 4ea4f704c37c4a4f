"""Checks across a project file's settings — names, warehouses, model files, actions — with did-you-mean, in one pass.

They read the raw (interpolated) YAML tree, so they run even when pydantic found other problems in the same file:
a newcomer sees every mistake at once instead of one round per fix.
"""

from __future__ import annotations

import re
import types
from graphlib import CycleError, TopologicalSorter
from inspect import isclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from cio_retl.suggest import did_you_mean, nearest

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def reference_problems(raw: dict[str, Any], root: Path) -> list[str]:
    """Every cross-reference problem of a raw project tree: sync names, warehouses, model files, actions."""
    syncs = raw.get("syncs") if isinstance(raw.get("syncs"), dict) else {}
    warehouses = raw.get("warehouses") if isinstance(raw.get("warehouses"), dict) else {}
    problems = name_problems(syncs, warehouses)
    for name, spec in syncs.items():
        if isinstance(spec, dict):
            problems += _model_problems(name, spec, root)
    problems += after_problems(syncs)
    actions = raw.get("actions") if isinstance(raw.get("actions"), dict) else {}
    problems += action_problems(actions)
    return problems + destination_problems(raw)


def destination_problems(raw: dict[str, Any]) -> list[str]:
    """A Data Pipelines destination cannot take segment syncs (their endpoints are the Track API's)."""
    destination = raw.get("destination") if isinstance(raw.get("destination"), dict) else {}
    if destination.get("api") != "pipelines":
        return []
    syncs = raw.get("syncs") if isinstance(raw.get("syncs"), dict) else {}
    segments = [name for name, spec in syncs.items() if isinstance(spec, dict) and spec.get("type") == "segment"]
    if not segments:
        return []
    return [f"syncs {', '.join(segments)}: segment syncs need the Track API (add_customers is a Track API "
            "endpoint): with destination api: pipelines, run them from a project whose destination is the Track API"]


def after_problems(syncs: dict[str, Any]) -> list[str]:
    """`after:` names that are no sync (with the near name), and orders that go round in a circle."""
    problems, edges = [], {}
    for name, spec in syncs.items():
        after = spec.get("after") if isinstance(spec, dict) else None
        if not isinstance(after, list):
            continue
        for other in after:
            if other not in syncs:
                near = did_you_mean(str(other), map(str, syncs), listing="syncs are")
                problems.append(f"syncs.{name}.after: no sync named '{other}'{near}")
        edges[name] = [other for other in after if other in syncs]
    loop = circle(edges)
    if loop:
        problems.append(f"syncs: `after` goes round in a circle ({' → '.join(loop)}): remove one of them")
    return problems


def circle(edges: dict[str, list[str]]) -> list[str] | None:
    """A circle in `after:` edges (as names, first repeated at the end), or None."""
    try:
        TopologicalSorter(edges).prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return None


def name_problems(syncs: dict[str, Any], warehouses: dict[str, Any]) -> list[str]:
    """Sync names that cannot be file names, and syncs naming a warehouse that is not configured."""
    problems = []
    for name, spec in syncs.items():
        if not _NAME.match(str(name)):
            problems.append(f"syncs.{name}: sync names must be letters, digits and underscores")
        warehouse = spec.get("warehouse") if isinstance(spec, dict) else getattr(spec, "warehouse", None)
        if isinstance(warehouse, str) and warehouse not in warehouses:
            near = did_you_mean(warehouse, map(str, warehouses), listing="warehouses are")
            problems.append(f"syncs.{name}.warehouse: no warehouse named '{warehouse}'{near}")
    return problems


def _model_problems(name: str, spec: dict[str, Any], root: Path) -> list[str]:
    """A model file that does not exist (with the nearest file of its folder), or a windowed model in mirror mode."""
    model, sql = spec.get("model"), spec.get("query")
    if isinstance(model, str) and model:
        path = Path(model) if Path(model).is_absolute() else root / model
        if not path.is_file():
            siblings = [p.name for p in path.parent.iterdir() if p.is_file()] if path.parent.is_dir() else []
            near = nearest(path.name, siblings)
            hint = f" (did you mean {Path(model).with_name(near).as_posix()}?)" if near else ""
            return [f"syncs.{name}.model: file {path} not found{hint}"]
        sql = path.read_text()
    return _incremental_mirror_problems(name, spec, sql) if isinstance(sql, str) else []


def _incremental_mirror_problems(name: str, spec: dict[str, Any], sql: str) -> list[str]:
    """A windowed model cannot drive deletes: rows outside the window would look removed."""
    from cio_retl.project.incremental import uses_last_sync_time

    if spec.get("mode") != "mirror" or not uses_last_sync_time(sql):
        return []
    return [f"syncs.{name}: {{{{ last_sync_time }}}} reads only recent rows, so mode 'mirror' would delete the rest; "
            f"use mode 'upsert' (or 'append' for events)"]


def action_problems(actions: dict[str, Any]) -> list[str]:
    """Overrides naming an action or a mapping field the Journeys destination does not have."""
    from cio_retl.actions.catalog import override_problems

    problems = []
    for slug, spec in actions.items():
        mapping = spec.get("mapping") if isinstance(spec, dict) else None
        problems += override_problems(str(slug), mapping if isinstance(mapping, dict) else ())
    return problems


# ---------------------------------------------------------------- unknown settings


def setting_location(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, list[str]]:
    """For a pydantic error location: its path as written in the file, and the settings known beside it.

    Union tags that pydantic puts into locations (`warehouses.wh.duckdb.path`) are left out of the path.
    """
    node: Any = model
    shown: list[str] = []
    for part in loc[:-1]:
        node, is_tag = _step(node, part)
        if not is_tag:
            shown.append(str(part))
        if node is None:
            return ".".join([*shown, str(loc[-1])]), []
    shown.append(str(loc[-1]))
    known = [field.alias or name for name, field in node.model_fields.items() if not field.exclude] \
        if isclass(node) and issubclass(node, BaseModel) else []
    return ".".join(shown), known


def union_choice(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, str, bool] | None:
    """For an error inside one member of a plain union (`str | list[str]`, whose locations carry pydantic's member
    names, `primary_key.list[str].0`): the union's path as written, what it accepts in words, and whether the
    error is about the whole value (its location ends at the member) — else None."""
    node: Any = model
    shown: list[str] = []
    for index, part in enumerate(loc):
        inner = node
        while get_origin(inner) is Annotated:
            inner = get_args(inner)[0]
        if get_origin(inner) in (Union, types.UnionType):
            members = [a for a in get_args(inner) if a is not type(None)]
            if any(_pydantic_name(a) == str(part) for a in members):
                return ".".join(shown), " or ".join(_in_words(a) for a in members), index == len(loc) - 1
        node, is_tag = _step(node, part)
        if not is_tag:
            shown.append(str(part))
        if node is None:
            return None
    return None


def _pydantic_name(annotation: Any) -> str:
    """The name pydantic gives a union member in error locations: `str`, `list[str]`, a model's class name."""
    args = get_args(annotation)
    if not args:
        return getattr(annotation, "__name__", str(annotation))
    return f"{get_origin(annotation).__name__}[{', '.join(_pydantic_name(a) for a in args)}]"


def _in_words(annotation: Any) -> str:
    """A type as a user of the project file says it: `list[str]` → a list of text."""
    words = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
    if annotation in words:
        return words[annotation]
    if get_origin(annotation) is list:
        [item] = get_args(annotation)
        inner = _in_words(item)
        return "a list of " + (f"lists of {inner.removeprefix('a list of ')}" if get_origin(item) is list else inner)
    return "a mapping of settings"


def _step(node: Any, part: Any) -> tuple[Any, bool]:
    """One step down a type: (the type at `part`, whether `part` was a union tag rather than a key)."""
    while get_origin(node) is Annotated:
        node = get_args(node)[0]
    if isclass(node) and issubclass(node, BaseModel):
        field = next((f for n, f in node.model_fields.items() if part in (n, f.alias)), None)
        return (field.annotation if field else None), False
    origin, args = get_origin(node), get_args(node)
    if origin is dict:
        return args[1], False
    if origin is list:
        return args[0], False
    if origin in (Union, types.UnionType):
        models = [a for a in args if isclass(a) and issubclass(a, BaseModel)]
        tagged = [m for m in models if "type" in m.model_fields and part in get_args(m.model_fields["type"].annotation)]
        if tagged:
            return tagged[0], True
        return _step(models[0], part) if len(models) == 1 else (None, False)  # `Model | None`
    return None, False
