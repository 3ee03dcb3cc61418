// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile registration input for io_uring's classic BPF filters: every
 * field of the registration input at its boundary values and at random
 * values, the input in unmapped, read-only and PROT_NONE memory, the
 * instructions unmapped by another thread during registration, and a
 * memory cgroup limit reached during registration.
 *
 * The three structs. The uapi's header (§2) defines three: struct
 * io_uring_bpf_ctx, struct io_uring_bpf_filter and struct io_uring_bpf.
 * The first is what the kernel fills in and a filter reads: no caller
 * passes it in, so it is no registration input. The three swept here are
 * struct io_uring_bpf, its filter member struct io_uring_bpf_filter, and
 * the io_uring_register() call around them: its arguments (fd, opcode,
 * arg, nr_args) and, for the blind call of §7, struct
 * io_uring_task_restriction with its struct io_uring_restriction entries.
 *
 * Each call's answer is predicted by a model of the checks in the order
 * the uapi gives them (model_bpf(), model_tres()) and of the state the
 * call leaves (struct model). After every call the test compares the
 * errno, the caller's struct (only filter.pdu_size may change), the
 * fdinfo of the ring (or of a ring created afterwards, for task calls),
 * /proc/self/status for task calls, and the verdict on NOPs, one with the
 * user_data that the filter under test would deny. So a rejected call
 * must leave the old verdict, and an accepted one must have installed
 * exactly its filter. Programs are read from fixed regions whose
 * readable extent and validity the model knows, so that a random
 * filter_ptr has a known answer.
 *
 * Random values come from a xorshift generator seeded from SEED_DEFAULT,
 * or from $IO_URING_HOSTILE_SEED; each test prints its seed, and each
 * sweep prints its calls, in "# " lines.
 *
 * Where the uapi leaves an order open, the comment at the model says what
 * is assumed and why. Section names in comments ("Bounds", ...) are those
 * of Documentation/userspace-api/io_uring_bpf_filter.rst.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

/*
 * Built with tools/include ahead of the uapi headers (as scripts/try.sh
 * does), <linux/filter.h> is tools' kernel-internal header, which has no
 * struct sock_filter: take tools' copy of the uapi one, and keep the
 * other out of helpers.h.
 */
#if __has_include("uapi/linux/filter.h")
#include "uapi/linux/filter.h"
#define __TOOLS_LINUX_FILTER_H
#endif

#include "helpers.h"
#include "../kselftest_harness.h"

#define TASK_FD		-1
/* Distinct in both 32-bit halves. */
#define DENY_UD		0x8765432112345678ULL
#define OTHER_UD	0x0123456789abcdefULL
#define KNOWN_FLAGS	(IO_URING_BPF_FILTER_DENY_REST | \
			 IO_URING_BPF_FILTER_SZ_STRICT)
/* Bounds: seccomp's MAX_INSNS_PER_PATH, and what a filter adds to it */
#define MAX_INSNS_PER_PATH	32768
#define PATH_COST	4
/* io_uring/register.c: IORING_MAX_RESTRICTIONS */
#define MAX_RESTRICTIONS \
	(IORING_RESTRICTION_LAST + IORING_REGISTER_LAST + IORING_OP_LAST)
/* include/linux/io_uring_types.h */
#define IO_RINGFD_REG_MAX	16
#define PROG_BYTES	(BPF_MAXINSNS * sizeof(struct sock_filter))

#define SEED_ENV	"IO_URING_HOSTILE_SEED"
#define SEED_DEFAULT	0x10c0ffee5eedULL
/* Random values per field in the per-field sweeps. */
#define RANDOM_PER_FIELD	8
/* Structs made of random fields. */
#define RANDOM_STRUCTS		400
#define RANDOM_TASK_STRUCTS	120
#define RANDOM_TRES		60
/* Task calls look at a new ring on every accepted and every n-th call. */
#define TASK_RING_EVERY		8
/* Mismatches logged in full per sweep; all are counted. */
#define LOGGED_FAILS	12

/* The verdict of NOPs is checked against these. */
static_assert(IORING_OP_NOP == 0, "IORING_OP_NOP");
static_assert(IORING_OP_LAST <= 64, "opcodes fit a __u64 bitmap");
static_assert(IORING_REGISTER_LAST <= 64, "register ops fit a __u64");

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static int file_write(const char *path, const char *s);
static int file_read(const char *path, char *buf, size_t size);

/* Random numbers: xorshift64*, one stream per test. */

static __u64 rng;

static __u64 seed_get(void)
{
	const char *s = getenv(SEED_ENV);

	return s ? strtoull(s, NULL, 0) : SEED_DEFAULT;
}

static void rng_init(const char *test, unsigned int stream)
{
	__u64 seed = seed_get();
	__u64 z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	rng = z ? z : 1;
	note("%s: seed %#llx stream %u (%s=%#llx repeats it)", test,
	     (unsigned long long)seed, stream, SEED_ENV,
	     (unsigned long long)seed);
}

static __u64 rnd64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static __u32 rnd_below(__u32 n)
{
	return rnd64() % n;
}

static bool chance(unsigned int num, unsigned int den)
{
	return rnd_below(den) < num;
}

/* A value of at most @bits bits, of a random width: small ones are common. */
static __u64 rnd_width(unsigned int bits)
{
	unsigned int w = 1 + rnd_below(bits);

	return w == 64 ? rnd64() : rnd64() & ((1ULL << w) - 1);
}

/* Counting calls and mismatches; in shared memory, for forked tasks too. */

struct tally {
	unsigned int calls;
	unsigned int accepted;
	unsigned int einval;
	unsigned int efault;
	unsigned int emsgsize;
	unsigned int enomem;
	unsigned int ebadf;
	unsigned int other;
	unsigned int fails;
	unsigned int next;	/* the next case, for forked tasks */
};

static struct tally *tally_new(struct __test_metadata *_metadata)
{
	struct tally *t;

	t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, t);
	memset(t, 0, sizeof(*t));
	return t;
}

static void tally_add(struct tally *t, int ret)
{
	t->calls++;
	switch (ret) {
	case 0:
		t->accepted++;
		break;
	case -EINVAL:
		t->einval++;
		break;
	case -EFAULT:
		t->efault++;
		break;
	case -EMSGSIZE:
		t->emsgsize++;
		break;
	case -ENOMEM:
		t->enomem++;
		break;
	case -EBADF:
		t->ebadf++;
		break;
	default:
		t->other++;
		break;
	}
}

static void tally_print(const char *what, const struct tally *t)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%u accepted, %u EINVAL, %u EFAULT",
		 t->accepted, t->einval, t->efault);
	note("%s: %u calls: %s, %u EMSGSIZE, %u ENOMEM, %u EBADF, %u other; %u mismatches",
	     what, t->calls, buf, t->emsgsize, t->enomem, t->ebadf, t->other,
	     t->fails);
}

static void flunk(struct __test_metadata *_metadata, struct tally *t,
		  const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (++t->fails > LOGGED_FAILS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	TH_LOG("%s", msg);
}

/*
 * Where programs come from. Each region holds BPF_MAXINSNS instructions
 * that end at a PROT_NONE page; the model knows what a read of them gives.
 */
struct regions {
	char *map;
	size_t size;
	struct sock_filter *good;	/* "ret #0": valid at any length */
	struct sock_filter *bad;	/* "ldb [0]": invalid at any length */
	char *guard[2];			/* after good, after bad */
	char *before;			/* a PROT_NONE page before both */
	long page;
};

static struct regions R;

static void regions_init(struct __test_metadata *_metadata)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t span = (PROG_BYTES + page - 1) / page * page;
	unsigned int i;

	R.page = page;
	R.size = 3 * page + 2 * span;
	R.map = mmap(NULL, R.size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	ASSERT_NE(MAP_FAILED, R.map);
	R.before = R.map;
	R.guard[0] = R.map + page + span;
	R.guard[1] = R.guard[0] + page + span;
	R.good = (void *)(R.guard[0] - PROG_BYTES);
	R.bad = (void *)(R.guard[1] - PROG_BYTES);
	ASSERT_EQ(0, mprotect(R.map + page, span, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, mprotect(R.guard[0] + page, span,
			      PROT_READ | PROT_WRITE));
	for (i = 0; i < BPF_MAXINSNS; i++) {
		R.good[i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
		R.bad[i] = (struct sock_filter)
			BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0);
	}
	/* instructions are only read */
	ASSERT_EQ(0, mprotect(R.map + page, span, PROT_READ));
	ASSERT_EQ(0, mprotect(R.guard[0] + page, span, PROT_READ));
}

static void regions_exit(void)
{
	munmap(R.map, R.size);
}

/* What reading @len instructions at @ptr gives, from the regions. */
static int insns_result(__u64 ptr, __u32 len)
{
	__u64 good = (uintptr_t)R.good, bad = (uintptr_t)R.bad;
	__u64 end = ptr + (__u64)len * sizeof(struct sock_filter);

	if (ptr >= good && ptr < good + PROG_BYTES)
		return end <= good + PROG_BYTES ? 0 : -EFAULT;
	if (ptr >= bad && ptr < bad + PROG_BYTES)
		return end <= bad + PROG_BYTES ? -EINVAL : -EFAULT;
	/* the generators give nothing else but unreadable addresses */
	return -EFAULT;
}

/*
 * Whether the model knows what a read at @ptr gives: null, above the
 * lowest 47 bits (the kernel half, non-canonical, or never mapped by
 * mmap() without a hint), a region's instructions at an instruction
 * boundary, one of its PROT_NONE pages, or a page with nothing mapped.
 */
static bool ptr_known(__u64 ptr)
{
	__u64 good = (uintptr_t)R.good, bad = (uintptr_t)R.bad;
	__u64 page = ptr & ~((__u64)R.page - 1);
	unsigned int i;
	unsigned char vec;

	if (!ptr || ptr >= 1ULL << 47)
		return true;
	if ((ptr >= good && ptr < good + PROG_BYTES) ||
	    (ptr >= bad && ptr < bad + PROG_BYTES))
		return (ptr - (ptr >= bad ? bad : good)) %
			sizeof(struct sock_filter) == 0;
	for (i = 0; i < ARRAY_SIZE(R.guard); i++)
		if (page == (uintptr_t)R.guard[i])
			return true;
	if (page == (uintptr_t)R.before)
		return true;
	return mincore((void *)(uintptr_t)page, R.page, &vec) &&
		errno == ENOMEM;
}

/*
 * A filter_ptr for @len instructions: null, in a region (aligned, ending
 * at, before or past its end), in a PROT_NONE page, below mmap_min_addr,
 * in the kernel half or non-canonical.
 */
static __u64 rnd_filter_ptr(__u32 len)
{
	__u64 n = len <= BPF_MAXINSNS ? len : 1;
	__u64 base = chance(1, 2) ? (uintptr_t)R.good : (uintptr_t)R.bad;
	__u64 v;

	switch (rnd_below(9)) {
	case 0:
		return 0;
	case 1:
		/* ends exactly at the guard page */
		return base + (BPF_MAXINSNS - n) * sizeof(struct sock_filter);
	case 2:
		/* one instruction into the guard page */
		return base + (BPF_MAXINSNS - n + 1) *
			sizeof(struct sock_filter);
	case 3:
	case 4:
		return base + rnd_below(BPF_MAXINSNS) *
			sizeof(struct sock_filter);
	case 5:
		return (uintptr_t)(chance(1, 2) ? R.guard[rnd_below(2)] :
				   R.before) + rnd_below(R.page);
	case 6:
		return rnd_below(0x10000);
	case 7:
		return 0xffff800000000000ULL | rnd64();
	default:
		v = rnd64();
		/* bit 63 set, bit 62 clear: not canonical */
		return (v | 1ULL << 63) & ~(1ULL << 62);
	}
}

/* The state a registration leaves, as the uapi defines it. */
struct model {
	unsigned int programs[IORING_OP_LAST];
	bool deny[IORING_OP_LAST];
	unsigned int cost[IORING_OP_LAST];	/* Bounds: the path so far */
	unsigned int registered;		/* Io_uring_filters */
	/* what every program on NOP does: "ret #0", or deny DENY_UD only */
	bool nop_deny_ud_only;
	/* classic restrictions (task) */
	bool restricted;
	bool op_res, reg_res;
	__u64 sqe_ops, reg_ops;
	__u8 flags_allowed, flags_required;
};

static void model_clear(struct model *m)
{
	bool ud_only = m->nop_deny_ud_only;

	memset(m, 0, sizeof(*m));
	m->nop_deny_ud_only = ud_only;
}

/* The opcode data size the kernel has for @op (K, §4). */
static __u8 pdu_size_of(__u32 op)
{
	switch (op) {
	case IORING_OP_SOCKET:
		return 12;
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2:
	case IORING_OP_CONNECT:
		return 24;
	default:
		return 0;
	}
}

/*
 * The answer to registering @b (readable, nr_args 1) on the set @m, in
 * the order of §3. *@wrote says whether the kernel must write K back into
 * filter.pdu_size: once the checks before the negotiation have passed,
 * "whatever the outcome". The write is part of the negotiation step and
 * comes before its verdict, so a fault on it is that step's answer
 * (-EFAULT, as for any copy to user memory), before -EMSGSIZE and before
 * the filter_ptr checks that follow.
 */
static int model_bpf(const struct model *m, const struct io_uring_bpf *b,
		     bool *wrote)
{
	const struct io_uring_bpf_filter *f = &b->filter;
	unsigned int i;
	int ret;
	__u8 k;

	*wrote = false;
	if (b->cmd_type != IO_URING_BPF_CMD_FILTER || b->cmd_flags || b->resv)
		return -EINVAL;
	if (f->opcode >= IORING_OP_LAST || (f->flags & ~KNOWN_FLAGS))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(f->resv); i++)
		if (f->resv[i])
			return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(f->resv2); i++)
		if (f->resv2[i])
			return -EINVAL;
	if (!f->filter_len || f->filter_len > BPF_MAXINSNS)
		return -EINVAL;
	*wrote = true;
	k = pdu_size_of(f->opcode);
	if (f->pdu_size != k &&
	    ((f->flags & IO_URING_BPF_FILTER_SZ_STRICT) || f->pdu_size > k))
		return -EMSGSIZE;
	if (!f->filter_ptr)
		return -EINVAL;
	ret = insns_result(f->filter_ptr, f->filter_len);
	if (ret)
		return ret;
	if (f->filter_len + m->cost[f->opcode] > MAX_INSNS_PER_PATH)
		return -ENOMEM;
	return 0;
}

