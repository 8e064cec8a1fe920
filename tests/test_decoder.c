/*
 * test_decoder.c - the input contract (shared/spec/events.md): a table of accepted and
 * rejected messages, each rejection with its reason, plus the event-time parser.
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/event.h"

#define T0 "\"ts\":\"2026-11-22T10:15:30.123Z\""
#define TS_MS 1795342530123LL

static sp_reject_reason decode(const char *json, sp_event *ev)
{
    sp_reject_reason r;
    char err[256];
    int rc = sp_event_decode(json, strlen(json), ev, &r, err, sizeof err);
    cr_assert((rc == 0) == (r == SP_REJ_NONE), "rc and reason disagree for %s", json);
    if (rc < 0)
        cr_assert(err[0], "a rejection must explain itself: %s", json);
    return r;
}

typedef struct {
    const char *json;
    sp_reject_reason want;
} row;

static const row table[] = {
    /* accepted */
    {"{\"id\":\"e1\",\"type\":\"ticket.created\"," T0 ",\"ticket_id\":\"T1\",\"queue\":\"payments\",\"channel\":\"email\"}", SP_REJ_NONE},
    {"{\"v\":1,\"id\":\"e1\",\"type\":\"call.offered\",\"ts\":1795342530123,\"call_id\":\"C1\",\"queue\":\"payments\"}", SP_REJ_NONE},
    {"{\"id\":\"e1\",\"type\":\"ticket.replied\"," T0 ",\"ticket_id\":\"T1\",\"author\":\"bot\"}", SP_REJ_NONE},
    {"{\"id\":\"e1\",\"type\":\"survey.nps\"," T0 ",\"score\":0}", SP_REJ_NONE},
    {"{\"id\":\"e1\",\"type\":\"agent.status\"," T0 ",\"agent_id\":\"a1\",\"status\":\"away\",\"queues\":[\"x\"]}", SP_REJ_NONE},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\",\"extra\":{\"deep\":[1,2,{}]}}", SP_REJ_NONE},
    {"{\"id\":\"e1\",\"type\":\"survey.csat\"," T0 ",\"call_id\":\"C1\",\"score\":5,\"comment\":\"\\ud83d\\ude00 great\"}", SP_REJ_NONE},
    {"{\"id\":\"e1\",\"type\":\"call.wrapup\"," T0 ",\"call_id\":\"C1\",\"acw_ms\":0}", SP_REJ_NONE},
    {"{\"id\":\"e1\",\"type\":\"call.wrapup\"," T0 ",\"call_id\":\"C1\",\"acw_ms\":86400000}", SP_REJ_NONE},
    /* not JSON, not an object */
    {"not json", SP_REJ_INVALID_JSON},
    {"", SP_REJ_INVALID_JSON},
    {"{\"id\":\"e1\",", SP_REJ_INVALID_JSON},
    {"{\"id\":\"a\\u0000b\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_INVALID_JSON},
    {"{\"id\":\"\\ud83d\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_INVALID_JSON},
    {"[1,2]", SP_REJ_NOT_OBJECT},
    {"\"text\"", SP_REJ_NOT_OBJECT},
    {"{\"id\":\"e\xc3\x28\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_INVALID_UTF8},
    {"{\"id\":\"e\xff\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_INVALID_UTF8},
    /* envelope */
    {"{\"v\":2,\"id\":\"e1\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_UNKNOWN_VERSION},
    {"{\"v\":\"1\",\"id\":\"e1\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_WRONG_TYPE},
    {"{\"id\":\"e1\",\"type\":\"ticket.exploded\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_UNKNOWN_TYPE},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed.and.some.very.long.suffix.beyond\"," T0 "}", SP_REJ_UNKNOWN_TYPE},
    {"{\"id\":\"e1\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":7," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_WRONG_TYPE},
    {"{\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":42,\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_WRONG_TYPE},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ticket_id\":\"T1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":\"yesterday\",\"ticket_id\":\"T1\"}", SP_REJ_BAD_TS},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":\"2026-11-22T10:15:30\",\"ticket_id\":\"T1\"}", SP_REJ_BAD_TS},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":\"2026-02-30T10:15:30Z\",\"ticket_id\":\"T1\"}", SP_REJ_BAD_TS},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":\"2026-11-22T24:00:00Z\",\"ticket_id\":\"T1\"}", SP_REJ_BAD_TS},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":\"2026-11-22T10:15:30+8:00\",\"ticket_id\":\"T1\"}", SP_REJ_BAD_TS},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":1.5,\"ticket_id\":\"T1\"}", SP_REJ_BAD_TS},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":-5,\"ticket_id\":\"T1\"}", SP_REJ_BAD_TS},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":true,\"ticket_id\":\"T1\"}", SP_REJ_BAD_TS},
    {"{\"id\":\"e1\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\",\"tenant\":\"\"}", SP_REJ_OUT_OF_RANGE},
    /* per type */
    {"{\"id\":\"e1\",\"type\":\"ticket.created\"," T0 ",\"ticket_id\":\"T1\",\"channel\":\"email\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"ticket.created\"," T0 ",\"ticket_id\":\"T1\",\"queue\":\"payments\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"ticket.created\"," T0 ",\"queue\":\"payments\",\"channel\":\"email\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"ticket.created\"," T0 ",\"ticket_id\":\"T1\",\"queue\":\"payments\",\"channel\":\"fax\"}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"ticket.created\"," T0 ",\"ticket_id\":\"T1\",\"queue\":7,\"channel\":\"email\"}", SP_REJ_WRONG_TYPE},
    {"{\"id\":\"e1\",\"type\":\"ticket.replied\"," T0 ",\"ticket_id\":\"T1\",\"author\":\"agent\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"ticket.replied\"," T0 ",\"ticket_id\":\"T1\",\"author\":\"robot\"}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"ticket.replied\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"ticket.escalated\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"ticket.transferred\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"ticket.assigned\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C1\",\"queue\":\"q\",\"ivr_ms\":-1}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"call.answered\"," T0 ",\"call_id\":\"C1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"call.answered\"," T0 ",\"agent_id\":\"a\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"call.wrapup\"," T0 ",\"call_id\":\"C1\",\"acw_ms\":-1}", SP_REJ_OUT_OF_RANGE},
    /* more than a day: a producer's bug, not clamped */
    {"{\"id\":\"e1\",\"type\":\"call.wrapup\"," T0 ",\"call_id\":\"C1\",\"acw_ms\":86400001}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"call.wrapup\"," T0 ",\"call_id\":\"C1\",\"acw_ms\":9000000000000}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"call.ended\"," T0 ",\"call_id\":\"C1\",\"hold_ms\":86400001}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C1\",\"queue\":\"q\",\"ivr_ms\":86400001}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"call.wrapup\"," T0 ",\"call_id\":\"C1\",\"acw_ms\":\"10\"}", SP_REJ_WRONG_TYPE},
    {"{\"id\":\"e1\",\"type\":\"call.wrapup\"," T0 ",\"call_id\":\"C1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"call.ended\"," T0 ",\"call_id\":\"C1\",\"hold_ms\":1.5}", SP_REJ_WRONG_TYPE},
    {"{\"id\":\"e1\",\"type\":\"call.transferred\"," T0 ",\"call_id\":\"C1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"survey.csat\"," T0 ",\"ticket_id\":\"T1\",\"score\":6}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"survey.csat\"," T0 ",\"ticket_id\":\"T1\",\"score\":0}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"survey.csat\"," T0 ",\"ticket_id\":\"T1\",\"score\":4.5}", SP_REJ_WRONG_TYPE},
    {"{\"id\":\"e1\",\"type\":\"survey.csat\"," T0 ",\"ticket_id\":\"T1\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"survey.csat\"," T0 ",\"score\":4}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"survey.nps\"," T0 ",\"score\":11}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"survey.nps\"," T0 ",\"score\":-1}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"agent.status\"," T0 ",\"agent_id\":\"a1\",\"status\":\"lunch\"}", SP_REJ_OUT_OF_RANGE},
    {"{\"id\":\"e1\",\"type\":\"agent.status\"," T0 ",\"status\":\"busy\"}", SP_REJ_MISSING_FIELD},
    {"{\"id\":\"e1\",\"type\":\"agent.status\"," T0 ",\"agent_id\":\"a1\",\"status\":\"busy\",\"queues\":\"x\"}", SP_REJ_WRONG_TYPE},
    {"{\"id\":\"e1\",\"type\":\"agent.status\"," T0 ",\"agent_id\":\"a1\",\"status\":\"busy\",\"queues\":[\"x\",3]}", SP_REJ_WRONG_TYPE},
    {"{\"id\":\"e1\",\"type\":\"agent.status\"," T0 ",\"agent_id\":\"a1\",\"status\":\"busy\",\"queues\":[\"\"]}", SP_REJ_OUT_OF_RANGE},
};

