/* SPDX-License-Identifier: MIT */
/* preset.h - the generated table of built-in services (build/user/presets.c). */
#ifndef MAPE_PRESET_H
#define MAPE_PRESET_H

#include "mape.h"

struct mape_preset_service {
	const char *name;		/* "v6plus", ... (the --preset value) */
	const char *display;		/* "v6プラス (JPNE)" */
	int iid;			/* MAPE_IID_* */
	const struct mape_rule *rules;
	unsigned int n_rules;
};

extern const struct mape_preset_service mape_preset_services[];
extern const unsigned int mape_n_preset_services;

#endif
