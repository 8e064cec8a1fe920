/*
 * decoder.c - validates one Kafka message value against schema v1 (shared/spec/events.md)
 * and fills an sp_event.
 *
 * Flow: json_members reads the object's known members into a table (yajl's callback
 * parser where it agrees with jansson, else jansson, which validates UTF-8, \u escapes
 * and surrogate pairs and rejects NUL) -> envelope (v, id, type, ts, tenant) -> the
 * type's own fields from a per-type rule table -> strings copied into the event's fixed
 * buffers -> the table is released -> the hashes of the id and the case (on the decoding
 * thread, so the code that applies the event does not compute them).
 * Every failure names the field in errstr and sets a reason for the dead-letter header.
 */
#include "supportpulse/event.h"
#include "supportpulse/cases.h"
#include "supportpulse/dedup.h"
#include "supportpulse/json_members.h"
#include "supportpulse/names.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[SP_EV__COUNT] = {
    "ticket.created", "ticket.assigned", "ticket.replied", "ticket.escalated",
    "ticket.transferred", "ticket.solved", "ticket.reopened", "ticket.closed",
    "call.offered", "call.answered", "call.abandoned", "call.transferred",
    "call.ended", "call.wrapup", "survey.csat", "survey.nps", "agent.status",
};

static const unsigned char type_lens[SP_EV__COUNT] = {14, 15, 14, 16, 18, 13, 15, 13, 12, 13, 14,
                                                       16, 10, 11, 11, 10, 12};

static const char *const channel_names[SP_CH__COUNT] = {
    "", "phone", "chat", "email", "social", "in_app", "video",
};

static const char *const reason_names[SP_REJ__COUNT] = {
    "none", "invalid_json", "invalid_utf8", "not_object", "unknown_version",
    "unknown_type", "missing_field", "wrong_type", "out_of_range", "bad_ts", "late",
};

const char *sp_event_type_name(sp_event_type t)
{
    return (unsigned)t < SP_EV__COUNT ? type_names[t] : "?";
}

const char *sp_channel_name(sp_channel c)
{
    return (unsigned)c < SP_CH__COUNT ? channel_names[c] : "?";
}

const char *sp_reject_reason_name(sp_reject_reason r)
{
    return (unsigned)r < SP_REJ__COUNT ? reason_names[r] : "?";
}

int sp_channel_parse(const char *s, sp_channel *out)
{
    for (int c = SP_CH_PHONE; c < SP_CH__COUNT; c++)
        if (strcmp(s, channel_names[c]) == 0) {
            *out = (sp_channel)c;
            return 0;
        }
    return -1;
}

/* What a type needs beyond the envelope. */
enum { F_QUEUE = 1, F_CHANNEL = 2, F_AGENT = 4, F_TICKET = 8, F_CALL = 16, F_TO_QUEUE = 32,
       F_AUTHOR = 64, F_FROM = 128, F_ACW = 256, F_SCORE = 512, F_STATUS = 1024,
       F_QUEUES = 2048 };

typedef struct {
    unsigned required, optional;
} type_rule;