Test(decoder, table_of_inputs)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        sp_event ev;
        sp_reject_reason got = decode(table[i].json, &ev);
        cr_expect_eq(got, table[i].want, "row %zu: %s -> %s, want %s", i, table[i].json,
                     sp_reject_reason_name(got), sp_reject_reason_name(table[i].want));
    }
}

Test(decoder, fields_of_an_accepted_event)
{
    sp_event ev;
    cr_assert_eq(decode("{\"id\":\"e9\",\"type\":\"ticket.created\",\"ts\":\"2026-11-22T18:15:30.123+08:00\","
                        "\"ticket_id\":\"T-77\",\"queue\":\"\\u6280\\u672f\\u652f\\u6301\",\"channel\":\"in_app\","
                        "\"tenant\":\"wallet-hk\",\"priority\":\"urgent\"}", &ev), SP_REJ_NONE);
    cr_expect_eq(ev.type, SP_EV_TICKET_CREATED);
    cr_expect_eq(ev.ts_ms, TS_MS, "offset +08:00 converts to UTC");
    cr_expect_str_eq(ev.id, "e9");
    cr_expect_str_eq(ev.case_id, "T-77");
    cr_expect_eq(ev.case_is_call, 0);
    cr_expect_str_eq(ev.queue, "技术支持", "\\u escapes decode to UTF-8");
    cr_expect_eq(ev.channel, SP_CH_IN_APP);
    cr_expect_str_eq(ev.tenant, "wallet-hk");
}

