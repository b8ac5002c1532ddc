"""Workflow Updates through the proxy: who sent each one, and who may approve.

Two rules, applied to ``UpdateWorkflowExecution`` and to the Update inside an
``ExecuteMultiOperation`` (update-with-start), after the method's own
authorization (``write``):

1. The Update's header ``paved-principal`` (``paved.agents.PRINCIPAL_HEADER``)
   is set to the authenticated principal's name, replacing whatever the caller
   sent: the workflow (through ``paved.agents.PrincipalInterceptor``) learns who
   sent it from the proxy's word only, and the accepted Update in the history
   keeps it as the audit trail.
2. An approval (the Update named ``paved.approve``) also needs the ``approve``
   role on the namespace, asked of the one authorization decision
   (``Policy.decide``); refused, the caller gets PERMISSION_DENIED with the
   decision's reason and nothing reaches Temporal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
from temporalio.api.common.v1 import Payload

from paved.agents import APPROVAL_UPDATE, APPROVER_ROLE, PRINCIPAL_HEADER
from paved.auth import AccessRequest
from paved.proxy._context import CallContext, Reject

UPDATE_METHODS = frozenset({"UpdateWorkflowExecution", "ExecuteMultiOperation"})


def _update_requests(request: Any) -> Iterator[Any]:
    """The ``UpdateWorkflowExecutionRequest`` messages a request carries."""
    if request.DESCRIPTOR.name == "UpdateWorkflowExecutionRequest":
        yield request
        return
    for op in request.operations:
        if op.HasField("update_workflow"):
            yield op.update_workflow


def principal_payload(name: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(name).encode())


def authorize_updates(call: CallContext) -> None:
    """Stamp the principal on every Update of the call; an approval needs ``approve``."""
    p = call.who()
    for req in _update_requests(call.request):
        inp = req.request.input
        inp.header.fields[PRINCIPAL_HEADER].CopyFrom(principal_payload(p.name))
        if inp.name != APPROVAL_UPDATE:
            continue
        decision = call.policy.decide(
            AccessRequest.of(
                p,
                APPROVER_ROLE,
                call.logical,
                call.region,
                call.environment,
                now=call.now,
                action=f"{call.method.name} {APPROVAL_UPDATE}",
            )
        )
        if not decision:
            call.decision = decision
            raise Reject(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{p.name} (team {p.team}) may not approve ({APPROVAL_UPDATE!r} Update) on "
                f"namespace {call.logical!r}: {decision.reason}",
            )
