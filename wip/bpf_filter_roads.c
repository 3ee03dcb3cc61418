// SPDX-License-Identifier: GPL-2.0
/*
 * Every road a request takes to issue: for each, a filter denies the
 * request exactly once, with the filters of the ring it was submitted on.
 * The io_uring_bpf_filter_deny tracepoint (in a trace instance of the
 * test's own) counts the denials and names the ring that made them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include "helpers.h"

#define TRACEFS		"/sys/kernel/tracing"
#define TRACE_INSTANCE	TRACEFS "/instances/io_uring_bpf_roads"
#define TASK_FD		(-1)
#define UD_X		0x5eed0000cafe0001ULL
#define UD_Y		0x5eed0000cafe0002ULL
#define UD_Z		0x5eed0000cafe0003ULL
#define EXEC_CHECK_ENV	"IO_URING_BPF_ROADS_CHECK"

static struct sock_filter prog_allow[] = {
	BPF_STMT(BPF_RET | BPF_K, 1),
};

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* A new ring with @p (entries RING_ENTRIES), mapped; 0 or -errno. */
static int ring_init_params(struct io_uring *ring, struct io_uring_params *p)
{
	int fd, ret;

	memset(ring, 0, sizeof(*ring));
	fd = io_uring_setup(RING_ENTRIES, p);
	if (fd < 0)
		return -errno;
	ret = io_uring_mmap(fd, p, &ring->sq, &ring->cq);
	if (ret) {
		close(fd);
		return ret;
	}
	ring->ring_fd = fd;
	ring->flags = p->flags;
	return 0;
}

/* Prepare a NOP with @ud and @sqe_flags. */
static void prep_nop(struct __test_metadata *_metadata, struct io_uring *ring,
		     __u64 ud, __u8 sqe_flags)
{
	struct io_uring_sqe *sqe = get_sqe(_metadata, ring);

	io_uring_prep_nop(sqe);
	sqe->user_data = ud;
	sqe->flags = sqe_flags;
}

static int nop_res(struct __test_metadata *_metadata, struct io_uring *ring,
		   __u64 ud, __u8 sqe_flags)
{
	prep_nop(_metadata, ring, ud, sqe_flags);
	return one_res(_metadata, ring, ud);
}

/* The next CQE: its user_data and res. */
static void next_cqe(struct __test_metadata *_metadata, struct io_uring *ring,
		     __u64 *ud, int *res)
{
	struct io_uring_cqe *cqe;

	ASSERT_EQ(0, io_uring_wait_cqe(ring, &cqe));
	*ud = cqe->user_data;
	*res = cqe->res;
	io_uring_cqe_seen(ring);
}

/* No CQE is waiting on @ring. */
static bool cq_empty(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;

	return io_uring_peek_cqe(ring, &cqe) == -EAGAIN;
}

/* Publish SQE @idx of @ring and submit it through @fd with @flags. */
static int enter_one(struct io_uring *ring, int fd, unsigned int idx,
		     unsigned int flags)
{
	struct io_uring_sq *sq = &ring->sq;

	sq->array[*sq->ktail & *sq->kring_mask] = idx;
	write_barrier();
	(*sq->ktail)++;
	return io_uring_enter(fd, 1, 1, IORING_ENTER_GETEVENTS | flags, NULL);
}

/* Without filters of its own a NOP with @ud passes on a new ring. */
static int new_ring_nop_plain(__u64 ud)
{
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int res = NOT_SEEN;

	if (io_uring_queue_init(RING_ENTRIES, &ring, 0))
		return NOT_SEEN;
	sqe = io_uring_get_sqe(&ring);
	if (sqe) {
		io_uring_prep_nop(sqe);
		sqe->user_data = ud;
	}
	if (!sqe || submit_one(&ring, ud, &res))
		res = NOT_SEEN;
	io_uring_queue_exit(&ring);
	return res;
}

/* Trace instance: the rings created and the denials, while it exists. */

FIXTURE(road) {
	bool traced;
};

FIXTURE_SETUP(road)
{
	if (geteuid())
		SKIP(return, "tracefs needs root");
	if (access(TRACEFS "/instances", F_OK))
		ASSERT_EQ(0, mount("tracefs", TRACEFS, "tracefs", 0, NULL));
	rmdir(TRACE_INSTANCE);
	ASSERT_EQ(0, mkdir(TRACE_INSTANCE, 0700));
	self->traced = true;
	ASSERT_EQ(0, write_file(TRACE_INSTANCE "/buffer_size_kb", "256"));
	ASSERT_EQ(0, write_file(TRACE_INSTANCE
				"/events/io_uring/io_uring_create/enable", "1"));
	ASSERT_EQ(0, write_file(TRACE_INSTANCE
				"/events/io_uring/io_uring_bpf_filter_deny/enable",
				"1"));
}

