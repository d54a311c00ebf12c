/* SPDX-License-Identifier: MIT */
/*
 * The migration state machine: the kernel's vfio_from_fsm_table, its skip rule for states a
 * device does not support, and the session rules of the arcs (uAPI v2, vfio_main.c).
 */
#include <errno.h>

#include <uvfio/migration.h>

#include "util/log.h"
#include "util/vfio_compat.h"

/* Our numbers are the kernel's: states travel unchanged through VFIO_DEVICE_FEATURE. */
_Static_assert((int)UVFIO_MIG_STATE_ERROR == (int)VFIO_DEVICE_STATE_ERROR, "ERROR");
_Static_assert((int)UVFIO_MIG_STATE_STOP == (int)VFIO_DEVICE_STATE_STOP, "STOP");
_Static_assert((int)UVFIO_MIG_STATE_RUNNING == (int)VFIO_DEVICE_STATE_RUNNING, "RUNNING");
_Static_assert((int)UVFIO_MIG_STATE_STOP_COPY == (int)VFIO_DEVICE_STATE_STOP_COPY, "STOP_COPY");
_Static_assert((int)UVFIO_MIG_STATE_RESUMING == (int)VFIO_DEVICE_STATE_RESUMING, "RESUMING");
_Static_assert((int)UVFIO_MIG_STATE_RUNNING_P2P == (int)VFIO_DEVICE_STATE_RUNNING_P2P, "RUNNING_P2P");
_Static_assert((int)UVFIO_MIG_STATE_PRE_COPY == (int)VFIO_DEVICE_STATE_PRE_COPY, "PRE_COPY");
_Static_assert((int)UVFIO_MIG_STATE_PRE_COPY_P2P == (int)VFIO_DEVICE_STATE_PRE_COPY_P2P, "PRE_COPY_P2P");
_Static_assert(UVFIO_MIGRATION_STOP_COPY == VFIO_MIGRATION_STOP_COPY, "STOP_COPY flag");
_Static_assert(UVFIO_MIGRATION_P2P == VFIO_MIGRATION_P2P, "P2P flag");
_Static_assert(UVFIO_MIGRATION_PRE_COPY == VFIO_MIGRATION_PRE_COPY, "PRE_COPY flag");

enum {
	ERR = UVFIO_MIG_STATE_ERROR,
	STOP = UVFIO_MIG_STATE_STOP,
	RUN = UVFIO_MIG_STATE_RUNNING,
	SC = UVFIO_MIG_STATE_STOP_COPY,
	RES = UVFIO_MIG_STATE_RESUMING,
	R_P2P = UVFIO_MIG_STATE_RUNNING_P2P,
	PC = UVFIO_MIG_STATE_PRE_COPY,
	PC_P2P = UVFIO_MIG_STATE_PRE_COPY_P2P,
	NR = UVFIO_MIG_STATE_NR,
};

#define F_SC UVFIO_MIGRATION_STOP_COPY
#define F_P2P UVFIO_MIGRATION_P2P
#define F_PC UVFIO_MIGRATION_PRE_COPY

/*
 * vfio_from_fsm_table[cur][new]: the next step from cur towards new, over the full state set.
 * Arcs through a state the device lacks are skipped by looking the table up again from there.
 */
static const uint8_t fsm_table[NR][NR] = {
	[STOP] = {
		[STOP] = STOP, [RUN] = R_P2P, [PC] = R_P2P, [PC_P2P] = R_P2P,
		[SC] = SC, [RES] = RES, [R_P2P] = R_P2P, [ERR] = ERR,
	},
	[RUN] = {
		[STOP] = R_P2P, [RUN] = RUN, [PC] = PC, [PC_P2P] = R_P2P,
		[SC] = R_P2P, [RES] = R_P2P, [R_P2P] = R_P2P, [ERR] = ERR,
	},
	[PC] = {
		[STOP] = RUN, [RUN] = RUN, [PC] = PC, [PC_P2P] = PC_P2P,
		[SC] = PC_P2P, [RES] = RUN, [R_P2P] = RUN, [ERR] = ERR,
	},
	[PC_P2P] = {
		[STOP] = R_P2P, [RUN] = R_P2P, [PC] = PC, [PC_P2P] = PC_P2P,
		[SC] = SC, [RES] = R_P2P, [R_P2P] = R_P2P, [ERR] = ERR,
	},
	/* Leaving the saving group for PRE_COPY is not defined by the uAPI: ERROR. */
	[SC] = {
		[STOP] = STOP, [RUN] = STOP, [PC] = ERR, [PC_P2P] = ERR,
		[SC] = SC, [RES] = STOP, [R_P2P] = STOP, [ERR] = ERR,
	},
	[RES] = {
		[STOP] = STOP, [RUN] = STOP, [PC] = STOP, [PC_P2P] = STOP,
		[SC] = STOP, [RES] = RES, [R_P2P] = STOP, [ERR] = ERR,
	},
	[R_P2P] = {
		[STOP] = STOP, [RUN] = RUN, [PC] = RUN, [PC_P2P] = PC_P2P,
		[SC] = STOP, [RES] = STOP, [R_P2P] = R_P2P, [ERR] = ERR,
	},
	[ERR] = {
		[STOP] = ERR, [RUN] = ERR, [PC] = ERR, [PC_P2P] = ERR,
		[SC] = ERR, [RES] = ERR, [R_P2P] = ERR, [ERR] = ERR,
	},
};

