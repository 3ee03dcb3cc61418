// SPDX-License-Identifier: GPL-2.0
/*
 * Races of IORING_REGISTER_BPF_FILTER against what uses filter sets while
 * they change: submission from the task and from an SQPOLL thread, ring
 * close with io-wq work queued, fork and execve.
 *
 * A registration publishes a new set in place of the old one and chains
 * only grow, so what a request meets is always a prefix of the
 * registrations, in their order. Generation g of a race registers a filter
 * that denies exactly the NOPs with user_data g (add_deny_ud()), so the
 * generations a probe finds denied tell which prefix a ring, or a task,
 * has. A registrar sets "started" to g before it registers g and "done"
 * to g once that returned: a probe submitted after done reached g must be
 * denied, one that completed before started reached g must be allowed,
 * and a thread's probes, in the order they were issued, never see a
 * chain shrink. A torn or reordered chain, or a set published before it
 * was filled in, breaks one of these.
 *
 * Each race stops by itself after a number of operations or seconds,
 * whichever comes first; IO_URING_BPF_STRESS=full in the environment
 * raises both (make stress). Threads only count, and forked children
 * report through their exit status; the test thread checks and prints the
 * counts.
 *
 * Section names in comments ("Evaluation", ...) are those of
 * Documentation/userspace-api/io_uring_bpf_filter.rst.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "../kselftest_harness.h"

#define TASK_FD		-1
#define READ_LEN	16
/* No generation uses these: a correctly installed filter never denies them. */
#define UD_PLAIN	0ULL
#define UD_PLAIN_ASYNC	0x8000000000000001ULL
#define UD_REST		0x8000000000000002ULL
#define UD_READ		0x8000000000000003ULL
#define UD_CHILD	0x8000000000000004ULL
/* The execve race: generations of the ring and of the task, apart. */
#define UD_RING		0x100000000ULL
#define UD_TASK		0x200000000ULL

#define STRESS_ENV	"IO_URING_BPF_STRESS"
#define EXEC_ENV	"IO_URING_BPF_RACE_EXEC"

/*
 * Bounded counts keep the program well inside two minutes on an emulated
 * machine with debugging options; STRESS_ENV=full runs the full ones. A
 * NOP generation costs 6 + 4 towards the path bound (Bounds), an
 * allow-all filter 1 + 4: the full counts stay below 32768.
 */
#define RACE_SECS		4
#define RACE_SECS_FULL		60
#define RACE_TIMEOUT		300
#define SUBMIT_GENS		300
#define SUBMIT_GENS_FULL	3000
#define SUBMIT_RESTS		200
#define SUBMIT_RESTS_FULL	6000
#define SUBMIT_REQS		20000
#define SUBMIT_REQS_FULL	1000000
#define SUBMITTERS		3
#define CLOSE_ROUNDS		40
#define CLOSE_ROUNDS_FULL	5000
#define CLOSE_REGS		32	/* registrations a round, at most */
#define CLOSE_QUEUED		128	/* requests a round, at most */
#define FORK_GENS		200
#define FORK_GENS_FULL		1000
#define FORK_CHILDREN		60
#define FORK_CHILDREN_FULL	1000
#define FORK_EVERY		4	/* the registrar forks every 4th generation */
#define FORK_OUTSTANDING	8	/* children a thread leaves unreaped */
#define EXEC_ROUNDS		16
#define EXEC_ROUNDS_FULL	400
#define EXEC_REGS		256	/* registrations of a round, at most */
#define EXEC_BASE_MAX		3	/* task filters the exec'ing thread has */

/* More than any chain a race builds, and a generation over. */
#define MAX_PROBES		(SUBMIT_GENS_FULL + 2)

static const struct sock_filter prog_allow[] = {
	BPF_STMT(BPF_RET | BPF_K, 1),
};

