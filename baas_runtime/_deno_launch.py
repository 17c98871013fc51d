"""The first program of a Deno sandbox: set the stage, (at deploy) type-check, then become Deno.

Started by the worker as `python3 -I -S -B -c "…_deno_launch…" [--egress SOCKET]` inside the same
sandbox a Python function gets. Deno cannot set its own resource limits (that would need FFI,
which functions never get), nor fork the egress forwarder before user code, so this launcher does
what Python's runtime does itself before any user code exists:

1. with egress, forks the forwarder to the worker's filtering proxy (it must be PID 3 inside);
2. reads the `launch` frame from the worker (limits, where Deno and the code are, whether to
   type-check) and sets every rlimit, soft == hard (baas_runtime._sandbox);
3. writes the one config file every Deno step reads into its private Deno folder (`DENO_DIR`'s
   parent, on the sandbox's tmpfs): the bundle's deno.json as cleaned at deploy (its import map and
   the compiler options that only change checking and transpiling, baas_runtime/_deno_config.py),
   with `baas` → this runtime's mod.ts;
4. at deploy, runs `deno check` on the entry (no network, nothing downloaded) and reports a
   failure as a `check_failed` frame; for a bundle with npm:/jsr: imports the deploy's build step
   instead resolves them (through the registries-only proxy), checks, writes the cache and exits
   (`_build`), and the version's later sandboxes use that cache read-only (`_use_dependencies`);
5. replaces itself (`execve`, the same PID) with `deno run runtime.ts`, which reads the `init`
   frame and speaks the protocol from then on.

Deno's permissions are the second layer: `--allow-read` of the function's folder and of the
runtime's own folder only, network only for egress, no environment, no subprocesses, no FFI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from baas_runtime import _deno_config, _protocol, _sandbox


def main() -> None:
    egress_socket = _sandbox._option(sys.argv[1:], "--egress")
    if egress_socket:  # first of all: the forwarder must be the sandbox's first child (PID 3)
        from baas_runtime import _egress

        _egress.start(egress_socket)
    launch = _protocol.read_frame(0)
    _sandbox._apply_limits(launch.get("limits") or {})
    deno = str(launch["deno"])
    code_dir = str(launch["code_dir"])
    runtime_dir = os.path.join(str(launch["runtime_dir"]), "baas_runtime", "deno")
    home = str(launch["home"])
    os.makedirs(os.path.join(home, "cache"), exist_ok=True)
    # The bundle's deno.json, cleaned as at deploy (its import map, the compiler options that only
    # change checking and transpiling), with `baas` always ours: the one config every Deno step reads.
    config_file = os.path.join(home, "deno.json")
    try:
        config = _deno_config.for_deno(_bundle_config(code_dir), code_dir)
    except _deno_config.ConfigError as problem:  # not JSON at all: deploy refuses it
        error = {"type": "ConfigError", "message": str(problem), "traceback": ""}
        _protocol.write_frame(1, {"op": "load_error", "error": error})
        return
    # The import map as a file of its own (--import-map): given inside the config, a mapping to a
    # folder of the bundle made Deno read the bundle's own deno.json as well, `baas` included.
    import_map = os.path.join(home, "import_map.json")
    with open(import_map, "w") as handle:
        json.dump({"imports": {**config["imports"], "baas": "file://" + os.path.join(runtime_dir, "mod.ts")}}, handle)
    with open(config_file, "w") as handle:
        json.dump({"compilerOptions": config["compilerOptions"]}, handle)
    env = {
        "DENO_DIR": os.path.join(home, "cache"),
        "NO_COLOR": "1",
        "DENO_NO_UPDATE_CHECK": "1",
        "DENO_NO_PROMPT": "1",
        "HOME": home,
    }
    if egress_socket:
        env.update(_egress.environment())  # Deno's fetch honours HTTP(S)_PROXY from its own environment
    # Nothing is ever downloaded: no remote modules, no npm, no lock file; the config is ours.
    config_flags = ["--config", config_file, "--import-map", import_map]
    common = [*config_flags, "--no-lock", "--no-remote", "--no-npm"]
    os.chdir(code_dir)
    if launch.get("build"):  # the deploy's dependency step: resolve, check, hand the cache over, exit
        if launch.get("check_seed"):
            _use_check_seed(str(launch["check_seed"]), os.path.join(home, "build-cache"))
        _build(
            deno, code_dir, str(launch["entry"]), dict(launch["build"]), config_flags, env, bool(launch.get("check"))
        )
        return
    if launch.get("dependencies"):  # resolved at deploy into the version's folder: used read-only
        common = [*config_flags, "--no-lock", "--quiet"]  # run adds --cached-only
        env.update(_use_dependencies(code_dir, os.path.join(home, "cache")))
    if launch.get("check_seed"):  # the type checker's caches from this machine's seed function
        _use_check_seed(str(launch["check_seed"]), env["DENO_DIR"])
    if launch.get("check"):
        checked = subprocess.run(
            [deno, "check", "--quiet", *common, os.path.join(code_dir, str(launch["entry"]))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
        if checked.returncode != 0:
            output = checked.stdout.decode("utf-8", "replace")
            _protocol.write_frame(1, {"op": "check_failed", "output": output[-16000:]})
            return
    if launch.get("seed"):  # checking our own seed function: hand the caches over, run nothing
        _protocol.write_frame(1, {"op": "check_seed", "files": _read_files(env["DENO_DIR"], CHECK_SEED_FILES)})
        return
    if launch.get("prepare"):  # the version's first sandbox here: transpile now, hand it over
        files = _prepare(deno, common, env, os.path.join(code_dir, str(launch["entry"])), runtime_dir)
        _protocol.write_frame(1, {"op": "prepared", "files": files})
    elif launch.get("prepared"):  # an earlier sandbox of this version did: use its output
        _use_prepared(str(launch["prepared"]), env["DENO_DIR"])
    flags = [
        "--no-prompt",
        "--cached-only",
        # V8's code cache would be written to DENO_DIR, a tmpfs of this sandbox alone that no later
        # process reads: pure cost (a thread, ~10 ms of CPU and ~1 MiB per start).
        "--no-code-cache",
        f"--allow-read={code_dir},{runtime_dir}",
        # --single-threaded: no V8 platform worker threads (GC and compilation on the main thread),
        # 2 threads fewer per warm process for the worker to walk; same CPU on an allocation-heavy
        # handler. A smaller young generation (--max-semi-space-size) saved RSS but doubled that
        # handler's CPU, and --lite-mode quadrupled it: both left out. --no-maglev: no mid-tier
        # optimising compiler (Ignition, Sparkplug and TurboFan remain), whose code pages in the
        # binary every warm process touched once its handler got hot: ~2 MiB of RSS less per process,
        # and no slower on a sort-and-serialise handler (single-threaded, Maglev compiled on the
        # main thread: 6.1-8.3 ms per round without it, 6.5-11.3 ms with).
        # TurboFan keeps V8's default threshold. Raising it tenfold kept this runtime's own per-call
        # code out of TurboFan for a process's life, and with it ~3 MiB of the binary's code pages
        # after ~1,000 calls — but those pages are the Deno binary's file pages, shared by every
        # warm process, while the runtime's code left in the baseline tiers cost ~50 % more CPU
        # per warm invocation (bench/functions.py: 13.8 against 9.1 ms, 99 against 128 calls/s).
        f"--v8-flags=--max-old-space-size={int(launch['memory_mb'])},--single-threaded,--no-maglev",
    ]
    if egress_socket:
        flags.append("--allow-net")  # every connection goes through the proxy, which decides
    argv = [deno, "run", *common, *flags, os.path.join(runtime_dir, "runtime.ts")]
    os.execve(deno, argv, env)


PREPARED_MAX_BYTES = 8 * 1024 * 1024  # what functions/sandbox/deno.py keeps
# Deno's record of each module's imports (parsed once, keyed by the source's hash): without it Deno
# parses every module again to build the graph, and the parser's memory stays with the process.
MODULE_INFO = "dep_analysis_cache_v2"


def _prepare(deno: str, common: list[str], env: dict[str, str], entry: str, runtime_dir: str) -> dict[str, str]:
    """Transpile the function's modules and the runtime's into DENO_DIR (`deno install
    --entrypoint` loads and transpiles, runs nothing) and return what a later `deno run` reads
    instead of doing it again (gen/, the module-info database) as {path: base64}, for the worker to
    keep for this version's later sandboxes (functions/sandbox/deno.py). Always answers, with
    nothing if Deno failed: the worker reads this frame as the launcher's, before any code ran."""
    quiet = [] if "--quiet" in common else ["--quiet"]
    runtime = os.path.join(runtime_dir, "runtime.ts")
    done = subprocess.run(
        [deno, "install", "--cached-only", *quiet, *common, "--entrypoint", entry, runtime],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False,
    )  # fmt: skip
    cache = env["DENO_DIR"]
    if done.returncode != 0:
        return {}
    names = [MODULE_INFO]
    for folder, _dirs, files in os.walk(os.path.join(cache, "gen")):
        names += [os.path.relpath(os.path.join(folder, name), cache) for name in files]
    return _read_files(cache, names)


