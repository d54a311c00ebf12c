/* SPDX-License-Identifier: MIT */
/* uvfio mdev create | remove, and the mediated-device part of `uvfio list`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/host.h>

#if __has_include("commands.h")
#include "commands.h"
#else
int cmd_mdev(int argc, char **argv);
void list_mdevs(void);
int host_configure_from_env(void);
#endif

static const char mdev_usage[] =
	"usage: uvfio mdev create PARENT TYPE [UUID]\n"
	"       uvfio mdev remove UUID\n"
	"  create: makes an instance of TYPE (e.g. mtty-1) under PARENT (e.g. mtty), with UUID or\n"
	"  a random one, and prints its UUID; open it as vfio:UUID. `uvfio list` shows parents,\n"
	"  types and instances. remove: removes an instance (close it first: the kernel waits\n"
	"  for its users).\n"
	"Exit: 0 done, 1 the kernel refused, 2 bad command line.\n";

void list_mdevs(void)
{
	struct uvfio_mdev_parent *p;
	struct uvfio_mdev *m;
	size_t np, nm;

	if (uvfio_mdev_parents(&p, &np) < 0) {
		fprintf(stderr, "uvfio list: cannot read mediated device parents\n");
		return;
	}
	if (np) {
		printf("\n%-16s %-16s %-5s %-9s %s\n", "MDEV PARENT", "TYPE", "AVAIL", "API",
		       "NAME / DESCRIPTION");
		for (size_t i = 0; i < np; i++) {
			if (!p[i].nr_types)
				printf("%-16s %-16s\n", p[i].name, "-");
			for (size_t k = 0; k < p[i].nr_types; k++) {
				const struct uvfio_mdev_type *t = &p[i].types[k];
				char avail[16];

				snprintf(avail, sizeof(avail), "%d", t->available);
				printf("%-16s %-16s %-5s %-9s %s\n", p[i].name, t->id,
				       t->available < 0 ? "?" : avail,
				       t->device_api[0] ? t->device_api : "-",
				       t->name[0] ? t->name : t->description[0] ? t->description : "-");
			}
		}
	}
	uvfio_mdev_parents_free(p, np);
	if (uvfio_mdev_list(&m, &nm) < 0) {
		fprintf(stderr, "uvfio list: cannot read mediated devices\n");
		return;
	}
	if (nm) {
		printf("\n%-36s %-16s %-16s %-5s %-8s %s\n", "MDEV UUID", "PARENT", "TYPE", "GROUP",
		       "CDEV", "DRIVER");
		for (size_t i = 0; i < nm; i++) {
			char group[16];

			snprintf(group, sizeof(group), "%d", m[i].iommu_group);
			printf("%-36s %-16s %-16s %-5s %-8s %s\n", m[i].uuid,
			       m[i].parent[0] ? m[i].parent : "-", m[i].type[0] ? m[i].type : "-",
			       m[i].iommu_group < 0 ? "-" : group, m[i].cdev[0] ? m[i].cdev : "-",
			       m[i].driver[0] ? m[i].driver : "-");
		}
	}
	free(m);
}

/* Usage errors exit 2, like every uvfio command's bad command line. */
static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "uvfio mdev: %s%s%s%s\n%s", what, arg ? " '" : "", arg ? arg : "",
		arg ? "'" : "", mdev_usage);
	return 2;
}

int cmd_mdev(int argc, char **argv)
{
	char uuid[UVFIO_MDEV_UUID_LEN];
	const char *verb;
	int ret;

	if (argc < 2)
		return bad_usage("expected create or remove", NULL);
	verb = argv[1];
	if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) {
		fputs(mdev_usage, stdout);
		return 0;
	}
	for (int i = 2; i < argc; i++)
		if (argv[i][0] == '-')
			return bad_usage("unknown option", argv[i]);
	if (!strcmp(verb, "create")) {
		if (argc != 4 && argc != 5)
			return bad_usage("create takes PARENT TYPE [UUID]", NULL);
		if (argc == 5 && uvfio_mdev_parse_uuid(argv[4], uuid) < 0)
			return bad_usage("not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx):", argv[4]);
		if (host_configure_from_env() < 0)
			return 2;
		ret = uvfio_mdev_create(argv[2], argv[3], argc == 5 ? argv[4] : NULL, uuid);
		if (ret == -EINVAL)
			return bad_usage("bad PARENT or TYPE name (a plain sysfs name):", argv[3]);
		if (ret < 0)
			return 1;
		printf("%s\n", uuid);
		return 0;
	}
	if (!strcmp(verb, "remove")) {
		if (argc != 3)
			return bad_usage("remove takes UUID", NULL);
		if (uvfio_mdev_parse_uuid(argv[2], uuid) < 0)
			return bad_usage("not a UUID:", argv[2]);
		if (host_configure_from_env() < 0)
			return 2;
		if (uvfio_mdev_remove(uuid) < 0)
			return 1;
		printf("%s: removed\n", uuid);
		return 0;
	}
	return bad_usage("unknown subcommand (create or remove):", verb);
}