FIXTURE_TEARDOWN(road)
{
	if (self->traced)
		rmdir(TRACE_INSTANCE);
}

/*
 * The ring pointer io_uring_create printed for the newest ring created
 * with @fd, into @ptr; false if there is none.
 */
static bool ring_ptr(int fd, char *ptr, size_t len)
{
	FILE *f = fopen(TRACE_INSTANCE "/trace", "re");
	char line[512], key[32];
	bool found = false;
	char *p, *end;

	if (!f)
		return false;
	snprintf(key, sizeof(key), ", fd %d ", fd);
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, " io_uring_create: ring ");
		if (!p || !strstr(p, key))
			continue;
		p += strlen(" io_uring_create: ring ");
		end = strchr(p, ',');
		if (end && (size_t)(end - p) < len) {
			snprintf(ptr, len, "%.*s", (int)(end - p), p);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* How many denials of requests with @ud the ring @ptr (or any, NULL) made. */
static int denials(const char *ptr, __u64 ud)
{
	FILE *f = fopen(TRACE_INSTANCE "/trace", "re");
	char line[512], want_ud[64];
	const char *key = " io_uring_bpf_filter_deny: ring ";
	int n = 0;
	char *p;

	if (!f)
		return -1;
	snprintf(want_ud, sizeof(want_ud), ", user_data 0x%llx,",
		 (unsigned long long)ud);
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, key);
		if (!p || !strstr(p, want_ud))
			continue;
		p += strlen(key);
		if (ptr && (strncmp(p, ptr, strlen(ptr)) || p[strlen(ptr)] != ','))
			continue;
		n++;
	}
	fclose(f);
	return n;
}

/* @ring made exactly @n denials of @ud, and no other ring made any. */
#define EXPECT_DENIALS(ring, ud, n) do {				\
	__u64 __ud = (ud);						\
	int __n = (n);							\
	char __ptr[64];							\
	ASSERT_TRUE(ring_ptr((ring)->ring_fd, __ptr, sizeof(__ptr)));	\
	EXPECT_EQ(__n, denials(__ptr, __ud)) TH_LOG("ring %s", __ptr);	\
	EXPECT_EQ(__n, denials(NULL, __ud));				\
} while (0)

/* The plain road: io_uring_enter() submits, the task issues inline. */
TEST_F(road, syscall_submission_denied_once)
{
	struct io_uring ring;

	ring_init(_metadata, &ring, 0);
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_X));
	EXPECT_EQ(-EACCES, nop_res(_metadata, &ring, UD_X, 0));
	EXPECT_EQ(0, nop_res(_metadata, &ring, UD_Y, 0));
	EXPECT_DENIALS(&ring, UD_X, 1);
	io_uring_queue_exit(&ring);
}

/* The SQ thread submits. */
TEST_F(road, sqpoll_submission_denied_once)
{
	struct io_uring ring;

	ring_init(_metadata, &ring, IORING_SETUP_SQPOLL);
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_X));
	EXPECT_EQ(-EACCES, nop_res(_metadata, &ring, UD_X, 0));
	EXPECT_EQ(-EACCES, nop_res(_metadata, &ring, UD_X, IOSQE_ASYNC));
	EXPECT_EQ(0, nop_res(_metadata, &ring, UD_Y, 0));
	EXPECT_DENIALS(&ring, UD_X, 2);
	io_uring_queue_exit(&ring);
}

/* IOSQE_ASYNC: judged before the punt to io-wq, not again there. */
TEST_F(road, iosqe_async_denied_once_before_io_wq)
{
	struct io_uring ring;

	ring_init(_metadata, &ring, 0);
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_X));
	EXPECT_EQ(-EACCES, nop_res(_metadata, &ring, UD_X, IOSQE_ASYNC));
	EXPECT_EQ(0, nop_res(_metadata, &ring, UD_Y, IOSQE_ASYNC));
	EXPECT_DENIALS(&ring, UD_X, 1);
	io_uring_queue_exit(&ring);
}

/*
 * A READ of an empty pipe: inline it gets -EAGAIN and waits for poll, with
 * IOSQE_ASYNC it blocks in io-wq. Either way it was judged at submission:
 * a filter added while it waits does not judge its retry.
 */
