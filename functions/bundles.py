"""Function bundles: from a JSON map of files or an uploaded zip/tar to a validated file set.

Rules: relative paths of at most 200 characters made of safe segments (no `..`, no absolute
paths, no backslashes or control characters), at most FUNCTIONS_BUNDLE_MAX_FILES files and
FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES bytes. No two entries may name the same file once normalised
(`./a.py` and `a.py`, or `A.py` and `a.py`: case is ignored, so a bundle unpacks alike on every
file system), and no path may be both a file and a folder (`x` beside `x/y.py`, or beside a
folder entry `x/`): 400 `validation_error` naming both paths. In archives, directories are implied, symlinks that
stay inside the bundle are stored as copies of their target, and every other kind of member
(links escaping the bundle, hard links, devices, FIFOs) is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import tarfile
import zipfile
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from baas.errors import TooLarge, ValidationFailed
from baas_runtime import _deno_config
from functions.errors import DeployFailed

_SEGMENT = re.compile(r"^[A-Za-z0-9._+@=-][A-Za-z0-9 ._+@=-]*$")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _invalid(message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"files": [{"code": "invalid", "message": message, **details}]})


def clean_path(raw: Any) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > 200:
        raise _invalid("Each file path must be a string of 1 to 200 characters.", path=str(raw)[:200])
    path = raw.removeprefix("./")
    if path.startswith("/") or "\\" in path:
        raise _invalid("File paths must be relative and use forward slashes.", path=raw)
    segments = path.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise _invalid("A file path has an empty, '.', '..' or unusual segment.", path=raw)
    return "/".join(segments)


def _check_names(files: list[str], folders: Sequence[str] = ()) -> None:
    """Refuse a duplicate file (after normalisation, ignoring case) and a path that is both a file
    and a folder: either would make unpacking fail or silently drop a file."""
    seen: dict[str, str] = {}
    for path in files:
        earlier = seen.get(path.casefold())
        if earlier is not None:
            raise _conflict(f"The bundle holds {earlier!r} and {path!r}: the same file.", earlier, path)
        seen[path.casefold()] = path
    folder_of: dict[str, str] = {}  # folded folder name -> the entry that makes it a folder
    for path in files:
        parts = path.split("/")
        for end in range(1, len(parts)):
            folder_of.setdefault("/".join(parts[:end]).casefold(), path)
    for folder in folders:
        folder_of.setdefault(folder.casefold(), folder + "/")
    for folded, path in seen.items():
        if folded in folder_of:
            other = folder_of[folded]
            raise _conflict(f"{path!r} is a file, but {other!r} needs a folder of that name.", path, other)


def _conflict(message: str, *paths: str) -> ValidationFailed:
    return ValidationFailed(
        message, details={"files": [{"code": "conflict", "message": message, "paths": list(paths)}]}
    )


def _folder_name(raw: str) -> str | None:
    """A folder entry of an archive, normalised (`./`, `x/` → None, `x`); None for the root."""
    name = raw.rstrip("/")
    while name.startswith("./"):
        name = name[2:]
    return None if name in ("", ".") else clean_path(name)


def _check_totals(files: dict[str, bytes]) -> None:
    if len(files) > settings.FUNCTIONS_BUNDLE_MAX_FILES:
        raise TooLarge(f"A bundle may hold at most {settings.FUNCTIONS_BUNDLE_MAX_FILES} files.")
    total = sum(len(content) for content in files.values())
    if total > settings.FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES:
        raise TooLarge(
            f"The files add up to {total} bytes; at most {settings.FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES} are allowed."
        )


def from_json(files: Any) -> dict[str, bytes]:
    if not isinstance(files, dict) or not files:
        raise _invalid("files must be a non-empty object of {path: text}.")
    result: dict[str, bytes] = {}
    for raw_path, text in files.items():
        path = clean_path(raw_path)
        if not isinstance(text, str):
            raise _invalid("Each file's content must be text.", path=raw_path)
        if path in result:
            raise _conflict(f"The bundle holds {path!r} twice (as {raw_path!r} too).", path, raw_path)
        result[path] = text.encode()
    _check_names(list(result))
    _check_totals(result)
    return result


def from_archive(data: bytes) -> dict[str, bytes]:
    if len(data) > settings.FUNCTIONS_BUNDLE_MAX_BYTES:
        raise TooLarge(f"A bundle may be at most {settings.FUNCTIONS_BUNDLE_MAX_BYTES} bytes.")
    if zipfile.is_zipfile(io.BytesIO(data)):
        files = _from_zip(data)
    else:
        try:
            files = _from_tar(data)
        except tarfile.TarError:
            raise _invalid("The bundle must be a zip or tar (optionally gzip-compressed) archive.") from None
    if not files:
        raise _invalid("The bundle holds no files.")
    _check_totals(files)
    return _strip_common_folder(files)


def _budget_guard(total: int) -> None:
    if total > settings.FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES:
        raise TooLarge(f"The bundle unpacks to more than {settings.FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES} bytes.")


def _from_zip(data: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    names: list[str] = []
    folders: list[str] = []
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > settings.FUNCTIONS_BUNDLE_MAX_FILES * 2:
            raise TooLarge("The bundle has too many entries.")
        for info in members:
            if not info.filename:  # zipfile's own is_dir() fails on an empty name
                raise _invalid("Each file path must be a string of 1 to 200 characters.", path="")
            if info.is_dir():
                folders += filter(None, [_folder_name(info.filename)])
                continue
            path = clean_path(info.filename)
            names.append(path)
            mode = (info.external_attr >> 16) & 0o170000
            total += info.file_size
            _budget_guard(total)  # before reading: a zip bomb never gets decompressed
            content = archive.read(info)
            if mode == 0o120000:
                links[path] = content.decode("utf-8", "replace")
            elif mode in (0, 0o100000):
                files[path] = content
            else:
                raise _invalid("The bundle holds a special file.", path=path)
    _check_names(names, folders)
    return _resolve_links(files, links)


def _from_tar(data: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    names: list[str] = []
    folders: list[str] = []
    total = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for count, member in enumerate(archive):
            if count > settings.FUNCTIONS_BUNDLE_MAX_FILES * 2:
                raise TooLarge("The bundle has too many entries.")
            if member.isdir():
                folders += filter(None, [_folder_name(member.name)])
                continue
            path = clean_path(member.name)
            names.append(path)
            if member.issym():
                links[path] = member.linkname
            elif member.isreg():
                total += member.size
                _budget_guard(total)
                extracted = archive.extractfile(member)
                files[path] = extracted.read() if extracted else b""
            else:
                raise _invalid("The bundle holds a hard link or a special file.", path=path)
    _check_names(names, folders)
    return _resolve_links(files, links)


def _resolve_links(files: dict[str, bytes], links: dict[str, str]) -> dict[str, bytes]:
    """Symbolic links become copies of their target, which must be a file inside the bundle."""
    for path, target in links.items():
        seen = {path}
        current, destination = path, target
        while True:
            if destination.startswith("/"):
                raise _invalid("A link points outside the bundle.", path=path)
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(current), destination))
            if resolved.startswith("../") or resolved == ".." or resolved.startswith("/"):
                raise _invalid("A link points outside the bundle.", path=path)
            if resolved in files:
                files[path] = files[resolved]
                break
            if resolved in links and resolved not in seen:
                seen.add(resolved)
                current, destination = resolved, links[resolved]
                continue
            raise _invalid("A link points at nothing in the bundle.", path=path)
    return files


def _strip_common_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    """`myfn/main.py`, `myfn/lib.py` → `main.py`, `lib.py` (archives of a folder)."""
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) == 1 and all("/" in path for path in files):
        prefix = next(iter(tops)) + "/"
        return {path[len(prefix) :]: content for path, content in files.items()}
    return files


def digest_of(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def to_zip(files: dict[str, bytes]) -> bytes:
    """A canonical zip (sorted, fixed timestamps): what the database keeps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(zipfile.ZipInfo(path, _FIXED_TIME), files[path])
    return buffer.getvalue()


