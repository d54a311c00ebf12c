/* SPDX-License-Identifier: MIT */
/*
 * The migration FSM against two independent references: the kernel's documented combination
 * paths (kernel-vfio-uapi.md 1.3), and a BFS over the arcs the uAPI lists per feature set with
 * saving states only at the ends of a path. Every (feature set, current, requested) pair.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <uvfio/migration.h>

#include "util/log.h"

enum {
	ERR = UVFIO_MIG_STATE_ERROR,
	STOP = UVFIO_MIG_STATE_STOP,
	RUN = UVFIO_MIG_STATE_RUNNING,
	SC = UVFIO_MIG_STATE_STOP_COPY,
	RES = UVFIO_MIG_STATE_RESUMING,
	RP = UVFIO_MIG_STATE_RUNNING_P2P,
	PC = UVFIO_MIG_STATE_PRE_COPY,
	PCP = UVFIO_MIG_STATE_PRE_COPY_P2P,
	NR = UVFIO_MIG_STATE_NR,
	END = -1,
};

#define F_SC UVFIO_MIGRATION_STOP_COPY
#define F_P2P UVFIO_MIGRATION_P2P
#define F_PC UVFIO_MIGRATION_PRE_COPY

static const uint32_t feature_sets[] = { F_SC, F_SC | F_P2P, F_SC | F_PC, F_SC | F_P2P | F_PC };

/* The arcs of the uAPI comment, transcribed per feature set. */
struct arc {
	int from, to;
};
static const struct arc arcs_sc[] = {
	{ RES, STOP }, { STOP, RES }, { STOP, SC }, { SC, STOP }, { RUN, STOP }, { STOP, RUN },
	{ END, END },
};
static const struct arc arcs_sc_p2p[] = {
	{ RES, STOP }, { STOP, RES }, { STOP, SC }, { SC, STOP },
	{ RUN, RP }, { RP, RUN }, { RP, STOP }, { STOP, RP },
	{ END, END },
};
static const struct arc arcs_sc_pc[] = {
	{ RES, STOP }, { STOP, RES }, { STOP, SC }, { SC, STOP }, { RUN, STOP }, { STOP, RUN },
	{ RUN, PC }, { PC, RUN }, { PC, SC },
	{ END, END },
};
static const struct arc arcs_all[] = {
	{ RES, STOP }, { STOP, RES }, { STOP, SC }, { SC, STOP },
	{ RUN, RP }, { RP, RUN }, { RP, STOP }, { STOP, RP },
	{ PC, RUN }, { PC, PCP }, { PCP, PC }, { PCP, RP }, { PCP, SC }, { RUN, PC }, { RP, PCP },
	{ END, END },
};

static const struct arc *arcs_for(uint32_t flags)
{
	switch (flags) {
	case F_SC:
		return arcs_sc;
	case F_SC | F_P2P:
		return arcs_sc_p2p;
	case F_SC | F_PC:
		return arcs_sc_pc;
	default:
		return arcs_all;
	}
}

static bool ref_arc(uint32_t flags, int from, int to)
{
	const struct arc *a;

	for (a = arcs_for(flags); a->from != END; a++)
		if (a->from == from && a->to == to)
			return true;
	return false;
}

static bool ref_supported(uint32_t flags, int s)
{
	switch (s) {
	case STOP: case RUN: case SC: case RES:
		return true;
	case RP:
		return flags & F_P2P;
	case PC:
		return flags & F_PC;
	case PCP:
		return (flags & F_P2P) && (flags & F_PC);
	default:
		return false;
	}
}

static bool ref_saving(int s)
{
	return s == PC || s == PCP || s == SC;
}

/*
 * Shortest number of arcs from cur to target; -1 if none. "Saving states only at the ends" as the
 * kernel means it (its own list has PRE_COPY->PRE_COPY_P2P->STOP_COPY): a path may stay inside
 * the saving group it starts in, but once it has left the group it may enter it only as its
 * last state. So BFS runs over (state, has-left-the-group) pairs.
 */
static int bfs_len(uint32_t flags, int cur, int target)
{
	int dist[NR][2], queue[2 * NR][2], head = 0, tail = 0, s, t, left, nleft;

	for (s = 0; s < NR; s++)
		dist[s][0] = dist[s][1] = -1;
	left = !ref_saving(cur);
	dist[cur][left] = 0;
	queue[tail][0] = cur;
	queue[tail++][1] = left;
	while (head < tail) {
		s = queue[head][0];
		left = queue[head++][1];
		if (s == target)
			return dist[s][left];
		if (left && ref_saving(s))
			continue; /* entered the group mid-path: may only end it */
		for (t = 0; t < NR; t++) {
			nleft = left || !ref_saving(t);
			if (dist[t][nleft] >= 0 || !ref_arc(flags, s, t))
				continue;
			dist[t][nleft] = dist[s][left] + 1;
			queue[tail][0] = t;
			queue[tail++][1] = nleft;
		}
	}
	return -1;
}

