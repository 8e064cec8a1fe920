/*
 * test_redis_client.c - the Redis client (publishers/redis_client.c) against a real
 * redis-server and a real three-master Redis Cluster: hash slots as Redis computes them,
 * batches routed to the right master, MOVED and ASK followed while slots migrate, and
 * scripts loaded again after a node forgot them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_conn.h"

static sp_env env;
static void teardown(void) { sp_env_stop(&env); }

/* Keys of every shape a hash tag rule cares about, plus random bytes. */
static void key_of(int i, char *out, size_t size, size_t *len)
{
    static const char *const fixed[] = {"", "{", "}", "{}", "}{", "{a}", "a{b}c", "a{}b{c}",
                                        "{{a}}", "a{b{c}d}", "sp:r:1m:queue=技术支持:60",
                                        "sp:x:{sp:r:15m:agent=a1:900}", "123456789"};
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    if ((size_t)i < nfixed) {
        snprintf(out, size, "%s", fixed[i]);
        *len = strlen(out);
        return;
    }
    unsigned s = (unsigned)i * 2654435761u;
    size_t n = 1 + s % 40;
    for (size_t k = 0; k < n && k < size; k++) {
        s = s * 1103515245u + 12345u;
        const char alphabet[] = "ab{}:|=%xyz09\xe6\x8a\x80";
        out[k] = alphabet[(s >> 16) % (sizeof alphabet - 1)];
    }
    *len = n;
}

Test(redis_client, slots_match_cluster_keyslot, .fini = teardown, .timeout = 120)
{
    sp_env_start_cluster(&env, "rc", 1);
    cr_assert_eq(sp_redis_key_slot("123456789", 9), 0x31c3 & 16383); /* CRC16 check value */
    redisContext *rc = redisConnectUnix(env.cluster.node[0].socket);
    cr_assert(rc && !rc->err);
    for (int i = 0; i < 3000; i++) {
        char key[64];
        size_t len;
        key_of(i, key, sizeof key, &len);
        redisReply *r = redisCommand(rc, "CLUSTER KEYSLOT %b", key, len);
        cr_assert(r && r->type == REDIS_REPLY_INTEGER, "CLUSTER KEYSLOT");
        cr_assert_eq((long long)sp_redis_key_slot(key, len), r->integer, "key %d '%.*s'", i,
                     (int)len, key);
        freeReplyObject(r);
    }
    redisFree(rc);
}

/* SETs n keys in one batch, then GETs them in another; every reply must be its own. */
static void set_then_get(sp_redis *r, int n, const char *tag)
{
    char err[512];
    sp_redis_batch *b = sp_redis_batch_new();
    cr_assert(b);
    for (int i = 0; i < n; i++)
        cr_assert(sp_redis_batch_addf(b, "SET %s:%d v%d", tag, i, i) == i);
    cr_assert_eq(sp_redis_batch_run(r, b, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < n; i++)
        cr_assert_eq(sp_redis_batch_reply(b, i)->type, REDIS_REPLY_STATUS, "%d: %s", i,
                     sp_redis_batch_reply(b, i)->str);
    sp_redis_batch_reset(b);
    for (int i = 0; i < n; i++)
        sp_redis_batch_addf(b, "GET %s:%d", tag, i);
    cr_assert_eq(sp_redis_batch_run(r, b, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "v%d", i);
        const redisReply *rep = sp_redis_batch_reply(b, i);
        cr_assert(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, want) == 0,
                  "GET %s:%d: %s", tag, i, rep && rep->str ? rep->str : "(nil)");
    }
    sp_redis_batch_destroy(b);
}

Test(redis_client, one_server_batches_keep_their_order, .fini = teardown)
{
    sp_env_start(&env, "rc", 1);
    char err[512];
    cr_assert_eq(sp_redis_connect(env.r, err, sizeof err), 0, "%s", err);
    cr_assert_not(sp_redis_is_cluster(env.r));
    set_then_get(env.r, 5000, "one");
}