static char read_buf[READ_LEN];
static const char write_buf[READ_LEN];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static unsigned int load_acquire(const unsigned int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release(unsigned int *p, unsigned int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static unsigned int fetch_add(unsigned int *p, unsigned int v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL);
}

static unsigned int max_u(unsigned int a, unsigned int b)
{
	return a > b ? a : b;
}

/* A seed for rand_r(), printed so that a failing run can be retold. */
static unsigned int race_seed(void)
{
	return (unsigned int)now_ms() ^ ((unsigned int)getpid() << 16);
}

/* What a race may take: counts (bounded or full), until a deadline. */
struct race_budget {
	bool full;
	long long deadline;	/* CLOCK_MONOTONIC, in ms */
	unsigned int seed;
};

FIXTURE(race) {
	struct race_budget b;
};

FIXTURE_SETUP(race)
{
	const char *mode = getenv(STRESS_ENV);

	self->b.full = mode && !strcmp(mode, "full");
	self->b.deadline = now_ms() +
			   1000LL * (self->b.full ? RACE_SECS_FULL : RACE_SECS);
	self->b.seed = race_seed();
}

FIXTURE_TEARDOWN(race)
{
}

#define RACE_COUNT(b, name) ((b)->full ? name##_FULL : name)

/* Allow task-level registration without CAP_SYS_ADMIN. */
static void set_nnp(struct __test_metadata *_metadata)
{
	ASSERT_EQ(0, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
}

/*
 * Submit the @n SQEs got since the last submission. On 6.12 a request
 * that fails at init, a denied one too (Evaluation), ends the batch: the
 * SQEs after it stay in the SQ ring, and are submitted again here. On an
 * SQPOLL ring the SQ thread does that. Returns 0 or -errno.
 */
static int submit_all(struct io_uring *ring, unsigned int n)
{
	unsigned int done = 0;
	int ret;

	while (done < n) {
		ret = io_uring_submit(ring);
		if (ret < 0)
			return ret;
		if (!ret)
			return -EPROTO;
		done += ret;
	}
	return done == n ? 0 : -EPROTO;
}

/*
 * Probing a prefix, harness-free for forked children and exec'd helpers:
 * the NOPs with user_data @ud_base + g for g = 1..@n, in batches that each
 * start with a plain NOP. Returns 0 and stores in *@prefix the number m of
 * generations found denied if they are exactly 1..m; PROBE_TORN if a plain
 * NOP was denied or a probe completed with anything but 0 or -EACCES,
 * PROBE_HOLE if the denied generations are not a prefix, or -errno if
 * submitting failed.
 */
#define PROBE_TORN	1
#define PROBE_HOLE	2

static int probe_prefix(struct io_uring *ring, __u64 ud_base, unsigned int n,
			unsigned int *prefix)
{
	static unsigned char denied[MAX_PROBES + 1];
	unsigned int g, first, batch, i, m;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int ret, torn = 0;

	if (n > MAX_PROBES)
		return -E2BIG;
	memset(denied, 0, n + 1);
	for (first = 1; first <= n; first += batch) {
		batch = n - first + 1;
		if (batch > RING_ENTRIES - 1)
			batch = RING_ENTRIES - 1;
		sqe = io_uring_get_sqe(ring);
		if (!sqe)
			return -EBUSY;
		io_uring_prep_nop(sqe);
		sqe->user_data = UD_PLAIN;
		for (g = first; g < first + batch; g++) {
			sqe = io_uring_get_sqe(ring);
			if (!sqe)
				return -EBUSY;
			io_uring_prep_nop(sqe);
			sqe->user_data = ud_base + g;
		}
		ret = submit_all(ring, batch + 1);
		if (ret)
			return ret;
		for (i = 0; i < batch + 1; i++) {
			ret = io_uring_wait_cqe(ring, &cqe);
			if (ret)
				return ret;
			g = cqe->user_data - ud_base;
			if (cqe->user_data == UD_PLAIN)
				torn |= cqe->res != 0;
			else if (g < first || g >= first + batch)
				torn = 1;
			else if (cqe->res == -EACCES)
				denied[g] = 1;
			else
				torn |= cqe->res != 0;
			io_uring_cqe_seen(ring);
		}
	}
	if (torn)
		return PROBE_TORN;
	for (m = 0; m < n && denied[m + 1]; m++)
		;
	*prefix = m;
	for (g = m + 1; g <= n; g++)
		if (denied[g])
			return PROBE_HOLE;
	return 0;
}

/*
 * Evaluation, raced: submitters send NOPs on one ring while registrars
 * add filters to it. The NOP registrar registers generations 1..N; the
 * other registers allow-all filters on READ, with DENY_REST from the
 * moment the first NOP generation has returned: NOP has a chain by then,
 * so DENY_REST leaves it as it is (Denying the rest), READ has its own
 * filters and stays allowed, and WRITE, which has none, gets the deny
 * entry with the first of them.
 *
 * A batch is one plain NOP (user_data 0), a few probes (NOPs with
 * user_data g), a WRITE to /dev/null (the deny entry's probe), sometimes a
 * READ of /dev/zero and an IOSQE_ASYNC NOP (user_data UD_PLAIN_ASYNC,
 * completed by io-wq). The submitters take turns on the ring, a batch at
 * a time: fill, submit, reap its CQEs. A denied probe ends the kernel's
 * batch and the rest is submitted again (submit_all()): the requests are
 * still filtered in the order of their SQEs, later ones against a chain
 * no shorter.
 */
struct chain_race {
	struct io_uring ring;
	pthread_mutex_t lock;		/* the SQ and CQ: one batch at a time */
	pthread_barrier_t start;
	long long deadline;
	unsigned int seed;
	unsigned int max_gens, max_rests, max_reqs;
	int null_fd, zero_fd;
	/* accessed atomically */
	unsigned int gen_started, gen_done;	/* NOP generations */
	unsigned int rest_started, rest_done;	/* DENY_REST registrations */
	unsigned int reqs;			/* requests submitted */
	unsigned int stop;
	/* the registrars' */
	int gen_err, rest_err;
	unsigned int read_regs;		/* READ filters, DENY_REST or not */
};

enum slot_kind { SLOT_PLAIN, SLOT_ASYNC, SLOT_PROBE, SLOT_REST, SLOT_READ };

#define BATCH_MAX	10

struct slot {
	enum slot_kind kind;
	__u64 ud;
	unsigned int gen;
	int res;
	bool seen;
};

struct submitter {
	struct chain_race *race;
	unsigned int seed;
	unsigned int max_denied;	/* the highest generation seen denied */
	bool rest_denied;		/* WRITE seen denied */
	unsigned int reqs, probes, denied, rest_probes, batches, unordered;
	/* violations */
	unsigned int torn;	/* a never-denied request denied, or garbage */
	unsigned int missing;	/* registration returned, probe allowed */
	unsigned int early;	/* registration not started, probe denied */
	unsigned int shrunk;	/* allowed after a later generation was denied */
	unsigned int io_err;
	char first[160];	/* what the first violation was */
};

static bool chain_race_over(struct chain_race *r)
{
	return load_acquire(&r->stop) || now_ms() >= r->deadline;
}

static void violation(struct submitter *s, unsigned int *count,
		      const char *what, const struct slot *sl,
		      unsigned int done, unsigned int started)
{
	(*count)++;
	if (s->first[0])
		return;
	snprintf(s->first, sizeof(s->first),
		 "%s: user_data 0x%llx res %d, done %u before, started %u after, max denied %u",
		 what, (unsigned long long)sl->ud, sl->res, done, started,
		 s->max_denied);
}

/* A generation to probe: around the registrar's position, or any so far. */
static unsigned int pick_gen(unsigned int *seed, unsigned int started,
			     unsigned int done)
{
	switch (rand_r(seed) % 6) {
	case 0:
		return done ? done : 1;
	case 1:
		return done + 1;
	case 2:
		return started + 1;
	case 3:
		return started + 2;
	default:
		return 1 + rand_r(seed) % (started + 2);
	}
}

static void prep_slot(struct chain_race *r, struct io_uring_sqe *sqe,
		      struct slot *sl)
{
	switch (sl->kind) {
	case SLOT_REST:
		io_uring_prep_write(sqe, r->null_fd, write_buf, READ_LEN, 0);
		break;
	case SLOT_READ:
		io_uring_prep_read(sqe, r->zero_fd, read_buf, READ_LEN, 0);
		break;
	default:
		io_uring_prep_nop(sqe);
		if (sl->kind == SLOT_ASYNC)
			sqe->flags = IOSQE_ASYNC;
		break;
	}
	sqe->user_data = sl->ud;
}

static unsigned int build_batch(struct submitter *s, struct slot *slot)
{
	struct chain_race *r = s->race;
	unsigned int started = load_acquire(&r->gen_started);
	unsigned int done = load_acquire(&r->gen_done);
	unsigned int n = 0, probes, i;

	slot[n++] = (struct slot){ .kind = SLOT_PLAIN, .ud = UD_PLAIN };
	probes = 1 + rand_r(&s->seed) % 6;
	for (i = 0; i < probes; i++) {
		unsigned int g = pick_gen(&s->seed, started, done), j;

		/* one probe a generation: a CQE names its slot */
		for (j = 1; j < n && slot[j].gen != g; j++)
			;
		if (j == n)
			slot[n++] = (struct slot){ .kind = SLOT_PROBE,
						   .ud = g, .gen = g };
	}
	slot[n++] = (struct slot){ .kind = SLOT_REST, .ud = UD_REST };
	if (!(rand_r(&s->seed) % 4))
		slot[n++] = (struct slot){ .kind = SLOT_READ, .ud = UD_READ };
	if (!(rand_r(&s->seed) % 4))
		slot[n++] = (struct slot){ .kind = SLOT_ASYNC,
					   .ud = UD_PLAIN_ASYNC };
	return n;
}

/*
 * Give a CQE to the slot of its user_data, unique in a batch. Slots are in
 * submission order, the order in which the kernel prepares and filters
 * requests, whatever order they complete in. Returns whether the CQE came
 * in submission order (IOSQE_ASYNC ones aside, which complete from
 * io-wq), which is only counted.
 */
static bool assign_cqe(struct slot *slot, unsigned int n, __u64 ud, int res,
		       unsigned int *last)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (slot[i].seen || slot[i].ud != ud)
			continue;
		slot[i].seen = true;
		slot[i].res = res;
		if (slot[i].kind == SLOT_ASYNC)
			return true;
		if (*last != UINT_MAX && i < *last)
			return false;
		*last = i;
		return true;
	}
	/* a CQE for no slot: counted as torn by the caller's check */
	return true;
}

