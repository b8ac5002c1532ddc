"""The proxy's pipeline: which stages each method class runs, and the authorization decision's
reason reaching the caller and the access log."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from proxy_helpers import Env
from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueResponse,
    TerminateWorkflowExecutionRequest,
)
from temporalio.service import RPCError, RPCStatusCode

from paved import codec
from paved.auth import Policy
from paved.proxy import ProxyServer
from paved.proxy._context import CallContext
from paved.specs import Route, Routes

WS = "/temporal.api.workflowservice.v1.WorkflowService/"
OS = "/temporal.api.operatorservice.v1.OperatorService/"


def _stages(proxy: ProxyServer, path: str) -> list[str]:
    return [s.__name__ for s in proxy.pipeline.stages[path]]


def test_each_method_class_runs_its_stages_in_order() -> None:
    proxy = ProxyServer(policy=Policy.from_dict({}), routes=Routes([]), upstream="127.0.0.1:1")
    full = ["authenticate", "parse", "route", "authorize"]
    assert _stages(proxy, WS + "StartWorkflowExecution") == [
        *full,
        "rate_limit",
        "rewrite",
        "forward",
        "rewrite_back",
    ]
    # long polls are not rate limited; their responses carry histories to decrypt
    assert _stages(proxy, WS + "PollWorkflowTaskQueue") == [
        *full,
        "rewrite",
        "forward",
        "rewrite_back",
    ]
    # a task token must belong to the namespace the call names
    assert _stages(proxy, WS + "RespondActivityTaskCompleted")[4:6] == [
        "rate_limit",
        "guard_task_token",
    ]
    # a response with no payload and no namespace name goes back as bytes, unparsed
    assert "rewrite_back" not in _stages(proxy, WS + "TerminateWorkflowExecution")
    # cluster-wide: admin on every namespace; no namespace to route or rewrite
    assert _stages(proxy, OS + "ListClusters") == ["authenticate", "parse", "authorize", "forward"]
    assert _stages(proxy, WS + "GetSystemInfo") == ["authenticate", "parse", "forward"]
    # every cluster holding a namespace the caller may see, merged
    assert _stages(proxy, WS + "ListNamespaces") == ["authenticate", "parse", "list_namespaces"]


async def test_the_decision_reason_reaches_the_caller_and_the_access_log(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="paved.proxy.access")
    reader = await env.client("reader")
    await reader.count_workflows()
    with pytest.raises(RPCError) as e:
        await reader.workflow_service.terminate_workflow_execution(
            TerminateWorkflowExecutionRequest(namespace=env.alpha),
            retry=False,
        )
    assert e.value.status == RPCStatusCode.PERMISSION_DENIED
    why = f"needs write on namespace {env.alpha!r}; team viewers holds read there"
    assert why in e.value.message and "reader (team viewers)" in e.value.message
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "paved.proxy.access"]
    ok = next(x for x in lines if x["method"] == "CountWorkflowExecutions")
    assert ok["decision"] == f"team viewers holds read on namespace {env.alpha!r} in eu/prod"
    denied = next(x for x in lines if x["method"] == "TerminateWorkflowExecution")
    assert denied["code"] == "PERMISSION_DENIED" and why in denied["reason"]


async def test_upstream_error_details_stay_out_of_the_access_log(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Temporal's messages can quote workflow data; the log keeps only the code."""
    caplog.set_level(logging.INFO, logger="paved.proxy.access")
    writer = await env.client("writer")
    secret_id = f"secret-{uuid.uuid4().hex}"
    with pytest.raises(RPCError) as e:
        await writer.get_workflow_handle(secret_id).terminate()
    assert e.value.status == RPCStatusCode.NOT_FOUND
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "paved.proxy.access"]
    entry = next(x for x in lines if x["method"] == "TerminateWorkflowExecution")
    assert entry["code"] == "NOT_FOUND" and "reason" not in entry
    assert secret_id not in caplog.text


def _poll_answer(*, child_namespace: str = "", payload: Payload | None = None) -> bytes:
    r = PollWorkflowTaskQueueResponse(task_token=b"t")
    started = r.history.events.add().workflow_execution_started_event_attributes
    started.input.payloads.append(payload or Payload(metadata={"encoding": b"json/plain"}))
    if child_namespace:
        child = r.history.events.add().start_child_workflow_execution_initiated_event_attributes
        child.namespace = child_namespace
    return r.SerializeToString()


def _back(proxy: ProxyServer, raw: bytes) -> CallContext:
    m = proxy.methods[WS + "PollWorkflowTaskQueue"]
    call = CallContext(m, b"", None, proxy.policy, 0.0)
    call.name = call.logical = "alpha"
    call.physical, call.region, call.environment = "alpha-prod-eu", "eu", "prod"
    call.response_raw = raw
    proxy.pipeline.rewrite_back(call)
    return call


def test_the_way_back_skips_answers_with_nothing_to_change_and_only_those() -> None:
    ring = codec.KeyRing.in_memory()
    routes = Routes(
        [
            Route("alpha", "alpha-prod-eu", "eu", "prod"),
            Route("beta", "beta-prod-eu", "eu", "prod"),
            Route("beta", "beta-prod-us", "us", "prod"),
        ]
    )
    proxy = ProxyServer(
        policy=Policy.from_dict({}), routes=routes, upstream="127.0.0.1:1", keyring=ring
    )
    # plain payloads, no namespace name: Temporal's bytes go back untouched, unparsed
    plain = _poll_answer(payload=Payload(metadata={"encoding": b"json/plain"}, data=b'"x"'))
    call = _back(proxy, plain)
    assert call.response_raw is plain and call.response is None
    # another namespace of the caller's region, named deep in a history event: renamed
    call = _back(proxy, _poll_answer(child_namespace="beta-prod-eu"))
    events = PollWorkflowTaskQueueResponse.FromString(call.response_raw).history.events
    assert events[1].start_child_workflow_execution_initiated_event_attributes.namespace == "beta"
    # one of another region keeps its physical name (as the full walk does)
    call = _back(proxy, raw := _poll_answer(child_namespace="beta-prod-us"))
    assert call.response_raw is raw
    # a payload the proxy encrypted: decrypted
    secret = Payload(metadata={"encoding": b"json/plain"}, data=b'"secret"')
    call = _back(proxy, _poll_answer(payload=codec.encrypt_payload(secret, ring, "alpha")))
    events = PollWorkflowTaskQueueResponse.FromString(call.response_raw).history.events
    assert events[0].workflow_execution_started_event_attributes.input.payloads[0] == secret