/* What an accepted registration of @b changes. */
static void model_apply(struct model *m, const struct io_uring_bpf *b)
{
	__u32 op = b->filter.opcode, o;

	m->programs[op]++;
	m->cost[op] += b->filter.filter_len + PATH_COST;
	m->registered++;
	if (!(b->filter.flags & IO_URING_BPF_FILTER_DENY_REST))
		return;
	for (o = 0; o < IORING_OP_LAST; o++)
		if (!m->programs[o] && !m->deny[o])
			m->deny[o] = true;
}

/* cqe->res of a plain NOP with @ud on a ring in state @m. */
static int model_nop(const struct model *m, __u64 ud)
{
	if (m->op_res && (!(m->sqe_ops & 1ULL << IORING_OP_NOP) ||
			  m->flags_required))
		return -EACCES;
	if (m->deny[IORING_OP_NOP])
		return -EACCES;
	if (!m->programs[IORING_OP_NOP])
		return 0;
	return !m->nop_deny_ud_only || ud == DENY_UD ? -EACCES : 0;
}

static int model_probe(const struct model *m)
{
	if (m->reg_res && !(m->reg_ops & 1ULL << IORING_REGISTER_PROBE))
		return -EACCES;
	return 0;
}

/* What a ring's fdinfo says about its restrictions and filters. */
struct fdinfo {
	int restricted;
	int bpf_filters;
	unsigned int programs[IORING_OP_LAST];
	int deny[IORING_OP_LAST];
};

static int fdinfo_read(int fd, struct fdinfo *fi)
{
	char path[64], line[256];
	unsigned int op, n;
	FILE *f;
	int d;

	memset(fi, 0, sizeof(*fi));
	fi->restricted = -1;
	fi->bpf_filters = -1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Restricted:\t%d", &d) == 1) {
			fi->restricted = d;
		} else if (sscanf(line, "BpfFilters:\t%d", &d) == 1) {
			fi->bpf_filters = d;
		} else if (sscanf(line, "%u: opcode:%*[^,], filters:%u, deny:%d",
				  &op, &n, &d) == 3) {
			if (op >= IORING_OP_LAST) {
				fclose(f);
				return -ERANGE;
			}
			fi->programs[op] = n;
			fi->deny[op] = d;
		}
	}
	fclose(f);
	return 0;
}

/* Whether @fi is what @m says; if not, what differs, in @why. */
static bool fdinfo_matches(const struct fdinfo *fi, const struct model *m,
			   char *why, size_t size)
{
	unsigned int op, listed = 0;
	int restricted = m->op_res || m->reg_res;

	if (fi->restricted != restricted) {
		snprintf(why, size, "Restricted: %d, want %d", fi->restricted,
			 restricted);
		return false;
	}
	for (op = 0; op < IORING_OP_LAST; op++) {
		if (fi->programs[op] != m->programs[op] ||
		    fi->deny[op] != m->deny[op]) {
			snprintf(why, size,
				 "opcode %u: filters:%u, deny:%d, want filters:%u, deny:%d",
				 op, fi->programs[op], fi->deny[op],
				 m->programs[op], m->deny[op]);
			return false;
		}
		listed += m->programs[op] || m->deny[op];
	}
	if (fi->bpf_filters != (int)listed) {
		snprintf(why, size, "BpfFilters: %d, want %u", fi->bpf_filters,
			 listed);
		return false;
	}
	return true;
}

/* A NOP with @ud on @ring; 0 and its cqe->res in *@res, or -errno. */
static int nop_plain(struct io_uring *ring, __u64 ud, int *res)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_nop(sqe);
	sqe->user_data = ud;
	return submit_one(ring, ud, res);
}

static int probe_plain(int fd)
{
	static char buf[sizeof(struct io_uring_probe) +
			IORING_OP_LAST * sizeof(struct io_uring_probe_op)];
	int ret;

	memset(buf, 0, sizeof(buf));
	ret = io_uring_register(fd, IORING_REGISTER_PROBE, buf,
				IORING_OP_LAST);
	return ret < 0 ? -errno : 0;
}

/* What registrations go to: a ring, or the calling task (fd -1). */
struct tgt {
	bool task;
	struct io_uring ring;
	struct model m;
	struct tally *t;
};

/*
 * Compare everything a registration may change with the model: fdinfo,
 * the NOP verdicts and for a task, /proc/self/status, on a ring it
 * creates now (the call applies to rings created afterwards) and whether
 * that ring may use IORING_REGISTER_PROBE. Creating a ring costs much
 * under emulation: for a task, status is checked after every call, the
 * new ring after an accepted call (@full), every TASK_RING_EVERY calls
 * and when the task is done (run_cases()), so a change status does not
 * show is still found.
 */
static void check_state(struct __test_metadata *_metadata, struct tgt *t,
			unsigned int idx, bool full)
{
	static const __u64 uds[] = { DENY_UD, OTHER_UD };
	struct io_uring ring, *r = &t->ring;
	struct fdinfo fi;
	unsigned int i;
	char why[160];
	int ret, res;
	long v;

	if (t->task) {
		v = proc_value("/proc/self/status", "Io_uring_filters");
		if (v != t->m.registered)
			flunk(_metadata, t->t,
			      "call %u: Io_uring_filters %ld, want %u", idx, v,
			      t->m.registered);
		v = proc_value("/proc/self/status", "Io_uring_restricted");
		if (v != t->m.restricted)
			flunk(_metadata, t->t,
			      "call %u: Io_uring_restricted %ld, want %d", idx,
			      v, t->m.restricted);
		if (!full && idx % TASK_RING_EVERY)
			return;
		ret = io_uring_queue_init(RING_ENTRIES, &ring, 0);
		if (ret) {
			flunk(_metadata, t->t, "call %u: no new ring: %d",
			      idx, ret);
			return;
		}
		r = &ring;
	}
	ret = fdinfo_read(r->ring_fd, &fi);
	if (ret)
		flunk(_metadata, t->t, "call %u: fdinfo unreadable: %d", idx,
		      ret);
	else if (!fdinfo_matches(&fi, &t->m, why, sizeof(why)))
		flunk(_metadata, t->t, "call %u: fdinfo: %s", idx, why);
	for (i = 0; i < ARRAY_SIZE(uds); i++) {
		res = INT_MIN;
		ret = nop_plain(r, uds[i], &res);
		if (ret || res != model_nop(&t->m, uds[i]))
			flunk(_metadata, t->t,
			      "call %u: NOP %#llx: submit %d res %d, want res %d",
			      idx, (unsigned long long)uds[i], ret, res,
			      model_nop(&t->m, uds[i]));
	}
	if (t->task) {
		ret = probe_plain(r->ring_fd);
		if (ret != model_probe(&t->m))
			flunk(_metadata, t->t, "call %u: PROBE %d, want %d",
			      idx, ret, model_probe(&t->m));
		io_uring_queue_exit(&ring);
	}
}

static void tgt_init(struct __test_metadata *_metadata, struct tgt *t,
		     bool task)
{
	memset(t, 0, sizeof(*t));
	t->task = task;
	t->t = tally_new(_metadata);
	if (!task)
		ring_init(_metadata, &t->ring, 0);
}

static void tgt_exit(struct tgt *t)
{
	if (!t->task)
		io_uring_queue_exit(&t->ring);
	munmap(t->t, sizeof(*t->t));
}

/* A fresh ring, after a call was accepted: its old verdict is gone. */
static void tgt_reset(struct __test_metadata *_metadata, struct tgt *t)
{
	io_uring_queue_exit(&t->ring);
	ring_init(_metadata, &t->ring, 0);
	model_clear(&t->m);
}

static const char *describe(const struct io_uring_bpf *b)
{
	static char buf[320];
	const struct io_uring_bpf_filter *f = &b->filter;

	snprintf(buf, sizeof(buf),
		 "cmd_type %#x cmd_flags %#x resv %#x opcode %#x flags %#x filter_len %#x pdu_size %u resv %02x%02x%02x filter_ptr %#llx resv2 %llx %llx %llx %llx %llx",
		 b->cmd_type, b->cmd_flags, b->resv, f->opcode, f->flags,
		 f->filter_len, f->pdu_size, f->resv[0], f->resv[1],
		 f->resv[2], (unsigned long long)f->filter_ptr,
		 (unsigned long long)f->resv2[0],
		 (unsigned long long)f->resv2[1],
		 (unsigned long long)f->resv2[2],
		 (unsigned long long)f->resv2[3],
		 (unsigned long long)f->resv2[4]);
	return buf;
}

/*
 * Register a copy of @in on @t and check the answer, the copy and the
 * state against the model. Returns the call's result.
 */
static int bpf_case(struct __test_metadata *_metadata, struct tgt *t,
		    const struct io_uring_bpf *in, unsigned int idx)
{
	struct io_uring_bpf bpf = *in, want = *in;
	bool wrote;
	int exp, ret;

	exp = model_bpf(&t->m, in, &wrote);
	if (wrote)
		want.filter.pdu_size = pdu_size_of(in->filter.opcode);
	ret = bpf_filter_register(t->task ? TASK_FD : t->ring.ring_fd, &bpf);
	tally_add(t->t, ret);
	if (ret != exp)
		flunk(_metadata, t->t, "call %u: %d, want %d: %s", idx, ret,
		      exp, describe(in));
	if (memcmp(&bpf, &want, sizeof(bpf)))
		flunk(_metadata, t->t,
		      "call %u: struct changed: pdu_size %u, want %u: %s",
		      idx, bpf.filter.pdu_size, want.filter.pdu_size,
		      describe(in));
	/* follow the kernel, so that one mismatch is reported once */
	if (!ret)
		model_apply(&t->m, in);
	check_state(_metadata, t, idx, !ret);
	return ret;
}

/*
 * Run cases 0..@n-1 with @one. On a ring, each accepted call is followed
 * by a fresh ring. Task state cannot be undone: task cases run in forked
 * tasks with no_new_privs, each until a call is accepted, and the next
 * task goes on from the case after it.
 */
static void run_cases(struct __test_metadata *_metadata, struct tgt *t,
		      unsigned int n,
		      int (*one)(struct __test_metadata *_metadata,
				 struct tgt *t, unsigned int idx))
{
	unsigned int i, j, tasks = 0;
	int status;
	pid_t pid;

