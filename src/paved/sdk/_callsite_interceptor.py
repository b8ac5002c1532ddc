"""``CallSiteInterceptor``: stamp the call site on every command a workflow starts.

Kept apart from ``_callsite`` so that ``import paved`` does not import
``temporalio.worker`` (a front end that only starts workflows never needs it);
``paved.sdk.CallSiteInterceptor`` loads this module on first use.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle, ChildWorkflowHandle

from paved.sdk._callsite import CALL_SITE_HEADER, find_call_site


def _stamped(headers: Any, build: str | None) -> dict[str, Payload]:
    out = dict(headers or {})
    site = find_call_site(None, build)
    if site is not None:
        out[CALL_SITE_HEADER] = site.to_payload()
    return out


class CallSiteInterceptor(Interceptor):
    """Stamp the call site (and the worker's build id) on activities and child workflows.

    Installed by the managed worker; safe to add to any temporalio Worker:
    ``Worker(..., interceptors=[CallSiteInterceptor(build_id="abc123")])``.
    """

    def __init__(self, build_id: str | None = None) -> None:
        self.build_id = build_id

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        build = self.build_id

        class _Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
                input.headers = _stamped(input.headers, build)
                return super().start_activity(input)

            def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
                input.headers = _stamped(input.headers, build)
                return super().start_local_activity(input)

            async def start_child_workflow(
                self, input: StartChildWorkflowInput
            ) -> ChildWorkflowHandle[Any, Any]:
                input.headers = _stamped(input.headers, build)
                return await super().start_child_workflow(input)

        class _Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_Outbound(outbound))

        return _Inbound
