"""Settings of the router / gateway service (env prefix ``KEFU_ROUTER_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DEV_SECRET = "dev-insecure-secret-change-me-before-production"


class Settings(BaseSettings):
    """One settings object for the router service; override any field with ``KEFU_ROUTER_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="KEFU_ROUTER_", extra="ignore")

    env: str = Field(default="dev", description="dev | prod; prod refuses default secrets")
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = f"sqlite:///{VAR / 'kefu.db'}"
    redis_url: str | None = None
    # prefix of every Redis key and pub/sub channel, so several deployments (or test runs) can share one Redis
    redis_namespace: str = "kefu"
    secret_key: str = DEV_SECRET
    token_ttl_s: int = 8 * 3600
    cors_origins: list[str] = Field(default_factory=list)
    # shopper identity (router.identity): the shop signs logged-in web shoppers with this secret (identity_hash);
    # no default outside dev mode (`make run` writes random demo values to var/demo/channel_keys.json)
    web_identity_secret: str | None = None
    visitor_token_ttl_s: float = 30 * 24 * 3600.0
    demo_keys_path: Path = VAR / "demo" / "channel_keys.json"
    # /metrics: a Prometheus scraper's bearer token (supervisors' JWTs are accepted too)
    metrics_token: str | None = None

    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = "kefu-dev-rasa-token"
    rasa_timeout_s: float = 8.0
    action_server_url: str = "http://127.0.0.1:5055"

    # the committed model (router/sentiment/artifact.py); `make sentiment-model` rebuilds it from the public data sets
    sentiment_model_path: Path = ROOT / "router" / "sentiment" / "model" / "sentiment.npz"
    # graded response to anger (router/gateway/anger.py); chosen on router/eval/sentiment_flow_dev.tsv and
    # sentiment_dev.tsv, see bench/RESULTS.md. At or above handoff: apologise and hand off with priority; at or above
    # offer: the bot answers, apologises once and offers a 转人工 button; a second flagged turn among the last
    # escalate_window, or negative_run negative turns in a row, hand off. Agents see 不满/满意 only at or above
    # mood_confidence, and 愤怒 only for a flagged message.
    sentiment_handoff_anger: float = 0.7
    sentiment_offer_anger: float = 0.5
    sentiment_escalate_window: int = 5
    sentiment_negative_run: int = 3
    sentiment_mood_confidence: float = 0.8

    offer_timeout_s: float = 30.0
    # presence (router/presence.py, docs/routing.md): an agent is available only while a console connection is open.
    # Without one for presence_grace_s (at most 30 s) she stops getting offers and her pending offers go to others;
    # conversations she holds go back to the queue after presence_held_grace_s. With Redis, a replica's sockets
    # count presence_ttl_s after its last refresh (a killed replica's agents are gone that much later). A console
    # socket that sends nothing (the console pings every 25 s) for agent_socket_idle_s is closed.
    presence_grace_s: float = Field(default=20.0, gt=0, le=30)
    presence_held_grace_s: float = Field(default=120.0, gt=0)
    presence_ttl_s: float = Field(default=15.0, gt=0)
    presence_check_s: float = Field(default=1.0, gt=0)
    agent_socket_idle_s: float = Field(default=70.0, gt=0)
    # skill relaxation: (seconds waited, minimum proficiency); after the last step any online agent qualifies
    relaxation_steps: list[tuple[float, int]] = Field(default_factory=lambda: [(0.0, 3), (60.0, 1)])
    relax_any_agent_after_s: float = 180.0
    # routing: one priority point is worth this many seconds of waiting; re-offer cool-down after reject/timeout
    priority_weight_s: float = 30.0
    reoffer_cooldown_s: float = 120.0
    routing_tick_max_s: float = 0.5
    # a bot conversation untouched this long ends as resolved by the bot (containment)
    conversation_idle_close_s: float = 1800.0
    # after "no agent online, leave a message", the shopper's next message within this time is the message (a ticket);
    # later it is a new question for the bot
    leave_message_window_s: float = 1800.0
    # per-customer message limit (shared through Redis when redis_url is set) and request body cap
    rate_limit_messages: int = 20
    rate_limit_window_s: float = 60.0
    # new anonymous web visitors (a visitor_token and a customer row each) per client address and window: stops a
    # script from filling the database; generous, as many shoppers may share one address (offices, mobile NAT)
    visitor_new_per_ip: int = 120
    visitor_new_window_s: float = 600.0
    max_body_bytes: int = 65536
    # `make run` sets this: create demo agents/content/supervisor accounts on an empty database (dev mode only)
    demo_users: bool = False

    # tickets: SLA per category as (first response s, resolution s); priority >= ticket_urgent_priority halves both
    ticket_sla: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "vip": (1800.0, 12 * 3600.0),
            "after_sales": (2 * 3600.0, 48 * 3600.0),
            "logistics": (2 * 3600.0, 24 * 3600.0),
            "billing": (4 * 3600.0, 72 * 3600.0),
            "product": (4 * 3600.0, 72 * 3600.0),
            "general": (8 * 3600.0, 72 * 3600.0),
        }
    )
    ticket_urgent_priority: int = 6
    # KPIs: service level = share of hand-offs answered within service_level_s (target e.g. 80/20)
    service_level_s: float = 20.0
    service_level_target: float = 0.8
    report_timezone: str = "Asia/Shanghai"
    metrics_window_s: float = 24 * 3600.0
    # risk early warning: EWMA baseline over alert_baseline_s of alert_bucket_s buckets vs. the last alert_window_s
    alert_window_s: float = 600.0
    alert_bucket_s: float = 600.0
    alert_baseline_s: float = 12 * 3600.0
    alert_alpha: float = 0.3
    alert_k: float = 3.0
    alert_min_count: int = 8
    alert_min_ratio: float = 2.0
    alert_queue_wait_min_s: float = 120.0
    alert_cooldown_s: float = 1800.0
    alert_interval_s: float = 60.0
    alert_webhook_url: str | None = None
    alert_webhook_timeout_s: float = 5.0
    # background loops of the operations side (alert evaluation, SLA sweeps, unresolved tickets, learning refresh)
    operations_background: bool = True
    # learning loop: which bot answers count as weak, and how questions are clustered
    learning_low_confidence: float = 0.5
    learning_distance_threshold: float = 0.5
    learning_min_cluster: int = 3
    # dense cosine to the nearest entry above which a cluster is a paraphrase (USE scores unrelated pairs up to ~0.7)
    learning_paraphrase_score: float = 0.75
    learning_lookback_s: float = 14 * 24 * 3600.0
    # outbound delivery to app / mini-program shoppers (router/outbound, docs/outbound.md)
    outbound_enabled: bool = True
    outbound_poll_s: float = 0.5
    outbound_concurrency: int = 8
    outbound_timeout_s: float = 10.0
    outbound_connect_timeout_s: float = 3.0
    outbound_backoff_base_s: float = 2.0
    outbound_backoff_max_s: float = 600.0
    outbound_max_attempts: int = 15
    outbound_max_body_bytes: int = 256 * 1024
    outbound_queue_interval_s: float = 5.0
    # private / loopback callback URLs: allowed in dev mode only unless set explicitly (SSRF)
    outbound_allow_private: bool | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_token: str | None = None  # the message-push token configured in the mini-program console
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_reply_window_s: float = 48 * 3600.0
    # when set, the survey goes to mini-program shoppers as a link message to this page ({conversation_id} filled in)
    wechat_survey_url: str | None = None
    # supervisor's workbench: a shopper waiting this long for an agent's reply breaks the live SLA; quality sampling
    supervision_reply_sla_s: float = 60.0

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "dev" and self.secret_key == DEV_SECRET:
            raise ValueError("KEFU_ROUTER_SECRET_KEY must be set to a real secret outside dev mode")
        if self.env != "dev" and self.rasa_token == "kefu-dev-rasa-token":
            raise ValueError("KEFU_ROUTER_RASA_TOKEN must be set outside dev mode")
        for name in ("web_identity_secret", "metrics_token"):
            value = getattr(self, name)
            if value == "":  # an empty environment variable (e.g. docker compose's ${VAR:-}) means unset
                setattr(self, name, None)
            elif value is not None and len(value) < 32:
                raise ValueError(f"KEFU_ROUTER_{name.upper()} must have at least 32 characters")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
