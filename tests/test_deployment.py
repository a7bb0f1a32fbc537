"""The compose deployment without a Docker engine: compose.yaml's services, then the image's
install steps and the compose file's commands run here, against the local PostgreSQL.

1. ``compose.yaml`` is read with PyYAML: PostgreSQL with a volume and a healthcheck, a one-shot
   ``migrate`` service, two replicas that wait for both and are checked on ``/readyz``.
2. The Dockerfile's build context (its ``COPY`` lines) is copied to a temporary directory and
   its ``pip install`` line runs there into a fresh virtual environment (pip's cache may serve
   the wheels: ``--no-cache-dir`` and ``--prefix`` are left out).
3. The migrate service's command runs twice at once, then both replicas' commands run with the
   compose environment (DATABASE_URL pointed at a fresh local database, the container ports
   replaced by free ones, Slack and the model at the loopback fakes); each must be ready on the
   healthcheck's URL and answer a Slack mention sent to its own port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.store.migrate import head_revision
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import CHANNEL
from tests.slack.process import free_port
from tests.slack.test_http_mode import SECRET, HttpSlack
from tests.store.conftest import create_pg_database, drop_pg_database

REPO = Path(__file__).resolve().parents[1]
REPLICAS = ("threadline-1", "threadline-2")
INSTALL_SECONDS = 600.0
COMMAND_SECONDS = 60.0
READY_SECONDS = 30.0
CONTAINER_HTTP_PORT = "8080"
CONTAINER_OPS_PORT = "9100"
OWN_VARIABLES = ("SLACK_", "LLM_", "DISCORD", "THREADLINE_", "DATABASE_URL", "HTTP_", "METRICS_")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return loaded


def test_compose_declares_postgres_migrate_and_two_replicas(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", *REPLICAS}
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    host_ports = set()
    for name in REPLICAS:
        replica = services[name]
        assert replica["command"] == ["run"]
        assert replica["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
        assert _health_url(replica).endswith(f":{CONTAINER_OPS_PORT}/readyz")
        assert replica["environment"]["METRICS_PORT"] == CONTAINER_OPS_PORT
        [port] = replica["ports"]
        host, container = _interpolate(port, {}).rsplit(":", 1)
        assert container == replica["environment"]["HTTP_PORT"] == CONTAINER_HTTP_PORT
        host_ports.add(host)
        assert "postgres:5432" in replica["environment"]["DATABASE_URL"]
    assert len(host_ports) == len(REPLICAS)  # one host port each
    shards = {services[name]["environment"]["DISCORD_SHARD_IDS"] for name in REPLICAS}
    assert shards == {"0", "1"}


def test_env_example_names_what_compose_needs() -> None:
    example = (REPO / ".env.example").read_text()
    for variable in ("POSTGRES_PASSWORD", "LLM_API_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        assert re.search(rf"^{variable}=", example, re.MULTILINE), variable


def _health_url(service: dict[str, Any]) -> str:
    test = " ".join(service["healthcheck"]["test"])
    found = re.search(r"http://[^'\"]+", test)
    assert found, test
    return found.group(0)


def _interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        if variables.get(name):
            return variables[name]
        if op == ":?":
            raise AssertionError(f"compose needs {name}: {arg}")
        return arg

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


# -- the image's install steps -----------------------------------------------------------------


def _dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _build_context(target: Path) -> Path:
    """The files the build stage copies, at the same places under ``target``."""
    target.mkdir()
    for line in _dockerfile():
        if line.startswith("COPY ") and "--from" not in line:
            *sources, _ = line.split()[1:]
            for source in sources:
                origin = REPO / source
                if origin.is_dir():
                    shutil.copytree(origin, target / source, ignore=_ignored)
                else:
                    shutil.copy2(origin, target / source)
    return target


def _ignored(_: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]


def _pip_arguments() -> list[str]:
    [line] = [ln for ln in _dockerfile() if ln.startswith("RUN pip install")]
    words = shlex.split(line.removeprefix("RUN pip install"))
    return [w for w in words if w != "--no-cache-dir" and not w.startswith("--prefix")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the image's install steps applied; its bin dir."""
    root = tmp_path_factory.mktemp("image")
    context = _build_context(root / "src")
    venv = root / "venv"
    run = _blocking_run
    run([sys.executable, "-m", "venv", str(venv)], root)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *_pip_arguments()], context)
    yield venv / "bin"


