"""Safe inputs and outputs: Pydantic-validating data converter with a payload size guard.

Values are serialised with temporalio's Pydantic converter (Pydantic models,
dataclasses and everything Pydantic knows), and validated against the type
hints of the receiving workflow/activity on decode, so a malformed input fails
at the boundary with Pydantic's message instead of deep in business logic.

Temporal rejects payloads over 2 MB (and whole requests over 4 MB); a workflow
task that produces one fails in a way that is hard to read. The
:class:`SizeLimitCodec` runs last in the codec chain and rejects an oversized
payload before it leaves the process, naming its size, the limit and the fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
    create_payload_validation_error,
)
from temporalio.exceptions import ApplicationError

from paved._errors import PayloadTooLargeError

TEMPORAL_PAYLOAD_LIMIT = 2 * 1024 * 1024
DEFAULT_MAX_PAYLOAD_BYTES = TEMPORAL_PAYLOAD_LIMIT


class _ValidatingJSONConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON whose validation errors fail the call instead of retrying forever.

    temporalio turns an exception raised while decoding workflow arguments into
    a workflow *task* failure, retried until the code changes: right for a bug,
    wrong for bad input data, which no retry can fix. A Pydantic
    ``ValidationError`` becomes Temporal's reserved non-retryable
    ``PayloadValidationError`` (an ``ApplicationError``), so the workflow or
    activity fails at once with the field-level details.
    """

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        try:
            return super().from_payload(payload, type_hint)
        except ValidationError as e:
            hint = getattr(type_hint, "__name__", str(type_hint))
            details = [
                {
                    "loc": ".".join(str(x) for x in err["loc"]),
                    "msg": err["msg"],
                    "type": err["type"],
                }
                for err in e.errors(include_input=False)
            ]
            # Same reserved type and retry semantics as temporalio's
            # create_payload_validation_error, with a message that names the fields.
            reserved = create_payload_validation_error(None)
            raise ApplicationError(
                f"Payload validation failed for {hint}: "
                + "; ".join(f"{d['loc'] or '(root)'}: {d['msg']}" for d in details),
                {"type": hint, "errors": details},
                type=reserved.type,
                non_retryable=True,
            ) from None


class PavedPayloadConverter(CompositePayloadConverter):
    """temporalio's default converters with Paved's validating Pydantic JSON."""

    def __init__(self) -> None:
        json_conv = _ValidatingJSONConverter()
        super().__init__(
            *(
                json_conv if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


_BASE = DataConverter(payload_converter_class=PavedPayloadConverter)


class SizeLimitCodec(PayloadCodec):
    """Reject payloads larger than ``max_bytes`` on encode; decode passes through."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for i, p in enumerate(payloads):
            size = p.ByteSize()
            if size > self.max_bytes:
                encoding = p.metadata.get("encoding", b"?").decode(errors="replace")
                raise PayloadTooLargeError(
                    f"payload #{i} ({encoding}) is {size:,} bytes, over the limit of "
                    f"{self.max_bytes:,} bytes (Temporal accepts at most {TEMPORAL_PAYLOAD_LIMIT:,})",
                    fix="pass a reference (a blob URL or id) instead of the data, or enable "
                    "large-payload offload in paved.codec",
                )
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


class ChainCodec(PayloadCodec):
    """Apply codecs in order on encode and in reverse order on decode."""

    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self.codecs = list(codecs)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for c in self.codecs:
            out = await c.encode(out)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for c in reversed(self.codecs):
            out = await c.decode(out)
        return out


def data_converter(
    *,
    codec: PayloadCodec | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> DataConverter:
    """Paved's data converter: Pydantic validation, optional codec, size guard.

    Args:
        codec: encryption / offload codec (see ``paved.codec``), applied before
            the size check so that offloaded payloads are measured as sent.
        max_payload_bytes: reject payloads larger than this on encode.
    """
    chain: list[PayloadCodec] = []
    if codec is not None:
        chain.append(codec)
    chain.append(SizeLimitCodec(max_payload_bytes))
    if codec is None:
        return dataclasses.replace(_BASE, payload_codec=ChainCodec(chain))
    # With a codec, failure messages and stack traces move into an encoded
    # payload so that the codec encrypts them too (they often quote user data).
    return dataclasses.replace(
        _BASE,
        payload_codec=ChainCodec(chain),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
