"""What the routes do, without HTTP: invert an upload (a job with progress), sample a seed, edit, rows of samples,
reference styles, downloads. Errors the user can fix are ``UploadError`` and ``latentedit.serve.errors``'s
``USER_ERRORS`` (the library's and ``PipelineInputError``): 4xx."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping

import torch

from latentedit.serve.errors import USER_ERRORS, PipelineInputError, http_status, user_message
from latentedit.serve.pipeline import crop_photo, png_bytes, reconstruction_error
from latentedit.serve.session import Edit, Item, Job, ServeState, content_hash, new_id
from latentedit.serve.uploads import decode_photo

MAX_AMOUNT = 5.0


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def item_json(item: Item, cached: bool = False) -> dict:
    out = {"item_id": item.id, "label": item.label, "recon": data_url(png_bytes(item.recon)),
           "aligned": data_url(png_bytes(item.crop)) if item.crop is not None else None,
           "error": item.error, "has_photo": item.paste is not None, "cached": cached,
           "latent_url": f"/api/items/{item.id}/latent"}
    return out


def start_inversion(state: ServeState, data: bytes, align: bool) -> Job:
    """Check the upload now (4xx at once for bad files), then invert in the background; a photo seen before (same
    bytes and options) is answered from the cache."""
    cfg = state.config
    photo = decode_photo(data, max_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_pixels)
    key = content_hash(data, align=bool(align), refine=cfg.refine_steps)
    job = Job(new_id())
    state.jobs.put(job.id, job)
    cached = state.cached_item(key)
    if cached is not None:
        job.state, job.stage, job.progress, job.item_id, job.cached = "done", "cached", 1.0, cached.id, True
        return job
    state.executor.submit(_invert, state, job, photo, bool(align), key)
    return job


def _invert(state: ServeState, job: Job, photo, align: bool, key: str) -> None:
    m = state.models
    try:
        job.set("detecting and aligning the face" if align else "cropping the central square", 0.1)
        with state.model_lock:
            face = crop_photo(photo, m.encoder_size(), align)
            job.set("encoding", 0.4)
            w = m.invert(face.crop)
        steps = state.config.refine_steps
        done, chunk = 0, max(1, math.ceil(steps / 10)) if steps else 0
        while done < steps:  # in chunks, so progress moves and slider edits of other photos interleave
            job.set(f"refining {done}/{steps}", 0.5 + 0.4 * done / steps)
            with state.model_lock:
                w = m.refine(w, face.crop, min(chunk, steps - done))
            done += chunk
        job.set("rendering the reconstruction", 0.95)
        with state.model_lock:
            recon = m.render(w)
        aligned = face.transform is not None
        item = Item(new_id(), w, recon, face.crop, face.paste if aligned else None,
                    reconstruction_error(face.crop, recon),
                    label="aligned photo" if aligned else "photo (central square)")
        state.add_item(item, key)
        job.item_id, job.state, job.stage, job.progress = item.id, "done", "done", 1.0
    except USER_ERRORS as exc:
        job.state, job.stage, job.message, job.status = "error", "error", user_message(exc), http_status(exc)
    except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker; the page gets one line
        job.state, job.stage, job.status = "error", "error", 500
        job.message = f"inversion failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"


def job_json(state: ServeState, job: Job) -> dict:
    out = {"job_id": job.id, "state": job.state, "stage": job.stage, "progress": round(job.progress, 3),
           "message": job.message, "status": job.status}
    if job.state == "done":
        item = state.items.get(job.item_id)
        if item is None:
            return {**out, "state": "error", "message": "the result was evicted from the cache; upload again",
                    "status": 410}
        out["item"] = item_json(item, cached=job.cached)
    return out


def sample_item(state: ServeState, seed: int, truncation: float) -> Item:
    key = f"seed:{int(seed)}:{float(truncation)}"
    cached = state.cached_item(key)
    if cached is not None:
        return cached
    with state.model_lock:
        w = state.models.sample(seed, truncation)
        recon = state.models.render(w)
    return state.add_item(Item(new_id(), w, recon, label=f"generator seed {seed}"), key)


def get_item(state: ServeState, item_id: str) -> Item:
    item = state.items.get(item_id)
    if item is None:
        raise PipelineInputError("unknown image id (the server restarted or dropped it from its cache); upload the "
                                 "photo or sample the seed again", 404)
    return item


def check_amounts(amounts: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for k, v in amounts.items():
        v = float(v)
        if not math.isfinite(v) or abs(v) > MAX_AMOUNT:
            raise PipelineInputError(f"slider {k!r}: amounts must be finite and within ±{MAX_AMOUNT}; got {v}", 400)
        out[str(k)] = v
    return out


def resolve_condition(state: ServeState, method: str, condition: Mapping | None) -> torch.Tensor | None:
    """{'row_id', 'index'} (a sample of a row) or {'ref_id'} (a reference photo's style) -> (1, dim) or None."""
    if not condition:
        return None
    if condition.get("ref_id"):
        ref = state.references.get(str(condition["ref_id"]))
        if ref is None or ref[0] != method:
            raise PipelineInputError("unknown reference id for this method; upload the reference photo again", 404)
        return ref[1]
    row = state.rows.get(str(condition.get("row_id", "")))
    if row is None or row[0] != method:
        raise PipelineInputError("unknown sample row for this method; sample the row again", 404)
    index = int(condition.get("index", 0))
    if not 0 <= index < row[1].shape[0]:
        raise PipelineInputError(f"sample index {index} is outside the row (0..{row[1].shape[0] - 1})", 400)
    return row[1][index: index + 1]


def edit(state: ServeState, item_id: str, method: str, amounts: Mapping[str, float],
         condition: Mapping | None = None) -> Edit:
    item = get_item(state, item_id)
    amounts = check_amounts(amounts)
    cond = resolve_condition(state, method, condition)
    with state.model_lock:
        w = state.models.edit(method, item.w, amounts, cond)
        face = state.models.render(w)
    result = Edit(new_id(), item, w, face, png_bytes(face), {"method": method, "attrs": amounts})
    state.edits.put(result.id, result)
    return result


def edit_json(result: Edit, seq: int) -> dict:
    base = f"/api/edits/{result.id}"
    return {"status": "ok", "seq": seq, "edit_id": result.id, "face": data_url(result.face_png),
            "face_url": f"{base}/face.png", "latent_url": f"{base}/latent",
            "pasted_url": f"{base}/pasted.png" if result.item.paste is not None else None}


def get_edit(state: ServeState, edit_id: str) -> Edit:
    result = state.edits.get(edit_id)
    if result is None:
        raise PipelineInputError("unknown edit id (evicted or from before a restart); move a slider again", 404)
    return result


def pasted_png(state: ServeState, result: Edit) -> bytes:
    if result.item.paste is None:
        raise PipelineInputError("this image has no photo to paste into (a generator sample or an unaligned crop); "
                                 "download the face instead", 404)
    if result.pasted_png is None:
        result.pasted_png = png_bytes(result.item.paste(result.face), compress_level=3)
    return result.pasted_png


def sample_row(state: ServeState, item_id: str, method: str, amounts: Mapping[str, float], n: int, mode: str,
               seed: int) -> dict:
    item = get_item(state, item_id)
    amounts = check_amounts(amounts)
    with state.model_lock:
        conds = state.models.conditions(method, item.w, amounts, n, mode, seed)
        images = [state.models.render(state.models.edit(method, item.w, amounts, conds[k: k + 1]))
                  for k in range(conds.shape[0])]
    row_id = new_id()
    state.rows.put(row_id, (method, conds))
    return {"row_id": row_id, "mode": mode, "images": [data_url(png_bytes(i)) for i in images]}


def add_reference(state: ServeState, method: str, data: bytes) -> dict:
    cfg = state.config
    photo = decode_photo(data, max_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_pixels)
    with state.model_lock:
        style, image = state.models.reference_style(method, photo)
    ref_id = new_id()
    state.references.put(ref_id, (method, style))
    return {"ref_id": ref_id, "image": data_url(png_bytes(image))}


def item_latent(state: ServeState, item: Item) -> bytes:
    return state.models.wplus_bytes(item.w, {"source": item.label, "written_by": "latentedit serve"})


def edit_latent(state: ServeState, result: Edit) -> bytes:
    return state.models.wplus_bytes(result.w, {"source": result.item.label, "written_by": "latentedit serve",
                                               **result.info})