	if (!t->task) {
		for (i = 0; i < n; i++)
			if (!one(_metadata, t, i))
				tgt_reset(_metadata, t);
		return;
	}
	for (i = 0; i < n; i = t->t->next) {
		t->t->next = i;
		fflush(NULL);
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			_metadata->exit_code = KSFT_PASS;
			if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
				_exit(KSFT_FAIL);
			model_clear(&t->m);
			for (j = i; j < n; j++) {
				t->t->next = j + 1;
				if (!one(_metadata, t, j))
					break;
			}
			check_state(_metadata, t, j, true);
			_exit(_metadata->exit_code);
		}
		tasks++;
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status)) {
			TH_LOG("task for case %u killed by signal %d", i,
			       WTERMSIG(status));
		}
		ASSERT_EQ(0, WEXITSTATUS(status));
		ASSERT_LT(i, t->t->next);
	}
	note("%u tasks forked for %u cases", tasks, n);
}

/* Cases: structs to register, made before the tasks that run them fork. */

static struct io_uring_bpf *bpf_cases;
static unsigned int nr_bpf_cases, max_bpf_cases;

static int bpf_one(struct __test_metadata *_metadata, struct tgt *t,
		   unsigned int idx)
{
	return bpf_case(_metadata, t, &bpf_cases[idx], idx);
}

static void cases_reset(struct __test_metadata *_metadata, unsigned int max)
{
	free(bpf_cases);
	bpf_cases = calloc(max, sizeof(*bpf_cases));
	ASSERT_NE(NULL, bpf_cases);
	nr_bpf_cases = 0;
	max_bpf_cases = max;
}

static struct io_uring_bpf *case_add(void)
{
	if (nr_bpf_cases == max_bpf_cases)
		return NULL;
	return &bpf_cases[nr_bpf_cases++];
}

/* The fields of struct io_uring_bpf and of its filter, in order. */
enum field {
	F_CMD_TYPE,
	F_CMD_FLAGS,
	F_RESV,
	F_OPCODE,
	F_FLAGS,
	F_FILTER_LEN,
	F_PDU_SIZE,
	F_FRESV0,
	F_FRESV1,
	F_FRESV2,
	F_FILTER_PTR,
	F_RESV2_0,
	F_RESV2_1,
	F_RESV2_2,
	F_RESV2_3,
	F_RESV2_4,
	F_NR,
};

static const char * const field_names[F_NR] = {
	"cmd_type", "cmd_flags", "resv", "filter.opcode", "filter.flags",
	"filter.filter_len", "filter.pdu_size", "filter.resv[0]",
	"filter.resv[1]", "filter.resv[2]", "filter.filter_ptr",
	"filter.resv2[0]", "filter.resv2[1]", "filter.resv2[2]",
	"filter.resv2[3]", "filter.resv2[4]",
};

static const unsigned int field_bits[F_NR] = {
	16, 16, 32, 32, 32, 32, 8, 8, 8, 8, 64, 64, 64, 64, 64, 64,
};

static void field_set(struct io_uring_bpf *b, enum field f, __u64 v)
{
	struct io_uring_bpf_filter *fl = &b->filter;

	switch (f) {
	case F_CMD_TYPE:
		b->cmd_type = v;
		break;
	case F_CMD_FLAGS:
		b->cmd_flags = v;
		break;
	case F_RESV:
		b->resv = v;
		break;
	case F_OPCODE:
		fl->opcode = v;
		break;
	case F_FLAGS:
		fl->flags = v;
		break;
	case F_FILTER_LEN:
		fl->filter_len = v;
		break;
	case F_PDU_SIZE:
		fl->pdu_size = v;
		break;
	case F_FRESV0:
	case F_FRESV1:
	case F_FRESV2:
		fl->resv[f - F_FRESV0] = v;
		break;
	case F_FILTER_PTR:
		fl->filter_ptr = v;
		break;
	default:
		fl->resv2[f - F_RESV2_0] = v;
		break;
	}
}

/* The valid struct the per-field sweeps start from: "ret #0" on NOP. */
static void base_bpf(struct io_uring_bpf *b, __u32 opcode, __u32 flags)
{
	bpf_filter_prep(b, opcode, flags, R.good, 1);
}

/* Add one case per value in @vals, of @n, for field @f of base @b. */
static void add_values(const struct io_uring_bpf *b, enum field f,
		       const __u64 *vals, unsigned int n)
{
	struct io_uring_bpf *c;
	unsigned int i;

	for (i = 0; i < n && (c = case_add()); i++) {
		*c = *b;
		field_set(c, f, vals[i]);
	}
}

/*
 * The boundary values of field @f: 0, 1, 2, every single bit, all ones
 * and its neighbours, half way, and the field's own edges.
 */
static unsigned int boundaries(enum field f, __u64 *v)
{
	unsigned int bits = field_bits[f], n = 0, i;
	__u64 max = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
	__u64 insn = sizeof(struct sock_filter);
	__u64 good = (uintptr_t)R.good, bad = (uintptr_t)R.bad;

	v[n++] = 0;
	v[n++] = 2;
	v[n++] = max;
	v[n++] = max - 1;
	v[n++] = max >> 1;
	/* every bit of resv2[0]; resv2[1..4] are read the same way */
	if (f > F_RESV2_0) {
		v[n++] = 1;
		v[n++] = 1ULL << 31;
		v[n++] = 1ULL << 32;
		v[n++] = 1ULL << 63;
		return n;
	}
	for (i = 0; i < bits; i++)
		v[n++] = 1ULL << i;
	switch (f) {
	case F_OPCODE:
		for (i = 3; i <= IORING_OP_LAST + 1; i++)
			v[n++] = i;
		v[n++] = 0xff;
		v[n++] = 0x101;
		v[n++] = 0x100 | IORING_OP_NOP;
		break;
	case F_FLAGS:
		v[n++] = 3;
		break;
	case F_FILTER_LEN:
		/* 16-bit truncation would make 0x10001 one instruction */
		v[n++] = BPF_MAXINSNS - 1;
		v[n++] = BPF_MAXINSNS + 1;
		v[n++] = 0x10001;
		v[n++] = 0x11000;
		v[n++] = 0xffff;
		break;
	case F_FILTER_PTR:
		v[n++] = good;
		v[n++] = good + (BPF_MAXINSNS - 1) * insn;
		v[n++] = good + BPF_MAXINSNS * insn;
		v[n++] = good - 1;
		v[n++] = bad;
		v[n++] = bad + BPF_MAXINSNS * insn;
		v[n++] = (uintptr_t)R.before;
		v[n++] = (uintptr_t)R.guard[0] + R.page - 8;
		v[n++] = 0x7ffffffff000ULL;
		v[n++] = 0x800000000000ULL;
		v[n++] = 0xffff800000000000ULL;
		v[n++] = ~0xfffULL;
		v[n++] = ~0x7ULL;
		break;
	default:
		break;
	}
	return n;
}

/* Random values of field @f: most of its width, some near valid. */
static __u64 rnd_field(enum field f, __u32 filter_len)
{
	switch (f) {
	case F_OPCODE:
		return chance(1, 2) ? rnd_below(IORING_OP_LAST + 4) :
			rnd_width(32);
	case F_FLAGS:
		return chance(1, 2) ? rnd_below(8) : rnd_width(32);
	case F_FILTER_LEN:
		return chance(1, 2) ? rnd_below(BPF_MAXINSNS + 2) :
			rnd_width(32);
	case F_FILTER_PTR:
		return rnd_filter_ptr(filter_len);
	default:
		return rnd_width(field_bits[f]);
	}
}

/* Values of filter_ptr the model cannot answer become a PROT_NONE page. */
static void known_ptrs(enum field f, __u64 *v, unsigned int n)
{
	unsigned int i;

	for (i = 0; f == F_FILTER_PTR && i < n; i++)
		if (!ptr_known(v[i]))
			v[i] = (uintptr_t)R.before;
}

/* The per-field sweeps: each field alone, all others valid. */
static void sweep_fields(struct __test_metadata *_metadata, bool random)
{
	/* every field, then pdu_size again for each size and mode */
	static const struct {
		__u32 opcode;
		__u32 flags;
	} pdu_bases[] = {
		{ IORING_OP_SOCKET, 0 },
		{ IORING_OP_SOCKET, IO_URING_BPF_FILTER_SZ_STRICT },
		{ IORING_OP_CONNECT, 0 },
		{ IORING_OP_OPENAT2, IO_URING_BPF_FILTER_SZ_STRICT },
	};
	struct io_uring_bpf b;
	unsigned int f, i, n;
	struct tgt t;
	__u64 v[256];

	tgt_init(_metadata, &t, false);
	for (f = 0; f < F_NR; f++) {
		cases_reset(_metadata, 512);
		base_bpf(&b, IORING_OP_NOP, 0);
		if (random) {
			for (i = 0; i < RANDOM_PER_FIELD; i++)
				v[i] = rnd_field(f, b.filter.filter_len);
			n = RANDOM_PER_FIELD;
		} else {
			n = boundaries(f, v);
		}
		known_ptrs(f, v, n);
		add_values(&b, f, v, n);
		memset(t.t, 0, sizeof(*t.t));
		run_cases(_metadata, &t, nr_bpf_cases, bpf_one);
		tally_print(field_names[f], t.t);
		EXPECT_EQ(0, t.t->fails) TH_LOG("field %s", field_names[f]);
	}
	/* pdu_size around K and at the edges, for opcodes with data */
	for (i = 0; i < ARRAY_SIZE(pdu_bases); i++) {
		static const __u8 edges[] = {
			0, 1, 11, 12, 13, 23, 24, 25, 40, 127, 128, 254, 255,
		};

		cases_reset(_metadata, 512);
		base_bpf(&b, pdu_bases[i].opcode, pdu_bases[i].flags);
		for (n = 0; n < (random ? RANDOM_PER_FIELD : ARRAY_SIZE(edges));
		     n++)
			v[n] = random ? rnd_width(8) : edges[n];
		add_values(&b, F_PDU_SIZE, v, n);
		memset(t.t, 0, sizeof(*t.t));
		run_cases(_metadata, &t, nr_bpf_cases, bpf_one);
		note("filter.pdu_size for opcode %u flags %#x:",
		     pdu_bases[i].opcode, pdu_bases[i].flags);
		tally_print("  filter.pdu_size", t.t);
		EXPECT_EQ(0, t.t->fails);
	}
	tgt_exit(&t);
}

/* A struct whose every field is valid with some chance, random if not. */
static void rnd_bpf(struct io_uring_bpf *b)
{
	struct io_uring_bpf_filter *f = &b->filter;
	unsigned int i;
	__u8 k;

	memset(b, 0, sizeof(*b));
	b->cmd_type = chance(1, 16) ? rnd_width(16) : IO_URING_BPF_CMD_FILTER;
	b->cmd_flags = chance(1, 24) ? rnd_width(16) : 0;
	b->resv = chance(1, 24) ? rnd_width(32) : 0;
	f->opcode = chance(1, 16) ? rnd_field(F_OPCODE, 0) :
		rnd_below(IORING_OP_LAST);
	f->flags = chance(1, 16) ? rnd_width(32) : rnd_below(4);
	for (i = 0; i < ARRAY_SIZE(f->resv); i++)
		f->resv[i] = chance(1, 48) ? rnd_width(8) : 0;
	for (i = 0; i < ARRAY_SIZE(f->resv2); i++)
		f->resv2[i] = chance(1, 48) ? rnd_width(64) : 0;
	if (chance(1, 12))
		f->filter_len = rnd_field(F_FILTER_LEN, 0);
	else
		f->filter_len = 1 + (chance(1, 2) ? rnd_below(16) :
				     rnd_below(BPF_MAXINSNS));
	k = pdu_size_of(f->opcode);
	switch (rnd_below(6)) {
	case 0:
		f->pdu_size = rnd_width(8);
		break;
	case 1:
		f->pdu_size = k + 1;
		break;
	case 2:
		f->pdu_size = k ? k - 1 : 0;
		break;
	case 3:
		f->pdu_size = 0;
		break;
	default:
		f->pdu_size = k;
		break;
	}
	f->filter_ptr = rnd_filter_ptr(f->filter_len);
	known_ptrs(F_FILTER_PTR, (__u64 *)&f->filter_ptr, 1);
}

/* Structs with random fields: the answer follows the check order. */
static void sweep_random_structs(struct __test_metadata *_metadata, bool task,
				 unsigned int n)
{
	struct tgt t;
	unsigned int i;

	tgt_init(_metadata, &t, task);
	cases_reset(_metadata, n);
	for (i = 0; i < n; i++)
		rnd_bpf(case_add());
	run_cases(_metadata, &t, nr_bpf_cases, bpf_one);
	tally_print(task ? "random structs, task" : "random structs, ring",
		    t.t);
	EXPECT_EQ(0, t.t->fails);
	tgt_exit(&t);
}

/*
 * kmemleak: clear what the kernel had before this program ran, and scan
 * after it; what a scan then reports was left by the tests.
 */
