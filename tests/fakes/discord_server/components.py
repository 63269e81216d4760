"""Message components: walking nested components, Discord's numeric component ids, and mirroring a
modal's structure into a MODAL_SUBMIT payload."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any


def _walk_components(components: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for comp in components:
        yield comp
        yield from _walk_components(comp.get("components", []))
        if "component" in comp:
            yield from _walk_components([comp["component"]])
        if "accessory" in comp:
            yield from _walk_components([comp["accessory"]])


def _number_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Discord assigns sequential numeric ``id``s to components that lack one."""
    counter = itertools.count(1)
    taken = {c["id"] for c in _walk_components(components) if "id" in c}

    def assign(comps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for comp in comps:
            comp = dict(comp)
            if "id" not in comp:
                comp["id"] = next(i for i in counter if i not in taken)
            if "components" in comp:
                comp["components"] = assign(comp["components"])
            for key in ("component", "accessory"):
                if key in comp:
                    comp[key] = assign([comp[key]])[0]
            out.append(comp)
        return out

    return assign(components)


def _mirror_modal(components: list[dict[str, Any]], values: dict[str, Any]) -> list[dict[str, Any]]:
    counter = itertools.count(1)

    def one(comp: dict[str, Any]) -> dict[str, Any]:
        ctype = comp["type"]
        cid: Any = comp.get("custom_id")
        out: dict[str, Any] = {"type": ctype, "id": comp.get("id", next(counter))}
        if ctype == 1:
            out["components"] = [one(c) for c in comp["components"]]
        elif ctype == 18:  # label
            out["component"] = one(comp["component"])
        elif ctype == 4:  # text input
            value = values.pop(cid, comp.get("value") or "")
            if comp.get("required", True) and not value:
                raise ValueError(f"text input {cid!r} is required")
            out.update(custom_id=cid, value=value)
        elif ctype in (3, 5, 6, 7, 8):
            out.update(custom_id=cid, values=list(values.pop(cid, [])))
        return out

    mirrored = [one(c) for c in components]
    if values:
        raise ValueError(f"modal has no inputs named {sorted(values)}")
    return mirrored
