"""Images to a model that cannot see them: the 400 that rejects image parts, and the retry.

``VisionFallback`` wraps the chat model. When an endpoint answers a request that carries images
with a 400 naming images (OpenAI: "image_url is only supported by certain models"), the model
is remembered as blind (``VisionModels.learn_blind``, logged once) and the request is sent once
more without its images, each replaced by a note saying it was not read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

from bot.errors import LLMBadRequest, LLMContextTooLong
from bot.files.policy import VisionModels
from bot.files.render import image_note
from bot.llm.base import ChatModel, CompletionRequest, StreamEvent

_IMAGE_WORDS = re.compile(r"image|vision|multimodal|content.?part|content type", re.IGNORECASE)
BLIND = "this model cannot see images"


def rejects_images(exc: Exception) -> bool:
    """Whether ``exc`` is a 400 saying the request's image parts are not accepted."""
    if not isinstance(exc, LLMBadRequest) or isinstance(exc, LLMContextTooLong):
        return False
    return bool(_IMAGE_WORDS.search(str(exc)))


def without_images(request: CompletionRequest) -> CompletionRequest:
    """``request`` with a note in place of each image part."""
    messages = list(request.messages)
    for index, images in request.images.items():
        notes = "\n".join(image_note(name, BLIND) for name, _ in images)
        message = messages[index]
        messages[index] = {**message, "content": f"{message['content']}\n\n{notes}"}
    return dataclasses.replace(request, messages=messages, images={})


class VisionFallback:
    """A ``ChatModel`` that retries once without images when they are rejected."""

    def __init__(self, model: ChatModel, vision: VisionModels) -> None:
        self._model = model
        self._vision = vision

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """The model's own stream when there are no images: no wrapper per event."""
        if not request.images:
            return self._model.stream(request)
        return self._stream_with_images(request)

    async def _stream_with_images(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        started = False
        try:
            async for event in self._model.stream(request):
                started = True
                yield event
            return
        except LLMBadRequest as exc:
            if started or not rejects_images(exc):
                raise
            self._vision.learn_blind(request.params.model, str(exc))
        async for event in self._model.stream(without_images(request)):
            yield event

    async def complete(self, request: CompletionRequest) -> list[StreamEvent]:
        try:
            return await self._model.complete(request)
        except LLMBadRequest as exc:
            if not request.images or not rejects_images(exc):
                raise
            self._vision.learn_blind(request.params.model, str(exc))
        return await self._model.complete(without_images(request))
