"""Agents on Temporal: what the platform costs per model call and per tool call, and how
fast a progress event reaches a browser.

    .venv/bin/python bench/bench_agents.py [--rounds 3] [--tools 10] [--events 200]

1. Overhead. The same OpenAI Agents SDK agent (scripted model: K tool calls, then an
   answer; tools that return at once) runs (a) with the SDK alone, ``Runner.run`` in
   this process, and (b) as a Paved agent workflow on the real dev server (model calls
   on the ``llm`` queue, tools on their queue, workers in this process). Rounds
   alternate (a)/(b). Per call: ``(wall(b) - wall(a)) / (model calls + tool calls)``,
   and, from the history, the mean scheduled->completed time of model and of tool
   activities (the model and tools themselves take ~0, so that is the platform's cost).
2. Stream latency. A client signals a workflow 20 times per second; each signal makes the
   workflow emit one event into ``paved.agents.Progress`` carrying the signal's send time;
   a browser stand-in reads them through ``paved.agents.sse_response`` over HTTP. The
   latency is its receive time minus the send time (signal delivery, the workflow task,
   the SSE poll): p50/p99.

Figures depend on the machine (2 vCPU shared): the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import paved
    from agents import Agent, Runner
    from paved import agents

NS = "agentbench"
llm = agents.llm_worker(namespace=NS, worker="bench-llm", tier=1)
runtime = agents.OpenAIAgents(llm, workers=["bench"])


@paved.activity(namespace=NS, worker="bench-tools")
async def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def script(k: int) -> list[agents.Step]:
    return [
        *(agents.Step(tool="lookup", arguments={"key": f"k{i}"}) for i in range(k)),
        agents.Step(text="done: {last}"),
    ]


def plain_agent() -> Agent[Any]:
    from agents import function_tool

    @function_tool
    async def lookup(key: str) -> str:
        """Look a key up."""
        return f"value of {key}"

    return Agent(name="bench", instructions="bench", tools=[lookup])


@paved.workflow(namespace=NS, worker="bench")
class AgentRun:
    @workflow.run
    async def run(self, question: str) -> str:
        agent = Agent(name="bench", instructions="bench", tools=[agents.tool(lookup)])
        result = await Runner.run(agent, question, max_turns=100)
        return str(result.final_output)


@paved.workflow(namespace=NS, worker="bench")
class Emitter:
    """Emits one progress event per ``tick`` signal (carrying the sender's clock)."""

    @workflow.init
    def __init__(self, n: int) -> None:
        self.progress = agents.Progress()
        self.seen = 0

    @workflow.signal
    def tick(self, sent: float) -> None:
        self.progress.emit("tick", i=self.seen, t=sent)
        self.seen += 1

    @workflow.run
    async def run(self, n: int) -> int:
        await workflow.wait_condition(lambda: self.seen >= n)
        return n


def activity_times(events: Any) -> dict[str, list[float]]:
    sched: dict[int, tuple[str, float]] = {}
    out: dict[str, list[float]] = {"model": [], "tool": []}
    for e in events:
        t = e.event_time.ToDatetime().timestamp()
        if e.HasField("activity_task_scheduled_event_attributes"):
            name = e.activity_task_scheduled_event_attributes.activity_type.name
            sched[e.event_id] = ("model" if name == "invoke_model_activity" else "tool", t)
        elif e.HasField("activity_task_completed_event_attributes"):
            kind, t0 = sched[e.activity_task_completed_event_attributes.scheduled_event_id]
            out[kind].append(t - t0)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tools", type=int, default=10)
    ap.add_argument("--events", type=int, default=200)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, table, write_json
    from aiohttp import ClientSession, web
    from temporalio.client import Client
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from paved.dev import DevServer, ensure_namespaces, free_port

    k = args.tools
    model = agents.ScriptedModel(script(k))
    runtime.use_model(model)
    tmp = Path(tempfile.mkdtemp(prefix="bench-agents-"))
    server = DevServer(db_file=tmp / "t.db")
    server.start()
    print(f"dev server {server.address} (namespace {NS})", flush=True)
    report: dict[str, Any] = {"machine": machine(), "tools_per_run": k, "rounds": []}
    try:
        base = await Client.connect(server.address)
        await ensure_namespaces(base, [NS])
        setup = agents.worker_setup(NS, "bench", None)
        client = await Client.connect(
            server.address, namespace=NS, data_converter=setup.data_converter
        )
        runner = SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "paved", "bench_agents"
            )
        )
        plugins = setup.plugins
        workers = [
            Worker(
                client,
                task_queue="bench-workflows",
                workflows=[AgentRun, Emitter],
                workflow_runner=runner,
                plugins=plugins,
            ),
            Worker(
                client,
                task_queue=llm.task_queue,
                activities=runtime.activities(),
                plugins=plugins,
                max_concurrent_activities=4,
            ),
            Worker(
                client, task_queue="bench-tools-activities", activities=[lookup], plugins=plugins
            ),
        ]
        async with workers[0], workers[1], workers[2]:
            # warm-up (imports, sandbox, caches)
            await client.execute_workflow(
                AgentRun.run, "warm", id=f"w-{uuid.uuid4()}", task_queue="bench-workflows"
            )
            from agents.run import DEFAULT_AGENT_RUNNER

            plain = plain_agent()
            rows = []
            for r in range(args.rounds):
                t0 = time.perf_counter()
                # the SDK alone (its default runner, not the Temporal one the plugin installs)
                await DEFAULT_AGENT_RUNNER.run(
                    plain, "q", max_turns=100, run_config=_run_config(model)
                )
                plain_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                h = await client.start_workflow(
                    AgentRun.run, "q", id=f"a-{uuid.uuid4()}", task_queue="bench-workflows"
                )
                await h.result()
                temporal_s = time.perf_counter() - t0
                times = activity_times((await h.fetch_history()).events)
                calls = (k + 1) + k
                rows.append(
                    [
                        r + 1,
                        plain_s * 1000,
                        temporal_s * 1000,
                        (temporal_s - plain_s) / calls * 1000,
                        statistics.mean(times["model"]) * 1000,
                        statistics.mean(times["tool"]) * 1000,
                        *[round(x, 2) for x in __import__("os").getloadavg()[:1]],
                    ]
                )
            report["rounds"] = rows
            print(
                table(
                    [
                        "round",
                        "SDK alone ms",
                        "Paved+Temporal ms",
                        "overhead/call ms",
                        "model activity ms",
                        "tool activity ms",
                        "load1",
                    ],
                    rows,
                )
            )

            # stream latency
            app = web.Application()

            async def handler(request: web.Request) -> web.StreamResponse:
                resp: web.StreamResponse = await agents.sse_response(
                    request, client, request.match_info["wid"]
                )
                return resp

            app.router.add_get("/e/{wid}", handler)
            app_runner = web.AppRunner(app)
            await app_runner.setup()
            port = free_port()
            await web.TCPSite(app_runner, "127.0.0.1", port).start()
            lat: list[float] = []
            import json

            h = await client.start_workflow(
                Emitter.run, args.events, id=f"e-{uuid.uuid4()}", task_queue="bench-workflows"
            )

            async def ticker() -> None:
                for _ in range(args.events):
                    await h.signal(Emitter.tick, time.time())
                    await asyncio.sleep(0.05)

            tick_task = asyncio.create_task(ticker())
            async with (
                ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/e/{h.id}") as resp,
            ):
                async for raw in resp.content:
                    line = raw.decode().strip()
                    if line.startswith("data: ") and '"tick"' in line:
                        lat.append(time.time() - json.loads(line[6:])["t"])
                        if len(lat) % 50 == 0:
                            print(f"  stream: {len(lat)} events", flush=True)
                    if line.startswith("event: end"):
                        break
            await tick_task
            await app_runner.cleanup()
            lat.sort()
            p50 = lat[len(lat) // 2] * 1000
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
            report["stream"] = {
                "events": len(lat),
                "p50_ms": p50,
                "p99_ms": p99,
                "loadavg": list(__import__("os").getloadavg()),
            }
            print(
                f"\nstream: {len(lat)} events, event-to-browser p50 {p50:.0f} ms, p99 {p99:.0f} ms "
                f"(poll interval 100 ms; load {report['stream']['loadavg'][0]:.2f})"
            )
    finally:
        server.stop()
    print("wrote", write_json("agents", report))
    print("machine:", report["machine"], datetime.now(UTC).isoformat())


def _run_config(model: Any) -> Any:
    from temporalio.contrib.openai_agents.testing import TestModelProvider

    from agents import RunConfig

    return RunConfig(model_provider=TestModelProvider(model), tracing_disabled=True)


if __name__ == "__main__":
    _ = timedelta
    asyncio.run(main())
