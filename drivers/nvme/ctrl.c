/* SPDX-License-Identifier: MIT */
/* The NVMe driver: options, PCI function, the worker thread, lifecycle. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nvme.h"
#include "util/log.h"

const struct uvfio_pci_ident nvme_default_ident = {
	.vendor = NVMEC_VENDOR,
	.device = NVMEC_DEVICE,
	.subvendor = NVMEC_SUBVENDOR,
	.subdevice = NVMEC_SUBDEVICE,
	.class_code = NVME_PCI_CLASS_CODE,
	.revision = NVMEC_REVISION,
};

uint64_t nvmec_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct nvmec *nvmec_from_pdev(struct uvfio_pci_device *pdev)
{
	return pdev ? uvfio_pci_drvdata(pdev) : NULL;
}

void nvmec_kick(struct nvmec *n)
{
	uint64_t one = 1;
	if (write(n->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("nvme %s: kick: %s", n->name, strerror(errno));
}

void nvmec_doorbell_kick(struct nvmec *n)
{
	/* Pairs with the worker's store of sleeping and its last look at the doorbells: either
	 * it sees our doorbell value or we see it sleeping (both sides seq_cst). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&n->sleeping, __ATOMIC_SEQ_CST))
		nvmec_kick(n);
}

static void drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

static void *worker_main(void *arg)
{
	struct nvmec *n = arg;
	uint32_t nfds = 1 + n->nr_db_efd + (nvmec_aio_fd(n) >= 0 ? 1 : 0);
	struct pollfd *pfd = calloc(nfds, sizeof(*pfd));
	uint64_t idle_since = 0;
	uint32_t idle_passes = 0;

	if (!pfd) {
		log_err("nvme %s: worker out of memory", n->name);
		return NULL;
	}
	pfd[0].fd = n->kick_fd;
	for (uint32_t i = 0; i < n->nr_db_efd; i++)
		pfd[1 + i].fd = n->db_efd[i];
	if (nvmec_aio_fd(n) >= 0)
		pfd[nfds - 1].fd = nvmec_aio_fd(n); /* file I/O completions */
	for (uint32_t i = 0; i < nfds; i++)
		pfd[i].events = POLLIN;

	for (;;) {
		pthread_mutex_lock(&n->lock);
		if (n->stopping) {
			pthread_mutex_unlock(&n->lock);
			break;
		}
		uint64_t gen = n->gen;
		bool paused = n->paused;
		pthread_mutex_unlock(&n->lock);

		if (gen != n->gen_done) {
			/* A PCI reset (registers already cleared) or the client's close. */
			nvmec_controller_reset(n, false);
			pthread_mutex_lock(&n->lock);
			n->gen_done = gen;
			pthread_cond_broadcast(&n->cond);
			pthread_mutex_unlock(&n->lock);
		}
		if (paused) {
			/* Quiesced means nothing in flight: finish (and post) what was submitted. */
			nvmec_aio_drain(n, true);
			nvmec_flush_irqs(n, true);
			pthread_mutex_lock(&n->lock);
			n->worker_paused = n->paused != 0;
			pthread_cond_broadcast(&n->cond);
			pthread_mutex_unlock(&n->lock);
			if (n->worker_paused)
				(void)poll(pfd, 1, -1);
			drain(n->kick_fd);
			continue;
		}
		if (__atomic_load_n(&n->cc_changed, __ATOMIC_ACQUIRE))
			nvmec_apply_cc(n);

		int work = 0;
		if (n->enabled && !n->fatal) {
			nvmec_eventidx_mode(n, true);
			uint64_t t0 = nvmec_now_ns();
			work = nvmec_process(n);
			if (work)
				n->stats.busy_ns += nvmec_now_ns() - t0;
		}
		if (work) {
			idle_since = 0;
			continue;
		}
		/* Idle: poll the doorbells a little longer (the next command is often close). */
		uint64_t now = nvmec_now_ns();
		if (!idle_since)
			idle_since = now;
		if (n->enabled && !n->fatal && now - idle_since < n->poll_us * 1000ull) {
			/* With more runnable threads than cores, spinning out our time slice keeps
			 * the very thread that would ring the doorbell off the CPU: every 16 empty
			 * passes, let it run (a few hundred ns when nobody waits). */
			if ((++idle_passes & 15) == 0)
				sched_yield();
			continue;
		}
		if (n->enabled)
			nvmec_flush_irqs(n, true);
		__atomic_store_n(&n->sleeping, 1, __ATOMIC_SEQ_CST);
		/* Ask for kicks again before the last look (nvmec_process fences first). */
		nvmec_eventidx_mode(n, false);
		if (n->enabled && !n->fatal && nvmec_process(n)) {
			/* Rung between our last pass and the flag: no kick will come for it. */
			__atomic_store_n(&n->sleeping, 0, __ATOMIC_SEQ_CST);
			idle_since = 0;
			continue;
		}
		/* Doorbells written through a client's mapping send no signal: with the page
		 * mappable, look again after idle_wake_us even if nobody kicks us. */
		int timeout = -1;
		if (n->enabled && !n->fatal && n->db_mmap)
			timeout = (int)((n->idle_wake_us + 999) / 1000);
		int r = poll(pfd, nfds, timeout);
		__atomic_store_n(&n->sleeping, 0, __ATOMIC_SEQ_CST);
		if (r > 0)
			for (uint32_t i = 0; i < nfds; i++)
				if (pfd[i].revents & POLLIN)
					drain(pfd[i].fd);
	}
	free(pfd);
	return NULL;
}

