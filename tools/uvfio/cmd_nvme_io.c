/* SPDX-License-Identifier: MIT */
/* uvfio nvme read|write|flush: nvme-cli's block I/O options, split at the controller's MDTS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "nvme_cli.h"

static int open_data(const char *path, bool is_write)
{
	if (!path || !strcmp(path, "-"))
		return is_write ? STDIN_FILENO : STDOUT_FILENO;
	return is_write ? open(path, O_RDONLY | O_CLOEXEC) :
			  open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static int full_io(int fd, void *buf, size_t len, bool is_read)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = is_read ? read(fd, (char *)buf + done, len - done) :
				      write(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return (int)done == 0 ? -ENODATA : -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

static int rw(struct uvfio_nvme_ctrl *c, const struct nvme_args *a, bool is_write)
{
	const char *what = is_write ? "write" : "read";
	struct uvfio_nvme_ctrl_info ci;
	struct uvfio_nvme_ns_info ns;
	struct uvfio_nvme_qpair *q = NULL;
	uint64_t blocks = a->nlb0 + 1, need, len;
	uint8_t *buf = NULL;
	int fd = -1, st, ret = EXIT_FAILED;

	st = uvfio_nvme_ns_get_info(c, a->nsid, &ns);
	if (st)
		return nvme_fail("Identify Namespace", st);
	uvfio_nvme_ctrl_get_info(c, &ci);
	need = blocks * ns.lba_size;
	len = a->data_size ? a->data_size : need;
	if (len < need) {
		fprintf(stderr, "uvfio nvme %s: --data-size %llu is less than %llu blocks of %u "
			"bytes\n", what, (unsigned long long)len, (unsigned long long)blocks,
			ns.lba_size);
		return EXIT_USAGE;
	}
	fd = open_data(a->data, is_write);
	if (fd < 0) {
		fprintf(stderr, "uvfio nvme %s: %s: %s\n", what, a->data, strerror(errno));
		return EXIT_FAILED;
	}
	buf = uvfio_nvme_dma_alloc(c, len);
	if (!buf || (st = uvfio_nvme_qpair_create(c, &q)) < 0) {
		nvme_fail("I/O queue", buf ? st : -ENOMEM);
		goto out;
	}
	if (is_write && (st = full_io(fd, buf, len, true)) < 0) {
		fprintf(stderr, "uvfio nvme write: reading %llu bytes of data: %s\n",
			(unsigned long long)len, st == -EPIPE || st == -ENODATA ?
							 "input too short" : strerror(-st));
		goto out;
	}
	/* One command per MDTS-sized piece. */
	uint64_t per = ci.max_xfer / ns.lba_size;
	for (uint64_t done = 0; done < blocks;) {
		uint32_t n = (uint32_t)(blocks - done < per ? blocks - done : per);
		struct uvfio_nvme_cmd cmd = { .opcode = is_write ? 0x01 : 0x02, .nsid = a->nsid,
					      .cdw10 = (uint32_t)(a->slba + done),
					      .cdw11 = (uint32_t)((a->slba + done) >> 32),
					      .cdw12 = n - 1 };

		st = uvfio_nvme_io_sync(q, &cmd, buf + done * ns.lba_size, (size_t)n * ns.lba_size,
					NULL);
		if (st) {
			nvme_fail(what, st);
			goto out;
		}
		done += n;
	}
	if (!is_write && (st = full_io(fd, buf, len, false)) < 0) {
		fprintf(stderr, "uvfio nvme read: writing the data: %s\n", strerror(-st));
		goto out;
	}
	if (!a->json)
		fprintf(stderr, "%s: Success\n", what);
	ret = EXIT_OK;
out:
	uvfio_nvme_qpair_destroy(q);
	uvfio_nvme_dma_free(c, buf);
	if (fd > STDOUT_FILENO)
		close(fd);
	return ret;
}

int nvme_cmd_io(struct uvfio_nvme_ctrl *c, const struct nvme_args *a)
{
	struct uvfio_nvme_qpair *q;
	int st;

	if (!strcmp(a->sub, "read"))
		return rw(c, a, false);
	if (!strcmp(a->sub, "write"))
		return rw(c, a, true);
	/* flush */
	st = uvfio_nvme_qpair_create(c, &q);
	if (st < 0)
		return nvme_fail("I/O queue", st);
	struct uvfio_nvme_cmd cmd = { .opcode = 0x00, .nsid = a->nsid };
	st = uvfio_nvme_io_sync(q, &cmd, NULL, 0, NULL);
	uvfio_nvme_qpair_destroy(q);
	if (st)
		return nvme_fail("flush", st);
	if (!a->json)
		printf("NVMe Flush: success\n");
	return EXIT_OK;
}