static void waiting_read_not_judged_again(struct __test_metadata *_metadata,
					  __u8 sqe_flags)
{
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int pipefd[2], res;
	char buf[4], c = 'x';
	__u64 ud;

	ring_init(_metadata, &ring, 0);
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	sqe = get_sqe(_metadata, &ring);
	io_uring_prep_read(sqe, pipefd[0], buf, sizeof(buf), 0);
	sqe->user_data = UD_X;
	sqe->flags = sqe_flags;
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_READ, 0, UD_X));
	ASSERT_EQ(1, write(pipefd[1], &c, 1));
	next_cqe(_metadata, &ring, &ud, &res);
	EXPECT_EQ(UD_X, ud);
	EXPECT_EQ(1, res);
	EXPECT_DENIALS(&ring, UD_X, 0);

	/* control: a new READ with UD_X is denied, once */
	sqe = get_sqe(_metadata, &ring);
	io_uring_prep_read(sqe, pipefd[0], buf, sizeof(buf), 0);
	sqe->user_data = UD_X;
	sqe->flags = sqe_flags;
	EXPECT_EQ(-EACCES, one_res(_metadata, &ring, UD_X));
	EXPECT_DENIALS(&ring, UD_X, 1);
	close(pipefd[0]);
	close(pipefd[1]);
	io_uring_queue_exit(&ring);
}

TEST_F(road, eagain_retry_not_judged_again)
{
	waiting_read_not_judged_again(_metadata, 0);
}

TEST_F(road, io_wq_work_not_judged_again)
{
	waiting_read_not_judged_again(_metadata, IOSQE_ASYNC);
}

/* A link: the denied member once, the rest of the link cancelled. */
TEST_F(road, linked_request_denied_once)
{
	struct io_uring ring;
	__u64 ud[3];
	int res[3], i;

	ring_init(_metadata, &ring, 0);
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_Y));
	prep_nop(_metadata, &ring, UD_X, IOSQE_IO_LINK);
	prep_nop(_metadata, &ring, UD_Y, IOSQE_IO_LINK);
	prep_nop(_metadata, &ring, UD_Z, 0);
	ASSERT_EQ(3, io_uring_submit(&ring));
	for (i = 0; i < 3; i++)
		next_cqe(_metadata, &ring, &ud[i], &res[i]);
	for (i = 0; i < 3; i++) {
		int want = ud[i] == UD_Y ? -EACCES : -ECANCELED;

		EXPECT_EQ(want, res[i]) TH_LOG("ud 0x%llx",
					       (unsigned long long)ud[i]);
	}
	EXPECT_DENIALS(&ring, UD_Y, 1);
	EXPECT_DENIALS(&ring, UD_X, 0);
	io_uring_queue_exit(&ring);
}

/* A drained request waiting behind one in flight: denied once. */
TEST_F(road, drained_request_denied_once)
{
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int pipefd[2], res, i, seen_x = 0, seen_y = 0;
	char buf[4], c = 'x';
	__u64 ud;

	ring_init(_metadata, &ring, 0);
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_X));
	sqe = get_sqe(_metadata, &ring);
	io_uring_prep_read(sqe, pipefd[0], buf, sizeof(buf), 0);
	sqe->user_data = UD_Y;
	prep_nop(_metadata, &ring, UD_X, IOSQE_IO_DRAIN);
	ASSERT_EQ(2, io_uring_submit(&ring));
	ASSERT_EQ(1, write(pipefd[1], &c, 1));
	for (i = 0; i < 2; i++) {
		next_cqe(_metadata, &ring, &ud, &res);
		if (ud == UD_X) {
			seen_x++;
			EXPECT_EQ(-EACCES, res);
		} else {
			seen_y++;
			EXPECT_EQ(UD_Y, ud);
			EXPECT_EQ(1, res);
		}
	}
	EXPECT_EQ(1, seen_x);
	EXPECT_EQ(1, seen_y);
	EXPECT_TRUE(cq_empty(&ring));
	EXPECT_DENIALS(&ring, UD_X, 1);
	close(pipefd[0]);
	close(pipefd[1]);
	io_uring_queue_exit(&ring);
}

/*
 * LINK_TIMEOUT inside a link: a denied LINK_TIMEOUT fails its link (its
 * own CQE says -ECANCELED: the failed head disarms it, as after any
 * failure of its prep), and a denied request cancels the timeout linked
 * to it. Each denial is made once.
 */
