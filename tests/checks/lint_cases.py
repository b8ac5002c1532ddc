"""Lint cases: for each rule a positive and a negative snippet (``# expect`` marks the line).

Shared by ``test_lint.py`` (each rule) and the temporalint comparison.
"""

from __future__ import annotations

HEADER = """from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

T = timedelta(seconds=5)
BOUNDED = RetryPolicy(maximum_attempts=3)


@activity.defn
async def act(x: int) -> int:
    return x


"""


def wf(body: str, extra: str = "", deco: str = "@workflow.defn") -> str:
    """A workflow class whose run method has ``body`` (indented 8)."""
    lines = "\n".join("        " + line if line else "" for line in body.strip("\n").splitlines())
    return f"{HEADER}{extra}\n{deco}\nclass W:\n    @workflow.run\n    async def run(self) -> object:\n{lines}\n"


OK_CALL = "await workflow.execute_activity(act, 1, start_to_close_timeout=T, retry_policy=BOUNDED)"

# rule -> (positive files, negative files); a file map is {relative path: source}.
CASES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "PVL001": (
        {"c/wf.py": wf("return time.time()  # expect")},
        {"c/wf.py": wf("return workflow.now().timestamp()")},
    ),
    "PVL002": (
        {"c/wf.py": wf("return open('/etc/hostname').read()  # expect")},
        {"c/wf.py": HEADER + "@activity.defn\nasync def read() -> str:\n    return 'x'\n"},
    ),
    "PVL003": (
        {"c/wf.py": wf("time.sleep(1)  # expect\nreturn 1")},
        {"c/wf.py": wf("await workflow.sleep(1)\nreturn 1")},
    ),
    "PVL004": (
        {
            "c/wf.py": wf(
                "for name in {'a', 'b'}:  # expect\n    await workflow.execute_activity(act, 1, start_to_close_timeout=T, retry_policy=BOUNDED)\nreturn 1"
            )
        },
        {
            "c/wf.py": wf(
                "for name in sorted({'a', 'b'}):\n    await workflow.execute_activity(act, 1, start_to_close_timeout=T, retry_policy=BOUNDED)\nreturn 1"
            )
        },
    ),
    "PVL005": (
        {"c/wf.py": wf("print('started')  # expect\nreturn 1")},
        {"c/wf.py": wf("workflow.logger.info('started')\nreturn 1")},
    ),
    "PVL006": (
        {"c/wf.py": wf("raise ValueError('bad input')  # expect")},
        {"c/wf.py": wf("raise ApplicationError('bad input', non_retryable=True)")},
    ),
    "PVL007": (
        {"c/wf.py": wf("workflow.sleep(1)  # expect\nreturn 1")},
        {"c/wf.py": wf("await workflow.sleep(1)\nreturn 1")},
    ),
    "PVL008": (
        {
            "c/wf.py": HEADER
            + "@workflow.defn\nclass W:  # expect\n    async def run(self) -> int:\n        return 1\n"
        },
        {"c/wf.py": wf("return 1")},
    ),
    "PVL009": (
        {
            "c/wf.py": wf("return 1")
            + "\n    @workflow.query\n    def status(self) -> str:  # expect\n        self.asked = True\n"
        },
        {
            "c/wf.py": wf("return 1")
            + "\n    @workflow.query\n    def status(self) -> str:\n        return 'ok'\n"
        },
    ),
    "PVL101": (
        {
            "c/wf.py": wf(
                "return await workflow.execute_activity(act, 1, retry_policy=BOUNDED)  # expect"
            )
        },
        {"c/wf.py": wf(f"return {OK_CALL}")},
    ),
    "PVL102": (
        {
            "c/wf.py": wf(
                "return await workflow.execute_activity(act, 1, args=[2], start_to_close_timeout=T, retry_policy=BOUNDED)  # expect"
            )
        },
        {
            "c/wf.py": wf(
                "return await workflow.execute_activity(act, args=[1], start_to_close_timeout=T, retry_policy=BOUNDED)"
            )
        },
    ),
    "PVL103": (
        {
            "c/wf.py": wf(
                "return await workflow.execute_activity(act, 1, start_to_close_timeout=T)  # expect"
            )
        },
        {"c/wf.py": wf(f"return {OK_CALL}")},
    ),
    "PVL104": (
        {
            "c/wf.py": wf(
                "return await workflow.execute_activity(act, 1, start_to_close_timeout=T, retry_policy=BOUNDED, heartbeat_timeout=T)  # expect"
            )
        },
        {
            "c/wf.py": wf(
                "return await workflow.execute_activity(beating, 1, start_to_close_timeout=T, retry_policy=BOUNDED, heartbeat_timeout=T)",
                extra="@activity.defn\nasync def beating(x: int) -> int:\n    activity.heartbeat()\n    return x\n\n",
            )
        },
    ),
    "PVL105": (
        {
            "c/acts.py": HEADER
            + "@activity.defn\nasync def slow(x: int) -> int:\n    time.sleep(1)  # expect\n    return x\n"
        },
        {
            "c/acts.py": HEADER
            + "@activity.defn\nasync def slow(x: int) -> int:\n    await asyncio.sleep(1)\n    return x\n"
        },
    ),
    "PVL106": (
        {
            "c/main.py": wf("return 1")
            + "\n\ndef worker(client):\n    return Worker(client, task_queue='q', workflows=[W], activities=[act])  # expect\n"
        },
        {
            "c/main.py": wf("return 1")
            + "\n\ndef workers(client):\n    return [Worker(client, task_queue='wf', workflows=[W]), Worker(client, task_queue='act', activities=[act])]\n"
        },
    ),
    "PVL107": (
        {"c/wf.py": wf("while True:  # expect\n    await workflow.sleep(60)")},
        {
            "c/wf.py": wf(
                "while True:\n    await workflow.sleep(60)\n    if workflow.info().is_continue_as_new_suggested():\n        workflow.continue_as_new()"
            )
        },
    ),
    "PVL108": (
        {
            "c/acts.py": HEADER
            + "@activity.defn\nasync def thumbnail(image: bytes) -> str:  # expect\n    return 'ok'\n"
        },
        {
            "c/acts.py": HEADER
            + "@activity.defn\nasync def thumbnail(image_key: str) -> str:\n    return 'ok'\n"
        },
    ),
    # Paved's local rule: a local=True activity on another worker than the calling workflow,
    # or one that heartbeats.
    "PVL109": (
        {
            "c/__init__.py": "",
            "c/acts.py": "import paved\nfrom temporalio import activity\n\n\n"
            '@paved.activity(namespace="n", worker="w-gpu", local=True)\n'
            "async def far(x: int) -> int:\n    return x\n\n\n"
            '@paved.activity(namespace="n", worker="w", local=True)\n'
            "async def beats(x: int) -> int:\n    activity.heartbeat()\n    return x\n",
            "c/wf.py": wf(
                "await paved.execute_activity(far, 1)  # expect\n"
                "return await paved.execute_activity(beats, 1)  # expect",
                extra="import paved\nfrom c.acts import beats, far\n\n",
                deco='@paved.workflow(namespace="n", worker="w")',
            ),
        },
        {
            "c/__init__.py": "",
            "c/acts.py": "import paved\n\n\n"
            '@paved.activity(namespace="n", worker="w", local=True)\n'
            "async def near(x: int) -> int:\n    return x\n\n\n"
            '@paved.activity(namespace="n", worker="w-gpu")\n'
            "async def far(x: int) -> int:\n    return x\n",
            "c/wf.py": wf(
                "await paved.execute_activity(far, 1)\n"
                "return await paved.execute_activity(near, 1)",
                extra="import paved\nfrom c.acts import far, near\n\n",
                deco='@paved.workflow(namespace="n", worker="w")',
            ),
        },
    ),
    # Cross-module: the workflow calls a project helper that calls uuid4 (temporalint: one module at a time).
    "PVL001-cross": (
        {
            "c/__init__.py": "",
            "c/helpers.py": "import uuid\n\n\ndef new_id() -> str:\n    return uuid.uuid4().hex  # expect\n",
            "c/wf.py": wf("return new_id()", extra="from c.helpers import new_id\n\n"),
        },
        {
            "c/__init__.py": "",
            "c/helpers.py": "def new_id(seed: str) -> str:\n    return seed.upper()\n",
            "c/wf.py": wf("return new_id('a')", extra="from c.helpers import new_id\n\n"),
        },
    ),
    # Silencing: with a reason it silences; without one it is itself a finding.
    "PVL000": (
        {"c/wf.py": wf("return time.time()  # paved: ignore[PVL001]  # expect")},
        {
            "c/wf.py": wf(
                "return time.time()  # paved: ignore[PVL001] only logged, never branched on"
            )
        },
    ),
}

# temporalint rule -> the Paved rule that covers it.
TEMPORALINT_MAP = {
    "TPL001": "PVL101",
    "TPL002": "PVL102",
    "TPL003": "PVL103",
    "TPL004": "PVL104",
    "TPL005": "PVL008",
    "TPL006": "PVL009",
    "TPL007": "PVL007",
    "TPL008": "PVL001",
    "TPL009": "PVL005",
    "TPL010": "PVL006",
}
