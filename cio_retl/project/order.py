"""The order syncs run in: objects and people, then relationships, then events — whatever the file order — and `after:`."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from itertools import pairwise

from cio_retl.project.project import Project
from cio_retl.project.syncs import Sync

# Customer.io must know a person or object before a relationship names it, and a person before their events.
IDENTITIES, RELATIONSHIPS, ACTIVITY = 0, 1, 2


def stage(sync: Sync) -> int:
    """Which of the three groups a sync belongs to; a group sync keyed by a person is a relationship sync."""
    if sync.type in ("track", "page", "screen"):
        return ACTIVITY
    # A segment's members must exist before they are added: segment syncs wait for the people syncs.
    if sync.type in ("alias", "segment") or (sync.type == "group" and {"user_id", "anonymous_id"} & set(sync.key_columns)):
        return RELATIONSHIPS
    return IDENTITIES


def dependencies(project: Project) -> dict[str, list[str]]:
    """For each sync, the syncs that must run before it: those of the nearest earlier group, plus its `after:`.

    (The nearest group only: the groups before it are reached through those, which keeps Dagster's lineage
    readable.)
    """
    by_stage: dict[int, list[str]] = {}
    for name, sync in project.syncs.items():
        by_stage.setdefault(stage(sync), []).append(name)
    needs = {}
    for name, sync in project.syncs.items():
        earlier = [s for s in sorted(by_stage) if s < stage(sync)]
        before = by_stage[earlier[-1]] if earlier else []
        needs[name] = list(dict.fromkeys([*before, *sync.after]))
    return needs


GROUP_NAMES = {IDENTITIES: "objects and people", RELATIONSHIPS: "relationships", ACTIVITY: "events"}


def order_problems(project: Project) -> list[str]:
    """A loop in the one order graph (the built-in order plus `after:`), named sync by sync with why each waits."""
    needs = dependencies(project)
    try:
        TopologicalSorter(needs).prepare()
    except CycleError as exc:
        loop = list(exc.args[1])  # each name waits for the next one
        steps = []
        for name, other in pairwise(loop):
            sync, before = project.syncs[name], project.syncs[other]
            why = "after:" if other in sync.after else \
                f"{GROUP_NAMES[stage(before)]} run before {GROUP_NAMES[stage(sync)]}"
            steps.append(f"{name} runs after {other} ({why})")
        return [f"syncs: the run order goes round in a circle ({' → '.join(loop)}): {'; '.join(steps)}; remove "
                f"the `after:` that goes against the built-in order (objects and people, then relationships, then "
                f"events)"]
    return []


def run_order(project: Project, names: list[str] | None = None) -> list[str]:
    """The syncs to run (all when `names` is empty) in an order that respects `dependencies`, file order otherwise."""
    chosen = list(names or project.syncs)
    needs = dependencies(project)
    position = {name: i for i, name in enumerate(project.syncs)}
    sorter = TopologicalSorter({name: [n for n in prerequisites(needs, name) if n in chosen] for name in chosen})
    sorter.prepare()
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        ordered.extend(ready)
        sorter.done(*ready)
    return ordered


def prerequisites(needs: dict[str, list[str]], name: str) -> set[str]:
    """Every sync `name` waits for, directly or through others."""
    seen: set[str] = set()
    todo = list(needs.get(name, []))
    while todo:
        other = todo.pop()
        if other not in seen:
            seen.add(other)
            todo.extend(needs.get(other, []))
    return seen

