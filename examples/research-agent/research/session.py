"""``ResearchSession``: a durable research conversation (OpenAI Agents SDK flavour).

A front end starts or joins the session with update-with-start (``ask`` on the
fixed id ``research-<session>``) and returns at once. For each question the
agent searches and reads the local documents (each tool call an activity on
``research-tools``, each model call an activity on ``llm``), the report is
stored, and a person with the ``approve`` role is asked before it is sent; past
the deadline the declared path (``on_timeout``, default reject) is taken. Every
step is a progress event a browser reads as Server-Sent Events. After
``max_turns_per_run`` questions (or when Temporal suggests it) the session
continues as new, carrying the conversation, the queue and the progress log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import paved
    from agents import Agent, Runner
    from paved import agents
    from research.llm import MODEL
    from research.models import ReportInput, SendInput, SessionInput, SessionResult
    from research.tools import read, search, send_report, store_report

INSTRUCTIONS = (
    "You answer questions from a small set of local documents. Use the search tool, "
    "read the most relevant document, then write a short report that cites the "
    "document ids you used."
)

Answer = Callable[[str, list[dict[str, Any]]], Awaitable[tuple[str, list[dict[str, Any]]]]]


class SessionLoop:
    """The session logic both flavours share; ``answer`` is the framework's agent run."""

    def __init__(self, inp: SessionInput, progress: agents.Progress) -> None:
        self.inp = inp
        self.progress = progress
        self.questions = list(inp.questions)
        self.history = list(inp.history)
        self.answered = inp.answered
        self.reports = list(inp.reports)
        self.closing = False
        self.total = inp.answered + len(inp.questions)  # questions ever asked
        # every question of the session, in order (carried over continue-as-new)
        self.asked = [str(h.get("content")) for h in self.history if h.get("role") == "user"]

    def ask(self, question: str) -> int:
        self.questions.append(question)
        self.total += 1
        turn = self.total
        self.progress.emit("question", turn=turn, text=question)
        return turn

    async def run(self, approvals: agents.Approvals, answer: Answer) -> SessionResult:
        turns_this_run = 0
        while True:
            await workflow.wait_condition(
                lambda: bool(self.questions) or self.closing or self.inp.close_when_idle
            )
            if not self.questions:
                self.progress.emit("session_end", answered=self.answered)
                return SessionResult(
                    self.inp.session,
                    self.answered,
                    self.reports,
                    history_items=len(self.history),
                    questions=self.asked,
                )
            question = self.questions.pop(0)
            self.asked.append(question)
            turn = self.answered + 1
            self.progress.emit("turn_start", turn=turn)
            text, self.history = await answer(question, self.history)
            self.history = self.history[-self.inp.history_limit :]
            path = await paved.execute_activity(
                store_report, ReportInput(self.inp.session, turn, question, text)
            )
            self.progress.emit("report_stored", turn=turn, path=path, preview=text[:400])
            action = f"send-report-{turn}"
            self.progress.emit("approval_needed", turn=turn, action=action)
            decision = await approvals.request(
                action,
                f"send the report on {question!r}",
                timeout=timedelta(seconds=self.inp.approval_timeout_seconds),
                on_timeout="approve" if self.inp.on_timeout == "approve" else "reject",
            )
            self.progress.emit(
                "approval",
                turn=turn,
                outcome=decision.outcome,
                by=decision.by,
                at=decision.at.isoformat(),
            )
            if decision.approved:
                sent = await paved.execute_activity(
                    send_report, SendInput(self.inp.session, turn, path, decision.by)
                )
                self.progress.emit("report_sent", turn=turn, path=sent)
            self.reports.append(path)
            self.answered = turn
            turns_this_run += 1
            more = bool(self.questions) or not self.inp.close_when_idle
            if more and agents.should_continue_as_new(turns_this_run, self.inp.max_turns_per_run):
                self.progress.emit("continue_as_new", answered=self.answered)
                await agents.continue_as_new(self.progress, self._next_input)

    def _next_input(self, state: Any) -> list[Any]:
        inp = self.inp
        return [
            SessionInput(
                session=inp.session,
                questions=self.questions,
                history=self.history,
                answered=self.answered,
                reports=self.reports,
                progress=state,
                close_when_idle=inp.close_when_idle,
                max_turns_per_run=inp.max_turns_per_run,
                history_limit=inp.history_limit,
                approval_timeout_seconds=inp.approval_timeout_seconds,
                on_timeout=inp.on_timeout,
            )
        ]


@paved.workflow(namespace="research", worker="research")
class ResearchSession:
    @workflow.init
    def __init__(self, inp: SessionInput) -> None:
        self.progress = agents.Progress(inp.progress)
        self.approvals = agents.Approvals()
        self.loop = SessionLoop(inp, self.progress)

    @workflow.update
    def ask(self, question: str) -> int:
        """Queue a question; returns its turn number (the front end's update-with-start)."""
        return self.loop.ask(question)

    @workflow.signal
    def close(self) -> None:
        self.loop.closing = True

    @workflow.query
    def status(self) -> dict[str, Any]:
        return {"answered": self.loop.answered, "queued": len(self.loop.questions)}

    @workflow.run
    async def run(self, inp: SessionInput) -> SessionResult:
        return await self.loop.run(self.approvals, self._answer)

    async def _answer(
        self, question: str, history: list[dict[str, Any]]
    ) -> tuple[str, list[dict[str, Any]]]:
        agent = Agent(
            name="researcher",
            instructions=INSTRUCTIONS,
            model=MODEL,
            tools=[agents.tool(search), agents.tool(read)],
        )
        # Streamed: the model activity publishes its tokens to the progress log's "tokens"
        # topic as they come; the workflow only drains the (replayable) event list.
        result = Runner.run_streamed(
            agent,
            [*history, {"role": "user", "content": question}],
            hooks=agents.ProgressHooks(self.progress),
        )
        async for _ in result.stream_events():
            pass
        return str(result.final_output), [dict(i) for i in result.to_input_list()]
