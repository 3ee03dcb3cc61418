#!/usr/bin/env python3
"""Summarise a test run against the results the repository expects.

    summarize.py OUT [--expected FILE] [--skips FILE]

OUT is the results directory test.sh fills: the guest's kernel log
(dmesg.txt, with KUnit's KTAP), its console (console.txt), a TAP file and
an exit status per guest program (ksft-NAME.tap, ksft-NAME.rc), the host
tests' output (host.txt) and the guest's markers (guest-done, tainted,
kmemleak.txt, ...).

What must have run is not read from the build: FILE (default
tests/expected.txt) lists every suite with the least number of test cases
it reports; a suite that is missing, reports fewer, or falls short of its
own plan fails the run. A skipped test fails the run unless the allow-list
(default tests/skips-allowed.txt) names it, with its reason.

Prints a per-suite table and the line `N passed, N failed, N skipped`;
exits 1 on any failure, missing result, unexpected skip, timeout, splat,
wrapped kernel log or taint.
"""
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TS = re.compile(r"^\[\s*\d+\.\d+\]\s?")

# bpf_filter_faults writes these to the kernel log around its fault
# injection. Between them an allocation that was made to fail may report
# it with a stack dump (warn_alloc() without __GFP_NOWARN, kmemleak's
# own bookkeeping): that "Call Trace:" is expected. Every other splat
# still fails the run, there as anywhere.
FAULTS_ON = "bpf_filter_faults: injecting faults"
FAULTS_OFF = "bpf_filter_faults: no more faults"
INJECTED_REPORT = (r"page allocation failure: |vmalloc error: |"
                   r"kmemleak: Cannot allocate ")
SPLATS = [
    r"BUG: ", r"WARNING: ", r"KASAN: ", r"Kernel panic", r"Oops",
    r"possible circular locking", r"possible recursive locking",
    r"inconsistent lock state", r"suspicious RCU usage",
    r"rcu: INFO: .* stall", r"self-detected stall", r"UBSAN: ",
    r"general protection fault", r"Call Trace:", r"refcount_t: ",
    r"kmemleak: \d+ new suspected memory leaks", r"kmemleak: .*disabled",
    r"INFO: .*detected stall", r"kernel BUG at", r"^BUG [\w.-]+ \(",
    # DETECT_HUNG_TASK, SOFTLOCKUP_DETECTOR (and the hard-lockup
    # detector, where a config has it); RCU stalls are matched above
    # ("rcu: INFO: rcu_preempt detected stalls", "... self-detected
    # stall", "INFO: rcu_tasks detected stalls")
    r"INFO: task .* blocked for more than", r"soft lockup", r"hard LOCKUP",
]

# Taint bits a passing run may set: TAINT_TEST, which KUnit sets.
TAINT_OK = 1 << 18


def read_list(path):
    """The entries of a list file: its lines split into at most three
    fields, '#' lines and blank lines left out."""
    entries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                entries.append((n, line.split(None, 2)))
    return entries


def expected_suites(path):
    """tests/expected.txt: `suite least-cases [# comment]` a line."""
    want = {}
    for n, fields in read_list(path):
        if len(fields) < 2 or not fields[1].isdigit() or \
                (len(fields) == 3 and not fields[2].startswith("#")):
            raise SystemExit("%s:%d: want 'suite cases'" % (path, n))
        want[fields[0]] = int(fields[1])
    return want


def allowed_skips(path):
    """tests/skips-allowed.txt: `suite test reason` a line."""
    allowed = {}
    if not os.path.exists(path):
        return allowed
    for n, fields in read_list(path):
        if len(fields) != 3:
            raise SystemExit("%s:%d: want 'suite test reason'" % (path, n))
        allowed[(fields[0], fields[1])] = fields[2]
    return allowed


