// SPDX-License-Identifier: GPL-2.0
/*
 * make run: show cBPF filters of io_uring at work on a real ring.
 *
 * Submits a NOP and a READ before and after registering two filters:
 * one that allows every NOP, one that denies every READ.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <uapi/linux/filter.h>
#include <linux/io_uring/bpf_filter.h>
#include <io_uring/mini_liburing.h>

static char buf[16];

static int submit_one(struct io_uring *ring, int op, int fd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	if (!sqe) {
		fprintf(stderr, "no free SQE\n");
		exit(1);
	}
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = op;
	sqe->fd = fd;
	if (op == IORING_OP_READ) {
		sqe->addr = (unsigned long)buf;
		sqe->len = sizeof(buf);
	}
	if (io_uring_submit(ring) != 1 || io_uring_wait_cqe(ring, &cqe)) {
		perror("submit");
		exit(1);
	}
	res = cqe->res;
	io_uring_cqe_seen(ring);
	return res;
}

static void show(struct io_uring *ring, int fd)
{
	int res;

	res = submit_one(ring, IORING_OP_NOP, -1);
	printf("  NOP  -> %3d %s\n", res, res < 0 ? strerror(-res) : "(ok)");
	res = submit_one(ring, IORING_OP_READ, fd);
	printf("  READ -> %3d %s\n", res,
	       res < 0 ? strerror(-res) : "(ok: bytes read from /dev/zero)");
}

static int add_filter(struct io_uring *ring, int op, unsigned int verdict)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_RET | BPF_K, verdict),
	};
	struct io_uring_bpf bpf = {
		.cmd_type = IO_URING_BPF_CMD_FILTER,
		.filter = {
			.opcode = op,
			.filter_len = 1,
			.filter_ptr = (unsigned long)insns,
		},
	};

	if (syscall(__NR_io_uring_register, ring->ring_fd,
		    IORING_REGISTER_BPF_FILTER, &bpf, 1) < 0)
		return -errno;
	return 0;
}

int main(void)
{
	struct io_uring ring;
	int fd, ret;

	fd = open("/dev/zero", O_RDONLY);
	if (fd < 0 || io_uring_queue_init(8, &ring, 0)) {
		perror("setup");
		return 1;
	}
	printf("A new ring, no ring filters:\n");
	show(&ring, fd);

	ret = add_filter(&ring, IORING_OP_NOP, 1);
	if (!ret)
		ret = add_filter(&ring, IORING_OP_READ, 0);
	if (ret) {
		printf("IORING_REGISTER_BPF_FILTER: %s\n", strerror(-ret));
		return 1;
	}
	printf("After registering 'allow every NOP' and 'deny every READ':\n");
	show(&ring, fd);
	io_uring_queue_exit(&ring);
	return 0;
}