def from_stored_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def entry_module(entry: Any, files: dict[str, bytes]) -> str:
    """`main`, `main.py` or `pkg.handlers` → the module name to import; it must exist."""
    if entry is None:
        entry = "main"
    if not isinstance(entry, str) or not entry:
        raise ValidationFailed(details={"entry": [{"code": "invalid", "message": "entry must be a module name."}]})
    module = entry.removesuffix(".py").replace("/", ".")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", module):
        raise ValidationFailed(details={"entry": [{"code": "invalid", "message": f"{entry!r} is not a module name."}]})
    as_path = module.replace(".", "/")
    if f"{as_path}.py" not in files and f"{as_path}/__init__.py" not in files:
        raise ValidationFailed(
            f"The entry module {module!r} is not in the bundle (expected {as_path}.py).",
            details={"entry": [{"code": "missing", "message": f"{as_path}.py is not in the bundle."}]},
        )
    return module


# --- runtimes: Python modules and Deno (TypeScript / JavaScript) files ------------------------------
RUNTIMES = ("python", "deno")
DENO_EXTENSIONS = (".ts", ".mts", ".js", ".mjs")
# Specifiers that download something: npm and JSR packages and URL imports. A bundle naming any is
# given a dependency step at deploy that resolves them into the version's cache (functions/dependencies.py).
_REMOTE_IMPORT = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(?\s*|\bexport\s*\*\s*from\s*)["'](?P<spec>(?:npm:|jsr:|https?://)[^"']*)["']"""
)


def runtime_and_entry(runtime: Any, entry: Any, files: dict[str, bytes]) -> tuple[str, str]:
    """The runtime (given, else inferred from the entry's extension or the bundle's main file) and
    the entry: a module name for Python (`main`, `pkg.handlers`), a path in the bundle for Deno
    (`main.ts`). A runtime that contradicts the entry's extension is a 400 `validation_error`."""
    if runtime is not None and runtime not in RUNTIMES:
        raise ValidationFailed(
            details={"runtime": [{"code": "invalid", "message": "runtime must be one of python, deno."}]}
        )
    implied = _runtime_of_entry(entry)
    if runtime is not None and implied is not None and implied != runtime:
        message = f"The entry {entry!r} is a {implied} file, but runtime is {runtime!r}."
        raise ValidationFailed(message, details={"runtime": [{"code": "conflict", "message": message}]})
    chosen = runtime or implied or _runtime_of_bundle(entry, files)
    if chosen == "deno":
        return "deno", deno_entry(entry, files)
    return "python", entry_module(entry, files)


