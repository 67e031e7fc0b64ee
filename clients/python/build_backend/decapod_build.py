"""The PEP 517 build backend of decapod-client: standard library only, so the package builds
offline in any Python 3.9+ environment (`pip install --no-index --no-build-isolation
clients/python`), including venvs whose setuptools has no `wheel` (and so no `bdist_wheel`).

It reads the PEP 621 ``[project]`` table of pyproject.toml and writes

- a wheel (PEP 427): the package folder, ``<name>-<version>.dist-info/`` with METADATA (core
  metadata 2.1), WHEEL, top_level.txt and a RECORD of sha256 hashes;
- an sdist (PEP 517/625): ``<name>-<version>/`` with PKG-INFO and the files a wheel is built from;
- an editable wheel (PEP 660): a ``.pth`` file and a finder that import the package from this folder.

It never writes into the source folder: every file goes to the directory pip names (or to a
temporary one), and the bytecode Python caches when importing this module is removed again.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import io
import os
import re
import tarfile
import time
import zipfile
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

__all__ = [
    "build_wheel",
    "build_sdist",
    "build_editable",
    "get_requires_for_build_wheel",
    "get_requires_for_build_sdist",
    "get_requires_for_build_editable",
    "prepare_metadata_for_build_wheel",
    "prepare_metadata_for_build_editable",
]


def _forget_own_bytecode() -> None:
    """Importing this module from the source tree cached its bytecode in build_backend/__pycache__:
    remove it again, so a build leaves the source folder as it found it."""
    here = os.path.abspath(__file__)
    if not here.endswith(".py"):
        return
    try:
        cached = importlib.util.cache_from_source(here)
    except NotImplementedError:
        return
    cache_dir = os.path.dirname(cached)
    if os.path.dirname(cache_dir) != os.path.dirname(here):
        return  # PYTHONPYCACHEPREFIX: the cache lives outside the source folder anyway
    try:
        os.remove(cached)
        os.rmdir(cache_dir)  # only when empty: other bytecode there is not ours to remove
    except OSError:
        pass


_forget_own_bytecode()

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # clients/python
# The files an sdist carries besides the packages: what a wheel is built from.
_SDIST_FILES = ("pyproject.toml", "README.md", os.path.join("build_backend", "decapod_build.py"))
_WHEEL_TAG = "py3-none-any"
# Zip entries get this date (or SOURCE_DATE_EPOCH) so that two builds of one tree are identical.
_DEFAULT_EPOCH = 315532800  # 1980-01-01, the earliest a zip file can hold


# ---------------------------------------------------------------------------------------------
# pyproject.toml
# ---------------------------------------------------------------------------------------------


class BuildError(Exception):
    """pyproject.toml or the tree cannot be built as it is; the message names what to fix."""


def _load_toml(text: str) -> Dict[str, Any]:
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        return _MiniToml(text).parse()
    return tomllib.loads(text)


class _MiniToml:
    """The TOML this pyproject.toml uses, for Pythons before 3.11 (no tomllib): tables, bare or
    quoted keys, strings, integers, booleans, arrays and inline tables. Anything else is an error
    naming the line, never a silent misreading."""

    _BARE = re.compile(r"[A-Za-z0-9_-]+")

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def fail(self, what: str) -> BuildError:
        line = self.s.count("\n", 0, self.i) + 1
        return BuildError("pyproject.toml line {}: {}".format(line, what))

    def skip(self, newlines: bool) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self.i += 1
            else:
                return

    def key(self) -> str:
        self.skip(False)
        c = self.s[self.i : self.i + 1]
        if c in ('"', "'"):
            return self.string()
        m = self._BARE.match(self.s, self.i)
        if not m:
            raise self.fail("expected a key")
        self.i = m.end()
        return m.group(0)

    def dotted(self) -> List[str]:
        parts = [self.key()]
        self.skip(False)
        while self.s.startswith(".", self.i):
            self.i += 1
            parts.append(self.key())
            self.skip(False)
        return parts

    def string(self) -> str:
        if self.s.startswith('"""', self.i) or self.s.startswith("'''", self.i):
            raise self.fail("multi-line strings are not supported here")
        quote = self.s[self.i]
        end = self.i + 1
        while end < len(self.s) and self.s[end] != quote:
            if self.s[end] == "\n":
                raise self.fail("unterminated string")
            end += 2 if quote == '"' and self.s[end] == "\\" else 1
        if end >= len(self.s):
            raise self.fail("unterminated string")
        raw = self.s[self.i + 1 : end]
        self.i = end + 1
        if quote == "'":
            return raw
        import json

        try:
            return json.loads('"' + raw + '"')
        except ValueError:
            raise self.fail("unsupported escape in string") from None

    def value(self) -> Any:
        self.skip(False)
        c = self.s[self.i : self.i + 1]
        if c in ('"', "'"):
            return self.string()
        if c == "[":
            self.i += 1
            items: List[Any] = []
            while True:
                self.skip(True)
                if self.s.startswith("]", self.i):
                    self.i += 1
                    return items
                items.append(self.value())
                self.skip(True)
                if self.s.startswith(",", self.i):
                    self.i += 1
                elif not self.s.startswith("]", self.i):
                    raise self.fail("expected , or ] in an array")
        if c == "{":
            self.i += 1
            table: Dict[str, Any] = {}
            self.skip(False)
            if self.s.startswith("}", self.i):
                self.i += 1
                return table
            while True:
                self.assign(table)
                self.skip(False)
                if self.s.startswith("}", self.i):
                    self.i += 1
                    return table
                if not self.s.startswith(",", self.i):
                    raise self.fail("expected , or } in an inline table")
                self.i += 1
        m = re.compile(r"true|false|[+-]?[0-9]+").match(self.s, self.i)
        if not m:
            raise self.fail("unsupported value")
        self.i = m.end()
        word = m.group(0)
        return True if word == "true" else False if word == "false" else int(word)

    def assign(self, table: Dict[str, Any]) -> None:
        parts = self.dotted()
        if not self.s.startswith("=", self.i):
            raise self.fail("expected =")
        self.i += 1
        target = table
        for p in parts[:-1]:
            target = target.setdefault(p, {})
        if parts[-1] in target:
            raise self.fail("duplicate key {}".format(".".join(parts)))
        target[parts[-1]] = self.value()

    def parse(self) -> Dict[str, Any]:
        root: Dict[str, Any] = {}
        current = root
        while True:
            self.skip(True)
            if self.i >= len(self.s):
                return root
            if self.s.startswith("[[", self.i):
                raise self.fail("arrays of tables are not supported here")
            if self.s.startswith("[", self.i):
                self.i += 1
                parts = self.dotted()
                if not self.s.startswith("]", self.i):
                    raise self.fail("expected ]")
                self.i += 1
                current = root
                for p in parts:
                    current = current.setdefault(p, {})
            else:
                self.assign(current)
            self.skip(False)
            if self.i < len(self.s) and self.s[self.i] != "\n":
                raise self.fail("expected the end of the line")