static const type_rule rules[SP_EV__COUNT] = {
    [SP_EV_TICKET_CREATED] = {F_TICKET | F_QUEUE | F_CHANNEL, F_AGENT},
    [SP_EV_TICKET_ASSIGNED] = {F_TICKET | F_AGENT, F_QUEUE | F_CHANNEL},
    [SP_EV_TICKET_REPLIED] = {F_TICKET | F_AUTHOR, F_AGENT | F_QUEUE | F_CHANNEL},
    [SP_EV_TICKET_ESCALATED] = {F_TICKET | F_FROM, F_TO_QUEUE | F_QUEUE | F_CHANNEL | F_AGENT},
    [SP_EV_TICKET_TRANSFERRED] = {F_TICKET | F_TO_QUEUE, F_QUEUE | F_CHANNEL | F_AGENT},
    [SP_EV_TICKET_SOLVED] = {F_TICKET, F_AGENT | F_QUEUE | F_CHANNEL},
    [SP_EV_TICKET_REOPENED] = {F_TICKET, F_QUEUE | F_CHANNEL | F_AGENT},
    [SP_EV_TICKET_CLOSED] = {F_TICKET, F_QUEUE | F_CHANNEL | F_AGENT},
    [SP_EV_CALL_OFFERED] = {F_CALL | F_QUEUE, F_CHANNEL},
    [SP_EV_CALL_ANSWERED] = {F_CALL | F_AGENT, F_QUEUE | F_CHANNEL},
    [SP_EV_CALL_ABANDONED] = {F_CALL, F_QUEUE | F_CHANNEL},
    [SP_EV_CALL_TRANSFERRED] = {F_CALL | F_TO_QUEUE, F_QUEUE | F_CHANNEL | F_AGENT},
    [SP_EV_CALL_ENDED] = {F_CALL, F_QUEUE | F_CHANNEL | F_AGENT},
    [SP_EV_CALL_WRAPUP] = {F_CALL | F_ACW, F_QUEUE | F_CHANNEL | F_AGENT},
    [SP_EV_SURVEY_CSAT] = {F_SCORE, F_TICKET | F_CALL | F_AGENT | F_QUEUE | F_CHANNEL},
    [SP_EV_SURVEY_NPS] = {F_SCORE, F_TICKET | F_CALL | F_AGENT | F_QUEUE | F_CHANNEL},
    [SP_EV_AGENT_STATUS] = {F_AGENT | F_STATUS, F_QUEUES},
};

/* Every field the schema knows. The object's members are read in one pass into the
 * doc's field table (no hash lookup per field); unknown members are ignored. */
enum {
    K_V, K_ID, K_TS, K_TYPE, K_QUEUE, K_SCORE, K_FROM, K_TENANT, K_AUTHOR, K_STATUS,
    K_CHANNEL, K_CALL_ID, K_ACW_MS, K_HOLD_MS, K_IVR_MS, K_AGENT_ID, K_TO_QUEUE,
    K_TICKET_ID, K_QUEUES, K__COUNT
};

static const char *const key_names[K__COUNT] = {
    "v", "id", "ts", "type", "queue", "score", "from", "tenant", "author", "status",
    "channel", "call_id", "acw_ms", "hold_ms", "ivr_ms", "agent_id", "to_queue", "ticket_id", "queues",
};

typedef struct {
    sp_json_doc *doc;
    sp_reject_reason *reason;
    char *errstr;
    size_t errstr_size;
    sp_event *ev;
} decode_ctx;

/* The K_ index of a member name, or -1 for a name the schema does not know. The length
 * and one or two letters leave a single candidate; one memcmp confirms it (the
 * candidate's name has exactly len bytes). */
static int key_index(const char *k, size_t len)
{
    int cand = -1;
    switch (len) {
    case 1: cand = K_V; break;
    case 2: cand = k[0] == 'i' ? K_ID : K_TS; break;
    case 4: cand = k[0] == 'f' ? K_FROM : K_TYPE; break;
    case 5: cand = k[0] == 's' ? K_SCORE : K_QUEUE; break;
    case 6:
        switch (k[0]) {
        case 'a': cand = k[1] == 'c' ? K_ACW_MS : K_AUTHOR; break;
        case 'i': cand = K_IVR_MS; break;
        case 'q': cand = K_QUEUES; break;
        case 's': cand = K_STATUS; break;
        default: cand = K_TENANT; break;
        }
        break;
    case 7: cand = k[0] == 'h' ? K_HOLD_MS : k[1] == 'a' ? K_CALL_ID : K_CHANNEL; break;
    case 8: cand = k[0] == 'a' ? K_AGENT_ID : K_TO_QUEUE; break;
    case 9: cand = K_TICKET_ID; break;
    default: return -1;
    }
    return memcmp(k, key_names[cand], len) == 0 ? cand : -1;
}

static int fail(decode_ctx *c, sp_reject_reason r, const char *fmt, const char *field)
{
    *c->reason = r;
    snprintf(c->errstr, c->errstr_size, fmt, field);
    return -1;
}

#define ECHO_MAX 64 /* bytes of an offending string value echoed in a dead letter */

