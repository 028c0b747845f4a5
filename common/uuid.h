/*
 * uuid — random GUIDs for message ids and lock tokens.
 *
 * Forms:
 *   uuid_generate_str    "0f8fad5b-d9cb-469f-a165-70867728950e"  36 chars + NUL (lock tokens)
 *   uuid_generate_hex32  "0f8fad5bd9cb469fa16570867728950e"      32 chars + NUL (the MessageId the
 *                        service generates: .NET Guid.ToString("N"))
 * Both are version-4 (random) GUIDs in lower case: 122 random bits, with the version nibble
 * set to 4 and the variant bits to 10.
 *
 * The bits come from a per-thread xoshiro256** generator seeded from getrandom() the first
 * time a thread asks, so a call costs a few nanoseconds and takes no lock. The generator is not
 * cryptographic: ids are unique and unguessable enough for an emulator, not secrets. A forked
 * child reseeds, so it never repeats its parent's ids. If getrandom() fails the seed falls
 * back to the clock, the process id and the thread's address.
 *
 * Thread rules: every function may be called from any thread at any time.
 */
#ifndef LZ_COMMON_UUID_H
#define LZ_COMMON_UUID_H

#include <stdbool.h>

/* Write a new random GUID with dashes to `out`. */
void uuid_generate_str(char out[37]);

/* Write a new random GUID as 32 hex digits to `out`. */
void uuid_generate_hex32(char out[33]);

/* True if `s` is exactly "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" with hex digits of either case
 * (any version or variant). False for NULL. */
bool uuid_is_valid(const char *s);

#endif
