"""Response bodies of the HTTP API (they are also its OpenAPI description at ``/openapi.json``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IndexInfo(BaseModel):
    path: str
    items: int = Field(description="indexed windows")


class Health(BaseModel):
    status: str = Field(description="always 'ok' when the server answers")
    model: str
    precision: str = Field(description="inference precision of the model: fp32 or bf16")
    sample_rate: int
    clip_seconds: float
    embedding_dim: int
    index: IndexInfo | None = Field(description="null when the server runs without an index")
    limits: dict[str, float]


class SearchHit(BaseModel):
    item_id: int = Field(description="index id of the (file, window) row; its audio is at audio_url")
    path: str = Field(description="the file's path as indexed")
    start_seconds: float
    end_seconds: float
    score: float = Field(description="cosine similarity, higher is better")
    audio_url: str


class SearchResponse(BaseModel):
    query: str = Field(description="the text query, or the uploaded example's file name")
    hits: list[SearchHit]


class LabelScore(BaseModel):
    label: str
    score: float


class ClassifyResponse(BaseModel):
    file: str
    duration_seconds: float
    multi_label: bool = Field(description="scores are per-label cosine similarities instead of a softmax")
    predictions: list[LabelScore] = Field(description="best first")
    warning: str | None = Field(None, description="set for silent audio: its labels mean nothing")


class TextEmbedRequest(BaseModel):
    texts: list[str] = Field(min_length=1, description="texts to embed")


class TextEmbeddings(BaseModel):
    model: str
    embeddings: list[list[float]] = Field(description="L2-normalised, one row per text")


class AudioEmbedding(BaseModel):
    model: str
    file: str
    duration_seconds: float
    embedding: list[float] = Field(description="L2-normalised; long clips average consecutive windows")
    warning: str | None = None
