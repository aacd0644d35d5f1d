"""Every error the server answers is ``{"error": "one line"}`` with a status code that says whose fault it
is: 400 malformed body, 404 unknown id or route, 408 body too slow, 413 too large, 415 not audio,
416 bad range, 422 invalid value, 503 busy / no index / timed out. Tracebacks never reach a client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

log = logging.getLogger("openclap.serve")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str


class ApiError(HTTPException):
    """An HTTP error with a one-line message for the client (raised anywhere in a request)."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses=`` entries for the error codes a route can answer."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}


_DESCRIPTIONS = {
    400: "malformed request body",
    404: "unknown item id, or its file is gone",
    408: "the request body arrived too slowly",
    413: "upload larger than the byte or duration limit",
    415: "the upload is not audio that can be decoded",
    416: "range not satisfiable or malformed",
    422: "invalid parameter value",
    503: "no index loaded, server busy, or the request timed out",
}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(x) for x in err.get("loc", ())]
        where = ".".join(loc[1:] if len(loc) > 1 and loc[0] in ("body", "query", "path") else loc)
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map HTTP errors, validation errors and anything unexpected to ``{"error": ...}``."""

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and message == "There was an error parsing the body":
            message = "malformed request body (not valid JSON or multipart form data)"
        elif exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.url.path[:200]} (the API is described at /docs)"
        return error_response(exc.status_code, message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return error_response(400, "request body is not valid JSON")
        return error_response(422, _validation_message(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")
