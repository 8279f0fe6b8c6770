/*
 * password.c - argon2id hashing and verification, the dummy verification for
 * unknown users, and the password policy.
 *
 * Owns: the cached dummy hash (under dummy_lock), made lazily with the policy
 * parameters of the first caller and remade when a caller's policy differs.
 *
 * Invariants:
 *   - new hashes are argon2id v=19 PHC strings, 16-byte salt from RAND_bytes,
 *     32-byte hash, with the caller's parameters;
 *   - verification accepts argon2id, argon2i and argon2d PHC strings (imported
 *     users); anything that is not, or whose parameters are beyond
 *     PW_MAX_M_KIB / PW_MAX_T / PW_MAX_P (a stored string must not make us
 *     allocate gigabytes), is PC_EINVAL, never a match;
 *   - a match asks for a rehash unless type, version, m, t, p and the salt
 *     and hash lengths are exactly the policy's;
 *   - passwords are never copied here; salts are wiped after use.
 *
 * Memory: argon2's m KiB come from pw_alloc, not malloc. glibc serves a
 * freed 19 MiB block again from the thread's arena and never gives the top
 * of a non-main arena back (malloc_trim does not touch it), so the server
 * kept ~20 MiB per worker after its first logins; a fixed mmap threshold
 * gave it back but paid ~6 ms of page faults on every hash. Here each
 * thread keeps one anonymous mapping: a hash worker (password_memory_keep)
 * reuses it hash after hash and drops its pages with
 * password_memory_release once idle; any other thread unmaps it after
 * each hash. argon2 wipes the memory before handing it back (its default).
 *
 * Imported (legacy) hashes, kept as they are and rehashed to the policy at
 * the first successful login (needs_rehash is always true for them), each a
 * row of legacy_formats below:
 *   $2a$ $2b$ $2y$ (bcrypt: libxcrypt's crypt_rn), cost PW_BCRYPT_MIN_COST..
 *     PW_BCRYPT_MAX_COST;
 *   Django: pbkdf2_sha256$<iter>$<salt>$<base64>, argon2$<PHC>,
 *     bcrypt_sha256$<bcrypt of the hex SHA-256 of the password>;
 *   Werkzeug: pbkdf2:sha256:<iter>$<salt>$<hex> (also sha512),
 *     scrypt:<n>:<r>:<p>$<salt>$<hex>.
 * A stored string sets the work of its verification, so each cost is
 * bounded (PW_MAX_PBKDF2_ITER, PW_MAX_SCRYPT_MEM, ...): a string beyond a
 * bound is PC_EINVAL, never run. Every digest compare is constant time.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <argon2.h>
#include <crypt.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <zxcvbn.h>

#include "core/core.h"

#define PW_SALT_LEN 16
#define PW_HASH_LEN 32
#define PW_PHC_MAX 256
#define PW_SEG_MAX 192 /* decoded salt or hash: a stored string is at most PC_HASH_MAX */
#define PW_MAX_M_KIB (1u << 20) /* 1 GiB */
#define PW_MAX_T 64u
#define PW_MAX_P 64u
#define PW_BCRYPT_MIN_COST 4
#define PW_BCRYPT_MAX_COST 14          /* about a second; 31 would take days */
#define PW_BCRYPT_LEN 60
#define PW_MAX_PBKDF2_ITER 2000000u    /* Django 5.2 uses 1 000 000 */
#define PW_MAX_SCRYPT_MEM (256u << 20) /* Werkzeug's default n=32768, r=8 takes 32 MiB */
#define PW_MAX_SCRYPT_P 16u
#define PW_LEGACY_SALT_MAX 128

static const struct {
	const char *prefix;
	argon2_type type;
} phc_types[] = {
	{ "$argon2id$", Argon2_id },
	{ "$argon2i$", Argon2_i },
	{ "$argon2d$", Argon2_d },
};

/* Reads "<key>=<decimal>" at *s; advances past it. No sign, no leading zero
 * (except "0" itself), at most UINT32_MAX. */
