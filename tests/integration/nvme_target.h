/* SPDX-License-Identifier: MIT */
/*
 * NVMe controllers for the host driver's tests, each reached by a URL: QEMU's nvme exported by
 * x-vfio-user-server (one client, exits when it leaves), and uvfio's own nvme (uvfio serve).
 * Header-only, shared by test_nvme_host.c and test_nvme_cli.c.
 */
#ifndef UVFIO_TEST_NVME_TARGET_H
#define UVFIO_TEST_NVME_TARGET_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NT_QEMU_DEFAULT "/work/shared/qemu/qemu-system-x86_64"
#define NT_IMG_BYTES (64ull << 20)

struct nvme_target {
	pid_t pid;
	char dir[64];
	char sock[128];
	char img[128];
	char url[160];
	bool stays; /* serves on after its client left (uvfio serve): stop it at once */
};

static inline const char *nt_qemu_path(void)
{
	const char *q = getenv("UVFIO_QEMU");

	return q ? q : NT_QEMU_DEFAULT;
}

/* True when QEMU is there; else prints why the QEMU cases are skipped. Under CI=true a missing
 * QEMU is a failure the caller reports. */
static inline bool nt_have_qemu(void)
{
	if (access(nt_qemu_path(), X_OK) == 0)
		return true;
	fprintf(stderr, "QEMU with x-vfio-user-server not found at %s (set UVFIO_QEMU): %s\n",
		nt_qemu_path(), getenv("CI") && !strcmp(getenv("CI"), "true") ?
					"FAIL (CI=true)" : "skipping the QEMU cases");
	return false;
}

static inline int nt_wait_sock(struct nvme_target *t, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		struct stat st;

		if (stat(t->sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
			t->pid = 0;
			return -ECHILD;
		}
		poll(NULL, 0, 10);
	}
	return -ETIMEDOUT;
}

static inline int nt_mkdir(struct nvme_target *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/uvfio-nvme-XXXXXX");
	if (!mkdtemp(t->dir))
		return -errno;
	snprintf(t->sock, sizeof(t->sock), "%s/nvme.sock", t->dir);
	snprintf(t->img, sizeof(t->img), "%s/disk.img", t->dir);
	snprintf(t->url, sizeof(t->url), "vfio-user:%s", t->sock);
	return 0;
}

static inline pid_t nt_spawn(char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		if (null >= 0 && !getenv("NT_VERBOSE")) {
			dup2(null, 0);
			dup2(null, 1);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* QEMU's nvme on a fresh zeroed image of NT_IMG_BYTES. */
static inline int nt_start_qemu(struct nvme_target *t)
{
	char drive[200], obj[200];
	int fd, ret = nt_mkdir(t);

	if (ret < 0)
		return ret;
	fd = open(t->img, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)NT_IMG_BYTES) < 0)
		return -errno;
	close(fd);
	snprintf(drive, sizeof(drive), "file=%s,if=none,id=d,format=raw", t->img);
	snprintf(obj, sizeof(obj), "x-vfio-user-server,id=v0,type=unix,path=%s,device=d0", t->sock);
	char *argv[] = { (char *)nt_qemu_path(), "-accel", "tcg", "-machine", "x-remote,vfio-user=on",
			 "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "none",
			 "-drive", drive, "-device", "nvme,drive=d,serial=uvfiotest,id=d0",
			 "-object", obj, NULL };
	t->pid = nt_spawn(argv);
	if (t->pid < 0)
		return -errno;
	return nt_wait_sock(t, 60000);
}

/* uvfio's nvme: "$UVFIO_BIN serve --device nvme[,OPTS] --socket SOCK" (RAM backend of
 * NT_IMG_BYTES unless opts says otherwise). */
static inline int nt_start_uvfio(struct nvme_target *t, const char *opts)
{
	char dev[256];

	const char *bin = getenv("UVFIO_BIN");
	int ret = nt_mkdir(t);

	if (ret < 0)
		return ret;
	if (!bin)
		return -ENOENT;
	t->stays = true;
	snprintf(dev, sizeof(dev), "nvme,size=%llu,serial=uvfiotest%s%s",
		 (unsigned long long)NT_IMG_BYTES, opts ? "," : "", opts ? opts : "");
	char *argv[] = { (char *)bin, "serve", "--device", dev, "--socket", t->sock, NULL };
	t->pid = nt_spawn(argv);
	if (t->pid < 0)
		return -errno;
	return nt_wait_sock(t, 10000);
}

/* Waits for the server to leave (QEMU's does when its client closes), then kills it. */
static inline int nt_stop(struct nvme_target *t)
{
	int status = -1;

	for (int i = 0; t->pid > 0 && i < 1000; i++) {
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = 0;
			break;
		}
		if (i == (t->stays ? 0 : 500))
			kill(t->pid, SIGTERM);
		poll(NULL, 0, 10);
	}
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, &status, 0);
		t->pid = 0;
	}
	unlink(t->sock);
	unlink(t->img);
	rmdir(t->dir);
	return 0;
}

#endif
