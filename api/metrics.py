"""Prometheus metrics: request counts and latencies (per app), and catalog gauges read at scrape time."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import case, func, select

from api.models import Preview, PreviewStatus, Queue

RENDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class CatalogCollector:
    """Previews by status, queue depth and render durations, from the catalog (the source of truth),
    so that they hold across API processes and workers."""

    def __init__(self, state) -> None:
        self.state = state

    def collect(self):
        with self.state.read_sessions() as session:
            by_status = dict(session.execute(select(Preview.status, func.count()).group_by(Preview.status)).all())
            depth = dict(
                session.execute(
                    select(Preview.queue, func.count())
                    .where(Preview.status == PreviewStatus.queued)
                    .group_by(Preview.queue)
                ).all()
            )
            ms = Preview.render_ms
            done = Preview.status == PreviewStatus.succeeded
            columns = [func.sum(case((ms <= bound * 1000, 1), else_=0)) for bound in RENDER_BUCKETS]
            row = session.execute(select(func.count(), func.sum(ms), *columns).where(done, ms.is_not(None))).one()
            session.commit()
        previews = GaugeMetricFamily("tryon_previews", "Previews by status", labels=["status"])
        for status in PreviewStatus:
            previews.add_metric([status.value], by_status.get(status, 0))
        yield previews
        queue = GaugeMetricFamily("tryon_queue_depth", "Queued previews per queue", labels=["queue"])
        for name in Queue:
            queue.add_metric([name.value], depth.get(name, 0))
        yield queue
        count, total_ms, *cumulative = row
        buckets = [(str(b), int(c or 0)) for b, c in zip(RENDER_BUCKETS, cumulative, strict=True)]
        buckets.append(("+Inf", int(count or 0)))
        yield HistogramMetricFamily(
            "tryon_render_duration_seconds",
            "Render time of succeeded previews",
            buckets=buckets,
            sum_value=(total_ms or 0) / 1000,
        )


def install_metrics(app: FastAPI, state) -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter("tryon_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry)
    latency = Histogram("tryon_http_request_duration_seconds", "HTTP latency", ["method", "route"], registry=registry)
    registry.register(CatalogCollector(state))

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        latency.labels(request.method, path).observe(time.perf_counter() - started)
        requests.labels(request.method, path, str(response.status_code)).inc()
        return response

    return registry