#define KMEMLEAK	"/sys/kernel/debug/kmemleak"

TEST(kmemleak_clear_before_the_run)
{
	if (access(KMEMLEAK, W_OK))
		SKIP(return, "no %s: %s", KMEMLEAK, strerror(errno));
	ASSERT_EQ(0, file_write(KMEMLEAK, "clear"));
}

FIXTURE(hostile) {
	int unused;
};

FIXTURE_SETUP(hostile)
{
	regions_init(_metadata);
}

FIXTURE_TEARDOWN(hostile)
{
	regions_exit();
}

TEST_F_TIMEOUT(hostile, bpf_fields_at_boundary_values, 300)
{
	rng_init("boundary values", 1);
	sweep_fields(_metadata, false);
}

TEST_F_TIMEOUT(hostile, bpf_fields_at_random_values, 300)
{
	rng_init("random values", 2);
	sweep_fields(_metadata, true);
}

TEST_F_TIMEOUT(hostile, bpf_random_structs_follow_check_order, 300)
{
	rng_init("random structs", 3);
	sweep_random_structs(_metadata, false, RANDOM_STRUCTS);
}

TEST_F_TIMEOUT(hostile, task_bpf_random_structs_follow_check_order, 300)
{
	rng_init("random task structs", 4);
	sweep_random_structs(_metadata, true, RANDOM_TASK_STRUCTS);
}

/*
 * The io_uring_register() arguments around a valid struct. fd lookup
 * errors come before anything else is looked at, as for every register
 * opcode; opcodes at or past IORING_REGISTER_LAST are -EINVAL on every
 * path, the blind one too. §1 makes nr_args != 1 -EINVAL; it is a
 * property of the call, checked before the struct is read, as §3 says of
 * the blind path (and as upstream does), so a null struct with a bad
 * nr_args is -EINVAL, not -EFAULT.
 */
static int raw_register(int fd, unsigned int opcode, void *arg,
			unsigned int nr_args)
{
	int ret = io_uring_register(fd, opcode, arg, nr_args);

	return ret < 0 ? -errno : ret;
}

static void args_case(struct __test_metadata *_metadata, struct tgt *t,
		      int fd, unsigned int opcode, unsigned int nr_args,
		      bool null_arg, int want, unsigned int *idx)
{
	struct io_uring_bpf b;
	long filters;
	int ret;

	base_bpf(&b, IORING_OP_NOP, 0);
	ret = raw_register(fd, opcode, null_arg ? NULL : &b, nr_args);
	tally_add(t->t, ret);
	if (ret != want)
		flunk(_metadata, t->t,
		      "call %u: fd %d opcode %#x nr_args %u arg %s: %d, want %d",
		      *idx, fd, opcode, nr_args, null_arg ? "NULL" : "valid",
		      ret, want);
	if (!ret)
		model_apply(&t->m, &b);
	check_state(_metadata, t, *idx, !ret);
	/* the blind path must not have filtered the task either */
	filters = proc_value("/proc/self/status", "Io_uring_filters");
	if (filters)
		flunk(_metadata, t->t, "call %u: Io_uring_filters %ld", *idx,
		      filters);
	if (!ret)
		tgt_reset(_metadata, t);
	(*idx)++;
}

/* The answer for a ring-level call on @fd, a number picked at random. */
static int fd_want(int fd, int ring_fd, bool null_arg)
{
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	if (fd != ring_fd)
		return -EOPNOTSUPP;
	return null_arg ? -EFAULT : 0;
}

TEST_F_TIMEOUT(hostile, register_args_at_boundary_and_random_values, 300)
{
	static const int bad_fds[] = { -2, -3, -4096, INT_MIN, INT_MAX,
				       1 << 20 };
	static const unsigned int bad_ops[] = {
		IORING_REGISTER_LAST, IORING_REGISTER_LAST + 1, 0xff, 0x100,
		0x100 | IORING_REGISTER_BPF_FILTER, 0x7fffffff,
	};
	static const unsigned int bad_nr[] = { 0, 2, 3, 72, 0x80000000,
					       UINT_MAX };
	const unsigned int reg = IORING_REGISTER_USE_REGISTERED_RING;
	const unsigned int op = IORING_REGISTER_BPF_FILTER;
	struct io_uring_rsrc_update up = { .offset = -1U };
	unsigned int i, n = 0, v;
	struct io_uring_bpf b;
	int fds[2], fd, closed;
	struct tgt t;
	bool null;

	rng_init("register args", 5);
	/* blind calls below are all rejected; nnp keeps -EACCES away */
	ASSERT_EQ(0, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	tgt_init(_metadata, &t, false);
	/* a number far above the fds this test opens, so never reused */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	closed = fcntl(fd, F_DUPFD_CLOEXEC, 1000);
	ASSERT_LE(1000, closed);
	ASSERT_EQ(0, close(closed));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));

	/* fd: the ring, bad numbers, a closed fd, files that are no ring */
	for (null = false; ; null = true) {
		args_case(_metadata, &t, t.ring.ring_fd, op, 1, null,
			  null ? -EFAULT : 0, &n);
		for (i = 0; i < ARRAY_SIZE(bad_fds); i++)
			args_case(_metadata, &t, bad_fds[i], op, 1, null,
				  -EBADF, &n);
		args_case(_metadata, &t, closed, op, 1, null, -EBADF, &n);
		args_case(_metadata, &t, fds[0], op, 1, null, -EOPNOTSUPP,
			  &n);
		args_case(_metadata, &t, 0, op, 1, null,
			  fd_want(0, t.ring.ring_fd, null), &n);
		if (null)
			break;
	}
	for (i = 0; i < RANDOM_PER_FIELD * 2; i++) {
		null = chance(1, 2);
		fd = chance(1, 4) ? (int)(rnd64() | 1ULL << 31) :
			(int)rnd_below(1100);
		if (fd == -1)
			fd = -2;
		args_case(_metadata, &t, fd, op, 1, null,
			  fd_want(fd, t.ring.ring_fd, null), &n);
	}

	/* opcode: past the last, with and without the registered bit */
	for (i = 0; i < ARRAY_SIZE(bad_ops); i++) {
		args_case(_metadata, &t, t.ring.ring_fd, bad_ops[i], 1, false,
			  -EINVAL, &n);
		args_case(_metadata, &t, t.ring.ring_fd, bad_ops[i] | reg, 1,
			  false, -EINVAL, &n);
		args_case(_metadata, &t, TASK_FD, bad_ops[i], 1, false,
			  -EINVAL, &n);
		args_case(_metadata, &t, TASK_FD, bad_ops[i] | reg, 1, false,
			  -EINVAL, &n);
	}
	for (i = 0; i < RANDOM_PER_FIELD; i++) {
		v = IORING_REGISTER_LAST +
			rnd_below(0x80000000U - IORING_REGISTER_LAST);
		if (chance(1, 2))
			v |= reg;
		args_case(_metadata, &t, chance(1, 2) ? TASK_FD :
			  t.ring.ring_fd, v, 1, false, -EINVAL, &n);
	}
	/* a registered ring index: unused, past the table, then in use */
	for (i = 0; i < IO_RINGFD_REG_MAX; i += 5)
		args_case(_metadata, &t, i, op | reg, 1, false, -EBADF, &n);
	args_case(_metadata, &t, IO_RINGFD_REG_MAX, op | reg, 1, false,
		  -EINVAL, &n);
	args_case(_metadata, &t, INT_MAX, op | reg, 1, false, -EINVAL, &n);
	up.data = t.ring.ring_fd;
	ASSERT_EQ(1, raw_register(t.ring.ring_fd, IORING_REGISTER_RING_FDS,
				  &up, 1));
	args_case(_metadata, &t, up.offset, op | reg, 2, false, -EINVAL, &n);
	args_case(_metadata, &t, up.offset, op | reg, 1, true, -EFAULT, &n);
	/* accepted: check the ring, then let its index go before a reset */
	base_bpf(&b, IORING_OP_NOP, 0);
	EXPECT_EQ(0, raw_register(up.offset, op | reg, &b, 1));
	tally_add(t.t, 0);
	model_apply(&t.m, &b);
	check_state(_metadata, &t, n++, true);
	up.data = 0;
	ASSERT_EQ(1, raw_register(t.ring.ring_fd, IORING_UNREGISTER_RING_FDS,
				  &up, 1));
	tgt_reset(_metadata, &t);

	/* nr_args, on the ring and on the blind path, before the struct */
	for (i = 0; i < ARRAY_SIZE(bad_nr) + RANDOM_PER_FIELD; i++) {
		v = i < ARRAY_SIZE(bad_nr) ? bad_nr[i] : (__u32)rnd_width(32);
		if (v == 1)
			v = 0;
		for (null = false; ; null = true) {
			args_case(_metadata, &t, t.ring.ring_fd, op, v, null,
				  -EINVAL, &n);
			args_case(_metadata, &t, TASK_FD, op, v, null,
				  -EINVAL, &n);
			args_case(_metadata, &t, TASK_FD, op | reg, v, null,
				  -EINVAL, &n);
			if (null)
				break;
		}
	}
	tally_print("io_uring_register() arguments", t.t);
	EXPECT_EQ(0, t.t->fails);
	close(fds[0]);
	close(fds[1]);
	tgt_exit(&t);
}

/*
 * Task restrictions (§7): a header and entries placed so that all
 * MAX_RESTRICTIONS entries are readable ("full") or only one ("short"),
 * each before a PROT_NONE page.
 */
#define TRES_ENTRIES	6

struct tres_case {
	__u16 flags;
	__u16 nr_res;
	__u32 resv[3];
	struct io_uring_restriction e[TRES_ENTRIES];
	bool shrt;
	unsigned int nr_args;
};

static struct {
	char *map;
	size_t size;
	struct io_uring_task_restriction *full, *shrt;
} P;

static const struct io_uring_restriction entry_read = {
	.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READ,
};

static const struct io_uring_restriction entry_enable = {
	.opcode = IORING_RESTRICTION_REGISTER_OP,
	.register_op = IORING_REGISTER_ENABLE_RINGS,
};

static struct tres_case *tres_cases;
static unsigned int nr_tres_cases, max_tres_cases;

