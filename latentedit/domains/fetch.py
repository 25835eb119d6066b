"""Fetching a domain's published files into a cache, and resolving a domain's files from the user's paths or it.

The cache of domain ``NAME`` is ``$LATENTEDIT_CACHE/domains/NAME`` (else ``$XDG_CACHE_HOME/latentedit/domains/NAME``,
else ``~/.cache/latentedit/domains/NAME``). A file resolves from its ``path`` when that file exists, else from the
cache. ``fetch_domain`` downloads every file that resolves nowhere and has a URL: streamed into a temp file next to
its cache place, with a progress bar, checked against the published size and SHA-256 (where the domain lists them),
then renamed into place, so a file in the cache is always whole. With no network (connection refused, name not
resolved, timeout), each file gets one line saying which URL to download and where to put it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from latentedit.domains.domain import Domain, DomainError, DomainFile

CHUNK = 1 << 16


class FetchError(DomainError):
    """A download failed or the downloaded bytes are not the published file."""


class NoNetwork(FetchError):
    """The URL could not be reached at all (no network, DNS failure, refused connection)."""


def cache_root() -> Path:
    """The folder holding every domain's downloads (not created here)."""
    from latentedit.cache import cache_dir

    return cache_dir("domains")


def cache_dir(domain: Domain | str) -> Path:
    return cache_root() / (domain.name if isinstance(domain, Domain) else str(domain))


def cached_path(domain: Domain | str, f: DomainFile) -> Path:
    """Where ``f`` of ``domain`` lives once fetched."""
    return cache_dir(domain) / f.file_name


def resolve_file(domain: Domain | str, f: DomainFile | None) -> str | None:
    """The local file standing for ``f``: its ``path`` when that exists, else its cached copy, else None."""
    if f is None:
        return None
    if f.path is not None and Path(f.path).is_file():
        return f.path
    cached = cached_path(domain, f)
    return str(cached) if cached.is_file() else None


def put_hint(domain: Domain | str, label: str, f: DomainFile) -> str:
    """One line saying exactly which file to put where."""
    where = f.path or str(cached_path(domain, f))
    src = f" (download {f.url})" if f.url else ""
    return f"{label}: put {f.file_name}{src} at {where}"


def _is_offline(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror, socket.timeout, TimeoutError,
                               ConnectionResetError, OSError)) and not isinstance(exc, urllib.error.HTTPError)


def _check(f: DomainFile, size: int, digest: str, url: str) -> None:
    if f.size is not None and size != f.size:
        raise FetchError(f"{url}: downloaded {size} bytes, the published file has {f.size}; nothing was kept")
    if f.sha256 is not None and digest != f.sha256.lower():
        raise FetchError(f"{url}: SHA-256 {digest} does not match the published {f.sha256.lower()}; "
                         "nothing was kept")


def download(f: DomainFile, dest: str | os.PathLike, *, progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``f.url`` to ``dest`` atomically (temp file + rename) after checking size and SHA-256 where known.

    NoNetwork when the host cannot be reached; FetchError for an HTTP error, a web page served instead of the file,
    or bytes that are not the published ones. On any failure nothing is left at ``dest`` nor beside it."""
    if not f.url:
        raise FetchError(f"{f.file_name}: no URL to fetch it from")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    req = urllib.request.Request(f.url, headers={"User-Agent": "latentedit"})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (URLs come from domain files)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{f.url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        if _is_offline(exc):
            raise NoNetwork(f"{f.url}: cannot reach the host ({getattr(exc, 'reason', exc)})") from None
        raise
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with resp, os.fdopen(fd, "wb") as out:
            ctype = resp.headers.get("Content-Type", "")
            if "text/html" in ctype and not f.file_name.endswith((".html", ".htm")):
                raise FetchError(f"{f.url}: the server sent a web page, not the file (a confirmation or login page?); "
                                 f"download it in a browser and put it at {dest}")
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else f.size
            from tqdm import tqdm

            h, n = hashlib.sha256(), 0
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f.file_name,
                      disable=not progress, leave=True) as bar:
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    out.write(chunk)
                    h.update(chunk)
                    n += len(chunk)
                    bar.update(len(chunk))
        _check(f, n, h.hexdigest(), f.url)
        os.replace(tmp, dest)
    except (socket.timeout, TimeoutError, ConnectionError) as exc:
        raise FetchError(f"{f.url}: the download broke off ({exc}); nothing was kept, run fetch again") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


@dataclass(frozen=True)
class FetchResult:
    """What happened to one file: ``status`` is "present", "fetched", "offline", "failed" or "no-url"."""

    label: str
    status: str
    path: str
    message: str = ""


def fetch_domain(domain: Domain, *, progress: bool = True, timeout: float = 30.0) -> list[FetchResult]:
    """Fetch every file of ``domain`` that resolves nowhere and has a URL into its cache (see the module doc)."""
    results = []
    for label, f in domain.all_files().items():
        have = resolve_file(domain, f)
        if have is not None:
            results.append(FetchResult(label, "present", have))
            continue
        dest = cached_path(domain, f)
        if not f.url:
            results.append(FetchResult(label, "no-url", f.path or str(dest), put_hint(domain, label, f)))
            continue
        try:
            download(f, dest, progress=progress, timeout=timeout)
            results.append(FetchResult(label, "fetched", str(dest)))
        except NoNetwork:
            results.append(FetchResult(label, "offline", str(dest), f"no network: {put_hint(domain, label, f)}"))
        except FetchError as exc:
            results.append(FetchResult(label, "failed", str(dest), str(exc)))
    return results
