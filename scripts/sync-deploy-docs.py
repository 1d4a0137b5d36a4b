#!/usr/bin/env python3
"""Copies each deploy/ file into its fenced block of docs/forward-auth.md.

A block is the fence right after the file's first line appears: the block
whose first line equals the file's first line is replaced by the file. The
forward-auth tests fail when the page and the files differ; run this after
editing a file in deploy/.
"""
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
page = root / "docs" / "forward-auth.md"
files = ["deploy/nginx/tokengate.conf", "deploy/nginx/site.conf",
         "deploy/caddy/Caddyfile", "deploy/traefik/dynamic.yml"]
lines = page.read_text().split("\n")
for name in files:
    text = (root / name).read_text().rstrip("\n").split("\n")
    for i, line in enumerate(lines):
        if line.startswith("```") and i + 1 < len(lines) and lines[i + 1] == text[0]:
            end = next(j for j in range(i + 1, len(lines)) if lines[j] == "```")
            lines[i + 1:end] = text
            break
    else:
        sys.exit(f"no block of {name} in {page}")
page.write_text("\n".join(lines))