/* The member names are matched by length and a letter or two, then compared whole: a
 * name that differs from a schema field in any other letter is an unknown member
 * (ignored), never taken for the field. */
Test(decoder, only_exact_member_names_are_fields)
{
    sp_event ev;
    cr_assert_eq(decode("{\"id\":\"e1\",\"type\":\"call.ended\",\"ts\":1795342530123,\"call_id\":\"C1\","
                        "\"queue\":\"payments\",\"channel\":\"chat\",\"agent_id\":\"a7\","
                        "\"hold_ms\":30,\"tenant\":\"t1\","
                        "\"callid\":\"X\",\"call_iD\":\"X\",\"queuE\":\"X\",\"chanel\":\"X\",\"channeL\":\"X\","
                        "\"agent_iD\":\"X\",\"hold_mS\":1,\"hold_ms_\":1,\"ivr_mz\":1,\"tenanT\":\"X\","
                        "\"t\":1,\"iD\":\"X\",\"tS\":1,\"typ\":\"X\",\"vv\":2,\"V\":2}", &ev),
                 SP_REJ_NONE);
    cr_expect_str_eq(ev.case_id, "C1");
    cr_expect_str_eq(ev.queue, "payments");
    cr_expect_eq(ev.channel, SP_CH_CHAT);
    cr_expect_str_eq(ev.agent_id, "a7");
    cr_expect_eq(ev.hold_ms, 30);
    cr_expect_str_eq(ev.tenant, "t1");
    cr_expect_str_eq(ev.id, "e1");
    cr_expect_eq(ev.ts_ms, TS_MS);
    /* a near miss of a required field leaves it missing */
    cr_expect_eq(decode("{\"id\":\"e1\",\"type\":\"call.ended\",\"ts\":1795342530123,\"cal_id\":\"C1\"}", &ev),
                 SP_REJ_MISSING_FIELD);
    cr_expect_eq(decode("{\"id\":\"e1\",\"type\":\"ticket.solved\",\"ts\":1795342530123,\"ticket_iD\":\"T1\"}", &ev),
                 SP_REJ_MISSING_FIELD);
    cr_expect_eq(decode("{\"id\":\"e1\",\"type\":\"call.wrapup\",\"ts\":1795342530123,\"call_id\":\"C1\",\"acw_mss\":1}", &ev),
                 SP_REJ_MISSING_FIELD);
}