static bool phc_number(const char **s, const char *key, uint32_t *out)
{
	size_t klen = strlen(key);
	const char *p = *s;
	uint64_t v = 0;

	if (strncmp(p, key, klen) != 0 || p[klen] != '=')
		return false;
	p += klen + 1;
	if (!ascii_is_digit(*p) || (p[0] == '0' && ascii_is_digit(p[1])))
		return false;
	while (ascii_is_digit(*p)) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
		p++;
	}
	*out = (uint32_t)v;
	*s = p;
	return true;
}

/* Reads unpadded standard base64 up to the next '$' or NUL; out gets the
 * number of bytes it encodes. */
static bool phc_b64(const char **s, size_t *out)
{
	const char *p = *s;
	size_t n = 0;

	while (ascii_is_alnum(*p) || *p == '+' || *p == '/') {
		p++;
		n++;
	}
	if (n == 0 || n % 4 == 1)
		return false;
	*out = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	*s = p;
	return true;
}

/* Parses $argon2X$[v=N$]m=N,t=N,p=N$salt$hash. False when it is not one. */
bool password_phc_parse(const char *phc, struct phc_info *pi)
{
	const char *s = NULL;
	size_t i;

	for (i = 0; i < sizeof(phc_types) / sizeof(phc_types[0]); i++) {
		if (strncmp(phc, phc_types[i].prefix, strlen(phc_types[i].prefix)) == 0) {
			pi->type = phc_types[i].type;
			s = phc + strlen(phc_types[i].prefix);
			break;
		}
	}
	if (s == NULL)
		return false;
	pi->version = ARGON2_VERSION_10; /* absent "v=" means version 1.0 */
	if (strncmp(s, "v=", 2) == 0) {
		if (!phc_number(&s, "v", &pi->version) || *s++ != '$')
			return false;
	}
	if (!phc_number(&s, "m", &pi->m) || *s++ != ',' || !phc_number(&s, "t", &pi->t) ||
	    *s++ != ',' || !phc_number(&s, "p", &pi->p) || *s++ != '$')
		return false;
	if (!phc_b64(&s, &pi->salt_len) || *s++ != '$' || !phc_b64(&s, &pi->hash_len))
		return false;
	return *s == '\0';
}

/* ---- argon2 memory ----------------------------------------------------------- */

struct pw_mem {
	uint8_t *p;
	size_t cap;
	bool keep;     /* a hash worker: reuse the mapping */
	bool resident; /* pages touched since the last release */
};

static _Thread_local struct pw_mem pw_mem;

static void pw_mem_unmap(void)
{
	if (pw_mem.p != NULL)
		munmap(pw_mem.p, pw_mem.cap);
	pw_mem.p = NULL;
	pw_mem.cap = 0;
	pw_mem.resident = false;
}

static int pw_alloc(uint8_t **memory, size_t bytes)
{
	void *p;

	if (pw_mem.p == NULL || pw_mem.cap < bytes) {
		pw_mem_unmap();
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return ARGON2_MEMORY_ALLOCATION_ERROR;
		pw_mem.p = p;
		pw_mem.cap = bytes;
	}
	pw_mem.resident = true;
	*memory = pw_mem.p;
	return ARGON2_OK;
}

/* argon2 has wiped the block already. */
static void pw_free(uint8_t *memory, size_t bytes)
{
	(void)memory;
	(void)bytes;
	if (!pw_mem.keep)
		pw_mem_unmap();
}

void password_memory_keep(void)
{
	pw_mem.keep = true;
}

void password_memory_release(void)
{
	if (pw_mem.p != NULL && pw_mem.resident)
		(void)madvise(pw_mem.p, pw_mem.cap, MADV_DONTNEED);
	pw_mem.resident = false;
}

void password_memory_drop(void)
{
	pw_mem_unmap();
	pw_mem.keep = false;
}