TEST_F(road, link_timeout_denied_once)
{
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int pipefd[2], res, i;
	char buf[4];
	__u64 ud;

	ring_init(_metadata, &ring, 0);
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_LINK_TIMEOUT, 0,
				 UD_Y));
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_Z));

	/* READ -> LINK_TIMEOUT(denied) */
	sqe = get_sqe(_metadata, &ring);
	io_uring_prep_read(sqe, pipefd[0], buf, sizeof(buf), 0);
	sqe->user_data = UD_X;
	sqe->flags = IOSQE_IO_LINK;
	sqe = get_sqe(_metadata, &ring);
	io_uring_prep_rw(IORING_OP_LINK_TIMEOUT, sqe, -1, &ts, 1, 0);
	sqe->user_data = UD_Y;
	ASSERT_EQ(2, io_uring_submit(&ring));
	for (i = 0; i < 2; i++) {
		next_cqe(_metadata, &ring, &ud, &res);
		EXPECT_EQ(-ECANCELED, res)
			TH_LOG("ud 0x%llx", (unsigned long long)ud);
	}
	EXPECT_DENIALS(&ring, UD_Y, 1);

	/* NOP(denied) -> LINK_TIMEOUT */
	prep_nop(_metadata, &ring, UD_Z, IOSQE_IO_LINK);
	sqe = get_sqe(_metadata, &ring);
	io_uring_prep_rw(IORING_OP_LINK_TIMEOUT, sqe, -1, &ts, 1, 0);
	sqe->user_data = UD_X;
	ASSERT_EQ(2, io_uring_submit(&ring));
	for (i = 0; i < 2; i++) {
		next_cqe(_metadata, &ring, &ud, &res);
		EXPECT_EQ(ud == UD_Z ? -EACCES : -ECANCELED, res)
			TH_LOG("ud 0x%llx", (unsigned long long)ud);
	}
	EXPECT_TRUE(cq_empty(&ring));
	EXPECT_DENIALS(&ring, UD_Z, 1);
	close(pipefd[0]);
	close(pipefd[1]);
	io_uring_queue_exit(&ring);
}

/* io_uring_enter() on a registered ring index. */
TEST_F(road, registered_ring_fd_submission_denied_once)
{
	struct io_uring_rsrc_update up = { .offset = -1U };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	struct io_uring_sq *sq = &ring.sq;

	ring_init(_metadata, &ring, 0);
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_X));
	up.data = ring.ring_fd;
	ASSERT_EQ(1, io_uring_register(ring.ring_fd, IORING_REGISTER_RING_FDS,
				       &up, 1));
	prep_nop(_metadata, &ring, UD_X, 0);
	ASSERT_EQ(1, enter_one(&ring, up.offset, sq->sqe_head++ &
			       *sq->kring_mask, IORING_ENTER_REGISTERED_RING));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(UD_X, cqe->user_data);
	EXPECT_EQ(-EACCES, cqe->res);
	io_uring_cqe_seen(&ring);
	EXPECT_DENIALS(&ring, UD_X, 1);
	io_uring_queue_exit(&ring);
}

/* SQE128: 128-byte SQEs, the second half of each left to the opcode. */
TEST_F(road, sqe128_ring_denied_once)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	size_t len;
	char *sqes;
	__u64 ud[2] = { UD_X, UD_Y };
	int want[2] = { -EACCES, 0 }, i;

	ring_init(_metadata, &ring, IORING_SETUP_SQE128);
	len = *ring.sq.kring_entries * sizeof(*sqe);
	ASSERT_EQ(0, munmap(ring.sq.sqes, len));
	sqes = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, ring.ring_fd, IORING_OFF_SQES);
	ASSERT_NE(MAP_FAILED, sqes);
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_X));
	for (i = 0; i < 2; i++) {
		sqe = (struct io_uring_sqe *)(sqes + 2 * i * sizeof(*sqe));
		memset(sqe, 0xff, 2 * sizeof(*sqe));
		io_uring_prep_nop(sqe);
		sqe->user_data = ud[i];
		ASSERT_EQ(1, enter_one(&ring, ring.ring_fd, i, 0));
		ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
		EXPECT_EQ(ud[i], cqe->user_data);
		EXPECT_EQ(want[i], cqe->res);
		io_uring_cqe_seen(&ring);
	}
	EXPECT_DENIALS(&ring, UD_X, 1);
	ring.sq.sqes = (struct io_uring_sqe *)sqes;
	*ring.sq.kring_entries *= 2;
	io_uring_queue_exit(&ring);
}

/* A DEFER_TASKRUN ring completes in the submitter's task work. */
TEST_F(road, defer_taskrun_single_issuer_denied_once)
{
	struct io_uring ring;

	ring_init(_metadata, &ring, IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_DEFER_TASKRUN);
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_X));
	EXPECT_EQ(-EACCES, nop_res(_metadata, &ring, UD_X, 0));
	EXPECT_EQ(-EACCES, nop_res(_metadata, &ring, UD_X, IOSQE_ASYNC));
	EXPECT_EQ(0, nop_res(_metadata, &ring, UD_Y, 0));
	EXPECT_DENIALS(&ring, UD_X, 2);
	io_uring_queue_exit(&ring);
}