static void tres_init(struct __test_metadata *_metadata, unsigned int max)
{
	size_t bytes = sizeof(struct io_uring_task_restriction) +
		MAX_RESTRICTIONS * sizeof(struct io_uring_restriction);
	size_t span = (bytes + R.page - 1) / R.page * R.page;

	P.size = 2 * (span + R.page);
	P.map = mmap(NULL, P.size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	ASSERT_NE(MAP_FAILED, P.map);
	ASSERT_EQ(0, mprotect(P.map, span, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, mprotect(P.map + span + R.page, span,
			      PROT_READ | PROT_WRITE));
	P.full = (void *)(P.map + span - bytes);
	P.shrt = (void *)(P.map + 2 * span + R.page -
			  sizeof(struct io_uring_task_restriction) -
			  sizeof(struct io_uring_restriction));
	tres_cases = calloc(max, sizeof(*tres_cases));
	ASSERT_NE(NULL, tres_cases);
	nr_tres_cases = 0;
	max_tres_cases = max;
}

static void tres_exit(void)
{
	munmap(P.map, P.size);
	free(tres_cases);
}

static const struct io_uring_restriction *tres_entry(const struct tres_case *c,
						     unsigned int i)
{
	return i < TRES_ENTRIES ? &c->e[i] : &entry_read;
}

static struct io_uring_task_restriction *tres_place(const struct tres_case *c)
{
	struct io_uring_task_restriction *h = c->shrt ? P.shrt : P.full;
	unsigned int i, room = c->shrt ? 1 : MAX_RESTRICTIONS;

	h->flags = c->flags;
	h->nr_res = c->nr_res;
	memcpy(h->resv, c->resv, sizeof(h->resv));
	for (i = 0; i < room; i++)
		h->restrictions[i] = *tres_entry(c, i);
	return h;
}

/*
 * The answer to @c from an unrestricted task with no_new_privs, in the
 * order of §7: nr_args, the header, its flags and resv, the entries. The
 * entries are copied after the bound on nr_res is checked (one copy of
 * nr_res entries, as for a ring), so an unreadable entry is -EFAULT only
 * for an nr_res within the bound. Entries mean what they mean on a ring:
 * an unknown restriction opcode, a register or SQE opcode at or past its
 * LAST is -EINVAL; their resv fields are not looked at there, so they are
 * not here. *@m becomes the state of an accepted call.
 */
static int model_tres(const struct tres_case *c, struct model *m)
{
	unsigned int i, room = c->shrt ? 1 : MAX_RESTRICTIONS;
	const struct io_uring_restriction *e;
	struct model n = *m;

	if (c->nr_args != 1)
		return -EINVAL;
	if (c->flags || c->resv[0] || c->resv[1] || c->resv[2])
		return -EINVAL;
	if (c->nr_res > MAX_RESTRICTIONS)
		return -EINVAL;
	if (c->nr_res > room)
		return -EFAULT;
	for (i = 0; i < c->nr_res; i++) {
		e = tres_entry(c, i);
		switch (e->opcode) {
		case IORING_RESTRICTION_REGISTER_OP:
			if (e->register_op >= IORING_REGISTER_LAST)
				return -EINVAL;
			n.reg_ops |= 1ULL << e->register_op;
			n.reg_res = true;
			break;
		case IORING_RESTRICTION_SQE_OP:
			if (e->sqe_op >= IORING_OP_LAST)
				return -EINVAL;
			n.sqe_ops |= 1ULL << e->sqe_op;
			n.op_res = true;
			break;
		case IORING_RESTRICTION_SQE_FLAGS_ALLOWED:
			n.flags_allowed = e->sqe_flags;
			n.op_res = true;
			break;
		case IORING_RESTRICTION_SQE_FLAGS_REQUIRED:
			n.flags_required = e->sqe_flags;
			n.op_res = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!c->nr_res) {
		n.op_res = true;
		n.reg_res = true;
	}
	n.restricted = true;
	*m = n;
	return 0;
}

static const char *describe_tres(const struct tres_case *c)
{
	static char buf[512];
	unsigned int i, len;

	len = snprintf(buf, sizeof(buf),
		       "nr_args %u %s flags %#x nr_res %u resv %#x %#x %#x entries",
		       c->nr_args, c->shrt ? "short" : "full", c->flags,
		       c->nr_res, c->resv[0], c->resv[1], c->resv[2]);
	for (i = 0; i < TRES_ENTRIES && i < c->nr_res && len < sizeof(buf);
	     i++)
		len += snprintf(buf + len, sizeof(buf) - len,
				" {%u %u %u %#x %#x %#x}", c->e[i].opcode,
				c->e[i].register_op, c->e[i].resv,
				c->e[i].resv2[0], c->e[i].resv2[1],
				c->e[i].resv2[2]);
	return buf;
}

static int tres_one(struct __test_metadata *_metadata, struct tgt *t,
		    unsigned int idx)
{
	const struct tres_case *c = &tres_cases[idx];
	struct model want = t->m;
	int exp, ret;
	void *h;

	exp = model_tres(c, &want);
	h = tres_place(c);
	ret = raw_register(TASK_FD, IORING_REGISTER_RESTRICTIONS, h,
			   c->nr_args);
	tally_add(t->t, ret);
	if (ret != exp)
		flunk(_metadata, t->t, "call %u: %d, want %d: %s", idx, ret,
		      exp, describe_tres(c));
	if (!ret)
		t->m = want;
	check_state(_metadata, t, idx, !ret);
	return ret;
}

static struct tres_case *tres_add(void)
{
	if (nr_tres_cases == max_tres_cases)
		return NULL;
	return &tres_cases[nr_tres_cases++];
}

/* Valid: READ is the only SQE opcode, ENABLE_RINGS the only register op. */
static void tres_base(struct tres_case *c)
{
	unsigned int i;

	memset(c, 0, sizeof(*c));
	c->nr_res = 2;
	c->nr_args = 1;
	c->e[0] = entry_read;
	c->e[1] = entry_enable;
	for (i = 2; i < TRES_ENTRIES; i++)
		c->e[i] = entry_read;
}

/* The header and entry fields of the §7 call, and nr_args. */
enum tfield {
	T_FLAGS,
	T_NR_RES,
	T_NR_RES_SHORT,
	T_RESV0,
	T_RESV1,
	T_RESV2,
	T_OPCODE,
	T_REGISTER_OP,
	T_SQE_OP,
	T_FLAGS_ALLOWED,
	T_FLAGS_REQUIRED,
	T_ERESV,
	T_ERESV2_0,
	T_ERESV2_1,
	T_ERESV2_2,
	T_NR_ARGS,
	T_NR,
};

static const char * const tfield_names[T_NR] = {
	"flags", "nr_res", "nr_res (one entry readable)", "resv[0]",
	"resv[1]", "resv[2]", "restrictions[0].opcode",
	"restrictions[0].register_op", "restrictions[0].sqe_op",
	"restrictions[0].sqe_flags (allowed)",
	"restrictions[0].sqe_flags (required)", "restrictions[0].resv",
	"restrictions[0].resv2[0]", "restrictions[0].resv2[1]",
	"restrictions[0].resv2[2]", "nr_args",
};

static const unsigned int tfield_bits[T_NR] = {
	16, 16, 16, 32, 32, 32, 16, 8, 8, 8, 8, 8, 32, 32, 32, 32,
};

static void tfield_set(struct tres_case *c, enum tfield f, __u64 v)
{
	struct io_uring_restriction *e = &c->e[0];

	switch (f) {
	case T_FLAGS:
		c->flags = v;
		break;
	case T_NR_RES:
	case T_NR_RES_SHORT:
		c->shrt = f == T_NR_RES_SHORT;
		c->nr_res = v;
		break;
	case T_RESV0:
	case T_RESV1:
	case T_RESV2:
		c->resv[f - T_RESV0] = v;
		break;
	case T_OPCODE:
		e->opcode = v;
		break;
	case T_REGISTER_OP:
		e->opcode = IORING_RESTRICTION_REGISTER_OP;
		e->register_op = v;
		break;
	case T_SQE_OP:
		e->opcode = IORING_RESTRICTION_SQE_OP;
		e->sqe_op = v;
		break;
	case T_FLAGS_ALLOWED:
		e->opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
		e->sqe_flags = v;
		break;
	case T_FLAGS_REQUIRED:
		e->opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
		e->sqe_flags = v;
		break;
	case T_ERESV:
		e->resv = v;
		break;
	case T_ERESV2_0:
	case T_ERESV2_1:
	case T_ERESV2_2:
		e->resv2[f - T_ERESV2_0] = v;
		break;
	default:
		c->nr_args = v;
		break;
	}
}

/*
 * Every bit of the fields that must be zero and of the restriction
 * opcode; for values that every setting accepts (and that each cost a
 * task), the edges only.
 */
static unsigned int tboundaries(enum tfield f, __u64 *v)
{
	unsigned int bits = tfield_bits[f], n = 0, i;
	__u64 max = (1ULL << bits) - 1;

	switch (f) {
	case T_FLAGS_ALLOWED:
	case T_FLAGS_REQUIRED:
	case T_ERESV:
	case T_ERESV2_0:
	case T_ERESV2_1:
	case T_ERESV2_2:
		v[n++] = 1;
		v[n++] = max;
		return n;
	default:
		break;
	}
	v[n++] = 0;
	v[n++] = 2;
	v[n++] = max;
	v[n++] = max - 1;
	v[n++] = max >> 1;
	switch (f) {
	case T_REGISTER_OP:
	case T_SQE_OP:
		v[n++] = 1;
		v[n++] = 1ULL << (bits - 1);
		break;
	default:
		for (i = 0; i < bits; i++)
			v[n++] = 1ULL << i;
		break;
	}
	switch (f) {
	case T_NR_RES:
	case T_NR_RES_SHORT:
		v[n++] = 3;
		v[n++] = MAX_RESTRICTIONS - 1;
		v[n++] = MAX_RESTRICTIONS;
		v[n++] = MAX_RESTRICTIONS + 1;
		break;
	case T_OPCODE:
		for (i = 3; i <= IORING_RESTRICTION_LAST + 1; i++)
			v[n++] = i;
		v[n++] = 0x100 | IORING_RESTRICTION_SQE_OP;
		break;
	case T_REGISTER_OP:
		v[n++] = IORING_REGISTER_LAST - 1;
		v[n++] = IORING_REGISTER_LAST;
		v[n++] = IORING_REGISTER_LAST + 1;
		break;
	case T_SQE_OP:
		v[n++] = IORING_OP_LAST - 1;
		v[n++] = IORING_OP_LAST;
		v[n++] = IORING_OP_LAST + 1;
		break;
	default:
		break;
	}
	return n;
}

static __u64 rnd_tfield(enum tfield f)
{
	switch (f) {
	case T_NR_RES:
	case T_NR_RES_SHORT:
		return chance(1, 2) ? rnd_below(MAX_RESTRICTIONS + 3) :
			rnd_width(16);
	case T_OPCODE:
		return chance(1, 2) ? rnd_below(IORING_RESTRICTION_LAST + 2) :
			rnd_width(16);
	case T_REGISTER_OP:
		return chance(1, 2) ? rnd_below(IORING_REGISTER_LAST + 2) :
			rnd_width(8);
	case T_SQE_OP:
		return chance(1, 2) ? rnd_below(IORING_OP_LAST + 2) :
			rnd_width(8);
	default:
		return rnd_width(tfield_bits[f]);
	}
}

static void rnd_tres(struct tres_case *c)
{
	struct io_uring_restriction *e;
	unsigned int i;

	memset(c, 0, sizeof(*c));
	c->flags = chance(1, 16) ? rnd_width(16) : 0;
	for (i = 0; i < ARRAY_SIZE(c->resv); i++)
		c->resv[i] = chance(1, 32) ? rnd_width(32) : 0;
	c->nr_res = chance(1, 12) ? rnd_tfield(T_NR_RES) :
		rnd_below(TRES_ENTRIES + 1);
	c->shrt = chance(1, 4);
	c->nr_args = chance(1, 24) ? rnd_width(32) : 1;
	for (i = 0; i < TRES_ENTRIES; i++) {
		e = &c->e[i];
		e->opcode = chance(1, 12) ? rnd_width(16) :
			rnd_below(IORING_RESTRICTION_LAST);
		switch (e->opcode) {
		case IORING_RESTRICTION_REGISTER_OP:
			e->register_op = chance(7, 8) ?
				rnd_below(IORING_REGISTER_LAST) : rnd_width(8);
			break;
		case IORING_RESTRICTION_SQE_OP:
			e->sqe_op = chance(7, 8) ? rnd_below(IORING_OP_LAST) :
				rnd_width(8);
			break;
		default:
			e->sqe_flags = chance(1, 2) ? 0 : rnd_width(8);
			break;
		}
		e->resv = chance(1, 4) ? rnd_width(8) : 0;
		e->resv2[rnd_below(3)] = chance(1, 4) ? rnd_width(32) : 0;
	}
}

static void sweep_tres(struct __test_metadata *_metadata, bool random)
{
	unsigned int f, i, n;
	struct tgt t;
	__u64 v[64];

	tgt_init(_metadata, &t, true);
	tres_init(_metadata, 2048);
	if (random) {
		for (i = 0; i < RANDOM_TRES; i++)
			rnd_tres(tres_add());
		run_cases(_metadata, &t, nr_tres_cases, tres_one);
		tally_print("random task restrictions", t.t);
		EXPECT_EQ(0, t.t->fails);
		goto out;
	}
	for (f = 0; f < T_NR; f++) {
		nr_tres_cases = 0;
		memset(t.t, 0, sizeof(*t.t));
		n = tboundaries(f, v);
		for (i = 0; i < RANDOM_PER_FIELD / 4; i++)
			v[n++] = rnd_tfield(f);
		for (i = 0; i < n; i++) {
			struct tres_case *c = tres_add();

			tres_base(c);
			tfield_set(c, f, v[i]);
		}
		run_cases(_metadata, &t, nr_tres_cases, tres_one);
		tally_print(tfield_names[f], t.t);
		EXPECT_EQ(0, t.t->fails) TH_LOG("field %s", tfield_names[f]);
	}
out:
	tres_exit();
	tgt_exit(&t);
}

TEST_F_TIMEOUT(hostile, task_restriction_fields_at_boundary_values, 300)
{
	rng_init("task restriction fields", 6);
	sweep_tres(_metadata, false);
}

TEST_F_TIMEOUT(hostile, task_restrictions_random, 300)
{
	rng_init("random task restrictions", 7);
	sweep_tres(_metadata, true);
}

/*
 * Where the struct itself lies. A page mapped and unmapped again holds
 * nothing; it is used at once, before anything else is mapped.
 */
static char *unmapped_page(void)
{
	char *p = mmap(NULL, R.page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || munmap(p, R.page))
		return NULL;
	return p;
}

/* A case whose memory could not be set up: a failure of the test. */
static int setup_failed(struct __test_metadata *_metadata, struct tgt *t,
			unsigned int idx)
{
	flunk(_metadata, t->t, "case %u: setup failed: %s", idx,
	      strerror(errno));
	return -EIO;
}

/* Register the struct at @arg, @want the answer; @model the struct's copy. */
static int placed_case(struct __test_metadata *_metadata, struct tgt *t,
		       void *arg, const struct io_uring_bpf *model, int want,
		       const char *what, unsigned int idx)
{
	int ret;

	ret = raw_register(t->task ? TASK_FD : t->ring.ring_fd,
			   IORING_REGISTER_BPF_FILTER, arg, 1);
	tally_add(t->t, ret);
	if (ret != want)
		flunk(_metadata, t->t, "%s: %d, want %d%s%s", what, ret, want,
		      model ? ": " : "", model ? describe(model) : "");
	if (!ret && model)
		model_apply(&t->m, model);
	check_state(_metadata, t, idx, !ret);
	return ret;
}

static const char * const unreadable_names[] = {
	"unmapped page", "PROT_NONE page", "last byte in a PROT_NONE page",
	"kernel address", "non-canonical address", "below mmap_min_addr",
	"last bytes of the address space",
};

static int unreadable_one(struct __test_metadata *_metadata, struct tgt *t,
			  unsigned int idx)
{
	struct io_uring_bpf *bpf = (void *)(R.guard[0] -
					    sizeof(struct io_uring_bpf) + 1);
	void *p;

	switch (idx) {
	case 0:
		p = unmapped_page();
		break;
	case 1:
		p = R.before;
		break;
	case 2:
		p = bpf;
		break;
	case 3:
		p = (void *)0xffff888000000000ULL;
		break;
	case 4:
		p = (void *)0x8000000000000000ULL;
		break;
	case 5:
		p = (void *)0x1000UL;
		break;
	default:
		p = (void *)-8L;
		break;
	}
	return placed_case(_metadata, t, p, NULL, -EFAULT,
			   unreadable_names[idx], idx);
}

TEST_F(hostile, struct_unreadable_efault_installs_nothing)
{
	struct tgt t;
	bool task;

	for (task = false; ; task = true) {
		tgt_init(_metadata, &t, task);
		run_cases(_metadata, &t, ARRAY_SIZE(unreadable_names),
			  unreadable_one);
		tally_print(task ? "unreadable struct, task" :
			    "unreadable struct, ring", t.t);
		EXPECT_EQ(0, t.t->fails);
		tgt_exit(&t);
		if (task)
			break;
	}
}

/*
 * A struct in read-only memory: the kernel reads it, then must write K
 * into filter.pdu_size once the checks before the negotiation have
 * passed. The write faults: -EFAULT, whatever the rest of the struct
 * would have given, and nothing installed. An earlier check that fails
 * gives its own errno, as no write is made.
 */
static unsigned int ro_structs(struct io_uring_bpf *c)
{
	unsigned int n = 0;

	base_bpf(&c[n], IORING_OP_SOCKET, 0);
	c[n++].filter.pdu_size = 12;	/* K already: written all the same */
	base_bpf(&c[n++], IORING_OP_NOP, 0);
	base_bpf(&c[n++], IORING_OP_NOP, IO_URING_BPF_FILTER_DENY_REST);
	base_bpf(&c[n], IORING_OP_NOP, 0);
	c[n++].filter.pdu_size = 1;	/* else -EMSGSIZE */
	base_bpf(&c[n], IORING_OP_SOCKET, IO_URING_BPF_FILTER_SZ_STRICT);
	c[n++].filter.pdu_size = 4;	/* else -EMSGSIZE */
	base_bpf(&c[n], IORING_OP_OPENAT, 0);
	c[n++].filter.filter_ptr = 0;	/* else -EINVAL */
	base_bpf(&c[n], IORING_OP_NOP, 0);
	c[n++].filter.filter_ptr = (uintptr_t)R.bad;
	base_bpf(&c[n], IORING_OP_NOP, 0);
	c[n++].filter.filter_ptr = (uintptr_t)R.before;
	base_bpf(&c[n], IORING_OP_NOP, 0);
	c[n++].cmd_type = 2;
	base_bpf(&c[n], IORING_OP_NOP, 0);
	c[n++].resv = 1;
	base_bpf(&c[n++], IORING_OP_LAST, 0);
	base_bpf(&c[n++], IORING_OP_NOP, 4);
	base_bpf(&c[n], IORING_OP_NOP, 0);
	c[n++].filter.resv2[4] = 1;
	base_bpf(&c[n], IORING_OP_NOP, 0);
	c[n++].filter.filter_len = 0;
	base_bpf(&c[n], IORING_OP_NOP, 0);
	c[n++].filter.filter_len = BPF_MAXINSNS + 1;
	return n;
}

#define RO_STRUCTS	16

static int ro_one(struct __test_metadata *_metadata, struct tgt *t,
		  unsigned int idx)
{
	struct io_uring_bpf c[RO_STRUCTS], *p;
	unsigned int n = ro_structs(c), i = idx % n;
	bool shared = idx >= n, wrote;
	char what[64];
	int want, fd = -1, ret;

	/* anonymous memory made read-only, or a read-only shared mapping */
	if (shared) {
		fd = memfd_create("hostile", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, R.page) ||
		    pwrite(fd, &c[i], sizeof(c[i]), 0) != sizeof(c[i]))
			return setup_failed(_metadata, t, idx);
		p = mmap(NULL, R.page, PROT_READ, MAP_SHARED, fd, 0);
	} else {
		p = mmap(NULL, R.page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			*p = c[i];
			if (mprotect(p, R.page, PROT_READ))
				return setup_failed(_metadata, t, idx);
		}
	}
	if (p == MAP_FAILED)
		return setup_failed(_metadata, t, idx);
	want = model_bpf(&t->m, &c[i], &wrote);
	if (wrote)
		want = -EFAULT;
	snprintf(what, sizeof(what), "read-only %s struct %u",
		 shared ? "shared" : "private", i);
	ret = placed_case(_metadata, t, p, &c[i], want, what, idx);
	if (memcmp(p, &c[i], sizeof(c[i])))
		flunk(_metadata, t->t, "%s: read-only struct changed", what);
	munmap(p, R.page);
	if (fd >= 0)
		close(fd);
	return ret;
}

TEST_F(hostile, struct_read_only_pdu_write_back_efault_installs_nothing)
{
	struct io_uring_bpf c[RO_STRUCTS];
	struct tgt t;
	bool task;

	ASSERT_GE(RO_STRUCTS, ro_structs(c));
	for (task = false; ; task = true) {
		tgt_init(_metadata, &t, task);
		run_cases(_metadata, &t, 2 * ro_structs(c), ro_one);
		tally_print(task ? "read-only struct, task" :
			    "read-only struct, ring", t.t);
		EXPECT_EQ(0, t.t->fails);
		EXPECT_EQ(0, t.t->accepted);
		tgt_exit(&t);
		if (task)
			break;
	}
}

/*
 * filter.pdu_size alone on its own side of a page boundary: read-only
 * from it on (the write faults), or writable up to it and read-only after
 * (the struct is read whole, the write lands, the filter is installed).
 */
static int straddle_one(struct __test_metadata *_metadata, struct tgt *t,
			unsigned int idx)
{
	size_t off = offsetof(struct io_uring_bpf, filter.pdu_size);
	struct io_uring_bpf c, *p;
	int ret, want = idx ? 0 : -EFAULT;
	char *map;

	map = mmap(NULL, 2 * R.page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return setup_failed(_metadata, t, idx);
	p = (void *)(map + R.page - off - idx);
	base_bpf(&c, IORING_OP_SOCKET, 0);
	c.filter.pdu_size = 4;
	*p = c;
	if (mprotect(map + R.page, R.page, PROT_READ))
		return setup_failed(_metadata, t, idx);
	ret = placed_case(_metadata, t, p, &c, want,
			  idx ? "pdu_size last writable byte" :
			  "pdu_size first read-only byte", idx);
	c.filter.pdu_size = idx ? 12 : 4;
	if (memcmp(p, &c, sizeof(c)))
		flunk(_metadata, t->t, "case %u: pdu_size %u, want %u", idx,
		      p->filter.pdu_size, c.filter.pdu_size);
	munmap(map, 2 * R.page);
	return ret;
}

TEST_F(hostile, struct_pdu_size_byte_alone_across_a_page_boundary)
{
	struct tgt t;
	bool task;

	for (task = false; ; task = true) {
		tgt_init(_metadata, &t, task);
		run_cases(_metadata, &t, 2, straddle_one);
		tally_print(task ? "pdu_size at a page boundary, task" :
			    "pdu_size at a page boundary, ring", t.t);
		EXPECT_EQ(0, t.t->fails);
		EXPECT_EQ(1, t.t->accepted);
		tgt_exit(&t);
		if (task)
			break;
	}
}

/* "deny DENY_UD, allow the rest", the last 6 instructions before @end. */
static void put_deny_ud(void *end)
{
	struct sock_filter *p = (struct sock_filter *)end - 6;

	p[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0);
	p[1] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					    ud_word(DENY_UD, 0), 0, 3);
	p[2] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4);
	p[3] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					    ud_word(DENY_UD, 4), 0, 1);
	p[4] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	p[5] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 1);
}

