// SPDX-License-Identifier: MIT
/* pin.c - bpffs mounting and access to pinned maps of an instance. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pin.h"

static int is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

int mape_bpffs_ensure(const char *dir, char *err)
{
	char parent[512];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", dir);
	/* the first existing ancestor decides where we are */
	while (access(parent, F_OK) != 0 && (slash = strrchr(parent, '/')) && slash != parent)
		*slash = 0;
	if (is_bpffs(parent))
		return 0;
	if (strncmp(dir, "/sys/fs/bpf", 11) != 0) {
		snprintf(err, MAPE_ERRLEN, "pin directory %s is not on a bpf filesystem", dir);
		return -EINVAL;
	}
	if (!is_bpffs("/sys/fs/bpf") && mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		snprintf(err, MAPE_ERRLEN, "cannot mount bpffs at /sys/fs/bpf: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* Longest existing ancestor of path is on a bpffs? */
static int under_bpffs(const char *path)
{
	char p[512];
	char *slash;

	snprintf(p, sizeof(p), "%s", path);
	while (access(p, F_OK) != 0 && (slash = strrchr(p, '/')) && slash != p)
		*slash = 0;
	return is_bpffs(p);
}

/* Parent pid of pid, from /proc/<pid>/stat; 0 when unknown. */
static int parent_of(int pid)
{
	char path[64], buf[512], *p;
	int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

/*
 * `ip netns exec` runs us in a mount namespace of our own with a fresh
 * /sys, which hides the host's bpffs. The nearest ancestor process in
 * another mount namespace still sees it: use its /proc/<pid>/root.
 */
static int host_bpffs_root(char *root, size_t len)
{
	char self[64] = "", ns[64], path[64], fs[128];
	int pid = getpid();

	if (readlink("/proc/self/ns/mnt", self, sizeof(self) - 1) < 0)
		return -1;
	for (int depth = 0; depth < 16 && (pid = parent_of(pid)) > 0; depth++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
		n = readlink(path, ns, sizeof(ns) - 1);
		if (n < 0)
			continue;
		ns[n] = 0;
		if (!strcmp(ns, self))
			continue;
		snprintf(fs, sizeof(fs), "/proc/%d/root/sys/fs/bpf", pid);
		if (is_bpffs(fs)) {
			snprintf(root, len, "/proc/%d/root", pid);
			return 0;
		}
	}
	return -1;
}

int mape_pin_resolve(const char *dir, char *out, size_t len, char *err)
{
	char root[64];

	if (dir[0] != '/') {
		snprintf(err, MAPE_ERRLEN, "bad --pin-dir '%s': want an absolute path", dir);
		return -EINVAL;
	}
	snprintf(out, len, "%s", dir);
	if (under_bpffs(dir) && !(strncmp(dir, "/sys/fs/bpf", 11) == 0 && !is_bpffs("/sys/fs/bpf")))
		return 0;
	if (strncmp(dir, "/sys/fs/bpf", 11) == 0 && !is_bpffs("/sys/fs/bpf") &&
	    !host_bpffs_root(root, sizeof(root))) {
		snprintf(out, len, "%s%s", root, dir);
		return 0;
	}
	return mape_bpffs_ensure(dir, err);
}

int mape_pin_open(const char *dir_arg, const char *name, char *err)
{
	char path[512], dir[512];
	int fd;

	if (mape_pin_resolve(dir_arg, dir, sizeof(dir), err))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = -errno;
		snprintf(path, sizeof(path), "%s/%s", dir_arg, name);
		if (fd == -ENOENT)
			snprintf(err, MAPE_ERRLEN, "not up: %s does not exist (run mapectl up, or "
				 "give the instance's --pin-dir)", path);
		else
			snprintf(err, MAPE_ERRLEN, "cannot open %s: %s", path, strerror(-fd));
	}
	return fd;
}

/* The entry of mape_cfg the data path reads (struct mape_cfg_sel). */
static int mape_cfg_slot(const char *dir_arg, __u32 *slot, char *err)
{
	struct mape_cfg_sel sel;
	__u32 zero = 0;
	int fd = mape_pin_open(dir_arg, "mape_cfg_sel", err), ret = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, &sel)) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot read %s/mape_cfg_sel: %s", dir_arg,
			 strerror(errno));
	} else {
		*slot = sel.generation & 1;
	}
	close(fd);
	return ret;
}

