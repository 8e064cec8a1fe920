/*
 * redis_client.c - see redis_client.h.
 *
 * Nodes are kept in one array that only grows (an index stays valid for the client's
 * life); `masters` lists the ones that serve slots now and `slot_node` maps each slot to
 * one of them. A failed connection closes everything: the next call connects to the
 * seed again and reads the topology afresh (a failover may have moved every slot).
 *
 * A batch run goes in rounds: every command without a reply is appended to the output
 * buffer of its node, all buffers are written, then each node's replies are read in the
 * order its commands were appended. Redirected and busy commands are kept for the next
 * round; the others get their reply. A round after a MOVED first reads CLUSTER SLOTS.
 */
#include "supportpulse/redis_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "supportpulse/clock.h"
#include "supportpulse/redis_conn.h"

#define MAX_ROUNDS 64
#define ADDR_MAX 300

/* ---- hash slots ---------------------------------------------------------------------- */

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as in Redis's crc16.c. */
static const uint16_t crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

static uint16_t crc16(const char *s, size_t len)
{
    uint16_t c = 0;
    for (size_t i = 0; i < len; i++)
        c = (uint16_t)((c << 8) ^ crc16_table[((c >> 8) ^ (unsigned char)s[i]) & 0xff]);
    return c;
}

unsigned sp_redis_key_slot(const char *key, size_t len)
{
    /* a {tag} with at least one byte inside decides the slot, as in Redis's keyHashSlot */
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close && close > key + from)
            return crc16(key + from, (size_t)(close - key - from)) & (SP_REDIS_SLOTS - 1);
    }
    return crc16(key, len) & (SP_REDIS_SLOTS - 1);
}

/* ---- the client ------------------------------------------------------------------------ */

typedef struct {
    char addr[ADDR_MAX];
    sp_rconn *rc;
    int reload; /* answered NOSCRIPT: load the scripts again before the next command */
} node;

struct sp_redis {
    char *seed;
    char *user, *password; /* AUTH on each connection; NULL: none */
    sp_redis_tls *tls;     /* TLS on each connection; NULL: plain */
    int want_tls;          /* the address said rediss://: TLS with defaults if not set */
    int connect_ms, command_ms;
    int connected, cluster, refresh;
    node *nodes;
    int nnodes, capnodes;
    int *masters;
    int nmasters;
    int16_t slot_node[SP_REDIS_SLOTS]; /* index into nodes; -1 unknown */
    const char *script[SP_REDIS_MAX_SCRIPTS];
    char sha[SP_REDIS_MAX_SCRIPTS][41];
    int nscripts;
    sp_redis_batch *one; /* scratch for sp_redis_cmd */
    sp_redis_stats stats;
    void (*on_reply)(void *arg);
    void *on_reply_arg;
    int serial;
};

void sp_redis_on_reply(sp_redis *r, void (*fn)(void *arg), void *arg, int serial)
{
    r->on_reply = fn;
    r->on_reply_arg = arg;
    r->serial = serial;
}

const sp_redis_stats *sp_redis_get_stats(const sp_redis *r) { return &r->stats; }

sp_redis *sp_redis_new(const char *address, int connect_timeout_ms, int command_timeout_ms)
{
    sp_redis *r = calloc(1, sizeof *r);
    if (!r || !(r->seed = strdup(sp_redis_address_plain(address))) ||
        !(r->one = sp_redis_batch_new())) {
        sp_redis_destroy(r);
        return NULL;
    }
    r->connect_ms = connect_timeout_ms;
    r->command_ms = command_timeout_ms;
    r->want_tls = sp_redis_address_tls(address);
    memset(r->slot_node, 0xff, sizeof r->slot_node);
    return r;
}