def _runtime_of_entry(entry: Any) -> str | None:
    if not isinstance(entry, str):
        return None
    if entry.endswith(".py"):
        return "python"
    if entry.endswith(DENO_EXTENSIONS):
        return "deno"
    return None


def _runtime_of_bundle(entry: Any, files: dict[str, bytes]) -> str:
    """No runtime and no extension: Python if the entry module is there, else Deno if a file of that
    name with a TypeScript or JavaScript extension is (main.ts, main.js…)."""
    stem = entry if isinstance(entry, str) and entry else "main"
    as_path = stem.replace(".", "/")
    if f"{as_path}.py" in files or f"{as_path}/__init__.py" in files:
        return "python"
    if any(f"{stem}{extension}" in files for extension in DENO_EXTENSIONS):
        return "deno"
    return "python"  # and entry_module says what is missing


def deno_entry(entry: Any, files: dict[str, bytes]) -> str:
    """`main.ts`, `src/handlers.ts`, or a name without extension (`main` → main.ts, main.mts,
    main.js or main.mjs, the first present): the entry file's path in the bundle."""
    if entry is None:
        entry = "main"
    if not isinstance(entry, str) or not entry:
        raise ValidationFailed(
            details={"entry": [{"code": "invalid", "message": "entry must be a file of the bundle."}]}
        )
    path = clean_path(entry)
    candidates = [path] if path.endswith(DENO_EXTENSIONS) else [path + extension for extension in DENO_EXTENSIONS]
    for candidate in candidates:
        if candidate in files:
            return candidate
    expected = " or ".join(candidates)
    raise ValidationFailed(
        f"The entry file {expected} is not in the bundle.",
        details={"entry": [{"code": "missing", "message": f"{expected} is not in the bundle."}]},
    )


def deno_config(files: dict[str, bytes]) -> dict[str, Any] | None:
    """The bundle's deno.json (or deno.jsonc) as Deno will be given it (baas_runtime/_deno_config.py):
    its import map and the compiler options that only change how TypeScript is checked; None
    without one. A key that would widen what the function may do, reach outside the bundle, or that
    baas does not know is a 400 `deploy_failed` naming it."""
    try:
        found = _read_deno_config(files)
    except _deno_config.ConfigError as problem:
        name = _deno_config.config_name(lambda path: path in files)
        raise DeployFailed(str(problem), details={"file": name, "key": problem.key}) from None
    return found[1] if found else None


def _read_deno_config(files: dict[str, bytes]) -> tuple[str, dict[str, Any]] | None:
    name = _deno_config.config_name(lambda path: path in files)
    if name is None:
        return None
    config = _deno_config.parse(files[name].decode("utf-8", "replace"), name)
    return name, _deno_config.clean(config, name, files.get)


def remote_imports(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """Imports that would download something (npm:, jsr:, http(s):), in the bundle's source files
    and in its deno.json (import map, `types`, JSX import source): [{file, line, column, specifier}]."""
    found: list[dict[str, Any]] = []
    for path in sorted(files):
        if path.endswith((*DENO_EXTENSIONS, ".tsx", ".jsx", ".cts", ".cjs")):
            text = files[path].decode("utf-8", "replace")
            for match in _REMOTE_IMPORT.finditer(text):
                found.append({"file": path, **_place(text, match.start("spec")), "specifier": match.group("spec")})
    try:
        config = _read_deno_config(files)
    except _deno_config.ConfigError:
        config = None  # refused at deploy by deno_config()
    if config is not None:
        name, cleaned = config
        text = files[name].decode("utf-8", "replace")
        for specifier in _deno_config.specifiers(cleaned):
            if specifier.startswith(("npm:", "jsr:", "http://", "https://")):
                offset = text.find(json.dumps(specifier)) + 1  # inside the quotes (0 if not found as written)
                found.append({"file": name, **_place(text, offset), "specifier": specifier})
    return found


def _place(text: str, offset: int) -> dict[str, int]:
    return {"line": text.count("\n", 0, offset) + 1, "column": offset - (text.rfind("\n", 0, offset) + 1)}
