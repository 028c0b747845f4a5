/*
 * commands — the command tables of the `localzure` modules, each ended by an entry whose name
 * is NULL (see cli.h for struct cli_command).
 */
#ifndef LZ_PERSISTD_CLI_COMMANDS_H
#define LZ_PERSISTD_CLI_COMMANDS_H

#include "persistd/cli/cli.h"

extern const struct cli_command cli_storage_commands[]; /* cmd_storage.c: storage ... */
extern const struct cli_command cli_wal_commands[];     /* cmd_wal.c: wal dump, wal verify */
extern const struct cli_command cli_entity_commands[];  /* cmd_entity.c: queue/topic/subscription,
							 * send, receive, peek */

#endif
