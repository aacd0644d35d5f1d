"""What one request may ask of the server: upload size and duration, label and text counts, timeouts.

Config as data: ``openclap serve`` fills a ``ServeLimits`` from its options and the app reads nothing
else. Every bound answers with a clear JSON error instead of letting a request run unbounded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class ServeLimits:
    max_upload_bytes: int = 20 * 1024 * 1024  # request body of an upload; more -> 413
    max_audio_seconds: float = 300.0  # decoded duration of an uploaded clip; more -> 413
    max_labels: int = 256  # labels of one /classify request; more -> 422
    max_label_chars: int = 200  # characters of one label; more -> 422
    max_texts: int = 64  # texts of one /embed/text request; more -> 422
    max_text_chars: int = 1000  # characters of one query or text; more -> 422
    max_top_k: int = 200  # hits of one /search request; more -> 422
    request_timeout_seconds: float = 60.0  # queueing + inference of one request; more -> 503
    body_timeout_seconds: float = 30.0  # receiving one request body; slower -> 408
    header_timeout_seconds: float = 15.0  # a new connection that sends no complete request is closed
    max_queued: int = 256  # requests waiting for the model at once; more -> 503 at once
    decode_workers: int = 2  # uploads decoded at once (threads)

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if not value > 0:
                raise ValueError(f"ServeLimits.{spec.name} must be positive, got {value!r}")

    def as_dict(self) -> dict[str, float]:
        """The limits as JSON-ready numbers (shown by ``/health``)."""
        return asdict(self)
