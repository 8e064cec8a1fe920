/*
 * json_members.h - reads the top-level members of one JSON object (a Kafka message
 * value) into a table of typed values, one slot per member name the caller knows.
 *
 * Two readers, one answer. The fast one streams the text through yajl's callback parser
 * and keeps only the members the caller asked for: no tree, no allocation per value.
 * It takes a message only where yajl and jansson are known to agree byte for byte: the
 * text is strict UTF-8 (checked here first), has no control byte other than tab, LF and
 * CR, no \u0000 or surrogate escape, no number jansson would refuse as too large, and
 * nests at most SP_JSON_MAX_DEPTH deep. Anything else (malformed text included) is read
 * again by jansson (json_loadb into a tree), whose verdict and error text stand. So a
 * message either decodes the same way through both, or goes through jansson alone.
 *
 * Ownership: the string values point into the caller's buffer, into the doc's own
 * scratch space, or into the jansson tree the doc holds; all stay valid until
 * sp_json_members_release(), which every successful or failed read must be followed by.
 * A doc is used by one thread at a time.
 */
#ifndef SUPPORTPULSE_JSON_MEMBERS_H
#define SUPPORTPULSE_JSON_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#define SP_JSON_MAX_FIELDS 32   /* member names a schema may know */
#define SP_JSON_MAX_ITEMS 256   /* items kept of the one listed array member */
#define SP_JSON_MAX_DEPTH 64    /* deeper text goes to jansson (which allows 2048) */
#define SP_JSON_SCRATCH 2048    /* bytes for unescaped copies of kept strings */

typedef enum {
    SP_JV_ABSENT = 0,
    SP_JV_NULL,
    SP_JV_STRING,
    SP_JV_INTEGER,
    SP_JV_ARRAY,
    SP_JV_OTHER /* true, false, a real number, an object */
} sp_jv_type;

typedef struct {
    sp_jv_type type;
    const char *s; /* SP_JV_STRING: len bytes, not NUL-terminated, never containing NUL */
    size_t len;
    int64_t i;     /* SP_JV_INTEGER */
} sp_jv;

/* The member names a caller knows: key_index maps a name to 0..nkeys-1, or -1. The
 * items of member list_key (-1: none) are kept when it is an array. */
typedef struct {
    int (*key_index)(const char *name, size_t len);
    int nkeys;
    int list_key;
} sp_json_schema;

typedef enum {
    SP_JSON_OK = 0,
    SP_JSON_INVALID = -1,      /* not JSON; errstr says where */
    SP_JSON_INVALID_UTF8 = -2, /* bytes that are not UTF-8 */
    SP_JSON_NOT_OBJECT = -3    /* JSON, but not an object */
} sp_json_rc;

typedef struct {
    sp_jv field[SP_JSON_MAX_FIELDS]; /* by key index; ABSENT when the member is not there */
    sp_jv item[SP_JSON_MAX_ITEMS];   /* the list member's first nitems items */
    size_t nitems;
    int via_tree; /* 1 when jansson read this message (the fast reader declined it) */
    /* private */
    void *tree;
    size_t scratch_used;
    char scratch[SP_JSON_SCRATCH];
} sp_json_doc;

/* Reads buf[0..len) into d (fast reader, then jansson when it declines). A duplicate
 * member name keeps its last value, as jansson does. On failure errstr names the error
 * and its byte position. Call sp_json_members_release(d) afterwards in every case. */
sp_json_rc sp_json_members_read(sp_json_doc *d, const sp_json_schema *s, const char *buf,
                                size_t len, char *errstr, size_t errstr_size);

/* The same through jansson alone: the reference the fast reader is tested against. */
sp_json_rc sp_json_members_read_tree(sp_json_doc *d, const sp_json_schema *s,
                                     const char *buf, size_t len, char *errstr,
                                     size_t errstr_size);

/* Releases what the last read of d holds (the jansson tree, if any). */
void sp_json_members_release(sp_json_doc *d);

/* 1 when buf[0..len) is strict UTF-8 (RFC 3629: no overlong form, no surrogate, nothing
 * above U+10FFFF), as jansson checks it. */
int sp_utf8_valid(const unsigned char *buf, size_t len);

#endif
