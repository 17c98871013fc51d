"""The functions service: deploy, roll back, delete, invoke, retry.

Writes happen here (views stay thin; reads that check rights are in functions/selectors.py).
Deploying runs the code once in a sandbox to discover its triggers — before anything is written,
so a failing deploy leaves the active version alone. Invoking records an Invocation and sends its
id to a worker after commit (functions/sending.py); a synchronous caller then waits for the row
(functions/waiting.py).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from baas import audit, events
from baas.errors import Conflict, NotFound, field_error, refuse_unknown_fields
from baas.principals import Principal
from functions import (
    bundles,
    delivery,
    dependencies,
    dispatcher,
    grants,
    plainsql,
    schedules,
    selectors,
    sending,
    waiting,
)
from functions import secrets as function_secrets
from functions import triggers as function_triggers
from functions.errors import DeployFailed, DetailCode
from functions.models import Function, FunctionVersion, Invocation
from functions.sandbox import isolation, zygote
from functions.sandbox.deno import remove_prepared as remove_prepared_deno_caches
from functions.sandbox.deno import remove_stale_check_seeds
from functions.sandbox.paths import code_dir, remove_code_dirs, runtime_parent
from functions.sandbox.process import DENO, DENO_CHECK_MEMORY_MB, Limits, LoadFailed, SandboxFailure, SandboxSpec

logger = logging.getLogger("baas.functions")

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

# --- for other apps: the event log's dispatch and its delivery rules (outgoing webhooks use them) --
subscribe_to_dispatch = dispatcher.subscribe  # a callable given each dispatched batch, in its transaction
event_payload = function_triggers.event_payload  # the event as a handler receives it
filter_accepts = function_triggers.filter_accepts  # a trigger filter against a document event
backoff_seconds = delivery.backoff_seconds  # the wait before retry N
encrypt_secrets = function_secrets.encrypt  # {name: value} at rest, under the functions' key
decrypt_secrets = function_secrets.decrypt
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
CONFIG_KEYS = (
    "name",
    "files",
    "entry",
    "runtime",
    "timeout",
    "memory",
    "env",
    "secrets",
    "network",
    "permissions",
    "max_retries",
    "invoke",
    "concurrency",
    "rate_per_minute",
)


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise field_error(
            "name",
            DetailCode.INVALID,
            "name must be 1-63 characters: lowercase letters, digits, - and _, starting with a letter.",
        )
    return name


def _clean_int(config: dict[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = config.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise field_error(field, DetailCode.INVALID, f"{field} must be a whole number from {low} to {high}.")
    return value


def _clean_vars(config: dict[str, Any], field: str) -> dict[str, str]:
    value = config.get(field) or {}
    if not isinstance(value, dict):
        raise field_error(field, DetailCode.INVALID, f"{field} must be an object of NAME: string.")
    for key, item in value.items():
        if not ENV_NAME_RE.match(str(key)) or not isinstance(item, str) or len(item) > 32768:
            raise field_error(
                field, DetailCode.INVALID, f"{field} names must be identifiers and values strings (32 KiB max)."
            )
    return dict(value)


def _clean_choice(config: dict[str, Any], field: str, choices: tuple[str, ...]) -> str:
    value = config.get(field) or choices[0]
    if value not in choices:
        raise field_error(field, DetailCode.INVALID, f"{field} must be one of {', '.join(choices)}.")
    return value


def limits_for(version: FunctionVersion) -> Limits:
    return Limits.configured(timeout=float(version.timeout), memory_mb=version.memory, cpu_seconds=version.timeout)


def spec_for(version: FunctionVersion, *, files: dict[str, bytes] | None = None) -> SandboxSpec:
    """The sandbox spec of a version (decrypts its secrets: call in the worker, right before use)."""
    stored = (
        files
        if files is not None
        else lambda: dependencies.with_cache(bundles.from_stored_zip(version.bundle), version.dependencies)
    )
    folder = code_dir(version.digest, stored)
    env = {**version.env, **_secrets_of(version)}
    return SandboxSpec(
        key=version.sandbox_key,
        code_dir=folder,
        entry=version.entry,
        env=env,
        network=version.network,
        limits=limits_for(version),
        function=version.function.name,
        version=version.number,
        files=(lambda: stored) if isinstance(stored, dict) else stored,
        runtime=version.runtime,
        dependencies=bool(version.dependencies),
    )


def _secrets_of(version: FunctionVersion) -> dict[str, str]:
    """The version's secrets; if they were stored under a key that has since been rotated out (now
    in SECRET_KEY_FALLBACKS), they are re-encrypted under the current key now. Raises
    function_secrets.SecretsUnreadable."""
    token = version.secrets_encrypted
    values = function_secrets.decrypt(token)
    if version.pk is not None and (version.pk, token) not in _refreshed:
        renewed = function_secrets.refresh(token)
        if renewed is not None:
            FunctionVersion.objects.filter(pk=version.pk, secrets_encrypted=token).update(secrets_encrypted=renewed)
            logger.info("re-encrypted a function version's secrets under the current key",
                        extra={"function": version.function.name, "version": version.number})  # fmt: skip
        _refreshed.add((version.pk, token))
    return values


_refreshed: set[tuple[int, str]] = set()  # (version, token) pairs already checked by this process


# --- deploy ---------------------------------------------------------------------------------------
def deploy_function(
    *,
    principal: Principal,
    config: dict[str, Any],
    archive: bytes | None = None,
    resolved: bytes | None = None,
) -> FunctionVersion:
    """Validate, load the code in a sandbox to discover its triggers, then record a new version
    and make it active. Raises ValidationFailed / TooLarge / DeployFailed; nothing is written then.
    `resolved`: the dependency cache of the version whose code this is (a change of secrets keeps
    the packages it ran with instead of resolving again)."""
    selectors.check_manager(principal)
    refuse_unknown_fields(config, CONFIG_KEYS)
    name = _clean_name(config.get("name"))
    isolation()  # no working sandbox: 503 sandbox_unavailable before anything else (the deploy runs the code)
    files = bundles.from_archive(archive) if archive is not None else bundles.from_json(config.get("files"))
    runtime, entry = bundles.runtime_and_entry(config.get("runtime"), config.get("entry"), files)
    if runtime == DENO:
        bundles.deno_config(files)  # a deno.json asking for more than a function may have: 400 now
    env = _clean_vars(config, "env")
    # Secrets set once (`baas functions secrets set`) stay with later deploys that name none.
    secrets = _clean_vars(config, "secrets") if "secrets" in config else _inherited_secrets(name)
    version = FunctionVersion(
        entry=entry,
        runtime=runtime,
        timeout=_clean_int(config, "timeout", settings.FUNCTIONS_DEFAULT_TIMEOUT, 1, settings.FUNCTIONS_MAX_TIMEOUT),
        memory=_clean_int(config, "memory", settings.FUNCTIONS_DEFAULT_MEMORY_MB, 64, settings.FUNCTIONS_MAX_MEMORY_MB),
        env=env,
        secret_names=sorted(secrets),
        secrets_encrypted=function_secrets.encrypt(secrets),
        network=_clean_choice(config, "network", ("none", "egress")),
        permissions=grants.clean(config.get("permissions")),
        max_retries=_clean_int(config, "max_retries", 0, 0, 20),
        invoke=_clean_choice(config, "invoke", ("service", "authenticated", "public")),
        concurrency=_clean_int(config, "concurrency", settings.FUNCTIONS_DEFAULT_CONCURRENCY, 0, 10_000),
        rate_per_minute=_clean_int(config, "rate_per_minute", settings.FUNCTIONS_DEFAULT_RATE_PER_MINUTE, 0, 1_000_000),
        files=sorted(files),
        size=sum(len(content) for content in files.values()),
        created_by=principal.id or principal.kind,
    )
    # npm:/jsr: imports: resolved (and type-checked) now, in a build sandbox that reaches only the
    # package registries; the cache becomes part of the version's folder (functions/dependencies.py).
    if runtime == DENO and resolved:
        version.dependencies = resolved
    elif runtime == DENO and dependencies.needed(files):
        version.dependencies = dependencies.resolve(files=files, entry=entry, name=name, limits=limits_for(version))
    folder_files = dependencies.with_cache(files, version.dependencies)
    version.digest = bundles.digest_of(folder_files)  # names the folder: files and cache alike
    version.triggers = _discover_triggers(version, folder_files, env={**env, **secrets}, name=name)
    function_triggers.check(version.triggers, version.permissions)

    with transaction.atomic():
        function, _ = Function.objects.select_for_update().get_or_create(
            name=name, defaults={"since_seq": events.latest_seq()}
        )
        function.last_number += 1
        version.function = function
        version.number = function.last_number
        version.bundle = bundles.to_zip(files)
        version.save()
        function.active_version = version
        function.save(update_fields=["last_number", "active_version", "updated_at"])
        schedules.sync(name)
        sending.prewarm_on_commit(version.pk)
        transaction.on_commit(clean_bundle_folders_soon)
        audit.record(
            actor=principal,
            action="function.deploy",
            target=f"function:{name}",
            before={"version": function.last_number - 1} if function.last_number > 1 else None,
            after={
                "version": version.number,
                "digest": version.digest,
                "entry": version.entry,
                "runtime": version.runtime,
                "triggers": version.triggers,
            },
        )
    logger.info("deployed function", extra={"function": name, "version": version.number})
    return version


def _inherited_secrets(name: str) -> dict[str, str]:
    active = FunctionVersion.objects.filter(function__name=name, function__active_version=F("pk")).first()
    return _secrets_of(active) if active is not None else {}


def change_secrets(*, principal: Principal, name: str, set_values: Any, unset: Any) -> FunctionVersion:
    """Set and remove secrets: a new version with the active one's code and settings (and its
    other secrets) goes live, like any deploy. Removing a name that is not set is no error."""
    function = selectors.access_function(principal, name)
    active = function.active_version
    if active is None:
        raise NotFound(f"The function {name!r} has no active version.")
    if not isinstance(unset, list) or not all(isinstance(item, str) for item in unset):
        raise field_error("unset", DetailCode.INVALID, "unset must be a list of secret names.")
    changes = _clean_vars({"set": set_values}, "set")
    secrets = {key: value for key, value in _secrets_of(active).items() if key not in unset}
    config = {
        "name": name,
        "entry": active.entry,
        "runtime": active.runtime,
        "timeout": active.timeout,
        "memory": active.memory,
        "env": active.env,
        "secrets": {**secrets, **changes},
        "network": active.network,
        "permissions": active.permissions,
        "max_retries": active.max_retries,
        "invoke": active.invoke,
        "concurrency": active.concurrency,
        "rate_per_minute": active.rate_per_minute,
    }
    return deploy_function(
        principal=principal, config=config, archive=bytes(active.bundle), resolved=bytes(active.dependencies)
    )


def _discover_triggers(version: FunctionVersion, files: dict[str, bytes], *, env: dict[str, str], name: str) -> list:
    limits = limits_for(version)
    if version.runtime == DENO:  # `deno check` loads TypeScript's compiler in this sandbox first
        limits = replace(limits, memory_mb=max(limits.memory_mb, DENO_CHECK_MEMORY_MB))
    spec = SandboxSpec(
        key=f"deploy:{version.digest}",
        code_dir=code_dir(version.digest, files),
        entry=version.entry,
        env=env,
        network=version.network,
        limits=limits,
        function=name,
        runtime=version.runtime,
        check=version.runtime == DENO and not version.dependencies,  # else the build step checked
        dependencies=bool(version.dependencies),
    )
    if spec.check:  # the first TypeScript deploy on this machine makes the seed every check starts from
        dependencies.ensure_check_seed(isolation(), limits)
    sandbox = None
    try:
        sandbox = zygote.start(spec, isolation())
        triggers = sandbox.triggers
    except LoadFailed as failed:
        details: dict[str, Any] = {"error": failed.error, "logs": failed.logs}
        if "diagnostics" in failed.error:  # `deno check`: file, line and column of each problem
            details["diagnostics"] = failed.error["diagnostics"]
            raise DeployFailed(
                f"The function failed to type-check: {failed.error.get('message', '')}", details=details
            ) from None
        raise DeployFailed(
            f"The function failed to load: {failed.error.get('type', 'Error')}: {failed.error.get('message', '')}",
            details=details,
        ) from None
    except SandboxFailure as failure:
        raise DeployFailed(
            f"The function failed to load: {failure.message}", details={"error": failure.as_error()}
        ) from None
    finally:
        if sandbox is not None:
            sandbox.kill()
    http = [trigger for trigger in triggers if trigger.get("type") == "http"]
    if len(http) > 1:
        raise DeployFailed("A function may declare at most one @on_http handler.", details={"triggers": triggers})
    return triggers


def rollback_function(*, principal: Principal, name: str, number: Any) -> Function:
    """Make version `number` of function `name` the active one (and its schedules beat's)."""
    selectors.check_manager(principal)
    if isinstance(number, bool) or not isinstance(number, int):
        raise field_error("version", DetailCode.INVALID, "version must be a version number.")
    with transaction.atomic():
        function = _locked(name)
        version = function.versions.filter(number=number).first()
        if version is None:
            raise NotFound(f"Function {name!r} has no version {number}.")
        version.function = function
        before = {"version": function.active_version.number if function.active_version else None}
        function.active_version = version
        function.save(update_fields=["active_version", "updated_at"])
        schedules.sync(name)
        audit.record(
            actor=principal,
            action="function.rollback",
            target=f"function:{name}",
            before=before,
            after={"version": number},
        )
    return function


def delete_function(*, principal: Principal, name: str) -> None:
    selectors.check_manager(principal)
    with transaction.atomic():
        function = _locked(name)
        before = {"version": function.active_version.number if function.active_version else None}
        function.delete()
        schedules.sync(name)
        audit.record(actor=principal, action="function.delete", target=f"function:{name}", before=before)
        transaction.on_commit(clean_bundle_folders_soon)


# --- bundle folders -------------------------------------------------------------------------------
BUNDLE_FOLDER_MIN_AGE_SECONDS = 600  # a folder this young may belong to a deploy in progress
_last_cleaning = 0.0


def bundle_digests_in_use() -> set[str]:
    """Digests whose folders stay on disk: every function's active version and its last
    FUNCTIONS_BUNDLE_KEEP_VERSIONS versions (the likely rollback targets, so a rollback starts as
    fast as a deploy). Older ones are kept in the database and unpacked again if ever needed."""
    recent = FunctionVersion.objects.filter(
        number__gt=F("function__last_number") - settings.FUNCTIONS_BUNDLE_KEEP_VERSIONS
    ).values_list("digest", flat=True)
    active = Function.objects.exclude(active_version=None).values_list("active_version__digest", flat=True)
    return set(recent) | set(active)


def clean_bundle_folders(*, min_age_seconds: float = BUNDLE_FOLDER_MIN_AGE_SECONDS) -> list[str]:
    """Remove this machine's bundle folders of deleted functions and old versions, and the slots
    of pre-started sandboxes whose process is gone. A folder a live sandbox uses (in any process:
    a lease, see functions/sandbox/paths.py) is never removed. Returns the removed digests."""
    global _last_cleaning
    _last_cleaning = time.monotonic()
    in_use = bundle_digests_in_use()
    removed = remove_code_dirs(in_use, min_age_seconds=min_age_seconds)
    remove_prepared_deno_caches(in_use, min_age_seconds=min_age_seconds)
    remove_stale_check_seeds(runtime_parent(), min_age_seconds=min_age_seconds)
    dependencies.remove_stale_builds(min_age_seconds=max(min_age_seconds, 3600))
    zygote.remove_stale_slots()
    if removed:
        logger.info("removed %d unused function bundle folders", len(removed))
    return removed


def clean_bundle_folders_soon(*, at_most_every: float = 60.0) -> None:
    """Clean in a background thread (not on the request's path), at most once a minute."""
    if time.monotonic() - _last_cleaning < at_most_every:
        return

    def clean() -> None:
        try:
            clean_bundle_folders()
        except Exception:
            logger.warning("cleaning function bundle folders failed", exc_info=True)
        finally:
            connection.close()

    threading.Thread(target=clean, daemon=True, name="bundle-cleaner").start()


def _locked(name: str) -> Function:
    function = Function.objects.select_for_update().filter(name=name).first()
    if function is None:
        raise NotFound(f"There is no function named {name!r}.")
    return function


# --- invoke ---------------------------------------------------------------------------------------
def invoke_http(
    *, principal: Principal, function: Function, payload: Any, request: dict[str, Any] | None = None
) -> Invocation:
    """Record an HTTP invocation of the function's active version and send it to a worker after
    commit. `function` comes from `selectors.access_invocable(principal, …)`, which checked that
    `principal` may invoke it. `request`: the method, path, query, headers and body of a call to
    `/v1/functions/{name}/http/…` (baas_runtime/_http.py), None for `/invoke`. Returns the queued row."""
    version = function.active_version
    if version is None:  # access_invocable answers 404 for this already; kept true here for any caller
        raise NotFound(f"Function {function.name!r} has no active version.")
    isolation()  # no working sandbox: 503 sandbox_unavailable, and nothing is recorded or queued
    handler = next((t["handler"] for t in version.triggers if t.get("type") == "http"), None)
    if handler is None:
        raise Conflict(f"Function {function.name!r} has no @on_http handler.")
    auth = None if principal.is_anonymous else {"kind": principal.kind, **(principal.rules_context() or {})}
    now = timezone.now()
    invocation = Invocation(
        function=function,
        version=version,
        trigger="http",
        handler=handler,
        event={**(request or {}), "payload": payload, "auth": auth},
        invoked_by="" if principal.is_anonymous else (principal.id or ""),
        event_at=now,
        enqueued_at=now,
    )
    plainsql.insert(invocation)  # one plain INSERT: the ORM's save() cost twice as much CPU (issue #19)
    sending.run_invocations_on_commit([invocation.pk])
    return invocation


def invoke_and_wait(*, principal: Principal, name: str, payload: Any) -> Invocation:
    """Invoke function `name`'s @on_http handler as `principal` and wait for the outcome, as a
    synchronous REST invoke does (the console's "Invoke"): the finished invocation, or the
    unfinished one when its timeout and the queue's grace ran out. Must run outside a transaction.
    Raises what `access_invocable` and `invoke_http` raise."""
    function = selectors.access_invocable(principal, name)
    invocation = invoke_http(principal=principal, function=function, payload=payload)
    timeout = invocation.version.timeout + settings.FUNCTIONS_INVOKE_QUEUE_GRACE_SECONDS
    return waiting.wait_for(invocation.pk, timeout)


def retry_invocation(*, principal: Principal, invocation_id: Any) -> Invocation:
    """Queue a dead or failed invocation again (functions/delivery.py says how). Raises NotFound /
    Conflict; only the service role and staff may."""
    selectors.check_manager(principal)
    with transaction.atomic():
        invocation = delivery.retry(invocation_id)
        audit.record(
            actor=principal,
            action="invocation.retry",
            target=f"invocation:{invocation.pk}",
            after={
                "function": invocation.function.name,
                "status": invocation.status,
                "version": invocation.version.number,
            },
        )
    return invocation
