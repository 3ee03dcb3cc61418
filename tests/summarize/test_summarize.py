#!/usr/bin/env python3
"""Tests of scripts/summarize.py: a results directory as a complete run
leaves it passes; each way a run can fall short of tests/expected.txt, or
hide a kernel problem, makes it fail and name the cause.

The directories are built from the repository's own expected list, so the
complete one is exactly what `make test` must produce.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUMMARIZE = os.path.join(TOP, "scripts", "summarize.py")
EXPECTED = os.path.join(TOP, "tests", "expected.txt")

sys.path.insert(0, os.path.join(TOP, "scripts"))
import summarize  # noqa: E402

WANT = summarize.expected_suites(EXPECTED)


def kind(suite):
    return suite.split(":", 1)


class Results:
    """A results directory as test.sh and guest.sh leave it."""

    def __init__(self, root):
        self.dir = root
        self.kunit = {}     # suite -> list of case lines
        self.taps = {}      # program -> (plan, list of result lines, rc)
        self.host = {}      # suite -> text of its section
        for suite, n in WANT.items():
            k, name = kind(suite)
            if k == "kunit":
                self.kunit[name] = ["ok %d case_%d" % (i, i)
                                    for i in range(1, n + 1)]
            elif k in ("kselftest", "oracle", "record", "fuzz"):
                self.taps[name] = (n, ["ok %d fixture.test_%d" % (i, i)
                                       for i in range(1, n + 1)], "0")
            elif k == "host":
                if name == "summarize":
                    self.host[name] = "Ran %d tests in 0.500s\n\nOK\n" % n
                else:
                    self.host[name] = ("test result: ok. %d passed; 0 failed;"
                                       " 0 ignored; 0 measured; 0 filtered "
                                       "out; finished in 0.01s\n" % n)
        self.banner = "Linux version 6.12.117 (root@host) #1 SMP"
        self.dmesg_extra = []
        self.console = ["guest: 6.12.117, 2 cpus", "guest: io_uring/nop"]
        self.files = {"vng-exit": "0\n", "guest-done": "guest: done\n",
                      "tainted": "262144\n", "expect-kmemleak": "",
                      "kmemleak.txt": ""}

    def write(self):
        def w(name, text):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

        lines = [self.banner, "Command line: console=ttyS0"]
        lines += ["KTAP version 1", "1..%d" % len(self.kunit)]
        for i, (suite, cases) in enumerate(self.kunit.items(), 1):
            lines += ["    KTAP version 1", "    # Subtest: " + suite,
                      "    1..%d" % len(cases)]
            lines += ["    " + c for c in cases]
            lines.append("ok %d %s" % (i, suite))
        lines += self.dmesg_extra
        w("dmesg.txt", "".join("[%5d.%06d] %s\n" % (i // 1000, i % 1000, l)
                               for i, l in enumerate(lines)))
        w("console.txt", "\n".join(self.console) + "\n")
        for name, (plan, results, rc) in self.taps.items():
            w("ksft-%s.tap" % name,
              "TAP version 13\n1..%d\n%s\n" % (plan, "\n".join(results)))
            w("ksft-%s.rc" % name, rc + "\n")
        w("host.txt", "".join("== %s\n%s" % kv for kv in self.host.items()))
        for name, text in self.files.items():
            if text is not None:
                w(name, text)


class Summarize(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="summarize-test.")
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.out)
        self.skips = os.path.join(self.tmp, "skips-allowed.txt")
        with open(self.skips, "w") as f:
            f.write("# none\n")
        self.r = Results(self.out)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_it(self):
        self.r.write()
        p = subprocess.run([sys.executable, SUMMARIZE, self.out,
                            "--expected", EXPECTED, "--skips", self.skips],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        return p.returncode, p.stdout

    def fails(self, *words):
        rc, text = self.run_it()
        self.assertEqual(1, rc, text)
        last = text.strip().splitlines()[-1]
        self.assertRegex(last, r"^\d+ passed, [1-9]\d* failed, \d+ skipped$")
        for w in words:
            self.assertIn(w, text)
        return text

    def first(self, k):
        return next(kind(s)[1] for s in WANT if kind(s)[0] == k)

    def test_complete_run_passes(self):
        rc, text = self.run_it()
        self.assertEqual(0, rc, text)
        self.assertRegex(text.strip().splitlines()[-1],
                         r"^%d passed, 0 failed, 0 skipped$" % sum(WANT.values()))

    def test_expected_list_covers_every_kind(self):
        kinds = {kind(s)[0] for s in WANT}
        self.assertEqual({"kunit", "kselftest", "oracle", "record", "fuzz",
                          "host"}, kinds)
        for suite in ("kunit:io_uring_bpf_validate", "kunit:io_uring_bpf_chain",
                      "kunit:io_uring_bpf_set", "kunit:rust_kernel_kunit",
                      "kunit:rust_doctests_kernel", "oracle:policy-oracle",
                      "record:policy-record", "fuzz:policy-fuzz",
                      "host:policy", "host:summarize"):
            self.assertIn(suite, WANT)

    def test_missing_kunit_suite_fails(self):
        del self.r.kunit["io_uring_bpf_chain"]
        self.fails("kunit:io_uring_bpf_chain", "missing")

    def test_kunit_suite_short_of_its_cases_fails(self):
        self.r.kunit["io_uring_bpf_set"].pop()
        self.fails("kunit:io_uring_bpf_set", "cases")

    def test_kunit_skip_fails(self):
        cases = self.r.kunit["rust_doctests_kernel"]
        cases[0] = cases[0] + " # SKIP not this time"
        self.fails("unexpected skip: kunit:rust_doctests_kernel case_1")

    def test_missing_kselftest_fails(self):
        name = self.first("kselftest")
        del self.r.taps[name]
        self.fails("kselftest:" + name, "missing")

    def test_short_plan_fails(self):
        name = self.first("kselftest")
        plan, results, rc = self.r.taps[name]
        self.r.taps[name] = (plan, results[:-1], rc)
        self.fails("kselftest:" + name, "results missing")

    def test_kselftest_short_of_listed_cases_fails(self):
        # consistent in itself (plan and results agree), but a test is gone
        name = self.first("kselftest")
        plan, results, rc = self.r.taps[name]
        self.r.taps[name] = (plan - 1, results[:-1], rc)
        self.fails("kselftest:" + name, "of at least %d cases" % plan)

    def test_unexpected_skip_fails(self):
        name = self.first("kselftest")
        plan, results, rc = self.r.taps[name]
        results[0] = "ok 1 fixture.test_1 # SKIP no IPv6 on loopback"
        self.fails("unexpected skip: kselftest:%s fixture.test_1" % name,
                   "no IPv6 on loopback")

    def test_allowed_skip_passes(self):
        name = self.first("kselftest")
        plan, results, rc = self.r.taps[name]
        results[0] = "ok 1 fixture.test_1 # SKIP reviewed reason"
        with open(self.skips, "w") as f:
            f.write("kselftest:%s fixture.test_1 a reviewed reason\n" % name)
        rc, text = self.run_it()
        self.assertEqual(0, rc, text)
        self.assertTrue(text.strip().endswith(", 1 skipped"), text)

    def test_all_skipped_fails(self):
        # the case: one unrelated KUnit suite, every selftest
        # skipped, a one-test oracle run
        self.r.kunit = {"unrelated": ["ok 1 only"]}
        for name, (plan, results, rc) in list(self.r.taps.items()):
            self.r.taps[name] = (plan, ["ok %d t%d # SKIP" % (i, i)
                                        for i in range(1, plan + 1)], rc)
        self.r.taps["policy-oracle"] = (1, ["ok 1 one"], "0")
        self.fails("missing", "unexpected skip", "oracle:policy-oracle")

    def test_failed_test_fails(self):
        name = self.first("kselftest")
        plan, results, rc = self.r.taps[name]
        results[-1] = "not ok %d fixture.test_%d" % (plan, plan)
        self.r.taps[name] = (plan, results, "1")
        self.fails("kselftest:%s: 1 failed" % name)

    def test_timed_out_program_fails(self):
        name = self.first("kselftest")
        plan, results, rc = self.r.taps[name]
        self.r.taps[name] = (plan, results, "124")
        self.fails("timed out")

    def test_splat_in_dmesg_fails(self):
        self.r.dmesg_extra = ["BUG: KASAN: slab-use-after-free in foo+0x1/0x2"]
        self.fails("kernel (dmesg): BUG: KASAN")

    INJECTED = ["bpf_filter_faults: injecting faults",
                "vmalloc error: size 4096, vm_struct allocation failed, "
                "mode:0xcc0(GFP_KERNEL), nodemask=(null)",
                "CPU: 0 UID: 0 PID: 77 Comm: bpf_filter_faul",
                "Call Trace:", " <TASK>", " warn_alloc+0xf4/0x110"]

    def test_injected_allocation_failure_report_passes(self):
        self.r.dmesg_extra = self.INJECTED + ["bpf_filter_faults: no more faults"]
        rc, text = self.run_it()
        self.assertEqual(0, rc, text)

    def test_other_splat_while_injecting_fails(self):
        self.r.dmesg_extra = self.INJECTED + [
            "BUG: KASAN: slab-use-after-free in foo+0x1/0x2",
            "bpf_filter_faults: no more faults"]
        self.fails("kernel (dmesg): BUG: KASAN")

    def test_call_trace_after_injection_ends_fails(self):
        self.r.dmesg_extra = ["bpf_filter_faults: injecting faults",
                              "bpf_filter_faults: no more faults"] + \
            self.INJECTED[1:]
        self.fails("kernel (dmesg): Call Trace:")

    def test_splat_only_in_console_fails(self):
        self.r.console.append("[  12.345678] WARNING: CPU: 1 PID: 7 at "
                              "io_uring/io_uring.c:100 io_foo+0x1/0x2")
        self.fails("kernel (console): WARNING: CPU: 1")

    def test_hung_task_fails(self):
        self.r.console.append("INFO: task kworker/0:1:12 blocked for more "
                              "than 120 seconds.")
        self.fails("blocked for more than")

    def test_soft_lockup_fails(self):
        self.r.dmesg_extra = ["watchdog: BUG: soft lockup - CPU#0 stuck for "
                              "22s! [bpf_filter:99]"]
        self.fails("soft lockup")

    def test_rcu_stall_fails(self):
        self.r.dmesg_extra = ["rcu: INFO: rcu_preempt detected stalls on "
                              "CPUs/tasks:"]
        self.fails("rcu_preempt detected stalls")

    def test_rcu_boot_messages_pass(self):
        self.r.dmesg_extra = ["rcu: \tRCU CPU stall warnings timeout set to "
                              "60 (rcu_cpu_stall_timeout)."]
        rc, text = self.run_it()
        self.assertEqual(0, rc, text)

    def test_wrapped_log_fails(self):
        self.r.banner = "io_uring: something printed after the banner"
        self.fails("the kernel log wrapped")

    def test_missing_host_suite_fails(self):
        del self.r.host["policy"]
        self.fails("host:policy", "missing")

    def test_failed_host_suite_fails(self):
        self.r.host["policy"] += "FAILED: policy\n"
        self.fails("host:policy")

    def test_unittest_failure_fails(self):
        n = WANT["host:summarize"]
        self.r.host["summarize"] = ("Ran %d tests in 0.5s\n\nFAILED "
                                    "(failures=1)\n" % n)
        self.fails("host:summarize: 1 failed")

    def test_taint_fails(self):
        self.r.files["tainted"] = "%d\n" % ((1 << 18) | (1 << 9))
        self.fails("tainted")

    def test_guest_timeout_fails(self):
        self.r.files["vng-exit"] = "124\n"
        self.r.files["guest-done"] = None
        self.fails("the guest timed out", "did not finish")

    def test_kmemleak_report_fails(self):
        self.r.files["kmemleak.txt"] = "unreferenced object 0xffff8880 (size 64):\n"
        self.fails("kmemleak: 1 unreferenced")

    def test_kmemleak_not_scanned_fails(self):
        self.r.files["kmemleak.txt"] = None
        self.fails("kmemleak is configured but did not scan")


if __name__ == "__main__":
    unittest.main()