Test(redis_client, a_cluster_batch_reaches_each_key_on_its_master, .fini = teardown,
     .timeout = 120)
{
    sp_env_start_cluster(&env, "rc", 1);
    char err[512];
    cr_assert_eq(sp_redis_connect(env.r, err, sizeof err), 0, "%s", err);
    cr_assert(sp_redis_is_cluster(env.r));
    cr_assert_eq(sp_redis_nodes(env.r), SP_CLUSTER_NODES);
    set_then_get(env.r, 3000, "many");
    /* each key is where its slot is served: no master holds all of them */
    for (int i = 0; i < SP_CLUSTER_NODES; i++) {
        redisReply *r = sp_redis_node_cmd(env.r, i, err, sizeof err, "DBSIZE");
        cr_assert(r && r->type == REDIS_REPLY_INTEGER, "%s", err);
        cr_assert(r->integer > 500 && r->integer < 2500, "node %d holds %lld keys", i, r->integer);
        freeReplyObject(r);
    }
}

Test(redis_client, moved_slots_are_followed, .fini = teardown, .timeout = 180)
{
    sp_env_start_cluster(&env, "rc", 1);
    set_then_get(env.r, 2000, "mv"); /* the client knows the old layout */
    sp_cluster_reshard(&env.cluster, (int)sp_redis_key_slot("mv:1", 4), 2000);
    set_then_get(env.r, 2000, "mv"); /* stale map: MOVED, then CLUSTER SLOTS again */
    cr_assert_gt(sp_redis_get_stats(env.r)->moved, 0);
}

/* Moves the keys of one slot by hand and leaves the slot half migrated: clients get ASK
 * for the keys already moved, and the owner serves the rest. */
Test(redis_client, ask_during_a_migration_is_followed, .fini = teardown, .timeout = 120)
{
    sp_env_start_cluster(&env, "rc", 1);
    char err[512], key[64];
    /* keys with one tag: all in one slot */
    sp_redis_batch *b = sp_redis_batch_new();
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "{mig}:%d", i);
        sp_redis_batch_addf(b, "SET %s v%d", key, i);
    }
    cr_assert_eq(sp_redis_batch_run(env.r, b, err, sizeof err), 0, "%s", err);
    int slot = (int)sp_redis_key_slot("{mig}", 5);
    /* find source and target nodes */
    int src = -1, dst = -1;
    char ids[SP_CLUSTER_NODES][64];
    for (int i = 0; i < SP_CLUSTER_NODES; i++) {
        redisContext *rc = redisConnectUnix(env.cluster.node[i].socket);
        redisReply *r = redisCommand(rc, "CLUSTER MYID");
        snprintf(ids[i], sizeof ids[i], "%s", r->str);
        freeReplyObject(r);
        r = redisCommand(rc, "CLUSTER COUNTKEYSINSLOT %d", slot);
        if (r->integer > 0)
            src = i;
        freeReplyObject(r);
        redisFree(rc);
    }
    cr_assert(src >= 0);
    dst = (src + 1) % SP_CLUSTER_NODES;
    redisContext *s = redisConnectUnix(env.cluster.node[src].socket);
    redisContext *d = redisConnectUnix(env.cluster.node[dst].socket);
    freeReplyObject(redisCommand(d, "CLUSTER SETSLOT %d IMPORTING %s", slot, ids[src]));
    freeReplyObject(redisCommand(s, "CLUSTER SETSLOT %d MIGRATING %s", slot, ids[dst]));
    for (int i = 0; i < 100; i++) { /* half of them */
        snprintf(key, sizeof key, "{mig}:%d", i);
        redisReply *r = redisCommand(s, "MIGRATE 127.0.0.1 %d %s 0 5000", env.cluster.port[dst], key);
        cr_assert(r && r->type == REDIS_REPLY_STATUS, "MIGRATE: %s", r ? r->str : s->errstr);
        freeReplyObject(r);
    }
    sp_redis_batch_reset(b);
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "{mig}:%d", i);
        sp_redis_batch_addf(b, "GET %s", key);
    }
    cr_assert_eq(sp_redis_batch_run(env.r, b, err, sizeof err), 0, "%s", err);
    cr_assert_geq(sp_redis_get_stats(env.r)->ask, 100);
    for (int i = 0; i < 200; i++) {
        char want[16];
        snprintf(want, sizeof want, "v%d", i);
        const redisReply *r = sp_redis_batch_reply(b, i);
        cr_assert(r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0, "%d: %s", i,
                  r->str ? r->str : "(nil)");
    }
    sp_redis_batch_destroy(b);
    redisFree(s);
    redisFree(d);
}