/* The raw argon2 hash of pw into out[outlen], over pw_alloc's memory. */
static int pw_argon2(argon2_type type, uint32_t version, uint32_t m, uint32_t t, uint32_t p,
		     const char *pw, size_t len, const uint8_t *salt, size_t salt_len,
		     uint8_t *out, size_t outlen)
{
	argon2_context c;

	if (len > UINT32_MAX || salt_len > UINT32_MAX || outlen > UINT32_MAX)
		return ARGON2_PWD_TOO_LONG;
	memset(&c, 0, sizeof(c));
	c.out = out;
	c.outlen = (uint32_t)outlen;
	c.pwd = (uint8_t *)(uintptr_t)pw; /* read only: no ARGON2_FLAG_CLEAR_PASSWORD */
	c.pwdlen = (uint32_t)len;
	c.salt = (uint8_t *)(uintptr_t)salt;
	c.saltlen = (uint32_t)salt_len;
	c.t_cost = t;
	c.m_cost = m;
	c.lanes = p;
	c.threads = p;
	c.version = version;
	c.allocate_cbk = pw_alloc;
	c.free_cbk = pw_free;
	c.flags = ARGON2_DEFAULT_FLAGS;
	return argon2_ctx(&c, type);
}

static enum pc_err argon2_to_err(int rc)
{
	switch (rc) {
	case ARGON2_OK:
		return PC_OK;
	case ARGON2_VERIFY_MISMATCH:
		return PC_EBADCREDS;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		return PC_ENOMEM;
	case ARGON2_THREAD_FAIL:
		return PC_EINTERNAL;
	default:
		return PC_EINVAL;
	}
}

/* Hashes pw with argon2id and pp into out (a NUL-terminated PHC string).
 * PC_EINVAL when pp or pw is unusable for argon2 (out is ""), PC_ETOOBIG when
 * outsz cannot hold the string, PC_ENOMEM, PC_EINTERNAL (random generator or
 * threads failed). */
enum pc_err password_hash(const struct pc_argon2_params *pp, const char *pw, size_t len,
			     char *out, size_t outsz)
{
	unsigned char salt[PW_SALT_LEN], hash[PW_HASH_LEN];
	char salt64[PW_SALT_LEN * 4 / 3 + 4], hash64[PW_HASH_LEN * 4 / 3 + 4];
	enum pc_err err;
	size_t need;
	int n;

	if (outsz > 0)
		out[0] = '\0';
	if (pp == NULL || (pw == NULL && len > 0))
		return PC_EINVAL;
	need = argon2_encodedlen(pp->t, pp->m_kib, pp->p, PW_SALT_LEN, PW_HASH_LEN, Argon2_id);
	if (need > outsz)
		return PC_ETOOBIG;
	err = crypto_random(salt, sizeof(salt));
	if (err != PC_OK)
		goto out_wipe;
	err = argon2_to_err(pw_argon2(Argon2_id, ARGON2_VERSION_13, pp->m_kib, pp->t, pp->p,
				      pw != NULL ? pw : "", len, salt, sizeof(salt), hash,
				      sizeof(hash)));
	if (err != PC_OK)
		goto out_wipe;
	crypto_b64_encode(salt, sizeof(salt), salt64, sizeof(salt64));
	crypto_b64_encode(hash, sizeof(hash), hash64, sizeof(hash64));
	n = snprintf(out, outsz, "$argon2id$v=%d$m=%u,t=%u,p=%u$%s$%s", ARGON2_VERSION_13,
		     pp->m_kib, pp->t, pp->p, salt64, hash64);
	if (n < 0 || (size_t)n >= outsz) {
		err = PC_ETOOBIG;
		if (outsz > 0)
			out[0] = '\0';
	}
out_wipe:
	crypto_wipe(salt, sizeof(salt));
	crypto_wipe(hash, sizeof(hash));
	return err;
}

/* Recomputes the hash of a parsed PHC string for pw and compares it in
 * constant time. PC_EBADCREDS on a mismatch; PC_EINVAL for salts or hashes
 * argon2 refuses. */
