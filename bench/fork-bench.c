// SPDX-License-Identifier: GPL-2.0
/*
 * make bench: cost of fork() for a task with io_uring filters.
 *
 * A child shares its parent's io_uring restrictions by reference, so fork
 * should cost the same with 1 and with 1000 task-level filters. This
 * reports the guest time of one fork + _exit + waitpid cycle, twice with
 * no restrictions, then with 1 and with 1000 filters on the task. The
 * second measurement without filters is a control: the difference between
 * the first two is the run's noise, against which to read the others.
 * Under QEMU's "-icount shift=0" guest time counts guest instructions,
 * one nanosecond each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <uapi/linux/filter.h>
#include <linux/io_uring/bpf_filter.h>
#include <io_uring/mini_liburing.h>

#define ROUNDS	500
#define FILTERS	1000

static struct sock_filter allow[] = {
	BPF_STMT(BPF_RET | BPF_K, 1),
};

static int add_task_filter(void)
{
	struct io_uring_bpf bpf = {
		.cmd_type = IO_URING_BPF_CMD_FILTER,
		.filter = {
			.opcode = IORING_OP_NOP,
			.filter_len = 1,
			.filter_ptr = (unsigned long)allow,
		},
	};

	return syscall(__NR_io_uring_register, -1, IORING_REGISTER_BPF_FILTER,
		       &bpf, 1) ? -errno : 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void forks(int rounds)
{
	int status, i;
	pid_t pid;

	for (i = 0; i < rounds; i++) {
		pid = fork();
		if (pid < 0) {
			perror("fork");
			exit(1);
		}
		if (!pid)
			_exit(0);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
			fprintf(stderr, "child failed\n");
			exit(1);
		}
	}
}

/* Guest ns per cycle: (time for 2N cycles - time for N) / N. */
static double per_fork(void)
{
	double t0, t1, t2;

	forks(50);	/* warm up */
	t0 = now_ns();
	forks(ROUNDS);
	t1 = now_ns();
	forks(2 * ROUNDS);
	t2 = now_ns();
	return ((t2 - t1) - (t1 - t0)) / ROUNDS;
}

int main(void)
{
	double base, cost;
	int i, ret;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		perror("PR_SET_NO_NEW_PRIVS");
		return 1;
	}
	printf("task filters  ns/fork  +vs 0 filters\n");
	base = per_fork();
	printf("%12d %8.0f %+8.0f\n", 0, base, 0.0);
	cost = per_fork();
	printf("%12d %8.0f %+8.0f  (control)\n", 0, cost, cost - base);
	for (i = 0; i < FILTERS; i++) {
		ret = add_task_filter();
		if (ret) {
			fprintf(stderr, "filter %d: %s\n", i, strerror(-ret));
			return 1;
		}
		if (i + 1 != 1 && i + 1 != FILTERS)
			continue;
		cost = per_fork();
		printf("%12d %8.0f %+8.0f\n", i + 1, cost, cost - base);
	}
	return 0;
}
