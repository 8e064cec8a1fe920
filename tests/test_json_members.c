/*
 * test_json_members.c - the fast reader (yajl) against the reference (jansson): for every
 * text, both give the same verdict, the same error text and the same member values.
 * Exhaustive where the libraries differ (UTF-8, escapes, whitespace, number range),
 * then a mutation fuzzer over generated events; the decode of each mutated message is
 * compared the same way. Also checks that ordinary events do take the fast reader.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/event.h"
#include "supportpulse/generator.h"
#include "supportpulse/json_members.h"

/* A small schema: three scalars and a list. */
enum { KA, KB, KN, KL, NK };

static int key_of(const char *k, size_t n)
{
    static const char *const names[NK] = {"a", "b", "n", "list"};
    for (int i = 0; i < NK; i++)
        if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
            return i;
    return -1;
}

static const sp_json_schema schema = {key_of, NK, KL};

static int jv_equal(const sp_jv *x, const sp_jv *y)
{
    if (x->type != y->type)
        return 0;
    if (x->type == SP_JV_INTEGER)
        return x->i == y->i;
    if (x->type == SP_JV_STRING)
        return x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
    return 1;
}

/* Reads text through both readers and asserts they agree; returns the verdict and
 * whether the fast reader took it. */
static sp_json_rc both(const char *text, size_t len, int *fast)
{
    static sp_json_doc fd, td; /* 11 KB each: off the stack */
    char fe[256] = "", te[256] = "";
    sp_json_rc frc = sp_json_members_read(&fd, &schema, text, len, fe, sizeof fe);
    sp_json_rc trc = sp_json_members_read_tree(&td, &schema, text, len, te, sizeof te);
    cr_assert_eq(frc, trc, "verdicts differ (%d vs %d) for [%.*s]", frc, trc, (int)len, text);
    cr_assert_str_eq(fe, te, "error texts differ for [%.*s]", (int)len, text);
    if (frc == SP_JSON_OK) {
        for (int k = 0; k < NK; k++)
            cr_assert(jv_equal(&fd.field[k], &td.field[k]), "member %d differs for [%.*s]",
                      k, (int)len, text);
        cr_assert_eq(fd.nitems, td.nitems, "list lengths differ for [%.*s]", (int)len, text);
        for (size_t i = 0; i < fd.nitems; i++)
            cr_assert(jv_equal(&fd.item[i], &td.item[i]), "item %zu differs for [%.*s]", i,
                      (int)len, text);
    }
    if (fast)
        *fast = !fd.via_tree;
    sp_json_members_release(&fd);
    sp_json_members_release(&td);
    return frc;
}

static sp_json_rc both_s(const char *text, int *fast)
{
    return both(text, strlen(text), fast);
}

Test(json_members, ordinary_objects_take_the_fast_reader_and_keep_their_values)
{
    static sp_json_doc d;
    char err[128];
    const char *t = "{\"a\":\"x\\\"y\",\"zz\":{\"a\":1},\"n\":-42,\"b\":null,\"list\":[\"p\",1]}";
    cr_assert_eq(sp_json_members_read(&d, &schema, t, strlen(t), err, sizeof err), SP_JSON_OK);
    cr_assert_eq(d.via_tree, 0);
    cr_assert_eq(d.field[KA].type, SP_JV_STRING);
    cr_assert_eq(d.field[KA].len, 3);
    cr_assert_eq(memcmp(d.field[KA].s, "x\"y", 3), 0);
    cr_assert_eq(d.field[KN].type, SP_JV_INTEGER);
    cr_assert_eq(d.field[KN].i, -42);
    cr_assert_eq(d.field[KB].type, SP_JV_NULL);
    cr_assert_eq(d.field[KL].type, SP_JV_ARRAY);
    cr_assert_eq(d.nitems, 2);
    cr_assert_eq(d.item[1].type, SP_JV_INTEGER);
    sp_json_members_release(&d);
    int fast;
    cr_assert_eq(both_s(t, &fast), SP_JSON_OK);
    cr_assert(fast);
}

/* Unescaped strings are not copied: a value far larger than the scratch space stays on
 * the fast reader and points into the message; an escaped one that large goes to
 * jansson. */