_PROJECT_KEYS = {
    "name", "version", "description", "readme", "requires-python", "license", "authors",
    "maintainers", "keywords", "classifiers", "urls", "dependencies", "optional-dependencies",
}  # fmt: skip


class _Project:
    """The [project] table, checked: a key this backend cannot honour is an error, not ignored."""

    def __init__(self, source: str) -> None:
        path = os.path.join(source, "pyproject.toml")
        with open(path, encoding="utf-8") as f:
            doc = _load_toml(f.read())
        project = doc.get("project")
        if not isinstance(project, dict):
            raise BuildError("{}: no [project] table".format(path))
        unknown = sorted(set(project) - _PROJECT_KEYS)
        if unknown:
            raise BuildError("{}: [project] {} is not supported by this backend (dynamic metadata included)".format(path, ", ".join(unknown)))
        self.source = source
        self.raw: Dict[str, Any] = project
        self.name = self._str("name")
        self.version = self._str("version")
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", self.name):
            raise BuildError("[project] name {!r} is not a valid distribution name".format(self.name))
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?", self.version):
            raise BuildError("[project] version {!r} is not a normalized PEP 440 version".format(self.version))
        # PEP 427/625: file names use the name lower-cased with runs of -_. as one underscore.
        self.dist = re.sub(r"[-_.]+", "_", self.name).lower()
        self.packages = sorted(
            d for d in os.listdir(source) if os.path.isfile(os.path.join(source, d, "__init__.py")) and d.isidentifier()
        )
        if not self.packages:
            raise BuildError("{}: no package folder (a folder with __init__.py)".format(source))
        self._check_version_attribute()

    def _str(self, key: str, required: bool = True) -> str:
        value = self.raw.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value:
            raise BuildError("[project] {} must be a non-empty string".format(key))
        return value

    def _list(self, key: str) -> List[str]:
        value = self.raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BuildError("[project] {} must be an array of strings".format(key))
        return value

    def _check_version_attribute(self) -> None:
        """The package's __version__, when it states one, must be the version being built."""
        for pkg in self.packages:
            with open(os.path.join(self.source, pkg, "__init__.py"), encoding="utf-8") as f:
                m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", f.read(), re.M)
            if m and m.group(1) != self.version:
                raise BuildError(
                    "{}/__init__.py says __version__ = {!r} but pyproject.toml says version = {!r}".format(pkg, m.group(1), self.version)
                )

    def _readme(self) -> Tuple[str, str]:
        readme = self.raw.get("readme")
        if readme is None:
            return "", ""
        if isinstance(readme, str):
            readme = {"file": readme}
        if not isinstance(readme, dict) or not isinstance(readme.get("file"), str):
            raise BuildError("[project] readme must be a file name or {file = ..., content-type = ...}")
        kind = readme.get("content-type") or ("text/markdown" if readme["file"].lower().endswith(".md") else "text/plain")
        with open(os.path.join(self.source, readme["file"]), encoding="utf-8") as f:
            return f.read(), kind

    def metadata(self) -> str:
        """Core metadata 2.1 (METADATA in a wheel, PKG-INFO in an sdist)."""
        lines = ["Metadata-Version: 2.1", "Name: " + self.name, "Version: " + self.version]
        summary = self._str("description", required=False)
        if summary:
            lines.append("Summary: " + summary.replace("\n", " "))
        for role, field in (("authors", "Author"), ("maintainers", "Maintainer")):
            people = self.raw.get(role, [])
            if not isinstance(people, list) or not all(isinstance(p, dict) for p in people):
                raise BuildError("[project] {} must be an array of {{name, email}} tables".format(role))
            names = [p["name"] for p in people if "name" in p and "email" not in p]
            emails = [
                '"{}" <{}>'.format(p["name"], p["email"]) if "name" in p else p["email"] for p in people if "email" in p
            ]
            if names:
                lines.append("{}: {}".format(field, ", ".join(names)))
            if emails:
                lines.append("{}-email: {}".format(field, ", ".join(emails)))
        keywords = self._list("keywords")
        if keywords:
            lines.append("Keywords: " + ",".join(keywords))
        license_ = self.raw.get("license")
        if isinstance(license_, dict) and isinstance(license_.get("text"), str):
            lines.append("License: " + license_["text"])
        elif license_ is not None:
            raise BuildError("[project] license must be {text = ...} here")
        lines += ["Classifier: " + c for c in self._list("classifiers")]
        urls = self.raw.get("urls", {})
        if not isinstance(urls, dict) or not all(isinstance(v, str) for v in urls.values()):
            raise BuildError("[project] urls must be a table of strings")
        lines += ["Project-URL: {}, {}".format(k, v) for k, v in urls.items()]
        requires_python = self._str("requires-python", required=False)
        if requires_python:
            lines.append("Requires-Python: " + requires_python)
        lines += ["Requires-Dist: " + d for d in self._list("dependencies")]
        extras = self.raw.get("optional-dependencies", {})
        if not isinstance(extras, dict):
            raise BuildError("[project] optional-dependencies must be a table of arrays")
        for extra, deps in extras.items():
            lines.append("Provides-Extra: " + extra)
            for d in deps:
                marker = '(extra == "{}")'.format(extra)
                lines.append("Requires-Dist: {}; {}".format(d, marker) if ";" not in d else "Requires-Dist: {} and {}".format(d, marker))
        body, kind = self._readme()
        if body:
            lines.append("Description-Content-Type: " + kind)
            return "\n".join(lines) + "\n\n" + body
        return "\n".join(lines) + "\n"

    def dist_info_files(self) -> List[Tuple[str, bytes]]:
        """The files of ``<dist>-<version>.dist-info/`` except RECORD."""
        wheel = "Wheel-Version: 1.0\nGenerator: decapod_build\nRoot-Is-Purelib: true\nTag: {}\n".format(_WHEEL_TAG)
        return [
            ("METADATA", self.metadata().encode("utf-8")),
            ("WHEEL", wheel.encode("utf-8")),
            ("top_level.txt", "".join(p + "\n" for p in self.packages).encode("utf-8")),
        ]

    @property
    def dist_info(self) -> str:
        return "{}-{}.dist-info".format(self.dist, self.version)

    def package_files(self) -> Iterator[Tuple[str, str]]:
        """(path in the archive, path on disk) for every file of every package, sorted; never
        bytecode or caches."""
        for pkg in self.packages:
            top = os.path.join(self.source, pkg)
            for folder, dirs, files in os.walk(top):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
                for name in sorted(files):
                    if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                        continue
                    full = os.path.join(folder, name)
                    yield os.path.relpath(full, self.source).replace(os.sep, "/"), full