Test(decoder, call_defaults)
{
    sp_event ev;
    cr_assert_eq(decode("{\"id\":\"e1\",\"type\":\"call.offered\",\"ts\":1795342530123,\"call_id\":\"C1\","
                        "\"queue\":\"payments\",\"ivr_ms\":1200}", &ev), SP_REJ_NONE);
    cr_expect_eq(ev.channel, SP_CH_PHONE, "a call's channel defaults to phone");
    cr_expect_str_eq(ev.tenant, "default", "an absent tenant is 'default'");
    cr_expect_eq(ev.case_is_call, 1);
    cr_expect_eq(ev.ivr_ms, 1200);
    cr_expect_eq(ev.ts_ms, TS_MS);
}

Test(decoder, string_length_limits)
{
    char buf[1024];
    char q64[65], q65[66], id128[129], id129[130];
    memset(q64, 'q', 64), q64[64] = 0;
    memset(q65, 'q', 65), q65[65] = 0;
    memset(id128, 'i', 128), id128[128] = 0;
    memset(id129, 'i', 129), id129[129] = 0;
    sp_event ev;
    snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C\",\"queue\":\"%s\"}", id128, q64);
    cr_expect_eq(decode(buf, &ev), SP_REJ_NONE, "128-byte id and 64-byte queue are allowed");
    snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C\",\"queue\":\"q\"}", id129);
    cr_expect_eq(decode(buf, &ev), SP_REJ_OUT_OF_RANGE, "129-byte id");
    snprintf(buf, sizeof buf, "{\"id\":\"e\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C\",\"queue\":\"%s\"}", q65);
    cr_expect_eq(decode(buf, &ev), SP_REJ_OUT_OF_RANGE, "65-byte queue");
    /* a 64-byte limit counts bytes, not characters: 22 three-byte characters = 66 bytes */
    snprintf(buf, sizeof buf, "{\"id\":\"e\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C\",\"queue\":\"%s\"}",
             "技技技技技技技技技技技技技技技技技技技技技技");
    cr_expect_eq(decode(buf, &ev), SP_REJ_OUT_OF_RANGE, "66-byte UTF-8 queue");
}

Test(decoder, rejection_detail_names_the_field)
{
    sp_event ev;
    sp_reject_reason r;
    char err[256];
    const char *j = "{\"id\":\"e1\",\"type\":\"survey.csat\"," T0 ",\"ticket_id\":\"T1\",\"score\":9}";
    cr_assert_eq(sp_event_decode(j, strlen(j), &ev, &r, err, sizeof err), -1);
    cr_expect(strstr(err, "score") != NULL, "detail: %s", err);
    cr_expect(strstr(err, "1..5") != NULL, "detail gives the range: %s", err);
}

