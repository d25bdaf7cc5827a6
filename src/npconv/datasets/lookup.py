"""Where a dataset's files are found, and how they are downloaded when they are not.

Each dataset (``mnist``, ``fashion-mnist``, ``cifar-10``) is a folder of files. A loader looks
for that folder in this order and takes the first place that holds *every* file:

1. ``path=``: the folder given to ``load_data``. When given, it is the only place looked at
   (a folder you name that lacks a file is an error, not a reason to load other data).
2. ``$NPCONV_DATA``: one or more roots (separated by ``os.pathsep``), each holding one sub-folder
   per dataset, named as above: ``$NPCONV_DATA/fashion-mnist/train-images-idx3-ubyte.gz``.
   Sub-folders and not loose files, because MNIST and Fashion-MNIST use the same file names.
3. The user cache: ``$NPCONV_CACHE/<name>`` if set, else ``$XDG_CACHE_HOME/npconv/<name>``,
   else ``~/.cache/npconv/<name>``. Downloads go here.
4. The system roots in :data:`SYSTEM_ROOTS` (``/usr/share/datasets/<name>``, where Debian's
   ``dataset-fashion-mnist`` package puts Fashion-MNIST).
5. A download of the missing files into the cache, from ``download_base=`` / ``$NPCONV_MIRROR``
   (one or more base URLs separated by commas or spaces) if given, else from the dataset's own
   addresses, each in turn. Every file is checked against its SHA-256 and size, written to a
   temporary file in the cache folder and renamed into place only when it matches: an
   interrupted or wrong download leaves nothing behind, not even the empty folders it made
   (the dataset's, the cache root, ~/.cache).

Nothing found and nothing downloaded: a :class:`DatasetNotFoundError` listing every place
searched, every address tried and how to get the data.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .._atomic import atomic_path

#: Folders holding one sub-folder per dataset, searched after the cache. Tests monkeypatch it.
SYSTEM_ROOTS: list[Path] = [Path("/usr/share/datasets")]

#: Seconds a download waits for the server to connect or to send the next block.
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 20


class DatasetNotFoundError(FileNotFoundError):
    """No copy of a dataset was found nor downloaded; the message says where we looked.

    ``str(err)`` is the full, multi-line account; :meth:`one_line` a one-line summary (the
    places searched, briefly, and why the download failed), as ``npconv`` prints it.
    """

    def __init__(self, message: str, *, summary: str | None = None):
        super().__init__(message)
        self.summary = summary

    def one_line(self) -> str:
        if self.summary:
            return self.summary
        return " ".join(line.strip() for line in str(self).splitlines() if line.strip())


class DownloadError(DatasetNotFoundError):
    """Every address of a file failed (no connection, HTTP error, wrong checksum or size).

    ``failures``: one ``"URL: Error: cause"`` line per address tried for the file that failed.
    """

    def __init__(self, message: str, *, summary: str | None = None, failures=()):
        super().__init__(message, summary=summary)
        self.failures = list(failures)


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its canonical name, checksum and size as published.

    ``alternatives`` are other names accepted in a local folder (e.g. the uncompressed file).
    """

    name: str
    sha256: str
    size: int
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is and where it comes from. ``mirrors`` are base URLs ending in ``/``."""

    name: str
    title: str
    description: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    install_hint: str = ""


@dataclass
class Located:
    """Where a dataset was found: the folder, how it was found, and the path of each file."""

    name: str
    folder: Path
    source: str  # "path", "NPCONV_DATA", "cache", "system" or "download"
    files: dict[str, Path]
    searched: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- places to search


def data_roots() -> list[Path]:
    """The roots named by ``$NPCONV_DATA`` (``os.pathsep``-separated), in order."""
    value = os.environ.get("NPCONV_DATA", "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def cache_root() -> Path:
    """``$NPCONV_CACHE``, else ``$XDG_CACHE_HOME/npconv``, else ``~/.cache/npconv``."""
    if os.environ.get("NPCONV_CACHE"):
        return Path(os.environ["NPCONV_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "npconv"
    return Path.home() / ".cache" / "npconv"


def search_places(spec: DatasetSpec, path=None) -> list[tuple[str, Path]]:
    """The (source, folder) pairs searched for ``spec``, in order."""
    if path is not None:
        return [("path", Path(path).expanduser())]
    places = [("NPCONV_DATA", root / spec.name) for root in data_roots()]
    places.append(("cache", cache_root() / spec.name))
    places += [("system", Path(root) / spec.name) for root in SYSTEM_ROOTS]
    return places


def find_files(spec: DatasetSpec, folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each of ``spec``'s files to a path in ``folder``; also return the names not found.

    For each file the canonical name is tried first, then its alternatives. An alternative
    may be a folder (CIFAR-10's extracted ``cifar-10-batches-bin``).
    """
    found: dict[str, Path] = {}
    missing: list[str] = []
    for rf in spec.files:
        candidate = folder / rf.name
        if candidate.is_file():
            found[rf.name] = candidate
            continue
        for alt in rf.alternatives:
            if (folder / alt).exists():
                found[rf.name] = folder / alt
                break
        else:
            missing.append(rf.name)
    return found, missing