/* Two rings sharing one io-wq: each request meets its own ring's filters. */
TEST_F(road, attach_wq_rings_keep_their_own_filters)
{
	struct io_uring_params p = { 0 };
	struct io_uring a, b;

	ring_init(_metadata, &a, 0);
	p.flags = IORING_SETUP_ATTACH_WQ;
	p.wq_fd = a.ring_fd;
	ASSERT_EQ(0, ring_init_params(&b, &p));
	ASSERT_EQ(0, add_deny_ud(b.ring_fd, IORING_OP_NOP, 0, UD_X));
	EXPECT_EQ(0, nop_res(_metadata, &a, UD_X, IOSQE_ASYNC));
	EXPECT_EQ(-EACCES, nop_res(_metadata, &b, UD_X, IOSQE_ASYNC));
	EXPECT_DENIALS(&b, UD_X, 1);
	io_uring_queue_exit(&b);
	io_uring_queue_exit(&a);
}

static void prep_msg_ring(struct __test_metadata *_metadata,
			  struct io_uring *src, int target_fd, __u64 ud,
			  __u64 target_ud)
{
	struct io_uring_sqe *sqe = get_sqe(_metadata, src);

	io_uring_prep_rw(IORING_OP_MSG_RING, sqe, target_fd, NULL, 42,
			 target_ud);
	sqe->user_data = ud;
}

/*
 * MSG_RING is a request of its source ring: the source's filters judge
 * it, and the CQE it posts is no request of the target, whose filters
 * do not apply.
 */
TEST_F(road, msg_ring_judged_by_source_ring_only)
{
	struct io_uring src, dst;
	int res;
	__u64 ud;

	ring_init(_metadata, &src, 0);
	ring_init(_metadata, &dst, 0);
	ASSERT_EQ(0, BPF_FILTER_ADD(dst.ring_fd, IORING_OP_READ,
				    IO_URING_BPF_FILTER_DENY_REST, prog_allow));
	prep_msg_ring(_metadata, &src, dst.ring_fd, UD_X, UD_Z);
	EXPECT_EQ(0, one_res(_metadata, &src, UD_X));
	next_cqe(_metadata, &dst, &ud, &res);
	EXPECT_EQ(UD_Z, ud);
	EXPECT_EQ(42, res);

	/* denied on the source: nothing reaches the target */
	ASSERT_EQ(0, add_deny_ud(src.ring_fd, IORING_OP_MSG_RING, 0, UD_Y));
	prep_msg_ring(_metadata, &src, dst.ring_fd, UD_Y, UD_Z);
	EXPECT_EQ(-EACCES, one_res(_metadata, &src, UD_Y));
	EXPECT_TRUE(cq_empty(&dst));
	EXPECT_DENIALS(&src, UD_Y, 1);
	EXPECT_DENIALS(&src, UD_X, 0);
	/* the target ring's own MSG_RING is denied by its deny entry */
	prep_msg_ring(_metadata, &dst, src.ring_fd, UD_X, UD_Z);
	EXPECT_EQ(-EACCES, one_res(_metadata, &dst, UD_X));
	EXPECT_DENIALS(&dst, UD_X, 1);
	io_uring_queue_exit(&dst);
	io_uring_queue_exit(&src);
}

/* Multishot: a denied multishot POLL_ADD completes once, not armed. */
TEST_F(road, multishot_denied_once_and_not_armed)
{
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int pipefd[2];
	char c = 'x';

	ring_init(_metadata, &ring, 0);
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_POLL_ADD, 0, UD_X));
	sqe = get_sqe(_metadata, &ring);
	io_uring_prep_rw(IORING_OP_POLL_ADD, sqe, pipefd[0], NULL,
			 IORING_POLL_ADD_MULTI, 0);
	sqe->poll32_events = POLLIN;
	sqe->user_data = UD_X;
	EXPECT_EQ(-EACCES, one_res(_metadata, &ring, UD_X));
	ASSERT_EQ(1, write(pipefd[1], &c, 1));
	EXPECT_TRUE(cq_empty(&ring));
	EXPECT_DENIALS(&ring, UD_X, 1);
	close(pipefd[0]);
	close(pipefd[1]);
	io_uring_queue_exit(&ring);
}