void sp_redis_close(sp_redis *r)
{
    for (int i = 0; i < r->nnodes; i++) {
        sp_rconn_free(r->nodes[i].rc);
        r->nodes[i].rc = NULL;
    }
    r->connected = 0;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

int sp_redis_set_auth(sp_redis *r, const char *user, const char *password)
{
    free(r->user);
    free_secret(r->password);
    r->user = user && *user ? strdup(user) : NULL;
    r->password = password && *password ? strdup(password) : NULL;
    return (user && *user && !r->user) || (password && *password && !r->password) ? -1 : 0;
}

int sp_redis_set_tls(sp_redis *r, const sp_redis_tls_conf *conf, char *errstr,
                     size_t errstr_size)
{
    sp_redis_tls *t = NULL;
    if ((conf->enabled || r->want_tls) && !(t = sp_redis_tls_new(conf, errstr, errstr_size)))
        return -1;
    sp_redis_close(r);
    sp_redis_tls_free(r->tls);
    r->tls = t;
    return 0;
}

int sp_redis_uses_tls(const sp_redis *r) { return r->tls != NULL; }

/* A connection to addr, authenticated. NULL with errstr. */
static sp_rconn *open_node(sp_redis *r, const char *addr, char *errstr, size_t errstr_size)
{
    char why[400];
    sp_rconn *rc = sp_rconn_open(addr, r->tls, r->connect_ms, r->command_ms, why, sizeof why);
    if (!rc) {
        snprintf(errstr, errstr_size, "redis %s%s: %s", r->tls ? "rediss://" : "", addr, why);
        return NULL;
    }
    if (sp_redis_auth(rc, r->user, r->password, why, sizeof why) < 0) {
        snprintf(errstr, errstr_size, "redis %s: %s", addr, why);
        sp_rconn_free(rc);
        return NULL;
    }
    return rc;
}

void sp_redis_destroy(sp_redis *r)
{
    if (!r)
        return;
    sp_redis_close(r);
    free(r->user);
    free_secret(r->password);
    sp_redis_tls_free(r->tls);
    free(r->nodes);
    free(r->masters);
    free(r->seed);
    sp_redis_batch_destroy(r->one);
    free(r);
}

int sp_redis_script(sp_redis *r, const char *body)
{
    if (r->nscripts == SP_REDIS_MAX_SCRIPTS)
        return -1;
    r->script[r->nscripts] = body;
    r->sha[r->nscripts][0] = '\0';
    return r->nscripts++;
}

int sp_redis_is_cluster(const sp_redis *r) { return r->cluster; }
const char *sp_redis_address(const sp_redis *r) { return r->seed; }
int sp_redis_nodes(const sp_redis *r) { return r->nmasters ? r->nmasters : 1; }

const char *sp_redis_node_address(const sp_redis *r, int node_no)
{
    if (node_no < 0 || node_no >= r->nmasters)
        return r->seed;
    return r->nodes[r->masters[node_no]].addr;
}

/* The index of the node at addr, added when new; -1 when out of memory. */
static int node_of(sp_redis *r, const char *addr, size_t len)
{
    if (len >= ADDR_MAX)
        len = ADDR_MAX - 1;
    for (int i = 0; i < r->nnodes; i++)
        if (strlen(r->nodes[i].addr) == len && memcmp(r->nodes[i].addr, addr, len) == 0)
            return i;
    if (r->nnodes == r->capnodes) {
        int cap = r->capnodes ? 2 * r->capnodes : 8;
        node *n = realloc(r->nodes, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        r->nodes = n;
        r->capnodes = cap;
    }
    node *n = &r->nodes[r->nnodes];
    memcpy(n->addr, addr, len);
    n->addr[len] = '\0';
    n->rc = NULL;
    n->reload = 0;
    return r->nnodes++;
}

/* Loads every registered script on a fresh connection. 0, or -1 with errstr. */
static int load_scripts(sp_redis *r, sp_rconn *rc, const char *addr, char *errstr,
                        size_t errstr_size)
{
    char why[300] = "cannot queue a command (out of memory)";
    for (int i = 0; i < r->nscripts; i++)
        if (redisAppendCommand(sp_rconn_ctx(rc), "SCRIPT LOAD %s", r->script[i]) != REDIS_OK)
            goto fail;
    for (int i = 0; i < r->nscripts; i++) {
        redisReply *rep = NULL;
        if (sp_rconn_read(rc, &rep, why, sizeof why) < 0)
            goto fail;
        int ok = rep->type == REDIS_REPLY_STRING && rep->len == 40;
        if (ok)
            memcpy(r->sha[i], rep->str, 41);
        else
            snprintf(errstr, errstr_size, "redis %s: SCRIPT LOAD failed: %s", addr,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        if (!ok)
            return -1;
    }
    return 0;
fail:
    snprintf(errstr, errstr_size, "redis %s: %s", addr, why);
    return -1;
}

/* The connection of node i, opened (and its scripts loaded) when needed. */
static sp_rconn *node_rc(sp_redis *r, int i, char *errstr, size_t errstr_size)
{
    node *n = &r->nodes[i];
    if (n->rc && n->reload) {
        if (load_scripts(r, n->rc, n->addr, errstr, errstr_size) < 0)
            return NULL;
        n->reload = 0;
    }
    if (n->rc)
        return n->rc;
    sp_rconn *rc = open_node(r, n->addr, errstr, errstr_size);
    if (!rc)
        return NULL;
    if (load_scripts(r, rc, n->addr, errstr, errstr_size) < 0) {
        sp_rconn_free(rc);
        return NULL;
    }
    n->rc = rc;
    return rc;
}

/* "host:port" of a CLUSTER SLOTS node entry; an empty host is the host we asked. */
static int entry_addr(const redisReply *e, const char *asked, char *out, size_t size)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    const char *host = e->element[0]->str;
    char fallback[ADDR_MAX];
    if (!*host || strcmp(host, "?") == 0) {
        const char *colon = strrchr(asked, ':');
        snprintf(fallback, sizeof fallback, "%.*s",
                 (int)(colon ? (size_t)(colon - asked) : strlen(asked)), asked);
        host = fallback;
    }
    int n = snprintf(out, size, "%s:%lld", host, e->element[1]->integer);
    return n > 0 && (size_t)n < size ? n : -1;
}

/* Fills the slot table from a CLUSTER SLOTS reply. 0, or -1 on a malformed reply. */
static int take_slots(sp_redis *r, const redisReply *rep, const char *asked)
{
    int16_t map[SP_REDIS_SLOTS];
    int masters[SP_REDIS_SLOTS], nm = 0;
    memset(map, 0xff, sizeof map);
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *s = rep->element[i];
        char addr[ADDR_MAX];
        if (s->type != REDIS_REPLY_ARRAY || s->elements < 3 ||
            s->element[0]->type != REDIS_REPLY_INTEGER || s->element[1]->type != REDIS_REPLY_INTEGER)
            return -1;
        int len = entry_addr(s->element[2], asked, addr, sizeof addr);
        int idx = len < 0 ? -1 : node_of(r, addr, (size_t)len);
        long long lo = s->element[0]->integer, hi = s->element[1]->integer;
        if (idx < 0 || lo < 0 || hi >= SP_REDIS_SLOTS || lo > hi)
            return -1;
        for (long long k = lo; k <= hi; k++)
            map[k] = (int16_t)idx;
        int known = 0;
        for (int m = 0; m < nm && !known; m++)
            known = masters[m] == idx;
        if (!known)
            masters[nm++] = idx;
    }
    int *ms = realloc(r->masters, (size_t)(nm ? nm : 1) * sizeof *ms);
    if (!ms)
        return -1;
    memcpy(ms, masters, (size_t)nm * sizeof *ms);
    r->masters = ms;
    r->nmasters = nm;
    memcpy(r->slot_node, map, sizeof map);
    return 0;
}

/* Reads the topology from any reachable node (the seed first). */
static int refresh_slots(sp_redis *r, char *errstr, size_t errstr_size)
{
    int tried = 0;
    for (int i = -1; i < r->nmasters; i++) {
        const char *addr = i < 0 ? r->seed : r->nodes[r->masters[i]].addr;
        sp_rconn *rc = open_node(r, addr, errstr, errstr_size);
        tried++;
        if (!rc)
            continue;
        char why[300];
        redisReply *rep = sp_rconn_command(rc, why, sizeof why, "CLUSTER SLOTS");
        int ok = rep && rep->type == REDIS_REPLY_ARRAY && take_slots(r, rep, addr) == 0;
        if (!ok)
            snprintf(errstr, errstr_size, "redis %s: CLUSTER SLOTS: %s", addr,
                     !rep ? why : rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
        if (rep)
            freeReplyObject(rep);
        sp_rconn_free(rc);
        if (ok) {
            r->refresh = 0;
            return 0;
        }
    }
    return tried ? -1 : 0;
}

int sp_redis_connect(sp_redis *r, char *errstr, size_t errstr_size)
{
    if (r->connected)
        return 0;
    if (r->want_tls && !r->tls && sp_redis_set_tls(r, &(sp_redis_tls_conf){.enabled = 1}, errstr,
                                                     errstr_size) < 0)
        return -1;
    sp_rconn *rc = open_node(r, r->seed, errstr, errstr_size);
    if (!rc)
        return -1;
    char why[300];
    redisReply *rep = sp_rconn_command(rc, why, sizeof why, "CLUSTER SLOTS");
    if (!rep) {
        snprintf(errstr, errstr_size, "redis %s: %s", r->seed, why);
        sp_rconn_free(rc);
        return -1;
    }
    int rc_ok = 0;
    if (rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "cluster support disabled")) {
        int idx = node_of(r, r->seed, strlen(r->seed));
        r->cluster = 0;
        if (idx < 0 || !(r->masters = realloc(r->masters, sizeof *r->masters))) {
            snprintf(errstr, errstr_size, "out of memory connecting to Redis");
            rc_ok = -1;
        } else if (load_scripts(r, rc, r->seed, errstr, errstr_size) < 0) {
            rc_ok = -1;
        } else {
            r->masters[0] = idx;
            r->nmasters = 1;
            r->nodes[idx].rc = rc; /* kept */
            rc = NULL;
        }
    } else if (rep->type == REDIS_REPLY_ARRAY && take_slots(r, rep, r->seed) == 0) {
        r->cluster = 1;
        r->refresh = 0;
    } else {
        snprintf(errstr, errstr_size, "redis %s: CLUSTER SLOTS: %s", r->seed,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        rc_ok = -1;
    }
    freeReplyObject(rep);
    sp_rconn_free(rc);
    if (rc_ok == 0)
        r->connected = 1;
    return rc_ok;
}

/* ---- batches --------------------------------------------------------------------------- */

typedef struct {
    size_t at, len;     /* the command, in RESP, in the batch's arena */
    long sha_at;        /* where a script's sha goes in it (filled in when sent), or -1 */
    int slot;           /* -1: any node */
    int node;           /* a given master (add_to), or -1 */
    int script;         /* registered script (argv[1] is its sha at send time), or -1 */
    int redirect;       /* node index to send to next (ASK), or -1 */
    int asking;
    int sent;           /* the node it was sent to ahead (sp_redis_batch_send), or -1 */
    redisReply *reply;
} bcmd;

struct sp_redis_batch {
    bcmd *c;
    size_t n, cap;
    char *arena;        /* the commands, formatted */
    size_t used, acap;
    size_t nsent;       /* commands sent ahead, waiting for sp_redis_batch_run */
};

sp_redis_batch *sp_redis_batch_new(void) { return calloc(1, sizeof(sp_redis_batch)); }

void sp_redis_batch_reset(sp_redis_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->c[i].reply)
            freeReplyObject(b->c[i].reply);
    b->n = b->used = b->nsent = 0;
}

void sp_redis_batch_destroy(sp_redis_batch *b)
{
    if (!b)
        return;
    sp_redis_batch_reset(b);
    free(b->c);
    free(b->arena);
    free(b);
}

size_t sp_redis_batch_size(const sp_redis_batch *b) { return b->n; }
size_t sp_redis_batch_bytes(const sp_redis_batch *b) { return b->used; }


static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

/* Writes "<c><n>\r\n" at p; returns the bytes written. */
static size_t put_len(char *p, char c, size_t n)
{
    char d[24];
    int k = 0;
    do
        d[k++] = (char)('0' + n % 10);
    while ((n /= 10) > 0);
    size_t w = 0;
    p[w++] = c;
    while (k > 0)
        p[w++] = d[--k];
    p[w++] = '\r';
    p[w++] = '\n';
    return w;
}

/* Appends a command, formatted (RESP), to the batch. -1 when out of memory. */
static long add_cmd(sp_redis_batch *b, int slot, int node_no, int script, int argc,
                    const char *const *argv, const size_t *argvlen)
{
    size_t bytes = 16;
    for (int i = 0; i < argc; i++)
        bytes += (argvlen ? argvlen[i] : strlen(argv[i])) + 24;
    if (grow((void **)&b->c, &b->cap, b->n + 1, sizeof *b->c) < 0 ||
        grow((void **)&b->arena, &b->acap, b->used + bytes, 1) < 0)
        return -1;
    bcmd *c = &b->c[b->n];
    *c = (bcmd){b->used, 0, -1, slot, node_no, script, -1, 0, -1, NULL};
    char *p = b->arena + b->used;
    size_t w = put_len(p, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t l = argvlen ? argvlen[i] : strlen(argv[i]);
        w += put_len(p + w, '$', l);
        if (i == 1 && script >= 0)
            c->sha_at = (long)(b->used + w);
        memcpy(p + w, argv[i], l);
        w += l;
        p[w++] = '\r';
        p[w++] = '\n';
    }
    c->len = w;
    b->used += w;
    return (long)b->n++;
}

long sp_redis_batch_add(sp_redis_batch *b, const char *key, size_t keylen, int argc,
                        const char *const *argv, const size_t *argvlen)
{
    int slot = key ? (int)sp_redis_key_slot(key, keylen) : -1;
    return add_cmd(b, slot, -1, -1, argc, argv, argvlen);
}

long sp_redis_batch_add_to(sp_redis_batch *b, int node_no, int argc, const char *const *argv,
                           const size_t *argvlen)
{
    return add_cmd(b, -1, node_no, -1, argc, argv, argvlen);
}

long sp_redis_batch_eval(sp_redis_batch *b, int script, int nkeys, int nargs,
                         const char *const *argv, const size_t *argvlen)
{
    enum { STACK = 64 };
    const char *sv[STACK];
    size_t sl[STACK];
    int argc = 3 + nkeys + nargs;
    const char **v = argc <= STACK ? sv : malloc((size_t)argc * sizeof *v);
    size_t *l = argc <= STACK ? sl : malloc((size_t)argc * sizeof *l);
    long idx = -1;
    char nk[16];
    if (v && l) {
        snprintf(nk, sizeof nk, "%d", nkeys);
        v[0] = "EVALSHA";
        v[1] = "0000000000000000000000000000000000000000"; /* the sha, filled in when sent */
        v[2] = nk;
        l[0] = 7;
        l[1] = 40;
        l[2] = strlen(nk);
        for (int i = 0; i < nkeys + nargs; i++) {
            v[3 + i] = argv[i];
            l[3 + i] = argvlen ? argvlen[i] : strlen(argv[i]);
        }
        int slot = nkeys > 0 ? (int)sp_redis_key_slot(v[3], l[3]) : -1;
        idx = add_cmd(b, slot, -1, script, argc, v, l);
    }
    if (v != sv)
        free(v);
    if (l != sl)
        free(l);
    return idx;
}

/* Commands whose second word is not a key. */
static int keyless(const char *cmd, size_t len)
{
    static const char *const names[] = {"PING", "INFO", "SCAN", "CONFIG", "SCRIPT", "CLUSTER",
                                        "DBSIZE", "FLUSHALL", "FLUSHDB", "SLOWLOG", "LATENCY",
                                        "PUBLISH", "TIME", "CLIENT", "COMMAND", "ECHO",
                                        "SHUTDOWN", "SAVE", "BGSAVE", "BGREWRITEAOF", "DEBUG",
                                        "MEMORY", "WAIT"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && strncasecmp(cmd, names[i], len) == 0)
            return 1;
    return 0;
}

/* The index in argv of the key that routes the command, or -1. */
static int key_index(int argc, const char *const *argv, const size_t *len)
{
    if (argc < 2 || keyless(argv[0], len[0]))
        return -1;
    if ((len[0] == 4 && strncasecmp(argv[0], "EVAL", 4) == 0) ||
        (len[0] == 7 && strncasecmp(argv[0], "EVALSHA", 7) == 0))
        return argc > 3 && atoi(argv[2]) > 0 ? 3 : -1;
    return 1;
}

/* Splits hiredis's formatted command (RESP) into argv; the pointers point into cmd. */
static int resp_argv(char *cmd, int len, const char **argv, size_t *argvlen, int max)
{
    char *p = cmd, *end = cmd + len;
    if (*p != '*')
        return -1;
    int argc = (int)strtol(p + 1, &p, 10);
    if (argc > max)
        return -1;
    p += 2;
    for (int i = 0; i < argc; i++) {
        if (p >= end || *p != '$')
            return -1;
        long l = strtol(p + 1, &p, 10);
        p += 2;
        argv[i] = p;
        argvlen[i] = (size_t)l;
        p += l + 2;
    }
    return argc;
}

static long add_formatted(sp_redis_batch *b, int node_no, const char *fmt, va_list ap)
{
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    if (len < 0)
        return -1;
    enum { MAXARGS = 256 };
    const char *argv[MAXARGS];
    size_t lens[MAXARGS];
    int argc = resp_argv(cmd, len, argv, lens, MAXARGS);
    long idx = -1;
    if (argc > 0) {
        int k = key_index(argc, argv, lens);
        if (node_no >= 0)
            idx = add_cmd(b, -1, node_no, -1, argc, argv, lens);
        else
            idx = add_cmd(b, k >= 0 ? (int)sp_redis_key_slot(argv[k], lens[k]) : -1, -1, -1,
                          argc, argv, lens);
    }
    redisFreeCommand(cmd);
    return idx;
}

long sp_redis_batch_addf(sp_redis_batch *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    long idx = add_formatted(b, -1, fmt, ap);
    va_end(ap);
    return idx;
}

const redisReply *sp_redis_batch_reply(const sp_redis_batch *b, long i)
{
    return i >= 0 && (size_t)i < b->n ? b->c[i].reply : NULL;
}

/* ---- running a batch ------------------------------------------------------------------- */

/* The node a command goes to now. */
static int target(const sp_redis *r, const bcmd *c)
{
    if (c->redirect >= 0)
        return c->redirect;
    if (c->node >= 0)
        return r->masters[c->node < r->nmasters ? c->node : 0];
    if (!r->cluster || c->slot < 0 || r->slot_node[c->slot] < 0)
        return r->masters[0];
    return r->slot_node[c->slot];
}

static int append(sp_redis *r, sp_redis_batch *b, bcmd *c, sp_rconn *conn)
{
    redisContext *rc = sp_rconn_ctx(conn);
    if (c->sha_at >= 0)
        memcpy(b->arena + c->sha_at, r->sha[c->script], 40);
    if (c->asking && redisAppendCommand(rc, "ASKING") != REDIS_OK)
        return -1;
    return redisAppendFormattedCommand(rc, b->arena + c->at, c->len) == REDIS_OK ? 0 : -1;
}

enum { DONE, AGAIN, LATER };

static int starts(const char *s, const char *word)
{
    size_t n = strlen(word);
    return strncmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

/* What a reply means for its command: DONE (kept), AGAIN (redirected: next round) or
 * LATER (busy: next round, after a wait). */
static int classify(sp_redis *r, bcmd *c, redisReply *rep, int from)
{
    if (rep->type != REDIS_REPLY_ERROR)
        return DONE;
    const char *s = rep->str;
    if (starts(s, "MOVED") || starts(s, "ASK")) {
        int ask = s[1] == 'S';
        const char *addr = strchr(s + (ask ? 4 : 6), ' ');
        int idx = addr ? node_of(r, addr + 1, strlen(addr + 1)) : -1;
        if (idx < 0)
            return DONE; /* cannot follow: the error stands */
        if (ask) {
            r->stats.ask++;
            c->redirect = idx;
            c->asking = 1;
        } else {
            r->stats.moved++;
            if (c->slot >= 0)
                r->slot_node[c->slot] = (int16_t)idx;
            c->redirect = c->node >= 0 ? idx : -1;
            c->asking = 0;
            r->refresh = 1;
        }
        return AGAIN;
    }
    if (starts(s, "NOSCRIPT")) { /* a restarted node: load the scripts there again */
        r->nodes[from].reload = 1;
        r->stats.noscript++;
        return AGAIN;
    }
    if (starts(s, "TRYAGAIN") || starts(s, "CLUSTERDOWN") || starts(s, "LOADING") ||
        starts(s, "MASTERDOWN") || starts(s, "BUSY")) {
        r->stats.busy_retries++;
        return LATER;
    }
    return DONE;
}

/* Writes every node's pending output. 0, or -1 with errstr. */
static int write_all(sp_redis *r, char *errstr, size_t errstr_size)
{
    for (int t = 0; t < r->nnodes; t++) {
        char why[300];
        if (r->nodes[t].rc && sp_rconn_write(r->nodes[t].rc, why, sizeof why) < 0) {
            snprintf(errstr, errstr_size, "redis %s: %s", r->nodes[t].addr, why);
            return -1;
        }
    }
    return 0;
}

/* One exchange: sends the commands in `which` (indices into b), reads their replies.
 * Sets *again / *later when some must be sent once more. 0, or -1 with errstr. */
static int exchange(sp_redis *r, sp_redis_batch *b, const size_t *which, size_t n,
                    int *node_of_cmd, int *again, int *later, char *errstr, size_t errstr_size)
{
    for (size_t k = 0; k < n; k++) {
        bcmd *c = &b->c[which[k]];
        if (c->sent >= 0) { /* sent ahead: its reply is next in line on that node */
            node_of_cmd[k] = c->sent;
            c->sent = -1;
            continue;
        }
        int t = target(r, c);
        sp_rconn *rc = node_rc(r, t, errstr, errstr_size);
        if (!rc)
            return -1;
        if (append(r, b, c, rc) < 0) {
            snprintf(errstr, errstr_size, "redis %s: cannot queue a command (out of memory)",
                     r->nodes[t].addr);
            return -1;
        }
        node_of_cmd[k] = t;
    }
    if (write_all(r, errstr, errstr_size) < 0)
        return -1;
    /* replies come per node in the order appended: read node by node */
    for (int t = 0; t < r->nnodes; t++)
        for (size_t k = 0; k < n; k++) {
            if (node_of_cmd[k] != t)
                continue;
            bcmd *c = &b->c[which[k]];
            sp_rconn *rc = r->nodes[t].rc;
            redisReply *rep = NULL;
            char why[300];
            if (c->asking) { /* the ASKING reply first */
                if (sp_rconn_read(rc, &rep, why, sizeof why) < 0)
                    goto lost;
                freeReplyObject(rep);
                rep = NULL;
            }
            if (sp_rconn_read(rc, &rep, why, sizeof why) < 0)
                goto lost;
            if (r->on_reply)
                r->on_reply(r->on_reply_arg);
            int what = classify(r, c, rep, t);
            if (what == DONE) {
                c->reply = rep;
                c->redirect = -1;
                c->asking = 0;
            } else {
                freeReplyObject(rep);
                *again |= what == AGAIN;
                *later |= what == LATER;
            }
            continue;
        lost:
            snprintf(errstr, errstr_size, "redis %s: %s", r->nodes[t].addr, why);
            return -1;
        }
    return 0;
}

int sp_redis_batch_send(sp_redis *r, sp_redis_batch *b, char *errstr, size_t errstr_size)
{
    if (r->serial || b->nsent == b->n)
        return 0;
    if (sp_redis_connect(r, errstr, errstr_size) < 0 ||
        (r->refresh && r->cluster && refresh_slots(r, errstr, errstr_size) < 0))
        goto fail;
    for (; b->nsent < b->n; b->nsent++) {
        bcmd *c = &b->c[b->nsent];
        int t = target(r, c);
        sp_rconn *rc = node_rc(r, t, errstr, errstr_size);
        if (!rc)
            goto fail;
        if (append(r, b, c, rc) < 0) {
            snprintf(errstr, errstr_size, "redis %s: cannot queue a command (out of memory)",
                     r->nodes[t].addr);
            goto fail;
        }
        c->sent = t;
    }
    if (write_all(r, errstr, errstr_size) == 0)
        return 0;
fail:
    for (size_t i = 0; i < b->n; i++) /* their outcome is unknown: a run sends them again */
        b->c[i].sent = -1;
    b->nsent = 0;
    sp_redis_close(r);
    r->stats.reconnects++;
    return -1;
}

static void nap_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int sp_redis_batch_run(sp_redis *r, sp_redis_batch *b, char *errstr, size_t errstr_size)
{
    if (sp_redis_connect(r, errstr, errstr_size) < 0)
        return -1;
    b->nsent = b->n; /* what was not sent ahead goes in this run's first exchange */
    size_t *which = malloc((b->n ? b->n : 1) * sizeof *which);
    int *nodes = malloc((b->n ? b->n : 1) * sizeof *nodes);
    int rc = -1;
    int64_t waited = 0, wait = 5;
    if (!which || !nodes) {
        snprintf(errstr, errstr_size, "out of memory running a Redis batch");
        goto out;
    }
    for (int round = 0; round < MAX_ROUNDS; round++) {
        size_t n = 0;
        for (size_t i = 0; i < b->n; i++)
            if (!b->c[i].reply)
                which[n++] = i;
        if (n == 0) {
            rc = 0;
            goto out;
        }
        if (r->refresh && r->cluster && refresh_slots(r, errstr, errstr_size) < 0)
            goto fail;
        int again = 0, later = 0;
        size_t step = r->serial ? 1 : n;
        for (size_t k = 0; k < n; k += step)
            if (exchange(r, b, which + k, n - k < step ? n - k : step, nodes + k, &again, &later,
                         errstr, errstr_size) < 0)
                goto fail;
        if (later) {
            if (waited >= (r->command_ms > 1000 ? r->command_ms : 1000)) {
                snprintf(errstr, errstr_size, "redis %s: still busy or migrating after %lld ms",
                         r->seed, (long long)waited);
                goto out;
            }
            nap_ms(wait);
            waited += wait;
            wait = wait * 2 > 200 ? 200 : wait * 2;
        }
    }
    snprintf(errstr, errstr_size, "redis %s: redirections did not settle", r->seed);
    goto out;
fail:
    sp_redis_close(r); /* connections may be out of step: start afresh next time */
    r->stats.reconnects++;
out:
    free(which);
    free(nodes);
    return rc;
}

/* ---- one command ------------------------------------------------------------------------ */

static redisReply *run_one(sp_redis *r, long idx, char *errstr, size_t errstr_size)
{
    redisReply *rep = NULL;
    if (idx < 0)
        snprintf(errstr, errstr_size, "cannot build a Redis command (out of memory or bad format)");
    else if (sp_redis_batch_run(r, r->one, errstr, errstr_size) == 0) {
        rep = r->one->c[idx].reply;
        r->one->c[idx].reply = NULL; /* handed to the caller */
    }
    sp_redis_batch_reset(r->one);
    return rep;
}

redisReply *sp_redis_vcmd(sp_redis *r, char *errstr, size_t errstr_size, const char *fmt,
                          va_list ap)
{
    sp_redis_batch_reset(r->one);
    long idx = add_formatted(r->one, -1, fmt, ap);
    return run_one(r, idx, errstr, errstr_size);
}

redisReply *sp_redis_cmd(sp_redis *r, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = sp_redis_vcmd(r, errstr, errstr_size, fmt, ap);
    va_end(ap);
    return rep;
}

redisReply *sp_redis_node_cmd(sp_redis *r, int node_no, char *errstr, size_t errstr_size,
                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sp_redis_batch_reset(r->one);
    long idx = add_formatted(r->one, node_no < 0 ? 0 : node_no, fmt, ap);
    va_end(ap);
    return run_one(r, idx, errstr, errstr_size);
}

redisReply *sp_redis_cmd_argv(sp_redis *r, int key_arg, int argc, const char *const *argv,
                              const size_t *argvlen, char *errstr, size_t errstr_size)
{
    sp_redis_batch_reset(r->one);
    const char *key = key_arg >= 0 && key_arg < argc ? argv[key_arg] : NULL;
    size_t kl = key ? (argvlen ? argvlen[key_arg] : strlen(key)) : 0;
    long idx = sp_redis_batch_add(r->one, key, kl, argc, argv, argvlen);
    return run_one(r, idx, errstr, errstr_size);
}