# ---------------------------------------------------------------------------------------------
# Archives
# ---------------------------------------------------------------------------------------------


def _epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return _DEFAULT_EPOCH
    if not value.isdigit():
        raise BuildError("SOURCE_DATE_EPOCH must be a whole number of seconds, got {!r}".format(value))
    return max(int(value), _DEFAULT_EPOCH)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return "sha256=" + digest


class _WheelWriter:
    """Writes a wheel to a temporary name, then renames it: a failed build leaves no half file."""

    def __init__(self, directory: str, filename: str) -> None:
        self.path = os.path.join(directory, filename)
        self._partial = self.path + ".partial"
        self._zip = zipfile.ZipFile(self._partial, "w", compression=zipfile.ZIP_DEFLATED)
        self._date = time.gmtime(_epoch())[:6]
        self._records: List[Tuple[str, str, str]] = []

    def add(self, arcname: str, data: bytes, executable: bool = False) -> None:
        info = zipfile.ZipInfo(arcname, date_time=self._date)
        info.external_attr = ((0o755 if executable else 0o644) | 0o100000) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self._zip.writestr(info, data)
        self._records.append((arcname, _record_hash(data), str(len(data))))

    def finish(self, dist_info: str) -> str:
        record = dist_info + "/RECORD"
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows(self._records + [(record, "", "")])
        self.add(record, out.getvalue().encode("utf-8"))
        self._zip.close()
        os.replace(self._partial, self.path)
        return os.path.basename(self.path)

    def abort(self) -> None:
        self._zip.close()
        try:
            os.remove(self._partial)
        except OSError:
            pass