static const char echo_script[] = "return ARGV[1] .. redis.call('GET', KEYS[1])";

Test(redis_client, scripts_are_loaded_again_after_a_flush, .fini = teardown, .timeout = 120)
{
    sp_env_start_cluster(&env, "rc", 1);
    char err[512];
    int id = sp_redis_script(env.r, echo_script);
    cr_assert(id >= 0);
    for (int round = 0; round < 2; round++) {
        sp_redis_batch *b = sp_redis_batch_new();
        for (int i = 0; i < 300; i++) {
            char key[32], v[32];
            snprintf(key, sizeof key, "s:%d", i);
            snprintf(v, sizeof v, "%d", i);
            sp_redis_batch_addf(b, "SET %s %s", key, v);
            const char *argv[] = {key, "x"};
            sp_redis_batch_eval(b, id, 1, 1, argv, NULL);
        }
        cr_assert_eq(sp_redis_batch_run(env.r, b, err, sizeof err), 0, "%s", err);
        for (int i = 0; i < 300; i++) {
            const redisReply *r = sp_redis_batch_reply(b, 2 * i + 1);
            char want[32];
            snprintf(want, sizeof want, "x%d", i);
            cr_assert(r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0, "%s",
                      r->str ? r->str : "?");
        }
        sp_redis_batch_destroy(b);
        if (round == 1)
            cr_assert_geq(sp_redis_get_stats(env.r)->noscript, SP_CLUSTER_NODES);
        for (int n = 0; n < SP_CLUSTER_NODES; n++) { /* every node forgets its scripts */
            redisReply *r = sp_redis_node_cmd(env.r, n, err, sizeof err, "SCRIPT FLUSH");
            cr_assert(r, "%s", err);
            freeReplyObject(r);
        }
    }
}

/* ---- RESTORE payloads (publishers/redis_dump.c) ------------------------------------------ */

#include "supportpulse/redis_dump.h"

Test(redis_dump, crc64_is_redis_crc64)
{
    cr_assert_eq(sp_crc64(0, "123456789", 9), 0xe9c6d914c4b8d9caULL);
}

/* Values at every listpack encoding boundary, numbers that are not canonical integers,
 * and strings around each string-length encoding. */
static const char *const values[] = {
    "0", "1", "127", "128", "-1", "-4096", "4095", "4096", "-4097", "32767", "32768", "-32768",
    "-32769", "8388607", "8388608", "-8388608", "-8388609", "2147483647", "2147483648",
    "-2147483648", "-2147483649", "9223372036854775807", "-9223372036854775808",
    "9223372036854775808", "007", "-0", "+5", "1e5", "0.8", "", "技术支持", " 1"};