#define DENY_UD_LEN	6
#define DENY_UD_BYTES	(DENY_UD_LEN * sizeof(struct sock_filter))

static const char * const insn_place_names[] = {
	"read-only shared mapping", "odd address", "read-only private page",
	"unmapped page", "last instruction in an unmapped page",
	"PROT_NONE page",
};

/* Where the instructions lie, and what that gives. */
static int insn_place_one(struct __test_metadata *_metadata, struct tgt *t,
			  unsigned int idx)
{
	size_t mapped = 2 * R.page;
	struct sock_filter prog[DENY_UD_LEN];
	struct io_uring_bpf b;
	int fd = -1, want = 0, ret;
	char *map, *p;

	put_deny_ud(prog + DENY_UD_LEN);
	map = mmap(NULL, 2 * R.page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return setup_failed(_metadata, t, idx);
	p = map;
	switch (idx) {
	case 0:
		fd = memfd_create("hostile", MFD_CLOEXEC);
		if (fd < 0 || pwrite(fd, prog, sizeof(prog), 0) !=
		    sizeof(prog))
			return setup_failed(_metadata, t, idx);
		p = mmap(NULL, R.page, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return setup_failed(_metadata, t, idx);
		break;
	case 1:
		p = map + 3;
		memcpy(p, prog, sizeof(prog));
		break;
	case 2:
		memcpy(p, prog, sizeof(prog));
		mprotect(map, 2 * R.page, PROT_READ);
		break;
	case 3:
		munmap(map, 2 * R.page);
		mapped = 0;
		want = -EFAULT;
		break;
	case 4:
		p = map + R.page - DENY_UD_BYTES + sizeof(prog[0]);
		memcpy(p, prog, sizeof(prog) - sizeof(prog[0]));
		munmap(map + R.page, R.page);
		mapped = R.page;
		want = -EFAULT;
		break;
	default:
		mprotect(map, 2 * R.page, PROT_NONE);
		want = -EFAULT;
		break;
	}
	/* SOCKET: the fault comes after pdu_size was written back */
	bpf_filter_prep(&b, idx < 3 ? IORING_OP_NOP : IORING_OP_SOCKET, 0,
			(void *)p, DENY_UD_LEN);
	ret = placed_case(_metadata, t, &b, &b, want, insn_place_names[idx],
			  idx);
	if (idx >= 3 && b.filter.pdu_size != 12)
		flunk(_metadata, t->t, "%s: pdu_size %u, want 12",
		      insn_place_names[idx], b.filter.pdu_size);
	if (fd >= 0) {
		munmap(p, R.page);
		close(fd);
	}
	if (mapped)
		munmap(map, mapped);
	return ret;
}

TEST_F(hostile, filter_ptr_placements)
{
	struct tgt t;
	bool task;

	for (task = false; ; task = true) {
		tgt_init(_metadata, &t, task);
		t.m.nop_deny_ud_only = true;
		run_cases(_metadata, &t, ARRAY_SIZE(insn_place_names),
			  insn_place_one);
		tally_print(task ? "filter_ptr placements, task" :
			    "filter_ptr placements, ring", t.t);
		EXPECT_EQ(0, t.t->fails);
		EXPECT_EQ(3, t.t->accepted);
		tgt_exit(&t);
		if (task)
			break;
	}
}

/*
 * The §7 header: only read, so read-only memory is fine; unreadable is
 * -EFAULT, whether the header or an entry is.
 */
static const char * const tres_place_names[] = {
	"read-only page", "read-only page, flags 1", "PROT_NONE page",
	"unmapped page", "last byte in a PROT_NONE page",
	"entry in an unmapped page", "kernel address",
};

static int tres_place_one(struct __test_metadata *_metadata, struct tgt *t,
			  unsigned int idx)
{
	size_t hdr = sizeof(struct io_uring_task_restriction);
	struct io_uring_task_restriction *h;
	static const int want[] = {
		0, -EINVAL, -EFAULT, -EFAULT, -EFAULT, -EFAULT, -EFAULT,
	};
	struct model m = t->m;
	struct tres_case c;
	size_t mapped;
	char *map;
	int ret;

	map = mmap(NULL, 2 * R.page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return setup_failed(_metadata, t, idx);
	tres_base(&c);
	c.nr_res = 1;
	c.flags = idx == 1;
	h = (void *)(map + R.page - hdr - sizeof(h->restrictions[0]));
	switch (idx) {
	case 0:
	case 1:
		break;
	case 2:
		h = (void *)map;
		break;
	case 3:
		h = (void *)unmapped_page();
		break;
	case 4:
		h = (void *)(map + R.page - hdr + 1);
		break;
	case 5:
		h = (void *)(map + R.page - hdr);
		break;
	default:
		h = (void *)0xffff888000000000ULL;
		break;
	}
	if (idx < 2 || idx == 5) {
		h->flags = c.flags;
		h->nr_res = c.nr_res;
		memset(h->resv, 0, sizeof(h->resv));
	}
	if (idx < 2)
		h->restrictions[0] = entry_read;
	if (idx < 2)
		mprotect(map, 2 * R.page, PROT_READ);
	else if (idx == 2)
		mprotect(map, R.page, PROT_NONE);
	else if (idx == 4)
		mprotect(map + R.page, R.page, PROT_NONE);
	else if (idx == 5)
		munmap(map + R.page, R.page);
	mapped = idx == 5 ? R.page : 2 * R.page;
	ret = raw_register(TASK_FD, IORING_REGISTER_RESTRICTIONS, h, 1);
	tally_add(t->t, ret);
	if (ret != want[idx])
		flunk(_metadata, t->t, "header in a %s: %d, want %d",
		      tres_place_names[idx], ret, want[idx]);
	if (!ret && !model_tres(&c, &m))
		t->m = m;
	check_state(_metadata, t, idx, !ret);
	munmap(map, mapped);
	return ret;
}

TEST_F(hostile, task_restrictions_header_placements)
{
	struct tgt t;

	tgt_init(_metadata, &t, true);
	run_cases(_metadata, &t, ARRAY_SIZE(tres_place_names),
		  tres_place_one);
	tally_print("task restriction header placements", t.t);
	EXPECT_EQ(0, t.t->fails);
	EXPECT_EQ(1, t.t->accepted);
	tgt_exit(&t);
}

/*
 * The instructions unmapped, remapped and made PROT_NONE by another
 * thread while the main thread registers them. The program is
 * RACE_PAGES pages: "ld #0" (all zero bytes) up to the 6 instructions of
 * "deny DENY_UD" at the end of the last page. The racer puts back exactly
 * that: zero pages for all but the last, and the last page moved in whole
 * with mremap(), so a read sees each page either as it is, or zero, or
 * not at all. Every call must then give 0, -EFAULT or -EINVAL (the last
 * page zero: no RET at the end), and install exactly that program or
 * nothing. Each accepted call moves on to a fresh ring from a pool made
 * beforehand, so that the main thread maps nothing during the race.
 */
#define RACE_PAGES	3
#define RACE_CALLS	400
#define RACE_RINGS	128

struct racer {
	char *buf;
	size_t len;
	long page;
	int stop;
	unsigned long ops;
	int err;
	int step;
};

static char *racer_spare(long page)
{
	char *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	put_deny_ud(p + page);
	return p;
}

/* Whether racer step @step went @ok; if not, the racer stops. */
static bool racer_ok(struct racer *r, int step, bool ok)
{
	if (!ok) {
		r->err = errno;
		r->step = step;
	}
	return ok;
}

/* One round of the racer's steps; false if a step failed. */
static bool racer_round(struct racer *r, unsigned long i)
{
	const int rw = PROT_READ | PROT_WRITE;
	const int anon = MAP_PRIVATE | MAP_ANONYMOUS;
	long pg = r->page;
	char *tail = r->buf + r->len - pg, *spare;

	switch (i % 5) {
	case 0:
		if (!racer_ok(r, 0, !mprotect(r->buf, r->len, PROT_NONE)))
			return false;
		sched_yield();
		return racer_ok(r, 1, !mprotect(r->buf, r->len, rw));
	case 1:
		if (!racer_ok(r, 2, !munmap(r->buf, pg)))
			return false;
		sched_yield();
		return racer_ok(r, 3, mmap(r->buf, pg, rw,
					   anon | MAP_FIXED_NOREPLACE, -1,
					   0) == r->buf);
	case 2:
		return racer_ok(r, 4, !madvise(r->buf, r->len - pg,
					       MADV_DONTNEED));
	case 3:
		spare = racer_spare(pg);
		if (!racer_ok(r, 5, spare) ||
		    !racer_ok(r, 6, mmap(tail, pg, rw, anon | MAP_FIXED, -1,
					 0) == tail))
			return false;
		sched_yield();
		return racer_ok(r, 7, mremap(spare, pg, pg, MREMAP_MAYMOVE |
					     MREMAP_FIXED, tail) == tail);
	default:
		spare = racer_spare(pg);
		if (!racer_ok(r, 8, spare) ||
		    !racer_ok(r, 9, !munmap(r->buf, r->len)))
			return false;
		sched_yield();
		return racer_ok(r, 10, mmap(r->buf, r->len - pg, rw,
					    anon | MAP_FIXED_NOREPLACE, -1,
					    0) == r->buf) &&
			racer_ok(r, 11, mremap(spare, pg, pg, MREMAP_MAYMOVE |
					       MREMAP_FIXED, tail) == tail);
	}
}

static void *racer_fn(void *arg)
{
	struct racer *r = arg;
	unsigned long i;

	for (i = 0; !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE); i++) {
		if (!racer_round(r, i))
			break;
		__atomic_store_n(&r->ops, i + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST_F_TIMEOUT(hostile, instructions_unmapped_during_registration, 300)
{
	unsigned int i, cur = 0, nrings, len;
	struct io_uring *rings;
	struct io_uring_bpf b;
	struct racer r = {};
	struct tgt t;
	pthread_t th;
	int ret;

	r.page = R.page;
	r.len = RACE_PAGES * R.page;
	len = r.len / sizeof(struct sock_filter);
	ASSERT_GE(BPF_MAXINSNS, len);
	r.buf = mmap(NULL, r.len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r.buf);
	put_deny_ud(r.buf + r.len);
	tgt_init(_metadata, &t, false);
	t.m.nop_deny_ud_only = true;
	rings = calloc(RACE_RINGS, sizeof(*rings));
	ASSERT_NE(NULL, rings);
	for (nrings = 0; nrings < RACE_RINGS; nrings++)
		ASSERT_EQ(0, io_uring_queue_init(RING_ENTRIES, &rings[nrings],
						 0));

	/* before the race: the program as it lies is accepted */
	bpf_filter_prep(&b, IORING_OP_NOP, 0, (void *)r.buf, len);
	ASSERT_EQ(0, bpf_filter_register(t.ring.ring_fd, &b));
	model_apply(&t.m, &b);
	check_state(_metadata, &t, 0, true);
	ASSERT_EQ(0, t.t->fails);
	tgt_reset(_metadata, &t);
	io_uring_queue_exit(&t.ring);

	ASSERT_EQ(0, pthread_create(&th, NULL, racer_fn, &r));
	for (i = 0; i < RACE_CALLS && cur < nrings; i++) {
		t.ring = rings[cur];
		bpf_filter_prep(&b, IORING_OP_NOP, 0, (void *)r.buf, len);
		ret = bpf_filter_register(t.ring.ring_fd, &b);
		tally_add(t.t, ret);
		if (ret && ret != -EFAULT && ret != -EINVAL)
			flunk(_metadata, t.t, "call %u: %d", i, ret);
		if (!ret)
			model_apply(&t.m, &b);
		check_state(_metadata, &t, i, !ret);
		if (!ret) {
			cur++;
			model_clear(&t.m);
		}
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(0, r.err) {
		TH_LOG("racer step %d: %s", r.step, strerror(r.err));
	}
	tally_print("registration against munmap()/mprotect()", t.t);
	note("racer: %lu munmap/mmap/mprotect/madvise/mremap rounds, %u rings used",
	     r.ops, cur);
	EXPECT_EQ(0, t.t->fails);
	/* both outcomes were met, or the race proved nothing */
	EXPECT_LT(0, t.t->accepted);
	EXPECT_LT(0, t.t->efault + t.t->einval);
	for (i = 0; i < nrings; i++)
		io_uring_queue_exit(&rings[i]);
	free(rings);

	/* after the race the program is whole again, and accepted */
	ring_init(_metadata, &t.ring, 0);
	model_clear(&t.m);
	if (!r.err) {
		bpf_filter_prep(&b, IORING_OP_NOP, 0, (void *)r.buf, len);
		EXPECT_EQ(0, bpf_filter_register(t.ring.ring_fd, &b));
		model_apply(&t.m, &b);
		check_state(_metadata, &t, i, true);
		EXPECT_EQ(0, t.t->fails);
	}
	tgt_exit(&t);
	munmap(r.buf, r.len);
}

/*
 * Bounds: "Memory for filters is charged to the registering task's
 * memory cgroup." A child in a cgroup v2 group whose memory.max is a few
 * MiB above what it uses registers programs until -ENOMEM: first of
 * BPF_MAXINSNS instructions, then of SMALL_INSNS until the group is
 * full to the byte, then one that would deny a NOP with DENY_UD. That
 * one must fail with -ENOMEM and change nothing: the NOP is allowed and
 * fdinfo shows the filters the model counted. Closing the ring must give
 * the charge back: memory.current back to what it was before the ring,
 * and the group's vmalloc and percpu bytes (programs, their stats) too.
 *
 * The child is made unkillable (oom_score_adj -1000), so that the memcg
 * OOM killer, which a failed charge invokes, finds no victim and the
 * charge fails with -ENOMEM instead: the kernel log then has a memcg OOM
 * report ("Out of memory and no killable processes") and a vmalloc
 * failure, which are expected. It locks its memory first, so that no page
 * fault at the limit can loop.
 */
#define CG_ROOT		"/sys/fs/cgroup"
#define CG_HEADROOM	(4LL << 20)
#define CG_BALLAST	(512 << 10)
#define CG_SLACK	(256LL << 10)
#define SMALL_INSNS	16

static int file_write(const char *path, const char *s)
{
	ssize_t len = strlen(s);
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, s, len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

static int file_read(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((size_t)total < size - 1 &&
	       (n = read(fd, buf + total, size - 1 - total)) > 0)
		total += n;
	buf[total] = '\0';
	close(fd);
	return 0;
}

/* The number in @file of @dir, or under "@key " in it; -1 if none. */
static long long cg_value(const char *dir, const char *file, const char *key)
{
	static char buf[16384];
	char path[256], *line;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (file_read(path, buf, sizeof(buf)))
		return -1;
	if (!key)
		return strtoll(buf, NULL, 10);
	len = strlen(key);
	for (line = buf; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL)
		if (!strncmp(line, key, len) && line[len] == ' ')
			return strtoll(line + len + 1, NULL, 10);
	return -1;
}

static bool has_word(const char *list, const char *word)
{
	size_t len = strlen(word);
	const char *p;

	for (p = strstr(list, word); p; p = strstr(p + 1, word))
		if ((p == list || p[-1] == ' ') &&
		    (!p[len] || p[len] == ' ' || p[len] == '\n'))
			return true;
	return false;
}

static bool memcg_setup(char *dir, size_t size, char *why, size_t wsize)
{
	struct statfs sfs;
	char buf[512];

	if (statfs(CG_ROOT, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		if (mount("none", CG_ROOT, "cgroup2", 0, NULL)) {
			snprintf(why, wsize,
				 "no cgroup v2 at %s and mounting one failed: %s",
				 CG_ROOT, strerror(errno));
			return false;
		}
		if (statfs(CG_ROOT, &sfs) ||
		    sfs.f_type != CGROUP2_SUPER_MAGIC) {
			snprintf(why, wsize, "%s is no cgroup v2", CG_ROOT);
			return false;
		}
	}
	if (file_read(CG_ROOT "/cgroup.controllers", buf, sizeof(buf)) ||
	    !has_word(buf, "memory")) {
		snprintf(why, wsize, "no memory controller in %s", CG_ROOT);
		return false;
	}
	if (file_read(CG_ROOT "/cgroup.subtree_control", buf, sizeof(buf)) ||
	    !has_word(buf, "memory")) {
		if (file_write(CG_ROOT "/cgroup.subtree_control", "+memory")) {
			snprintf(why, wsize,
				 "cannot enable the memory controller: %s",
				 strerror(errno));
			return false;
		}
	}
	snprintf(dir, size, "%s/io_uring_hostile.%d", CG_ROOT, getpid());
	if (mkdir(dir, 0755)) {
		snprintf(why, wsize, "mkdir %s: %s", dir, strerror(errno));
		return false;
	}
	return true;
}

struct memcg_report {
	unsigned int big, small, calls, rounds;
	int big_ret, small_ret, probe_ret;
	unsigned int probe_call;
	int nop_ud, nop_other;
	int after_free;
	bool fdinfo_ok, fdinfo_after_ok;
	char msg[256];
};

static int post(int fd)
{
	char c = 0;

	return write(fd, &c, 1) == 1 ? 0 : -1;
}

static int await(int fd)
{
	char c;

	return read(fd, &c, 1) == 1 ? 0 : -1;
}

/*
 * Register @prog (@len instructions) on the opcodes but NOP in turn, as
 * long as each path has room (Bounds), until a call fails; its errno, or
 * -ENOSPC if every path is full first.
 */
static int memcg_fill(struct io_uring *ring, struct model *m,
		      const struct sock_filter *prog, unsigned int len,
		      unsigned int *count, struct memcg_report *rep)
{
	struct io_uring_bpf b;
	unsigned int op = 1, tried;
	int ret;

	for (;;) {
		for (tried = 0; tried < IORING_OP_LAST &&
		     (op == IORING_OP_NOP ||
		      m->cost[op] + len > MAX_INSNS_PER_PATH); tried++)
			op = (op + 1) % IORING_OP_LAST;
		if (tried == IORING_OP_LAST)
			return -ENOSPC;
		bpf_filter_prep(&b, op, 0, prog, len);
		ret = bpf_filter_register(ring->ring_fd, &b);
		rep->calls++;
		if (ret)
			return ret;
		model_apply(m, &b);
		(*count)++;
		op = (op + 1) % IORING_OP_LAST;
	}
}

static void memcg_child(struct memcg_report *rep, int in, int out)
{
	static struct sock_filter small[SMALL_INSNS];
	struct sock_filter *big, *probe;
	char stack[128 << 10], why[160];
	struct io_uring_bpf b;
	struct io_uring ring;
	struct fdinfo fi;
	struct model m;
	unsigned int i, n;
	char *ballast;
	int res;

	memset(&m, 0, sizeof(m));
	if (file_write("/proc/self/oom_score_adj", "-1000")) {
		snprintf(rep->msg, sizeof(rep->msg), "oom_score_adj: %s",
			 strerror(errno));
		_exit(2);
	}
	big = calloc(BPF_MAXINSNS, sizeof(*big));
	probe = calloc(BPF_MAXINSNS, sizeof(*probe));
	if (!big || !probe)
		_exit(2);
	for (i = 0; i < BPF_MAXINSNS; i++)
		big[i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 1);
	for (i = 0; i < SMALL_INSNS; i++)
		small[i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 1);
	put_deny_ud(probe + BPF_MAXINSNS);
	/* fault in the stack this child will use, then lock everything */
	memset(stack, 1, sizeof(stack));
	__asm__ __volatile__("" : : "r"(stack) : "memory");
	if (mlockall(MCL_CURRENT | MCL_FUTURE)) {
		snprintf(rep->msg, sizeof(rep->msg), "mlockall: %s",
			 strerror(errno));
		_exit(2);
	}
	if (post(out) || await(in))		/* moved into the group */
		_exit(4);
	ballast = mmap(NULL, CG_BALLAST, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (ballast == MAP_FAILED)
		_exit(3);
	memset(ballast, 1, CG_BALLAST);
	if (post(out) || await(in))		/* baseline taken */
		_exit(4);
	if (io_uring_queue_init(RING_ENTRIES, &ring, 0)) {
		snprintf(rep->msg, sizeof(rep->msg), "no ring");
		_exit(3);
	}
	/* requests the NOPs at the limit take from the ring's cache */
	for (i = 0; i < 2; i++)
		nop_plain(&ring, OTHER_UD, &res);

	rep->big_ret = memcg_fill(&ring, &m, big, BPF_MAXINSNS, &rep->big,
				  rep);
	/* the sets replaced before a failed call go after a grace period */
	for (rep->rounds = 0; rep->rounds < 8; rep->rounds++) {
		n = rep->small;
		rep->small_ret = memcg_fill(&ring, &m, small, SMALL_INSNS,
					    &rep->small, rep);
		if (rep->small_ret != -ENOMEM ||
		    (rep->rounds && rep->small == n))
			break;
		usleep(300 * 1000);
	}
	bpf_filter_prep(&b, IORING_OP_NOP, 0, probe, BPF_MAXINSNS);
	rep->probe_ret = bpf_filter_register(ring.ring_fd, &b);
	rep->probe_call = ++rep->calls;
	if (!rep->probe_ret)
		model_apply(&m, &b);
	rep->nop_ud = INT_MIN;
	rep->nop_other = INT_MIN;
	nop_plain(&ring, DENY_UD, &rep->nop_ud);
	nop_plain(&ring, OTHER_UD, &rep->nop_other);

	/* room for fdinfo's buffers */
	munmap(ballast, CG_BALLAST);
	rep->fdinfo_ok = !fdinfo_read(ring.ring_fd, &fi) &&
		fdinfo_matches(&fi, &m, why, sizeof(why));
	if (!rep->fdinfo_ok)
		snprintf(rep->msg, sizeof(rep->msg), "fdinfo: %s", why);
	/* the limit gave no lasting damage: with room, a filter fits */
	bpf_filter_prep(&b, IORING_OP_NOP, 0, small, SMALL_INSNS);
	rep->after_free = bpf_filter_register(ring.ring_fd, &b);
	if (!rep->after_free)
		model_apply(&m, &b);
	rep->fdinfo_after_ok = !fdinfo_read(ring.ring_fd, &fi) &&
		fdinfo_matches(&fi, &m, why, sizeof(why));
	io_uring_queue_exit(&ring);
	if (post(out) || await(in))		/* closed */
		_exit(4);
	_exit(0);
}

TEST_F_TIMEOUT(hostile, memcg_limit_enomem_and_release_on_close, 300)
{
	long long c0, base, vm0, pc0, max0, kill0, cur = -1, vm = -1, pc = -1;
	long long peak, max1, kill1, oom1, left;
	int in[2], out[2], status;
	struct memcg_report *rep;
	char dir[128], why[256], val[32];
	unsigned int i;
	pid_t pid;

	if (!memcg_setup(dir, sizeof(dir), why, sizeof(why)))
		SKIP(return, "memory cgroup unavailable: %s", why);
	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, rep);
	memset(rep, 0, sizeof(*rep));
	ASSERT_EQ(0, pipe2(in, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(out, O_CLOEXEC));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(in[1]);
		close(out[0]);
		memcg_child(rep, in[0], out[1]);
	}
	close(in[0]);
	close(out[1]);
	ASSERT_EQ(0, await(out[0])) TH_LOG("child: %s", rep->msg);

	snprintf(val, sizeof(val), "%d", pid);
	snprintf(why, sizeof(why), "%s/cgroup.procs", dir);
	ASSERT_EQ(0, file_write(why, val));
	c0 = cg_value(dir, "memory.current", NULL);
	ASSERT_LE(0, c0);
	snprintf(val, sizeof(val), "%lld", c0 + CG_HEADROOM);
	snprintf(why, sizeof(why), "%s/memory.max", dir);
	ASSERT_EQ(0, file_write(why, val));
	snprintf(why, sizeof(why), "%s/memory.swap.max", dir);
	file_write(why, "0");
	max0 = cg_value(dir, "memory.events", "max");
	kill0 = cg_value(dir, "memory.events", "oom_kill");
	ASSERT_EQ(0, post(in[1]));
	ASSERT_EQ(0, await(out[0])) TH_LOG("child: %s", rep->msg);

	base = cg_value(dir, "memory.current", NULL);
	vm0 = cg_value(dir, "memory.stat", "vmalloc");
	pc0 = cg_value(dir, "memory.stat", "percpu");
	ASSERT_EQ(0, post(in[1]));
	ASSERT_EQ(0, await(out[0])) TH_LOG("child: %s", rep->msg);

	peak = cg_value(dir, "memory.peak", NULL);
	max1 = cg_value(dir, "memory.events", "max");
	oom1 = cg_value(dir, "memory.events", "oom");
	kill1 = cg_value(dir, "memory.events", "oom_kill");
	/* the ring is closed: its charges go, after RCU and deferred frees */
	for (i = 0; i < 150; i++) {
		cur = cg_value(dir, "memory.current", NULL);
		vm = cg_value(dir, "memory.stat", "vmalloc");
		pc = cg_value(dir, "memory.stat", "percpu");
		if (cur <= base + CG_SLACK && vm <= vm0 && pc <= pc0)
			break;
		usleep(200 * 1000);
	}
	note("memcg: memory.max %lld KiB, %u calls in %u rounds:",
	     (c0 + CG_HEADROOM) >> 10, rep->calls, rep->rounds);
	note("memcg:   %u filters of %u instructions, %u of %u, then -ENOMEM",
	     rep->big, BPF_MAXINSNS, rep->small, SMALL_INSNS);
	note("memcg: the NOP probe, call %u: %d", rep->probe_call,
	     rep->probe_ret);
	note("memcg: memory.current %lld KiB before the ring, peak %lld KiB",
	     base >> 10, peak >> 10);
	note("memcg: memory.current %lld KiB %.1f s after close", cur >> 10,
	     i * 0.2);
	note("memcg: memory.stat vmalloc %lld -> %lld, percpu %lld -> %lld",
	     vm0, vm, pc0, pc);
	note("memcg: memory.events max %lld -> %lld, oom %lld, oom_kill %lld -> %lld",
	     max0, max1, oom1, kill0, kill1);

	EXPECT_EQ(-ENOMEM, rep->big_ret);
	EXPECT_LT(0, rep->big);
	EXPECT_EQ(-ENOMEM, rep->small_ret);
	EXPECT_EQ(-ENOMEM, rep->probe_ret);
	EXPECT_EQ(0, rep->nop_ud);
	EXPECT_EQ(0, rep->nop_other);
	EXPECT_TRUE(rep->fdinfo_ok) TH_LOG("%s", rep->msg);
	EXPECT_EQ(0, rep->after_free);
	EXPECT_TRUE(rep->fdinfo_after_ok);
	EXPECT_LT(max0, max1);
	EXPECT_EQ(kill0, kill1);
	EXPECT_LE(cur, base + CG_SLACK);
	EXPECT_LE(vm, vm0);
	EXPECT_LE(pc, pc0);

	ASSERT_EQ(0, post(in[1]));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) {
		TH_LOG("child status %#x: %s", status, rep->msg);
	}
	for (i = 0; i < 50; i++) {
		left = cg_value(dir, "memory.current", NULL);
		if (left <= CG_SLACK)
			break;
		usleep(200 * 1000);
	}
	note("memcg: %lld KiB left in the group after the child exited",
	     left >> 10);
	EXPECT_EQ(0, rmdir(dir)) TH_LOG("rmdir %s: %s", dir, strerror(errno));
	munmap(rep, sizeof(*rep));
}

TEST_F_TIMEOUT(hostile, kmemleak_after_the_run, 300)
{
	static char buf[1 << 16];
	char *p;
	int n = 0;

	if (access(KMEMLEAK, W_OK))
		SKIP(return, "no %s: %s", KMEMLEAK, strerror(errno));
	/* rings and filters go after RCU and work items: give them time */
	sleep(5);
	ASSERT_EQ(0, file_write(KMEMLEAK, "scan"));
	sleep(5);
	ASSERT_EQ(0, file_write(KMEMLEAK, "scan"));
	ASSERT_EQ(0, file_read(KMEMLEAK, buf, sizeof(buf)));
	for (p = strstr(buf, "unreferenced object"); p;
	     p = strstr(p + 1, "unreferenced object"))
		n++;
	note("kmemleak: %d unreferenced objects", n);
	EXPECT_EQ(0, n) TH_LOG("%.2000s", buf);
}

TEST_HARNESS_MAIN