class Run:
    def __init__(self, out):
        self.out = out
        self.rows = []      # [suite, passed, failed, skipped, note]
        self.skips = []     # (suite, test, reason)
        self.problems = []

    def read(self, name):
        path = os.path.join(self.out, name)
        if not os.path.exists(path):
            return None
        with open(path, errors="replace") as f:
            return f.read()

    def row(self, suite, p, f, s, note=""):
        self.rows.append([suite, p, f, s, note])

    def find(self, suite):
        return next((r for r in self.rows if r[0] == suite), None)

    # --- KUnit, from the kernel log ---
    def kunit(self, dmesg):
        """KTAP: 'KTAP version 1', a plan of suites '1..N', each suite's
        cases indented by four spaces after its '# Subtest:', then one
        unindented 'ok|not ok N <suite>' line."""
        lines = [TS.sub("", line, count=1) for line in dmesg.splitlines()]
        if "KTAP version 1" not in lines:
            self.problems.append("no KUnit results in the guest's kernel log")
            return
        plan = suite = None
        p = f = s = seen = 0
        skipped = []
        for line in lines[lines.index("KTAP version 1") + 1:]:
            m = re.match(r"1\.\.(\d+)$", line)
            if m and plan is None:
                plan = int(m.group(1))
                continue
            m = re.match(r"    # Subtest: (\S+)$", line)
            if m:
                suite, p, f, s, skipped = m.group(1), 0, 0, 0, []
                continue
            m = re.match(r"(    )?(not ok|ok) \d+ (\S+)(.*)$", line)
            if not m:
                continue
            skip = re.search(r"#\s*SKIP\b(.*)", m.group(4))
            if m.group(1):
                if suite is None:
                    continue
                if skip:
                    s += 1
                    skipped.append((m.group(3), skip.group(1).strip()))
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
                skipped = []
                f, note = 1, "no test cases reported"
            name = "kunit:" + m.group(3)
            self.row(name, p, f, s, note)
            self.skips += [(name, t, r) for t, r in skipped]
            suite = None
            if plan is not None and seen == plan:
                break
        if plan is None:
            self.problems.append("KUnit printed no plan of suites")
        elif seen < plan:
            self.problems.append("KUnit reported %d of %d suites"
                                 % (seen, plan))

    # --- programs run in the guest (kselftests, the oracle check) ---
    def tap(self, suite, tap, rc):
        """One program's TAP (kselftest_harness's, or the oracle's) and
        exit status."""
        p = f = s = 0
        for line in tap.splitlines():
            m = re.match(r"(not ok|ok) \d+ (\S+)(.*)$", line)
            if not m:
                continue
            skip = re.search(r"#\s*SKIP\b(.*)", m.group(3))
            if skip:
                s += 1
                self.skips.append((suite, m.group(2), skip.group(1).strip()))
            elif m.group(1) == "ok":
                p += 1
            else:
                f += 1
        note = ""
        m = re.search(r"^1\.\.(\d+)", tap, re.M)
        plan = int(m.group(1)) if m else None
        if rc in ("124", "137"):
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
        self.row(suite, p, f, s, note)

    # --- host tests ---
    def host(self, text):
        """One '== suite' section per suite: rustc/cargo test harnesses
        ('test result: ok. P passed; F failed; I ignored', once per test
        binary) or Python's unittest ('Ran N tests', then 'OK' or
        'FAILED (failures=F, errors=E)', skips in parentheses); a
        'FAILED: suite' line from host-tests.sh fails the suite."""
        totals = {}
        order = []
        suite = None
        for line in text.splitlines():
            m = re.match(r"== (\S+)$", line)
            if m:
                suite = m.group(1)
                if suite not in totals:
                    totals[suite] = [0, 0, 0]
                    order.append(suite)
                continue
            if suite is None:
                continue
            t = totals[suite]
            m = re.match(r"test result: \w+\. (\d+) passed; (\d+) failed; "
                         r"(\d+) ignored", line)
            if m:
                for i in range(3):
                    t[i] += int(m.group(i + 1))
                continue
            m = re.match(r"Ran (\d+) tests? in ", line)
            if m:
                t[0] += int(m.group(1))
                continue
            m = re.match(r"(OK|FAILED)(?: \((.*)\))?$", line)
            if m and m.group(2):
                for k, v in re.findall(r"(\w+)=(\d+)", m.group(2)):
                    v = int(v)
                    t[0] -= v
                    t[2 if k in ("skipped", "expected_failures") else 1] += v
        failed = set(re.findall(r"^FAILED: (\S+)$", text, re.M))
        for suite in order:
            p, f, s = totals[suite]
            note = ""
            if suite in failed and f == 0:
                f, note = 1, "did not build, or failed"
            elif p + f + s == 0:
                f, note = 1, "no results"
            self.row("host:" + suite, p, f, s, note)
        for suite in sorted(failed - set(order)):
            self.row("host:" + suite, 0, 1, 0, "did not build, or failed")

    # --- the kernel: splats, a wrapped log, taint ---
    def splats(self, text, where):
        injecting = False
        report = -1000      # the line of the last expected failure report
        for n, line in enumerate(text.splitlines()):
            line = TS.sub("", line, count=1)
            if FAULTS_ON in line:
                injecting = True
            elif FAULTS_OFF in line:
                injecting = False
            elif injecting and re.search(INJECTED_REPORT, line):
                report = n
            if injecting and n - report <= 8 and "Call Trace:" in line:
                continue
            for pat in SPLATS:
                if re.search(pat, line):
                    self.problems.append("kernel (%s): %s"
                                         % (where, line.strip()))
                    break

    def check_log(self, dmesg):
        first = TS.sub("", dmesg.lstrip().split("\n", 1)[0], count=1)
        if not first.startswith("Linux version "):
            self.problems.append(
                "the kernel log wrapped: dmesg does not start at the boot "
                "banner, so splats may have been lost (raise "
                "CONFIG_LOG_BUF_SHIFT)")

    def guest(self):
        vng_exit = (self.read("vng-exit") or "").strip()
        done = self.read("guest-done") is not None
        if vng_exit == "124":
            self.problems.append("the guest timed out")
        elif done and vng_exit != "0":
            self.problems.append("vng exited with status %s" % vng_exit)
        for name, what in (("setup-error", "guest setup"),
                           ("kmemleak-error", "kmemleak")):
            err = self.read(name)
            if err is not None:
                self.problems.append("%s: %s" % (what, err.strip()))
        taint = (self.read("tainted") or "").strip()
        if done and not taint.isdigit():
            self.problems.append("the guest did not record its taint flags")
        elif taint.isdigit() and int(taint) & ~TAINT_OK:
            self.problems.append("the kernel is tainted (%s): see dmesg"
                                 % taint)
        if self.read("expect-kmemleak") is not None and done and \
                self.read("kmemleak.txt") is None:
            self.problems.append("kmemleak is configured but did not scan")
        if not done:
            self.problems.append(
                "the guest did not finish (vng exit %s); see %s"
                % (vng_exit or "?", os.path.join(self.out, "console.txt")))
        dmesg = self.read("dmesg.txt")
        if dmesg is not None:
            self.check_log(dmesg)
            self.kunit(dmesg)
            self.splats(dmesg, "dmesg")
        elif done:
            self.problems.append("the guest left no kernel log")
        console = self.read("console.txt")
        if console is not None:
            self.splats(console, "console")
        names = sorted(f[5:-4] for f in os.listdir(self.out)
                       if f.startswith("ksft-") and f.endswith(".tap"))
        for name in names:
            kind = {"policy-oracle": "oracle",
                    "policy-record": "record"}.get(name, "kselftest")
            if name.startswith("policy-fuzz"):
                kind = "fuzz"
            self.tap("%s:%s" % (kind, name), self.read("ksft-%s.tap" % name),
                     (self.read("ksft-%s.rc" % name) or "?").strip())
        leaks = self.read("kmemleak.txt")
        if leaks:
            n = leaks.count("unreferenced object")
            self.problems.append("kmemleak: %d unreferenced object(s), see %s"
                                 % (n, os.path.join(self.out, "kmemleak.txt")))

    def against(self, want, allowed):
        """Every expected suite present with at least its cases; every
        skip allowed."""
        for suite, least in want.items():
            r = self.find(suite)
            if r is None:
                self.row(suite, 0, 1, 0, "missing")
                continue
            n = r[1] + r[2] + r[3]
            if n < least:
                r[2] += least - n
                r[4] = "; ".join(x for x in (r[4], "%d of at least %d cases"
                                             % (n, least)) if x)
        for suite, test, reason in self.skips:
            if (suite, test) not in allowed:
                self.problems.append("unexpected skip: %s %s (%s)"
                                     % (suite, test, reason or "no reason"))

    def report(self):
        seen = []
        for p in self.problems:
            if p not in seen:
                seen.append(p)
        problems = seen[:20] + (["... %d more" % (len(seen) - 20)]
                                if len(seen) > 20 else [])
        w = max([len(r[0]) for r in self.rows] + [5])
        print()
        print("%-*s %7s %7s %7s" % (w, "suite", "passed", "failed", "skipped"))
        for suite, p, f, s, note in self.rows:
            print("%-*s %7d %7d %7d%s" % (w, suite, p, f, s,
                                           ("  " + note) if note else ""))
        passed = sum(r[1] for r in self.rows)
        failed = sum(r[2] for r in self.rows) + len(seen)
        skipped = sum(r[3] for r in self.rows)
        for p in problems:
            print("FAIL: " + p)
        for suite, p, f, s, note in self.rows:
            if f:
                print("FAIL: %s: %d failed%s"
                      % (suite, f, (" (" + note + ")") if note else ""))
        print()
        print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
        return 1 if failed or not self.rows else 0


def main(argv):
    args = argv[1:]
    opts = {"--expected": os.path.join(TOP, "tests", "expected.txt"),
            "--skips": os.path.join(TOP, "tests", "skips-allowed.txt")}
    out = None
    while args:
        a = args.pop(0)
        if a in opts and args:
            opts[a] = args.pop(0)
        elif out is None and not a.startswith("-"):
            out = a
        else:
            raise SystemExit(__doc__.split("\n\n")[1])
    if out is None:
        raise SystemExit(__doc__.split("\n\n")[1])
    want = expected_suites(opts["--expected"])
    allowed = allowed_skips(opts["--skips"])
    run = Run(out)
    h = run.read("host.txt")
    if h is not None:
        run.host(h)
    if any(not s.startswith("host:") for s in want) or \
            run.read("vng-exit") is not None:
        run.guest()
    run.against(want, allowed)
    return run.report()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