def _write_dist_info(project: _Project, wheel: _WheelWriter) -> None:
    for name, data in project.dist_info_files():
        wheel.add("{}/{}".format(project.dist_info, name), data)


def _build(wheel_directory: str, extra: Optional[List[Tuple[str, bytes]]] = None, editable: bool = False) -> str:
    project = _Project(SOURCE)
    os.makedirs(wheel_directory, exist_ok=True)
    wheel = _WheelWriter(wheel_directory, "{}-{}-{}.whl".format(project.dist, project.version, _WHEEL_TAG))
    try:
        if editable:
            for arcname, data in _editable_files(project):
                wheel.add(arcname, data)
        else:
            for arcname, full in project.package_files():
                with open(full, "rb") as f:
                    wheel.add(arcname, f.read())
        for arcname, data in extra or []:
            wheel.add(arcname, data)
        _write_dist_info(project, wheel)
        return wheel.finish(project.dist_info)
    except BaseException:
        wheel.abort()
        raise


def _editable_files(project: _Project) -> List[Tuple[str, bytes]]:
    """A finder that imports each package from this folder (and nothing else in it: the tests and
    this backend stay off sys.path), and the .pth file that installs it at start-up."""
    module = "_{}_editable".format(project.dist)
    locations = {pkg: os.path.join(project.source, pkg) for pkg in project.packages}
    finder = '''"""Editable install of {name}: imports {packages} from {source}."""
import importlib.util
import sys

LOCATIONS = {locations!r}


class _EditableFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        where = LOCATIONS.get(fullname)
        if where is None:
            return None
        return importlib.util.spec_from_file_location(fullname, where + "/__init__.py", submodule_search_locations=[where])


def install():
    if not any(f is _EditableFinder for f in sys.meta_path):
        sys.meta_path.append(_EditableFinder)
'''.format(name=project.name, packages=", ".join(project.packages), source=project.source, locations=locations)
    pth = "import {0}; {0}.install()\n".format(module)
    return [(module + ".py", finder.encode("utf-8")), ("_{}_editable.pth".format(project.dist), pth.encode("utf-8"))]


