"""Render jobs: build a selection, see its count and estimated time, start it, watch it, retry or cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.db import session_scope
from api.dispatch import enqueue_fanout, enqueue_render
from api.errors import ApiError
from api.models import Category, JobStatus, PreviewStatus, RenderJob
from api.schemas import SIZES, RenderJobIn
from api.services import jobs, previews

from . import auth
from .previews import FORMATS, inputs_of, pickers
from .web import PREFIX, DashboardRoute, redirect, render

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)
PAGE = 20
SHOWN = 24  # failures and results shown on a job's page
FINISHED = (JobStatus.succeeded, JobStatus.failed, JobStatus.canceled)

Viewer = Annotated[auth.Viewer, Depends(auth.viewer_of())]
Actor = Annotated[auth.Viewer, Depends(auth.actor_of())]


def progress(job: RenderJob) -> dict:
    """Previews finished (any outcome) out of the job's total, as a percentage."""
    counts = job.counts or {}
    done = sum(counts.get(s, 0) for s in ("succeeded", "failed", "canceled"))
    finished = job.status in FINISHED
    percent = min(100, done * 100 // job.total) if job.total else (100 if finished else 0)
    return {"done": done, "total": job.total, "percent": percent, "live": not finished}


def form_values(data) -> dict:
    """The job form's fields (from a form or a query string), as the page shows them again."""
    return {
        "garment_mode": data.get("garment_mode") or "ids",
        "garment_ids": data.getlist("garment_ids"),
        "category": data.get("category") or "",
        "published_only": data.get("published_only") in ("true", "on", "1"),
        "sku_prefix": (data.get("sku_prefix") or "").strip(),
        "photo_mode": data.get("photo_mode") or "ids",
        "model_photo_ids": data.getlist("model_photo_ids"),
        "name_contains": (data.get("name_contains") or "").strip(),
        "size": data.get("size") or "512x384",
        "format": data.get("format") or "jpeg",
    }


def job_request(values: dict) -> RenderJobIn:
    """The API's own request body for these fields; ApiError 422 with a readable message if incomplete."""
    body: dict = {"size": values["size"], "format": values["format"]}
    if values["garment_mode"] == "filter":
        garment_filter = {"category": values["category"] or None, "sku_prefix": values["sku_prefix"] or None}
        if values["published_only"]:
            garment_filter["published"] = True
        body["garment_filter"] = garment_filter
    elif values["garment_ids"]:
        body["garment_ids"] = values["garment_ids"]
    else:
        raise ApiError(422, "selection_incomplete", "Choose at least one garment, or select garments by filter.")
    if values["photo_mode"] == "filter":
        body["model_photo_filter"] = {"name_contains": values["name_contains"] or None}
    elif values["model_photo_ids"]:
        body["model_photo_ids"] = values["model_photo_ids"]
    else:
        raise ApiError(422, "selection_incomplete", "Choose at least one model photo, or select photos by filter.")
    try:
        return RenderJobIn.model_validate(body)
    except ValidationError as error:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors())
        raise ApiError(422, "validation_error", f"Check: {fields}.") from None


def selection_of(body: RenderJobIn) -> dict:
    return body.model_dump(mode="json", exclude={"size", "format"}, exclude_none=True)


def _estimate(request: Request, values: dict) -> tuple[jobs.Estimate | None, str | None]:
    try:
        body = job_request(values)
    except ApiError as error:
        return None, error.message
    with session_scope(request.app.state.tryon.read_sessions) as session:
        return jobs.estimate(session, selection_of(body), body.size), None


def _jobs_page(request: Request, viewer: auth.Viewer, offset: int, values: dict, status: int = 200, error=None):
    with session_scope(request.app.state.tryon.read_sessions) as session:
        rows, total = jobs.list_jobs(session, PAGE, offset)
        choices = pickers(session, viewer)
    return render(
        request,
        "dashboard/jobs.html",
        status,
        viewer=viewer,
        section="jobs",
        jobs=rows,
        total=total,
        offset=offset,
        page_size=PAGE,
        progress=progress,
        live=any(job.status not in FINISHED for job in rows),
        values=values,
        form_error=error,
        sizes=SIZES,
        formats=FORMATS,
        categories=list(Category),
        **choices,
    )