/* A step callback that records arcs and can fail at a chosen arc. */
struct recorder {
	unsigned calls;
	int arcs[16][2];
	unsigned fail_at; /* 1-based arc number to fail; 0: never */
	int fail_ret;
	bool fail_broken;
};

static int record_step(void *opaque, uint32_t from, uint32_t to, bool *broken)
{
	struct recorder *r = opaque;

	if (r->calls >= 16)
		return -E2BIG;
	r->arcs[r->calls][0] = (int)from;
	r->arcs[r->calls][1] = (int)to;
	r->calls++;
	if (r->fail_at && r->calls == r->fail_at) {
		*broken = r->fail_broken;
		return r->fail_ret;
	}
	return 0;
}

static void test_exhaustive_vs_bfs(void **unused)
{
	unsigned fi, i;
	int cur, target;

	(void)unused;
	for (fi = 0; fi < 4; fi++) {
		uint32_t f = feature_sets[fi];

		for (cur = 0; cur < NR; cur++) {
			for (target = 0; target < NR; target++) {
				struct recorder rec = { 0 };
				struct uvfio_mig_path path;
				uint32_t state = (uint32_t)cur;
				bool blocked = cur == SC && (target == PC || target == PCP);
				bool left = false;
				int ret, len;

				ret = uvfio_mig_walk(f, &state, (uint32_t)target, record_step, &rec,
						     &path);
				if (!ref_supported(f, cur) || !ref_supported(f, target) || blocked) {
					assert_int_equal(ret, -EINVAL);
					assert_int_equal(rec.calls, 0);
					assert_int_equal(state, cur);
					continue;
				}
				assert_int_equal(ret, 0);
				assert_int_equal(state, target);
				len = bfs_len(f, cur, target);
				assert_true(len >= 0);
				if ((int)rec.calls != len)
					print_message("flags %#x %d->%d: %u arcs, bfs %d\n", f, cur, target, rec.calls, len);
				assert_int_equal(rec.calls, len);
				assert_int_equal(path.nr_arcs, len);
				for (i = 0; i < rec.calls; i++) {
					int from = rec.arcs[i][0], to = rec.arcs[i][1];

					assert_int_equal(from, i ? rec.arcs[i - 1][1] : cur);
					assert_true(ref_arc(f, from, to));
					assert_int_equal(path.arcs[i].from, from);
					assert_int_equal(path.arcs[i].to, to);
					/* Inside a path, a saving state only while the path
					 * has not yet left the group it started in. */
					left = left || !ref_saving(from);
					if (i + 1 < rec.calls && ref_saving(to))
						assert_false(left);
				}
			}
		}
	}
}

/* kernel-vfio-uapi.md 1.3, "Combination paths with all features", expanded. */
static const int kernel_paths_all[][6] = {
	{ PC, PCP, SC, END },
	{ PC, RUN, RP, END },
	{ PC, RUN, RP, STOP, END },
	{ PC, RUN, RP, STOP, RES, END },
	{ PCP, RP, RUN, END },
	{ PCP, RP, STOP, END },
	{ PCP, RP, STOP, RES, END },
	{ RES, STOP, RP, END },
	{ RES, STOP, RP, PCP, END },
	{ RES, STOP, RP, RUN, END },
	{ RES, STOP, RP, RUN, PC, END },
	{ RES, STOP, SC, END },
	{ RUN, RP, PCP, END },
	{ RUN, RP, STOP, END },
	{ RUN, RP, STOP, RES, END },
	{ RUN, RP, STOP, SC, END },
	{ RP, RUN, PC, END },
	{ RP, STOP, RES, END },
	{ RP, STOP, SC, END },
	{ STOP, RP, PCP, END },
	{ STOP, RP, RUN, END },
	{ STOP, RP, RUN, PC, END },
	{ SC, STOP, RES, END },
	{ SC, STOP, RP, END },
	{ SC, STOP, RP, RUN, END },
};

