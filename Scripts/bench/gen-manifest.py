#!/usr/bin/env python3
"""Writes a large sandlock-jobs manifest to stdout, for Scripts/bench/manifest-scale.sh and
for trying the front end at scale by hand.

    gen-manifest.py mixed 10000        # chains with needs, fan-in joins, policies with extends,
                                       # map stages with items lists, unconfined stages
    gen-manifest.py chain 100000       # s1 needs s0, s2 needs s1, ... (one level per stage)
    gen-manifest.py fanin 100000       # N - 1 independent stages and one that needs them all
    gen-manifest.py items 1000000      # one map stage over N inline items
    gen-manifest.py fat 50M            # mixed stages with long scripts, up to about that size

Every manifest is valid (warnings allowed): `validate`, `plan` and `graph` accept it.
"""
import sys


def policies(out, n):
    out.append("policies:\n")
    out.append("  base:\n    filesystem: { read: [/usr, /lib, /bin, /etc] }\n"
               "    limits: { memory: 256M, processes: 32 }\n")
    for g in range(8):
        out.append(f"  group{g}: {{ extends: base, filesystem: {{ read: [data/g{g}] }} }}\n")
    for p in range(n):
        out.append(f"  p{p}:\n    extends: [base, group{p % 8}]\n"
                   f"    filesystem: {{ read: [data/p{p}], write: [out/p{p}] }}\n")


def mixed(n, fat=False):
    out = ["version: 1\nname: scale\nworkdir: /tmp\nenv: { LANG: C.UTF-8 }\n"]
    npolicies = max(1, n // 10)
    policies(out, npolicies)
    out.append("defaults: { timeout: 10m }\nstages:\n")
    for i in range(n):
        out.append(f"  s{i}:\n")
        if fat:
            out.append(f"    description: stage {i} of a generated manifest that exercises the front end at scale\n")
        if i % 100 == 99:
            # A join: needs the 99 stages before it.
            out.append("    needs: [" + ", ".join(f"s{j}" for j in range(i - 99, i)) + "]\n")
        elif i > 0:
            out.append(f"    needs: [s{i - 1}]\n")
        if i % 50 == 7:
            pass  # no policy: the "no policy for stages" warning lists these
        else:
            out.append(f"    policy: p{i % npolicies}\n")
        if i % 10 == 3:
            out.append("    map: { over: { items: [" + ", ".join(f"item-{i}-{k}" for k in range(20)) + "] }, max_parallel: 4 }\n")
            out.append("    run: echo \"$SANDLOCK_ITEM\"\n    reduce: { run: wc -l }\n")
        elif fat:
            out.append("    env: { STAGE_INDEX: \"%d\", STAGE_GROUP: g%d }\n" % (i, i % 8))
            out.append("    timeout: 30s\n    retry: { limit: 2, on: [timeout, memory_limit], backoff: 1s }\n")
            out.append("    run: |\n"
                       f"      set -eu\n      mkdir -p out/p{i % npolicies}\n"
                       f"      for f in data/p{i % npolicies}/*.txt; do wc -w < \"$f\"; done > out/p{i % npolicies}/s{i}.txt\n"
                       f"      sort -n out/p{i % npolicies}/s{i}.txt | tail -1\n"
                       f"      # The longest count of group {i % 8} so far, kept for the report stage that reads it.\n"
                       f"      awk 'NR == 1 {{ max = $1 }} $1 > max {{ max = $1 }} END {{ print max }}' out/p{i % npolicies}/s{i}.txt\\\n"
                       f"        > out/p{i % npolicies}/s{i}.max\n"
                       f"      test -s out/p{i % npolicies}/s{i}.max || echo \"stage {i}: no counts\" >&2\n")
        else:
            out.append(f"    run: echo {i}\n")
    return out


def chain(n):
    out = ["version: 1\nname: chain\nworkdir: /tmp\n"]
    policies(out, 1)
    out.append("defaults: { policy: p0 }\nstages:\n  s0: { run: echo 0 }\n")
    for i in range(1, n):
        out.append(f"  s{i}: {{ run: echo {i}, needs: [s{i - 1}] }}\n")
    return out


def fanin(n):
    out = ["version: 1\nname: fanin\nworkdir: /tmp\n"]
    policies(out, 1)
    out.append("defaults: { policy: p0 }\nstages:\n")
    for i in range(n - 1):
        out.append(f"  s{i}: {{ run: echo {i} }}\n")
    out.append("  join:\n    run: echo done\n    needs:\n")
    for i in range(n - 1):
        out.append(f"      - s{i}\n")
    return out


def items(n):
    out = ["version: 1\nname: items\nworkdir: /tmp\n"]
    policies(out, 1)
    out.append("defaults: { policy: p0 }\nstages:\n  fan:\n    run: echo \"$SANDLOCK_ITEM\"\n"
               "    map:\n      over:\n        items:\n")
    for i in range(n):
        out.append(f"          - item-{i}\n")
    out.append("  after: { run: \"true\", needs: [fan] }\n")
    return out


def size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def main():
    kind, count = sys.argv[1], sys.argv[2]
    if kind == "fat":
        target = size(count)
        # About 700 bytes a stage; the policies add 8%.
        parts = mixed(max(1, target * 100 // 108 // 703), fat=True)
    else:
        parts = {"mixed": mixed, "chain": chain, "fanin": fanin, "items": items}[kind](int(count))
    sys.stdout.write("".join(parts))


main()
