"""A protobuf visitor driven by descriptors: finds every Payload and every
namespace name inside any Temporal API message, nested ones included.

Called by the proxy's call handler on each request (encrypt payloads, map
logical namespace names to physical ones) and each response (decrypt, map
back). What it walks:

* ``temporal.api.common.v1.Payload`` fields, singular, repeated (``Payloads``)
  and in maps (``Memo``, ``Header``), at any depth: history events in poll and
  history responses, commands, failures and their causes, query and update
  arguments and results, schedule actions, batch signals;
* ``google.protobuf.Any`` (the update protocol's ``Message.body``): unpacked
  when its type is a Temporal message, walked, packed again;
* string fields that hold a namespace name (``namespace``,
  ``workflow_namespace``, ``parent_workflow_namespace``, ``deleted_namespace``,
  ``NamespaceInfo.name``);
* ``Failure``: on the way in, ``message`` and ``stack_trace`` move into
  ``encoded_attributes`` (so they are encrypted, the same move as the SDK's
  ``encode_common_attributes``); on the way out they move back.

It never enters ``SearchAttributes``: Temporal must index those in clear.

The walk is planned once per message type: a fixpoint over the descriptor
graph marks the types that can (transitively) hold something of interest, and
each type's plan lists only those fields. A response type with no plan (most
write responses) is passed through as bytes without parsing at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from temporalio.api.common.v1 import Payload

# protobuf descriptors (upb and pure-python types differ in the stubs)
Descriptor = Any

PAYLOAD = "temporal.api.common.v1.Payload"
SEARCH_ATTRIBUTES = "temporal.api.common.v1.SearchAttributes"
FAILURE = "temporal.api.failure.v1.Failure"
ANY = "google.protobuf.Any"
NAMESPACE_FIELDS = frozenset(
    {"namespace", "workflow_namespace", "parent_workflow_namespace", "deleted_namespace"}
)
_SPECIAL_NAMESPACE_FIELDS = {("temporal.api.namespace.v1.NamespaceInfo", "name")}

FAILURE_META = "paved-failure"
FAILURE_PLACEHOLDER = "Encoded failure"

# field actions
_P1, _PR, _PM, _M1, _MR, _MM, _NS, _ANY = range(8)


@dataclass
class Plan:
    """What to visit in one message type."""

    name: str
    fields: dict[str, tuple[int, str]] = field(
        default_factory=dict
    )  # field name -> (action, sub type)
    ns_fields: tuple[str, ...] = ()
    is_failure: bool = False
    children: bool = False  # any field beyond namespace names (payloads, nested messages)


@dataclass
class Job:
    """One walk: what to do with payloads and namespace names.

    Attributes:
        payload: ``(payload, key_namespace) -> new payload`` (return the same
            object when unchanged), or None to leave payloads alone.
        namespace: maps a namespace name found in the message; may raise to
            refuse (the proxy raises its own error for a forbidden namespace).
        key_namespace: the logical namespace whose keys apply to a nested
            message that names ``value`` as its namespace.
        default_key_namespace: keys for payloads outside such messages.
        encode_failures / decode_failures: the Failure message move.
    """

    payload: Callable[[Payload, str], Payload] | None
    namespace: Callable[[str], str] | None
    key_namespace: Callable[[str], str]
    default_key_namespace: str
    encode_failures: bool = False
    decode_failures: bool = False
    payload_count: int = 0


def _is_map(fd: FieldDescriptor) -> bool:
    t: Any = fd.message_type
    return (
        fd.type == FieldDescriptor.TYPE_MESSAGE and t is not None and bool(t.GetOptions().map_entry)
    )


def _message_fields(d: Descriptor) -> list[tuple[FieldDescriptor, Descriptor, str]]:
    """``(field, element message type, "one"|"rep"|"map")`` for each message-valued field.

    Map fields are seen through to their value type; scalar-valued maps and
    search attributes (which stay in the clear) are left out.
    """
    out = []
    for fd in d.fields:
        if fd.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        t = fd.message_type
        if _is_map(fd):
            v = t.fields_by_name["value"]
            if v.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            t, kind = v.message_type, "map"
        else:
            kind = "rep" if fd.is_repeated else "one"
        if t.full_name != SEARCH_ATTRIBUTES:
            out.append((fd, t, kind))
    return out


def _children(d: Descriptor) -> list[Descriptor]:
    return [t for _, t, _ in _message_fields(d)]


def _ns_fields(d: Descriptor) -> tuple[str, ...]:
    return tuple(
        fd.name
        for fd in d.fields
        if fd.type == FieldDescriptor.TYPE_STRING
        and not fd.is_repeated
        and (fd.name in NAMESPACE_FIELDS or (d.full_name, fd.name) in _SPECIAL_NAMESPACE_FIELDS)
    )


class Planner:
    """Plans for every message type reachable from some roots (cached)."""

    def __init__(self) -> None:
        self._plans: dict[str, Plan | None] = {}
        self._descriptors: dict[str, Descriptor] = {}
        self._classes: dict[str, Any] = {}

    def add_roots(self, roots: list[Descriptor]) -> None:
        # collect the reachable graph
        stack = list(roots)
        new: dict[str, Descriptor] = {}
        while stack:
            d = stack.pop()
            if d.full_name in self._descriptors or d.full_name in new:
                continue
            new[d.full_name] = d
            stack.extend(_children(d))
        self._descriptors.update(new)
        # fixpoint: relevant = holds a payload, a namespace name, an Any, or a relevant child
        relevant = {
            n
            for n, d in self._descriptors.items()
            if n in (PAYLOAD, ANY) or _ns_fields(d) or (self._plans.get(n) is not None)
        }
        changed = True
        while changed:
            changed = False
            for n, d in self._descriptors.items():
                if n not in relevant and any(c.full_name in relevant for c in _children(d)):
                    relevant.add(n)
                    changed = True
        for n, d in self._descriptors.items():
            self._plans[n] = self._plan(d, relevant) if n in relevant else None

    def _plan(self, d: Descriptor, relevant: set[str]) -> Plan:
        plan = Plan(d.full_name, ns_fields=_ns_fields(d), is_failure=d.full_name == FAILURE)
        for name in plan.ns_fields:
            plan.fields[name] = (_NS, "")
        for fd, t, kind in _message_fields(d):
            tn = t.full_name
            if tn not in relevant:
                continue
            if tn == PAYLOAD:
                plan.fields[fd.name] = ({"one": _P1, "rep": _PR, "map": _PM}[kind], tn)
            elif tn == ANY and kind == "one":
                plan.fields[fd.name] = (_ANY, tn)
            else:
                plan.fields[fd.name] = ({"one": _M1, "rep": _MR, "map": _MM}[kind], tn)
        plan.children = len(plan.fields) > len(plan.ns_fields)
        return plan

    def plan(self, full_name: str) -> Plan | None:
        return self._plans.get(full_name)

    def relevant(self, d: Descriptor) -> bool:
        if d.full_name not in self._plans:
            self.add_roots([d])
        return self._plans.get(d.full_name) is not None

    def _any_class(self, type_url: str) -> Any | None:
        name = type_url.rsplit("/", 1)[-1]
        cls = self._classes.get(name)
        if cls is None and name not in self._classes:
            try:
                d = descriptor_pool.Default().FindMessageTypeByName(name)
            except KeyError:
                self._classes[name] = None
                return None
            if not name.startswith("temporal.api."):
                self._classes[name] = None
                return None
            self.add_roots([d])
            cls = message_factory.GetMessageClass(d)
            self._classes[name] = cls
        return cls

    # ----- the walk ---------------------------------------------------------------------

    def walk(self, msg: Message, job: Job) -> None:
        """Visit ``msg`` in place."""
        plan = self._plans.get(msg.DESCRIPTOR.full_name)
        if plan is None and msg.DESCRIPTOR.full_name not in self._plans:
            self.add_roots([msg.DESCRIPTOR])
            plan = self._plans.get(msg.DESCRIPTOR.full_name)
        if plan is not None:
            self._walk(msg, plan, job, job.default_key_namespace)

    def _walk(self, msg: Any, plan: Plan, job: Job, key_ns: str) -> None:
        if plan.ns_fields:
            for name in plan.ns_fields:
                value = getattr(msg, name)
                if value:
                    if name != "name" or plan.name != "temporal.api.namespace.v1.NamespaceInfo":
                        key_ns = job.key_namespace(value)
                    if job.namespace is not None:
                        mapped = job.namespace(value)
                        if mapped != value:
                            setattr(msg, name, mapped)
        if plan.is_failure and job.encode_failures:
            _encode_failure(msg)
        if not plan.children and not plan.is_failure:
            return  # a message with namespace names only (most requests without payloads)
        fields = plan.fields
        payload_fn = job.payload
        for fd, value in msg.ListFields():
            action = fields.get(fd.name)
            if action is None:
                continue
            kind, sub = action
            if kind == _NS:
                continue
            if kind == _P1:
                if payload_fn is not None:
                    job.payload_count += 1
                    new = payload_fn(value, key_ns)
                    if new is not value:
                        value.CopyFrom(new)
            elif kind == _PR:
                if payload_fn is not None:
                    for p in value:
                        job.payload_count += 1
                        new = payload_fn(p, key_ns)
                        if new is not p:
                            p.CopyFrom(new)
            elif kind == _PM:
                if payload_fn is not None:
                    for k in value:
                        p = value[k]
                        job.payload_count += 1
                        new = payload_fn(p, key_ns)
                        if new is not p:
                            p.CopyFrom(new)
            else:
                subplan = self._plans.get(sub)
                if subplan is None:
                    continue
                if kind == _M1:
                    self._walk(value, subplan, job, key_ns)
                elif kind == _MR:
                    for m in value:
                        self._walk(m, subplan, job, key_ns)
                elif kind == _MM:
                    for k in value:
                        self._walk(value[k], subplan, job, key_ns)
                elif kind == _ANY:
                    self._walk_any(value, job, key_ns)
        if plan.is_failure and job.decode_failures:
            _decode_failure(msg)

    def _walk_any(self, any_msg: Any, job: Job, key_ns: str) -> None:
        cls = self._any_class(any_msg.type_url)
        if cls is None:
            return
        plan = self._plans.get(cls.DESCRIPTOR.full_name)
        if plan is None:
            return
        try:
            inner = cls.FromString(any_msg.value)
        except DecodeError:
            return
        self._walk(inner, plan, job, key_ns)
        any_msg.value = inner.SerializeToString()


def _encode_failure(f: Any) -> None:
    if (f.message or f.stack_trace) and not f.HasField("encoded_attributes"):
        data = json.dumps({"message": f.message, "stack_trace": f.stack_trace}).encode()
        f.encoded_attributes.CopyFrom(
            Payload(metadata={"encoding": b"json/plain", FAILURE_META: b"1"}, data=data)
        )
        f.message = FAILURE_PLACEHOLDER
        f.stack_trace = ""


def _decode_failure(f: Any) -> None:
    if not f.HasField("encoded_attributes"):
        return
    ea = f.encoded_attributes
    if FAILURE_META not in ea.metadata:
        return
    try:
        attrs = json.loads(ea.data)
    except ValueError:
        return
    if not isinstance(attrs, dict):
        return
    f.message = str(attrs.get("message", ""))
    f.stack_trace = str(attrs.get("stack_trace", ""))
    f.ClearField("encoded_attributes")
