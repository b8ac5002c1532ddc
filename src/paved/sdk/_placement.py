"""Where a Paved workflow or activity runs: its :class:`Placement`.

Built by the decorators (``paved.sdk._decorators``), recorded by the registry
(``paved.sdk._registry``), read by ``paved.execute_activity``, ``paved gen`` and
the managed worker. A placement is frozen: it is what the code declared, plus the
namespace's tier read from the project file next to the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paved._errors import DefinitionError
from paved.sdk import _tiers as tiers

PLACEMENT_ATTR = "__paved_placement__"


@dataclass(frozen=True)
class Placement:
    """Where a workflow or activity runs.

    Attributes:
        kind: ``"workflow"`` or ``"activity"``.
        name: the Temporal type name.
        namespace: the logical namespace (see ``paved.yaml``).
        worker: the managed worker that hosts it.
        task_queue: the task queue it is polled from.
        shared_queue: True when workflows and activities deliberately share a queue.
        tier: optional override of the namespace tier for default timeouts/retries.
        module, qualname: where the object is defined (for import by the worker).
        source: ``file:line`` of the definition, for error messages.
        namespace_tier: the namespace's tier in the ``paved.yaml`` above the
            code, read when the decorator ran; None when it declares none.
        project_file: that ``paved.yaml`` ("" when none was found).
        local: an activity declared ``local=True``: a short step that runs as a
            Temporal local activity inside the calling workflow's worker when that
            workflow is placed on the same worker (see :func:`runs_local`).
    """

    kind: str
    name: str
    namespace: str
    worker: str
    task_queue: str
    shared_queue: bool
    tier: int | None
    module: str
    qualname: str
    source: str
    explicit_queue: bool = False
    namespace_tier: int | None = None
    project_file: str = ""
    local: bool = False

    @property
    def ref(self) -> str:
        return f"{self.module}:{self.qualname}"

    @property
    def effective_tier(self) -> int:
        """The tier that sets this placement's defaults: ``tier=``, else the namespace's.

        Raises:
            DefinitionError: ``PAVED-TIER-MISSING`` when neither is known.
        """
        if self.tier is not None:
            return self.tier
        if self.namespace_tier is not None:
            return self.namespace_tier
        raise tiers.missing_tier(
            self.kind, self.name, self.namespace, self.source, self.project_file
        )


def default_workflow_queue(worker: str) -> str:
    """Workflows of worker ``w`` are polled from ``w-workflows`` unless told otherwise."""
    return f"{worker}-workflows"


def default_activity_queue(worker: str) -> str:
    """Activities of worker ``w`` are polled from ``w-activities`` unless told otherwise."""
    return f"{worker}-activities"


def placement_of(obj: Any) -> Placement:
    """The placement of a Paved workflow class or activity function."""
    p = getattr(obj, PLACEMENT_ATTR, None)
    if not isinstance(p, Placement):
        raise DefinitionError(
            f"{getattr(obj, '__qualname__', obj)!r} is not a Paved workflow or activity",
            code="PAVED-DEF-NOT-PAVED",
            fix="decorate it with @paved.workflow or @paved.activity",
        )
    return p


def runs_local(activity: Placement, workflow: Placement | None) -> bool:
    """Paved's local-activity rule: does a call of ``activity`` from ``workflow`` run locally?

    Yes when the activity is declared ``local=True`` and the calling workflow is
    placed on the same managed worker, in the same namespace: that worker registers
    the activity beside the workflow (``local_activities`` of its workflow queue in
    ``specs/workers.yaml``) and runs it inside the workflow task, as a Temporal local
    activity: no activity task, no second queue, two or three fewer history events
    and one workflow task fewer per call. Anywhere else the same activity is an
    ordinary activity on its own queue. Decided from placements alone, so the same
    code issues the same commands under any runner (deterministic).
    """
    return (
        activity.kind == "activity"
        and activity.local
        and workflow is not None
        and workflow.kind == "workflow"
        and workflow.worker == activity.worker
        and workflow.namespace == activity.namespace
    )
