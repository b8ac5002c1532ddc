"""Where two JSON schemas disagree, by rule, with a payload that shows it.

``jsoncompat`` answers whether every value one schema allows is allowed by
another (yes/no). This module says *why*: it walks a writer schema (what one
side produces) against a reader schema (what the other side accepts) and
returns findings with a rule id in the spirit of Buf's breaking-change rules,
the field path, and a concrete example payload the writer can produce and the
reader rejects.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]


@dataclass(frozen=True)
class Diff:
    rule: str
    path: str
    detail: str
    sample: Any = None  # the offending value at ``path`` (None: the base example already shows it)
    remove: bool = False  # the example must lack ``path``


def resolve(schema: Any, root: Schema, depth: int = 0) -> Schema:
    """Follow ``$ref`` into ``root``'s ``$defs``."""
    while isinstance(schema, dict) and "$ref" in schema and depth < 32:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root.get("$defs", {}).get(name, {})
        depth += 1
    return schema if isinstance(schema, dict) else {}


def _options(schema: Schema, root: Schema) -> list[Schema]:
    s = resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in s:
            out: list[Schema] = []
            for o in s[key]:
                out.extend(_options(o, root))
            return out
    return [s]


def _types(s: Schema) -> set[str]:
    if "const" in s:
        return {_json_type(s["const"])}
    if "enum" in s:
        return {_json_type(v) for v in s["enum"]}
    t = s.get("type")
    if t is None:
        return {"any"}
    return set(t) if isinstance(t, list) else {t}


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def _accepts_type(reader: set[str], writer: set[str]) -> bool:
    if "any" in reader:
        return True
    return all(t in reader or (t == "integer" and "number" in reader) for t in writer)


def example(schema: Schema, root: Schema, depth: int = 0) -> Any:
    """A small valid value of ``schema`` (every property present, minimal sizes)."""
    opts = _options(schema, root)
    s = next((o for o in opts if "null" not in _types(o)), opts[0])
    if depth > 12:
        return None
    if "const" in s:
        return s["const"]
    if "enum" in s:
        return s["enum"][0]
    if "default" in s and depth > 0:
        return copy.deepcopy(s["default"])
    t = sorted(_types(s) - {"null"}) or ["null"]
    kind = t[0]
    if kind == "object":
        props = s.get("properties", {})
        return {k: example(v, root, depth + 1) for k, v in props.items()}
    if kind == "array":
        n = int(s.get("minItems", 0))
        return [example(s.get("items", {}), root, depth + 1) for _ in range(n)]
    if kind == "string":
        return "x" * max(1, int(s.get("minLength", 1)))
    if kind == "integer":
        return int(
            s.get("minimum", s.get("exclusiveMinimum", -1) + 1 if "exclusiveMinimum" in s else 0)
        )
    if kind == "number":
        return float(s.get("minimum", 0))
    if kind == "boolean":
        return False
    return None


def compare(
    writer: Schema,
    reader: Schema,
    *,
    new_side: str,
    wroot: Schema | None = None,
    rroot: Schema | None = None,
    path: str = "",
    seen: frozenset[tuple[int, ...]] = frozenset(),
) -> list[Diff]:
    """Findings where values of ``writer`` are not accepted by ``reader``.

    ``seen``: the (writer, reader) schema pairs being compared further up: a
    recursive schema (a JSON value holding JSON values) meets the same pair again,
    which adds nothing, so that branch ends there.

    ``new_side`` ("reader" or "writer") names which side is the new code, so
    the rule reads as a change: a reader that now requires a field is
    FIELD_ADDED_REQUIRED, a writer that no longer sends it is FIELD_REMOVED.
    """
    wroot = writer if wroot is None else wroot
    rroot = reader if rroot is None else rroot
    out: list[Diff] = []
    w_opts, r_opts = _options(writer, wroot), _options(reader, rroot)
    for w in w_opts:
        wt = _types(w)
        if "any" in wt and not any("any" in _types(r) for r in r_opts):
            out.append(Diff("FIELD_TYPE_CHANGED", path or "$", "was untyped, now typed"))
            continue
        fits = [r for r in r_opts if _accepts_type(_types(r), wt)]
        if not fits:
            want = sorted({t for r in r_opts for t in _types(r)})
            out.append(
                Diff(
                    "FIELD_TYPE_CHANGED",
                    path or "$",
                    f"{sorted(wt)} -> {want}",
                    sample=example(w, wroot),
                )
            )
            continue
        pair = (id(w), *(id(r) for r in fits))
        if pair in seen:
            continue
        out.extend(_best_match(w, fits, new_side, wroot, rroot, path, seen | {pair}))
    return out


def _consts(s: Schema) -> dict[str, Any]:
    """The ``const`` properties of an object schema (a tagged union's discriminators)."""
    return {
        k: v["const"]
        for k, v in s.get("properties", {}).items()
        if isinstance(v, dict) and "const" in v
    }


