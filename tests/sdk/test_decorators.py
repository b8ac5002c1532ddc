"""The decorators: placement defaults, both forms, errors with file:line, and that a
Paved workflow stays a plain temporalio workflow (temporalio Client + Worker)."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import types
import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

import paved
from paved.sdk import activity_options, definitions


class Greeting(BaseModel):
    name: str
    times: int = 1


@paved.activity(namespace="tests", worker="deco-worker")
async def greet(g: Greeting) -> str:
    return ", ".join([f"hello {g.name}"] * g.times)


@paved.activity
async def bare_activity(x: int) -> int:
    return x + 1


@paved.workflow(namespace="tests", worker="deco-worker")
class GreetWorkflow:
    @workflow.run
    async def run(self, g: Greeting) -> str:
        return await paved.execute_activity(greet, g)


@paved.workflow
class BareWorkflow:
    @workflow.run
    async def run(self) -> str:
        return "bare"


def test_defaults_split_workflow_and_activity_queues() -> None:
    wf = paved.placement_of(GreetWorkflow)
    act = paved.placement_of(greet)
    assert (wf.namespace, wf.worker, wf.task_queue) == (
        "tests",
        "deco-worker",
        "deco-worker-workflows",
    )
    assert (act.namespace, act.worker, act.task_queue) == (
        "tests",
        "deco-worker",
        "deco-worker-activities",
    )
    assert wf.source.endswith("test_decorators.py:" + wf.source.rsplit(":", 1)[1])
    assert definitions("workflow")["GreetWorkflow"][1] is GreetWorkflow


def test_bare_form_uses_default_namespace_and_worker() -> None:
    assert paved.placement_of(BareWorkflow).task_queue == "default-worker-workflows"
    assert paved.placement_of(bare_activity).task_queue == "default-worker-activities"
    # Still exactly what temporalio's own decorators produce.
    assert workflow._Definition.from_class(BareWorkflow) is not None


def test_tier_defaults_and_per_call_overrides() -> None:
    from datetime import timedelta

    opts = activity_options(greet)
    assert opts["task_queue"] == "deco-worker-activities"
    assert opts["retry_policy"].maximum_attempts == 50  # default tier 2
    opts = activity_options(greet, start_to_close_timeout=timedelta(seconds=3), task_queue="other")
    assert opts["start_to_close_timeout"] == timedelta(seconds=3)
    assert opts["task_queue"] == "other"


def define(tmp_path: Path, source: str) -> types.ModuleType:
    """Import ``source`` as a fresh module (workflow classes must be module-level)."""
    name = f"mod_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


HEADER = """
import paved
from temporalio import workflow
"""


def test_duplicate_workflow_name_names_both_places(tmp_path: Path) -> None:
    with pytest.raises(paved.DefinitionError) as e:
        define(
            tmp_path,
            HEADER
            + """
@paved.workflow(namespace="tests", worker="deco-worker", name="GreetWorkflow")
class Impostor:
    @workflow.run
    async def run(self) -> None: ...
""",
        )
    msg = str(e.value)
    assert "PAVED-DEF-DUPLICATE" in msg
    assert ".py:5: workflow name" in msg  # the file:line of the impostor decorator
    assert "test_decorators.py:" in msg  # and where the name is already used
    assert "fix:" in msg


def test_queue_claimed_by_two_workers() -> None:
    with pytest.raises(paved.DefinitionError, match="PAVED-DEF-QUEUE-OWNER"):

        @paved.activity(
            namespace="tests", worker="other-worker", task_queue="deco-worker-activities"
        )
        async def stolen() -> None: ...


def test_workflow_and_activity_forced_onto_one_queue_needs_opt_in(tmp_path: Path) -> None:
    q = f"shared-{uuid.uuid4().hex[:6]}"
    with pytest.raises(paved.DefinitionError, match="PAVED-DEF-SHARED-QUEUE"):
        define(
            tmp_path,
            HEADER
            + f"""
@paved.workflow(namespace="tests", worker="shared-worker", task_queue="{q}")
class One:
    @workflow.run
    async def run(self) -> None: ...

