"""Settings of the router / gateway service (env prefix ``KEFU_ROUTER_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DEV_SECRET = "dev-insecure-secret-change-me"


class Settings(BaseSettings):
    """One settings object for the router service; override any field with ``KEFU_ROUTER_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="KEFU_ROUTER_", extra="ignore")

    env: str = Field(default="dev", description="dev | prod; prod refuses default secrets")
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = f"sqlite:///{VAR / 'kefu.db'}"
    redis_url: str | None = None
    secret_key: str = DEV_SECRET
    token_ttl_s: int = 8 * 3600
    cors_origins: list[str] = Field(default_factory=list)

    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = "kefu-dev-rasa-token"
    rasa_timeout_s: float = 8.0
    action_server_url: str = "http://127.0.0.1:5055"

    sentiment_model_path: Path = VAR / "sentiment" / "model.joblib"

    offer_timeout_s: float = 30.0
    # skill relaxation: (seconds waited, minimum proficiency); after the last step any online agent qualifies
    relaxation_steps: list[tuple[float, int]] = Field(default_factory=lambda: [(0.0, 3), (60.0, 1)])
    relax_any_agent_after_s: float = 180.0

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "dev" and self.secret_key == DEV_SECRET:
            raise ValueError("KEFU_ROUTER_SECRET_KEY must be set to a real secret outside dev mode")
        if self.env != "dev" and self.rasa_token == "kefu-dev-rasa-token":
            raise ValueError("KEFU_ROUTER_RASA_TOKEN must be set outside dev mode")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