/* Connect a new AF_UNIX stream socket to @addr; its fd, or -1. */
static int unix_connect(const struct sockaddr_un *addr, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (const struct sockaddr *)addr, len)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * Multishot re-arms: an allowed multishot ACCEPT, armed before a filter
 * that would deny it was registered, keeps accepting, each completion
 * flagged IORING_CQE_F_MORE and none judged; a denied one is not armed,
 * and the connection it would have taken goes to the armed one.
 */
TEST_F(road, multishot_accept_rearms_not_judged_again)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 +
			snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1,
				 "io_uring_bpf_roads.%d", getpid());
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int lfd, cfd[3], i;

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&addr, len));
	ASSERT_EQ(0, listen(lfd, 8));
	ring_init(_metadata, &ring, 0);
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_ACCEPT, 0, UD_X));
	sqe = get_sqe(_metadata, &ring);
	io_uring_prep_rw(IORING_OP_ACCEPT, sqe, lfd, NULL, 0, 0);
	sqe->ioprio = IORING_ACCEPT_MULTISHOT;
	sqe->accept_flags = SOCK_CLOEXEC;
	sqe->user_data = UD_Y;
	ASSERT_EQ(1, io_uring_submit(&ring));
	EXPECT_TRUE(cq_empty(&ring));
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_ACCEPT, 0, UD_Y));
	for (i = 0; i < 2; i++) {
		cfd[i] = unix_connect(&addr, len);
		ASSERT_LE(0, cfd[i]);
		ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
		EXPECT_EQ(UD_Y, cqe->user_data);
		EXPECT_LE(0, cqe->res);
		EXPECT_TRUE(cqe->flags & IORING_CQE_F_MORE);
		if (cqe->res >= 0)
			close(cqe->res);
		io_uring_cqe_seen(&ring);
	}
	sqe = get_sqe(_metadata, &ring);
	io_uring_prep_rw(IORING_OP_ACCEPT, sqe, lfd, NULL, 0, 0);
	sqe->ioprio = IORING_ACCEPT_MULTISHOT;
	sqe->user_data = UD_X;
	EXPECT_EQ(-EACCES, one_res(_metadata, &ring, UD_X));
	cfd[2] = unix_connect(&addr, len);
	ASSERT_LE(0, cfd[2]);
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(UD_Y, cqe->user_data);
	EXPECT_LE(0, cqe->res);
	if (cqe->res >= 0)
		close(cqe->res);
	io_uring_cqe_seen(&ring);
	EXPECT_TRUE(cq_empty(&ring));
	EXPECT_DENIALS(&ring, UD_X, 1);
	EXPECT_DENIALS(&ring, UD_Y, 0);
	io_uring_queue_exit(&ring);
	for (i = 0; i < 3; i++)
		close(cfd[i]);
	close(lfd);
}

/* Send a ring's fd and its io_uring_params over @sock, in one message. */
static int send_ring(int sock, struct io_uring_params *p, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = p, .iov_len = sizeof(*p) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == sizeof(*p) ? 0 : -1;
}

static int ring_nop(struct io_uring *ring, __u64 ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int res = NOT_SEEN;

	if (!sqe)
		return NOT_SEEN;
	io_uring_prep_nop(sqe);
	sqe->user_data = ud;
	if (submit_one(ring, ud, &res))
		return NOT_SEEN;
	return res;
}

/*
 * SCM_RIGHTS is no road: since 6.7 the kernel refuses to pass io_uring
 * fds (scm_fp_copy() says -EINVAL), so a ring's filters cannot be shed by
 * sending it to an unfiltered process, in either direction.
 */
TEST_F(road, ring_fd_over_scm_rights_refused)
{
	struct io_uring_params p = { 0 };
	struct io_uring ring;
	int sv[2];

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(0, ring_init_params(&ring, &p));
	ASSERT_EQ(0, add_deny_ud(ring.ring_fd, IORING_OP_NOP, 0, UD_X));
	errno = 0;
	EXPECT_EQ(-1, send_ring(sv[0], &p, ring.ring_fd));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EACCES, ring_nop(&ring, UD_X));
	EXPECT_DENIALS(&ring, UD_X, 1);
	io_uring_queue_exit(&ring);
	close(sv[0]);
	close(sv[1]);
}

/*
 * Run by the constructor in a process that execve()d this binary: a new
 * ring's NOP with UD_X must be denied by the inherited task filter.
 */
static int exec_check(const char *what)
{
	if (!strcmp(what, "denied"))
		return new_ring_nop_plain(UD_X) == -EACCES ? 0 : 1;
	if (!strcmp(what, "nobody-denied"))
		return geteuid() == 65534 &&
		       new_ring_nop_plain(UD_X) == -EACCES ? 0 : 1;
	return 2;
}