@paved.activity(namespace="tests", worker="shared-worker", task_queue="{q}")
async def two() -> None: ...
""",
        )
    q2 = f"shared-{uuid.uuid4().hex[:6]}"
    mod = define(
        tmp_path,
        HEADER
        + f"""
@paved.workflow(namespace="tests", worker="shared-worker", task_queue="{q2}", shared_queue=True)
class Three:
    @workflow.run
    async def run(self) -> None: ...

@paved.activity(namespace="tests", worker="shared-worker", task_queue="{q2}", shared_queue=True)
async def four() -> None: ...
""",
    )
    assert paved.placement_of(mod.four).task_queue == q2
    assert paved.placement_of(mod.Three).task_queue == q2


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"namespace": "Bad_NS"}, "PAVED-DEF-NAMESPACE"),
        ({"worker": "has space"}, "PAVED-DEF-WORKER"),
        ({"task_queue": "bad queue!"}, "PAVED-DEF-QUEUE"),
        ({"tier": 7}, "PAVED-DEF-TIER"),
    ],
)
def test_bad_arguments_are_caught_when_the_decorator_runs(
    kwargs: dict[str, object], code: str
) -> None:
    with pytest.raises(paved.DefinitionError) as e:

        @paved.activity(**kwargs)  # type: ignore[call-overload]
        async def act() -> None: ...

    assert code in str(e.value)
    assert "test_decorators.py:" in str(e.value)


def test_workflow_decorator_rejects_a_function() -> None:
    with pytest.raises(paved.DefinitionError, match="PAVED-DEF-KIND"):
        paved.workflow(namespace="tests")(greet)  # type: ignore[type-var]


async def test_runs_on_plain_temporalio_client_and_worker(client: Client, namespace: str) -> None:
    """A Paved workflow is a temporalio workflow: no Paved runtime needed."""
    c = await Client.connect(
        client.service_client.config.target_host,
        namespace=namespace,
        data_converter=paved.data_converter(),
    )
    async with (
        Worker(c, task_queue="deco-worker-workflows", workflows=[GreetWorkflow]),
        Worker(c, task_queue="deco-worker-activities", activities=[greet]),
    ):
        out = await c.execute_workflow(
            GreetWorkflow.run,
            Greeting(name="ada", times=2),
            id=f"g-{uuid.uuid4()}",
            task_queue="deco-worker-workflows",
        )
    assert out == "hello ada, hello ada"


def test_unknown_namespace_before_queue_conflict_with_suggestion(tmp_path: Path) -> None:
    """A typo of a known namespace: the unknown namespace is reported (with a suggestion),
    not the queue conflict the typo also causes."""
    from tests.conftest import unique_pkg, write_project

    from paved import DefinitionError, specs
    from paved.sdk import _registry

    pkg = unique_pkg("dym")
    # A worker name of its own: another test's leftover placements on a shared queue
    # name (say "w-activities" in another namespace) must not decide which error wins.
    worker = pkg.replace("_", "-")
    root = write_project(
        tmp_path / "p",
        {
            "paved.yaml": f"project: dym\npackages: [{pkg}]\nnamespaces:\n  docs:\n    owner: t\n",
            f"{pkg}/__init__.py": "",
            f"{pkg}/flows.py": (
                "import paved\n\n"
                f'@paved.activity(namespace="docs", worker="{worker}")\n'
                "async def a(s: str) -> str:\n    return s\n\n"
                f'@paved.activity(namespace="doc", worker="{worker}")\n'
                "async def b(s: str) -> str:\n    return s\n"
            ),
        },
    )
    project = specs.Project.load(root)
    with pytest.raises(DefinitionError) as e:
        project.generate()
    assert e.value.code == "PAVED-DEF-UNKNOWN-NAMESPACE"
    assert "'doc' (did you mean 'docs'?)" in str(e.value)
    assert f"{pkg}/flows.py:7" in str(e.value)
    assert e.value.fix is not None and "namespace='docs'" in e.value.fix
    # Outside a project's import the registry accepts any valid namespace.
    assert _registry.REGISTRY.known_namespaces is None
