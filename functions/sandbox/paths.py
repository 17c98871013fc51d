"""Host folders a sandbox reads: a copy of the runtime package and one folder per bundle.

The sandbox uid must be able to reach them, so they live under a root every ancestor of which
is searchable by others (the data folder may be private: then a folder under the system's temp
directory is used). Bundles are stored content-addressed by digest and never change once written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from django.conf import settings

import baas_runtime

_lock = threading.Lock()


def _searchable_by_others(path: Path) -> bool:
    for part in [path, *path.parents]:
        try:
            mode = part.stat().st_mode
        except FileNotFoundError:
            continue
        if not mode & stat.S_IXOTH:
            return False
    return True


@lru_cache(maxsize=1)
def sandbox_root() -> Path:
    configured = settings.FUNCTIONS_SANDBOX_DIR
    if configured:
        root = Path(configured)
    else:
        root = Path(settings.BAAS_DATA_DIR) / "sandbox"
        if not _searchable_by_others(root.parent):
            tag = hashlib.sha256(str(settings.BAAS_DATA_DIR).encode()).hexdigest()[:12]
            root = Path(tempfile.gettempdir()) / f"baas-sandbox-{tag}"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)  # others may pass through, not list: bundle folders are not discoverable
    return root


@lru_cache(maxsize=1)
def runtime_parent() -> Path:
    """A folder holding a read-only copy of `baas_runtime` (the project folder may be private)."""
    source = Path(baas_runtime.__file__).parent
    # The Python package, and the Deno runtime beside it (baas_runtime/deno: runtime.ts, mod.ts).
    files = [*sorted(source.glob("*.py")), *sorted((source / "deno").glob("*.ts"))]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(source)).encode() + b"\0" + file.read_bytes())
    target = sandbox_root() / "runtime" / digest.hexdigest()[:16]
    if not (target / "baas_runtime" / "__init__.py").exists():
        with _lock:
            staging = Path(tempfile.mkdtemp(dir=sandbox_root()))
            package = staging / "baas_runtime"
            (package / "deno").mkdir(parents=True)
            for file in files:
                shutil.copyfile(file, package / file.relative_to(source))
            make_readable(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.parent.chmod(0o711)
            try:
                os.rename(staging, target)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)  # another process won the race
    return target


@lru_cache(maxsize=4)
def reachable_by_sandboxes(binary: Path) -> Path:
    """`binary` at a path bubblewrap can bind: it opens the source as the sandbox's user, so a file
    under a private folder (a virtualenv in a 0700 home or `mktemp -d`, as the `deno` package's
    binary may be) is linked, or else copied, once into the sandbox root (one per size and mtime)."""
    if _searchable_by_others(binary.parent) and binary.stat().st_mode & stat.S_IXOTH:
        return binary
    facts = binary.stat()
    tag = hashlib.sha256(f"{binary}\0{facts.st_size}\0{facts.st_mtime_ns}".encode()).hexdigest()[:16]
    target = sandbox_root() / "bin" / tag / binary.name
    if not target.exists():
        with _lock:
            target.parent.parent.mkdir(mode=0o711, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=sandbox_root()))
            try:
                os.link(binary, staging / binary.name)  # the same file: no copy when on one filesystem
            except OSError:
                shutil.copy2(binary, staging / binary.name)
            (staging / binary.name).chmod(0o755)
            staging.chmod(0o711)
            try:
                os.rename(staging, target.parent)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)  # another process won the race
    return target


def code_dir(digest: str, files: dict[str, bytes] | Callable[[], dict[str, bytes]]) -> Path:
    """The folder of one bundle's files, written once (atomically) and then shared. `files` may
    be a callable, called only when the folder is not there yet."""
    target = code_root() / digest
    if target.exists():
        return target
    if callable(files):
        files = files()
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o711)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=".staging-"))
    for relative, content in files.items():
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    make_readable(staging)
    try:
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def code_root() -> Path:
    return sandbox_root() / "code"


def _lease_file(key: str) -> Path:
    folder = sandbox_root() / "leases"  # beside the bundles, never inside one: a sandbox sees its folder
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / key


def _lease_key(folder: Path) -> str | None:
    """The name of a folder's lease file: a bundle folder's digest, or `deno-check-<tag>` for a Deno
    type checker's seed (functions/sandbox/deno.py). None for any other folder."""
    if folder.parent == code_root():
        return folder.name
    if folder.parent == sandbox_root() / "deno-check":
        return f"deno-check-{folder.name}"
    return None


def lease(folder: Path) -> int | None:
    """Mark a bundle folder (or a Deno check seed) in use until the returned descriptor is closed (a
    shared flock, so any number of sandboxes, in any process on this machine, and it ends with the
    process). While held, the cleaners (`remove_code_dirs`, `remove_unleased`) leave the folder
    alone. None for a folder that is neither."""
    key = _lease_key(folder)
    if key is None:
        return None
    path = _lease_file(key)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        # A cleaner may have removed the lease file between our open and our lock: then this
        # lock guards nothing, so take one on the file that is there now.
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def remove_code_dirs(keep: set[str], *, min_age_seconds: float) -> list[str]:
    """Remove the bundle folders whose digest is not in `keep`, unless a sandbox holds a lease on
    them or they changed in the last `min_age_seconds`. Returns the removed digests. Always
    safe for correctness: a folder is written again from the stored bundle when next needed."""
    removed = []
    root = code_root()
    if not root.is_dir():
        return removed
    now = time.time()
    for folder in root.iterdir():
        digest = folder.name
        try:
            recent = now - folder.stat().st_mtime < min_age_seconds
        except FileNotFoundError:
            continue
        if recent or digest in keep:
            continue
        if digest.startswith("."):  # a staging or trash folder a killed process left behind
            shutil.rmtree(folder, ignore_errors=True)
            continue
        if remove_unleased(folder):
            removed.append(digest)
    return removed


def remove_unleased(folder: Path) -> bool:
    """Remove a bundle folder or check seed that no sandbox holds a lease on; whether it did."""
    key = _lease_key(folder)
    if key is None:
        return False
    path = _lease_file(key)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a sandbox uses it
        # Out of the way first (a rename is atomic), so nobody sees a half-deleted bundle.
        trash = folder.with_name(f".trash-{folder.name}-{os.getpid()}")
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # under the exclusive lock: lease() notices and retries
        shutil.rmtree(trash, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def make_readable(root: Path) -> None:
    root.chmod(0o755)
    for folder, dirs, names in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in names:
            os.chmod(os.path.join(folder, name), 0o644)


def site_packages() -> list[Path]:
    """The package folders FUNCTIONS_SANDBOX_PACKAGES offers to functions (those that exist)."""
    return [Path(item) for item in settings.FUNCTIONS_SANDBOX_PACKAGES if Path(item).is_dir()]


@lru_cache(maxsize=1)
def site_links() -> Path:
    """For the unsafe-local kind (no mounts): a folder of links to the offered packages."""
    folder = sandbox_root() / "site"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)
    for package in site_packages():
        link = folder / package.name
        if not link.is_symlink():
            link.symlink_to(package)
    return folder
