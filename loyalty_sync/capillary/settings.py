"""How the client talks to one Capillary host, declared once.

The tuning fields live in a plain pydantic model so that the Dagster resource can take
them as its own config fields (run config and the UI show them flat, with these
descriptions) while the client, which knows nothing of Dagster, reads the same fields
from `ClientSettings`. A new knob is added here and nowhere else.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ClientTuning(BaseModel):
    """Timeouts, retries, concurrency and paging limits; credentials are passed separately."""

    max_concurrency: int = Field(
        default=16,
        description="Threads making calls at once, so latency does not cap throughput.",
    )
    timeout_seconds: float = Field(
        default=10.0,
        description="Seconds to wait for a connection or for the next bytes of an answer.",
    )
    request_deadline_seconds: float = Field(
        default=60.0,
        description=(
            "Seconds one attempt may take in all, from sending the request to the last byte "
            "of the answer; past it the attempt fails as a timeout and is retried. Bounds a "
            "server that keeps a call open by sending a byte now and then, which the "
            "per-read timeout_seconds never catches."
        ),
    )
    max_attempts: int = Field(
        default=100, description="Attempts per call at most, within its retry budget."
    )
    retry_budget_seconds: float = Field(
        default=300.0,
        description="How long one call keeps retrying transient failures (5xx, 429, timeouts, "
        "broken bodies) before it is set aside: long enough to wait out an outage of minutes.",
    )
    backoff_initial_seconds: float = Field(
        default=0.5, description="First retry pause; doubles per attempt, with jitter."
    )
    backoff_max_seconds: float = Field(default=30.0, description="Longest retry pause.")
    promotion_data_max_pages: int = Field(
        default=50,
        description="promotionData pages (of 100) one customer may take; a customer whose "
        "answer goes on past them is quarantined (recorded, rows kept, asked again next sync).",
    )

    def tuning(self) -> dict[str, object]:
        """The tuning fields and their values, to build `ClientSettings` from any subclass."""
        return {name: getattr(self, name) for name in ClientTuning.model_fields}


class ClientSettings(ClientTuning):
    """The tuning plus the host and the credential's own org: all one client needs."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    own_org_id: int | None = None
    # Transient failures in a row (across all threads) that open the circuit breaker.
    breaker_threshold: int = 8

    @model_validator(mode="after")
    def _deadline_is_positive(self) -> ClientSettings:
        # Zero would fail every attempt at once and read as an outage.
        if not self.request_deadline_seconds > 0:
            raise ValueError("request_deadline_seconds must be above 0")
        return self
