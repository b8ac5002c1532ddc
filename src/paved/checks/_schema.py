"""Golden schemas: ``paved schema gen`` writes them, ``paved schema check`` compares code with them.

For every workflow (run, signals, queries, updates) and activity of the
project, each parameter and result gets two JSON schemas from Pydantic:
the *reader* (what the code accepts: defaults optional, extra fields ignored)
and the *writer* (what it produces: every field present, nothing else, so the
schema is closed). ``schemas/surface.json`` lists the interface: type names and
signal, query and update names. The directory is committed; CI compares.

Compatibility (see docs/checks.md): inputs must stay readable by new code (old
writer -> new reader); outputs must work both ways during a rolling deploy
(old writer -> new reader and new writer -> old reader). ``jsoncompat`` gives
the verdict; ``_schema_diff`` names the rule, the path and an example payload,
which for inputs is confirmed by validating it with the new model itself.
"""

from __future__ import annotations

import inspect
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from temporalio import activity as t_activity
from temporalio import workflow as t_workflow

from paved import sdk, specs

GOLDEN = 1
DEFAULT_DIR = "schemas"
EXCEPTIONS_FILE = "exceptions.yaml"


@dataclass(frozen=True)
class Param:
    name: str
    required: bool
    type: Any


@dataclass(frozen=True)
class Signature:
    params: list[Param]
    result: Any  # a type, or inspect.Parameter.empty


def _signature(fn: Any) -> Signature:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    sig = inspect.signature(fn)
    params = [
        Param(p.name, p.default is inspect.Parameter.empty, hints.get(p.name, Any))
        for p in sig.parameters.values()
        if p.name not in ("self", "cls") and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return Signature(params, hints.get("return", Any))


def schemas_for(tp: Any) -> dict[str, Any]:
    """``{"reader": ..., "writer": ...}`` for one Python type."""
    if tp is Any or tp is inspect.Parameter.empty or tp is None or tp is type(None):
        empty: dict[str, Any] = {} if tp is not None and tp is not type(None) else {"type": "null"}
        return {"reader": empty, "writer": empty}
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(tp)
        reader = adapter.json_schema(mode="validation")
        writer = _closed(adapter.json_schema(mode="serialization"))
    except Exception:  # a type Pydantic cannot describe: compare nothing, say so
        return {"reader": {}, "writer": {}, "note": f"no schema for {tp!r}"}
    return {"reader": reader, "writer": writer}


def _closed(schema: Any) -> Any:
    """A writer sends every field and nothing else: required = all properties, no extras."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out:
            out["required"] = sorted(out["properties"])
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def _callable_doc(fn: Any) -> dict[str, Any]:
    sig = _signature(fn)
    return {
        "input": [
            {"name": p.name, "required": p.required, **schemas_for(p.type)} for p in sig.params
        ],
        "output": schemas_for(sig.result),
    }


def workflow_doc(name: str, cls: type) -> dict[str, Any]:
    defn = t_workflow._Definition.must_from_class(cls)
    doc = {"golden": GOLDEN, "kind": "workflow", "name": name, **_callable_doc(defn.run_fn)}
    doc["signals"] = {
        n: {"input": _callable_doc(s.fn)["input"]} for n, s in sorted(defn.signals.items()) if n
    }
    doc["queries"] = {n: _callable_doc(q.fn) for n, q in sorted(defn.queries.items()) if n}
    doc["updates"] = {n: _callable_doc(u.fn) for n, u in sorted(defn.updates.items()) if n}
    return doc


def activity_doc(name: str, fn: Any) -> dict[str, Any]:
    t_activity._Definition.must_from_callable(fn)
    return {"golden": GOLDEN, "kind": "activity", "name": name, **_callable_doc(fn)}


def generate(project: specs.Project) -> dict[str, str]:
    """``{relative path: text}`` of every golden file, deterministic."""
    placements = project.import_code()
    wf_names = sorted(p.name for p in placements if p.kind == "workflow")
    act_names = sorted(p.name for p in placements if p.kind == "activity")
    files: dict[str, str] = {}
    surface: dict[str, Any] = {"golden": GOLDEN, "workflows": {}, "activities": act_names}
    for n in wf_names:
        doc = workflow_doc(n, sdk.definitions("workflow")[n][1])
        files[f"workflows/{n}.json"] = _dump(doc)
        surface["workflows"][n] = {k: sorted(doc[k]) for k in ("signals", "queries", "updates")}
    for n in act_names:
        files[f"activities/{n}.json"] = _dump(activity_doc(n, sdk.definitions("activity")[n][1]))
    files["surface.json"] = _dump(surface)
    return files


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def write(project: specs.Project, directory: Path, files: dict[str, str]) -> list[Path]:
    written = []
    keep = {directory / rel for rel in files}
    for rel, text in files.items():
        path = directory / rel
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for old in directory.glob("*/*.json"):
        if old not in keep:  # a type removed from the code (schema check reported it)
            old.unlink()
            written.append(old)
    return written


def load(directory: Path) -> dict[str, dict[str, Any]]:
    """Committed goldens: ``{"workflows/X.json": doc, ...}``."""
    out = {}
    for path in sorted(directory.glob("*/*.json")):
        out[f"{path.parent.name}/{path.name}"] = json.loads(path.read_text(encoding="utf-8"))
    return out


def validate_example(tp: Any, value: Any) -> str | None:
    """The new model's own verdict on an example payload: its error, or None if accepted."""
    try:
        TypeAdapter(tp).validate_python(value)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ())) or "$"
        return f"{loc}: {first.get('msg', 'invalid')}"
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None
