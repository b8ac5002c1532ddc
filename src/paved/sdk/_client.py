"""Connecting a temporalio Client the Paved way.

``await paved.connect("imagegen")`` returns an ordinary ``temporalio.client.Client``
bound to the right namespace for this process's region and environment, with
Paved's data converter (and codec, when given). Anything temporalio's
``Client.connect`` takes can be passed through.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior
from temporalio.converter import PayloadCodec

from paved.sdk import _converter as converter
from paved.sdk import _naming as naming


async def connect(
    namespace: str,
    *,
    env: naming.RuntimeEnv | None = None,
    codec: PayloadCodec | None = None,
    max_payload_bytes: int = converter.DEFAULT_MAX_PAYLOAD_BYTES,
    **connect_kwargs: Any,
) -> Client:
    """Connect to Temporal (or the Paved proxy) for logical ``namespace``.

    Args:
        namespace: the logical namespace, as in ``paved.yaml``.
        env: where this process runs; default from ``PAVED_*`` variables.
        codec: payload codec (encryption/offload) to apply client-side.
        max_payload_bytes: payload size guard (see :class:`SizeLimitCodec`).
        connect_kwargs: passed to ``temporalio.client.Client.connect``.
    """
    env = env or naming.RuntimeEnv.from_env()
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
    if env.tls:
        kwargs["tls"] = True
    kwargs.update(connect_kwargs)
    return await Client.connect(env.address, **kwargs)