def _blocking_run(args: list[str], cwd: Path) -> None:
    import subprocess

    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False
    )
    assert done.returncode == 0, f"{shlex.join(args)} failed:\n{done.stdout}\n{done.stderr}"


# -- the compose commands ----------------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U0ALICE", "Alice")
        yield fake


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


def _dot_env(slack: FakeSlack, llm: FakeLLMServer) -> dict[str, str]:
    """What an operator's ``.env`` holds, pointing at the fakes."""
    return {
        "POSTGRES_PASSWORD": "unused-here",
        "LLM_API_KEY": "sk-test",
        "LLM_BASE_URL": llm.base_url,
        "LLM_MODEL": "fake-model",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.base_url,
    }


def _service_env(
    service: dict[str, Any], dot_env: dict[str, str], pg_url: str, ports: dict[str, str]
) -> dict[str, str]:
    """The service's environment as compose builds it (``.env`` under ``environment``), with
    the database and the container ports moved to this host."""
    env = dict(dot_env)
    for name, value in service.get("environment", {}).items():
        env[name] = _interpolate(str(value), dot_env)
    env["DATABASE_URL"] = pg_url
    env.update(ports)
    env["HTTP_HOST"] = env["METRICS_HOST"] = "127.0.0.1"
    return env


def _process_env(env: dict[str, str], home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    clean.pop("PYTHONPATH", None)  # the installed package, not the checkout
    return clean | env | {"HOME": str(home)}


async def _run_once(bin_dir: Path, command: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(bin_dir / "threadline"),
        *command,
        cwd=cwd,
        env=_process_env(env, cwd),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), COMMAND_SECONDS)
    assert proc.returncode == 0, out.decode()
    return out.decode()


@contextlib.asynccontextmanager
async def _serving(
    bin_dir: Path, command: list[str], env: dict[str, str], cwd: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    log = cwd / f"replica-{env['HTTP_PORT']}.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            str(bin_dir / "threadline"),
            *command,
            cwd=cwd,
            env=_process_env(env, cwd),
            stdout=sink,
            stderr=sink,
        )
    try:
        yield proc, log
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), COMMAND_SECONDS)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _ready(session: aiohttp.ClientSession, url: str, proc: Any, log: Path) -> None:
    async with asyncio.timeout(READY_SECONDS):
        while proc.returncode is None:  # polls another process: nothing here to wait on
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise AssertionError(f"replica exited:\n{log.read_text(errors='replace')}")


async def test_the_image_installs_and_the_compose_commands_serve(
    compose: dict[str, Any],
    installed: Path,
    pg_url: str,
    slack: FakeSlack,
    llm: FakeLLMServer,
    tmp_path: Path,
) -> None:
    services, dot_env = compose["services"], _dot_env(slack, llm)
    migrate_env = _service_env(services["migrate"], dot_env, pg_url, {})
    command = services["migrate"]["command"]
    outputs = await asyncio.gather(
        *(_run_once(installed, command, migrate_env, tmp_path) for _ in range(2)),
        return_exceptions=True,
    )  # both at once, as two `docker compose run migrate` would
    for out in outputs:
        if isinstance(out, BaseException):
            raise out
        assert out.rstrip().endswith(f"is at revision {head_revision()}"), out
    replicas = []
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        for name in REPLICAS:
            ports = {"HTTP_PORT": str(free_port()), "METRICS_PORT": str(free_port())}
            env = _service_env(services[name], dot_env, pg_url, ports)
            proc, log = await stack.enter_async_context(
                _serving(installed, services[name]["command"], env, tmp_path)
            )
            health = _health_url(services[name]).replace(
                f":{CONTAINER_OPS_PORT}/", f":{ports['METRICS_PORT']}/"
            )
            replicas.append((proc, log, health, int(ports["HTTP_PORT"])))
        for proc, log, health, _ in replicas:
            await _ready(session, health, proc, log)
        for index, (_, _, _, http_port) in enumerate(replicas):
            said = slack.user_says(CHANNEL, f"<@{slack.bot_user}> hello replica {index}")
            status, _ = await HttpSlack(session, http_port).event(slack.event(said))
            assert status == 200
            expected = f"You said: hello replica {index}"
            await slack.wait_for(lambda ts=str(said["ts"]), e=expected: _answered(slack, ts, e))
    assert len(llm.requests) == len(REPLICAS)


def _answered(slack: FakeSlack, ts: str, expected: str) -> bool:
    return slack.answer_text(CHANNEL, ts) == expected
