"""Helpers of the dashboard tests: a client that signs in as a browser does, and synthetic uploads."""

from __future__ import annotations

import html
import io
import json
import re

import numpy as np
from PIL import Image

from tryon.data.synthetic import make_figure

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def synthetic_uploads(seed: int, size: tuple[int, int] = (64, 48)) -> dict[str, bytes]:
    """A synthetic person (photo, COCO-18 pose JSON, LIP parse PNG) and the garment it wears (image, mask)."""
    figure = make_figure(seed, size)
    pose = {"people": [{"pose_keypoints_2d": [round(float(v), 3) for v in figure.keypoints.reshape(-1)]}]}
    return {
        "person": png(figure.person),
        "pose": json.dumps(pose).encode(),
        "parse": png(figure.parse.astype(np.uint8)),
        "garment": png(figure.cloth),
        "mask": png(figure.cloth_mask.astype(np.uint8) * 255),
    }


class Dashboard:
    """A client that signs in through the form and keeps the session cookie, as a browser does."""

    def __init__(self, app, key: str | None = None) -> None:
        from fastapi.testclient import TestClient

        self.client = TestClient(app)  # no lifespan: the app fixture has migrated the database already
        self.token = ""
        if key is not None:
            self.sign_in(key)

    def sign_in(self, key: str):
        form = self.client.get("/admin/login")
        response = self.client.post(
            "/admin/login", data={"key": key, "csrf_token": TOKEN.search(form.text).group(1)}, follow_redirects=False
        )
        if response.status_code == 303:
            self.token = self.page("/admin/catalog").token
        return response

    def get(self, path: str, **kwargs):
        return self.client.get(path, follow_redirects=False, **kwargs)

    def page(self, path: str):
        """A page that must answer 200, with its CSRF token read off it."""
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        match = TOKEN.search(response.text)
        response.token = match.group(1) if match else ""
        return response

    def post(self, path: str, data=None, files=None, token: str | None = None, **kwargs):
        data = {"csrf_token": self.token if token is None else token, **(data or {})}
        return self.client.post(path, data=data, files=files, follow_redirects=False, **kwargs)

    def flash(self, response) -> str:
        """The flash message a redirect carries, as the next page shows it."""
        assert response.status_code == 303, (response.status_code, response.text[:500])
        page = self.get(response.headers["location"])
        match = re.search(r'<p class="flash flash-(ok|error)">([^<]*)</p>', page.text)
        return f"{match.group(1)}: {html.unescape(match.group(2))}" if match else ""
