"""Connecting a temporalio Client the Paved way.

``await paved.connect("imagegen")`` returns an ordinary ``temporalio.client.Client``
bound to the right namespace for this process's region and environment, with
Paved's data converter (and codec, when given). Anything temporalio's
``Client.connect`` takes can be passed through.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior
from temporalio.converter import PayloadCodec

from paved._paths import STATE_DIR
from paved.sdk import _converter as converter
from paved.sdk import _naming as naming
from paved.sdk import _tracing as tracing

AUTO = "auto"


def state_dir() -> Path:
    """The project's ``.paved/``: ``PAVED_STATE_DIR``, ``PAVED_PROJECT``/.paved, or the
    nearest parent of the working directory holding ``paved.yaml``."""
    if os.environ.get("PAVED_STATE_DIR"):
        return Path(os.environ["PAVED_STATE_DIR"])
    if os.environ.get("PAVED_PROJECT"):
        return Path(os.environ["PAVED_PROJECT"]) / STATE_DIR
    from paved.codec import find_state_dir

    return find_state_dir()


def default_codec(namespace: str, directory: Path | None = None) -> PayloadCodec | None:
    """Paved's encryption codec for ``namespace`` unless ``PAVED_CODEC=off``.

    Off is right behind a Paved proxy that encrypts on the wire; on is the
    default so that nothing reaches Temporal in the clear by accident.
    """
    if os.environ.get("PAVED_CODEC", "on").lower() in ("off", "0", "false", "no"):
        return None
    from paved.codec import codec_for

    return codec_for(namespace, state_dir=directory or state_dir())


async def connect(
    namespace: str,
    *,
    env: naming.RuntimeEnv | None = None,
    codec: PayloadCodec | str | None = AUTO,
    max_payload_bytes: int = converter.DEFAULT_MAX_PAYLOAD_BYTES,
    **connect_kwargs: Any,
) -> Client:
    """Connect to Temporal (or the Paved proxy) for logical ``namespace``.

    Args:
        namespace: the logical namespace, as in ``paved.yaml``.
        env: where this process runs; default from ``PAVED_*`` variables.
        codec: payload codec (encryption/offload) to apply client-side;
            ``"auto"`` (default) is Paved's codec with the project's keys unless
            ``PAVED_CODEC=off``; ``None`` sends payloads as they are.
        max_payload_bytes: payload size guard (see :class:`SizeLimitCodec`).
        connect_kwargs: passed to ``temporalio.client.Client.connect``.
    """
    if env is None:
        env = naming.RuntimeEnv.from_env()
        explicit = any(os.environ.get(v) for v in ("PAVED_ADDRESS", "PAVED_API_KEY"))
        local = None if explicit else naming.RuntimeEnv.local_dev()
        if local is not None:
            # Under a running `paved dev`: its proxy and dev key (the proxy encrypts).
            env, principal = local
            sys.stderr.write(
                f"paved: connecting to the running `paved dev` at {env.address} as {principal} "
                "(PAVED_API_KEY overrides)\n"
            )
            if codec == AUTO:
                codec = None
    if codec == AUTO:
        codec = default_codec(namespace)
    assert codec is None or isinstance(codec, PayloadCodec)
    kwargs: dict[str, Any] = {
        "namespace": env.namespace_for(namespace),
        "data_converter": converter.data_converter(
            codec=codec, max_payload_bytes=max_payload_bytes
        ),
    }
    if codec is not None:
        # Headers (tracing context, Paved's own metadata) are payloads too.
        kwargs["header_codec_behavior"] = HeaderCodecBehavior.CODEC
    if env.api_key:
        kwargs["api_key"] = env.api_key
    # Explicit: temporalio turns TLS on by itself when an API key is given, which
    # is right for Temporal Cloud and wrong for a local proxy on loopback.
    kwargs["tls"] = env.tls
    # Tracing and log/trace links (PAVED_TRACING, PAVED_LOGS_URL, ...): outermost first,
    # so the links interceptor runs inside temporalio's StartWorkflow span.
    chain = tracing.interceptors(namespace) + list(connect_kwargs.pop("interceptors", []))
    if chain:
        kwargs["interceptors"] = chain
    kwargs.update(connect_kwargs)
    return await Client.connect(env.address, **kwargs)