/* state_flags_table: the feature flags a state needs. ERROR needs all (never supported). */
static const uint32_t state_flags[NR] = {
	[STOP] = F_SC,
	[RUN] = F_SC,
	[SC] = F_SC,
	[RES] = F_SC,
	[R_P2P] = F_SC | F_P2P,
	[PC] = F_SC | F_PC,
	[PC_P2P] = F_SC | F_P2P | F_PC,
	[ERR] = ~0u,
};

static const char *const state_names[NR] = {
	[ERR] = "ERROR",
	[STOP] = "STOP",
	[RUN] = "RUNNING",
	[SC] = "STOP_COPY",
	[RES] = "RESUMING",
	[R_P2P] = "RUNNING_P2P",
	[PC] = "PRE_COPY",
	[PC_P2P] = "PRE_COPY_P2P",
};

const char *uvfio_mig_state_name(uint32_t state)
{
	return state < NR ? state_names[state] : "?";
}

bool uvfio_mig_flags_valid(uint32_t flags)
{
	if (flags & ~(F_SC | F_P2P | F_PC))
		return false;
	return (flags & F_SC) != 0;
}

bool uvfio_mig_state_supported(uint32_t flags, uint32_t state)
{
	if (state >= NR)
		return false;
	return (state_flags[state] & flags) == state_flags[state];
}

bool uvfio_mig_state_saving(uint32_t state)
{
	return state == PC || state == PC_P2P || state == SC;
}

bool uvfio_mig_state_may_dma(uint32_t state)
{
	return state == RUN || state == PC || state == R_P2P || state == PC_P2P;
}

bool uvfio_mig_state_may_irq(uint32_t state)
{
	return uvfio_mig_state_may_dma(state);
}

/* The arcs the uAPI asks drivers to implement, by feature set (vfio.h comment). */
static bool arc_listed(uint32_t flags, uint32_t from, uint32_t to)
{
	bool p2p = flags & F_P2P, pc = flags & F_PC;

	/* Mandatory with STOP_COPY. */
	if ((from == RES && to == STOP) || (from == STOP && to == RES) ||
	    (from == STOP && to == SC) || (from == SC && to == STOP))
		return true;
	if (!p2p && ((from == RUN && to == STOP) || (from == STOP && to == RUN)))
		return true;
	if (p2p && ((from == RUN && to == R_P2P) || (from == R_P2P && to == RUN) ||
		    (from == R_P2P && to == STOP) || (from == STOP && to == R_P2P)))
		return true;
	if (pc && ((from == RUN && to == PC) || (from == PC && to == RUN)))
		return true;
	if (pc && !p2p && from == PC && to == SC)
		return true;
	if (pc && p2p &&
	    ((from == PC && to == PC_P2P) || (from == PC_P2P && to == PC) ||
	     (from == PC_P2P && to == R_P2P) || (from == PC_P2P && to == SC) ||
	     (from == R_P2P && to == PC_P2P)))
		return true;
	return false;
}

bool uvfio_mig_arc_valid(uint32_t flags, uint32_t from, uint32_t to)
{
	if (!uvfio_mig_flags_valid(flags) || !uvfio_mig_state_supported(flags, from) ||
	    !uvfio_mig_state_supported(flags, to))
		return false;
	return arc_listed(flags, from, to);
}

int uvfio_mig_next_state(uint32_t flags, uint32_t cur, uint32_t target, uint32_t *next)
{
	uint32_t n;

	if (!next || !uvfio_mig_flags_valid(flags))
		return -EINVAL;
	if (!uvfio_mig_state_supported(flags, cur) || !uvfio_mig_state_supported(flags, target))
		return -EINVAL;
	/* The skip rule, with the guard the kernel lacked until 2026: ERROR is never supported
	 * and maps to itself, so without it the loop would spin forever. */
	n = fsm_table[cur][target];
	while (n != ERR && !uvfio_mig_state_supported(flags, n))
		n = fsm_table[n][target];
	*next = n;
	return n != ERR ? 0 : -EINVAL;
}

static void path_add(struct uvfio_mig_path *path, uint32_t from, uint32_t to)
{
	if (!path || path->nr_arcs >= UVFIO_MIG_MAX_ARCS)
		return;
	path->arcs[path->nr_arcs].from = (uint8_t)from;
	path->arcs[path->nr_arcs].to = (uint8_t)to;
	path->nr_arcs++;
}

/* Checks the whole path before the first arc, so an impossible request changes nothing. */
static int check_path(uint32_t flags, uint32_t cur, uint32_t target)
{
	unsigned i;
	uint32_t next;
	int ret;

	for (i = 0; i < UVFIO_MIG_MAX_ARCS && cur != target; i++) {
		ret = uvfio_mig_next_state(flags, cur, target, &next);
		if (ret)
			return ret;
		cur = next;
	}
	return cur == target ? 0 : -ELOOP;
}