void nvmec_pause(struct nvmec *n)
{
	pthread_mutex_lock(&n->lock);
	n->paused++;
	nvmec_kick(n);
	while (!n->worker_paused && n->worker_started && !n->stopping)
		pthread_cond_wait(&n->cond, &n->lock);
	pthread_mutex_unlock(&n->lock);
}

void nvmec_resume(struct nvmec *n)
{
	pthread_mutex_lock(&n->lock);
	if (n->paused && --n->paused == 0)
		n->worker_paused = false;
	nvmec_kick(n);
	pthread_mutex_unlock(&n->lock);
}

/* PCI reset (FLR, DEVICE_RESET, after close): registers now, queues by the worker. Not waiting
 * here: the worker may be inside a DMA that needs this (the loop) thread to finish. */
static void nvme_pci_reset(struct uvfio_pci_device *pdev)
{
	struct nvmec *n = nvmec_from_pdev(pdev);
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->regs.cc = 0;
	n->regs.csts = 0;
	n->regs.aqa = 0;
	n->regs.asq = n->regs.acq = 0;
	n->regs.intms = 0;
	__atomic_store_n(&n->cc_changed, false, __ATOMIC_RELEASE);
	n->gen++;
	pthread_mutex_unlock(&n->lock);
	nvmec_kick(n);
	/* A reset brings the migration state back to RUNNING without an arc: run again. */
	nvmec_mig_quiesce(n, false);
}

/* The client left: its DMA fails fast now, so waiting for the worker to stop is safe. */
static void nvme_pci_close(struct uvfio_pci_device *pdev)
{
	struct nvmec *n = nvmec_from_pdev(pdev);
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	uint64_t want = ++n->gen;
	nvmec_kick(n);
	while (n->gen_done < want && n->worker_started && !n->stopping)
		pthread_cond_wait(&n->cond, &n->lock);
	pthread_mutex_unlock(&n->lock);
}

