"""A TypeScript function's `deno.json` (or `deno.jsonc`): what of it Deno is given, read the same
way at deploy (functions/services.py refuses a bad one with 400 `deploy_failed`) and in the sandbox
(baas_runtime/_deno_launch.py writes the cleaned copy that `deno check`, the dependency step and
`deno run` use).

Honoured: `imports` (and an `importMap` file inside the bundle, merged under them) and the
`compilerOptions` that only change how TypeScript is checked and transpiled (`strict`, `lib`,
`jsx`…). Ignored, never acted on: the keys of other tools (`tasks` are never run, `fmt`, `lint`,
`test`, `lock`: the lock file is never read or written…). Refused: anything that would widen what the
function may do or reach outside its bundle (`permissions`, `unstable`, `nodeModulesDir`, `vendor`,
`workspace`, an import map or a mapping or a `types` file outside the bundle) and any key this file
does not know, so that a key a later Deno adds is a clear error, not a silent grant.

Standard library only: it runs inside the sandbox, before Deno starts.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from typing import Any

NAMES = ("deno.json", "deno.jsonc")

# Keys of other tools or of publishing: harmless, and not passed on.
IGNORED = frozenset(
    {"$schema", "name", "version", "description", "license", "exports", "tasks", "fmt", "lint", "test", "bench"}
    | {"publish", "exclude", "lock", "compile"}
)
# Why the known dangerous keys are refused (any other unknown key is refused too).
REFUSED = {
    "permissions": "Deno permissions are the platform's: a function's are fixed (see docs/functions.md)",
    "unstable": "unstable Deno APIs are not offered to functions",
    "nodeModulesDir": "a function gets no node_modules folder: npm packages are resolved at deploy",
    "vendor": "a function gets no vendor folder: dependencies are resolved at deploy",
    "workspace": "a function is one bundle, not a workspace",
    "links": "linked packages would reach outside the bundle",
    "patch": "patched packages would reach outside the bundle",
    "scopes": "scoped import maps are not supported: use `imports`",
    "nodeModules": "a function gets no node_modules folder",
}
_BOOLEAN_OPTIONS = frozenset(
    {
        "allowJs", "allowUnreachableCode", "allowUnusedLabels", "checkJs", "emitDecoratorMetadata",
        "erasableSyntaxOnly", "exactOptionalPropertyTypes", "experimentalDecorators", "isolatedDeclarations",
        "noErrorTruncation", "noFallthroughCasesInSwitch", "noImplicitAny", "noImplicitOverride",
        "noImplicitReturns", "noImplicitThis", "noPropertyAccessFromIndexSignature", "noStrictGenericChecks",
        "noUncheckedIndexedAccess", "noUnusedLocals", "noUnusedParameters", "strict", "strictBindCallApply",
        "strictBuiltinIteratorReturn", "strictFunctionTypes", "strictNullChecks", "strictPropertyInitialization",
        "useUnknownInCatchVariables", "verbatimModuleSyntax",
    }
)  # fmt: skip
_JSX = ("react", "react-jsx", "react-jsxdev", "precompile", "preserve")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]{0,99}$")
_LIB = re.compile(r"^[A-Za-z0-9.]{1,60}$")
# Specifiers a compiler option may name (`types`, `jsxImportSource`): a file of the bundle, a
# package resolved at deploy, or a bare name the import map resolves.
_BARE = re.compile(r"^@?[A-Za-z0-9][A-Za-z0-9._/@-]{0,199}$")


class ConfigError(ValueError):
    """The bundle's deno.json asks for something a function may not have; `key` names it."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


def config_name(exists: Callable[[str], bool]) -> str | None:
    """The bundle's config file (deno.json first, as Deno looks), or None."""
    return next((name for name in NAMES if exists(name)), None)


def parse(text: str, name: str) -> dict[str, Any]:
    """A deno.json's object; deno.jsonc's comments and trailing commas allowed."""
    try:
        config = json.loads(_strip_jsonc(text) if name.endswith(".jsonc") else text)
    except ValueError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{name} must hold a JSON object.")
    return config