int mape_write_cfg(int cfg_fd, int sel_fd, const struct mape_config *cfg, char *err)
{
	struct mape_cfg_sel sel = { .generation = cfg->generation };
	__u32 zero = 0, slot = cfg->generation & 1;

	if (bpf_map_update_elem(cfg_fd, &slot, cfg, BPF_ANY) ||
	    bpf_map_update_elem(sel_fd, &zero, &sel, BPF_ANY)) {
		snprintf(err, MAPE_ERRLEN, "cannot write the configuration: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int mape_read_cfg(const char *dir_arg, struct mape_config *cfg, char *err)
{
	struct bpf_map_info info = {};
	__u32 slot, ilen = sizeof(info);
	int fd, ret = 0;
	char dir[512];

	if (mape_pin_resolve(dir_arg, dir, sizeof(dir), err))
		return -EINVAL;
	if (access(dir, F_OK) != 0) {
		snprintf(err, MAPE_ERRLEN, "not up: %s does not exist (run mapectl up, or give "
			 "the instance's --pin-dir)", dir_arg);
		return -ENOENT;
	}
	ret = mape_cfg_slot(dir_arg, &slot, err);
	if (ret)
		return ret;
	fd = mape_pin_open(dir_arg, "mape_cfg", err);
	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) || info.value_size != sizeof(*cfg)) {
		ret = -EPROTO;
		snprintf(err, MAPE_ERRLEN, "%s/mape_cfg was made by another mapectl version "
			 "(value size %u, want %zu): run mapectl down", dir_arg, info.value_size,
			 sizeof(*cfg));
	} else if (bpf_map_lookup_elem(fd, &slot, cfg)) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot read %s/mape_cfg: %s", dir_arg, strerror(errno));
	} else if (!(cfg->flags & MAPE_CFG_ENABLED)) {
		ret = -ENOENT;
		snprintf(err, MAPE_ERRLEN, "not up: %s/mape_cfg holds no configuration", dir_arg);
	} else if (cfg->netns_ino && cfg->netns_ino != mape_netns_ino()) {
		/* its interface indexes name other interfaces here: touch nothing */
		ret = -EXDEV;
		snprintf(err, MAPE_ERRLEN, "%s belongs to an instance in another network namespace "
			 "(net:[%u]); run mapectl there (ip netns exec NAME mapectl ...)", dir_arg,
			 cfg->netns_ino);
	}
	close(fd);
	return ret;
}

/* The calling thread's network namespace: its nsfs inode (0 if unknown). */
__u32 mape_netns_ino(void)
{
	struct stat st;

	return stat("/proc/thread-self/ns/net", &st) ? 0 : (__u32)st.st_ino;
}

int mape_read_counters(const char *dir, const char *map, __u32 n, struct mape_ctr *sum, char *err)
{
	struct bpf_map_info info = {};
	__u32 ilen = sizeof(info);
	struct mape_ctr *vals;
	int fd, ncpus, ret = 0;

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		snprintf(err, MAPE_ERRLEN, "cannot count possible CPUs: %s", strerror(-ncpus));
		return ncpus < 0 ? ncpus : -EINVAL;
	}
	fd = mape_pin_open(dir, map, err);
	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) || info.value_size != sizeof(*sum) ||
	    info.max_entries != n) {
		close(fd);
		snprintf(err, MAPE_ERRLEN, "%s/%s was made by another mapectl version: run down",
			 dir, map);
		return -EPROTO;
	}
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals) {
		close(fd);
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	for (__u32 c = 0; c < n; c++) {
		sum[c].packets = sum[c].bytes = 0;
		if (bpf_map_lookup_elem(fd, &c, vals)) {
			ret = -errno;
			snprintf(err, MAPE_ERRLEN, "cannot read %s/%s[%u]: %s", dir, map, c,
				 strerror(errno));
			break;
		}
		for (int i = 0; i < ncpus; i++) {
			sum[c].packets += vals[i].packets;
			sum[c].bytes += vals[i].bytes;
		}
	}
	free(vals);
	close(fd);
	return ret;
}