static void __attribute__((constructor)) exec_check_ctor(void)
{
	const char *what = getenv(EXEC_CHECK_ENV);

	if (what)
		_exit(exec_check(what));
}

static void task_deny_x(struct __test_metadata *_metadata)
{
	ASSERT_EQ(0, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_EQ(0, add_deny_ud(TASK_FD, IORING_OP_NOP, 0, UD_X));
}

static void wait_zero(struct __test_metadata *_metadata, pid_t pid)
{
	int status;

	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* Map the ring @fd, created with @p by whichever process, into @ring. */
static int ring_adopt(struct io_uring *ring, int fd, struct io_uring_params *p)
{
	int ret;

	memset(ring, 0, sizeof(*ring));
	ret = io_uring_mmap(fd, p, &ring->sq, &ring->cq);
	if (ret)
		return ret;
	ring->ring_fd = fd;
	ring->flags = p->flags;
	return 0;
}

struct ring_msg {
	int fd;				/* the ring's fd in its creator */
	struct io_uring_params p;
};

/*
 * The child of ring_fd_taken_with_pidfd_getfd_keeps_its_filters(): with a
 * task filter denying UD_Y it creates ring B and tells the parent about
 * it, then takes the parent's ring A (fd @a_fd, created with @pa) and
 * submits both on it. Returns 0 if only A's own filter judged.
 */
static int getfd_child(int a_fd, struct io_uring_params *pa, int wfd, int rfd)
{
	struct ring_msg msg = { 0 };
	struct io_uring a, b;
	int pidfd, fd, ret;
	char c;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    add_deny_ud(TASK_FD, IORING_OP_NOP, 0, UD_Y))
		return 10;
	if (ring_init_params(&b, &msg.p))
		return 11;
	msg.fd = b.ring_fd;
	pidfd = syscall(SYS_pidfd_open, getppid(), 0);
	fd = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, a_fd, 0);
	if (fd < 0 || ring_adopt(&a, fd, pa))
		return 12;
	ret = ring_nop(&a, UD_X) == -EACCES && ring_nop(&a, UD_Y) == 0 ? 0 : 13;
	io_uring_queue_exit(&a);
	/* A is done with; the parent takes B, and says when it has. */
	if (write(wfd, &msg, sizeof(msg)) != sizeof(msg) ||
	    read(rfd, &c, 1) != 1)
		return 14;
	io_uring_queue_exit(&b);
	return ret;
}

/*
 * pidfd_getfd() is the road SCM_RIGHTS is not: it takes a ring fd from
 * another process. A ring so taken keeps the filters it was created with,
 * both ways: the parent's ring A denies UD_X with a ring filter, the
 * child's ring B denies UD_Y with the child's task filter (which does not
 * reach A, created before it). Each process takes the other's ring and
 * submits both: only the ring's own filters judge, once each.
 */