/* Appends "; got <v>" to errstr: a string quoted and escaped as JSON (its first
 * ECHO_MAX bytes, cut on a character boundary, then "..."), an integer in decimal,
 * anything else by its kind. */
static void echo(decode_ctx *c, const sp_jv *v)
{
    size_t n = strlen(c->errstr), size = c->errstr_size;
    char *o = c->errstr;
    if (v->type == SP_JV_INTEGER) {
        snprintf(o + n, size - n, "; got %lld", (long long)v->i);
        return;
    }
    if (v->type != SP_JV_STRING) {
        snprintf(o + n, size - n, "; got %s", v->type == SP_JV_ARRAY ? "an array"
                                             : v->type == SP_JV_NULL ? "null"
                                             : "true, false, a real number or an object");
        return;
    }
    size_t cut = v->len > ECHO_MAX ? ECHO_MAX : v->len;
    while (cut < v->len && cut > 0 && ((unsigned char)v->s[cut] & 0xc0) == 0x80)
        cut--;
    n += (size_t)snprintf(o + n, size - n, "; got \"");
    for (size_t i = 0; i < cut && n + 8 < size; i++) {
        unsigned char ch = (unsigned char)v->s[i];
        if (ch == '"' || ch == '\\')
            n += (size_t)snprintf(o + n, size - n, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            n += (size_t)snprintf(o + n, size - n, "\\u%04x", ch);
        else
            o[n++] = (char)ch;
    }
    if (n < size)
        snprintf(o + n, size - n, "\"%s", cut < v->len ? "..." : "");
}

/* fail(), then the value of the field (or list item) that was refused. */
static int fail_v(decode_ctx *c, sp_reject_reason r, const char *fmt, const char *field,
                  const sp_jv *v)
{
    fail(c, r, fmt, field);
    echo(c, v);
    return -1;
}

/* The value of a string field in *v: 0, 1 absent (and not required), -1 rejected. */
static int string_of(decode_ctx *c, int key, int required, const sp_jv **v)
{
    const char *name = key_names[key];
    *v = &c->doc->field[key];
    if ((*v)->type <= SP_JV_NULL) {
        if (required)
            return fail(c, SP_REJ_MISSING_FIELD, "missing required field '%s'", name);
        return 1;
    }
    if ((*v)->type != SP_JV_STRING)
        return fail_v(c, SP_REJ_WRONG_TYPE, "field '%s' must be a string", name, *v);
    return 0;
}

/* A string field: 0 copied, 1 absent (and not required), -1 rejected. */
static int get_string(decode_ctx *c, int key, int required, size_t max, char *dst)
{
    const sp_jv *v;
    int rc = string_of(c, key, required, &v);
    if (rc != 0)
        return rc;
    size_t n = v->len;
    if (n == 0 || n > max) {
        *c->reason = SP_REJ_OUT_OF_RANGE;
        snprintf(c->errstr, c->errstr_size, "field '%s' must be 1..%zu bytes, got %zu",
                 key_names[key], max, n);
        echo(c, v);
        return -1;
    }
    memcpy(dst, v->s, n);
    dst[n] = '\0';
    return 0;
}

/* A name as counts use it (names.h) into dst: 1..SP_NAME_MAX bytes after trimming and
 * NFC, not SP_OVERFLOW_NAME. 0 copied, -1 rejected (v is echoed). */
static int take_name(decode_ctx *c, const char *field, const sp_jv *v, char *dst)
{
    int changed = 0;
    int n = v->len > 4 * SP_NAME_MAX ? -2
                                     : sp_name_normalize(v->s, v->len, dst, SP_NAME_MAX + 1,
                                                         &changed);
    if (n == -3)
        return fail(c, SP_REJ_OUT_OF_RANGE, "field '%s': out of memory normalizing it", field);
    if (n < 0)
        return fail_v(c, SP_REJ_OUT_OF_RANGE,
                      n == -1 ? "field '%s' is empty or only whitespace"
                              : "field '%s' must be 1..64 bytes (after trimming and NFC)",
                      field, v);
    if (strcmp(dst, SP_OVERFLOW_NAME) == 0)
        return fail_v(c, SP_REJ_OUT_OF_RANGE,
                      "field '%s': \"" SP_OVERFLOW_NAME "\" is reserved for the overflow bucket",
                      field, v);
    c->ev->normalized |= (uint8_t)changed;
    return 0;
}

/* A queue, agent or tenant field: 0 copied, 1 absent (and not required), -1 rejected. */
static int get_name(decode_ctx *c, int key, int required, char *dst)
{
    const sp_jv *v;
    int rc = string_of(c, key, required, &v);
    return rc != 0 ? rc : take_name(c, key_names[key], v, dst);
}

/* An enumerated string field mapped through names[] (after trimming, as names are);
 * index 0 means absent. */
static int get_enum(decode_ctx *c, int key, int required, const char *const *names,
                    int count, int *out)
{
    char buf[SP_NAME_MAX + 1];
    int rc = get_name(c, key, required, buf);
    if (rc != 0)
        return rc;
    for (int i = 1; i < count; i++)
        if (strcmp(buf, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return fail_v(c, SP_REJ_OUT_OF_RANGE, "field '%s' has a value outside the accepted set",
                  key_names[key], &c->doc->field[key]);
}

/* An integer field in [lo, hi]: 0 read, 1 absent, -1 rejected. */
static int get_int(decode_ctx *c, int key, int required, int64_t lo, int64_t hi,
                   int64_t *out)
{
    const char *name = key_names[key];
    const sp_jv *v = &c->doc->field[key];
    if (v->type <= SP_JV_NULL) {
        if (required)
            return fail(c, SP_REJ_MISSING_FIELD, "missing required field '%s'", name);
        return 1;
    }
    if (v->type != SP_JV_INTEGER)
        return fail_v(c, SP_REJ_WRONG_TYPE, "field '%s' must be an integer", name, v);
    int64_t n = v->i;
    if (n < lo || n > hi) {
        *c->reason = SP_REJ_OUT_OF_RANGE;
        snprintf(c->errstr, c->errstr_size, "field '%s' must be in %lld..%lld, got %lld", name,
                 (long long)lo, (long long)hi, (long long)n);
        return -1;
    }
    *out = n;
    return 0;
}

/* Event times accepted: from 1973-03-03T09:46:40Z (10^11 ms; anything earlier is a
 * clock or unit error, not a help desk's event) up to the year 9999. */
#define SP_TS_MIN_MS 100000000000LL
#define SP_TS_MAX_MS 253402300799999LL

/* Rejects an integer ts outside the range, saying which unit it looks like: seconds
 * (10^8..10^11, 1973..5138 when read as seconds), microseconds or nanoseconds. */
static int implausible_ts(decode_ctx *c, int64_t n)
{
    char when[40];
    const char *unit = NULL;
    int64_t ms = n;
    if (n >= 100000000LL && n < SP_TS_MIN_MS)
        unit = "seconds", ms = n * 1000;
    else if (n > SP_TS_MAX_MS && n / 1000 >= SP_TS_MIN_MS && n / 1000 <= SP_TS_MAX_MS)
        unit = "microseconds", ms = n / 1000;
    else if (n > SP_TS_MAX_MS && n / 1000000 >= SP_TS_MIN_MS && n / 1000000 <= SP_TS_MAX_MS)
        unit = "nanoseconds", ms = n / 1000000;
    *c->reason = SP_REJ_BAD_TS;
    if (!unit) {
        snprintf(c->errstr, c->errstr_size, "field 'ts' is outside 1973-03-03..9999-12-31 as "
                 "epoch milliseconds; got %lld", (long long)n);
        return -1;
    }
    sp_ts_format(ms, when, sizeof when);
    snprintf(c->errstr, c->errstr_size, "field 'ts' looks like epoch %s (%s), but ts is epoch "
             "milliseconds or RFC 3339; got %lld", unit, when, (long long)n);
    return -1;
}

static int decode_ts(decode_ctx *c, int64_t *out)
{
    const sp_jv *v = &c->doc->field[K_TS];
    if (v->type <= SP_JV_NULL)
        return fail(c, SP_REJ_MISSING_FIELD, "missing required field '%s'", "ts");
    if (v->type == SP_JV_INTEGER) {
        int64_t n = v->i;
        if (n < SP_TS_MIN_MS || n > SP_TS_MAX_MS)
            return implausible_ts(c, n);
        *out = n;
        return 0;
    }
    if (v->type != SP_JV_STRING)
        return fail_v(c, SP_REJ_BAD_TS, "field '%s' must be RFC 3339 or epoch milliseconds",
                      "ts", v);
    if (sp_ts_parse_rfc3339(v->s, v->len, out) < 0)
        return fail_v(c, SP_REJ_BAD_TS, "field '%s' is not an RFC 3339 date-time with offset",
                      "ts", v);
    if (*out < SP_TS_MIN_MS || *out > SP_TS_MAX_MS)
        return fail_v(c, SP_REJ_BAD_TS, "field '%s' is outside 1973-03-03..9999-12-31", "ts", v);
    return 0;
}

static int decode_envelope(decode_ctx *c, sp_event *ev)
{
    int64_t v = 1;
    const sp_jv *jv = &c->doc->field[K_V];
    if (jv->type != SP_JV_ABSENT && jv->type != SP_JV_INTEGER)
        return fail_v(c, SP_REJ_WRONG_TYPE, "field '%s' must be an integer", "v", jv);
    if (jv->type == SP_JV_INTEGER && (v = jv->i) != 1)
        return fail_v(c, SP_REJ_UNKNOWN_VERSION, "field '%s': only schema version 1 is known",
                      "v", jv);
    if (get_string(c, K_ID, 1, SP_ID_MAX, ev->id) != 0)
        return -1;
    const sp_jv *jt = &c->doc->field[K_TYPE];
    if (jt->type <= SP_JV_NULL)
        return fail(c, SP_REJ_MISSING_FIELD, "missing required field '%s'", "type");
    if (jt->type != SP_JV_STRING)
        return fail_v(c, SP_REJ_WRONG_TYPE, "field '%s' must be a string", "type", jt);
    ev->type = SP_EV__COUNT;
    for (int t = 0; t < SP_EV__COUNT && ev->type == SP_EV__COUNT; t++)
        if (type_lens[t] == jt->len && memcmp(jt->s, type_names[t], jt->len) == 0)
            ev->type = (sp_event_type)t;
    if (ev->type == SP_EV__COUNT)
        return fail_v(c, SP_REJ_UNKNOWN_TYPE, "field '%s' names no known event type", "type",
                      jt);
    if (decode_ts(c, &ev->ts_ms) < 0)
        return -1;
    if (get_name(c, K_TENANT, 0, ev->tenant) < 0)
        return -1;
    return 0;
}

static int decode_case(decode_ctx *c, const type_rule *r, sp_event *ev)
{
    unsigned want = r->required | r->optional;
    int rc;
    if (want & F_TICKET) {
        if ((rc = get_string(c, K_TICKET_ID, (r->required & F_TICKET) != 0, SP_ID_MAX,
                             ev->case_id)) < 0)
            return -1;
        if (rc == 0)
            return 0;
    }
    if (want & F_CALL) {
        if ((rc = get_string(c, K_CALL_ID, (r->required & F_CALL) != 0, SP_ID_MAX,
                             ev->case_id)) < 0)
            return -1;
        if (rc == 0)
            ev->case_is_call = 1;
    }
    /* survey.csat needs one of the two */
    if (ev->type == SP_EV_SURVEY_CSAT && ev->case_id[0] == '\0')
        return fail(c, SP_REJ_MISSING_FIELD, "missing required field '%s'",
                    "ticket_id or call_id");
    return 0;
}

/* agent.status `queues`: an array of 1..64-byte strings, packed into ev->queues. */
static int get_queues(decode_ctx *c, sp_event *ev)
{
    const sp_jv *v = &c->doc->field[K_QUEUES];
    ev->nqueues = 0;
    if (v->type <= SP_JV_NULL)
        return 0;
    if (v->type != SP_JV_ARRAY)
        return fail_v(c, SP_REJ_WRONG_TYPE, "field '%s' must be an array of strings", "queues",
                      v);
    size_t used = 0;
    /* The doc keeps the first SP_JSON_MAX_ITEMS (256) items; the loop below never gets
     * further, since the 256th item (index 255) fails the UINT8_MAX test at the latest. */
    for (size_t i = 0; i < c->doc->nitems; i++) {
        const sp_jv *q = &c->doc->item[i];
        char name[SP_NAME_MAX + 1];
        if (q->type != SP_JV_STRING)
            return fail_v(c, SP_REJ_WRONG_TYPE, "field '%s' must be an array of strings",
                          "queues", q);
        if (take_name(c, "queues", q, name) < 0)
            return -1;
        size_t n = strlen(name);
        if (used + n + 1 > sizeof ev->queues || ev->nqueues == UINT8_MAX)
            return fail(c, SP_REJ_OUT_OF_RANGE,
                        "field '%s' lists more than 511 bytes of queue names", "queues");
        memcpy(ev->queues + used, name, n + 1);
        used += n + 1;
        ev->nqueues++;
    }
    return 0;
}

static int decode_fields(decode_ctx *c, const type_rule *r, sp_event *ev)
{
    unsigned want = r->required | r->optional;
#define REQ(f) ((r->required & (f)) != 0)
    if (decode_case(c, r, ev) < 0)
        return -1;
    if ((want & F_QUEUE) && get_name(c, K_QUEUE, REQ(F_QUEUE), ev->queue) < 0)
        return -1;
    if ((want & F_TO_QUEUE) && get_name(c, K_TO_QUEUE, REQ(F_TO_QUEUE), ev->to_queue) < 0)
        return -1;
    int e = 0;
    if ((want & F_CHANNEL) &&
        get_enum(c, K_CHANNEL, REQ(F_CHANNEL), channel_names, SP_CH__COUNT, &e) < 0)
        return -1;
    ev->channel = (sp_channel)e;
    static const char *const authors[] = {"", "agent", "bot", "customer"};
    static const char *const froms[] = {"", "bot", "agent"};
    static const char *const statuses[] = {"", "available", "busy", "away", "offline"};
    e = 0;
    if ((want & F_AUTHOR) && get_enum(c, K_AUTHOR, REQ(F_AUTHOR), authors, 4, &e) < 0)
        return -1;
    ev->author = (sp_author)e;
    e = 0;
    if ((want & F_FROM) && get_enum(c, K_FROM, REQ(F_FROM), froms, 3, &e) < 0)
        return -1;
    ev->from = (sp_from)e;
    e = 0;
    if ((want & F_STATUS) && get_enum(c, K_STATUS, REQ(F_STATUS), statuses, 5, &e) < 0)
        return -1;
    ev->status = (sp_agent_status)e;
    int agent_required = REQ(F_AGENT) || (ev->type == SP_EV_TICKET_REPLIED &&
                                          ev->author == SP_AUTHOR_AGENT);
    if ((want & F_AGENT) && get_name(c, K_AGENT_ID, agent_required, ev->agent_id) < 0)
        return -1;
    if ((want & F_QUEUES) && get_queues(c, ev) < 0)
        return -1;
#undef REQ
    return 0;
}

static int decode_numbers(decode_ctx *c, sp_event *ev)
{
    int64_t n;
    int rc;
    if (ev->type == SP_EV_SURVEY_CSAT || ev->type == SP_EV_SURVEY_NPS) {
        int hi = ev->type == SP_EV_SURVEY_CSAT ? 5 : 10;
        if (get_int(c, K_SCORE, 1, ev->type == SP_EV_SURVEY_CSAT ? 1 : 0, hi, &n) < 0)
            return -1;
        ev->score = (int)n;
    }
    if (ev->type == SP_EV_CALL_WRAPUP) {
        if (get_int(c, K_ACW_MS, 1, 0, SP_EVENT_DURATION_MAX_MS, &n) < 0)
            return -1;
        ev->acw_ms = n;
    }
    if (ev->type == SP_EV_CALL_ENDED) {
        if ((rc = get_int(c, K_HOLD_MS, 0, 0, SP_EVENT_DURATION_MAX_MS, &n)) < 0)
            return -1;
        if (rc == 0)
            ev->hold_ms = n;
    }
    if (ev->type == SP_EV_CALL_OFFERED) {
        if ((rc = get_int(c, K_IVR_MS, 0, 0, SP_EVENT_DURATION_MAX_MS, &n)) < 0)
            return -1;
        if (rc == 0)
            ev->ivr_ms = n;
    }
    return 0;
}

/* Clears what decoding may leave unset: the first byte of each string buffer and the
 * scalars (not the whole 700-byte struct: this runs once per event). */
static void event_reset(sp_event *ev)
{
    ev->id[0] = ev->case_id[0] = ev->queue[0] = ev->agent_id[0] = '\0';
    ev->tenant[0] = ev->to_queue[0] = '\0';
    ev->type = SP_EV__COUNT;
    ev->ts_ms = 0;
    ev->channel = SP_CH_NONE;
    ev->author = SP_AUTHOR_NONE;
    ev->from = SP_FROM_NONE;
    ev->status = SP_STATUS_NONE;
    ev->score = -1;
    ev->acw_ms = ev->hold_ms = ev->ivr_ms = -1;
    ev->case_is_call = 0;
    ev->normalized = 0;
    ev->nqueues = 0;
    ev->id_hash = ev->case_key = 0;
}

static const sp_json_schema schema = {key_index, K__COUNT, K_QUEUES};

static int parse_root(decode_ctx *c, const char *buf, size_t len, int tree_only)
{
    sp_json_rc rc = tree_only ? sp_json_members_read_tree(c->doc, &schema, buf, len,
                                                          c->errstr, c->errstr_size)
                              : sp_json_members_read(c->doc, &schema, buf, len, c->errstr,
                                                     c->errstr_size);
    switch (rc) {
    case SP_JSON_OK: return 0;
    case SP_JSON_INVALID_UTF8: *c->reason = SP_REJ_INVALID_UTF8; return -1;
    case SP_JSON_NOT_OBJECT: *c->reason = SP_REJ_NOT_OBJECT; return -1;
    default: *c->reason = SP_REJ_INVALID_JSON; return -1;
    }
}

static int decode(const char *buf, size_t len, int tree_only, sp_event *ev,
                  sp_reject_reason *reason, char *errstr, size_t errstr_size)
{
    sp_json_doc doc;
    decode_ctx c = {
        .doc = &doc, .reason = reason, .errstr = errstr, .errstr_size = errstr_size, .ev = ev};
    *reason = SP_REJ_NONE;
    event_reset(ev);
    int rc = -1;
    if (parse_root(&c, buf, len, tree_only) < 0 || decode_envelope(&c, ev) < 0)
        goto out;
    if (decode_fields(&c, &rules[ev->type], ev) < 0 || decode_numbers(&c, ev) < 0)
        goto out;
    if (ev->tenant[0] == '\0')
        strcpy(ev->tenant, "default");
    if (ev->type >= SP_EV_CALL_OFFERED && ev->type <= SP_EV_CALL_WRAPUP && ev->case_id[0])
        ev->case_is_call = 1;
    if (ev->type == SP_EV_CALL_OFFERED && ev->channel == SP_CH_NONE)
        ev->channel = SP_CH_PHONE; /* events.md: a call's channel defaults to phone */
    ev->id_hash = sp_dedup_hash(ev->id, strlen(ev->id));
    if (ev->case_id[0])
        ev->case_key = sp_case_key(ev->case_is_call, ev->case_id, strlen(ev->case_id));
    rc = 0;
out:
    sp_json_members_release(&doc);
    return rc;
}

int sp_event_decode(const char *buf, size_t len, sp_event *ev, sp_reject_reason *reason,
                    char *errstr, size_t errstr_size)
{
    return decode(buf, len, 0, ev, reason, errstr, errstr_size);
}

int sp_event_decode_tree(const char *buf, size_t len, sp_event *ev, sp_reject_reason *reason,
                         char *errstr, size_t errstr_size)
{
    return decode(buf, len, 1, ev, reason, errstr, errstr_size);
}