/* One batch; returns 0, or -errno if submitting failed. */
static int submit_batch(struct submitter *s)
{
	struct chain_race *r = s->race;
	unsigned int n, i, last = UINT_MAX, done, started, rest_done;
	unsigned int rest_started, running;
	bool ordered = true, rest_running = s->rest_denied;
	struct slot slot[BATCH_MAX];
	struct io_uring_cqe *cqe;
	int ret;

	n = build_batch(s, slot);
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

		if (!sqe) {
			pthread_mutex_unlock(&r->lock);
			return -EBUSY;
		}
		prep_slot(r, sqe, &slot[i]);
	}
	/* what had returned before the batch was submitted */
	done = load_acquire(&r->gen_done);
	rest_done = load_acquire(&r->rest_done);
	ret = submit_all(&r->ring, n);
	if (ret) {
		pthread_mutex_unlock(&r->lock);
		return ret;
	}
	for (i = 0; i < n; i++) {
		ret = io_uring_wait_cqe(&r->ring, &cqe);
		if (ret) {
			pthread_mutex_unlock(&r->lock);
			return ret;
		}
		ordered &= assign_cqe(slot, n, cqe->user_data, cqe->res, &last);
		io_uring_cqe_seen(&r->ring);
	}
	/* what had started by the time the batch completed */
	started = load_acquire(&r->gen_started);
	rest_started = load_acquire(&r->rest_started);
	pthread_mutex_unlock(&r->lock);

	s->batches++;
	s->reqs += n;
	s->unordered += !ordered;
	running = s->max_denied;
	for (i = 0; i < n; i++) {
		struct slot *sl = &slot[i];
		bool denied = sl->res == -EACCES;

		if (!sl->seen) {
			violation(s, &s->torn, "no CQE", sl, done, started);
			continue;
		}
		switch (sl->kind) {
		case SLOT_PLAIN:
		case SLOT_ASYNC:
			if (sl->res)
				violation(s, &s->torn, "plain NOP", sl, done,
					  started);
			break;
		case SLOT_READ:
			if (sl->res != READ_LEN)
				violation(s, &s->torn, "READ", sl, done,
					  started);
			break;
		case SLOT_PROBE:
			s->probes++;
			if (!denied && sl->res) {
				violation(s, &s->torn, "probe", sl, done,
					  started);
			} else if (denied) {
				s->denied++;
				if (sl->gen > started)
					violation(s, &s->early, "early deny",
						  sl, done, started);
				running = max_u(running, sl->gen);
			} else {
				if (sl->gen <= done)
					violation(s, &s->missing,
						  "missing deny", sl, done,
						  started);
				if (sl->gen <= running)
					violation(s, &s->shrunk,
						  "chain shrank", sl, done,
						  started);
			}
			break;
		case SLOT_REST:
			s->rest_probes++;
			if (!denied && sl->res != READ_LEN) {
				violation(s, &s->torn, "WRITE", sl, rest_done,
					  rest_started);
			} else if (denied) {
				rest_running = true;
				if (!rest_started)
					violation(s, &s->early,
						  "early deny entry", sl,
						  rest_done, rest_started);
			} else {
				if (rest_done)
					violation(s, &s->missing,
						  "missing deny entry", sl,
						  rest_done, rest_started);
				if (rest_running)
					violation(s, &s->shrunk,
						  "deny entry lost", sl,
						  rest_done, rest_started);
			}
			break;
		}
	}
	s->max_denied = running;
	s->rest_denied = rest_running;
	return 0;
}

static void *submitter_thread(void *arg)
{
	struct submitter *s = arg;
	struct chain_race *r = s->race;
	unsigned int before;
	int ret;

	pthread_barrier_wait(&r->start);
	while (!chain_race_over(r)) {
		before = s->reqs;
		ret = submit_batch(s);
		if (ret) {
			s->io_err++;
			snprintf(s->first, sizeof(s->first), "submit: %s",
				 strerror(-ret));
			store_release(&r->stop, 1);
			break;
		}
		if (fetch_add(&r->reqs, s->reqs - before) >= r->max_reqs)
			store_release(&r->stop, 1);
	}
	return NULL;
}

/*
 * Spread registrations over the run: wait for up to twice @avg requests
 * (none, at times, for back-to-back registrations). Returns false once the
 * race is over.
 */
static bool chain_race_pace(struct chain_race *r, unsigned int *seed,
			    unsigned int avg)
{
	unsigned int mark = load_acquire(&r->reqs) + rand_r(seed) % (2 * avg + 1);

	while (load_acquire(&r->reqs) < mark && !chain_race_over(r))
		sched_yield();
	return !chain_race_over(r);
}

static void *gen_registrar(void *arg)
{
	struct chain_race *r = arg;
	unsigned int seed = r->seed, g;
	int ret;

	pthread_barrier_wait(&r->start);
	for (g = 1; g <= r->max_gens; g++) {
		if (!chain_race_pace(r, &seed, r->max_reqs / r->max_gens))
			break;
		store_release(&r->gen_started, g);
		ret = add_deny_ud(r->ring.ring_fd, IORING_OP_NOP, 0, g);
		if (ret) {
			r->gen_err = ret;
			store_release(&r->stop, 1);
			break;
		}
		store_release(&r->gen_done, g);
	}
	return NULL;
}

