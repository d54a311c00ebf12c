/* SPDX-License-Identifier: MIT */
/*
 * Guarded copies into client memory. A client may shrink the file behind a DMA window at any
 * moment (ftruncate after DMA_MAP); touching the vanished pages raises SIGBUS, which would kill
 * every device in the process. A pre-check (fstat under a lock) cannot help: the client does
 * not take our lock, so the file may shrink between the check and the copy. So the copy itself
 * is guarded: a per-thread recovery point (sigsetjmp) and one process-wide SIGBUS/SIGSEGV
 * handler that jumps back to it when the fault lies in the range the thread is copying from or
 * to. Any other fault is passed on to the handler that was installed before ours (or the
 * default action), so crashes elsewhere stay crashes.
 *
 * Why not an fstat pre-check under the window's lock: the client does not take our lock, so
 * the file may shrink between the check and the copy. Only sealed memfds (F_SEAL_SHRINK, which
 * cannot be undone) are safe without the guard; space.c marks those windows stable.
 *
 * The handler uses SA_NODEFER and the jump point saves no signal mask: leaving the handler by
 * siglongjmp then needs no sigprocmask call per copy.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dma/guard.h"
#include "util/log.h"

struct guard {
	sigjmp_buf env;
	uintptr_t lo, hi; /* the client memory this thread is copying, [lo, hi) */
	volatile sig_atomic_t active;
};

/* initial-exec: no lazy TLS allocation inside the signal handler. */
static __thread struct guard tls_guard __attribute__((tls_model("initial-exec")));
static struct sigaction prev_bus, prev_segv;
static bool installed;

static void chain(int sig, siginfo_t *info, void *ctx)
{
	const struct sigaction *p = sig == SIGBUS ? &prev_bus : &prev_segv;

	if (p->sa_flags & SA_SIGINFO) {
		p->sa_sigaction(sig, info, ctx);
		return;
	}
	if (p->sa_handler == SIG_DFL || p->sa_handler == SIG_IGN) {
		/* A fault cannot be ignored: restore the default and return, the faulting
		 * instruction runs again and the kernel applies the default action. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
		return;
	}
	p->sa_handler(sig);
}

static void on_fault(int sig, siginfo_t *info, void *ctx)
{
	struct guard *g = &tls_guard;
	uintptr_t a = (uintptr_t)info->si_addr;

	if (g->active && a >= g->lo && a < g->hi) {
		g->active = 0;
		siglongjmp(g->env, 1);
	}
	chain(sig, info, ctx);
}

/* Puts on_fault in front of whatever handles sig now (that one becomes the chained one). */
static int claim(int sig, struct sigaction *prev)
{
	struct sigaction sa = { .sa_sigaction = on_fault,
				.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK };
	struct sigaction cur;

	if (sigaction(sig, NULL, &cur) < 0)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_fault)
		return 0;
	sigemptyset(&sa.sa_mask);
	*prev = cur;
	return sigaction(sig, &sa, NULL) < 0 ? -errno : 0;
}

/*
 * Installs the handler, or installs it again if someone replaced it since (a library or test
 * framework that sets its own SIGSEGV/SIGBUS handlers): called whenever a window that needs
 * the guard is added, not per copy, so a copy costs no system call.
 */
int dma_guard_init(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&lock);
	int ret = claim(SIGBUS, &prev_bus);
	if (ret == 0)
		ret = claim(SIGSEGV, &prev_segv);
	if (ret < 0)
		log_err("dma: cannot install the fault handler for guarded copies: %s",
			strerror(-ret));
	else
		__atomic_store_n(&installed, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
	return ret;
}

/* Kept out of line so the compiler cannot move the copy across the sigsetjmp. */
static __attribute__((noinline)) void do_copy(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

int dma_guarded_copy(void *dst, const void *src, size_t n, const void *client, size_t client_len)
{
	struct guard *g = &tls_guard;

	if (n == 0)
		return 0;
	if (!__atomic_load_n(&installed, __ATOMIC_ACQUIRE) && dma_guard_init() < 0)
		return -EFAULT; /* no handler: touching memory that may vanish is not safe */
	if (g->active)
		return -EDEADLK; /* a guarded copy from inside a guarded copy: a bug */
	g->lo = (uintptr_t)client;
	g->hi = (uintptr_t)client + client_len;
	if (sigsetjmp(g->env, 0))
		return -EFAULT; /* on_fault cleared active */
	g->active = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	do_copy(dst, src, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	g->active = 0;
	return 0;
}
