"""The example's data: what a user asks for, what the workflow reports and returns.

Every value crossing Temporal is a Pydantic model, validated on both sides by
Paved's data converter. Image bytes travel base64-encoded (JSON has no bytes)
and are small: the fake GPU renders tiny images.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Stage = Literal["queued", "moderating", "rendering", "storing", "done", "rejected", "cancelled"]


class ImageRequest(BaseModel):
    """What a user submits to ``POST /images``."""

    prompt: str = Field(min_length=1, max_length=2000)
    user: str = Field(min_length=1, max_length=200)
    size: int = Field(default=64, ge=8, le=256, description="square image side in pixels")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class Moderation(BaseModel):
    allowed: bool
    reason: str = ""


class RenderInput(BaseModel):
    request_id: str
    prompt: str
    size: int
    seed: int


class RenderedImage(BaseModel):
    png_b64: str
    width: int
    height: int
    gpu_ms: float
    attempt: int


class StoreInput(BaseModel):
    key: str
    image: RenderedImage
    user: str


class StoredImage(BaseModel):
    key: str
    path: str
    sha256: str
    bytes: int


class Progress(BaseModel):
    """What the ``progress`` query answers while the workflow runs (and after)."""

    stage: Stage = "queued"
    detail: str = ""
    render_attempts: int = 0


class ImageResult(BaseModel):
    """The workflow's result: a stored image, or a clean rejection."""

    status: Literal["done", "rejected"]
    workflow_id: str
    reason: str = ""
    blob_key: str | None = None
    sha256: str | None = None
    bytes: int = 0
    width: int = 0
    height: int = 0
