"""``paved schema check``: the code against the committed goldens, and against real payloads.

Each finding carries a rule id, the type and the place (``GenerateImage
input[req]``, ``render_image output``, ``GenerateImage signal cancel_request``),
the field path, an example payload that breaks, the new model's own error on
it (inputs), and the fix. ``schemas/exceptions.yaml`` accepts a finding per
rule, type and path, with a reason. Real payloads from the replay corpus are
re-validated against the current models: the strongest evidence there is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsoncompat
import yaml
from pydantic import TypeAdapter, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType

from paved import codec, sdk, specs
from paved._errors import ProjectError
from paved.checks import _corpus as corpus_mod
from paved.checks import _schema as schema
from paved.checks import _schema_diff as diff

FIXES = {
    "WORKFLOW_REMOVED": "keep the workflow registered until its open runs have finished",
    "ACTIVITY_REMOVED": "keep the activity until no workflow version schedules it",
    "SIGNAL_REMOVED": "keep the signal handler (it may do nothing) while senders may still send it",
    "QUERY_REMOVED": "keep the query handler while callers may still ask it",
    "UPDATE_REMOVED": "keep the update handler while callers may still send it",
    "PARAM_ADDED_REQUIRED": "give the new parameter a default: old calls do not pass it",
    "PARAM_REMOVED": "keep the parameter (unused) until no caller passes it",
    "FIELD_ADDED_REQUIRED": "give the new field a default so that old payloads validate",
    "FIELD_MADE_REQUIRED": "keep a default on the field",
    "FIELD_REMOVED": "keep the field (with a default) until no old reader runs",
    "FIELD_TYPE_CHANGED": "add a field with the new type and keep the old one, or version the type (ModelV2)",
    "FIELD_UNKNOWN_REJECTED": "let the reader ignore unknown fields (model_config extra='ignore')",
    "ENUM_VALUE_REMOVED": "keep accepting the old value (map it to a new one in a validator)",
    "ENUM_VALUE_ADDED": "deploy readers that accept the new value before writers send it",
    "ENUM_NARROWED": "keep accepting what was accepted, or version the type",
    "CONSTRAINT_TIGHTENED": "enforce the new limit for new requests in code, not in the model, or version the type",
    "SCHEMA_INCOMPATIBLE": "make the new schema accept what the old side produces, or version the type",
    "CORPUS_PAYLOAD_REJECTED": "a real recorded payload no longer validates: relax the model or version the type",
}


@dataclass(frozen=True)
class SchemaFinding:
    rule: str
    type_name: str
    where: str
    path: str
    detail: str
    example: Any = None
    model_error: str | None = None
    accepted: str | None = None  # the exception's reason when accepted

    @property
    def fix(self) -> str:
        return FIXES.get(self.rule, "")

    def format(self) -> str:
        head = f"{self.rule}: {self.type_name} {self.where}"
        if self.path:
            head += f" field {self.path}"
        lines = [head, f"    {self.detail}"]
        if self.example is not None:
            lines.append(f"    breaks on: {json.dumps(self.example, sort_keys=True)[:400]}")
        if self.model_error:
            lines.append(f"    new model says: {self.model_error}")
        lines.append(f"    fix: {self.fix}")
        if self.accepted:
            lines.append(f"    accepted in exceptions.yaml: {self.accepted}")
        return "\n".join(lines)


def _compat(old: dict[str, Any], new: dict[str, Any], role: str) -> bool:
    if not old or not new:
        return True
    try:
        return bool(jsoncompat.check_compat(json.dumps(old), json.dumps(new), role))  # type: ignore[arg-type]
    except Exception:  # jsoncompat cannot decide: fall back to the structural walk alone
        return True


def _direction(
    type_name: str,
    where: str,
    writer: dict[str, Any],
    reader: dict[str, Any],
    new_side: str,
    new_type: Any,
) -> list[SchemaFinding]:
    role = "deserializer"  # every value ``writer`` allows must be allowed by ``reader``
    ok = _compat(writer, reader, role)
    found = diff.compare(writer, reader, new_side=new_side)
    out = []
    base = diff.example(writer, writer) if writer else None
    for d in found:
        ex = diff.with_override(base, d.path, d)
        err = (
            schema.validate_example(new_type, ex)
            if new_side == "reader" and new_type is not None
            else None
        )
        if new_side == "reader" and new_type is not None and err is None:
            continue  # the new model accepts it after all (a coercion): not a break
        out.append(SchemaFinding(d.rule, type_name, where, d.path, d.detail, ex, err))
    if not ok and not out:
        out.append(
            SchemaFinding(
                "SCHEMA_INCOMPATIBLE",
                type_name,
                where,
                "",
                "jsoncompat: values of the old schema are rejected by the new one",
                base,
            )
        )
    return out


def _io(
    type_name: str,
    where: str,
    old: dict[str, Any],
    new: dict[str, Any],
    new_type: Any,
    output: bool,
) -> list[SchemaFinding]:
    if old == new:
        # Unchanged (reader and writer schemas both): nothing can break that did not
        # already work. Comparing a type's writer schema with its own reader schema
        # asks jsoncompat to prove Pydantic's serialization and validation modes
        # agree, which it cannot for large tagged unions (Pydantic AI's messages):
        # it answered "incompatible" with no example, for unchanged goldens.
        return []
    out = _direction(
        type_name, where, old.get("writer", {}), new.get("reader", {}), "reader", new_type
    )
    if output:  # rolling deploy: old readers meet new writers too
        out += _direction(
            type_name, where, new.get("writer", {}), old.get("reader", {}), "writer", None
        )
    return out


def _params(
    type_name: str,
    where: str,
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    types: list[Any],
) -> list[SchemaFinding]:
    out = []
    for i, p in enumerate(new):
        if i >= len(old):
            if p["required"]:
                out.append(
                    SchemaFinding(
                        "PARAM_ADDED_REQUIRED",
                        type_name,
                        f"{where}[{p['name']}]",
                        "",
                        f"new parameter {p['name']!r} has no default",
                    )
                )
            continue
        tp = types[i] if i < len(types) else None
        out += _io(type_name, f"{where}[{p['name']}]", old[i], p, tp, output=False)
    for p in old[len(new) :]:
        out.append(
            SchemaFinding(
                "PARAM_REMOVED",
                type_name,
                f"{where}[{p['name']}]",
                "",
                f"parameter {p['name']!r} was removed: old calls still pass it",
            )
        )
    return out


Types = tuple[list[Any], Any, dict[str, list[Any]]]


def _types_of(kind: str, name: str) -> Types:
    obj = sdk.definitions(kind)[name][1]
    return types_of(kind, obj)


def types_of(kind: str, obj: Any) -> Types:
    """Current Python types: run/activity params, result, and handler params by name."""
    if kind == "workflow":
        from temporalio import workflow as t_workflow

        defn = t_workflow._Definition.must_from_class(obj)
        sig = schema._signature(defn.run_fn)
        handlers = {
            f"signal {n}": [p.type for p in schema._signature(s.fn).params]
            for n, s in defn.signals.items()
            if n
        }
        handlers |= {
            f"query {n}": [p.type for p in schema._signature(q.fn).params]
            for n, q in defn.queries.items()
            if n
        }
        handlers |= {
            f"update {n}": [p.type for p in schema._signature(u.fn).params]
            for n, u in defn.updates.items()
            if n
        }
        return [p.type for p in sig.params], sig.result, handlers
    sig = schema._signature(obj)
    return [p.type for p in sig.params], sig.result, {}


def compare_docs(
    old: dict[str, Any], new: dict[str, Any] | None, types: Types | None = None
) -> list[SchemaFinding]:
    """Findings between a golden document and the current one (``types``: the current
    Python types, default from the registry)."""
    kind, name = old["kind"], old["name"]
    if new is None:
        return [
            SchemaFinding(
                f"{kind.upper()}_REMOVED",
                name,
                "",
                "",
                f"{kind} {name!r} is in the goldens but not in the code",
            )
        ]
    params, result, handlers = types or _types_of(kind, name)
    out = _params(name, "input", old["input"], new["input"], params)
    out += _io(name, "output", old["output"], new["output"], result, output=True)
    for group, label in (("signals", "signal"), ("queries", "query"), ("updates", "update")):
        for hname, h in old.get(group, {}).items():
            nh = new.get(group, {}).get(hname)
            if nh is None:
                out.append(
                    SchemaFinding(
                        f"{label.upper()}_REMOVED",
                        name,
                        f"{label} {hname}",
                        "",
                        f"{label} {hname!r} was removed or renamed",
                    )
                )
                continue
            out += _params(
                name,
                f"{label} {hname} input",
                h["input"],
                nh["input"],
                handlers.get(f"{label} {hname}", []),
            )
            if "output" in h:
                out += _io(
                    name, f"{label} {hname} output", h["output"], nh["output"], None, output=True
                )
    return out


@dataclass(frozen=True)
class Exception_:
    rule: str
    type: str
    path: str
    reason: str


def load_exceptions(path: Path) -> list[Exception_]:
    if not path.exists():
        return []
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for i, e in enumerate(doc.get("exceptions", [])):
        if not isinstance(e, dict) or not e.get("rule") or not str(e.get("reason", "")).strip():
            raise ProjectError(
                f"{path}: exceptions[{i}] needs `rule` and a non-empty `reason`",
                code="PAVED-SCHEMA-EXCEPTION",
                fix="write `- {rule: FIELD_REMOVED, type: GenerateImage, path: reason, reason: why it is safe}`",
            )
        out.append(
            Exception_(
                str(e["rule"]),
                str(e.get("type", "*")),
                str(e.get("path", "")),
                str(e["reason"]).strip(),
            )
        )
    return out


def _accepted(f: SchemaFinding, exceptions: list[Exception_]) -> str | None:
    for e in exceptions:
        if (
            e.rule == f.rule
            and e.type in ("*", f.type_name)
            and (not e.path or f.path.startswith(e.path) or f.where.startswith(e.path))
        ):
            return e.reason
    return None


def check(
    project: specs.Project, directory: Path, corpus: Path | None = None
) -> list[SchemaFinding]:
    """Every finding (accepted ones carry their reason); empty when compatible."""
    if not directory.is_dir():
        raise ProjectError(
            f"no golden schemas in {directory}",
            code="PAVED-SCHEMA-MISSING",
            fix="run `paved schema gen` and commit the directory",
        )
    new_files = {
        k: json.loads(v) for k, v in schema.generate(project).items() if k != "surface.json"
    }
    findings: list[SchemaFinding] = []
    for rel, old in schema.load(directory).items():
        findings += compare_docs(old, new_files.get(rel))
    if corpus is not None and corpus.is_dir():
        findings += revalidate_corpus(project, corpus)
    exceptions = load_exceptions(directory / schema.EXCEPTIONS_FILE)
    return [
        SchemaFinding(
            f.rule,
            f.type_name,
            f.where,
            f.path,
            f.detail,
            f.example,
            f.model_error,
            _accepted(f, exceptions),
        )
        for f in findings
    ]


def stale(project: specs.Project, directory: Path) -> list[str]:
    """Golden files that differ from what ``paved schema gen`` would write now."""
    want = schema.generate(project)
    have = (
        {
            p.relative_to(directory).as_posix(): p.read_text(encoding="utf-8")
            for p in directory.glob("**/*.json")
        }
        if directory.is_dir()
        else {}
    )
    return sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))


# ----- real payloads --------------------------------------------------------------------


def _value(p: Payload, ring: codec.KeyRing, ns: str) -> bytes | None:
    if codec.is_encrypted(p):
        p = codec.decrypt_payload(p, ring, ns)
    if p.metadata.get("encoding") != b"json/plain":
        return None
    return p.data


def revalidate_corpus(project: specs.Project, corpus: Path) -> list[SchemaFinding]:
    """Validate every recorded input and result against the current models."""
    ring, _ = corpus_mod.corpus_keyring(corpus, project.state_dir)
    out: list[SchemaFinding] = []
    E = EventType
    for entry in corpus_mod.iter_corpus(corpus):
        wf = entry.workflow_type
        if wf not in sdk.definitions("workflow"):
            continue
        params, result, handlers = _types_of("workflow", wf)
        scheduled: dict[int, str] = {}
        for ev in entry.history.events:
            checks: list[tuple[str, Any, Any]] = []  # (where, payloads, types)
            if ev.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                checks.append(
                    ("input", ev.workflow_execution_started_event_attributes.input, params)
                )
            elif ev.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                checks.append(
                    ("output", ev.workflow_execution_completed_event_attributes.result, [result])
                )
            elif ev.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                a = ev.workflow_execution_signaled_event_attributes
                checks.append(
                    (
                        f"signal {a.signal_name} input",
                        a.input,
                        handlers.get(f"signal {a.signal_name}", []),
                    )
                )
            elif ev.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                a2 = ev.activity_task_scheduled_event_attributes
                scheduled[ev.event_id] = a2.activity_type.name
                if a2.activity_type.name in sdk.definitions("activity"):
                    ap, _, _ = _types_of("activity", a2.activity_type.name)
                    checks.append((f"activity {a2.activity_type.name} input", a2.input, ap))
            elif ev.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                a3 = ev.activity_task_completed_event_attributes
                name = scheduled.get(a3.scheduled_event_id, "")
                if name in sdk.definitions("activity"):
                    _, ar, _ = _types_of("activity", name)
                    checks.append((f"activity {name} output", a3.result, [ar]))
            for where, payloads, types in checks:
                for p, tp in zip(payloads.payloads, types, strict=False):
                    data = _value(p, ring, entry.namespace)
                    if data is None or tp is None:
                        continue
                    try:
                        TypeAdapter(tp).validate_json(data)
                    except ValidationError as e:
                        first = e.errors()[0]
                        loc = ".".join(str(x) for x in first.get("loc", ()))
                        out.append(
                            SchemaFinding(
                                "CORPUS_PAYLOAD_REJECTED",
                                wf,
                                where,
                                loc,
                                f"event {ev.event_id} of {entry.path.name} (workflow id {entry.workflow_id})",
                                model_error=f"{loc or '$'}: {first.get('msg')}",
                            )
                        )
    return out
