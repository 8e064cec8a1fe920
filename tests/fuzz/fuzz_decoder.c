/*
 * fuzz_decoder.c - a libFuzzer target for the event decoder (built with clang when
 * -DSP_FUZZ=ON; not run in CI). Each input is decoded twice: by sp_event_decode (the
 * fast member reader, falling back to jansson) and by sp_event_decode_tree (jansson
 * alone). They must agree on the verdict, the reason, the detail and every decoded
 * field, or the target aborts; ASan and UBSan catch the rest. How to run it:
 * tests/fuzz/README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/event.h"

static void disagree(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "the two decoders disagree on %s for [%.*s]\n", what, (int)size,
            (const char *)data);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sp_event a, b; /* large: off the stack */
    sp_reject_reason ra = 0, rb = 0;
    char ea[256] = "", eb[256] = "";
    const char *m = (const char *)data;
    int rca = sp_event_decode(m, size, &a, &ra, ea, sizeof ea);
    int rcb = sp_event_decode_tree(m, size, &b, &rb, eb, sizeof eb);
    if (rca != rcb)
        disagree("the verdict", data, size);
    if (ra != rb || strcmp(ea, eb) != 0)
        disagree("the reason or its detail", data, size);
    if (rca != 0)
        return 0;
    if (a.type != b.type || a.ts_ms != b.ts_ms || a.channel != b.channel ||
        a.author != b.author || a.from != b.from || a.status != b.status ||
        a.score != b.score || a.acw_ms != b.acw_ms || a.hold_ms != b.hold_ms ||
        a.ivr_ms != b.ivr_ms || a.case_is_call != b.case_is_call || a.id_hash != b.id_hash ||
        a.case_key != b.case_key || a.nqueues != b.nqueues)
        disagree("a decoded number", data, size);
    if (strcmp(a.id, b.id) || strcmp(a.case_id, b.case_id) || strcmp(a.queue, b.queue) ||
        strcmp(a.agent_id, b.agent_id) || strcmp(a.tenant, b.tenant) ||
        strcmp(a.to_queue, b.to_queue))
        disagree("a decoded string", data, size);
    size_t qa = 0;
    for (int i = 0; i < a.nqueues; i++)
        qa += strlen(a.queues + qa) + 1;
    if (memcmp(a.queues, b.queues, qa) != 0)
        disagree("the queues", data, size);
    return 0;
}