struct flagged_path {
	uint32_t flags;
	int states[6];
};
/* The notes of 1.3 for SC|PRE_COPY, plus paths that follow from the table for the others. */
static const struct flagged_path other_paths[] = {
	{ F_SC | F_PC, { PC, RUN, STOP, END } },
	{ F_SC | F_PC, { STOP, RUN, PC, END } },
	{ F_SC | F_PC, { PC, SC, END } },
	{ F_SC | F_PC, { PC, RUN, STOP, RES, END } },
	{ F_SC, { RUN, STOP, SC, END } },
	{ F_SC, { RES, STOP, RUN, END } },
	{ F_SC, { SC, STOP, RUN, END } },
	{ F_SC | F_P2P, { RUN, RP, STOP, RES, END } },
	{ F_SC | F_P2P, { SC, STOP, RP, RUN, END } },
};

static void check_path(uint32_t flags, const int *states)
{
	struct recorder rec = { 0 };
	uint32_t state = (uint32_t)states[0];
	unsigned n = 0;

	while (states[n + 1] != END)
		n++;
	assert_int_equal(uvfio_mig_walk(flags, &state, (uint32_t)states[n], record_step, &rec,
					NULL),
			 0);
	assert_int_equal(rec.calls, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(rec.arcs[i][0], states[i]);
		assert_int_equal(rec.arcs[i][1], states[i + 1]);
	}
}

static void test_kernel_combination_paths(void **unused)
{
	size_t i;

	(void)unused;
	for (i = 0; i < sizeof(kernel_paths_all) / sizeof(kernel_paths_all[0]); i++)
		check_path(F_SC | F_P2P | F_PC, kernel_paths_all[i]);
	for (i = 0; i < sizeof(other_paths) / sizeof(other_paths[0]); i++)
		check_path(other_paths[i].flags, other_paths[i].states);
}

static void test_arc_valid_matches_uapi_list(void **unused)
{
	unsigned fi;
	int from, to;

	(void)unused;
	for (fi = 0; fi < 4; fi++)
		for (from = 0; from < NR; from++)
			for (to = 0; to < NR; to++)
				assert_int_equal(uvfio_mig_arc_valid(feature_sets[fi], (uint32_t)from,
								     (uint32_t)to),
						 ref_arc(feature_sets[fi], from, to));
	assert_false(uvfio_mig_arc_valid(0, STOP, RES));
	assert_false(uvfio_mig_arc_valid(F_SC, 8, STOP));
}

static void test_bad_arguments(void **unused)
{
	static const uint32_t bad_flags[] = { 0, F_P2P, F_PC, F_P2P | F_PC, F_SC | (1u << 3),
					      0xffffffffu };
	static const uint32_t bad_states[] = { ERR, NR, 100, 0xffffffffu };
	struct recorder rec = { 0 };
	uint32_t next = 77, state;
	size_t i;

	(void)unused;
	for (i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		assert_int_equal(uvfio_mig_next_state(bad_flags[i], RUN, STOP, &next), -EINVAL);
		assert_false(uvfio_mig_flags_valid(bad_flags[i]));
		state = RUN;
		assert_int_equal(uvfio_mig_walk(bad_flags[i], &state, STOP, record_step, &rec, NULL),
				 -EINVAL);
		assert_int_equal(state, RUN);
	}
	for (i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]); i++) {
		assert_int_equal(uvfio_mig_next_state(F_SC, RUN, bad_states[i], &next), -EINVAL);
		assert_int_equal(uvfio_mig_next_state(F_SC, bad_states[i], RUN, &next), -EINVAL);
		state = RUN;
		assert_int_equal(uvfio_mig_walk(F_SC, &state, bad_states[i], record_step, &rec, NULL),
				 -EINVAL);
	}
	/* Optional states a feature set lacks. */
	assert_int_equal(uvfio_mig_next_state(F_SC, RUN, RP, &next), -EINVAL);
	assert_int_equal(uvfio_mig_next_state(F_SC, RUN, PC, &next), -EINVAL);
	assert_int_equal(uvfio_mig_next_state(F_SC | F_PC, RUN, PCP, &next), -EINVAL);
	assert_int_equal(uvfio_mig_next_state(F_SC | F_P2P, PCP, RUN, &next), -EINVAL);
	assert_int_equal(uvfio_mig_next_state(F_SC, RUN, STOP, NULL), -EINVAL);
	assert_int_equal(uvfio_mig_walk(F_SC, NULL, STOP, record_step, &rec, NULL), -EINVAL);
	state = RUN;
	assert_int_equal(uvfio_mig_walk(F_SC, &state, STOP, NULL, &rec, NULL), -EINVAL);
	assert_int_equal(rec.calls, 0);
	assert_string_equal(uvfio_mig_state_name(PCP), "PRE_COPY_P2P");
	assert_string_equal(uvfio_mig_state_name(42), "?");
}