static void *rest_registrar(void *arg)
{
	struct chain_race *r = arg;
	unsigned int seed = r->seed ^ 0x5a5a5a5a, i, flags;
	int ret;

	pthread_barrier_wait(&r->start);
	for (i = 0; i < r->max_rests; i++) {
		if (!chain_race_pace(r, &seed, r->max_reqs / r->max_rests))
			break;
		/* DENY_REST only once NOP has a chain, which it leaves alone */
		flags = load_acquire(&r->gen_done) ?
			IO_URING_BPF_FILTER_DENY_REST : 0;
		if (flags)
			store_release(&r->rest_started,
				      load_acquire(&r->rest_started) + 1);
		ret = BPF_FILTER_ADD(r->ring.ring_fd, IORING_OP_READ, flags,
				     prog_allow);
		if (ret) {
			r->rest_err = ret;
			store_release(&r->stop, 1);
			break;
		}
		r->read_regs++;
		if (flags)
			store_release(&r->rest_done,
				      load_acquire(&r->rest_done) + 1);
	}
	return NULL;
}

static void fdinfo_expect(struct __test_metadata *_metadata, int fd,
			  unsigned int op, const char *name,
			  unsigned int filters, int deny)
{
	char path[64], want[96];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	snprintf(want, sizeof(want), "%u: opcode:%s, filters:%u, deny:%d", op,
		 name, filters, deny);
	EXPECT_TRUE(proc_has_line(path, want)) TH_LOG("fdinfo: no \"%s\"",
						      want);
}

static int one_request(struct __test_metadata *_metadata, struct chain_race *r,
		       enum slot_kind kind)
{
	struct slot sl = { .kind = kind, .ud = 1 };

	prep_slot(r, get_sqe(_metadata, &r->ring), &sl);
	return one_res(_metadata, &r->ring, sl.ud);
}

#define SUBMIT_REPORT "race %s: %u registrations (%u NOP, %u READ, %u DENY_REST), %u requests, %u probes (%u denied), %u deny-entry probes, %u unordered batches, %u torn, %u missing, %u early, %u shrunk, seed %u\n"

static void chain_race_run(struct __test_metadata *_metadata,
			   const struct race_budget *b, unsigned int ring_flags,
			   const char *name)
{
	struct submitter sub[SUBMITTERS];
	pthread_t gen_thread, rest_thread, sub_thread[SUBMITTERS];
	unsigned int i, m = UINT_MAX;
	struct submitter sum = {};
	struct chain_race *r;

	r = calloc(1, sizeof(*r));
	ASSERT_NE(NULL, r);
	ring_init(_metadata, &r->ring, ring_flags);
	r->null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, r->null_fd);
	r->zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, r->zero_fd);
	r->deadline = b->deadline;
	r->seed = b->seed;
	r->max_gens = RACE_COUNT(b, SUBMIT_GENS);
	r->max_rests = RACE_COUNT(b, SUBMIT_RESTS);
	r->max_reqs = RACE_COUNT(b, SUBMIT_REQS);
	ASSERT_EQ(0, pthread_mutex_init(&r->lock, NULL));
	ASSERT_EQ(0, pthread_barrier_init(&r->start, NULL, SUBMITTERS + 2));

	ASSERT_EQ(0, pthread_create(&gen_thread, NULL, gen_registrar, r));
	ASSERT_EQ(0, pthread_create(&rest_thread, NULL, rest_registrar, r));
	for (i = 0; i < SUBMITTERS; i++) {
		sub[i] = (struct submitter){
			.race = r,
			.seed = b->seed + i + 1,
		};
		ASSERT_EQ(0, pthread_create(&sub_thread[i], NULL,
					    submitter_thread, &sub[i]));
	}
	for (i = 0; i < SUBMITTERS; i++) {
		ASSERT_EQ(0, pthread_join(sub_thread[i], NULL));
		sum.reqs += sub[i].reqs;
		sum.probes += sub[i].probes;
		sum.denied += sub[i].denied;
		sum.rest_probes += sub[i].rest_probes;
		sum.unordered += sub[i].unordered;
		sum.torn += sub[i].torn;
		sum.missing += sub[i].missing;
		sum.early += sub[i].early;
		sum.shrunk += sub[i].shrunk;
		sum.io_err += sub[i].io_err;
		if (sub[i].first[0])
			TH_LOG("submitter %u: %s", i, sub[i].first);
	}
	store_release(&r->stop, 1);
	ASSERT_EQ(0, pthread_join(gen_thread, NULL));
	ASSERT_EQ(0, pthread_join(rest_thread, NULL));

	ksft_print_msg(SUBMIT_REPORT,
		       name, r->gen_done + r->read_regs, r->gen_done,
		       r->read_regs, r->rest_done, sum.reqs, sum.probes,
		       sum.denied, sum.rest_probes, sum.unordered, sum.torn,
		       sum.missing, sum.early, sum.shrunk, b->seed);
	EXPECT_EQ(0, r->gen_err);
	EXPECT_EQ(0, r->rest_err);
	EXPECT_EQ(0, sum.io_err);
	EXPECT_EQ(0, sum.torn);
	EXPECT_EQ(0, sum.missing);
	EXPECT_EQ(0, sum.early);
	EXPECT_EQ(0, sum.shrunk);
	EXPECT_LT(0, sum.probes);

	/* Quiet now: the ring has every generation that returned, in order. */
	EXPECT_EQ(0, probe_prefix(&r->ring, 0, r->gen_done + 1, &m));
	EXPECT_EQ(r->gen_done, m);
	EXPECT_EQ(r->rest_done ? -EACCES : READ_LEN,
		  one_request(_metadata, r, SLOT_REST));
	EXPECT_EQ(READ_LEN, one_request(_metadata, r, SLOT_READ));
	if (r->gen_done)
		fdinfo_expect(_metadata, r->ring.ring_fd, IORING_OP_NOP, "NOP",
			      r->gen_done, 0);
	if (r->read_regs)
		fdinfo_expect(_metadata, r->ring.ring_fd, IORING_OP_READ,
			      "READ", r->read_regs, 0);
	if (r->rest_done)
		fdinfo_expect(_metadata, r->ring.ring_fd, IORING_OP_WRITE,
			      "WRITE", 0, 1);

	io_uring_queue_exit(&r->ring);
	close(r->null_fd);
	close(r->zero_fd);
	pthread_barrier_destroy(&r->start);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

TEST_F_TIMEOUT(race, submit_races_ring_registration_chain_never_torn,
	       RACE_TIMEOUT)
{
	chain_race_run(_metadata, &self->b, 0, "submit_vs_register");
}

/* The same, with the requests submitted by the ring's SQ thread. */
TEST_F_TIMEOUT(race, sqpoll_submit_races_ring_registration_chain_never_torn,
	       RACE_TIMEOUT)
{
	chain_race_run(_metadata, &self->b, IORING_SETUP_SQPOLL,
		       "sqpoll_vs_register");
}

