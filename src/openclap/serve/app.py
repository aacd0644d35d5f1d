"""The FastAPI app: search, classify and embed over HTTP, stream indexed audio, and the web page.

``create_app(model, index, limits)`` wires routes to an ``Engine``; nothing here touches torch directly.
Routes never take a file system path from a request: audio is addressed by index id only, and the page's
assets are three fixed names read from the package.
"""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Annotated

from fastapi import Body, FastAPI, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from openclap.model import ClapModel
from openclap.serve.body import BodyGuard
from openclap.serve.engine import Engine
from openclap.serve.errors import ApiError, error_responses, install_error_handlers
from openclap.serve.limits import ServeLimits
from openclap.serve.schemas import (
    AudioEmbedding,
    ClassifyResponse,
    Health,
    IndexInfo,
    LabelScore,
    SearchHit,
    SearchResponse,
    TextEmbeddings,
    TextEmbedRequest,
)
from openclap.serve.stream import file_response

if TYPE_CHECKING:
    from openclap.index import Hit, SoundIndex

ASSETS = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
UPLOAD_ERRORS = (400, 408, 413, 415, 422, 503)


def create_app(
    model: ClapModel,
    index: "SoundIndex | None" = None,
    limits: ServeLimits | None = None,
    index_path: str = "",
) -> FastAPI:
    """The server's ASGI app. ``index`` None serves classify / embed only (search and audio answer 503)."""
    limits = limits or ServeLimits()
    engine = Engine(model, index, limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.close()

    app = FastAPI(
        title="openclap",
        version=_version(),
        summary="Search a sound collection by text or example, classify clips zero-shot, embed audio "
        "and text with a CLAP model.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    install_error_handlers(app)
    app.add_middleware(
        BodyGuard, max_bytes=limits.max_upload_bytes, timeout_seconds=limits.body_timeout_seconds
    )
    _add_page_routes(app)
    _add_health_route(app, engine, index_path)
    _add_search_routes(app, engine)
    _add_classify_route(app, engine)
    _add_embed_routes(app, engine)
    _add_audio_route(app, engine)
    return app


def _version() -> str:
    from openclap import __version__

    return __version__


def _add_page_routes(app: FastAPI) -> None:
    assets = {name: (resources.files("openclap.serve") / "static" / name).read_bytes() for name in ASSETS}

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(assets["index.html"])

    @app.get("/static/app.js", include_in_schema=False)
    async def script() -> Response:
        return Response(assets["app.js"], media_type=ASSETS["app.js"])

    @app.get("/static/style.css", include_in_schema=False)
    async def style() -> Response:
        return Response(assets["style.css"], media_type=ASSETS["style.css"])


def _add_health_route(app: FastAPI, engine: Engine, index_path: str) -> None:
    cfg = engine.model.config

    @app.get("/health", response_model=Health, summary="Model, index size and limits")
    async def health() -> Health:
        info = None if engine.index is None else IndexInfo(path=index_path, items=len(engine.index))
        return Health(
            status="ok",
            model=cfg.name,
            precision=engine.model.precision,
            sample_rate=cfg.audio.sample_rate,
            clip_seconds=cfg.audio.clip_seconds,
            embedding_dim=cfg.projection.dim,
            index=info,
            limits=engine.limits.as_dict(),
        )


def clean_text(text: str, what: str, limits: ServeLimits) -> str:
    """A stripped, non-empty text of at most ``max_text_chars`` characters, or 422."""
    text = text.strip()
    if not text:
        raise ApiError(422, f"{what}: must not be empty")
    if len(text) > limits.max_text_chars:
        raise ApiError(422, f"{what}: {len(text)} characters; the server's limit is {limits.max_text_chars}")
    return text


def parse_labels(raw: str, limits: ServeLimits) -> list[str]:
    """Comma- or newline-separated labels, stripped and de-duplicated in order; count and length bounded."""
    if len(raw) > limits.max_labels * (limits.max_label_chars + 2):
        raise ApiError(422, f"labels: {len(raw)} characters is more than {limits.max_labels} labels can hold")
    labels = list(dict.fromkeys(label.strip() for label in re.split(r"[,\n]", raw) if label.strip()))
    if not labels:
        raise ApiError(422, "labels: give at least one label (comma-separated)")
    if len(labels) > limits.max_labels:
        raise ApiError(422, f"labels: {len(labels)} labels; the server's limit is {limits.max_labels}")
    for label in labels:
        if len(label) > limits.max_label_chars:
            raise ApiError(
                422,
                f"labels: a label of {len(label)} characters; the server's limit is {limits.max_label_chars}",
            )
    return labels


def _hits(hits: "list[Hit]") -> list[SearchHit]:
    return [
        SearchHit(
            item_id=hit.item_id,
            path=hit.path,
            start_seconds=round(hit.start_seconds, 3),
            end_seconds=round(hit.end_seconds, 3),
            score=round(hit.score, 6),
            audio_url=f"/audio/{hit.item_id}",
        )
        for hit in hits
    ]


def _add_search_routes(app: FastAPI, engine: Engine) -> None:
    limits = engine.limits
    TopK = Annotated[int, Query(ge=1, le=limits.max_top_k, description="number of hits")]
    Prefix = Annotated[str | None, Query(max_length=4096, description="only files whose path starts so")]

    @app.get(
        "/search",
        response_model=SearchResponse,
        summary="Search the index by text",
        responses=error_responses(422, 503),
    )
    async def search_text(
        q: Annotated[str, Query(description="what to find, e.g. 'a dog barking'")],
        top_k: TopK = 10,
        prefix: Prefix = None,
    ) -> SearchResponse:
        engine.require_index()
        query = clean_text(q, "q", limits)
        hits = await engine.infer(engine.search_text, query, top_k, prefix or None)
        return SearchResponse(query=query, hits=_hits(hits))

    @app.post(
        "/search",
        response_model=SearchResponse,
        summary="Search the index by an example clip",
        responses=error_responses(*UPLOAD_ERRORS),
    )
    async def search_example(
        file: Annotated[UploadFile, File(description="an audio clip (WAV, FLAC, OGG, MP3, ...)")],
        top_k: Annotated[int, Form(ge=1, le=limits.max_top_k)] = 10,
        prefix: Annotated[str | None, Form(max_length=4096)] = None,
    ) -> SearchResponse:
        engine.require_index()
        clip = await engine.decode(file.file, file.filename)
        hits = await engine.infer(engine.search_clip, clip, top_k, prefix or None)
        return SearchResponse(query=clip.name, hits=_hits(hits))


def _add_classify_route(app: FastAPI, engine: Engine) -> None:
    limits = engine.limits

    @app.post(
        "/classify",
        response_model=ClassifyResponse,
        summary="Classify a clip zero-shot against labels",
        responses=error_responses(*UPLOAD_ERRORS),
    )
    async def classify(
        file: Annotated[UploadFile, File(description="an audio clip")],
        labels: Annotated[str, Form(description="comma- or newline-separated labels, e.g. 'dog,rain'")],
        top_k: Annotated[int | None, Form(ge=1, description="labels to return (default: all)")] = None,
        multi_label: Annotated[bool, Form(description="independent cosine scores, no softmax")] = False,
    ) -> ClassifyResponse:
        names = parse_labels(labels, limits)
        clip = await engine.decode(file.file, file.filename)
        preds = await engine.infer(
            engine.classify, clip, names, multi_label, min(top_k or len(names), len(names))
        )
        return ClassifyResponse(
            file=clip.name,
            duration_seconds=round(clip.seconds, 3),
            multi_label=multi_label,
            predictions=[LabelScore(label=p.label, score=round(p.score, 6)) for p in preds],
            warning=clip.warning,
        )


def _add_embed_routes(app: FastAPI, engine: Engine) -> None:
    limits, name = engine.limits, engine.model.config.name

    @app.post(
        "/embed/text",
        response_model=TextEmbeddings,
        summary="Embed texts",
        responses=error_responses(400, 422, 503),
    )
    async def embed_text(request: Annotated[TextEmbedRequest, Body()]) -> TextEmbeddings:
        if len(request.texts) > limits.max_texts:
            raise ApiError(
                422, f"texts: {len(request.texts)} texts; the server's limit is {limits.max_texts}"
            )
        texts = [clean_text(t, f"texts[{i}]", limits) for i, t in enumerate(request.texts)]
        emb = await engine.infer(engine.embed_texts, texts)
        return TextEmbeddings(model=name, embeddings=emb.tolist())

    @app.post(
        "/embed/audio",
        response_model=AudioEmbedding,
        summary="Embed an audio clip",
        responses=error_responses(*UPLOAD_ERRORS),
    )
    async def embed_audio(file: Annotated[UploadFile, File(description="an audio clip")]) -> AudioEmbedding:
        clip = await engine.decode(file.file, file.filename)
        emb = await engine.infer(engine.embed_clip, clip)
        return AudioEmbedding(
            model=name,
            file=clip.name,
            duration_seconds=round(clip.seconds, 3),
            embedding=emb.tolist(),
            warning=clip.warning,
        )


def _add_audio_route(app: FastAPI, engine: Engine) -> None:
    @app.get(
        "/audio/{item_id}",
        summary="The audio file of an indexed item (HTTP range requests: 206 / 416)",
        response_class=Response,
        responses={
            200: {"content": {"audio/*": {}}, "description": "the whole file"},
            206: {"content": {"audio/*": {}}, "description": "the requested byte range"},
            **error_responses(404, 416, 422, 503),
        },
    )
    async def audio(
        item_id: Annotated[int, PathParam(ge=0, le=2**62, description="index id, from /search")],
        request: Request,
    ) -> Response:
        index = engine.require_index()
        from openclap.index import SoundIndexError

        try:
            item = await run_in_threadpool(index.item, item_id)
        except SoundIndexError:
            raise ApiError(404, f"no item {item_id} in the index") from None
        return await run_in_threadpool(file_response, item.path, request.headers.get("range"), item_id)