TEST_F(road, ring_fd_taken_with_pidfd_getfd_keeps_its_filters)
{
	struct io_uring_params pa = { 0 };
	int to_parent[2], to_child[2];
	char ptr_a[64], ptr_b[64];
	struct io_uring a, b;
	struct ring_msg msg;
	int pidfd, fd;
	pid_t pid;

	ASSERT_EQ(0, ring_init_params(&a, &pa));
	ASSERT_EQ(0, add_deny_ud(a.ring_fd, IORING_OP_NOP, 0, UD_X));
	ASSERT_TRUE(ring_ptr(a.ring_fd, ptr_a, sizeof(ptr_a)));
	ASSERT_EQ(0, pipe2(to_parent, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(to_child, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(getfd_child(a.ring_fd, &pa, to_parent[1], to_child[0]));
	ASSERT_EQ(sizeof(msg), read(to_parent[0], &msg, sizeof(msg)));
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	ASSERT_LE(0, pidfd);
	fd = syscall(SYS_pidfd_getfd, pidfd, msg.fd, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ring_adopt(&b, fd, &msg.p));
	EXPECT_EQ(-EACCES, ring_nop(&b, UD_Y));
	EXPECT_EQ(0, ring_nop(&b, UD_X));
	io_uring_queue_exit(&b);
	ASSERT_EQ(1, write(to_child[1], "x", 1));
	wait_zero(_metadata, pid);
	/* B is the newest ring created with the child's fd number. */
	ASSERT_TRUE(ring_ptr(msg.fd, ptr_b, sizeof(ptr_b)));
	ASSERT_STRNE(ptr_a, ptr_b);
	EXPECT_EQ(1, denials(ptr_a, UD_X));
	EXPECT_EQ(1, denials(NULL, UD_X));
	EXPECT_EQ(1, denials(ptr_b, UD_Y));
	EXPECT_EQ(1, denials(NULL, UD_Y));
	close(pidfd);
	io_uring_queue_exit(&a);
	close(to_parent[0]);
	close(to_parent[1]);
	close(to_child[0]);
	close(to_child[1]);
}

/* vfork(): the child inherits the task filters, through its execve(). */
TEST_F(road, vfork_child_inherits_task_filters)
{
	pid_t pid;

	task_deny_x(_metadata);
	ASSERT_EQ(0, setenv(EXEC_CHECK_ENV, "denied", 1));
	pid = vfork();
	if (!pid) {
		execl("/proc/self/exe", "bpf_filter_roads", NULL);
		_exit(3);
	}
	unsetenv(EXEC_CHECK_ENV);
	ASSERT_GT(pid, 0);
	wait_zero(_metadata, pid);
	EXPECT_EQ(1, denials(NULL, UD_X));
}

/* clone3(): the fork hook runs for it too. */
TEST_F(road, clone3_child_inherits_task_filters)
{
	struct clone_args args = { .exit_signal = SIGCHLD };
	pid_t pid;

	task_deny_x(_metadata);
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (!pid)
		_exit(new_ring_nop_plain(UD_X) == -EACCES ? 0 : 1);
	ASSERT_GT(pid, 0);
	wait_zero(_metadata, pid);
	EXPECT_EQ(1, denials(NULL, UD_X));
}

#define CLONE_STACK	(64 * 1024)

static int clone_vm_child(void *arg)
{
	if (new_ring_nop_plain(UD_X) != -EACCES)
		return 1;
	/* its own filter stays its own, though it shares the mm */
	return add_deny_ud(TASK_FD, IORING_OP_NOP, 0, UD_Y) ? 2 : 0;
}

/* A CLONE_VM child (no CLONE_THREAD) inherits, and cannot widen the parent. */
TEST_F(road, clone_vm_child_inherits_and_keeps_its_own)
{
	char *stack = malloc(CLONE_STACK);
	pid_t pid;

	ASSERT_NE(NULL, stack);
	task_deny_x(_metadata);
	pid = clone(clone_vm_child, stack + CLONE_STACK, CLONE_VM | SIGCHLD,
		    NULL);
	ASSERT_GT(pid, 0);
	wait_zero(_metadata, pid);
	EXPECT_EQ(-EACCES, new_ring_nop_plain(UD_X));
	EXPECT_EQ(0, new_ring_nop_plain(UD_Y));
	EXPECT_EQ(2, denials(NULL, UD_X));
	free(stack);
}

/*
 * A setuid-root program run under no_new_privs by an unprivileged task
 * gains nothing, and keeps the task filters.
 */
TEST_F(road, setuid_execve_under_no_new_privs_keeps_filters)
{
	char dir[] = "/tmp/iou-roads-XXXXXX", path[64];
	int in, out, status;
	char buf[65536];
	ssize_t n;
	pid_t pid;

	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, mount("tmpfs", dir, "tmpfs", 0, "mode=0755"));
	snprintf(path, sizeof(path), "%s/roads", dir);
	in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(in, 0);
	out = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 04755);
	ASSERT_GE(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ASSERT_EQ(n, write(out, buf, n));
	close(in);
	close(out);
	ASSERT_EQ(0, chmod(path, 04755));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    add_deny_ud(TASK_FD, IORING_OP_NOP, 0, UD_X) ||
		    setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534) ||
		    setenv(EXEC_CHECK_ENV, "nobody-denied", 1))
			_exit(5);
		execl(path, "roads", NULL);
		_exit(6);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	umount(dir);
	rmdir(dir);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(1, denials(NULL, UD_X));
}

/*
 * CAP_SYS_ADMIN in a user namespace of its own, without no_new_privs:
 * the task may add filters, and its rings meet them.
 */
TEST_F(road, user_namespace_cap_sys_admin_without_nnp)
{
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (unshare(CLONE_NEWUSER))
			_exit(5);
		if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
			_exit(6);
		if (add_deny_ud(TASK_FD, IORING_OP_NOP, 0, UD_X))
			_exit(7);
		_exit(new_ring_nop_plain(UD_X) == -EACCES ? 0 : 1);
	}
	wait_zero(_metadata, pid);
	EXPECT_EQ(1, denials(NULL, UD_X));
}

TEST_HARNESS_MAIN