Test(json_members, long_strings_point_into_the_message)
{
    static char t[12000];
    static sp_json_doc d;
    char err[128];
    size_t n = (size_t)sprintf(t, "{\"a\":\"");
    size_t at = n;
    memset(t + n, 'x', 5000);
    n += 5000;
    n += (size_t)sprintf(t + n, "\"}");
    cr_assert_eq(sp_json_members_read(&d, &schema, t, n, err, sizeof err), SP_JSON_OK);
    cr_assert_eq(d.via_tree, 0);
    cr_assert_eq(d.field[KA].len, 5000);
    cr_assert_eq(d.field[KA].s, t + at);
    sp_json_members_release(&d);
    for (size_t i = at; i < at + 5000; i += 2)
        t[i] = '\\', t[i + 1] = 'n';
    cr_assert_eq(sp_json_members_read(&d, &schema, t, n, err, sizeof err), SP_JSON_OK);
    cr_assert_eq(d.via_tree, 1);
    cr_assert_eq(d.field[KA].len, 2500);
    sp_json_members_release(&d);
    cr_assert_eq(both(t, n, NULL), SP_JSON_OK);
}

/* Each of these is where yajl and jansson part ways: the fast reader must decline,
 * and the answer is jansson's. */
Test(json_members, where_the_libraries_differ_jansson_decides)
{
    static const struct {
        const char *text;
        sp_json_rc want;
    } rows[] = {
        {"{\"a\":\"x\\u0000y\"}", SP_JSON_INVALID},        /* NUL */
        {"{\"a\":\"\\ud800\"}", SP_JSON_INVALID},          /* lone high surrogate */
        {"{\"a\":\"\\udc00\"}", SP_JSON_INVALID},          /* lone low surrogate */
        {"{\"a\":\"\\ud800\\u0041\"}", SP_JSON_INVALID},   /* high, then not a low */
        {"{\"a\":\"\\ud83d\\ude00\"}", SP_JSON_OK},        /* a pair: U+1F600 */
        {"{\"a\":\"\\u00e9\\u20ac\"}", SP_JSON_OK},        /* BMP escapes */
        {"{\"a\":\"\xc0\xaf\"}", SP_JSON_INVALID_UTF8},    /* overlong */
        {"{\"a\":\"\xed\xa0\x80\"}", SP_JSON_INVALID_UTF8}, /* UTF-8 surrogate */
        {"{\"a\":\"\xf4\x90\x80\x80\"}", SP_JSON_INVALID_UTF8}, /* above U+10FFFF */
        {"{\"a\":\"\xe2\x82\"}", SP_JSON_INVALID_UTF8},    /* truncated */
        {"{\"a\":\"caf\xc3\xa9\"}", SP_JSON_OK},
        {"{\f\"a\":1}", SP_JSON_INVALID},                  /* \f is not JSON whitespace */
        {"{\v\"a\":1}", SP_JSON_INVALID},
        {"{\"a\":\"tab\there\"}", SP_JSON_INVALID},        /* raw control in a string */
        {"{\"n\":9223372036854775807}", SP_JSON_OK},
        {"{\"n\":9223372036854775808}", SP_JSON_INVALID},  /* too big an integer */
        {"{\"n\":-9223372036854775808}", SP_JSON_OK},
        {"{\"n\":-9223372036854775809}", SP_JSON_INVALID},
        {"{\"n\":1e999}", SP_JSON_INVALID},                /* real overflow */
        {"{\"n\":1e-999}", SP_JSON_OK},                    /* underflow is fine */
        {"{\"n\":-0}", SP_JSON_OK},
        {"{\"n\":1.5}", SP_JSON_OK},
        {"{\"n\":01}", SP_JSON_INVALID},
        {"{\"a\":1,\"a\":\"last\"}", SP_JSON_OK},          /* a repeated name: the last */
        {"{\"list\":[\"x\"],\"list\":7}", SP_JSON_OK},
        {"{\"list\":7,\"list\":[\"y\",\"z\"]}", SP_JSON_OK},
        {"[1,2]", SP_JSON_NOT_OBJECT},
        {"\"a\"", SP_JSON_NOT_OBJECT},
        {"17", SP_JSON_NOT_OBJECT},
        {"null", SP_JSON_NOT_OBJECT},
        {"{} {}", SP_JSON_INVALID},
        {"{}x", SP_JSON_INVALID},
        {"{\"a\":1}\"", SP_JSON_INVALID},                /* a token left open after it */
        {"{\"a\":1}\"abc", SP_JSON_INVALID},
        {"{\"a\":1}\"abc\"", SP_JSON_INVALID},
        {"{}1", SP_JSON_INVALID},
        {"{} -", SP_JSON_INVALID},
        {"{}t", SP_JSON_INVALID},
        {"{}[", SP_JSON_INVALID},
        {"{}{", SP_JSON_INVALID},
        {"{}\\", SP_JSON_INVALID},
        {"{} \n\t\r", SP_JSON_OK},
        {"", SP_JSON_INVALID},
        {"   ", SP_JSON_INVALID},
        {"{\"a\":1,}", SP_JSON_INVALID},
        {"{\"a\":1 /* c */}", SP_JSON_INVALID},
        {"{\"a\":tru}", SP_JSON_INVALID},
        {"{'a':1}", SP_JSON_INVALID},
        {"{\"a\":\"\\x\"}", SP_JSON_INVALID},
        {"{\"a\":\"\\u12\"}", SP_JSON_INVALID},
        {"{\"\\u0061\":\"escaped name\"}", SP_JSON_OK},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cr_assert_eq(both_s(rows[i].text, NULL), rows[i].want, "row %zu: %s", i, rows[i].text);
    /* a NUL byte inside the text (json_loadb takes a length) */
    static const char nul[] = "{\"a\":1}\0";
    cr_assert_eq(both(nul, sizeof nul - 1, NULL), SP_JSON_INVALID);
}

Test(json_members, nesting_past_the_fast_limit_reads_the_same)
{
    char t[4 * 3000 + 64];
    for (int depth = 60; depth <= 2100; depth += depth < 70 ? 1 : 500) {
        size_t n = 0;
        n += (size_t)sprintf(t + n, "{\"a\":\"x\",\"deep\":");
        for (int i = 0; i < depth; i++)
            t[n++] = '[';
        for (int i = 0; i < depth; i++)
            t[n++] = ']';
        n += (size_t)sprintf(t + n, ",\"n\":3}");
        both(t, n, NULL);
    }
}

Test(json_members, a_long_list_keeps_its_first_items_on_both_readers)
{
    char t[8192];
    size_t n = (size_t)sprintf(t, "{\"list\":[");
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(t + n, "%s\"q%d\"", i ? "," : "", i);
    n += (size_t)sprintf(t + n, "]}");
    int fast;
    cr_assert_eq(both(t, n, &fast), SP_JSON_OK);
    cr_assert(fast);
}

/* 1 when no byte of s is one a JSON string cannot hold raw (controls, quote, backslash). */
static int plain_text(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
            return 0;
    return 1;
}

/* Every string of one and two bytes, and every three- and four-byte string over the
 * boundary values of its continuation bytes, judged by jansson and by sp_utf8_valid. */
Test(json_members, utf8_is_judged_as_jansson_judges_it)
{
    static const unsigned char cont[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
                                         0xbf, 0xc0, 0xff};
    size_t nc = sizeof cont;
    unsigned char s[8];
    size_t checked = 0;
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 257; b++) {
            size_t n = 0;
            s[n++] = (unsigned char)a;
            if (b < 256)
                s[n++] = (unsigned char)b;
            if (!plain_text(s, n))
                continue; /* jansson would stop at the byte before judging the UTF-8 */
            char text[16];
            text[0] = '"';
            memcpy(text + 1, s, n);
            text[n + 1] = '"';
            json_error_t e;
            json_t *j = json_loadb(text, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
            int jansson_ok = j || json_error_code(&e) != json_error_invalid_utf8;
            json_decref(j);
            cr_assert_eq(sp_utf8_valid(s, n), jansson_ok, "bytes %02x %02x", a, b);
            checked++;
            if (a < 0xe0 || b == 256)
                continue;
            for (size_t x = 0; x < nc; x++)
                for (size_t y = 0; y < (a >= 0xf0 ? nc : 1); y++) {
                    size_t m = 2;
                    s[m++] = cont[x];
                    if (a >= 0xf0)
                        s[m++] = cont[y];
                    if (!plain_text(s, m))
                        continue;
                    text[0] = '"';
                    memcpy(text + 1, s, m);
                    text[m + 1] = '"';
                    j = json_loadb(text, m + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
                    jansson_ok = j || json_error_code(&e) != json_error_invalid_utf8;
                    json_decref(j);
                    cr_assert_eq(sp_utf8_valid(s, m), jansson_ok, "bytes %02x %02x %02x ..",
                                 a, b, cont[x]);
                    checked++;
                }
        }
    cr_assert_gt(checked, 65536);
}

/* ---- the mutation fuzzer ---------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Replaces, inserts, appends or deletes a few bytes, drawing from what parsers
 * disagree on. */
static size_t mutate(char *m, size_t n, size_t cap)
{
    static const char *const pieces[] = {
        "\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u00e9", "\\\\u", "\\", "\"",
        "{", "}", "[", "]", ",", ":", "1e999", "9223372036854775808", "-0", "1.5", "\xc3\xa9",
        "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\f", "\v", "\t", "\x01",
        "null", "true", "\"type\":\"call.offered\"", "\"ts\":1", "\"queues\":[\"a\",2]",
        "\"v\":1.0", "\"id\":\"\"", " ",
    };
    int edits = 1 + (int)(next_rand() % 3);
    for (int e = 0; e < edits && n > 0; e++) {
        size_t at = next_rand() % n;
        const char *p = pieces[next_rand() % (sizeof pieces / sizeof pieces[0])];
        size_t pl = strlen(p);
        switch (next_rand() % 4) {
        case 2: /* append after the object: trailing text, a token left open */
            if (n + pl + 1 >= cap)
                break;
            if (next_rand() % 2)
                m[n++] = ' ';
            memcpy(m + n, p, pl);
            n += pl;
            break;
        case 0: /* insert */
            if (n + pl >= cap)
                break;
            memmove(m + at + pl, m + at, n - at);
            memcpy(m + at, p, pl);
            n += pl;
            break;
        case 1: /* replace one byte */
            m[at] = p[0] ? p[0] : 'x';
            break;
        default: /* delete a few bytes */
            {
                size_t k = 1 + next_rand() % 4;
                if (at + k > n)
                    k = n - at;
                memmove(m + at, m + at + k, n - at - k);
                n -= k;
            }
        }
    }
    return n;
}

static void decode_both(const char *m, size_t n)
{
    sp_event a, b;
    sp_reject_reason ra, rb;
    char ea[256] = "", eb[256] = "";
    int rca = sp_event_decode(m, n, &a, &ra, ea, sizeof ea);
    int rcb = sp_event_decode_tree(m, n, &b, &rb, eb, sizeof eb);
    cr_assert_eq(rca, rcb, "decode verdicts differ for [%.*s]", (int)n, m);
    cr_assert_eq(ra, rb, "reasons differ for [%.*s]", (int)n, m);
    cr_assert_str_eq(ea, eb, "details differ for [%.*s]", (int)n, m);
    if (rca != 0)
        return;
    cr_assert(a.type == b.type && a.ts_ms == b.ts_ms && a.channel == b.channel &&
              a.author == b.author && a.from == b.from && a.status == b.status &&
              a.score == b.score && a.acw_ms == b.acw_ms && a.hold_ms == b.hold_ms &&
              a.ivr_ms == b.ivr_ms && a.case_is_call == b.case_is_call &&
              a.id_hash == b.id_hash && a.case_key == b.case_key && a.nqueues == b.nqueues,
              "decoded events differ for [%.*s]", (int)n, m);
    cr_assert(!strcmp(a.id, b.id) && !strcmp(a.case_id, b.case_id) &&
              !strcmp(a.queue, b.queue) && !strcmp(a.agent_id, b.agent_id) &&
              !strcmp(a.tenant, b.tenant) && !strcmp(a.to_queue, b.to_queue),
              "decoded strings differ for [%.*s]", (int)n, m);
    size_t qa = 0;
    for (int i = 0; i < a.nqueues; i++)
        qa += strlen(a.queues + qa) + 1;
    cr_assert_eq(memcmp(a.queues, b.queues, qa), 0, "queues differ for [%.*s]", (int)n, m);
}

Test(json_members, mutated_events_read_and_decode_the_same_on_both_readers)
{
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.seed = 11;
    gc.malformed = 0.05;
    char err[256];
    sp_gen *g = sp_gen_new(&gc, err, sizeof err);
    cr_assert_not_null(g, "%s", err);
    size_t fast_plain = 0, fast_rejected = 0, runs = 0, ok_events = 0;
    char m[4096];
    for (int i = 0; i < 4000; i++) {
        sp_gen_msg g_m;
        cr_assert_eq(sp_gen_next(g, &g_m), 0);
        if (g_m.value_len >= sizeof m / 2)
            continue;
        for (int k = 0; k < 6; k++) {
            memcpy(m, g_m.value, g_m.value_len);
            size_t n = k ? mutate(m, g_m.value_len, sizeof m) : g_m.value_len;
            int fast;
            sp_json_rc rc = both(m, n, &fast);
            fast_plain += k == 0 && fast && rc == SP_JSON_OK;
            fast_rejected += !fast && rc == SP_JSON_OK;
            decode_both(m, n);
            ok_events += k == 0 && rc == SP_JSON_OK;
            runs++;
        }
    }
    sp_gen_destroy(g);
    /* both paths were exercised, and ordinary events take the fast one */
    cr_assert_geq(fast_plain * 100, ok_events * 99, "fast %zu of %zu", fast_plain, ok_events);
    cr_assert_gt(fast_rejected, 100, "only %zu texts went to jansson and parsed", fast_rejected);
    cr_assert_gt(runs, 20000);
}
