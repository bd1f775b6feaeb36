"""Service settings, read from ``TRYON_*`` environment variables by pydantic-settings.

Nothing is read at import time: :func:`get_settings` (cached) or ``Settings()`` reads the environment
when an app, a worker or a CLI command is built. Paths default to a data directory (``./var``) so the
embedded default needs no configuration at all.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRYON_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Root of the embedded defaults (database, storage, broker).")
    database_url: str = Field("", description="SQLAlchemy URL; default sqlite:///<data_dir>/tryon.db.")
    broker_url: str = Field("", description="Celery broker URL; default filesystem:// under <data_dir>/broker.")
    storage_url: str = Field("", description="file:///dir or s3://bucket/prefix; default <data_dir>/storage.")
    broker_key_prefix: str = Field("", description="Prefix of every Redis key the broker writes (share a Redis).")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto...).")
    s3_region: str = "us-east-1"
    migrate_on_start: bool = Field(True, description="Apply the Alembic migrations when the API starts.")

    max_upload_bytes: int = Field(20 * 1024 * 1024, description="Largest accepted upload, in bytes.")
    max_image_pixels: int = Field(40_000_000, description="Largest accepted image, in pixels (w*h).")
    rate_limit_per_minute: int = Field(600, description="Requests per minute per API key; 0 disables.")
    max_wait_seconds: float = Field(30.0, description="Upper bound of `Prefer: wait=N`.")

    device: str = Field("cpu", description="Torch device of the workers (cpu, cuda, cuda:1...).")
    parser_checkpoint: Path | None = Field(
        None, description="Human parser checkpoint of the annotating workers; default: the one shipped."
    )
    pose_checkpoint: Path | None = Field(
        None, description="Pose checkpoint of the annotating workers; default: the one shipped."
    )
    annotator_device: str = Field("", description="Torch device of the annotators; default: `device`.")
    batch_size: int = Field(8, description="Most previews of one size rendered together.")
    max_attempts: int = Field(3, description="Render (or annotation) attempts before a preview (or asset) fails.")
    task_soft_time_limit: int = Field(120, description="Seconds before a render task is asked to stop.")
    task_time_limit: int = Field(150, description="Seconds before a render task is killed.")
    recovery_interval: float = Field(30.0, description="Seconds between two sweeps for orphaned work.")
    fanout_chunk_size: int = Field(500, description="Previews created per fan-out step of a render job.")
    thumbnail_height: int = Field(128, description="Height of the stored preview thumbnail.")
    webhook_max_attempts: int = Field(6, description="Deliveries tried per webhook event.")
    webhook_backoff_seconds: float = Field(2.0, description="First retry delay; doubles each attempt.")
    webhook_timeout_seconds: float = 5.0
    sole_worker: bool = Field(
        False,
        description="Set by `tryon serve`: its worker is the only one, so at start it re-queues every running preview.",
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{data_dir / 'tryon.db'}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        if not self.storage_url:
            self.storage_url = f"file://{data_dir / 'storage'}"
        return self

    @property
    def broker_dir(self) -> Path:
        """Folder of the filesystem broker's messages (used only with ``filesystem://``)."""
        return self.data_dir.expanduser().resolve() / "broker"

    def as_environ(self) -> dict[str, str]:
        """These settings as ``TRYON_*`` variables, so that a child process sees the same configuration."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is not None:
                env[f"TRYON_{name.upper()}"] = str(value)
        return env


@lru_cache
def get_settings() -> Settings:
    return Settings()