def _read_files(cache: str, names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Files of a DENO_DIR as {relative path: base64}, a SQLite database with its write-ahead log
    folded in (Deno leaves part of what it wrote there); nothing if that fails (better none than half
    of one) or if they add up to more than PREPARED_MAX_BYTES (the frame has a size limit; each
    process then does the work itself)."""
    import base64

    files, total = {}, 0
    for name in names:
        path = os.path.join(cache, name)
        if os.path.exists(path + "-wal") and not _fold_log(path):
            return {}
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as handle:
                data = handle.read()
            total += len(data)
            if total > PREPARED_MAX_BYTES:
                return {}
            files[name] = base64.b64encode(data).decode()
    return files


def _fold_log(path: str) -> bool:
    """Fold a SQLite database's write-ahead log into it (Deno, which wrote it, has exited), so that the
    one file holds everything. Whether that worked."""
    try:
        import sqlite3

        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.execute("PRAGMA journal_mode=DELETE")
        finally:
            connection.close()
    except Exception:  # no sqlite3 module, a damaged file: then no cache, as before
        return False
    return not os.path.exists(path + "-wal")


CHECK_SEED_FILES = ("check_cache_v2", "v8_code_cache_v2")  # as functions/sandbox/deno.py keeps


def _use_check_seed(folder: str, cache: str) -> None:
    """Copies (SQLite writes beside a database it opens, and the check adds this function's entries)."""
    import shutil

    os.makedirs(cache, exist_ok=True)
    for name in CHECK_SEED_FILES:
        if os.path.isfile(os.path.join(folder, name)):
            shutil.copyfile(os.path.join(folder, name), os.path.join(cache, name))


def _use_prepared(folder: str, cache: str) -> None:
    """The prepared cache in this sandbox's DENO_DIR: gen/ linked (read-only: Deno only reads it, and
    transpiles anew, in memory, a file whose source hash does not match); the module-info database
    copied, since SQLite wants to write beside a database it opens."""
    import shutil

    os.symlink(os.path.join(folder, "gen"), os.path.join(cache, "gen"))
    if os.path.isfile(os.path.join(folder, MODULE_INFO)):
        shutil.copyfile(os.path.join(folder, MODULE_INFO), os.path.join(cache, MODULE_INFO))


# Where a version's resolved dependencies are in its folder (functions/dependencies.py writes them).
DEPENDENCIES = ".deps"
CACHE_PARTS = ("npm", "remote")  # of a DENO_DIR: npm packages; jsr and URL modules


def _registry_env(registries: dict[str, str]) -> dict[str, str]:
    env = {}
    if registries.get("npm"):
        env["NPM_CONFIG_REGISTRY"] = registries["npm"]
    if registries.get("jsr"):
        env["JSR_URL"] = registries["jsr"]
    return env


def _build(
    deno: str, code_dir: str, entry: str, build: dict, config: list[str], env: dict[str, str], check: bool
) -> None:
    """Resolve the entry's npm:/jsr: imports into a fresh DENO_DIR (network: only the filtering
    proxy, which lets only the configured registries through), type-check against it, and write
    its package folders as one zip into the build folder the worker reads. No lifecycle script
    runs: Deno runs them only with --allow-scripts, never given. No function code runs either."""
    import zipfile

    cache = os.path.join(env["HOME"], "build-cache")  # on the sandbox's own tmpfs
    pairs = [(str(kind), str(url)) for kind, url in build.get("registries") or []]
    registries = {kind: url for kind, url in reversed(pairs) if kind in ("npm", "jsr")}  # the first of each
    env = {**env, "DENO_DIR": cache, **_registry_env(registries)}
    # Trust the machine's CAs too (bound in, as for egress): a private registry's, or a TLS proxy's.
    env["DENO_TLS_CA_STORE"] = "mozilla,system"
    flags = [*config, "--no-lock"]  # the config and the import map
    # URL imports from the registries' hosts only (Deno's own default list names other hosts; the
    # proxy would refuse those anyway, this says so more plainly).
    hosts = sorted({_authority(url) for _kind, url in pairs} - {""})
    if hosts:
        flags.append("--allow-import=" + ",".join(hosts))
    target = os.path.join(code_dir, entry)
    steps = [("build_failed", ["install", "--quiet", *flags, "--entrypoint", target])]
    if check:
        steps.append(("check_failed", ["check", "--quiet", "--cached-only", *flags, target]))
    for failure, command in steps:
        done = subprocess.run(
            [deno, *command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            output = done.stdout.decode("utf-8", "replace")
            _protocol.write_frame(1, {"op": failure, "output": output[-16000:]})
            return
    out = os.path.join(str(build["out"]), "deps.zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in CACHE_PARTS:
            root = os.path.join(cache, part)
            for folder, _dirs, names in os.walk(root):
                for name in sorted(names):
                    path = os.path.join(folder, name)
                    if os.path.isfile(path) and not os.path.islink(path) and not name.startswith(".scripts-"):
                        archive.write(path, os.path.relpath(path, cache))
        archive.writestr("registries.json", json.dumps(registries))
    _protocol.write_frame(1, {"op": "built"})


def _authority(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.hostname:
        return ""
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _use_dependencies(code_dir: str, cache: str) -> dict[str, str]:
    """Point the private DENO_DIR's package folders at the version's read-only copy (the rest of
    DENO_DIR, Deno's own compile caches, stays writable on the tmpfs), and name the registries the
    cache was resolved from, since Deno files npm packages under the registry's host."""
    folder = os.path.join(code_dir, DEPENDENCIES)
    for part in CACHE_PARTS:
        if os.path.isdir(os.path.join(folder, part)):
            os.symlink(os.path.join(folder, part), os.path.join(cache, part))
    try:
        with open(os.path.join(folder, "registries.json"), "rb") as handle:
            registries = json.loads(handle.read())
    except (OSError, ValueError):
        registries = {}
    return _registry_env(registries if isinstance(registries, dict) else {})


def _bundle_config(code_dir: str) -> dict:
    """The bundle's deno.json (or deno.jsonc), cleaned (baas_runtime/_deno_config.py); an empty one
    without."""
    name = _deno_config.config_name(lambda path: os.path.isfile(os.path.join(code_dir, path)))
    if name is None:
        return {"imports": {}, "compilerOptions": {}}

    def read(path: str) -> bytes | None:
        try:
            with open(os.path.join(code_dir, path), "rb") as handle:
                return handle.read()
        except OSError:
            return None

    text = (read(name) or b"").decode("utf-8", "replace")
    # Lenient: deploy refused anything not allowed; a version deployed before a rule existed runs
    # with what is allowed (the rest never reaches Deno).
    return _deno_config.clean(_deno_config.parse(text, name), name, read, strict=False)


if __name__ == "__main__":
    main()