def clean(
    config: dict[str, Any], name: str, read: Callable[[str], bytes | None], *, strict: bool = True
) -> dict[str, Any]:
    """The part of `config` Deno is given: {"imports": {…}, "compilerOptions": {…}}, targets as
    written (relative to the bundle's root). `read(path)` gives a bundle file's bytes, or None.
    Raises ConfigError naming the key at fault; with `strict=False` (the launcher, for a version
    deployed before a rule existed) what is not allowed is left out instead: never passed to Deno."""

    def part(make: Callable[[], Any], empty: Any) -> Any:
        try:
            return make()
        except ConfigError:
            if strict:
                raise
            return empty

    for key in config:
        if key in ("imports", "compilerOptions", "importMap") or key in IGNORED or _harmless(key, config[key]):
            continue
        if strict:
            reason = REFUSED.get(key, "it is not a key baas knows; remove it")
            raise ConfigError(f'{name}: "{key}" is not allowed in a function ({reason}).', key)
    imports: dict[str, str] = {}
    if "importMap" in config:
        imports.update(part(lambda: _import_map_file(config["importMap"], name, read), {}))
    imports.update(part(lambda: _imports(config.get("imports", {}), name, ""), {}))
    options = part(lambda: _compiler_options(config.get("compilerOptions", {}), name), {})
    return {"imports": imports, "compilerOptions": options}


def _harmless(key: str, value: Any) -> bool:
    """A refused key set to what functions get anyway: no node_modules, no vendor folder."""
    return (key == "nodeModulesDir" and value in ("none", False)) or (key == "vendor" and value is False)


def specifiers(cleaned: dict[str, Any]) -> list[str]:
    """Every specifier the cleaned config names: import targets, `types`, the JSX import source."""
    options = cleaned.get("compilerOptions", {})
    found = list(cleaned.get("imports", {}).values()) + list(options.get("types", []))
    for key in ("jsxImportSource", "jsxImportSourceTypes"):
        if key in options:
            found.append(options[key])
    return found


def for_deno(cleaned: dict[str, Any], code_dir: str) -> dict[str, Any]:
    """The cleaned config with the bundle's relative targets made absolute (the file Deno reads
    lives elsewhere, in the sandbox's private folder)."""

    def absolute(target: str) -> str:
        if not target.startswith(("./", "../")):
            return target
        path = posixpath.normpath(posixpath.join(code_dir, target))
        return "file://" + path + ("/" if target.endswith("/") else "")

    options = dict(cleaned.get("compilerOptions", {}))
    if "types" in options:
        options["types"] = [absolute(item) for item in options["types"]]
    for key in ("jsxImportSource", "jsxImportSourceTypes"):
        if key in options:
            options[key] = absolute(options[key])
    return {
        "imports": {key: absolute(value) for key, value in cleaned.get("imports", {}).items()},
        "compilerOptions": options,
    }


# --- the parts ---------------------------------------------------------------------------------------------
def _import_map_file(value: Any, name: str, read: Callable[[str], bytes | None]) -> dict[str, str]:
    where = _inside_bundle(value, "", name, "importMap")
    if not where or where.endswith("/"):
        raise ConfigError(f'{name}: "importMap" must be a JSON file of the bundle (a relative path).', "importMap")
    data = read(where)
    if data is None:
        raise ConfigError(f'{name}: "importMap" names {value!r}, which is not in the bundle.', "importMap")
    try:
        content = json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"{where} (the import map) is not valid JSON: {exc}", "importMap") from None
    if not isinstance(content, dict) or not set(content) <= {"imports"}:
        raise ConfigError(f'{where} (the import map) may hold only "imports".', "importMap")
    return _imports(content.get("imports", {}), where, posixpath.dirname(where))


