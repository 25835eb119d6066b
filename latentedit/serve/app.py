"""The FastAPI application of ``latentedit serve``: a static page and a small JSON API over ``actions``.

Routes (ids are random tokens the server handed out; no route takes a path):

    GET  /                                  the page          GET /static/{app.js|style.css}
    GET  /api/info                          methods, attributes, limits
    POST /api/invert          (multipart)   photo -> job id (202), or 4xx with a message for a bad upload
    GET  /api/jobs/{job_id}                 progress; when done, the inversion (crop, reconstruction, error)
    POST /api/sample          {seed}        a generator sample as the source
    POST /api/edit            {item_id, page, seq, method, amounts, condition}  the edited face (stale: dropped)
    POST /api/samples         {item_id, method, amounts, n, mode, seed}          a row of N multimodal samples
    POST /api/reference       (multipart)   a reference photo's style (style mappers)
    GET  /api/edits/{edit_id}/face.png | pasted.png | latent      downloads
    GET  /api/items/{item_id}/latent        the source's W+ file
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from latentedit.serve import actions
from latentedit.serve.errors import USER_ERRORS, http_status, user_message
from latentedit.serve.session import ServeState
from latentedit.serve.uploads import UploadError, check_size

STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
ID = r"^[0-9a-f]{16}$"
PAGE = r"^[A-Za-z0-9_-]{1,64}$"
NO_STORE = {"Cache-Control": "no-store"}


class SampleRequest(BaseModel):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    truncation: float = Field(0.7, ge=0.0, le=1.0)


class EditRequest(BaseModel):
    item_id: str = Field(pattern=ID)
    page: str = Field(pattern=PAGE)
    seq: int = Field(ge=0)
    method: str = Field(max_length=64)
    amounts: dict[str, float] = Field(default_factory=dict, max_length=64)
    condition: dict[str, str | int] | None = None


class RowRequest(BaseModel):
    item_id: str = Field(pattern=ID)
    method: str = Field(max_length=64)
    amounts: dict[str, float] = Field(default_factory=dict, max_length=64)
    n: int = Field(6, ge=1, le=64)
    mode: Literal["random", "clusters"] = "random"
    seed: int = Field(0, ge=0, le=2**31 - 1)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=NO_STORE)


def _static(name: str) -> str:
    return resources.files("latentedit.serve").joinpath("static", name).read_text(encoding="utf-8")


def create_app(state: ServeState) -> FastAPI:
    """The app over ``state`` (models loaded and warm); ``app.state.serve`` holds it."""
    app = FastAPI(title="latentedit serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.serve = state
    cfg = state.config

    @app.exception_handler(UploadError)
    async def _upload_error(request: Request, exc: UploadError):
        return _error(exc.status, str(exc))

    async def _input_error(request: Request, exc: Exception):  # the library's errors and PipelineInputError
        return _error(http_status(exc), user_message(exc))

    for error_type in USER_ERRORS:
        app.add_exception_handler(error_type, _input_error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, f"bad request: {where or 'body'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, exc.detail if isinstance(exc.detail, str) else "request refused")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):  # a bug: one line, never a traceback in the response
        return _error(500, f"internal error ({type(exc).__name__}); the server log has details")

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and request.method == "POST":
            try:
                n = int(length)
            except ValueError:
                return _error(400, "bad Content-Length header")
            if n > cfg.max_upload_bytes + 65536:
                return _error(413, f"the request is {n / 1e6:.1f} MB; this server takes at most "
                                   f"{cfg.max_upload_bytes / 1e6:.1f} MB per photo")
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return HTMLResponse(_static("index.html"), headers=NO_STORE)

    @app.get("/static/{name}")
    def static(name: str):
        if name not in STATIC:
            return _error(404, f"no such static file; there are: {', '.join(STATIC)}")
        return Response(_static(name), media_type=STATIC[name], headers=NO_STORE)

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    @app.get("/api/info")
    def info():
        m = state.models
        return {"resolution": m.resolution, "photos": m.encoder is not None, "encoder_note": m.encoder_note,
                "methods": [{"name": x.name, "attributes": list(x.attributes), "condition": x.condition,
                             "reference": x.reference} for x in m.methods.values()],
                "limits": {"max_upload_bytes": cfg.max_upload_bytes, "max_pixels": cfg.max_pixels,
                           "max_samples": cfg.max_samples}, "refine_steps": cfg.refine_steps,
                "edits": {"rendered": state.gate.rendered, "dropped": state.gate.dropped}}

    async def _read(upload: UploadFile) -> bytes:
        data = await upload.read(cfg.max_upload_bytes + 1)
        check_size(len(data), cfg.max_upload_bytes)
        return data

    @app.post("/api/invert", status_code=202)
    async def invert(file: UploadFile = File(...), align: bool = Form(True)):
        data = await _read(file)
        job = await run_in_threadpool(actions.start_inversion, state, data, align)
        return JSONResponse(actions.job_json(state, job), status_code=202, headers=NO_STORE)

    @app.get("/api/jobs/{job_id}")
    def job(job_id: str):
        j = state.jobs.get(job_id)
        if j is None:
            return _error(404, "unknown job id")
        return JSONResponse(actions.job_json(state, j), headers=NO_STORE)

    @app.post("/api/sample")
    def sample(req: SampleRequest):
        return actions.item_json(actions.sample_item(state, req.seed, req.truncation))

    @app.post("/api/edit")
    def edit(req: EditRequest):
        if not (state.gate.arrive(req.page, req.seq) and state.gate.acquire(req.page, req.seq)):
            return {"status": "stale", "seq": req.seq, "latest": state.gate.latest(req.page)}
        try:
            result = actions.edit(state, req.item_id, req.method, req.amounts, req.condition)
        finally:
            state.gate.release(req.page)
        return actions.edit_json(result, req.seq)

    @app.post("/api/samples")
    def samples(req: RowRequest):
        if req.n > cfg.max_samples:
            return _error(400, f"at most {cfg.max_samples} samples per row; got {req.n}")
        return actions.sample_row(state, req.item_id, req.method, req.amounts, req.n, req.mode, req.seed)

    @app.post("/api/reference")
    async def reference(file: UploadFile = File(...), method: str = Form(..., max_length=64)):
        data = await _read(file)
        return await run_in_threadpool(actions.add_reference, state, method, data)

    @app.get("/api/edits/{edit_id}/face.png")
    def face_png(edit_id: str):
        return Response(actions.get_edit(state, edit_id).face_png, media_type="image/png",
                        headers={"Content-Disposition": 'attachment; filename="edited_face.png"'})

    @app.get("/api/edits/{edit_id}/pasted.png")
    def pasted(edit_id: str):
        result = actions.get_edit(state, edit_id)
        with state.model_lock:
            png = actions.pasted_png(state, result)
        return Response(png, media_type="image/png",
                        headers={"Content-Disposition": 'attachment; filename="edited_photo.png"'})

    @app.get("/api/edits/{edit_id}/latent")
    def edit_latent(edit_id: str):
        data = actions.edit_latent(state, actions.get_edit(state, edit_id))
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="edited.wplus.safetensors"'})

    @app.get("/api/items/{item_id}/latent")
    def item_latent(item_id: str):
        data = actions.item_latent(state, actions.get_item(state, item_id))
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="source.wplus.safetensors"'})

    return app
