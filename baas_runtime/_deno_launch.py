"""The first program of a Deno sandbox: set the stage, (at deploy) type-check, then become Deno.

Started by the worker as `python3 -I -S -B -c "…_deno_launch…" [--egress SOCKET]` inside the same
sandbox a Python function gets. Deno cannot set its own resource limits (that would need FFI,
which functions never get), nor fork the egress forwarder before user code, so this launcher does
what Python's runtime does itself before any user code exists:

1. with egress, forks the forwarder to the worker's filtering proxy (it must be PID 3 inside);
2. reads the `launch` frame from the worker (limits, where Deno and the code are, the import map,
   whether to type-check) and sets every rlimit, soft == hard (baas_runtime._sandbox);
3. writes the import map (`baas` → this runtime's mod.ts, plus the bundle's own local mappings)
   into its private Deno folder (`DENO_DIR`, on the sandbox's tmpfs);
4. at deploy, runs `deno check` on the entry (no network, nothing downloaded) and reports a
   failure as a `check_failed` frame;
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

from baas_runtime import _protocol, _sandbox


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
    import_map = os.path.join(home, "import_map.json")
    imports = _bundle_imports(code_dir)
    imports["baas"] = "file://" + os.path.join(runtime_dir, "mod.ts")  # always ours
    with open(import_map, "w") as handle:
        json.dump({"imports": imports}, handle)
    env = {
        "DENO_DIR": os.path.join(home, "cache"),
        "NO_COLOR": "1",
        "DENO_NO_UPDATE_CHECK": "1",
        "DENO_NO_PROMPT": "1",
        "HOME": home,
    }
    if egress_socket:
        env.update(_egress.environment())  # Deno's fetch honours HTTP(S)_PROXY from its own environment
    # Nothing is ever downloaded: no remote modules, no npm, the lock file and deno.json ignored.
    common = ["--no-config", "--no-lock", "--no-remote", "--no-npm", "--import-map", import_map]
    os.chdir(code_dir)
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
        # handler's CPU, and --lite-mode quadrupled it: both left out.
        f"--v8-flags=--max-old-space-size={int(launch['memory_mb'])},--single-threaded",
    ]
    if egress_socket:
        flags.append("--allow-net")  # every connection goes through the proxy, which decides
    argv = [deno, "run", *common, *flags, os.path.join(runtime_dir, "runtime.ts")]
    os.execve(deno, argv, env)


def _bundle_imports(code_dir: str) -> dict[str, str]:
    """The `imports` of the bundle's own deno.json, relative targets made absolute (remote ones were
    refused at deploy; Deno's --no-remote would refuse them anyway)."""
    try:
        with open(os.path.join(code_dir, "deno.json"), "rb") as handle:
            config = json.loads(handle.read())
    except (OSError, ValueError):
        return {}
    imports = config.get("imports") if isinstance(config, dict) else None
    if not isinstance(imports, dict):
        return {}
    resolved = {}
    for key, value in imports.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        if value.startswith(("./", "../")):
            value = "file://" + os.path.normpath(os.path.join(code_dir, value)) + ("/" if value.endswith("/") else "")
        resolved[key] = value
    return resolved


if __name__ == "__main__":
    main()
