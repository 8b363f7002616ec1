"""The package's build backend (PEP 517 and PEP 660), in the tree and in the standard library
alone: `pip install ./sdk/python` needs no index, no setuptools and no wheel package, in a
plain venv, with or without build isolation. The package is pure Python, so a wheel is the
package's files, its metadata and a RECORD."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile
from typing import Dict, List, Optional, Tuple

NAME = "tasktail"
HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = ("Publish task logs and progress to tasktail, and follow them: "
           "the ConnectionManager your backend hand-rolled, as a service.")
REQUIRES_PYTHON = ">=3.9"
EXTRAS = {"bridge": ["websockets>=10"]}  # tail() and ConnectionManager.connect's bridge
CLASSIFIERS = ["Programming Language :: Python :: 3", "Typing :: Typed"]
SDIST_FILES = ["pyproject.toml", "tasktail_build.py", "README.md"]


def version() -> str:
    """The package's __version__, read without importing it."""
    with open(os.path.join(HERE, NAME, "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    if not m:
        raise RuntimeError("tasktail/__init__.py has no __version__")
    return m.group(1)


def metadata() -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {NAME}", f"Version: {version()}", f"Summary: {SUMMARY}",
             "License: Apache-2.0", f"Requires-Python: {REQUIRES_PYTHON}"]
    lines += [f"Classifier: {c}" for c in CLASSIFIERS]
    for extra, reqs in EXTRAS.items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {r}; extra == "{extra}"' for r in reqs]
    lines.append("Description-Content-Type: text/markdown")
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return "\n".join(lines) + "\n\n" + f.read()


def package_files() -> List[str]:
    """The package's files, relative to HERE: its modules and py.typed."""
    names = sorted(n for n in os.listdir(os.path.join(HERE, NAME)) if n.endswith(".py") or n == "py.typed")
    return [f"{NAME}/{n}" for n in names]


class _Wheel:
    """A wheel being written, with the RECORD it needs."""

    def __init__(self, directory: str):
        self.name = f"{NAME}-{version()}-py3-none-any.whl"
        self.dist_info = f"{NAME}-{version()}.dist-info"
        self.zip = zipfile.ZipFile(os.path.join(directory, self.name), "w", zipfile.ZIP_DEFLATED)
        self.record: List[str] = []

    def add(self, arcname: str, data: bytes) -> None:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        self.zip.writestr(zipfile.ZipInfo(arcname, (2020, 1, 1, 0, 0, 0)), data)
        self.record.append(f"{arcname},sha256={digest},{len(data)}")

    def close(self) -> str:
        self.add(f"{self.dist_info}/METADATA", metadata().encode())
        wheel = "Wheel-Version: 1.0\nGenerator: tasktail_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        self.add(f"{self.dist_info}/WHEEL", wheel.encode())
        record = f"{self.dist_info}/RECORD"
        self.zip.writestr(zipfile.ZipInfo(record, (2020, 1, 1, 0, 0, 0)), "\n".join(self.record + [f"{record},,"]) + "\n")
        self.zip.close()
        return self.name


def _read(relpath: str) -> bytes:
    with open(os.path.join(HERE, relpath), "rb") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings: Optional[Dict] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[Dict] = None) -> List[str]:
    return []


def build_wheel(wheel_directory: str, config_settings: Optional[Dict] = None,
                metadata_directory: Optional[str] = None) -> str:
    w = _Wheel(wheel_directory)
    for rel in package_files():
        w.add(rel, _read(rel))
    return w.close()


def build_editable(wheel_directory: str, config_settings: Optional[Dict] = None,
                   metadata_directory: Optional[str] = None) -> str:
    """A wheel whose .pth puts this folder on sys.path: edits show without reinstalling."""
    w = _Wheel(wheel_directory)
    w.add(f"_{NAME}_editable.pth", (HERE + "\n").encode())
    return w.close()


def build_sdist(sdist_directory: str, config_settings: Optional[Dict] = None) -> str:
    base = f"{NAME}-{version()}"
    name = base + ".tar.gz"
    files: List[Tuple[str, bytes]] = [(rel, _read(rel)) for rel in SDIST_FILES + package_files()]
    files.append(("PKG-INFO", metadata().encode()))
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel, data in files:
            info = tarfile.TarInfo(f"{base}/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1577836800
            tar.addfile(info, io.BytesIO(data))
    return name
