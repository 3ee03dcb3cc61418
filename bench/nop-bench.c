// SPDX-License-Identifier: GPL-2.0
/*
 * make bench: cost of io_uring filters per request.
 *
 * Submits batches of NOPs on rings with 0, 1, 2, 4 and 8 filters on NOP
 * (each reads the context: user_data, opcode) and reports the guest time
 * per NOP. Under QEMU's "-icount shift=0" guest time counts guest
 * instructions, one nanosecond each, so the figure is instructions per
 * NOP and repeatable.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <sys/uio.h>
#include <uapi/linux/filter.h>
#include <linux/io_uring/bpf_filter.h>
#include <io_uring/mini_liburing.h>

#define BATCH	32
#define ROUNDS	2000

static struct sock_filter reads_ctx[] = {
	/* allow if the opcode byte is NOP and user_data < 2^32 */
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8),
	BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IORING_OP_NOP, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, 0),
	BPF_STMT(BPF_RET | BPF_K, 1),
};

static int add_filter(int fd)
{
	struct io_uring_bpf bpf = {
		.cmd_type = IO_URING_BPF_CMD_FILTER,
		.filter = {
			.opcode = IORING_OP_NOP,
			.filter_len = sizeof(reads_ctx) / sizeof(reads_ctx[0]),
			.filter_ptr = (unsigned long)reads_ctx,
		},
	};

	return syscall(__NR_io_uring_register, fd, IORING_REGISTER_BPF_FILTER,
		       &bpf, 1) ? -errno : 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void run_batches(struct io_uring *ring, int rounds)
{
	struct io_uring_cqe *cqe;
	int r, i;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < BATCH; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

			if (!sqe)
				exit(1);
			memset(sqe, 0, sizeof(*sqe));
			sqe->opcode = IORING_OP_NOP;
			sqe->user_data = i;
		}
		if (io_uring_submit(ring) != BATCH) {
			fprintf(stderr, "submit failed\n");
			exit(1);
		}
		for (i = 0; i < BATCH; i++) {
			if (io_uring_wait_cqe(ring, &cqe) || cqe->res) {
				fprintf(stderr, "NOP failed: %d\n", cqe ? cqe->res : -1);
				exit(1);
			}
			io_uring_cqe_seen(ring);
		}
	}
}

/* Guest ns per NOP: (time for 2N rounds - time for N) / (N * BATCH). */
static double per_nop(int nfilters)
{
	struct io_uring ring;
	double t0, t1, t2;
	int i;

	if (io_uring_queue_init(BATCH, &ring, 0)) {
		perror("io_uring_queue_init");
		exit(1);
	}
	for (i = 0; i < nfilters; i++) {
		if (add_filter(ring.ring_fd)) {
			fprintf(stderr, "IORING_REGISTER_BPF_FILTER failed\n");
			exit(1);
		}
	}
	run_batches(&ring, 100);	/* warm up */
	t0 = now_ns();
	run_batches(&ring, ROUNDS);
	t1 = now_ns();
	run_batches(&ring, 2 * ROUNDS);
	t2 = now_ns();
	io_uring_queue_exit(&ring);
	return ((t2 - t1) - (t1 - t0)) / ((double)ROUNDS * BATCH);
}

int main(void)
{
	static const int counts[] = { 0, 1, 2, 4, 8 };
	double base = 0, cost;
	unsigned int i;

	printf("filters  ns/NOP  +vs 0 filters\n");
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		cost = per_nop(counts[i]);
		if (!i)
			base = cost;
		printf("%7d %7.1f %+8.1f\n", counts[i], cost, cost - base);
	}
	return 0;
}