/*
 * Ring close, raced: in each round, on a new ring, one thread registers
 * filters, one queues IOSQE_ASYNC requests (NOPs, and READs of an empty
 * pipe that stay pending: io-wq arms poll for them), and one tears the
 * ring down (io_uring_queue_exit()) at a random point of the other two.
 * The ring is freed with work queued and a filter set in use, possibly
 * from the exit of a syscall still in flight. A registration may succeed
 * if it got the ring before close(), and must fail with EBADF once
 * close() has returned; submitting likewise. The test must end: ring
 * exit must not hang on the pending requests.
 *
 * No thread opens a file during a round, so the ring's fd number is not
 * reused under the registrar. The queuer touches the ring's memory only
 * under the lock, which the closer takes to unmap it; its io_uring_enter()
 * calls, and the registrar's calls, run unlocked.
 */
struct close_race {
	struct io_uring ring;
	pthread_mutex_t lock;		/* the ring's memory, against its unmap */
	pthread_barrier_t round_start, round_end;
	int pipe[2];
	unsigned int seed;
	/* set by the test thread between rounds */
	unsigned int quit, close_after_regs, close_after_reqs;
	/* accessed atomically during a round */
	unsigned int closing;		/* unmapped, under the lock */
	unsigned int closed;		/* close() returned */
	unsigned int regs_done, reqs_done, registrar_done, queuer_done;
	/* totals */
	unsigned int rounds, regs_ok, regs_ebadf, regs_late, reqs, enters,
		     enters_ebadf, cqes;
	int bad_reg, bad_enter;		/* an unexpected result */
	/* succeeded though started after close() returned */
	unsigned int reg_after_close, enter_after_close;
};

static int close_race_register(struct close_race *r, unsigned int i)
{
	int fd = r->ring.ring_fd;

	switch (i % 4) {
	case 0:
	case 1:
		return add_deny_ud(fd, IORING_OP_NOP, 0, 1 + i);
	case 2:
		return add_deny_ud(fd, IORING_OP_READ, 0, 1 + i);
	default:
		/* NOP and READ have chains: only other opcodes get denied */
		return BPF_FILTER_ADD(fd, IORING_OP_WRITE,
				      IO_URING_BPF_FILTER_DENY_REST,
				      prog_allow);
	}
}

static void *close_registrar(void *arg)
{
	struct close_race *r = arg;
	unsigned int i, closed;
	int ret;

	for (;;) {
		pthread_barrier_wait(&r->round_start);
		if (r->quit)
			return NULL;
		for (i = 0; i < CLOSE_REGS; i++) {
			closed = load_acquire(&r->closed);
			ret = close_race_register(r, i);
			if (!ret) {
				r->regs_ok++;
				r->reg_after_close += closed;
				fetch_add(&r->regs_done, 1);
				continue;
			}
			if (ret != -EBADF) {
				if (!r->bad_reg)
					r->bad_reg = ret;
				break;
			}
			r->regs_ebadf++;
			r->regs_late += !closed;
			break;
		}
		store_release(&r->registrar_done, 1);
		pthread_barrier_wait(&r->round_end);
	}
}

/*
 * Publish the SQEs got since the last call, as io_uring_submit() does,
 * without entering the kernel; returns how many are pending for it.
 */
static unsigned int sq_publish(struct io_uring *ring)
{
	struct io_uring_sq *sq = &ring->sq;
	unsigned int mask = *sq->kring_mask, ktail = *sq->ktail;

	while (sq->sqe_head != sq->sqe_tail)
		sq->array[ktail++ & mask] = sq->sqe_head++ & mask;
	__atomic_store_n(sq->ktail, ktail, __ATOMIC_RELEASE);
	return ktail - __atomic_load_n(sq->khead, __ATOMIC_ACQUIRE);
}

/*
 * Under the lock: queue a few requests unless some are still pending, and
 * reap what completed. Returns how many are pending, or -1 once the ring
 * is going.
 */
static int close_race_fill(struct close_race *r, unsigned int *seed)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	unsigned int i, n;
	int pending;

	pthread_mutex_lock(&r->lock);
	if (load_acquire(&r->closing)) {
		pthread_mutex_unlock(&r->lock);
		return -1;
	}
	while (!io_uring_peek_cqe(&r->ring, &cqe)) {
		r->cqes++;
		io_uring_cqe_seen(&r->ring);
	}
	pending = *r->ring.sq.ktail - *r->ring.sq.khead;
	n = pending ? 0 : 1 + rand_r(seed) % 4;
	for (i = 0; i < n; i++) {
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			break;
		switch (rand_r(seed) % 4) {
		case 0:
			io_uring_prep_read(sqe, r->pipe[0], read_buf,
					   READ_LEN, 0);
			break;
		case 1:
			/* a byte for one pending READ, inline */
			io_uring_prep_write(sqe, r->pipe[1], write_buf, 1, 0);
			sqe->user_data = 2;
			continue;
		default:
			io_uring_prep_nop(sqe);
			break;
		}
		sqe->flags = IOSQE_ASYNC;
		sqe->user_data = 1;
	}
	r->reqs += i;
	fetch_add(&r->reqs_done, i);
	pending = sq_publish(&r->ring);
	pthread_mutex_unlock(&r->lock);
	return pending;
}

static void *close_queuer(void *arg)
{
	struct close_race *r = arg;
	unsigned int seed = r->seed ^ 0xa5a5a5a5, i, closed;
	int pending, ret;

	for (;;) {
		pthread_barrier_wait(&r->round_start);
		if (r->quit)
			return NULL;
		for (i = 0; i < CLOSE_QUEUED; i++) {
			pending = close_race_fill(r, &seed);
			if (pending < 0)
				break;
			closed = load_acquire(&r->closed);
			/* the ring's fd only: the ring may be unmapped now */
			ret = io_uring_enter(r->ring.ring_fd, pending, 0, 0,
					     NULL);
			r->enters++;
			if (ret >= 0) {
				r->enter_after_close += closed;
				continue;
			}
			if (errno == EBADF)
				r->enters_ebadf++;
			else if (!r->bad_enter)
				r->bad_enter = -errno;
			break;
		}
		store_release(&r->queuer_done, 1);
		pthread_barrier_wait(&r->round_end);
	}
}

static void *close_closer(void *arg)
{
	struct close_race *r = arg;

	for (;;) {
		pthread_barrier_wait(&r->round_start);
		if (r->quit)
			return NULL;
		/* a random point: after so many registrations and requests */
		while ((load_acquire(&r->regs_done) < r->close_after_regs &&
			!load_acquire(&r->registrar_done)) ||
		       (load_acquire(&r->reqs_done) < r->close_after_reqs &&
			!load_acquire(&r->queuer_done)))
			sched_yield();
		pthread_mutex_lock(&r->lock);
		store_release(&r->closing, 1);
		io_uring_queue_exit(&r->ring);
		store_release(&r->closed, 1);
		pthread_mutex_unlock(&r->lock);
		pthread_barrier_wait(&r->round_end);
	}
}

