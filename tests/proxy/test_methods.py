"""The RPC table and the payload visitor, checked against the installed temporalio.api."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import PollWorkflowTaskQueueResponse

import paved.proxy
from paved.proxy import all_methods, unclassified
from paved.proxy._visitor import Job, Planner


def test_every_method_is_classified() -> None:
    assert unclassified() == []  # a new Temporal RPC is denied until someone classifies it
    ms = {m.name: m for m in all_methods().values()}
    assert len(ms) > 120
    assert (
        ms["StartWorkflowExecution"].roles == {"write"} and ms["StartWorkflowExecution"].is_action
    )
    assert ms["PollWorkflowTaskQueue"].roles == {"worker"} and ms["PollWorkflowTaskQueue"].long_poll
    assert (
        ms["RespondActivityTaskCompleted"].has_task_token
        and ms["RespondActivityTaskCompleted"].is_worker
    )
    assert ms["QueryWorkflow"].roles == {"read"}
    assert ms["UpdateNamespace"].roles == {"admin"}
    assert ms["CreateNexusEndpoint"].kind == "global"


def test_public_names() -> None:
    assert set(paved.proxy.__all__) >= {"ProxyServer", "Upstream", "MemoryLimiter", "RedisLimiter"}


def test_visitor_skips_search_attributes_and_maps_nested_namespaces() -> None:
    r = PollWorkflowTaskQueueResponse()
    started = r.history.events.add().workflow_execution_started_event_attributes
    started.input.payloads.add(data=b"in")
    started.memo.fields["m"].data = b"memo"
    started.header.fields["h"].data = b"hdr"
    started.search_attributes.indexed_fields["sa"].data = b"sa"
    child = r.history.events.add().start_child_workflow_execution_initiated_event_attributes
    child.namespace = "other-phys"
    child.input.payloads.add(data=b"child")
    seen: list[tuple[bytes, str]] = []

    def fn(p: Payload, ns: str) -> Payload:
        seen.append((p.data, ns))
        return Payload(data=b"X" + p.data)

    Planner().walk(
        r,
        Job(
            payload=fn,
            namespace=lambda v: "other" if v == "other-phys" else v,
            key_namespace=lambda v: "other" if v == "other-phys" else v,
            default_key_namespace="mine",
        ),
    )
    assert sorted(seen) == [
        (b"child", "other"),
        (b"hdr", "mine"),
        (b"in", "mine"),
        (b"memo", "mine"),
    ]
    assert started.search_attributes.indexed_fields["sa"].data == b"sa"
    assert started.input.payloads[0].data == b"Xin" and child.namespace == "other"