static enum pc_err phc_check(const char *phc, const struct phc_info *pi, const char *pw,
			     size_t len)
{
	uint8_t salt[PW_SEG_MAX], want[PW_SEG_MAX], got[PW_SEG_MAX];
	const char *hash64 = strrchr(phc, '$'), *salt64;
	size_t salt_len, want_len;
	enum pc_err err;

	salt64 = hash64;
	while (salt64 > phc && salt64[-1] != '$')
		salt64--;
	if (crypto_b64_decode(salt64, (size_t)(hash64 - salt64), salt, sizeof(salt), &salt_len) != PC_OK ||
	    crypto_b64_decode(hash64 + 1, strlen(hash64 + 1), want, sizeof(want), &want_len) != PC_OK)
		return PC_EINVAL;
	err = argon2_to_err(pw_argon2(pi->type, pi->version, pi->m, pi->t, pi->p,
				      pw != NULL ? pw : "", len, salt, salt_len, got, want_len));
	if (err == PC_OK && !crypto_ct_equal(got, want, want_len))
		err = PC_EBADCREDS;
	crypto_wipe(got, sizeof(got));
	return err;
}

/* ---- imported formats ------------------------------------------------------- */

/* Reads a decimal number (no sign, no leading zero) up to the next char in
 * stops; at most max. */
static bool legacy_number(const char **s, uint64_t max, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;

	if (!ascii_is_digit(*p) || (p[0] == '0' && ascii_is_digit(p[1])))
		return false;
	while (ascii_is_digit(*p)) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return false;
		p++;
	}
	*out = v;
	*s = p;
	return true;
}

/* The segment from s up to the next '$' (or the end when last): its start
 * and length; s moves past the '$'. Empty segments are refused. */
static bool legacy_segment(const char **s, bool last, const char **seg, size_t *len)
{
	const char *end = last ? *s + strlen(*s) : strchr(*s, '$');

	if (end == NULL || end == *s || (last && strchr(*s, '$') != NULL))
		return false;
	*seg = *s;
	*len = (size_t)(end - *s);
	*s = last ? end : end + 1;
	return true;
}

