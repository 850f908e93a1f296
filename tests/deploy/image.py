"""Building the project's image with podman on a machine without Docker Hub: the base is a
Debian bookworm made by debootstrap from the machine's own Debian mirror, cached between runs.

These machines need a few ways round (each found by trying): crun cannot set rlimits here and
the cgroups are hybrid, so runc, cgroupfs and no default ulimits; host networking; pip in the
build trusts the host's CA bundle; ``--format docker``, since an OCI image drops HEALTHCHECK.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from outagewatch import __version__

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("podman", "runc", "debootstrap")
SUITE = "bookworm"
PACKAGES = "python3,python3-venv,ca-certificates"
# Kept between runs on one machine: debootstrap takes a minute or two, the suite has 15.
CACHE = Path(os.environ.get("OUTAGEWATCH_IMAGE_CACHE", "/var/cache/outagewatch-ci"))
BASE_TARBALL = CACHE / f"{SUITE}-minbase-python3.tar"
BASE_IMAGE = f"localhost/outagewatch-ci-base:{SUITE}"
IMAGE = "localhost/outagewatch:test"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's ca-certificates, on host and base
CONTAINERS_CONF = """\
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The mirror apt is configured with for the suite (deb822 ``.sources`` or one-line
    ``.list`` files): the only Debian archive this machine can reach."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.M))
                if (
                    SUITE in fields.get("Suites", "").split()
                    and "main" in fields.get("Components", "").split()
                ):
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                found = re.match(
                    r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s.*\bmain\b", line
                )
                if found:
                    return found.group(1)
    raise LookupError(f"no apt source for Debian {SUITE} main under {apt_dir}")


class Podman:
    """podman with this machine's settings; ``log`` collects what each step took."""

    def __init__(self, conf_dir: Path) -> None:
        conf = conf_dir / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.log: list[str] = []
        self.exe = _which("podman")

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        done = subprocess.run(  # noqa: S603 - podman with the test's own arguments
            [self.exe, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
        return done.stdout

    async def arun(self, *args: str, within: float = 60) -> tuple[int, str, str]:
        """podman from a test's event loop, which keeps serving the sim servers meanwhile."""
        proc = await asyncio.create_subprocess_exec(
            self.exe, *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(within):
            out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    def timed(self, what: str, *args: str, timeout: float = 600) -> str:
        started = time.monotonic()
        out = self.run(*args, timeout=timeout)
        self.log.append(f"{what}: {time.monotonic() - started:.0f} s")
        return out

    def has_image(self, name: str) -> bool:
        done = subprocess.run(  # noqa: S603 - "podman image exists" answers by its exit status
            [self.exe, "image", "exists", name], env=self.env, capture_output=True, check=False
        )
        return done.returncode == 0

    def base_image(self) -> str:
        """The debootstrap'ed base, from podman's store, the cached tarball, or made anew."""
        if self.has_image(BASE_IMAGE):
            self.log.append(f"base image: cached ({BASE_IMAGE})")
            return BASE_IMAGE
        if not BASE_TARBALL.exists():
            self._debootstrap()
        self.timed("base image: podman import", "import", str(BASE_TARBALL), BASE_IMAGE)
        return BASE_IMAGE

    def _debootstrap(self) -> None:
        CACHE.mkdir(parents=True, exist_ok=True)
        rootfs = CACHE / "rootfs.partial"
        shutil.rmtree(rootfs, ignore_errors=True)
        started = time.monotonic()
        subprocess.run(  # noqa: S603 - debootstrap from the machine's configured mirror
            [_which("debootstrap"), "--variant=minbase", f"--include={PACKAGES}", SUITE,
             str(rootfs), debian_mirror()],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        partial = BASE_TARBALL.with_suffix(".partial")
        subprocess.run(  # noqa: S603
            [_which("tar"), "-C", str(rootfs), "-cf", str(partial), "."], check=True, timeout=300
        )
        partial.rename(BASE_TARBALL)  # only a whole tarball is ever taken from the cache
        shutil.rmtree(rootfs, ignore_errors=True)
        self.log.append(
            f"base: debootstrap {SUITE} (first run here): {time.monotonic() - started:.0f} s"
        )

    def remove_build(self, image: str) -> None:
        """Drop the test image and the builder stage's, so that runs on one machine do not
        pile them up. The cached base image stays."""
        self.run("rmi", "-f", image, check=False)
        self.run("image", "prune", "-f", check=False)

    def build(self, base: str) -> str:
        args = [
            # No layer per instruction: every run builds anew (src/ has changed), and the
            # stage images left otherwise took longer to prune than the build.
            "build", "--layers=false", "--format", "docker", "--network", "host",
            "--build-arg", f"BASE_IMAGE={base}",
            "--build-arg", f"PIP_CERT={CA_BUNDLE}",
            "--build-arg", f"OUTAGEWATCH_VERSION={__version__}",
            "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
        ]  # fmt: skip
        if os.environ.get("PIP_INDEX_URL"):
            args += ["--build-arg", f"PIP_INDEX_URL={os.environ['PIP_INDEX_URL']}"]
        self.timed("image: podman build", *args, "-t", IMAGE, str(ROOT))
        return IMAGE


def _which(tool: str) -> str:
    found = shutil.which(tool)
    assert found is not None, f"{tool} is not installed"
    return found