def _best_match(
    w: Schema,
    fits: list[Schema],
    new_side: str,
    wroot: Schema,
    rroot: Schema,
    path: str,
    seen: frozenset[tuple[int, ...]],
) -> list[Diff]:
    """The findings of writer option ``w`` against the reader option that accepts it best.

    A union (``anyOf``/``oneOf``; a tagged union such as the OpenAI stream events
    has dozens of object members told apart by a ``const`` field) accepts a value
    when any member does: ``w`` is compared with the members whose discriminators
    agree first, and the first member without findings ends the search; otherwise
    the member with the fewest findings is reported.
    """
    if len(fits) > 1:
        tags = _consts(w)
        fits = sorted(
            fits,
            key=lambda r: (
                r != w,
                sum(1 for k, v in _consts(r).items() if tags.get(k, v) != v),
            ),
        )
    best: list[Diff] | None = None
    for r in fits:
        found = _compare_same(w, r, new_side, wroot, rroot, path, seen)
        if not found:
            return []
        if best is None or len(found) < len(best):
            best = found
    return best or []


def _compare_same(
    w: Schema,
    r: Schema,
    new_side: str,
    wroot: Schema,
    rroot: Schema,
    path: str,
    seen: frozenset[tuple[int, ...]] = frozenset(),
) -> list[Diff]:
    out: list[Diff] = []
    here = path or "$"
    w_vals = w.get("enum", [w["const"]] if "const" in w else None)
    r_vals = r.get("enum", [r["const"]] if "const" in r else None)
    if r_vals is not None:
        missing = [v for v in (w_vals or []) if v not in r_vals]
        if w_vals is None:
            out.append(Diff("ENUM_NARROWED", here, f"now only {r_vals}", sample=example(w, wroot)))
        elif missing:
            rule = "ENUM_VALUE_REMOVED" if new_side == "reader" else "ENUM_VALUE_ADDED"
            out.append(Diff(rule, here, f"{missing} not in {r_vals}", sample=missing[0]))
    for key, tighter in (
        ("maxLength", min),
        ("maxItems", min),
        ("maximum", min),
        ("minLength", max),
        ("minItems", max),
        ("minimum", max),
    ):
        if key in r and (key not in w or tighter(w[key], r[key]) != w[key]):
            sample = None
            if key == "maxLength":
                sample = "x" * (w.get(key, r[key] + 1))
            elif key == "minLength":
                sample = "x" * w.get(key, 0)
            elif key == "maximum":
                sample = w.get(key, r[key] + 1)
            elif key == "minimum":
                sample = w.get(key, r[key] - 1)
            out.append(
                Diff(
                    "CONSTRAINT_TIGHTENED",
                    here,
                    f"{key} {w.get(key, 'unset')} -> {r[key]}",
                    sample=sample,
                )
            )
    if "pattern" in r and r.get("pattern") != w.get("pattern"):
        out.append(Diff("CONSTRAINT_TIGHTENED", here, f"pattern now {r['pattern']!r}"))
    if "object" in _types(w) and "object" in _types(r):
        wp, rp = w.get("properties", {}), r.get("properties", {})
        w_req = set(w.get("required", []))
        for name in r.get("required", []):
            if name not in wp:
                rule = "FIELD_ADDED_REQUIRED" if new_side == "reader" else "FIELD_REMOVED"
                out.append(
                    Diff(
                        rule,
                        f"{path}.{name}" if path else name,
                        "required by the reader, absent from the writer",
                        remove=True,
                    )
                )
            elif name not in w_req and w.get("additionalProperties") is not False:
                out.append(
                    Diff(
                        "FIELD_MADE_REQUIRED",
                        f"{path}.{name}" if path else name,
                        "optional before, required now",
                        remove=True,
                    )
                )
        if r.get("additionalProperties") is False:
            for name in wp:
                if name not in rp:
                    out.append(
                        Diff(
                            "FIELD_UNKNOWN_REJECTED",
                            f"{path}.{name}" if path else name,
                            "the reader forbids extra fields",
                        )
                    )
        for name, ws in wp.items():
            if name in rp:
                out.extend(
                    compare(
                        ws,
                        rp[name],
                        new_side=new_side,
                        wroot=wroot,
                        rroot=rroot,
                        path=f"{path}.{name}" if path else name,
                        seen=seen,
                    )
                )
    if "array" in _types(w) and "array" in _types(r) and "items" in r:
        out.extend(
            compare(
                w.get("items", {}),
                r["items"],
                new_side=new_side,
                wroot=wroot,
                rroot=rroot,
                path=f"{path}[]",
                seen=seen,
            )
        )
    return out


def with_override(base: Any, path: str, diff: Diff) -> Any:
    """``base`` with ``path`` set to the finding's sample (or removed)."""
    if not path or path == "$":
        return diff.sample if diff.sample is not None else base
    value = copy.deepcopy(base)
    parts = path.replace("[]", ".0").split(".")
    cur = value
    for p in parts[:-1]:
        if isinstance(cur, list):
            if not cur:
                return value
            cur = cur[0]
        elif isinstance(cur, dict) and p in cur:
            cur = cur[p]
        else:
            return value
    last = parts[-1]
    if isinstance(cur, dict):
        if diff.remove:
            cur.pop(last, None)
        elif diff.sample is not None:
            cur[last] = diff.sample
    return value
