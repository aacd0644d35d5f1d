"""The model and the index behind one worker thread, so that concurrent requests are safe and the event
loop never blocks.

Every call into torch, the tokenizer or FAISS runs on a single inference thread (torch still uses its
intra-op threads inside it): requests queue instead of sharing a tokenizer or a model at once. Uploads are
decoded on a separate small pool, so decoding one clip overlaps with inference for another. A request
waits at most ``request_timeout_seconds`` (queue + work) and is refused at once when ``max_queued``
requests are already waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import numpy as np

from openclap.inference import embed_audio, embed_texts
from openclap.model import ClapModel
from openclap.serve.errors import ApiError
from openclap.serve.limits import ServeLimits
from openclap.serve.uploads import DecodedClip, decode_upload
from openclap.zero_shot import Prediction, ZeroShotClassifier

if TYPE_CHECKING:
    from openclap.index import Hit, SoundIndex

T = TypeVar("T")
REFRESH_SECONDS = 2.0  # how often searches look for an index replaced by an update
CLASSIFIER_CACHE = 64  # label lists whose text classifiers are kept (the page re-sends the same labels)


class Engine:
    """Owns the model, the optional index and the worker threads of one server."""

    def __init__(self, model: ClapModel, index: SoundIndex | None, limits: ServeLimits) -> None:
        self.model = model
        self.index = index
        self.limits = limits
        self._infer = ThreadPoolExecutor(1, thread_name_prefix="openclap-infer")
        self._decode = ThreadPoolExecutor(limits.decode_workers, thread_name_prefix="openclap-decode")
        self._queued = 0
        self._refreshed = time.monotonic()
        self._classifiers: OrderedDict[tuple[tuple[str, ...], bool], ZeroShotClassifier] = OrderedDict()

    async def infer(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the inference thread within the request timeout."""
        if self._queued >= self.limits.max_queued:
            raise ApiError(503, f"server busy: {self._queued} requests are waiting; retry later")
        self._queued += 1
        try:
            future = asyncio.get_running_loop().run_in_executor(self._infer, fn, *args)
            return await asyncio.wait_for(future, self.limits.request_timeout_seconds)
        except asyncio.TimeoutError:
            raise ApiError(
                503, f"request did not finish within {self.limits.request_timeout_seconds:g} s (server busy)"
            ) from None
        finally:
            self._queued -= 1

    async def decode(self, fileobj: BinaryIO, filename: str | None) -> DecodedClip:
        """Decode an upload to the model's rate on the decoding pool (limits checked there)."""
        rate, max_seconds = self.model.config.audio.sample_rate, self.limits.max_audio_seconds
        future = asyncio.get_running_loop().run_in_executor(
            self._decode, decode_upload, fileobj, filename, rate, max_seconds
        )
        try:
            return await asyncio.wait_for(future, self.limits.request_timeout_seconds)
        except asyncio.TimeoutError:
            raise ApiError(503, "decoding the upload did not finish in time (server busy)") from None

    def require_index(self) -> SoundIndex:
        if self.index is None:
            raise ApiError(503, "no index is loaded: start the server with `openclap serve --index INDEX`")
        return self.index

    # The methods below block: call them through ``infer``.
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return embed_texts(self.model, list(texts))

    def embed_clip(self, clip: DecodedClip) -> np.ndarray:
        return embed_audio(self.model, [clip.wave], clip.sample_rate)[0]

    def classify(
        self, clip: DecodedClip, labels: Sequence[str], multi_label: bool, top_k: int
    ) -> list[Prediction]:
        classifier = self._classifier(tuple(labels), multi_label)
        return classifier.predict(self.embed_clip(clip)[None], top_k=top_k)[0]

    def search_text(self, query: str, top_k: int, prefix: str | None) -> list[Hit]:
        with _as_api_error():
            return self._fresh_index().search_text(query, top_k=top_k, path_prefix=prefix)

    def search_clip(self, clip: DecodedClip, top_k: int, prefix: str | None) -> list[Hit]:
        with _as_api_error():
            index = self._fresh_index()
            return index.search_audio(clip.wave, clip.sample_rate, top_k=top_k, path_prefix=prefix)

    def _fresh_index(self) -> SoundIndex:
        """The index, reloaded at most every ``REFRESH_SECONDS`` when ``openclap index update`` replaced it
        while the server runs."""
        index = self.require_index()
        now = time.monotonic()
        if now - self._refreshed >= REFRESH_SECONDS:
            self._refreshed = now
            index.refresh()
        return index

    def _classifier(self, labels: tuple[str, ...], multi_label: bool) -> ZeroShotClassifier:
        key = (labels, multi_label)
        if key in self._classifiers:
            self._classifiers.move_to_end(key)
        else:
            self._classifiers[key] = ZeroShotClassifier(self.model, labels, multi_label=multi_label)
            while len(self._classifiers) > CLASSIFIER_CACHE:
                self._classifiers.popitem(last=False)
        return self._classifiers[key]

    def close(self) -> None:
        self._infer.shutdown(wait=False, cancel_futures=True)
        self._decode.shutdown(wait=False, cancel_futures=True)
        if self.index is not None:
            self.index.close()


@contextmanager
def _as_api_error() -> Iterator[None]:
    """An index's refusal of a query (``SoundIndexError``: a one-line message) becomes a 422."""
    from openclap.index import SoundIndexError

    try:
        yield
    except SoundIndexError as err:
        raise ApiError(422, str(err)) from None
