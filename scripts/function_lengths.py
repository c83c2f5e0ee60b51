#!/usr/bin/env python3
"""Lists the functions in src/ longer than a limit (default 150 lines), longest first.

A function is a definition that starts at the beginning of a line (namespace scope, or a member
defined in a class body) and ends at its matching brace. Strings, characters and comments are
skipped when braces are counted. Exit status 1 when any function is over the limit.
"""
import os
import re
import sys

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 150
ROOT = sys.argv[2] if len(sys.argv) > 2 else "src"

START = re.compile(r"^(\s{0,2})[A-Za-z_~][\w:<>,\s\*&~\[\]]*\([^;]*$")
SKIP = re.compile(r"^\s*(if|for|while|switch|return|else|do|namespace|class|struct|enum|union)\b")


def strip(line, state):
    """The line without strings, chars and comments; `state` carries /* */ across lines."""
    out = []
    i = 0
    while i < len(line):
        if state["block"]:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out)
            state["block"] = False
            i = end + 2
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"] = True
            i += 2
            continue
        if line.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', line[i:])
            if m:
                close = ")" + m.group(1) + '"'
                end = line.find(close, i + len(m.group(0)))
                if end >= 0:
                    i = end + len(close)
                    continue
                return "".join(out)
        if c in "\"'":
            j = i + 1
            while j < len(line) and line[j] != c:
                j += 2 if line[j] == "\\" else 1
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def functions(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    state = {"block": False}
    code = [strip(l.rstrip("\n"), state) for l in lines]
    i = 0
    while i < len(code):
        line = code[i]
        if START.match(line) and not SKIP.match(line):
            # The signature may span lines: find its opening brace before any ';'.
            j = i
            sig = ""
            while j < len(code) and j < i + 12:
                sig += code[j]
                if "{" in code[j] or ";" in code[j]:
                    break
                j += 1
            if j < len(code) and "{" in code[j] and ";" not in sig.split("{")[0]:
                depth = 0
                k = j
                started = False
                while k < len(code):
                    for ch in code[k]:
                        if ch == "{":
                            depth += 1
                            started = True
                        elif ch == "}":
                            depth -= 1
                    if started and depth <= 0:
                        break
                    k += 1
                name = re.sub(r"\s+", " ", sig.split("(")[0].strip())
                yield name, i + 1, k - i + 1
                i = k + 1
                continue
        i += 1


def main():
    found = []
    for dirpath, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith((".cc", ".h")):
                path = os.path.join(dirpath, name)
                for fn, line, length in functions(path):
                    if length > LIMIT:
                        found.append((length, path, line, fn))
    for length, path, line, fn in sorted(found, reverse=True):
        print(f"{length:5d}  {path}:{line}  {fn}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
