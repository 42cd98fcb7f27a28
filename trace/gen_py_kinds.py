#!/usr/bin/env python3
"""Writes the trace format's enum values as Python constants for the shim.

usage: gen_py_kinds.py PROTO OUTPUT

The .proto is the one source of truth for event kinds, entity kinds and
argument flags; the shim's Python hooks read them from the module this
writes (waitgraph/_trace_kinds.py, at build time), so no number is copied by
hand. Proto3 enum values are package-wide names, hence unique.
"""
import re
import sys


def enums(proto_text):
    """(enum name, [(value name, number)]) in file order."""
    for m in re.finditer(r"^enum\s+(\w+)\s*\{(.*?)^\}", proto_text, re.S | re.M):
        values = re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*(0x[0-9A-Fa-f]+|\d+)\s*;", m.group(2), re.M)
        yield m.group(1), [(name, int(number, 0)) for name, number in values]


def render(proto_text):
    lines = ['"""Generated from trace/waitgraph_trace.proto by trace/gen_py_kinds.py:',
             'do not edit."""']
    for enum, values in enums(proto_text):
        lines += ["", "# " + enum]
        lines += ["%s = %s" % (name, hex(n) if n >= 0x100 else n) for name, n in values]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1]) as f:
        text = render(f.read())
    with open(argv[2], "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