def _imports(value: Any, name: str, base: str) -> dict[str, str]:
    """Mappings to a file or folder of the bundle (made relative to its root), or to a package or
    URL (resolved at deploy by the dependency step, which reaches only the package registries)."""
    if not isinstance(value, dict):
        raise ConfigError(f'{name}: "imports" must be an object of {{specifier: target}}.', "imports")
    result: dict[str, str] = {}
    for key, target in value.items():
        if not isinstance(target, str) or not key or len(key) > 200:
            raise ConfigError(f'{name}: the mapping of {key!r} in "imports" must be a string.', "imports")
        if target.startswith(("npm:", "jsr:", "https://", "http://", "node:")):
            result[key] = target
            continue
        where = _inside_bundle(target, base, name, "imports")
        if where is None:
            raise ConfigError(
                f'{name}: "imports" maps {key!r} to {target!r}: a mapping must be a relative path inside '
                "the bundle, or an npm:, jsr: or https: specifier.",
                "imports",
            )
        result[key] = "./" + where
    return result


def _inside_bundle(target: Any, base: str, name: str, key: str) -> str | None:
    """A relative path's place in the bundle (`lib/`, `x.ts`), or None if it is no relative path;
    ConfigError if it leads outside the bundle."""
    if not isinstance(target, str) or not target.startswith(("./", "../")) or "\\" in target:
        return None
    joined = posixpath.normpath(posixpath.join(base or ".", target))
    if joined == ".." or joined.startswith(("../", "/")):
        raise ConfigError(f'{name}: "{key}" names {target!r}, which is outside the bundle.', key)
    if joined == ".":
        return "" if target.endswith("/") else None  # the bundle's root folder
    return joined + ("/" if target.endswith("/") else "")


def _compiler_options(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f'{name}: "compilerOptions" must be an object.', "compilerOptions")
    options: dict[str, Any] = {}
    for key, item in value.items():
        problem = _option_problem(key, item)
        if problem:
            raise ConfigError(f'{name}: compilerOptions "{key}" {problem}.', f"compilerOptions.{key}")
        if key == "types":
            item = [_specifier(entry, name, key) for entry in item]
        elif key in ("jsxImportSource", "jsxImportSourceTypes"):
            item = _specifier(item, name, key)
        options[key] = item
    return options


def _option_problem(key: str, item: Any) -> str | None:
    if key in _BOOLEAN_OPTIONS:
        return None if isinstance(item, bool) else "must be true or false"
    if key == "jsx":
        return None if item in _JSX else f"must be one of {', '.join(_JSX)}"
    if key in ("jsxFactory", "jsxFragmentFactory"):
        return None if isinstance(item, str) and _IDENTIFIER.match(item) else "must be a name such as h"
    if key == "lib":
        ok = isinstance(item, list) and all(isinstance(entry, str) and _LIB.match(entry) for entry in item)
        return None if ok else 'must be a list of library names such as "deno.window", "dom"'
    if key == "jsxPrecompileSkipElements":
        ok = isinstance(item, list) and all(isinstance(entry, str) and _IDENTIFIER.match(entry) for entry in item)
        return None if ok else "must be a list of element names"
    if key == "types":
        return None if isinstance(item, list) and all(isinstance(entry, str) for entry in item) else "must be a list"
    if key in ("jsxImportSource", "jsxImportSourceTypes"):
        return None if isinstance(item, str) else "must be a specifier"
    return "is not supported in a function (it would change more than how TypeScript is checked)"


def _specifier(item: str, name: str, key: str) -> str:
    if item.startswith(("npm:", "jsr:", "https://", "http://")):
        return item
    where = _inside_bundle(item, "", name, f"compilerOptions.{key}")
    if where is not None:
        return "./" + where
    if _BARE.match(item) and ":" not in item:
        return item  # resolved through the import map, or a type error at the check
    raise ConfigError(
        f'{name}: compilerOptions "{key}" names {item!r}: it must be a relative path inside the bundle, '
        "a name the import map resolves, or an npm:, jsr: or https: specifier.",
        f"compilerOptions.{key}",
    )


def _strip_jsonc(text: str) -> str:
    """JSON with comments (// and /* */) and trailing commas → JSON, strings left alone."""
    out: list[str] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == '"':
            end = index + 1
            while end < length and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[index : end + 1])
            index = end + 1
        elif text.startswith("//", index):
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
        elif text.startswith("/*", index):
            close = text.find("*/", index + 2)
            index = length if close < 0 else close + 2
        else:
            out.append(char)
            index += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))
