/* libFuzzer driver: the INI config reader, through the public
 * pc_config_load_ini (inih, then pc_config_set for every key) and
 * pc_config_validate after it. The input is the file: it is written to a
 * memfd and read back as /proc/self/fd/N, so nothing touches the disk.
 * Invariants: the file is always found (PC_OK or PC_EINVAL, never
 * PC_ENOTFOUND), a refusal says why (ei.code, ei.detail), every string setting stays
 * NUL-terminated inside its field, and loading an accepted file a second
 * time onto its own result changes no byte of it (each setting is written
 * from its text alone). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every string setting ends inside its field (none is over PC_CFG_STR). */
static void check_strings(const struct pc_config *cfg)
{
	const char *name;

	for (size_t i = 0; (name = pc_config_setting_name(i, NULL)) != NULL; i++) {
		const char *v = pc_config_get_str(cfg, name);

		if (v != NULL && strnlen(v, PC_CFG_STR) == PC_CFG_STR)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct pc_config *cfg = NULL, *twice = NULL;
	struct pc_errinfo ei;
	enum pc_err err;

	if (fd < 0) {
		fd = memfd_create("fuzz_config.ini", 0);
		if (fd < 0)
			__builtin_trap();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		__builtin_trap();
	cfg = malloc(sizeof(*cfg));
	twice = malloc(sizeof(*twice));
	if (cfg == NULL || twice == NULL)
		goto out;
	pc_config_defaults(cfg);
	memset(&ei, 0, sizeof(ei));
	err = pc_config_load_ini(cfg, path, &ei);
	if (err != PC_OK && err != PC_EINVAL)
		__builtin_trap(); /* the file is there: found and read, or refused */
	if (err != PC_OK && ei.detail[0] == '\0' && ei.code == PC_V_NONE)
		__builtin_trap(); /* refused without a reason */
	check_strings(cfg);
	if (err == PC_OK) {
		memcpy(twice, cfg, sizeof(*cfg));
		if (pc_config_load_ini(twice, path, &ei) != PC_OK ||
		    memcmp(cfg, twice, sizeof(*cfg)) != 0)
			__builtin_trap(); /* the same file read differently the second time */
		(void)pc_config_validate(cfg, &ei);
	}
out:
	free(cfg);
	free(twice);
	return 0;
}
