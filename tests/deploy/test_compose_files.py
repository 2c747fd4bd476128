"""The container files agree with the code they deploy (cheap; the full run is scripts/compose_check.sh).

A renamed setting, a service the proxy or Rasa's endpoints name that compose does not define, a file the Dockerfile
copies that .dockerignore leaves out: each of these builds or starts fine and breaks only when the topology is used.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions.settings import Settings as ActionSettings
from knowledge_base.settings import KbSettings
from router.settings import Settings as RouterSettings
from shop.settings import OrderSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "redis", "rasa", "actions", "router-a", "router-b", "proxy"}
ROUTERS = ("router-a", "router-b")


def compose(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    return data


def env_names(prefix: str, *settings: type) -> set[str]:
    """The environment variables pydantic-settings reads for ``settings`` (field names and validation aliases)."""
    names: set[str] = set()
    for cls in settings:
        for field_name, field in cls.model_fields.items():  # type: ignore[attr-defined]
            names.add(prefix + field_name.upper())
            choices = getattr(field.validation_alias, "choices", None) or []
            names.update(str(choice) for choice in choices)
    return names


KNOWN = {
    "KEFU_ROUTER_": env_names("KEFU_ROUTER_", RouterSettings),
    "KEFU_KB_": env_names("KEFU_KB_", KbSettings),
    "KEFU_ACTIONS_": env_names("KEFU_ACTIONS_", ActionSettings, OrderSettings),
}


def test_the_topology_has_every_service() -> None:
    assert set(compose("docker-compose.yml")["services"]) == SERVICES
    local = compose("docker-compose.local.yml")["services"]
    # the local override replaces exactly the public images (the kefu images are built by compose_check.sh)
    assert set(local) == {"postgres", "redis", "proxy"}
    for service in local.values():
        dockerfile = ROOT / service["build"]["context"] / service["build"]["dockerfile"]
        assert dockerfile.is_file(), dockerfile


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_kefu_variable_is_a_setting(service: str) -> None:
    env: dict[str, str] = compose("docker-compose.yml")["services"][service].get("environment") or {}
    unknown = [name for name in env for prefix, known in KNOWN.items() if name.startswith(prefix) and name not in known]
    assert unknown == [], f"{service} sets variables no settings class reads: {unknown}"


def _resolved(value: str) -> str:
    """A compose value with ``${VAR:?..}`` / ``${VAR:-default}`` filled as compose_check.sh fills them."""
    value = re.sub(r"\$\{KEFU_ROUTER_SECRET_KEY:\?[^}]*\}", "s" * 64, value)
    value = re.sub(r"\$\{KEFU_ROUTER_RASA_TOKEN:\?[^}]*\}", "t" * 32, value)
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


@pytest.mark.parametrize("service", ROUTERS)
def test_router_settings_start_in_prod_mode(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = compose("docker-compose.yml")["services"][service]["environment"]
    for name, value in env.items():
        monkeypatch.setenv(name, _resolved(str(value)))
    settings = RouterSettings()  # refuses default secrets outside dev mode
    assert settings.env == "prod"
    assert settings.redis_url == "redis://redis:6379/0" and settings.database_url.startswith("postgresql://")
    assert settings.web_identity_secret is None  # an empty ${VAR:-} means unset, not a short secret
    assert KbSettings().database_url == settings.database_url  # routers and actions read one FAQ corpus


def test_the_proxy_balances_the_router_services() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    upstream = re.findall(r"^\s*server\s+([\w-]+):(\d+)", conf, flags=re.M)
    assert sorted(upstream) == [(name, str(RouterSettings().port)) for name in ROUTERS]
    assert "X-Kefu-Upstream" in conf  # scripts/compose_checks.py tells the replicas apart by it
    routers = compose("docker-compose.yml")["services"]
    assert routers["router-a"] == routers["router-b"]  # replicas: one definition


def test_rasa_endpoints_name_compose_services() -> None:
    services = compose("docker-compose.yml")["services"]
    endpoints = yaml.safe_load((ROOT / "bot" / "endpoints.docker.yml").read_text(encoding="utf-8"))
    assert endpoints["tracker_store"]["url"] in services and endpoints["lock_store"]["url"] in services
    assert endpoints["action_endpoint"]["url"] == "${KEFU_ACTION_ENDPOINT}"
    action_url = services["rasa"]["environment"]["KEFU_ACTION_ENDPOINT"]
    assert re.match(r"http://actions:5055/webhook$", action_url)
    command = services["rasa"]["command"]
    assert command[command.index("--endpoints") + 1] == "endpoints.docker.yml"
    # the routers call Rasa where it listens, with the token it was started with
    router_env = services["router-a"]["environment"]
    assert router_env["KEFU_ROUTER_RASA_URL"] == f"http://rasa:{command[command.index('--port') + 1]}"
    assert command[command.index("--auth-token") + 1] == "${KEFU_ROUTER_RASA_TOKEN}"
    assert router_env["KEFU_ROUTER_RASA_TOKEN"].startswith("${KEFU_ROUTER_RASA_TOKEN:")


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p + "/*") or path.startswith(p.rstrip("/") + "/")
        for p in patterns
    )


def test_dockerfile_copies_what_the_build_context_has() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += line.split()[1:-1]
    assert sources, "no COPY found"
    for source in sources:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
        assert not _ignored(source, patterns), f".dockerignore leaves {source} out of the build context"
    # the committed sentiment model is read at run time from the image (router/ is copied whole)
    assert not _ignored("router/sentiment/model/sentiment.npz", patterns)
