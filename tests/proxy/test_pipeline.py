"""The proxy's pipeline: which stages each method class runs, and the authorization decision's
reason reaching the caller and the access log."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from proxy_helpers import Env
from temporalio.api.workflowservice.v1 import TerminateWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from paved.auth import Policy
from paved.proxy import ProxyServer
from paved.specs import Routes

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
    assert _stages(proxy, WS + "ListNamespaces") == [
        "authenticate",
        "parse",
        "forward",
        "rewrite_back",
    ]


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
