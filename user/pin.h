/* SPDX-License-Identifier: MIT */
/*
 * pin.h - access to a running instance through its pinned maps
 * (--pin-dir, default /sys/fs/bpf/mape), for every command but calc.
 */
#ifndef MAPE_PIN_H
#define MAPE_PIN_H

#include "mape.h"
#include "mape_types.h"

/* Make sure a bpffs is mounted at (or above) dir; mount one at
 * /sys/fs/bpf when missing (ip netns exec gives each command a fresh /sys). */
int mape_bpffs_ensure(const char *dir, char *err);
/*
 * The path where dir really is: dir itself when its bpffs is mounted here;
 * under `ip netns exec` (a fresh /sys hides the host's bpffs) the host's
 * /proc/<pid>/root/<dir> of the nearest ancestor process in another mount
 * namespace; else a bpffs is mounted at /sys/fs/bpf. out >= 512.
 */
int mape_pin_resolve(const char *dir, char *out, size_t len, char *err);
/* fd of the pinned object dir/name, or negative errno with err set. */
int mape_pin_open(const char *dir, const char *name, char *err);
/* The instance's configuration; -ENOENT (err says "not up") when absent. */
int mape_read_cfg(const char *dir, struct mape_config *cfg, char *err);
/* Make cfg the active configuration: write the entry of its generation
 * (the one the data path is not reading), then switch to it. */
int mape_write_cfg(int cfg_fd, int sel_fd, const struct mape_config *cfg, char *err);
__u32 mape_netns_ino(void);

/* Per-CPU counters of map (n entries of struct mape_ctr) summed into sum. */
int mape_read_counters(const char *dir, const char *map, __u32 n, struct mape_ctr *sum,
		       char *err);

#endif