@router.get("/jobs")
def jobs_page(request: Request, viewer: Viewer, offset: Annotated[int, Query(ge=0)] = 0):
    return _jobs_page(request, viewer, offset, form_values(request.query_params))


@router.get("/jobs/estimate")
def estimate_fragment(request: Request, viewer: Viewer):
    """The count and estimated time of the form's selection, as the form changes (htmx)."""
    estimate, error = _estimate(request, form_values(request.query_params))
    return render(request, "dashboard/_estimate.html", viewer=viewer, estimate=estimate, error=error)


@router.post("/jobs/review")
async def review(request: Request, viewer: Actor):
    """Step two: the selection's count and estimated time, and the button that starts the job."""
    values = form_values(await request.form())
    estimate, error = await run_in_threadpool(_estimate, request, values)
    if error:
        return await run_in_threadpool(_jobs_page, request, viewer, 0, values, 422, error)
    return render(request, "dashboard/job_review.html", viewer=viewer, section="jobs", values=values, estimate=estimate)


@router.post("/jobs")
async def start_job(request: Request, viewer: Actor):
    values = form_values(await request.form())
    state = request.app.state.tryon

    def create() -> uuid.UUID:
        body = job_request(values)
        with session_scope(state.sessions) as session:
            job = jobs.create_job(session, viewer.key, selection_of(body), body.size, body.format)
            session.commit()
            enqueue_fanout(state.celery, job.id)
            return job.id

    try:
        job_id = await run_in_threadpool(create)
    except ApiError as error:
        return await run_in_threadpool(_jobs_page, request, viewer, 0, values, error.status, error.message)
    return redirect(request, f"/jobs/{job_id}", "Render job started.")


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: uuid.UUID, viewer: Viewer):
    # Reading a job recounts its previews (as GET /v1/render-jobs/{id} does): a write session.
    with session_scope(request.app.state.tryon.sessions) as session:
        job = jobs.refresh(session, jobs.get_job(session, job_id))
        found = {
            status: previews.list_previews(
                session,
                job_id=job.id,
                status=status,
                approval=None,
                model_photo_id=None,
                garment_id=None,
                model_version_id=None,
                size=None,
                limit=SHOWN,
                offset=0,
            )
            for status in (PreviewStatus.failed, PreviewStatus.succeeded)
        }
        failed, failed_total = found[PreviewStatus.failed]
        done, _ = found[PreviewStatus.succeeded]
        garments, photos = inputs_of(session, [*failed, *done])
    return render(
        request,
        "dashboard/job.html",
        viewer=viewer,
        section="jobs",
        job=job,
        progress=progress(job),
        failed=failed,
        failed_total=failed_total,
        done=done,
        garments=garments,
        photos=photos,
    )


@router.post("/jobs/{job_id}/cancel")
def cancel_job(request: Request, job_id: uuid.UUID, _viewer: Actor):
    try:
        with session_scope(request.app.state.tryon.sessions) as session:
            jobs.cancel(session, jobs.get_job(session, job_id))
    except ApiError as error:
        return redirect(request, f"/jobs/{job_id}", error.message, "error")
    return redirect(request, f"/jobs/{job_id}", "Render job canceled: queued previews will not render.")


@router.post("/jobs/{job_id}/retry")
def retry_job(request: Request, job_id: uuid.UUID, _viewer: Actor):
    state = request.app.state.tryon
    try:
        with session_scope(state.sessions) as session:
            _job, again = jobs.retry_failed(session, jobs.get_job(session, job_id))
            session.commit()
            for preview_id, queue in again:
                enqueue_render(state.celery, preview_id, queue)
    except ApiError as error:
        return redirect(request, f"/jobs/{job_id}", error.message, "error")
    noun = "preview" if len(again) == 1 else "previews"
    return redirect(request, f"/jobs/{job_id}", f"Queued {len(again)} failed {noun} again.")