def _describe(source: str, folder: Path, missing: list[str], total: int) -> str:
    if not folder.is_dir():
        state = "no such folder"
    elif len(missing) == total:
        state = "no dataset files"
    else:
        state = "incomplete, lacks " + ", ".join(missing)
    return f"{source}: {folder} ({state})"


def find_local(spec: DatasetSpec, path=None) -> tuple[Located | None, list[str]]:
    """The first complete local copy of ``spec`` (or None) and a line per place searched."""
    searched = []
    if path is None and not data_roots():
        searched.append("NPCONV_DATA: not set")
    for source, folder in search_places(spec, path):
        found, missing = find_files(spec, folder)
        if not missing:
            return Located(spec.name, folder, source, found, searched), searched
        searched.append(_describe(source, folder, missing, len(spec.files)))
    return None, searched


# ---------------------------------------------------------------------------- download


def mirror_bases(spec: DatasetSpec, download_base=None) -> list[str]:
    """Base URLs to try: ``download_base`` (str or list), else ``$NPCONV_MIRROR``, else built-in."""
    if download_base is None:
        download_base = os.environ.get("NPCONV_MIRROR") or None
    if download_base is None:
        bases = list(spec.mirrors)
    elif isinstance(download_base, str):
        bases = [b for b in re.split(r"[,\s]+", download_base) if b]
    else:
        bases = [str(b) for b in download_base]
    for base in bases:
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise ValueError(
                f"{spec.name}: expected download addresses starting with http:// or https://. "
                f"Received: {base!r}"
            )
    return [b if b.endswith("/") else b + "/" for b in bases]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(url: str, dest: Path, sha256: str, size: int | None = None, *,
                  timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Download ``url`` to ``dest``, checking SHA-256 (and size), atomically.

    The bytes go to a temporary file beside ``dest``, which is renamed to ``dest`` only once
    the checksum matches; on any failure the temporary file is deleted and the error raised
    (``urllib.error.URLError`` or another ``OSError``, ``http.client.HTTPException`` for a
    broken response, ``ValueError`` for a wrong checksum or size).
    """
    dest = Path(dest)
    try:
        with atomic_path(dest, suffix=".part") as tmp:
            digest = hashlib.sha256()
            received = 0
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                while block := resp.read(_CHUNK):
                    received += len(block)
                    if size is not None and received > size:
                        raise ValueError(f"larger than the expected {size} bytes")
                    digest.update(block)
                    out.write(block)
            if size is not None and received != size:
                raise ValueError(f"received {received} bytes, expected {size}")
            if digest.hexdigest() != sha256.lower():
                raise ValueError(f"SHA-256 mismatch: got {digest.hexdigest()}, "
                                 f"expected {sha256}")
    except urllib.error.HTTPError as err:
        err.close()  # an HTTP error carries the open response
        raise
    return dest


def download_missing(spec: DatasetSpec, *, download_base=None, timeout: float = DEFAULT_TIMEOUT,
             log=None) -> Located:
    """Download the files of ``spec`` missing from the cache; raise :class:`DownloadError`.

    Files already in the cache are kept (they were verified when written). Each missing file
    is tried at every base URL in turn until one gives the right bytes.
    """
    if log is None:
        def log(msg):
            print(msg, file=sys.stderr)
    folder = cache_root() / spec.name
    made = _not_yet_made(folder)  # what a failure removes again, if still empty
    bases = mirror_bases(spec, download_base)
    files, missing = find_files(spec, folder)
    try:
        for rf in spec.files:
            if rf.name in missing:
                files[rf.name] = _download_one(spec, rf, bases, folder, timeout, log)
    except BaseException:  # a failure, or Ctrl-C: leave no empty folder behind
        for created in made:
            _remove_if_empty(created)
        raise
    return Located(spec.name, folder, "download", files)


def _download_one(spec, rf, bases, folder, timeout, log) -> Path:
    """One file of ``spec`` into ``folder``, from the first of ``bases`` that gives the
    right bytes; a :class:`DownloadError` listing every address's failure otherwise."""
    failures: list[str] = []  # this file's: an earlier file's failed mirrors do not belong
    for base in bases:
        url = base + rf.name
        log(f"npconv: downloading {url} -> {folder}")
        try:
            return download_file(url, folder / rf.name, rf.sha256, rf.size, timeout=timeout)
        except (OSError, ValueError, http.client.HTTPException) as err:  # URLError is OSError
            # a bare URLError wraps the real cause (e.g. ConnectionRefusedError) in .reason
            cause = err.reason if type(err) is urllib.error.URLError else err
            failures.append(f"{url}: {type(cause).__name__}: {cause}")
    more = f" (and {len(failures) - 1} more address(es))" if len(failures) > 1 else ""
    raise DownloadError(
        "\n".join([f"could not download {rf.name} of {spec.title}:"]
                  + [f"  - {f}" for f in failures]),
        summary=f"could not download {rf.name}: {failures[0]}{more}",
        failures=failures)


def _not_yet_made(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first: the folders
    a download into it creates (the dataset's, and the cache root with ~/.cache when new)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (an earlier file arrived), or gone
        folder.rmdir()


# ---------------------------------------------------------------------------- the whole lookup


def how_to_get(spec: DatasetSpec, download_failed: bool = False) -> str:
    """The ways to get ``spec``'s files; after a failed download, no advice to allow one."""
    names = ", ".join(rf.name for rf in spec.files)
    ways = [spec.install_hint] if spec.install_hint else []
    ways += [
        f"put the files ({names}) in a folder and pass path=FOLDER",
        f"or put them in $NPCONV_DATA/{spec.name}/",
        "or set NPCONV_MIRROR to a reachable mirror" if download_failed
        else "or allow the download (set NPCONV_MIRROR to a reachable mirror if needed)",
    ]
    return "To get it: " + "; ".join(ways) + "."


def _short_ways(spec: DatasetSpec, download: bool) -> str:
    ways = [spec.install_hint] if spec.install_hint else []
    ways.append(f"put the files in $NPCONV_DATA/{spec.name}/ (or pass path= in Python)")
    ways.append("set NPCONV_MIRROR to a reachable mirror" if download
                else "allow the download")
    return "To get it: " + "; or ".join(ways) + "."


def locate(spec: DatasetSpec, path=None, *, download: bool = True, download_base=None,
           timeout: float = DEFAULT_TIMEOUT) -> Located:
    """Find ``spec``'s files (see the module docstring for the order), downloading if allowed."""
    located, searched = find_local(spec, path)
    if located is not None:
        return located
    if path is not None:
        raise DatasetNotFoundError(
            f"{spec.title} was not found in the folder given as path=:\n  - {searched[0]}\n"
            + how_to_get(spec),
            summary=f"{spec.title} was not found in the folder given as path=: "
                    f"{searched[0].removeprefix('path: ')}. {_short_ways(spec, download)}",
        )
    lines = [f"{spec.title} ({spec.name}) was not found. Searched:"]
    lines += [f"  - {s}" for s in searched]
    summary = (f"{spec.title} ({spec.name}) was not found. Searched: "
               + "; ".join(searched) + ". ")
    failures: list[str] = []
    if download:
        try:
            found = download_missing(spec, download_base=download_base, timeout=timeout)
            found.searched = searched
            return found
        except DownloadError as err:
            lines.append("Download failed: " + str(err))
            summary += f"Download failed: {err.one_line()}. "
            failures = err.failures
    else:
        lines.append("Download: not attempted (download=False)")
        summary += "Download: not attempted (download=False, --no-download). "
    lines.append(how_to_get(spec, download_failed=download))
    summary += _short_ways(spec, download)
    if download:
        raise DownloadError("\n".join(lines), summary=summary, failures=failures)
    raise DatasetNotFoundError("\n".join(lines), summary=summary)