Test(timestamp, rfc3339_forms)
{
    struct { const char *s; long long ms; } ok[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-11-22T10:15:30.123Z", TS_MS},
        {"2026-11-22t10:15:30.123z", TS_MS},
        {"2026-11-22 10:15:30.123Z", TS_MS},
        {"2026-11-22T18:15:30.123+08:00", TS_MS},
        {"2026-11-22T05:45:30.123-04:30", TS_MS},
        {"2026-11-22T10:15:30.1239999Z", TS_MS},
        {"2026-11-22T10:15:30.1Z", TS_MS - 23},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
        {"2016-12-31T23:59:60Z", 1483228800000LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms;
        cr_expect_eq(sp_ts_parse_rfc3339(ok[i].s, strlen(ok[i].s), &ms), 0, "%s", ok[i].s);
        cr_expect_eq(ms, ok[i].ms, "%s -> %lld", ok[i].s, (long long)ms);
    }
    const char *bad[] = {"2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-22T10:15:30",
                         "2026-11-22T10:15:30.Z", "2026-11-22T10:15Z", "2026-11-22T10:15:30+24:00",
                         "2026-11-22T10:15:30Zjunk", "26-11-22T10:15:30Z", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        cr_expect_eq(sp_ts_parse_rfc3339(bad[i], strlen(bad[i]), &ms), -1, "%s", bad[i]);
    }
}

Test(timestamp, format_round_trips)
{
    char buf[40];
    int64_t back;
    int64_t samples[] = {0, TS_MS, 951782400000LL, 4102444799999LL};
    for (size_t i = 0; i < 4; i++) {
        sp_ts_format(samples[i], buf, sizeof buf);
        cr_assert_eq(sp_ts_parse_rfc3339(buf, strlen(buf), &back), 0, "%s", buf);
        cr_expect_eq(back, samples[i], "%s", buf);
    }
}

Test(decoder, agent_queues_are_packed_and_bounded)
{
    sp_event ev;
    sp_reject_reason why;
    char err[256];
    const char *ok = "{\"id\":\"e1\",\"type\":\"agent.status\",\"ts\":1795342530123,"
                     "\"agent_id\":\"a1\",\"status\":\"busy\",\"queues\":[\"payments\",\"技术支持\"]}";
    cr_assert_eq(sp_event_decode(ok, strlen(ok), &ev, &why, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ev.nqueues, 2);
    cr_assert_str_eq(ev.queues, "payments");
    cr_assert_str_eq(ev.queues + strlen("payments") + 1, "技术支持");
    /* 8 queues of 64 bytes fit no more: 520 bytes with their NULs */
    char big[2048] = "{\"id\":\"e1\",\"type\":\"agent.status\",\"ts\":1795342530123,"
                     "\"agent_id\":\"a1\",\"status\":\"busy\",\"queues\":[";
    for (int i = 0; i < 8; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"%064d\"", i ? "," : "", i);
    strcat(big, "]}");
    cr_assert_eq(sp_event_decode(big, strlen(big), &ev, &why, err, sizeof err), -1);
    cr_assert_eq(why, SP_REJ_OUT_OF_RANGE);
    cr_assert_not_null(strstr(err, "queues"), "%s", err);
}

/* A message whose tree outgrows the decoder's 32 KB arena: the values that spill to
 * malloc are freed (the heap does not grow over many decodes), and the fields are
 * read as from a small one. Under AddressSanitizer the arena is off and its leak
 * check covers the same path. */
Test(decoder, a_message_larger_than_the_arena_is_decoded_and_freed)
{
    size_t cap = 128 * 1024, n = 0;
    char *big = malloc(cap);
    cr_assert_not_null(big);
    n += (size_t)snprintf(big, cap, "{\"id\":\"e1\",\"type\":\"ticket.created\"," T0
                          ",\"ticket_id\":\"T1\",\"queue\":\"payments\",\"channel\":\"email\"");
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(big + n, cap - n, ",\"extra_%d\":\"%032d\"", i, i);
    n += (size_t)snprintf(big + n, cap - n, "}");
    cr_assert_lt(n, cap);
    sp_event ev;
    cr_assert_eq(decode(big, &ev), SP_REJ_NONE);
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(decode(big, &ev), SP_REJ_NONE);
        cr_assert_str_eq(ev.case_id, "T1");
        cr_assert_eq(ev.channel, SP_CH_EMAIL);
    }
    size_t after = mallinfo2().uordblks;
    /* one leaked tree is > 100 KB; 200 would be > 20 MB */
    cr_expect_lt(after, before + 64 * 1024, "heap grew from %zu to %zu bytes", before, after);
    free(big);
}

/* Names are one name however they are typed: surrounding whitespace (ASCII, NBSP,
 * the ideographic space) is trimmed, the rest put in NFC, case kept; an event whose name
 * changed says so (counted in {p}:meta normalized_names). A channel is trimmed too. */
Test(decoder, names_are_trimmed_and_nfc_normalized)
{
    static const struct {
        const char *field_json, *want;
        int changed;
    } rows[] = {
        {"\"queue\":\"Payments\"", "Payments", 0},
        {"\"queue\":\"Payments \"", "Payments", 1},
        {"\"queue\":\"\\t Payments\\n\"", "Payments", 1},
        {"\"queue\":\"\xc2\xa0Refunds\xe3\x80\x80\"", "Refunds", 1},  /* NBSP, U+3000 */
        {"\"queue\":\"Cafe\xcc\x81\"", "Caf\xc3\xa9", 1},                /* e + U+0301 -> é */
        {"\"queue\":\"Caf\xc3\xa9\"", "Caf\xc3\xa9", 0},
        {"\"queue\":\"\xe6\x8a\x80\xe6\x9c\xaf\xe6\x94\xaf\xe6\x8c\x81\"",
         "\xe6\x8a\x80\xe6\x9c\xaf\xe6\x94\xaf\xe6\x8c\x81", 0},       /* 技术支持 */
        {"\"queue\":\"payments\"", "payments", 0},                       /* case kept */
        {"\"queue\":\"a b\"", "a b", 0},                                 /* inner space kept */
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char buf[512];
        snprintf(buf, sizeof buf, "{\"id\":\"e\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C\","
                 "%s,\"channel\":\" chat \"}", rows[i].field_json);
        sp_event ev;
        cr_assert_eq(decode(buf, &ev), SP_REJ_NONE, "%s", buf);
        cr_expect_str_eq(ev.queue, rows[i].want, "row %zu", i);
        cr_expect_eq(ev.channel, SP_CH_CHAT, "row %zu: the channel is trimmed", i);
        cr_expect_eq(ev.normalized, 1, "row %zu: the channel was trimmed", i);
    }
    const char *tight = "{\"id\":\"e\",\"type\":\"call.answered\"," T0 ",\"call_id\":\"C\","
                        "\"agent_id\":\"a1\",\"tenant\":\"t1\"}";
    sp_event ev;
    cr_assert_eq(decode(tight, &ev), SP_REJ_NONE);
    cr_expect_eq(ev.normalized, 0, "nothing to change");
    const char *padded = "{\"id\":\"e\",\"type\":\"agent.status\"," T0 ",\"agent_id\":\" a1\","
                         "\"tenant\":\"t1 \",\"status\":\"busy\",\"queues\":[\" x\",\"y\"]}";
    cr_assert_eq(decode(padded, &ev), SP_REJ_NONE);
    cr_expect_str_eq(ev.agent_id, "a1");
    cr_expect_str_eq(ev.tenant, "t1");
    cr_expect_str_eq(ev.queues, "x");
    cr_expect_eq(ev.normalized, 1);
    /* 64 bytes after trimming are allowed; only spaces is no name */
    char buf[512], q64[65];
    memset(q64, 'q', 64), q64[64] = 0;
    snprintf(buf, sizeof buf, "{\"id\":\"e\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C\","
             "\"queue\":\"  %s  \"}", q64);
    cr_expect_eq(decode(buf, &ev), SP_REJ_NONE, "64 bytes once trimmed");
    const char *blank = "{\"id\":\"e\",\"type\":\"call.offered\"," T0 ",\"call_id\":\"C\","
                        "\"queue\":\"   \"}";
    cr_expect_eq(decode(blank, &ev), SP_REJ_OUT_OF_RANGE, "only whitespace");
}

/* The detail of a dead letter names the field and echoes the value it refused: escaped
 * as JSON, at most 64 bytes of it (cut on a character boundary, then "..."). */
Test(decoder, rejection_detail_echoes_the_value)
{
    static const struct {
        const char *json, *says;
    } rows[] = {
        {"{\"id\":\"e1\",\"type\":\"ticket.exploded\"," T0 ",\"ticket_id\":\"T1\"}",
         "field 'type' names no known event type; got \"ticket.exploded\""},
        {"{\"id\":\"e1\",\"type\":\"ticket.created\"," T0 ",\"ticket_id\":\"T1\",\"queue\":\"q\","
         "\"channel\":\"fax\"}",
         "field 'channel' has a value outside the accepted set; got \"fax\""},
        {"{\"id\":\"e1\",\"type\":\"ticket.created\"," T0 ",\"ticket_id\":\"T1\",\"queue\":7,"
         "\"channel\":\"email\"}",
         "field 'queue' must be a string; got 7"},
        {"{\"id\":\"e1\",\"type\":\"ticket.replied\"," T0 ",\"ticket_id\":\"T1\","
         "\"author\":\"ro\\\"b\\u0001t\"}",
         "got \"ro\\\"b\\u0001t\""},
        {"{\"v\":2,\"id\":\"e1\",\"type\":\"ticket.closed\"," T0 ",\"ticket_id\":\"T1\"}",
         "only schema version 1 is known; got 2"},
        {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":\"yesterday\",\"ticket_id\":\"T1\"}",
         "got \"yesterday\""},
        {"{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":true,\"ticket_id\":\"T1\"}",
         "got true, false, a real number or an object"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        sp_event ev;
        sp_reject_reason r;
        char err[512];
        cr_assert_eq(sp_event_decode(rows[i].json, strlen(rows[i].json), &ev, &r, err, sizeof err),
                     -1, "%s", rows[i].json);
        cr_expect(strstr(err, rows[i].says), "row %zu: %s", i, err);
    }
    /* a long value: its first 64 bytes; a three-byte character is not split */
    char buf[1024], big[300] = "";
    for (int i = 0; i < 30; i++)
        strcat(big, "\xe6\x8a\x80"); /* 技, 90 bytes */
    snprintf(buf, sizeof buf, "{\"id\":\"e1\",\"type\":\"%s\"," T0 "}", big);
    sp_event ev;
    sp_reject_reason r;
    char err[512];
    cr_assert_eq(sp_event_decode(buf, strlen(buf), &ev, &r, err, sizeof err), -1);
    char want[100] = "got \"";
    for (int i = 0; i < 21; i++) /* 63 bytes: the 22nd character would end at byte 66 */
        strcat(want, "\xe6\x8a\x80");
    strcat(want, "\"...");
    cr_expect(strstr(err, want), "%s", err);
}

/* An integer ts that is plainly in another unit is rejected as bad_ts, saying which:
 * epoch seconds (it would read as January 1970), microseconds, nanoseconds. */
Test(decoder, a_ts_in_seconds_or_microseconds_is_named_as_such)
{
    static const struct {
        const char *ts, *says;
    } rows[] = {
        {"1795342500", "looks like epoch seconds (2026-11-22T10:15:00.000Z)"},
        {"1795342500000000", "looks like epoch microseconds (2026-11-22T10:15:00.000Z)"},
        {"1795342500000000000", "looks like epoch nanoseconds (2026-11-22T10:15:00.000Z)"},
        {"5000", "outside 1973-03-03..9999-12-31"},
        {"\"1971-01-01T00:00:00Z\"", "outside 1973-03-03..9999-12-31"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char buf[256], err[512];
        snprintf(buf, sizeof buf, "{\"id\":\"e1\",\"type\":\"ticket.closed\",\"ts\":%s,"
                 "\"ticket_id\":\"T1\"}", rows[i].ts);
        sp_event ev;
        sp_reject_reason r;
        cr_assert_eq(sp_event_decode(buf, strlen(buf), &ev, &r, err, sizeof err), -1, "%s", buf);
        cr_expect_eq(r, SP_REJ_BAD_TS, "%s", buf);
        cr_expect(strstr(err, rows[i].says), "row %zu: %s", i, err);
    }
}
