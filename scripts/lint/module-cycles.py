#!/usr/bin/env python3
"""Fail when a crate's modules import each other in a circle (issue 17: no import circles).

A module is a file (`foo.rs` or `foo/mod.rs`); an edge is a `crate::a::b` or `super::x` path in
its code (comments and `#[cfg(test)] mod tests` left out) to another module that is not its own
parent or child. Paths resolve to the longest prefix that is a module, so a re-export through a
parent (`crate::store::Alert`, defined in `store/alerts.rs`) counts as an edge to the parent.
Prints every circle (Tarjan's strongly connected components) and exits 1 if there is one.

    scripts/lint/module-cycles.py core daemon tui
"""
import os
import re
import sys


def module_of(root, path):
    parts = os.path.relpath(path, root)[:-3].split("/")
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts)


def graph(crate):
    root = os.path.join(crate, "src")
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".rs")]
    mods = {module_of(root, f): f for f in files}
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        with open(path, encoding="utf-8") as fh:
            src = fh.read()
        src = re.sub(r"^\s*//.*$", "", src, flags=re.M)
        src = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", src, flags=re.S)
        parent = m.rsplit("::", 1)[0] if "::" in m else ""
        refs = re.findall(r"crate::([a-z_][a-z0-9_:]*)", src)
        refs += [(parent + "::" + r) if parent else r for r in re.findall(r"super::([a-z_][a-z0-9_]*)", src)]
        for ref in refs:
            parts = ref.split("::")
            target = next(("::".join(parts[:i]) for i in range(len(parts), 0, -1) if "::".join(parts[:i]) in mods), None)
            if not target or not m or target == m or m.startswith(target + "::") or target.startswith(m + "::"):
                continue
            edges[m].add(target)
    return edges


def circles(edges):
    index, low, stack, on, found, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return found


def main():
    bad = False
    for crate in sys.argv[1:]:
        edges = graph(crate)
        for comp in circles(edges):
            bad = True
            print(f"{crate}: modules in a circle: {', '.join(comp)}")
            for v in comp:
                print(f"  {v} -> {', '.join(sorted(w for w in edges[v] if w in comp))}")
    if not bad:
        print(f"module-cycles: no circles in {', '.join(sys.argv[1:])}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