#define CLOSE_REPORT "race close_vs_register: %u rounds, %u registrations, %u EBADF (%u before close returned), %u requests queued, %u enters (%u EBADF), %u CQEs reaped, seed %u\n"

TEST_F_TIMEOUT(race, ring_close_races_registration_and_queued_work,
	       RACE_TIMEOUT)
{
	void *(*fn[3])(void *) = { close_registrar, close_queuer, close_closer };
	unsigned int rounds = RACE_COUNT(&self->b, CLOSE_ROUNDS);
	unsigned int seed = self->b.seed;
	pthread_t thread[3];
	struct close_race *r;
	unsigned int i;

	r = calloc(1, sizeof(*r));
	ASSERT_NE(NULL, r);
	r->seed = self->b.seed;
	/* blocking: its READs stay pending */
	ASSERT_EQ(0, pipe2(r->pipe, O_CLOEXEC));
	ASSERT_EQ(0, pthread_mutex_init(&r->lock, NULL));
	ASSERT_EQ(0, pthread_barrier_init(&r->round_start, NULL, 4));
	ASSERT_EQ(0, pthread_barrier_init(&r->round_end, NULL, 4));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_create(&thread[i], NULL, fn[i], r));

	while (r->rounds < rounds && now_ms() < self->b.deadline) {
		ring_init(_metadata, &r->ring, 0);
		r->closing = 0;
		r->closed = 0;
		r->regs_done = 0;
		r->reqs_done = 0;
		r->registrar_done = 0;
		r->queuer_done = 0;
		r->close_after_regs = rand_r(&seed) % (CLOSE_REGS / 2 + 1);
		r->close_after_reqs = rand_r(&seed) % (CLOSE_QUEUED / 4 + 1);
		pthread_barrier_wait(&r->round_start);
		pthread_barrier_wait(&r->round_end);
		r->rounds++;
		if (r->bad_reg || r->bad_enter || r->reg_after_close ||
		    r->enter_after_close)
			break;
	}
	r->quit = 1;
	pthread_barrier_wait(&r->round_start);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_join(thread[i], NULL));

	ksft_print_msg(CLOSE_REPORT,
		       r->rounds, r->regs_ok, r->regs_ebadf, r->regs_late,
		       r->reqs, r->enters, r->enters_ebadf, r->cqes,
		       self->b.seed);
	EXPECT_EQ(0, r->bad_reg) TH_LOG("registration: %s",
					strerror(-r->bad_reg));
	EXPECT_EQ(0, r->bad_enter) TH_LOG("io_uring_enter: %s",
					  strerror(-r->bad_enter));
	EXPECT_EQ(0, r->reg_after_close);
	EXPECT_EQ(0, r->enter_after_close);
	EXPECT_LT(0, r->rounds);
	/* the pipe still works, whatever the rings left pending on it */
	ASSERT_EQ(1, write(r->pipe[1], write_buf, 1));
	close(r->pipe[0]);
	close(r->pipe[1]);
	pthread_barrier_destroy(&r->round_start);
	pthread_barrier_destroy(&r->round_end);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/*
 * Restricting a task and its children, raced with fork: a ring created
 * by a child has the filters of the thread that forked it, as they were
 * when fork() returned (a snapshot, shared by reference), however the
 * parent's filter sets change meanwhile.
 *
 * Task filters are per thread (What filters do not see): each thread
 * forks from its own set, so the prefix a child finds is exactly the
 * forking thread's at fork(). The registrar thread registers generations
 * base + 1..N on itself and forks every FORK_EVERY of them: its children
 * must find exactly the generations it had registered. A sibling thread,
 * created with the base generations only, forks while that goes on: its
 * children must find exactly the base, the registrar's filters never
 * reaching another thread's children, though the sets share their
 * chains. Every child probes up to one generation past what the
 * registrar had started when the child checked, then adds a filter of its
 * own, which no later child may see.
 */
#define CHILD_SETUP	10
#define CHILD_TORN	11
#define CHILD_HOLE	12
#define CHILD_FEWER	13
#define CHILD_MORE	14
#define CHILD_LEAKED	15
#define CHILD_OWN	16

struct fork_shared {
	unsigned int started;	/* the registrar's generations begun */
};

struct fork_race {
	pthread_barrier_t start;
	struct fork_shared *shared;	/* MAP_SHARED: seen by the children */
	long long deadline;
	unsigned int base, max_gens, max_children;
	/* accessed atomically */
	unsigned int stop;
	/* the registrar's */
	unsigned int done;
	int reg_err;
};

struct forker {
	struct fork_race *race;
	unsigned int forks;
	unsigned int status[CHILD_OWN + 1];	/* children by exit status */
	unsigned int other;			/* killed, or unknown status */
	int fork_err;
	pid_t pid[FORK_OUTSTANDING];
	unsigned int npid;
};

/* In a child: probe the ring it creates, expecting @expect generations. */
static int fork_child_check(struct fork_shared *shared, unsigned int expect)
{
	struct io_uring ring;
	unsigned int m = 0, limit;
	int res = 0, ret;

	if (io_uring_queue_init(RING_ENTRIES, &ring, 0))
		return CHILD_SETUP;
	limit = load_acquire(&shared->started) + 1;
	ret = probe_prefix(&ring, 0, limit, &m);
	if (!ret) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		ret = -EBUSY;
		if (sqe) {
			io_uring_prep_nop(sqe);
			sqe->user_data = UD_CHILD;
			ret = submit_one(&ring, UD_CHILD, &res);
		}
	}
	io_uring_queue_exit(&ring);
	if (ret < 0)
		return CHILD_SETUP;
	if (ret)
		return ret == PROBE_TORN ? CHILD_TORN : CHILD_HOLE;
	if (res)
		return CHILD_LEAKED;
	if (m < expect)
		return CHILD_FEWER;
	if (m > expect)
		return CHILD_MORE;
	/* copy-on-write: a set of the child's own */
	if (add_deny_ud(TASK_FD, IORING_OP_NOP, 0, UD_CHILD))
		return CHILD_OWN;
	return 0;
}

static void forker_reap(struct forker *f, pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) > CHILD_OWN)
		f->other++;
	else
		f->status[WEXITSTATUS(status)]++;
}