# ---------------------------------------------------------------------------------------------
# PEP 517 / PEP 660 hooks
# ---------------------------------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: Optional[Mapping[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Mapping[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[Mapping[str, Any]] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[Mapping[str, Any]] = None) -> str:
    project = _Project(SOURCE)
    target = os.path.join(metadata_directory, project.dist_info)
    os.makedirs(target, exist_ok=True)
    for name, data in project.dist_info_files():
        with open(os.path.join(target, name), "wb") as f:
            f.write(data)
    return project.dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(
    wheel_directory: str, config_settings: Optional[Mapping[str, Any]] = None, metadata_directory: Optional[str] = None
) -> str:
    return _build(wheel_directory)


def build_editable(
    wheel_directory: str, config_settings: Optional[Mapping[str, Any]] = None, metadata_directory: Optional[str] = None
) -> str:
    return _build(wheel_directory, editable=True)


def build_sdist(sdist_directory: str, config_settings: Optional[Mapping[str, Any]] = None) -> str:
    project = _Project(SOURCE)
    base = "{}-{}".format(project.dist, project.version)
    os.makedirs(sdist_directory, exist_ok=True)
    path = os.path.join(sdist_directory, base + ".tar.gz")
    partial = path + ".partial"
    mtime = _epoch()

    def add(tar: tarfile.TarFile, arcname: str, data: bytes) -> None:
        info = tarfile.TarInfo("{}/{}".format(base, arcname))
        info.size, info.mtime, info.mode = len(data), mtime, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))

    try:
        # gzip's own header holds a time too: fixed, so two sdists of one tree are identical.
        import gzip

        with open(partial, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=mtime) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                add(tar, "PKG-INFO", project.metadata().encode("utf-8"))
                files = [(name.replace(os.sep, "/"), os.path.join(SOURCE, name)) for name in _SDIST_FILES]
                for arcname, full in sorted(files + list(project.package_files())):
                    with open(full, "rb") as f:
                        add(tar, arcname, f.read())
        os.replace(partial, path)
    except BaseException:
        try:
            os.remove(partial)
        except OSError:
            pass
        raise
    return os.path.basename(path)