/* The skip loop of the kernel spun forever here; ours must end with an error. */
static void test_error_guard(void **unused)
{
	uint32_t next = 77;

	(void)unused;
	assert_int_equal(uvfio_mig_next_state(F_SC | F_PC, SC, PC, &next), -EINVAL);
	assert_int_equal(next, ERR);
	assert_int_equal(uvfio_mig_next_state(F_SC | F_P2P | F_PC, SC, PC, &next), -EINVAL);
	assert_int_equal(uvfio_mig_next_state(F_SC | F_P2P | F_PC, SC, PCP, &next), -EINVAL);
	assert_int_equal(next, ERR);
	assert_int_equal(uvfio_mig_next_state(F_SC | F_P2P | F_PC, SC, STOP, &next), 0);
	assert_int_equal(next, STOP);
}

static void test_step_failure_stays(void **unused)
{
	struct recorder rec = { .fail_at = 2, .fail_ret = -EIO };
	struct uvfio_mig_path path;
	uint32_t state = RUN;

	(void)unused;
	/* RUNNING -> RUNNING_P2P -> STOP -> RESUMING, second arc fails. */
	assert_int_equal(uvfio_mig_walk(F_SC | F_P2P, &state, RES, record_step, &rec, &path), -EIO);
	assert_int_equal(state, RP);
	assert_int_equal(rec.calls, 2);
	assert_int_equal(path.nr_arcs, 1);
	assert_int_equal(path.arcs[0].from, RUN);
	assert_int_equal(path.arcs[0].to, RP);

	/* A positive return is a driver bug, still a failure. */
	memset(&rec, 0, sizeof(rec));
	rec.fail_at = 1;
	rec.fail_ret = 5;
	state = STOP;
	assert_int_equal(uvfio_mig_walk(F_SC, &state, RES, record_step, &rec, &path), -EIO);
	assert_int_equal(state, STOP);
	assert_int_equal(path.nr_arcs, 0);
}

static void test_broken_goes_to_error_reset_recovers(void **unused)
{
	struct recorder rec = { .fail_at = 3, .fail_ret = -EFAULT, .fail_broken = true };
	struct uvfio_mig_fsm fsm;
	uint32_t target;

	(void)unused;
	assert_int_equal(uvfio_mig_fsm_init(&fsm, 0), -EINVAL);
	assert_int_equal(uvfio_mig_fsm_init(&fsm, F_SC | F_P2P | F_PC), 0);
	assert_int_equal(fsm.state, RUN);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, SC, record_step, &rec, NULL), -EFAULT);
	assert_int_equal(fsm.state, ERR);
	assert_int_equal(fsm.session, UVFIO_MIG_NO_SESSION);
	/* ERROR is left only by a reset: every request fails without touching the driver. */
	memset(&rec, 0, sizeof(rec));
	for (target = 0; target < NR; target++)
		assert_int_equal(uvfio_mig_fsm_set_state(&fsm, target, record_step, &rec, NULL),
				 -EINVAL);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(fsm.state, ERR);
	uvfio_mig_fsm_reset(&fsm);
	assert_int_equal(fsm.state, RUN);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, SC, record_step, &rec, NULL), 0);
	assert_int_equal(fsm.state, SC);
	assert_int_equal(rec.calls, 3);
}

/* kernel-vfio-uapi.md 1.4: where data sessions begin, continue and end. */
static void test_session_rules(void **unused)
{
	static const struct {
		int from, to, action;
	} rules[] = {
		{ RUN, PC, UVFIO_MIG_SESSION_OPEN_SAVE },
		{ RP, PCP, UVFIO_MIG_SESSION_OPEN_SAVE },
		{ STOP, SC, UVFIO_MIG_SESSION_OPEN_SAVE },
		{ STOP, RES, UVFIO_MIG_SESSION_OPEN_RESUME },
		{ PC, PCP, UVFIO_MIG_SESSION_KEEP },
		{ PCP, PC, UVFIO_MIG_SESSION_KEEP },
		{ PC, SC, UVFIO_MIG_SESSION_KEEP },
		{ PCP, SC, UVFIO_MIG_SESSION_KEEP },
		{ SC, STOP, UVFIO_MIG_SESSION_END_SAVE },
		{ PC, RUN, UVFIO_MIG_SESSION_END_SAVE },
		{ PCP, RP, UVFIO_MIG_SESSION_END_SAVE },
		{ RES, STOP, UVFIO_MIG_SESSION_COMMIT },
		{ RUN, STOP, UVFIO_MIG_SESSION_NONE },
		{ STOP, RUN, UVFIO_MIG_SESSION_NONE },
		{ RUN, RP, UVFIO_MIG_SESSION_NONE },
		{ RP, RUN, UVFIO_MIG_SESSION_NONE },
		{ RP, STOP, UVFIO_MIG_SESSION_NONE },
		{ STOP, RP, UVFIO_MIG_SESSION_NONE },
	};
	size_t i;
	int from, to, n = 0;

	(void)unused;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		assert_int_equal(uvfio_mig_arc_session((uint32_t)rules[i].from,
						       (uint32_t)rules[i].to),
				 rules[i].action);
	/* Anything that is no arc of any feature set is refused. */
	for (from = 0; from < NR; from++)
		for (to = 0; to < NR; to++)
			if (!ref_arc(F_SC, from, to) && !ref_arc(F_SC | F_P2P, from, to) &&
			    !ref_arc(F_SC | F_PC, from, to) && !ref_arc(F_SC | F_P2P | F_PC, from, to)) {
				assert_int_equal(uvfio_mig_arc_session((uint32_t)from, (uint32_t)to),
						 -EINVAL);
				n++;
			}
	assert_int_equal(n, NR * NR - 18);
	assert_int_equal(uvfio_mig_arc_session(9, STOP), -EINVAL);
}