/* Fork a child checking for @expect generations; false if fork failed. */
static bool forker_fork(struct forker *f, unsigned int expect)
{
	pid_t pid;

	if (f->npid == FORK_OUTSTANDING) {
		forker_reap(f, f->pid[0]);
		memmove(f->pid, f->pid + 1, --f->npid * sizeof(f->pid[0]));
	}
	pid = fork();
	if (pid < 0) {
		f->fork_err = -errno;
		return false;
	}
	if (!pid)
		_exit(fork_child_check(f->race->shared, expect));
	f->pid[f->npid++] = pid;
	f->forks++;
	return true;
}

static void forker_reap_all(struct forker *f)
{
	unsigned int i;

	for (i = 0; i < f->npid; i++)
		forker_reap(f, f->pid[i]);
	f->npid = 0;
}

static bool fork_race_over(struct fork_race *r)
{
	return load_acquire(&r->stop) || now_ms() >= r->deadline;
}

static void *fork_registrar(void *arg)
{
	struct forker *f = arg;
	struct fork_race *r = f->race;
	unsigned int g;
	int ret;

	pthread_barrier_wait(&r->start);
	for (g = r->base + 1; g <= r->max_gens && !fork_race_over(r); g++) {
		store_release(&r->shared->started, g);
		ret = add_deny_ud(TASK_FD, IORING_OP_NOP, 0, g);
		if (ret) {
			r->reg_err = ret;
			break;
		}
		r->done = g;
		if (!(g % FORK_EVERY) && !forker_fork(f, g))
			break;
	}
	/* the sibling forks while the registrar registers */
	store_release(&r->stop, 1);
	forker_reap_all(f);
	return NULL;
}

static void *fork_sibling(void *arg)
{
	struct forker *f = arg;
	struct fork_race *r = f->race;

	pthread_barrier_wait(&r->start);
	while (f->forks < r->max_children && !fork_race_over(r) &&
	       forker_fork(f, r->base))
		;
	forker_reap_all(f);
	return NULL;
}

static unsigned int forker_failed(struct __test_metadata *_metadata,
				  const char *who, struct forker *f)
{
	static const char * const what[] = {
		[CHILD_SETUP] = "could not probe",
		[CHILD_TORN] = "plain NOP denied or garbage",
		[CHILD_HOLE] = "denied generations not a prefix",
		[CHILD_FEWER] = "fewer generations than at fork",
		[CHILD_MORE] = "more generations than at fork",
		[CHILD_LEAKED] = "another child's filter",
		[CHILD_OWN] = "could not add its own filter",
	};
	unsigned int i, failed = f->other;

	for (i = 1; i <= CHILD_OWN; i++) {
		failed += f->status[i];
		if (f->status[i])
			TH_LOG("%s: %u children: %s (exit %u)", who,
			       f->status[i], what[i] ? what[i] : "?", i);
	}
	if (f->other)
		TH_LOG("%s: %u children killed or failed", who, f->other);
	return failed;
}

#define FORK_REPORT "race fork_vs_register: %u task registrations (base %u), %u children of the registrar, %u of its sibling, %u failed, seed %u\n"

TEST_F_TIMEOUT(race, fork_races_task_registration_child_sees_fork_prefix,
	       RACE_TIMEOUT)
{
	struct forker reg = {}, sib = {};
	pthread_t reg_thread, sib_thread;
	unsigned int g, m = UINT_MAX;
	struct fork_race *r;
	struct io_uring ring;

	r = calloc(1, sizeof(*r));
	ASSERT_NE(NULL, r);
	r->shared = mmap(NULL, sizeof(*r->shared), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r->shared);
	r->deadline = self->b.deadline;
	r->base = 1 + self->b.seed % 3;
	r->max_gens = RACE_COUNT(&self->b, FORK_GENS);
	r->max_children = RACE_COUNT(&self->b, FORK_CHILDREN);
	set_nnp(_metadata);
	for (g = 1; g <= r->base; g++)
		ASSERT_EQ(0, add_deny_ud(TASK_FD, IORING_OP_NOP, 0, g));
	r->shared->started = r->base;
	r->done = r->base;
	reg.race = r;
	sib.race = r;
	ASSERT_EQ(0, pthread_barrier_init(&r->start, NULL, 2));
	ASSERT_EQ(0, pthread_create(&reg_thread, NULL, fork_registrar, &reg));
	ASSERT_EQ(0, pthread_create(&sib_thread, NULL, fork_sibling, &sib));
	ASSERT_EQ(0, pthread_join(reg_thread, NULL));
	ASSERT_EQ(0, pthread_join(sib_thread, NULL));

	ksft_print_msg(FORK_REPORT,
		       r->done - r->base, r->base, reg.forks, sib.forks,
		       forker_failed(_metadata, "registrar", &reg) +
		       forker_failed(_metadata, "sibling", &sib), self->b.seed);
	EXPECT_EQ(0, r->reg_err) TH_LOG("registration: %s",
					strerror(-r->reg_err));
	EXPECT_EQ(0, reg.fork_err);
	EXPECT_EQ(0, sib.fork_err);
	EXPECT_EQ(reg.forks, reg.status[0]);
	EXPECT_EQ(sib.forks, sib.status[0]);
	EXPECT_LT(0, reg.forks + sib.forks);
	/* nor do the registrar's filters reach the thread that created it */
	ring_init(_metadata, &ring, 0);
	EXPECT_EQ(0, probe_prefix(&ring, 0, r->done + 1, &m));
	EXPECT_EQ(r->base, m);
	io_uring_queue_exit(&ring);
	munmap(r->shared, sizeof(*r->shared));
	pthread_barrier_destroy(&r->start);
	free(r);
}

/*
 * Restricting a task and its children, raced with execve(): a process
 * keeps a ring across execve() while one thread registers, alternately,
 * filters on that ring and on itself, and another thread (every other
 * round the main thread, else a second one, so that execve() also takes
 * over the thread group's leader) runs execve() of this program. The
 * exec'd helper (exec_helper(), run from a constructor, as
 * bpf_filter_task.c does) finds on the kept ring exactly generations
 * 1..m, m between what had returned and what had started when the
 * registrar died in execve(); and on a new ring exactly the task filters
 * of the thread that exec'd, which the registrar's do not reach. The
 * counts are in a memfd page that survives execve().
 */
struct exec_page {
	struct io_uring_params p;
	unsigned int ring_started, ring_done;	/* the ring's generations */
	unsigned int task_started, task_done;	/* the registrar's own */
	unsigned int base;			/* the exec'ing thread's */
	unsigned int ring_m, task_m;		/* what the helper found */
	unsigned int stop;			/* the registrar's last */
};

#define EXEC_ENV_ERR	20
#define EXEC_MAP_ERR	21
#define EXEC_PROBE_ERR	22
#define EXEC_RING_TORN	23
#define EXEC_RING_HOLE	24
#define EXEC_RING_FEWER	25
#define EXEC_RING_MORE	26
#define EXEC_TASK_BAD	27
#define EXEC_TASK_WRONG	28
#define EXEC_FAILED	29

