"""Kubernetes objects as flat field maps, so the operator's diff compares leaves.

The reconciler compares ``Desired.spec`` with ``Observed.spec`` key by key. A
Kubernetes object read back from the API server carries much more than was
applied (defaults, status, ``managedFields``), so both sides are flattened into
``{path: leaf}`` and the observed side is cut to the desired paths: a field the
operator does not set (``replicas`` under an autoscaler, defaults the server
adds) is never compared, and a plan names exactly the leaf that drifted::

    spec/template/spec/containers[0]/image: w:1 -> w:2

Paths are segments joined by ``/`` (``~`` and ``/`` inside a key escaped as
``~0`` and ``~1``, as in JSON Pointer); a list index is ``[i]`` appended to its
segment. Empty dicts and lists are leaves, so ``emptyDir: {}`` survives the
round trip.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

_INDEX = re.compile(r"\[(\d+)\]")


def _esc(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _unesc(seg: str) -> str:
    return seg.replace("~1", "/").replace("~0", "~")


def flatten(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``{path: leaf}`` of a JSON-like dict."""
    out: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                walk(v, f"{path}/{_esc(str(k))}" if path else _esc(str(k)))
        elif isinstance(value, list) and value:
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        else:
            out[path] = value

    for k, v in obj.items():
        walk(v, _esc(k))
    return out


def _split(path: str) -> list[str | int]:
    """``a/b[0][1]/c`` -> ``["a", "b", 0, 1, "c"]``."""
    steps: list[str | int] = []
    for seg in path.split("/"):
        m = _INDEX.search(seg)
        head = seg[: m.start()] if m else seg
        steps.append(_unesc(head))
        steps.extend(int(i) for i in _INDEX.findall(seg[len(head) :]))
    return steps


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of ``flatten`` (list items in index order)."""
    root: dict[str, Any] = {}
    for path, leaf in flat.items():
        steps = _split(path)
        node: Any = root
        for step, nxt in itertools.pairwise(steps):
            empty: Any = [] if isinstance(nxt, int) else {}
            if isinstance(step, int):
                while len(node) <= step:
                    node.append(None)
                if node[step] is None:
                    node[step] = empty
                node = node[step]
            else:
                node = node.setdefault(step, empty)
        last = steps[-1]
        if isinstance(last, int):
            while len(node) <= last:
                node.append(None)
            node[last] = leaf
        else:
            node[last] = leaf
    return root


def project(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """``live`` flattened and cut to the paths of the flat ``desired`` (absent leaves are None).

    A desired empty dict or list (``emptyDir: {}``) matches a live one that the
    server filled with defaults: the operator asked only that it exists.
    """
    flat = flatten(live)
    out: dict[str, Any] = {}
    for p, want in desired.items():
        if p in flat:
            out[p] = flat[p]
        elif want in ({}, []) and any(k.startswith((p + "/", p + "[")) for k in flat):
            out[p] = want
        else:
            out[p] = None
    return out