int uvfio_mig_walk(uint32_t flags, uint32_t *state, uint32_t target, uvfio_mig_step_fn step,
		   void *opaque, struct uvfio_mig_path *path)
{
	uint32_t cur, next;
	bool broken;
	int ret;

	if (path)
		path->nr_arcs = 0;
	if (!state || !step)
		return -EINVAL;
	cur = *state;
	ret = uvfio_mig_next_state(flags, cur, target, &next);
	if (ret == 0)
		ret = check_path(flags, cur, target);
	if (ret) {
		log_debug("migration: %s -> %s refused (flags %#x)", uvfio_mig_state_name(cur),
			  uvfio_mig_state_name(target), flags);
		return ret;
	}
	while (cur != target) {
		ret = uvfio_mig_next_state(flags, cur, target, &next);
		if (ret)
			return ret;
		broken = false;
		ret = step(opaque, cur, next, &broken);
		if (ret) {
			if (ret > 0)
				ret = -EIO;
			if (broken)
				*state = ERR;
			log_warn("migration: arc %s -> %s failed (%d)%s", uvfio_mig_state_name(cur),
				 uvfio_mig_state_name(next), ret, broken ? ", device in ERROR" : "");
			return ret;
		}
		path_add(path, cur, next);
		cur = next;
		*state = cur;
	}
	return 0;
}

int uvfio_mig_arc_session(uint32_t from, uint32_t to)
{
	if (from >= NR || to >= NR || from == to || from == ERR || to == ERR)
		return -EINVAL;
	if (!arc_listed(F_SC | F_P2P | F_PC, from, to) && !arc_listed(F_SC, from, to) &&
	    !arc_listed(F_SC | F_PC, from, to))
		return -EINVAL;
	if ((from == RUN && to == PC) || (from == R_P2P && to == PC_P2P) ||
	    (from == STOP && to == SC))
		return UVFIO_MIG_SESSION_OPEN_SAVE;
	if (from == STOP && to == RES)
		return UVFIO_MIG_SESSION_OPEN_RESUME;
	if (from == RES && to == STOP)
		return UVFIO_MIG_SESSION_COMMIT;
	if (uvfio_mig_state_saving(from) && uvfio_mig_state_saving(to))
		return UVFIO_MIG_SESSION_KEEP;
	if (uvfio_mig_state_saving(from))
		return UVFIO_MIG_SESSION_END_SAVE;
	return UVFIO_MIG_SESSION_NONE;
}

int uvfio_mig_fsm_init(struct uvfio_mig_fsm *fsm, uint32_t flags)
{
	if (!fsm || !uvfio_mig_flags_valid(flags))
		return -EINVAL;
	fsm->flags = flags;
	fsm->state = RUN;
	fsm->session = UVFIO_MIG_NO_SESSION;
	return 0;
}

struct fsm_walk {
	struct uvfio_mig_fsm *fsm;
	uvfio_mig_step_fn step;
	void *opaque;
};

/* Wraps the driver's step so the session follows each completed arc. */
static int fsm_step(void *opaque, uint32_t from, uint32_t to, bool *broken)
{
	struct fsm_walk *fw = opaque;
	int ret;

	ret = fw->step(fw->opaque, from, to, broken);
	if (ret)
		return ret;
	switch (uvfio_mig_arc_session(from, to)) {
	case UVFIO_MIG_SESSION_OPEN_SAVE:
		fw->fsm->session = UVFIO_MIG_SAVING;
		break;
	case UVFIO_MIG_SESSION_OPEN_RESUME:
		fw->fsm->session = UVFIO_MIG_RESUMING;
		break;
	case UVFIO_MIG_SESSION_END_SAVE:
	case UVFIO_MIG_SESSION_COMMIT:
		fw->fsm->session = UVFIO_MIG_NO_SESSION;
		break;
	default:
		break;
	}
	return 0;
}

int uvfio_mig_fsm_set_state(struct uvfio_mig_fsm *fsm, uint32_t target, uvfio_mig_step_fn step,
			    void *opaque, struct uvfio_mig_path *path)
{
	struct fsm_walk fw = { .fsm = fsm, .step = step, .opaque = opaque };
	int ret;

	if (path)
		path->nr_arcs = 0;
	if (!fsm || !step)
		return -EINVAL;
	ret = uvfio_mig_walk(fsm->flags, &fsm->state, target, fsm_step, &fw, path);
	/* A device in ERROR has no session left; only a reset brings it back. */
	if (fsm->state == ERR)
		fsm->session = UVFIO_MIG_NO_SESSION;
	return ret;
}

void uvfio_mig_fsm_reset(struct uvfio_mig_fsm *fsm)
{
	if (!fsm)
		return;
	fsm->state = RUN;
	fsm->session = UVFIO_MIG_NO_SESSION;
}
