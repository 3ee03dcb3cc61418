#!/usr/bin/env python3
"""Summarise a test run: KUnit (from the guest's dmesg), kselftests and
the policy crate's oracle check (TAP written by guest.sh), host tests, and
kernel splats.

Prints a per-suite table and the line `N passed, N failed, N skipped`;
exits 1 on any failure, missing result, timeout, splat or taint.
"""
import os
import re
import sys

out = sys.argv[1]
rows = []  # (suite, passed, failed, skipped, note)
problems = []


def read(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    with open(path, errors="replace") as f:
        return f.read()


TS = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def kunit(dmesg):
    """KTAP in the kernel log: 'KTAP version 1', a plan of suites '1..N',
    each suite's test cases indented by four spaces after its
    '# Subtest:', then one unindented 'ok|not ok N <suite>' line. A suite
    that reports no result line, or 'not ok', fails."""
    lines = [TS.sub("", line, count=1) for line in dmesg.splitlines()]
    if "KTAP version 1" not in lines:
        problems.append("no KUnit results in the guest's kernel log")
        return
    plan = suite = None
    p = f = s = seen = 0
    for line in lines[lines.index("KTAP version 1") + 1:]:
        m = re.match(r"1\.\.(\d+)$", line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        m = re.match(r"    # Subtest: (\S+)$", line)
        if m:
            suite, p, f, s = m.group(1), 0, 0, 0
            continue
        m = re.match(r"(    )?(not ok|ok) \d+ (\S+)(.*)$", line)
        if not m:
            continue
        skip = "# SKIP" in m.group(4)
        if m.group(1):
            if suite is None:
                continue
            if skip:
                s += 1
            elif m.group(2) == "ok":
                p += 1
            else:
                f += 1
            continue
        seen += 1
        note = ""
        if m.group(2) == "not ok" and not skip and f == 0:
            f, note = 1, "suite failed"
        if suite != m.group(3):
            p = f = s = 0
            f, note = 1, "no test cases reported"
        rows.append(("kunit:" + m.group(3), p, f, s, note))
        suite = None
        if plan is not None and seen == plan:
            break
    if plan is None:
        problems.append("KUnit printed no plan of suites")
    elif seen < plan:
        problems.append("KUnit reported %d of %d suites" % (seen, plan))


def kselftest(name, tap, rc):
    """One kselftest program: its TAP (kselftest_harness) and exit status."""
    p = f = s = 0
    for line in tap.splitlines():
        m = re.match(r"(not ok|ok) \d+ (.*)$", line)
        if not m:
            continue
        if "# SKIP" in m.group(2):
            s += 1
        elif m.group(1) == "ok":
            p += 1
        else:
            f += 1
    note = ""
    m = re.search(r"^1\.\.(\d+)", tap, re.M)
    plan = int(m.group(1)) if m else None
    if rc == "124" or rc == "137":
        f += 1
        note = "timed out"
    elif rc not in ("0", "4") and f == 0:
        # Crashed or exited non-zero without a failing test.
        f += 1
        note = "exit status %s" % rc
    elif re.search(r"^Bail out!", tap, re.M):
        f += 1
        note = "bailed out"
    elif p + f + s == 0:
        f += 1
        note = "no results"
    elif plan is None:
        f += 1
        note = "no plan"
    elif p + f + s < plan:
        note = "%d of %d results missing" % (plan - p - f - s, plan)
        f += plan - p - f - s
    rows.append(("kselftest:" + name, p, f, s, note))


def host(text):
    """rustc --test harnesses: 'test result: ok. P passed; F failed; ...',
    one line per test binary; one row per '== suite'."""
    totals = {}
    for m in re.finditer(r"^== (\S+)$|^test result: \w+\. (\d+) passed; "
                         r"(\d+) failed; (\d+) ignored", text, re.M):
        if m.group(1):
            suite = m.group(1)
            totals.setdefault(suite, [0, 0, 0])
        else:
            t = totals[suite]
            for i in range(3):
                t[i] += int(m.group(i + 2))
    for suite, (p, f, s) in totals.items():
        note = ""
        if p + f + s == 0:
            f, note = 1, "no results"
        rows.append(("host:" + suite, p, f, s, note))
    for m in re.finditer(r"^FAILED: (\S+)$", text, re.M):
        rows.append(("host:" + m.group(1), 0, 1, 0, "did not build, or failed"))


SPLATS = [
    r"BUG: ", r"WARNING: ", r"KASAN: ", r"Kernel panic", r"Oops",
    r"possible circular locking", r"possible recursive locking",
    r"inconsistent lock state", r"suspicious RCU usage",
    r"rcu: INFO: .* stall", r"self-detected stall", r"UBSAN: ",
    r"general protection fault", r"Call Trace:", r"refcount_t: ",
    r"kmemleak: \d+ new suspected memory leaks", r"kmemleak: .*disabled",
    r"INFO: .*detected stall", r"kernel BUG at", r"^BUG [\w.-]+ \(",
    r"INFO: task .* blocked for more than", r"soft lockup", r"hard LOCKUP",
]

# Taint bits a passing run may set: TAINT_TEST, which KUnit sets.
TAINT_OK = 1 << 18


def splats(dmesg):
    hits = []
    for line in dmesg.splitlines():
        line = TS.sub("", line, count=1)
        for pat in SPLATS:
            if re.search(pat, line):
                hits.append(line.strip())
                break
    return hits


h = read("host.txt")
if h is not None:
    host(h)

vng_exit = (read("vng-exit") or "").strip()
done = read("guest-done") is not None
dmesg = read("dmesg.txt")

if vng_exit == "124":
    problems.append("the guest timed out")
elif done and vng_exit != "0":
    problems.append("vng exited with status %s" % vng_exit)
for name, what in (("setup-error", "guest setup"),
                   ("kmemleak-error", "kmemleak")):
    err = read(name)
    if err is not None:
        problems.append("%s: %s" % (what, err.strip()))
taint = (read("tainted") or "").strip()
if done and not taint.isdigit():
    problems.append("the guest did not record its taint flags")
elif taint and int(taint) & ~TAINT_OK:
    problems.append("the kernel is tainted (%s): see dmesg" % taint)
if read("expect-kmemleak") is not None and done and \
        read("kmemleak.txt") is None:
    problems.append("kmemleak is configured but did not scan")
if not done:
    problems.append("the guest did not finish (vng exit %s); see %s"
                    % (vng_exit or "?", os.path.join(out, "console.txt")))
if dmesg is not None:
    kunit(dmesg)
    for s in splats(dmesg):
        problems.append("kernel: " + s)
ksft = sorted(f[5:-4] for f in os.listdir(out)
              if f.startswith("ksft-") and f.endswith(".tap"))
for name in ksft:
    kselftest(name, read("ksft-%s.tap" % name),
              (read("ksft-%s.rc" % name) or "?").strip())
if not ksft:
    problems.append("no kselftest results")
# Guest programs test.sh expects (kselftests and policy-oracle): one that
# left no TAP is a failed suite.
for name in (read("expected") or "").split():
    if name not in ksft:
        rows.append(("kselftest:" + name, 0, 1, 0, "no result"))
for name in (read("expected-host") or "").split():
    if not any(r[0] == "host:" + name for r in rows):
        rows.append(("host:" + name, 0, 1, 0, "no result"))
leaks = read("kmemleak.txt")
if leaks:
    n = leaks.count("unreferenced object")
    problems.append("kmemleak: %d unreferenced object(s), see %s"
                    % (n, os.path.join(out, "kmemleak.txt")))

# De-duplicate splat lines but keep the first few.
seen = []
for p in problems:
    if p not in seen:
        seen.append(p)
problems = seen[:20] + (["... %d more" % (len(seen) - 20)]
                        if len(seen) > 20 else [])

w = max([len(r[0]) for r in rows] + [5])
print()
print("%-*s %7s %7s %7s" % (w, "suite", "passed", "failed", "skipped"))
for suite, p, f, s, note in rows:
    print("%-*s %7d %7d %7d%s" % (w, suite, p, f, s,
                                   ("  " + note) if note else ""))
passed = sum(r[1] for r in rows)
failed = sum(r[2] for r in rows) + len(problems)
skipped = sum(r[3] for r in rows)
for p in problems:
    print("FAIL: " + p)
for suite, p, f, s, note in rows:
    if f:
        print("FAIL: %s: %d failed%s" % (suite, f, (" (" + note + ")") if note else ""))
print()
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed or not rows else 0)
