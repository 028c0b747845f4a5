#include "common/uuid.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* xoshiro256** state (Blackman & Vigna, public domain algorithm). */
struct rng {
	uint64_t s[4];
	bool seeded;
};

static _Thread_local struct rng rng;
static pthread_once_t rng_atfork_once = PTHREAD_ONCE_INIT;
static const char hex_digits[] = "0123456789abcdef";

/* Child side of fork(): it runs on the only thread the child has, which copied the parent's
 * state, so mark that state stale. */
static void rng_forget(void)
{
	rng.seeded = false;
}

static void rng_register_atfork(void)
{
	pthread_atfork(NULL, NULL, rng_forget);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(void)
{
	size_t got = 0;

	pthread_once(&rng_atfork_once, rng_register_atfork);
	while (got < sizeof rng.s) {
		ssize_t n = getrandom((char *)rng.s + got, sizeof rng.s - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof rng.s) {
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		x ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&rng;
		for (int i = 0; i < 4; i++)
			rng.s[i] = splitmix64(&x);
	}
	/* An all-zero state would stick at zero; 256 random bits are all zero with probability
	 * 2^-256 and splitmix64 never yields four zeros in a row, so no check is needed. */
	rng.seeded = true;
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
	uint64_t *s = rng.s, result, t;

	if (!rng.seeded)
		rng_seed();
	result = rotl(s[1] * 5, 7) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* 16 random bytes with the version-4 and RFC 4122 variant bits set. */
static void uuid_random(unsigned char b[16])
{
	uint64_t hi = rng_next(), lo = rng_next();

	memcpy(b, &hi, 8);
	memcpy(b + 8, &lo, 8);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
}

void uuid_generate_str(char out[37])
{
	unsigned char b[16];
	char *p = out;

	uuid_random(b);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex_digits[b[i] >> 4];
		*p++ = hex_digits[b[i] & 0xf];
	}
	*p = '\0';
}

void uuid_generate_hex32(char out[33])
{
	unsigned char b[16];

	uuid_random(b);
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex_digits[b[i] >> 4];
		out[2 * i + 1] = hex_digits[b[i] & 0xf];
	}
	out[32] = '\0';
}

bool uuid_is_valid(const char *s)
{
	if (!s)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];

		if (dash ? c != '-'
			 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return s[36] == '\0';
}