Test(redis_dump, payloads_equal_what_redis_dumps_and_restore_exactly, .fini = teardown)
{
    sp_env_start(&env, "rd", 1);
    freeReplyObject(redisCommand(env.rc, "CONFIG SET rdbcompression no"));
    freeReplyObject(redisCommand(env.rc, "CONFIG SET sanitize-dump-payload yes"));
    size_t nv = sizeof values / sizeof values[0];
    char longs[3][5000];
    const char *fields[64], *vals[64];
    size_t flen[64], vlen[64], n = 0;
    char names[64][16];
    for (size_t i = 0; i < nv; i++, n++) {
        snprintf(names[n], sizeof names[n], "f%zu", n);
        fields[n] = names[n];
        vals[n] = values[i];
    }
    const size_t lens[3] = {63, 64, 4096};
    for (int k = 0; k < 3; k++, n++) {
        memset(longs[k], 'x', lens[k]);
        longs[k][lens[k]] = '\0';
        snprintf(names[n], sizeof names[n], "long%d", k);
        fields[n] = names[n];
        vals[n] = longs[k];
    }
    for (size_t i = 0; i < n; i++) {
        flen[i] = strlen(fields[i]);
        vlen[i] = strlen(vals[i]);
    }
    /* Redis's own: the same fields in the same order, one HSET each */
    for (size_t i = 0; i < n; i++)
        freeReplyObject(redisCommand(env.rc, "HSET theirs %b %b", fields[i], flen[i], vals[i],
                                     vlen[i]));
    redisReply *enc = redisCommand(env.rc, "OBJECT ENCODING theirs");
    int listpack = strcmp(enc->str, "listpack") == 0; /* the 4,096-byte value converts it */
    freeReplyObject(enc);
    sp_buf ours = {0};
    cr_assert_eq(sp_dump_hash(&ours, n, fields, flen, vals, vlen), 0);
    redisReply *r = redisCommand(env.rc, "RESTORE mine 0 %b", ours.p, ours.n);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "RESTORE: %s", r ? r->str : "?");
    freeReplyObject(r);
    for (size_t i = 0; i < n; i++) {
        r = redisCommand(env.rc, "HGET mine %b", fields[i], flen[i]);
        cr_assert(r->type == REDIS_REPLY_STRING && r->len == vlen[i] &&
                  memcmp(r->str, vals[i], vlen[i]) == 0, "%s: '%s' came back as '%s'",
                  fields[i], vals[i], r->str ? r->str : "(nil)");
        freeReplyObject(r);
    }
    r = redisCommand(env.rc, "HLEN mine");
    cr_assert_eq(r->integer, (long long)n);
    freeReplyObject(r);
    /* byte for byte what Redis dumps for the hash it built itself (when it kept a
     * listpack; the long value makes it a hash table, then only the values compare) */
    sp_buf small = {0};
    cr_assert_eq(sp_dump_hash(&small, nv, fields, flen, vals, vlen), 0);
    for (size_t i = 0; i < nv; i++)
        freeReplyObject(redisCommand(env.rc, "HSET small %b %b", fields[i], flen[i], vals[i],
                                     vlen[i]));
    r = redisCommand(env.rc, "DUMP small");
    cr_assert(r->type == REDIS_REPLY_STRING);
    cr_assert(r->len == small.n && memcmp(r->str, small.p, small.n) == 0,
              "our payload (%zu bytes) differs from Redis's DUMP (%zu bytes)", small.n,
              (size_t)r->len);
    freeReplyObject(r);
    (void)listpack;
    sp_buf_free(&ours);
    sp_buf_free(&small);
}

/* A Redis with a password and an ACL user: the client authenticates each connection it
 * opens (AUTH, or AUTH user password), and a refused or missing credential is an error
 * naming AUTH that sp_redis_auth_error recognises, without the password in it. */
