"""Human approval inside a workflow: an Update with a validator, a deadline, a declared path.

Workflow side::

    self.approvals = agents.Approvals()            # in __init__
    decision = await self.approvals.request(
        "send-report", summary, timeout=timedelta(hours=4), on_timeout="reject")

The workflow waits durably (no process is held; a worker may restart) until an
approval Update arrives or the deadline passes; then ``decision.outcome`` is
``approved``, ``rejected`` or ``timed_out`` (and ``decision.approved`` follows
``on_timeout`` for the last).

Who may approve is Paved's policy, enforced where every call is authorized, in
the proxy: an Update named :data:`APPROVAL_UPDATE` needs the
:data:`APPROVER_ROLE` role on the namespace, and the proxy stamps the
authenticated principal into the request's :data:`PRINCIPAL_HEADER` header
(overwriting anything a client sent). :class:`PrincipalInterceptor` (installed
on managed workers) hands that header to the handler, so the decision records
who approved and when (workflow time). The Update's accepted event (input and
header) and its completion (the :class:`Decision`) stay in the workflow's
history: the audit trail. The validator refuses an approval without a stamped
principal (``require_principal=True``), for an action nobody asked about, or
for one already decided; a refused Update never reaches the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

APPROVAL_UPDATE = "paved.approve"
"""The Update name the proxy guards with :data:`APPROVER_ROLE`."""
APPROVALS_QUERY = "paved.approvals"
APPROVER_ROLE = "approve"
"""The policy role a principal needs on the namespace to send :data:`APPROVAL_UPDATE`."""
PRINCIPAL_HEADER = "paved-principal"
"""Update header the proxy sets to the authenticated principal's name."""
_STASH = "__paved_update_principals__"

Outcome = Literal["approved", "rejected", "timed_out"]


@dataclass
class ApprovalInput:
    """What an approver sends (the Update's argument)."""

    action: str
    approve: bool
    reason: str = ""


@dataclass
class Decision:
    """How an approval ended: who, when (workflow time), and the path taken."""

    action: str
    outcome: Outcome
    approved: bool
    by: str
    at: datetime
    reason: str = ""


@dataclass
class PendingApproval:
    action: str
    summary: str
    deadline: datetime


@dataclass
class ApprovalsState:
    """What the ``paved.approvals`` query returns (and what continue-as-new may carry)."""

    pending: list[PendingApproval] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


class Approvals:
    """The approval gate of one workflow run; construct it in the workflow's ``__init__``."""

    def __init__(self, *, require_principal: bool = True) -> None:
        self.require_principal = require_principal
        self.state = ApprovalsState()
        self._inputs: dict[str, Decision] = {}
        workflow.set_update_handler(APPROVAL_UPDATE, self._on_approve, validator=self._validate)
        workflow.set_query_handler(APPROVALS_QUERY, lambda: self.state)

    def _pending(self, action: str) -> PendingApproval | None:
        return next((p for p in self.state.pending if p.action == action), None)

    def _validate(self, inp: ApprovalInput) -> None:
        if self._pending(inp.action) is None:
            raise ApplicationError(
                f"[PAVED-APPROVAL-NOT-PENDING] no approval of {inp.action!r} is pending "
                f"(pending: {', '.join(p.action for p in self.state.pending) or 'none'})",
                type="PavedApprovalNotPending",
                non_retryable=True,
            )
        if self.require_principal and current_principal() is None:
            raise ApplicationError(
                "[PAVED-APPROVAL-NO-PRINCIPAL] approval without an authenticated principal: "
                "send it through the Paved proxy, which checks the approver's role",
                type="PavedApprovalNoPrincipal",
                non_retryable=True,
            )

    async def _on_approve(self, inp: ApprovalInput) -> Decision:
        decision = Decision(
            action=inp.action,
            outcome="approved" if inp.approve else "rejected",
            approved=inp.approve,
            by=current_principal() or "(unauthenticated)",
            at=workflow.now(),
            reason=inp.reason,
        )
        self._inputs[inp.action] = decision
        return decision

    async def request(
        self,
        action: str,
        summary: str,
        *,
        timeout: timedelta,
        on_timeout: Literal["reject", "approve"] = "reject",
    ) -> Decision:
        """Wait until ``action`` is approved or rejected, or ``timeout`` passes.

        Past the deadline the declared path is taken: ``on_timeout="reject"``
        (default) or ``"approve"``; the decision says ``timed_out`` and ``by="deadline"``.
        """
        pending = PendingApproval(action, summary, workflow.now() + timeout)
        self.state.pending.append(pending)
        self._inputs.pop(action, None)
        try:
            await workflow.wait_condition(lambda: action in self._inputs, timeout=timeout)
            decision = self._inputs[action]
        except TimeoutError:
            decision = Decision(
                action=action,
                outcome="timed_out",
                approved=on_timeout == "approve",
                by="deadline",
                at=workflow.now(),
                reason=f"no decision within {timeout}; declared path: {on_timeout}",
            )
        finally:
            self.state.pending.remove(pending)
        self.state.decisions.append(decision)
        return decision


def current_principal() -> str | None:
    """The principal the proxy stamped on the Update being handled (None outside one)."""
    info = workflow.current_update_info()
    if info is None:
        return None
    stash: dict[str, str] = getattr(workflow.instance(), _STASH, {})
    return stash.get(info.id)


def _principal_of(headers: Any) -> str | None:
    payload: Payload | None = headers.get(PRINCIPAL_HEADER)
    if payload is None:
        return None
    try:
        value = workflow.payload_converter().from_payload(payload, str)
    except Exception:
        return None
    return value if isinstance(value, str) and value else None


class _Inbound(WorkflowInboundInterceptor):
    def _stash(self, input: HandleUpdateInput) -> None:
        inst = workflow.instance()
        stash: dict[str, str] | None = getattr(inst, _STASH, None)
        if stash is None:
            stash = {}
            setattr(inst, _STASH, stash)
        who = _principal_of(input.headers)
        if who is None:
            stash.pop(input.id, None)
        else:
            stash[input.id] = who

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        self._stash(input)
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        self._stash(input)
        return await super().handle_update_handler(input)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        return await super().execute_workflow(input)


class PrincipalInterceptor(Interceptor):
    """Worker interceptor: makes the proxy-stamped principal of an Update readable by its handler."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _Inbound


async def send_approval(
    client: Any,
    workflow_id: str,
    action: str,
    *,
    approve: bool = True,
    reason: str = "",
    rpc_metadata: dict[str, str] | None = None,
) -> Decision:
    """Approve (or reject) ``action`` of ``workflow_id``: the Update the proxy authorizes.

    ``rpc_metadata`` carries the approver's own credentials (``authorization``)
    when a front end acts for a signed-in person. Raises temporalio's
    ``WorkflowUpdateFailedError`` when the validator refuses, ``RPCError``
    (PERMISSION_DENIED) when the proxy does.
    """
    handle = client.get_workflow_handle(workflow_id)
    result: Decision = await handle.execute_update(
        APPROVAL_UPDATE,
        ApprovalInput(action=action, approve=approve, reason=reason),
        result_type=Decision,
        rpc_metadata=rpc_metadata or {},
    )
    return result
