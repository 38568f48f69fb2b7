#!/usr/bin/env python3
"""Fails when the deployment assets name a SIDECAR_* variable the sidecar does not accept.

Every `SIDECAR_[A-Z0-9_]+` name in docker/, k8s/, docs/deploy.md and README.md must be one of
the quoted names of Sources/Sidecar/Configuration/ConfigurationVariable.swift (the loader's
list), or a rate-limit rule `SIDECAR_LIMIT_<NAME>`. The loader rejects any other SIDECAR_*
variable at start (exit 78), so a stale or misspelt name here would break a deployment.

Usage: python3 scripts/check-env-drift.py   (from anywhere; exit 0 clean, 1 drift, 2 setup error)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOADER = ROOT / "Sources/Sidecar/Configuration/ConfigurationVariable.swift"
SCANNED = ["docker", "k8s", "docs/deploy.md", "README.md"]
SKIPPED_PARTS = {".build", ".venv-tools", "node_modules", ".git"}
NAME = re.compile(r"\bSIDECAR_[A-Z0-9_]+")
# Names that are not variables on purpose, each allowed in one file only (anywhere else they fail).
EXAMPLES = {
    ("README.md", "SIDECAR_LISTN"): "the README's example of the unknown-variable error",
    ("README.md", "SIDECAR_X"): "the README's placeholder for any variable in `sidecar check` output",
}


def loader_names():
    try:
        source = LOADER.read_text(encoding="utf-8")
    except OSError as error:
        sys.exit(f"check-env-drift: cannot read the loader's list: {error}")
    names = set(re.findall(r'case\s+\w+\s*=\s*"(SIDECAR_[A-Z0-9_]+)"', source))
    prefix = re.search(r'rulePrefix\s*=\s*"(SIDECAR_[A-Z0-9_]+)"', source)
    if not names or not prefix:
        sys.exit(f"check-env-drift: no SIDECAR_* cases or rulePrefix found in {LOADER}")
    return names, prefix.group(1)


def files():
    for entry in SCANNED:
        path = ROOT / entry
        if path.is_file():
            yield path
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not SKIPPED_PARTS.intersection(child.parts):
                    yield child


def is_rule(name, prefix):
    # SIDECAR_LIMIT_<NAME>: letters, digits and _ after the prefix. A bare prefix (from the prose
    # placeholder "SIDECAR_LIMIT_<NAME>") is the placeholder itself, not a variable.
    return name.startswith(prefix)


def main():
    known, prefix = loader_names()
    unknown, seen = [], 0
    for path in files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            for match in NAME.finditer(line):
                name = match.group(0)
                seen += 1
                relative = str(path.relative_to(ROOT))
                if name in known or is_rule(name, prefix) or (relative, name) in EXAMPLES:
                    continue
                unknown.append(f"{relative}:{number}: {name}")
    if unknown:
        print(f"check-env-drift: {len(unknown)} SIDECAR_* name(s) the loader does not accept "
              f"(not in {LOADER.relative_to(ROOT)}, not {prefix}<NAME>):", file=sys.stderr)
        for where in unknown:
            print(f"  {where}", file=sys.stderr)
        return 1
    print(f"check-env-drift: ok ({seen} mentions, {len(known)} loader variables + {prefix}<NAME>)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