static void nvmec_free(struct nvmec *n)
{
	if (n->worker_started) {
		pthread_mutex_lock(&n->lock);
		n->stopping = true;
		pthread_mutex_unlock(&n->lock);
		nvmec_kick(n);
		pthread_join(n->worker, NULL);
		n->worker_started = false;
	}
	struct uvfio_device *dev = uvfio_pci_to_device(n->pdev);
	uvfio_device_clear_ioeventfds(dev);
	nvmec_aio_free(n);
	for (uint32_t i = 0; i < n->nr_ns; i++)
		if (n->ns[i].ops && n->ns[i].ops->free)
			n->ns[i].ops->free(&n->ns[i]);
	if (n->ns[0].fd >= 0 && n->file)
		close(n->ns[0].fd);
	if (n->ns[0].fd_direct >= 0 && n->file)
		close(n->ns[0].fd_direct);
	for (uint32_t i = 0; i < n->nr_db_efd; i++)
		close(n->db_efd[i]);
	free(n->db_efd);
	if (n->kick_fd >= 0)
		close(n->kick_fd);
	if (n->db)
		munmap((void *)n->db, NVMEC_DB_SIZE);
	if (n->db_fd >= 0)
		close(n->db_fd);
	free(n->bounce);
	free(n->file);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

static void nvme_pci_release(struct uvfio_pci_device *pdev)
{
	struct nvmec *n = nvmec_from_pdev(pdev);
	if (!n)
		return;
	uvfio_pci_set_drvdata(pdev, NULL);
	nvmec_free(n);
}

static const struct uvfio_pci_ops nvme_pci_ops = {
	.reset = nvme_pci_reset,
	.close = nvme_pci_close,
	.release = nvme_pci_release,
};

/* "64M", "1G", "4096": bytes. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end = NULL;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end || (shift && v > (~0ull >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_options(struct nvmec *n, struct uvfio_options *opts)
{
	uint64_t v;
	int ret;
	const char *size = uvfio_options_get(opts, "size", NULL);
	const char *file = uvfio_options_get(opts, "file", NULL);

	n->ns_size = 0;
	if (size && parse_size(size, &n->ns_size) < 0) {
		log_err("nvme: size=%s is not a size (bytes, or with K/M/G/T)", size);
		return -EINVAL;
	}
	if (file) {
		n->file = strdup(file);
		if (!n->file)
			return -ENOMEM;
	}
	if ((ret = uvfio_options_get_u64(opts, "namespaces", 1, &v)) < 0)
		return ret;
	if (v < 1 || v > NVMEC_MAX_NS) {
		log_err("nvme: namespaces=%llu: 1 to %u", (unsigned long long)v, NVMEC_MAX_NS);
		return -EINVAL;
	}
	n->nr_ns = (uint32_t)v;
	if ((ret = uvfio_options_get_u64(opts, "queues", 8, &v)) < 0)
		return ret;
	if (v < 1 || v > NVMEC_MAX_IOQ) {
		log_err("nvme: queues=%llu: 1 to %u I/O queue pairs", (unsigned long long)v,
			NVMEC_MAX_IOQ);
		return -EINVAL;
	}
	n->nr_ioq = (uint32_t)v;
	if ((ret = uvfio_options_get_u64(opts, "lba", 512, &v)) < 0)
		return ret;
	if (v != 512 && v != 4096) {
		log_err("nvme: lba=%llu: 512 or 4096", (unsigned long long)v);
		return -EINVAL;
	}
	n->lba_shift = v == 512 ? 9 : 12;
	const char *serial = uvfio_options_get(opts, "serial", "UVFIO0001");
	const char *model = uvfio_options_get(opts, "model", "uvfio NVMe controller");
	if (strlen(serial) > 20 || strlen(model) > 40) {
		log_err("nvme: serial is at most 20 characters, model at most 40");
		return -EINVAL;
	}
	snprintf(n->serial, sizeof(n->serial), "%s", serial);
	snprintf(n->model, sizeof(n->model), "%s", model);
	if ((ret = uvfio_options_get_u64(opts, "poll_us", 50, &v)) < 0)
		return ret;
	n->poll_us = v > 1000000 ? 1000000 : (uint32_t)v;
	if ((ret = uvfio_options_get_u64(opts, "idle_wake_us", 1000, &v)) < 0)
		return ret;
	n->idle_wake_us = v < 100 ? 100 : v > 1000000 ? 1000000 : (uint32_t)v;
	if ((ret = uvfio_options_get_bool(opts, "db_mmap", true, &n->db_mmap)) < 0)
		return ret;
	if ((ret = uvfio_options_get_bool(opts, "aio", true, &n->aio_opt)) < 0)
		return ret;
	return 0;
}

static int setup_storage(struct nvmec *n)
{
	uint64_t total = n->ns_size ? n->ns_size * n->nr_ns : 0;
	int fd = -1, fd_direct = -1;
	if (n->file) {
		fd = open(n->file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			log_err("nvme: file=%s: %s", n->file, strerror(errno));
			return -errno;
		}
		struct stat st;
		if (fstat(fd, &st) < 0) {
			close(fd);
			return -errno;
		}
		if (!total) {
			total = S_ISBLK(st.st_mode) ? 0 : (uint64_t)st.st_size;
			if (S_ISBLK(st.st_mode)) {
				off_t end = lseek(fd, 0, SEEK_END);
				total = end > 0 ? (uint64_t)end : 0;
			}
		} else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < total &&
			   ftruncate(fd, (off_t)total) < 0) {
			close(fd);
			return -errno;
		}
		n->ns_size = total / n->nr_ns;
		/* Aligned transfers bypass the page cache (not every file system has O_DIRECT). */
		fd_direct = open(n->file, O_RDWR | O_DIRECT | O_CLOEXEC);
	} else if (!n->ns_size) {
		n->ns_size = 128ull << 20;
	}
	n->ns_size &= ~((1ull << n->lba_shift) - 1);
	if (n->ns_size < (1ull << n->lba_shift) * 8) {
		log_err("nvme: namespace size %llu too small", (unsigned long long)n->ns_size);
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < n->nr_ns; i++) {
		struct nvmec_ns *ns = &n->ns[i];
		ns->nsid = i + 1;
		ns->lba_shift = n->lba_shift;
		ns->size = n->ns_size;
		ns->nlbas = ns->size >> ns->lba_shift;
		ns->fd = -1;
		ns->fd_direct = -1;
		/* Unique per serial and namespace: hosts reject duplicate identifiers. */
		uint64_t h = 1469598103934665603ull;
		for (const char *p = n->serial; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
		h = (h ^ ns->nsid) * 1099511628211ull;
		memcpy(ns->eui64, &h, 8);
		ns->eui64[0] = 0x02; /* locally administered */
		memcpy(ns->nguid, &h, 8);
		uint64_t h2 = h * 31 + ns->nsid;
		memcpy(ns->nguid + 8, &h2, 8);
		int ret = fd >= 0 ? nvmec_backend_file(ns, fd, i * n->ns_size)
				  : nvmec_backend_ram(ns);
		ns->fd_direct = fd_direct;
		if (ret < 0) {
			log_err("nvme: namespace %u: %s", ns->nsid, strerror(-ret));
			return ret;
		}
	}
	if (fd >= 0 && n->aio_opt)
		return nvmec_aio_init(n);
	return 0;
}