/* A data session only ever opens on the last arc of a walk (the fd is returned by the SET), and
 * the fsm's session follows the arcs. */
static void test_fsm_sessions(void **unused)
{
	struct recorder rec = { 0 };
	struct uvfio_mig_fsm fsm;
	unsigned fi, cur, target, i;

	(void)unused;
	for (fi = 0; fi < 4; fi++) {
		for (cur = 0; cur < NR; cur++) {
			for (target = 0; target < NR; target++) {
				struct uvfio_mig_path path;
				uint32_t state = cur;
				int a;

				memset(&rec, 0, sizeof(rec));
				if (uvfio_mig_walk(feature_sets[fi], &state, target, record_step, &rec,
						   &path))
					continue;
				for (i = 0; i + 1 < path.nr_arcs; i++) {
					a = uvfio_mig_arc_session(path.arcs[i].from, path.arcs[i].to);
					assert_true(a != UVFIO_MIG_SESSION_OPEN_SAVE &&
						    a != UVFIO_MIG_SESSION_OPEN_RESUME);
				}
			}
		}
	}

	assert_int_equal(uvfio_mig_fsm_init(&fsm, F_SC | F_P2P | F_PC), 0);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, PC, record_step, &rec, NULL), 0);
	assert_int_equal(fsm.session, UVFIO_MIG_SAVING);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, SC, record_step, &rec, NULL), 0);
	assert_int_equal(fsm.session, UVFIO_MIG_SAVING);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, PC, record_step, &rec, NULL), -EINVAL);
	assert_int_equal(fsm.state, SC);
	assert_int_equal(fsm.session, UVFIO_MIG_SAVING);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, RES, record_step, &rec, NULL), 0);
	assert_int_equal(fsm.session, UVFIO_MIG_RESUMING);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, RUN, record_step, &rec, NULL), 0);
	assert_int_equal(fsm.session, UVFIO_MIG_NO_SESSION);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, RES, record_step, &rec, NULL), 0);
	uvfio_mig_fsm_reset(&fsm);
	assert_int_equal(fsm.state, RUN);
	assert_int_equal(fsm.session, UVFIO_MIG_NO_SESSION);
}

/* kernel-vfio-uapi.md 1.5: which states let a device act on its own. */
static void test_quiescence_rules(void **unused)
{
	static const bool active[NR] = {
		[ERR] = false, [STOP] = false, [RUN] = true, [SC] = false,
		[RES] = false, [RP] = true, [PC] = true, [PCP] = true,
	};
	uint32_t s;

	(void)unused;
	for (s = 0; s < NR; s++) {
		assert_int_equal(uvfio_mig_state_may_dma(s), active[s]);
		assert_int_equal(uvfio_mig_state_may_irq(s), active[s]);
		assert_int_equal(uvfio_mig_state_saving(s), ref_saving((int)s));
	}
	assert_false(uvfio_mig_state_may_dma(NR));
	assert_false(uvfio_mig_state_may_irq(0xffffffffu));
	assert_false(uvfio_mig_state_saving(NR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exhaustive_vs_bfs),
		cmocka_unit_test(test_kernel_combination_paths),
		cmocka_unit_test(test_arc_valid_matches_uapi_list),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_error_guard),
		cmocka_unit_test(test_step_failure_stays),
		cmocka_unit_test(test_broken_goes_to_error_reset_recovers),
		cmocka_unit_test(test_session_rules),
		cmocka_unit_test(test_fsm_sessions),
		cmocka_unit_test(test_quiescence_rules),
	};

	uvfio_log_set_level(UVFIO_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
