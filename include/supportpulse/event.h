/*
 * event.h - one decoded support event (schema v1 of shared/spec/events.md) and the
 * decoder that turns a Kafka message value into it.
 *
 * Data flow: kafka_consumer hands the raw value to sp_event_decode(); on success the
 * event is a plain struct with its strings copied into fixed buffers (no heap, nothing
 * to free), on failure the caller gets a reason code for the dead-letter header and a
 * human-readable detail in errstr.
 */
#ifndef SUPPORTPULSE_EVENT_H
#define SUPPORTPULSE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define SP_ID_MAX 128    /* id, ticket_id, call_id: 1..128 bytes */
#define SP_NAME_MAX 64   /* queue, agent_id, tenant: 1..64 bytes */
/* The bucket a names table past its limit counts new names under. Reserved: an event
 * naming it as a queue, agent or tenant is rejected (out_of_range), so no real name
 * shares the bucket. */
#define SP_OVERFLOW_NAME "(other)"
/* acw_ms, hold_ms, ivr_ms: at most a day; a longer one is a producer's bug, rejected as
 * out_of_range (durations are kept to the millisecond up to 49.7 days). */
#define SP_EVENT_DURATION_MAX_MS 86400000LL
#define SP_QUEUES_MAX 512 /* agent.status queues, packed: at most 511 bytes of names + NULs */

typedef enum {
    SP_EV_TICKET_CREATED, SP_EV_TICKET_ASSIGNED, SP_EV_TICKET_REPLIED,
    SP_EV_TICKET_ESCALATED, SP_EV_TICKET_TRANSFERRED, SP_EV_TICKET_SOLVED,
    SP_EV_TICKET_REOPENED, SP_EV_TICKET_CLOSED,
    SP_EV_CALL_OFFERED, SP_EV_CALL_ANSWERED, SP_EV_CALL_ABANDONED,
    SP_EV_CALL_TRANSFERRED, SP_EV_CALL_ENDED, SP_EV_CALL_WRAPUP,
    SP_EV_SURVEY_CSAT, SP_EV_SURVEY_NPS,
    SP_EV_AGENT_STATUS,
    SP_EV__COUNT
} sp_event_type;

typedef enum {
    SP_CH_NONE = 0, SP_CH_PHONE, SP_CH_CHAT, SP_CH_EMAIL, SP_CH_SOCIAL, SP_CH_IN_APP,
    SP_CH_VIDEO, SP_CH__COUNT
} sp_channel;

typedef enum { SP_AUTHOR_NONE = 0, SP_AUTHOR_AGENT, SP_AUTHOR_BOT, SP_AUTHOR_CUSTOMER } sp_author;
typedef enum { SP_FROM_NONE = 0, SP_FROM_BOT, SP_FROM_AGENT } sp_from;
typedef enum {
    SP_STATUS_NONE = 0, SP_STATUS_AVAILABLE, SP_STATUS_BUSY, SP_STATUS_AWAY, SP_STATUS_OFFLINE
} sp_agent_status;

/* Why an input was rejected; the name goes into the dead-letter header sp.reason. */
typedef enum {
    SP_REJ_NONE = 0,
    SP_REJ_INVALID_JSON,
    SP_REJ_INVALID_UTF8,
    SP_REJ_NOT_OBJECT,
    SP_REJ_UNKNOWN_VERSION,
    SP_REJ_UNKNOWN_TYPE,
    SP_REJ_MISSING_FIELD,
    SP_REJ_WRONG_TYPE,
    SP_REJ_OUT_OF_RANGE,
    SP_REJ_BAD_TS,
    SP_REJ_LATE,          /* set by the window layer, not the decoder */
    SP_REJ__COUNT
} sp_reject_reason;

typedef struct {
    sp_event_type type;
    int64_t ts_ms;                   /* event time, epoch milliseconds UTC */
    char id[SP_ID_MAX + 1];
    char case_id[SP_ID_MAX + 1];     /* ticket_id or call_id; "" when absent (nps, agent) */
    char queue[SP_NAME_MAX + 1];     /* "" when absent */
    char agent_id[SP_NAME_MAX + 1];  /* "" when absent */
    char tenant[SP_NAME_MAX + 1];    /* "default" when absent */
    char to_queue[SP_NAME_MAX + 1];  /* transferred / escalated */
    sp_channel channel;              /* SP_CH_NONE when absent (calls: phone) */
    sp_author author;
    sp_from from;
    sp_agent_status status;
    int score;                       /* surveys; -1 when absent */
    int64_t acw_ms, hold_ms, ivr_ms; /* -1 when absent */
    uint8_t case_is_call;            /* case_id names a call (1) or a ticket (0) */
    uint8_t normalized;              /* a name was trimmed or NFC-normalized (names.h) */
    uint8_t nqueues;                 /* agent.status: queues listed (0 when absent) */
    char queues[SP_QUEUES_MAX];      /* ... each NUL-terminated, one after the other */
    /* The hashes the window state looks events up by, computed by sp_event_decode on the
     * decoding thread so the applying thread does not: sp_dedup_hash(id) and, when the
     * event names a case, sp_case_key(case_is_call, case_id). 0 = not computed (an event
     * built by hand): sp_partition_apply computes it. Code that changes id, case_id or
     * case_is_call after decoding must set them to 0. */
    uint64_t id_hash, case_key;
} sp_event;

/* Decode one message value. Returns 0 and fills *ev, or returns -1 with *reason set and a
 * message naming the field in errstr. Never allocates anything the caller must free. */
int sp_event_decode(const char *buf, size_t len, sp_event *ev, sp_reject_reason *reason,
                    char *errstr, size_t errstr_size);

/* The same decode with the message read by jansson alone (json_members.h): what
 * sp_event_decode does for any message its fast reader declines. The reference the
 * fast reader is tested and benchmarked against. */
int sp_event_decode_tree(const char *buf, size_t len, sp_event *ev, sp_reject_reason *reason,
                         char *errstr, size_t errstr_size);

const char *sp_event_type_name(sp_event_type t);
const char *sp_channel_name(sp_channel c);
const char *sp_reject_reason_name(sp_reject_reason r);
int sp_channel_parse(const char *s, sp_channel *out);

/* Event time: RFC 3339 with offset, or 'Z'. Returns 0 and epoch ms, or -1. */
int sp_ts_parse_rfc3339(const char *s, size_t len, int64_t *out_ms);
/* Formats epoch ms as RFC 3339 UTC with milliseconds into buf (>= 25 bytes). */
void sp_ts_format(int64_t ms, char *buf, size_t size);

#endif