static bool legacy_hex_decode(const char *s, size_t n, uint8_t *out, size_t outsz)
{
	if (n % 2 != 0 || n / 2 != outsz)
		return false;
	for (size_t i = 0; i < n; i += 2) {
		int hi = ascii_hex_value(s[i]), lo = ascii_hex_value(s[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* bcrypt ($2a$, $2b$, $2y$): "$2X$NN$" then 53 characters of bcrypt's
 * alphabet. crypt_rn needs a C string: a password with a NUL byte in it
 * cannot be the one hashed, and is a mismatch. */
static enum pc_err verify_bcrypt(const char *h, const char *pw, size_t len)
{
	struct crypt_data *cd;
	char *copy;
	const char *got;
	int cost;
	enum pc_err err = PC_EBADCREDS;

	if (strlen(h) != PW_BCRYPT_LEN || h[0] != '$' || h[1] != '2' ||
	    (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') || h[3] != '$' || !ascii_is_digit(h[4]) ||
	    !ascii_is_digit(h[5]) || h[6] != '$')
		return PC_EINVAL;
	cost = (h[4] - '0') * 10 + (h[5] - '0');
	if (cost < PW_BCRYPT_MIN_COST || cost > PW_BCRYPT_MAX_COST)
		return PC_EINVAL;
	for (size_t i = 7; i < PW_BCRYPT_LEN; i++) {
		if (!ascii_is_alnum(h[i]) && h[i] != '.' && h[i] != '/')
			return PC_EINVAL;
	}
	if (len > 0 && memchr(pw, '\0', len) != NULL)
		return PC_EBADCREDS;
	cd = calloc(1, sizeof(*cd));
	copy = malloc(len + 1);
	if (cd == NULL || copy == NULL) {
		err = PC_ENOMEM;
		goto out_free;
	}
	if (len > 0)
		memcpy(copy, pw, len);
	copy[len] = '\0';
	got = crypt_rn(copy, h, cd, (int)sizeof(*cd));
	if (got == NULL || strlen(got) != PW_BCRYPT_LEN)
		err = PC_EINVAL;
	else if (crypto_ct_equal(got, h, PW_BCRYPT_LEN))
		err = PC_OK;
out_free:
	if (copy != NULL) {
		crypto_wipe(copy, len + 1);
		free(copy);
	}
	if (cd != NULL) {
		crypto_wipe(cd, sizeof(*cd));
		free(cd);
	}
	return err;
}

/* Django's bcrypt_sha256$: bcrypt of the lower-case hex SHA-256 of pw. */
static enum pc_err verify_django_bcrypt_sha256(const char *h, const char *pw, size_t len)
{
	char hex[PC_SHA256_HEX];
	enum pc_err err;

	if (h[0] != '$')
		return PC_EINVAL;
	crypto_sha256_hex(pw != NULL ? pw : "", len, hex);
	err = verify_bcrypt(h, hex, strlen(hex));
	crypto_wipe(hex, sizeof(hex));
	return err;
}

/* Django's argon2$ + an argon2 PHC string. */
static enum pc_err verify_django_argon2(const char *h, const char *pw, size_t len)
{
	struct phc_info pi;

	if (!password_phc_parse(h, &pi) || pi.m > PW_MAX_M_KIB || pi.t > PW_MAX_T ||
	    pi.p > PW_MAX_P)
		return PC_EINVAL;
	return phc_check(h, &pi, pw, len);
}

/* PBKDF2-HMAC of pw and the salt's bytes, compared with want. */
static enum pc_err pbkdf2_check(const EVP_MD *md, uint64_t iter, const char *salt, size_t salt_len,
				const char *pw, size_t len, const uint8_t *want, size_t want_len)
{
	uint8_t got[EVP_MAX_MD_SIZE];
	enum pc_err err = PC_EBADCREDS;

	if (want_len != (size_t)EVP_MD_get_size(md) || len > INT32_MAX)
		return PC_EINVAL;
	if (PKCS5_PBKDF2_HMAC(pw != NULL ? pw : "", (int)len, (const unsigned char *)salt,
			      (int)salt_len, (int)iter, md, (int)want_len, got) != 1)
		return PC_EINTERNAL;
	if (crypto_ct_equal(got, want, want_len))
		err = PC_OK;
	crypto_wipe(got, sizeof(got));
	return err;
}

/* Django's pbkdf2_sha256$<iter>$<salt>$<base64, padded>. */
static enum pc_err verify_django_pbkdf2(const char *h, const char *pw, size_t len)
{
	uint8_t want[64];
	const char *salt, *b64;
	size_t salt_len, b64_len, want_len;
	uint64_t iter;

	if (!legacy_number(&h, PW_MAX_PBKDF2_ITER, &iter) || *h++ != '$' ||
	    !legacy_segment(&h, false, &salt, &salt_len) || salt_len > PW_LEGACY_SALT_MAX ||
	    !legacy_segment(&h, true, &b64, &b64_len))
		return PC_EINVAL;
	while (b64_len > 0 && b64[b64_len - 1] == '=')
		b64_len--;
	if (crypto_b64_decode(b64, b64_len, want, sizeof(want), &want_len) != PC_OK)
		return PC_EINVAL;
	return pbkdf2_check(EVP_sha256(), iter, salt, salt_len, pw, len, want, want_len);
}

/* Werkzeug's pbkdf2:<sha256|sha512>:<iter>$<salt>$<hex>. */
static enum pc_err verify_werkzeug_pbkdf2(const char *h, const char *pw, size_t len)
{
	uint8_t want[64];
	const EVP_MD *md;
	const char *salt, *hex;
	size_t salt_len, hex_len;
	uint64_t iter;

	if (strncmp(h, "sha256:", 7) == 0)
		md = EVP_sha256();
	else if (strncmp(h, "sha512:", 7) == 0)
		md = EVP_sha512();
	else
		return PC_EINVAL;
	h += 7;
	if (!legacy_number(&h, PW_MAX_PBKDF2_ITER, &iter) || *h++ != '$' ||
	    !legacy_segment(&h, false, &salt, &salt_len) || salt_len > PW_LEGACY_SALT_MAX ||
	    !legacy_segment(&h, true, &hex, &hex_len) ||
	    !legacy_hex_decode(hex, hex_len, want, (size_t)EVP_MD_get_size(md)))
		return PC_EINVAL;
	return pbkdf2_check(md, iter, salt, salt_len, pw, len, want, hex_len / 2);
}

/* Werkzeug's scrypt:<n>:<r>:<p>$<salt>$<hex of 64 bytes>. n a power of two
 * above 1; the memory scrypt needs (128 r (n + p + 2) bytes) at most
 * PW_MAX_SCRYPT_MEM. */
static enum pc_err verify_werkzeug_scrypt(const char *h, const char *pw, size_t len)
{
	uint8_t want[64], got[64];
	const char *salt, *hex;
	size_t salt_len, hex_len;
	uint64_t n, r, p, mem;
	enum pc_err err = PC_EBADCREDS;

	if (!legacy_number(&h, PW_MAX_SCRYPT_MEM, &n) || *h++ != ':' ||
	    !legacy_number(&h, PW_MAX_SCRYPT_MEM, &r) || *h++ != ':' ||
	    !legacy_number(&h, PW_MAX_SCRYPT_P, &p) || *h++ != '$' ||
	    !legacy_segment(&h, false, &salt, &salt_len) || salt_len > PW_LEGACY_SALT_MAX ||
	    !legacy_segment(&h, true, &hex, &hex_len) ||
	    !legacy_hex_decode(hex, hex_len, want, sizeof(want)))
		return PC_EINVAL;
	if (n < 2 || (n & (n - 1)) != 0 || r == 0 || p == 0)
		return PC_EINVAL;
	mem = 128 * r * (n + p + 2);
	if (mem > PW_MAX_SCRYPT_MEM)
		return PC_EINVAL;
	if (EVP_PBE_scrypt(pw != NULL ? pw : "", len, (const unsigned char *)salt, salt_len, n, r, p,
			   mem + (1u << 20), got, sizeof(got)) != 1)
		return PC_EINTERNAL;
	if (crypto_ct_equal(got, want, sizeof(want)))
		err = PC_OK;
	crypto_wipe(got, sizeof(got));
	return err;
}

/* The string from its skip-th character on goes to verify: PC_OK,
 * PC_EBADCREDS, PC_EINVAL (malformed or beyond a cost bound), PC_ENOMEM,
 * PC_EINTERNAL. */
static const struct legacy_format {
	const char *prefix;
	size_t skip;
	enum pc_err (*verify)(const char *h, const char *pw, size_t len);
} legacy_formats[] = {
	{ "$2a$", 0, verify_bcrypt },
	{ "$2b$", 0, verify_bcrypt },
	{ "$2y$", 0, verify_bcrypt },
	{ "pbkdf2_sha256$", 14, verify_django_pbkdf2 },
	{ "argon2$", 6, verify_django_argon2 },          /* the PHC string keeps its '$' */
	{ "bcrypt_sha256$", 14, verify_django_bcrypt_sha256 },
	{ "pbkdf2:", 7, verify_werkzeug_pbkdf2 },
	{ "scrypt:", 7, verify_werkzeug_scrypt },
};

static const struct legacy_format *legacy_find(const char *h)
{
	for (size_t i = 0; i < sizeof(legacy_formats) / sizeof(legacy_formats[0]); i++) {
		if (strncmp(h, legacy_formats[i].prefix, strlen(legacy_formats[i].prefix)) == 0)
			return &legacy_formats[i];
	}
	return NULL;
}

bool password_format_known(const char *h)
{
	struct phc_info pi;

	return h != NULL && (password_phc_parse(h, &pi) || legacy_find(h) != NULL);
}

/* A legacy string's verification; PC_EINVAL when no format takes it. */
static enum pc_err legacy_verify(const char *h, const char *pw, size_t len)
{
	const struct legacy_format *f = legacy_find(h);

	if (f == NULL)
		return PC_EINVAL;
	return f->verify(h + f->skip, pw, len);
}

/* PC_OK on a match, PC_EBADCREDS on a mismatch, PC_EINVAL when phc is not an
 * argon2 or imported string we will verify (the dummy verification spent), PC_ENOMEM / PC_EINTERNAL when argon2 fails.
 * *needs_rehash (may be NULL) is set only on PC_OK, false otherwise. */
enum pc_err password_verify(const struct pc_argon2_params *policy, const char *phc,
			       const char *pw, size_t len, bool *needs_rehash)
{
	struct phc_info pi;
	bool legacy = false, argon2_ran = false;
	enum pc_err err;

	if (needs_rehash != NULL)
		*needs_rehash = false;
	if (pw == NULL && len > 0)
		return PC_EINVAL;
	if (phc == NULL) {
		err = PC_EINVAL;
	} else if (!password_phc_parse(phc, &pi)) {
		legacy = true;
		err = legacy_verify(phc, pw, len);
	} else if (pi.m > PW_MAX_M_KIB || pi.t > PW_MAX_T || pi.p > PW_MAX_P) {
		err = PC_EINVAL;
	} else {
		err = phc_check(phc, &pi, pw, len);
		argon2_ran = true;
	}
	/* A stored string we cannot verify (an unknown format, costs beyond
	 * our bounds, garbage) costs what a verification costs, so that the
	 * time of a failed login does not tell such users apart. */
	if (err == PC_EINVAL && !argon2_ran) {
		if (policy != NULL)
			password_dummy_verify(policy, pw, len);
		return PC_EINVAL;
	}
	if (err == PC_OK && needs_rehash != NULL && legacy) {
		*needs_rehash = true; /* every imported format moves to the policy */
	} else if (err == PC_OK && needs_rehash != NULL) {
		*needs_rehash = policy == NULL || pi.type != Argon2_id ||
				pi.version != ARGON2_VERSION_13 || pi.m != policy->m_kib ||
				pi.t != policy->t || pi.p != policy->p ||
				pi.salt_len != PW_SALT_LEN || pi.hash_len != PW_HASH_LEN;
	}
	return err;
}

/* ---- dummy verification --------------------------------------------------- */

static pthread_mutex_t dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pc_argon2_params dummy_params;
static char dummy_phc[PW_PHC_MAX];

/* Copies into phc a hash of a random password made with policy, making it
 * (under dummy_lock) when there is none yet for these parameters. */
static enum pc_err dummy_get(const struct pc_argon2_params *policy, char phc[PW_PHC_MAX])
{
	unsigned char secret[32];
	enum pc_err err = PC_OK;

	pthread_mutex_lock(&dummy_lock);
	if (dummy_phc[0] != '\0' && dummy_params.m_kib == policy->m_kib &&
	    dummy_params.t == policy->t && dummy_params.p == policy->p)
		goto out_copy;
	err = crypto_random(secret, sizeof(secret));
	if (err != PC_OK)
		goto out_wipe_secret;
	err = password_hash(policy, (const char *)secret, sizeof(secret), dummy_phc,
			       sizeof(dummy_phc));
	if (err != PC_OK)
		goto out_wipe_secret;
	dummy_params = *policy;
out_wipe_secret:
	crypto_wipe(secret, sizeof(secret));
out_copy:
	if (err == PC_OK)
		memcpy(phc, dummy_phc, PW_PHC_MAX);
	pthread_mutex_unlock(&dummy_lock);
	return err;
}

/* One argon2id verification's worth of work whose result is thrown away. If
 * the dummy hash cannot be made, hashes pw instead: the time is spent either
 * way. */
void password_dummy_verify(const struct pc_argon2_params *policy, const char *pw, size_t len)
{
	char phc[PW_PHC_MAX];

	if (policy == NULL)
		return;
	if (dummy_get(policy, phc) == PC_OK) {
		/* no policy: a dummy that fails to verify spends no second dummy */
		enum pc_err ignored = password_verify(NULL, phc, pw, len, NULL);

		(void)ignored; /* the time is what counts */
		return;
	}
	(void)password_hash(policy, pw, len, phc, sizeof(phc));
	crypto_wipe(phc, sizeof(phc));
}

/* ---- policy ------------------------------------------------------------------ */

/* True when needle (ASCII case-insensitively) occurs in the n bytes of hay. */
static bool contains_nocase(const char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle), i, j;

	if (m == 0 || m > n)
		return false;
	for (i = 0; i + m <= n; i++) {
		for (j = 0; j < m; j++) {
			if (ascii_lower(hay[i + j]) != ascii_lower(needle[j]))
				break;
		}
		if (j == m)
			return true;
	}
	return false;
}

/*
 * zxcvbn's score (0..4) of pw: its estimate of the guesses needed, 10^3,
 * 10^6, 10^8 and 10^10 being the steps (as zxcvbn.js scores), from Debian's
 * libzxcvbn (zxcvbn-c: entropy in bits, log2 of the guesses). words are
 * taken as known to an attacker (the address, its local part, the
 * username). Only the first PW_SCORE_MAX bytes are looked at (a longer
 * password is not made weak by its tail, and zxcvbn's time grows with it).
 */
#define PW_SCORE_MAX 128

static int password_score(const char *pw, size_t len, const char *const *words)
{
	static const double steps[] = { 9.9658, 19.9316, 26.5754, 33.2193 }; /* log2 10^3.. */
	char buf[PW_SCORE_MAX + 1];
	double bits;
	int score = 0;

	if (len > PW_SCORE_MAX)
		len = PW_SCORE_MAX;
	memcpy(buf, pw, len);
	buf[len] = '\0';
	bits = ZxcvbnMatch(buf, (const char **)words, NULL);
	crypto_wipe(buf, sizeof(buf));
	while (score < 4 && bits >= steps[score])
		score++;
	return score;
}

/* PC_OK, or PC_EBADPASSWORD with ei (field "password") carrying the rule
 * broken: PC_V_TOO_SHORT / PC_V_TOO_LONG (limit), PC_V_CONTAINS_EMAIL,
 * PC_V_CONTAINS_USERNAME, PC_V_TOO_WEAK (limit: the score needed). Lengths
 * are in bytes; a maximum <= 0 means none. email and username may be NULL. */
enum pc_err password_check_policy(const struct pc_config *cfg, const char *pw, size_t len,
				     const char *email, const char *username,
				     struct pc_errinfo *ei)
{
	char local[PC_EMAIL_MAX + 1] = "";
	const char *words[4] = { NULL, NULL, NULL, NULL };
	const char *at;
	size_t n = 0;
	enum pc_verr why;
	long limit = 0;

	if (pw == NULL && len > 0)
		return PC_EINVAL;
	if (cfg->password_min_length > 0 && len < (size_t)cfg->password_min_length) {
		why = PC_V_TOO_SHORT;
		limit = cfg->password_min_length;
		goto out_reject;
	}
	if (cfg->password_max_length > 0 && len > (size_t)cfg->password_max_length) {
		why = PC_V_TOO_LONG;
		limit = cfg->password_max_length;
		goto out_reject;
	}
	if (email != NULL && email[0] != '\0' && contains_nocase(pw, len, email)) {
		why = PC_V_CONTAINS_EMAIL;
		goto out_reject;
	}
	if (username != NULL && username[0] != '\0' && contains_nocase(pw, len, username)) {
		why = PC_V_CONTAINS_USERNAME;
		goto out_reject;
	}
	if (cfg->password_min_score <= 0)
		return PC_OK;
	if (email != NULL && email[0] != '\0') {
		words[n++] = email;
		at = strchr(email, '@');
		if (at != NULL && (size_t)(at - email) < sizeof(local)) {
			memcpy(local, email, (size_t)(at - email));
			local[at - email] = '\0';
			words[n++] = local;
		}
	}
	if (username != NULL && username[0] != '\0')
		words[n++] = username;
	if (password_score(pw, len, words) < cfg->password_min_score) {
		why = PC_V_TOO_WEAK;
		limit = cfg->password_min_score;
		goto out_reject;
	}
	return PC_OK;
out_reject:
	pc_errinfo_set(ei, "body", "password", why, limit);
	return PC_EBADPASSWORD;
}
