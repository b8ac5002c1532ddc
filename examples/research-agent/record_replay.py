"""Record the example's committed replay corpus: ``python record_replay.py`` (from anywhere).

A dev server, the example's five managed workers in this process
(``paved.worker.run``: the agents hook, the call-site interceptor, the codec with
the corpus's demo key ring), one session per flavour (the OpenAI one continues as
new; approvals take their deadline's path), then ``paved.checks.pull`` keeps one
history per shape in ``replay/``. ``paved check`` replays it in CI.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from pathlib import Path

from paved import agents


async def record_example() -> None:
    import json
    import os

    from temporalio.client import Client

    from paved import checks, codec, sdk, specs
    from paved.dev import DevServer, ensure_namespaces
    from paved.worker import run as run_worker

    example = Path(__file__).resolve().parent
    corpus = example / "replay"
    corpus.mkdir(exist_ok=True)
    demo = corpus / checks.DEMO_KEYS
    if not demo.exists():
        codec.FileKeyProvider(demo).load("research", create=True)
        doc = json.loads(demo.read_text())
        doc = {
            "comment": "DEMO key ring for the example's committed replay corpus only: the "
            "corpus holds synthetic questions. A real project never commits keys "
            "(docs/checks.md).",
            **doc,
        }
        demo.write_text(json.dumps(doc, indent=2) + "\n")
    keys = json.loads(demo.read_text())["namespaces"]["research"]
    active = next(k for k in keys["keys"] if k["id"] == keys["active"])
    tmp = Path(tempfile.mkdtemp(prefix="record-research-"))
    os.environ[codec.env_var_for("research")] = f"{active['id']}:{active['key']}"
    os.environ.update(
        PAVED_STATE_DIR=str(tmp / "state"),
        PAVED_BUILD_ID="example-record",
        RESEARCH_REPORTS_DIR=str(tmp / "reports"),
        PAVED_ENV="dev",
        PAVED_REGION="local",
    )
    os.environ.pop("OPENAI_API_KEY", None)
    server = DevServer(db_file=tmp / "temporal.db")
    server.start()
    os.environ["PAVED_ADDRESS"] = server.address
    stop = asyncio.Event()
    try:
        await ensure_namespaces(await Client.connect(server.address), ["research-dev-local"])
        project = specs.Project.load(example)
        workers = ["research", "research-tools", "llm", "research-pydantic", "llm-pydantic"]
        tasks = [
            asyncio.create_task(run_worker(project, w, http_port=None, stop=stop)) for w in workers
        ]
        from research.models import SessionInput
        from research.pydantic_session import ResearchSessionPydantic
        from research.session import ResearchSession

        handles = []
        for wf, worker, questions in (
            (ResearchSession, "research", ["rate limits", "human approval"]),
            (ResearchSessionPydantic, "research-pydantic", ["streaming progress"]),
        ):
            setup = agents.worker_setup("research", worker, sdk.default_codec("research"))
            client = await sdk.connect("research", data_converter=setup.data_converter)
            inp = SessionInput(
                session=f"record-{uuid.uuid4().hex[:6]}",
                questions=questions,
                close_when_idle=True,
                max_turns_per_run=1,
                approval_timeout_seconds=0.5,
                on_timeout="approve",
            )
            handles.append(
                await client.start_workflow(
                    wf.run, inp, id=f"research-{inp.session}", task_queue=f"{worker}-workflows"
                )
            )
        for h in handles:
            await asyncio.wait_for(h.result(), 120)
        ring = codec.KeyRing(codec.FileKeyProvider(demo), create=False)
        stats = await checks.pull(
            client,
            corpus,
            namespace="research",
            workflow_types=["ResearchSession", "ResearchSessionPydantic"],
            ring=ring,
        )
        print("pulled", stats)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    asyncio.run(record_example())
