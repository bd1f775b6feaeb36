"""`tryon serve`'s start-up work, and the service's configuration from the environment."""

from __future__ import annotations

import pytest

from api.cli import prepare
from api.db import make_engine, make_session_factory
from api.models import ApiKey, ModelVersion, Role
from api.security import key_matches
from api.settings import Settings


def test_first_start_creates_one_admin_key_and_the_demo_version(tmp_path):
    settings = Settings(data_dir=tmp_path)
    secret = prepare(settings)
    assert secret and secret.startswith("tryon_")
    assert prepare(settings) is None  # the second start creates nothing
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        [key] = session.query(ApiKey).all()
        assert key.role == Role.admin and key_matches(key, secret) and key.secret_hash != secret
        [version] = session.query(ModelVersion).all()
        assert (version.name, version.checkpoint, version.categories, version.active) == (
            "demo",
            "demo",
            ["tops"],
            True,
        )
    engine.dispose()
    assert (tmp_path / "tryon.db").exists()


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRYON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRYON_BROKER_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("TRYON_MAX_UPLOAD_BYTES", "1234")
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'tryon.db'}"
    assert settings.storage_url == f"file://{tmp_path.resolve() / 'storage'}"
    assert settings.broker_url == "redis://127.0.0.1:6379/3" and settings.max_upload_bytes == 1234
    child = settings.as_environ()
    assert child["TRYON_BROKER_URL"] == "redis://127.0.0.1:6379/3" and child["TRYON_MAX_UPLOAD_BYTES"] == "1234"


def test_bad_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRYON_MAX_UPLOAD_BYTES", "lots")
    with pytest.raises(ValueError, match="max_upload_bytes"):
        Settings()


def test_celery_settings(tmp_path):
    from api.worker import create_celery

    app = create_celery(Settings(data_dir=tmp_path))
    conf = app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert {q.name for q in conf.task_queues} == {"interactive", "bulk"}
    assert {"tryon.render_preview", "tryon.fanout_render_job", "tryon.deliver_webhook"} <= set(app.tasks)
    assert conf.broker_transport_options["polling_interval"] == 0.05


def test_annotation_tasks_are_routed_to_a_queue_the_worker_consumes(tmp_path, monkeypatch):
    from api.worker import create_celery, worker_command

    settings = Settings(data_dir=tmp_path)
    app = create_celery(settings)
    for name in ("tryon.annotate_model_photo", "tryon.annotate_garment"):
        assert name in app.tasks and app.conf.task_routes[name] == {"queue": "interactive"}
    queues = worker_command(settings)[worker_command(settings).index("-Q") + 1].split(",")
    assert "interactive" in queues
    monkeypatch.setenv("TRYON_PARSER_CHECKPOINT", str(tmp_path / "parser"))
    monkeypatch.setenv("TRYON_ANNOTATOR_DEVICE", "cuda:1")
    configured = Settings(data_dir=tmp_path)
    assert configured.parser_checkpoint == tmp_path / "parser" and configured.pose_checkpoint is None
    assert configured.annotator_device == "cuda:1"
    child = configured.as_environ()  # the worker that `tryon serve` starts sees the same checkpoints
    assert child["TRYON_PARSER_CHECKPOINT"] == str(tmp_path / "parser") and "TRYON_POSE_CHECKPOINT" not in child