Test(redis_client, credentials_are_sent_and_refusals_named, .fini = teardown)
{
    sp_env_start(&env, "auth", 1);
    redisReply *r = redisCommand(env.rc, "ACL SETUSER spw on >w-pass ~sp:* &sp:* +@all");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s", r ? r->str : "");
    freeReplyObject(r);
    r = redisCommand(env.rc, "CONFIG SET requirepass d-pass");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET: %s", r ? r->str : "");
    freeReplyObject(r);
    const char *addr = env.redis.address;
    char err[512];

    sp_redis *none = sp_redis_new(addr, 2000, 2000);
    cr_assert_neq(sp_redis_connect(none, err, sizeof err), 0, "connected without a password");
    cr_expect(sp_redis_auth_error(err), "not recognised as a credentials error: %s", err);
    sp_redis_destroy(none);

    sp_redis *wrong = sp_redis_new(addr, 2000, 2000);
    cr_assert_eq(sp_redis_set_auth(wrong, NULL, "not-the-password"), 0);
    cr_assert_neq(sp_redis_connect(wrong, err, sizeof err), 0);
    cr_expect(strstr(err, "AUTH") && sp_redis_auth_error(err), "%s", err);
    cr_expect_null(strstr(err, "not-the-password"), "the password is in the error: %s", err);
    sp_redis_destroy(wrong);

    sp_redis *dflt = sp_redis_new(addr, 2000, 2000);
    cr_assert_eq(sp_redis_set_auth(dflt, NULL, "d-pass"), 0);
    cr_assert_eq(sp_redis_connect(dflt, err, sizeof err), 0, "%s", err);
    set_then_get(dflt, 50, "dflt");
    sp_redis_destroy(dflt);

    sp_redis *user = sp_redis_new(addr, 2000, 2000);
    cr_assert_eq(sp_redis_set_auth(user, "spw", "w-pass"), 0);
    cr_assert_eq(sp_redis_connect(user, err, sizeof err), 0, "%s", err);
    r = sp_redis_cmd(user, err, sizeof err, "SET sp:auth-test 1");
    cr_expect(r && r->type == REDIS_REPLY_STATUS, "a key of the prefix: %s", r ? r->str : err);
    freeReplyObject(r);
    r = sp_redis_cmd(user, err, sizeof err, "SET other:auth-test 1");
    cr_expect(r && r->type == REDIS_REPLY_ERROR && sp_redis_auth_error(r->str),
              "a key outside the user's pattern is refused with NOPERM: %s",
              r && r->str ? r->str : err);
    freeReplyObject(r);
    sp_redis_destroy(user);
    /* the fixture's own connections: give them the password back */
    r = redisCommand(env.rc, "CONFIG SET requirepass %s", "");
    freeReplyObject(r);
}

/* A client for a TLS Redis with conf's files (relative to dir); connects or fails the
 * test when want_ok, else returns the error in err. */
static sp_redis *tls_client(const char *addr, const char *dir, const char *ca, const char *cert,
                            const char *key, const char *name, int timeout_ms, char *err,
                            size_t err_size)
{
    char f[3][600];
    const char *in[3] = {ca, cert, key};
    for (int i = 0; i < 3; i++)
        snprintf(f[i], sizeof f[i], "%s/%s", dir, in[i] ? in[i] : "");
    sp_redis_tls_conf t = {.enabled = 1,
                           .ca_file = ca ? f[0] : NULL,
                           .cert_file = cert ? f[1] : NULL,
                           .key_file = key ? f[2] : NULL,
                           .server_name = name};
    sp_redis *r = sp_redis_new(addr, timeout_ms, timeout_ms);
    cr_assert(r);
    cr_assert_eq(sp_redis_set_tls(r, &t, err, err_size), 0, "%s", err);
    return r;
}

/* TLS: the server's certificate is verified against the CA file and its name (the
 * address's host, or redis_tls_server_name), a client certificate is presented when
 * Redis asks for one, and every way this can be wrong is an error that names the
 * setting to fix, which sp_redis_auth_error takes as one (run exits 2). Batches of
 * thousands of commands (many TLS records each way), scripts and timeouts work over it. */