static int exec_helper(const char *arg)
{
	struct io_uring ring, kept;
	struct exec_page *page;
	int ring_fd, page_fd, ret;
	unsigned int m = UINT_MAX;

	if (sscanf(arg, "%d,%d", &ring_fd, &page_fd) != 2)
		return EXEC_ENV_ERR;
	page = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED,
		    page_fd, 0);
	if (page == MAP_FAILED)
		return EXEC_MAP_ERR;
	memset(&kept, 0, sizeof(kept));
	if (io_uring_mmap(ring_fd, &page->p, &kept.sq, &kept.cq))
		return EXEC_MAP_ERR;
	kept.ring_fd = ring_fd;
	/* execve() waited for the registrar to die: its counts are final */
	ret = probe_prefix(&kept, UD_RING, page->ring_started + 1, &m);
	if (ret < 0)
		return EXEC_PROBE_ERR;
	if (ret)
		return ret == PROBE_TORN ? EXEC_RING_TORN : EXEC_RING_HOLE;
	page->ring_m = m;
	if (m < page->ring_done)
		return EXEC_RING_FEWER;
	if (m > page->ring_started)
		return EXEC_RING_MORE;

	if (io_uring_queue_init(RING_ENTRIES, &ring, 0))
		return EXEC_PROBE_ERR;
	ret = probe_prefix(&ring, UD_TASK,
			   page->base + page->task_started + 1, &m);
	if (ret)
		return ret < 0 ? EXEC_PROBE_ERR : EXEC_TASK_BAD;
	page->task_m = m;
	return m == page->base ? 0 : EXEC_TASK_WRONG;
}

static void __attribute__((constructor)) exec_helper_ctor(void)
{
	const char *arg = getenv(EXEC_ENV);

	if (arg)
		_exit(exec_helper(arg));
}

struct exec_round {
	struct exec_page *page;
	int ring_fd, page_fd;
	unsigned int target;	/* registrations before execve() */
};

static void *exec_registrar(void *arg)
{
	struct exec_round *x = arg;
	struct exec_page *page = x->page;
	unsigned int i, g;

	for (i = 0; i < EXEC_REGS; i++) {
		if (i & 1) {
			g = page->base + page->task_started + 1;
			store_release(&page->task_started,
				      page->task_started + 1);
			if (add_deny_ud(TASK_FD, IORING_OP_NOP, 0, UD_TASK + g))
				break;
			store_release(&page->task_done, page->task_done + 1);
		} else {
			g = page->ring_started + 1;
			store_release(&page->ring_started, g);
			if (add_deny_ud(x->ring_fd, IORING_OP_NOP, 0,
					UD_RING + g))
				break;
			store_release(&page->ring_done, g);
		}
	}
	store_release(&page->stop, i + 1);
	return NULL;
}

static void *exec_self(void *arg)
{
	struct exec_round *x = arg;
	struct exec_page *page = x->page;
	char env[32];

	while (load_acquire(&page->ring_started) +
	       load_acquire(&page->task_started) < x->target &&
	       !load_acquire(&page->stop))
		sched_yield();
	snprintf(env, sizeof(env), "%d,%d", x->ring_fd, x->page_fd);
	if (!setenv(EXEC_ENV, env, 1))
		execl("/proc/self/exe", "bpf_filter_race", NULL);
	_exit(EXEC_FAILED);
}

/* The forked process of a round: set up, race, execve(). */
static int exec_round_child(struct exec_page *page, int page_fd,
			    unsigned int round, unsigned int target)
{
	struct exec_round x = {
		.page = page,
		.page_fd = page_fd,
		.target = target,
	};
	pthread_t reg, other;
	unsigned int g;

	/* created before any task filter: the ring has only its own */
	x.ring_fd = io_uring_setup(RING_ENTRIES, &page->p);
	if (x.ring_fd < 0 || fcntl(x.ring_fd, F_SETFD, 0))
		return EXEC_FAILED;
	for (g = 1; g <= page->base; g++)
		if (add_deny_ud(TASK_FD, IORING_OP_NOP, 0, UD_TASK + g))
			return EXEC_FAILED;
	if (pthread_create(&reg, NULL, exec_registrar, &x))
		return EXEC_FAILED;
	if (round & 1) {
		if (pthread_create(&other, NULL, exec_self, &x))
			return EXEC_FAILED;
		pthread_join(other, NULL);
		return EXEC_FAILED;
	}
	exec_self(&x);
	return EXEC_FAILED;
}

#define EXEC_FAIL_LOG "round %u: exit %d; ring: done %u, started %u, found %u; task: base %u, found %u"

#define EXEC_REPORT "race exec_vs_register: %u execs, %u ring and %u task registrations raced, %u ring registrations in flight at execve, seed %u\n"

TEST_F_TIMEOUT(race, execve_races_registration_in_other_thread, RACE_TIMEOUT)
{
	unsigned int rounds = RACE_COUNT(&self->b, EXEC_ROUNDS);
	unsigned int seed = self->b.seed;
	unsigned int i, ring_regs = 0, task_regs = 0, in_flight = 0;
	struct exec_page *page;
	int page_fd, status;
	pid_t pid;

	set_nnp(_metadata);
	page_fd = memfd_create("bpf_filter_race", 0);
	ASSERT_LE(0, page_fd);
	ASSERT_EQ(0, ftruncate(page_fd, sizeof(*page)));
	page = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED,
		    page_fd, 0);
	ASSERT_NE(MAP_FAILED, page);

	for (i = 0; i < rounds && now_ms() < self->b.deadline; i++) {
		unsigned int target = rand_r(&seed) % 17;

		memset(page, 0, sizeof(*page));
		page->base = i % EXEC_BASE_MAX;
		page->ring_m = UINT_MAX;
		page->task_m = UINT_MAX;
		fflush(NULL);
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			_exit(exec_round_child(page, page_fd, i, target));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status)) {
			TH_LOG("round %u: killed by signal %d", i,
			       WTERMSIG(status));
		}
		ASSERT_EQ(0, WEXITSTATUS(status)) {
			TH_LOG(EXEC_FAIL_LOG,
			       i, WEXITSTATUS(status), page->ring_done,
			       page->ring_started, page->ring_m, page->base,
			       page->task_m);
		}
		ring_regs += page->ring_m;
		task_regs += page->task_done;
		in_flight += page->ring_started - page->ring_done;
	}
	ksft_print_msg(EXEC_REPORT,
		       i, ring_regs, task_regs, in_flight, self->b.seed);
	EXPECT_LT(0, i);
	munmap(page, sizeof(*page));
	close(page_fd);
}

TEST_HARNESS_MAIN
