"""Region and environment names with hyphens (``us-east``, ``pre-prod``), end to end under ``paved dev``.

The physical namespace ``devh-pre-prod-us-east`` is written by ``paved gen`` and
read everywhere else through ``paved.specs.Routes``: ``paved dev`` creates it, the
proxy routes the developer's logical calls to it, the codec server maps the UI's
physical name back to ``devh`` (a name-splitting rule would not: three hyphens
after the logical name), and with ``--no-proxy`` the managed worker polls it
directly. Both runs execute a workflow and find it in that physical namespace.
"""

from __future__ import annotations

import json
import signal
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import pytest
from dev_project import generate
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client
from temporalio.converter import PayloadCodec
from test_paved_dev import Running, start_dev, wait_for_line
from tests.conftest import unique_pkg, write_project

import paved
from paved.codec import codec_for

PHYSICAL = "devh-pre-prod-us-east"


def hyphen_project(pkg: str) -> dict[str, str]:
    return {
        "paved.yaml": (
            f"project: devh\npackages: [{pkg}]\nregions: [us-east]\nenvironments: [pre-prod]\n"
            "namespaces:\n  devh:\n    owner: team-devh\n"
        ),
        f"{pkg}/__init__.py": "",
        f"{pkg}/flows.py": """\
import paved
from temporalio import workflow

@paved.activity(namespace="devh", worker="devh-worker")
async def shout(s: str) -> str:
    return s.upper()

@paved.workflow(namespace="devh", worker="devh-worker")
class ShoutFlow:
    @workflow.run
    async def run(self, s: str) -> str:
        return await paved.execute_activity(shout, s) + "!"
""",
    }


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("devhyph")
    return generate(write_project(base / "proj", hyphen_project(unique_pkg("devh")))).root


def stop(r: Running) -> None:
    if r.proc.poll() is None:
        r.proc.send_signal(signal.SIGINT)
        assert r.proc.wait(60) == 0, r.output()


async def run_and_find(r: Running, client: paved.RuntimeEnv, codec: PayloadCodec | None) -> str:
    c = await paved.connect("devh", env=client, codec=codec)
    wid = f"h-{uuid.uuid4().hex[:8]}"
    result = await c.execute_workflow(
        "ShoutFlow", "hyphen", id=wid, task_queue="devh-worker-workflows", result_type=str
    )
    assert result == "HYPHEN!"
    # ... and it ran in the physical namespace the specs declare, on the real server.
    temporal = r.status()["urls"]["temporal"].split()[0]
    direct = await Client.connect(temporal, namespace=PHYSICAL)
    desc = await direct.get_workflow_handle(wid).describe()
    assert desc.workflow_type == "ShoutFlow"
    return wid


async def test_through_the_proxy_and_the_codec_server(project_root: Path, tmp_path: Path) -> None:
    r = start_dev(project_root, tmp_path / "dev.out", "--env", "pre-prod")
    try:
        wait_for_line(r, "Ctrl-C stops everything")
        assert f"namespaces: {PHYSICAL}" in r.output()
        env = paved.RuntimeEnv(address=r.address, via_proxy=True, api_key=r.key())
        wid = await run_and_find(r, env, None)  # the proxy encrypts

        # The UI names the physical namespace; the codec server maps it through Routes.
        temporal = r.status()["urls"]["temporal"].split()[0]
        direct = await Client.connect(temporal, namespace=PHYSICAL)
        history = await direct.get_workflow_handle(wid).fetch_history()
        stored = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert b"hyphen" not in stored.data  # encrypted by the proxy
        line = next(ln for ln in r.output().splitlines() if "codec server http" in ln)
        url = line.split("codec server ")[1].split()[0]
        headers = {
            "X-Namespace": PHYSICAL,
            "Content-Type": "application/json",
            "Origin": f"http://127.0.0.1:{r.ui_port}",
        }
        body = json_format.MessageToJson(Payloads(payloads=[stored]))
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{url}/decode", data=body, headers=headers) as resp,
        ):
            assert resp.status == 200, await resp.text()
            decoded = json_format.Parse(await resp.text(), Payloads()).payloads[0]
        assert json.loads(decoded.data) == "hyphen"
        with urllib.request.urlopen(f"http://127.0.0.1:{r.ui_port}/", timeout=10) as ui:
            assert ui.status == 200
    finally:
        stop(r)


async def test_without_the_proxy_the_worker_polls_the_physical_namespace(
    project_root: Path, tmp_path: Path
) -> None:
    r = start_dev(project_root, tmp_path / "dev.out", "--env", "pre-prod", "--no-proxy", "--no-ui")
    try:
        wait_for_line(r, "Ctrl-C stops everything")
        worker_log = (project_root / ".paved" / "logs" / "worker-devh-worker.log").read_text()
        assert f"in namespace {PHYSICAL}" in worker_log
        # A client without specs names the region and environment; the worker read its
        # namespace from the specs; both meet in the same physical namespace.
        client = paved.RuntimeEnv(address=r.address, region="us-east", environment="pre-prod")
        assert client.namespace_for("devh") == PHYSICAL
        await run_and_find(r, client, codec_for("devh", state_dir=project_root / ".paved"))
    finally:
        stop(r)