Test(redis_client, tls_verifies_the_server_and_presents_a_client_certificate,
     .fini = teardown, .timeout = 120)
{
    sp_env_start(&env, "tls", 1);
    sp_tls_certs(env.tmpdir);
    int port = sp_redis_enable_tls(env.rc, env.tmpdir, 1);
    const char *dir = env.tmpdir;
    char addr[64], local[64], err[512];
    snprintf(addr, sizeof addr, "rediss://127.0.0.1:%d", port);
    snprintf(local, sizeof local, "rediss://localhost:%d", port);

    sp_redis *ok = tls_client(addr, dir, "ca.crt", "client.crt", "client.key", NULL, 5000, err,
                              sizeof err);
    int id = sp_redis_script(ok, "return redis.call('INCRBY', KEYS[1], ARGV[1])");
    cr_assert_eq(sp_redis_connect(ok, err, sizeof err), 0, "%s", err);
    cr_expect(sp_redis_uses_tls(ok));
    set_then_get(ok, 20000, "tls");
    sp_redis_batch *b = sp_redis_batch_new();
    const char *argv[] = {"tls:script", "41"};
    sp_redis_batch_eval(b, id, 1, 1, argv, NULL);
    cr_assert_eq(sp_redis_batch_run(ok, b, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_redis_batch_reply(b, 0)->integer, 41);
    sp_redis_batch_destroy(b);
    redisReply *r = redisCommand(env.rc, "GET tls:19999");
    cr_expect(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "v19999") == 0,
              "written over TLS, read over the plain socket");
    freeReplyObject(r);
    sp_redis_destroy(ok);

    sp_redis *byname = tls_client(local, dir, "ca.crt", "client.crt", "client.key", NULL, 5000,
                                  err, sizeof err);
    cr_expect_eq(sp_redis_connect(byname, err, sizeof err), 0, "by DNS name: %s", err);
    sp_redis_destroy(byname);

    struct {
        const char *what, *ca, *cert, *key, *name, *says;
    } bad[] = {
        {"an unrelated CA", "other-ca.crt", "client.crt", "client.key", NULL,
         "certificate verify failed"},
        {"a name the certificate lacks", "ca.crt", "client.crt", "client.key", "redis.example",
         "hostname mismatch"},
        {"no client certificate", "ca.crt", NULL, NULL, NULL, "redis_tls_cert_file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sp_redis *c = tls_client(addr, dir, bad[i].ca, bad[i].cert, bad[i].key, bad[i].name,
                                 5000, err, sizeof err);
        cr_expect_neq(sp_redis_connect(c, err, sizeof err), 0, "%s: connected", bad[i].what);
        cr_expect(strstr(err, bad[i].says), "%s: %s", bad[i].what, err);
        cr_expect(sp_redis_auth_error(err), "%s is a setting to fix: %s", bad[i].what, err);
        sp_redis_destroy(c);
    }

    /* files that cannot be used are named when they are set, before any connection */
    sp_redis *files = sp_redis_new(addr, 2000, 2000);
    sp_redis_tls_conf t = {.enabled = 1, .ca_file = "/nonexistent/ca.pem"};
    cr_expect_neq(sp_redis_set_tls(files, &t, err, sizeof err), 0);
    cr_expect(strstr(err, "redis_tls_ca_file") && strstr(err, "/nonexistent/ca.pem"), "%s", err);
    char cert[600];
    snprintf(cert, sizeof cert, "%s/client.crt", dir);
    t = (sp_redis_tls_conf){.enabled = 1, .cert_file = cert};
    cr_expect_neq(sp_redis_set_tls(files, &t, err, sizeof err), 0);
    cr_expect(strstr(err, "redis_tls_key_file"), "a certificate without its key: %s", err);
    sp_redis_destroy(files);

    /* the command timeout holds over TLS: a paused Redis is a timeout, not a hang */
    sp_redis *slow = tls_client(addr, dir, "ca.crt", "client.crt", "client.key", NULL, 300, err,
                                sizeof err);
    cr_assert_eq(sp_redis_connect(slow, err, sizeof err), 0, "%s", err);
    r = redisCommand(env.rc, "CLIENT PAUSE 3000 WRITE");
    freeReplyObject(r);
    r = sp_redis_cmd(slow, err, sizeof err, "SET tls:paused 1");
    cr_expect_null(r, "a write went through a paused Redis");
    cr_expect(strstr(err, "timed out"), "%s", err);
    freeReplyObject(r);
    r = redisCommand(env.rc, "CLIENT UNPAUSE");
    freeReplyObject(r);
    sp_redis_destroy(slow);
}