static int setup_doorbells(struct nvmec *n)
{
	struct uvfio_device *dev = uvfio_pci_to_device(n->pdev);
	n->db_fd = memfd_create("nvme-doorbells", MFD_CLOEXEC);
	if (n->db_fd < 0 || ftruncate(n->db_fd, NVMEC_BAR_SIZE) < 0)
		return -errno;
	void *p = mmap(NULL, NVMEC_DB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, n->db_fd,
		       NVMEC_DB_OFFSET);
	if (p == MAP_FAILED)
		return -errno;
	n->db = p;
	n->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->kick_fd < 0)
		return -errno;
	n->nr_db_efd = 2 * (n->nr_ioq + 1);
	n->db_efd = calloc(n->nr_db_efd, sizeof(int));
	if (!n->db_efd)
		return -ENOMEM;
	for (uint32_t i = 0; i < n->nr_db_efd; i++)
		n->db_efd[i] = -1;
	for (uint32_t i = 0; i < n->nr_db_efd; i++) {
		n->db_efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (n->db_efd[i] < 0)
			return -errno;
		/* A signal means "look at the doorbell": its value is in the page or the shadow
		 * buffer, which the client writes first. */
		int ret = uvfio_device_add_ioeventfd(dev, UVFIO_PCI_BAR0_REGION,
						     NVMEC_DB_OFFSET + i * 4ull, 4, n->db_efd[i], 0, 0);
		if (ret < 0)
			return ret;
	}
	if (n->db_mmap) {
		struct uvfio_sparse_area area = { NVMEC_DB_OFFSET, NVMEC_DB_SIZE };
		int ret = uvfio_pci_bar_set_mmap(n->pdev, 0, n->db_fd, 0, &area, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int setup_pci(struct nvmec *n)
{
	struct uvfio_pci_device *pdev = n->pdev;
	int ret = uvfio_pci_setup_bar(pdev, 0, NVMEC_BAR_SIZE, UVFIO_PCI_BAR_MEM64, nvmec_bar_rw);
	if (ret < 0)
		return ret;
	if ((ret = uvfio_pci_set_intx_pin(pdev, 1)) < 0)
		return ret;
	if ((ret = uvfio_pci_add_cap_pm(pdev)) < 0)
		return ret;
	if ((ret = uvfio_pci_add_cap_msi(pdev, 1, true, true)) < 0)
		return ret;
	if ((ret = uvfio_pci_add_cap_exp(pdev, true)) < 0)
		return ret;
	ret = uvfio_pci_add_cap_msix(pdev, n->nr_ioq + 1, 0, NVMEC_MSIX_TABLE, 0, NVMEC_MSIX_PBA);
	return ret < 0 ? ret : 0;
}

static int nvme_probe(struct uvfio_pci_device *pdev, const struct uvfio_pci_device_id *id,
		      struct uvfio_options *opts)
{
	struct nvmec *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->pdev = pdev;
	n->db_fd = n->kick_fd = -1;
	snprintf(n->name, sizeof(n->name), "%s", uvfio_device_name(uvfio_pci_to_device(pdev)));
	if (pthread_mutex_init(&n->lock, NULL) != 0) {
		free(n);
		return -ENOMEM;
	}
	pthread_cond_init(&n->cond, NULL);
	int ret = parse_options(n, opts);
	if (ret == 0)
		ret = setup_pci(n);
	if (ret == 0)
		ret = setup_doorbells(n);
	if (ret == 0)
		ret = setup_storage(n);
	if (ret == 0) {
		n->bounce = malloc((2u << 20) + 65536);
		if (!n->bounce)
			ret = -ENOMEM;
	}
	if (ret < 0)
		goto fail;
	nvmec_regs_init(n);
	nvmec_features_reset(n);
	ret = nvmec_mig_setup(n);
	if (ret < 0)
		goto fail;
	n->power_on_ns = nvmec_now_ns();
	uvfio_pci_set_drvdata(pdev, n);
	uvfio_pci_set_ops(pdev, &nvme_pci_ops);
	ret = pthread_create(&n->worker, NULL, worker_main, n);
	if (ret != 0) {
		ret = -ret;
		uvfio_pci_set_drvdata(pdev, NULL);
		uvfio_pci_set_ops(pdev, NULL);
		goto fail;
	}
	n->worker_started = true;
	(void)id;
	return 0;
fail:
	nvmec_free(n);
	return ret;
}

static const struct uvfio_pci_device_id nvme_ids[] = {
	{ UVFIO_PCI_DEVICE(NVMEC_VENDOR, NVMEC_DEVICE) },
	{ 0 },
};

const struct uvfio_driver nvme_driver = {
	.name = "nvme",
	.description = "NVMe 1.4 controller: RAM or file namespaces, MSI-X, shadow doorbells",
	.id_table = nvme_ids,
	.default_ident = &nvme_default_ident,
	.probe = nvme_probe,
	.options_help = "size=BYTES[K|M|G|T]  namespace size (default 128M; with file=, the file's "
			"size split over the namespaces)\n"
			"file=PATH  back the namespaces by a file or block device\n"
			"namespaces=N  1..16 (default 1)\n"
			"queues=N  I/O queue pairs, 1..255 (default 8)\n"
			"lba=512|4096  LBA size (default 512)\n"
			"serial=S model=M  identify strings\n"
			"db_mmap=on|off  doorbell page mmap-able by the client (default on)\n"
			"aio=on|off  file namespaces through io_uring (default on)\n"
			"poll_us=N  busy-poll after the last command (default 50)\n"
			"idle_wake_us=N  idle re-check of mmapped doorbells (default 1000)",
};
