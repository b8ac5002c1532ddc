"""``python -m tests.agents.run_workers ADDRESS NAMESPACE CALL_LOG``: the example's
OpenAI-flavour workers in one process, for tests that kill it with SIGKILL.

Every model call appends "<pid> <step>" to CALL_LOG before answering (after
``RESEARCH_MODEL_DELAY`` seconds), so the test can count the calls each step got.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.agents import harness


async def main(address: str, namespace: str, log: Path) -> None:
    harness.import_example()
    import os

    from research.llm import OFFLINE_SCRIPT, openai_agents

    from paved import agents

    def on_call(k: int, step: agents.Step) -> None:
        with log.open("a") as f:
            f.write(f"{os.getpid()} {k}\n")

    delay = float(os.environ.get("RESEARCH_MODEL_DELAY", "0"))
    openai_agents.use_model(agents.ScriptedModel(OFFLINE_SCRIPT, delay=delay, on_call=on_call))
    async with harness.workers(address, namespace, ["research", "research-tools", "llm"]):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
