/* Fuzzes the SMTP client's reply reader (src/net/smtp_reply.c) as a hostile relay reaches it:
 * the input is the byte stream the relay sends, handed over in chunks as recv() would, read
 * reply after reply with the EHLO keywords looked up in each. Checks beyond memory safety: the
 * buffer only shrinks by whole lines, codes are 100..599, the kept reply is a string within its
 * buffer. Input: one selector byte (chunk size), then the relay's bytes. */
#include <assert.h>

#include "fuzz_util.h"
#include "net/smtp_client.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    size_t chunk = fuzz_next_byte(&in) % 64 + 1;
    char buf[SMTP_REPLY_MAX], whole[SMTP_REPLY_MAX];
    char text[256] = ""; /* written only when a reply is complete or refused */
    size_t have = 0;
    smtp_reply_t r = {0};
    whole[0] = '\0';
    while (in.n > 0) {
        /* what smtp_fill does: at most the room left, NUL-terminated */
        size_t room = sizeof buf - 1 - have, n = in.n < chunk ? in.n : chunk;
        if (n > room)
            n = room;
        memcpy(buf + have, in.p, n);
        have += n;
        buf[have] = '\0';
        in.p += n;
        in.n -= n;
        size_t before = have;
        int code = smtp_reply_take(&r, buf, &have, whole, sizeof whole, text, sizeof text);
        assert(have <= before);
        assert(memchr(text, '\0', sizeof text));
        if (code < 0)
            return 0; /* the conversation ends on a malformed reply */
        if (code == 0) {
            assert(have < sizeof buf - 1);
            continue;
        }
        assert(code >= 100 && code <= 599 && r.lines >= 1);
        assert(strlen(whole) == r.used && r.used < sizeof whole);
        (void)smtp_ehlo_has(whole, "STARTTLS");
        (void)smtp_ehlo_has(whole, "AUTH");
        (void)smtp_ehlo_has(whole, "");
        r = (smtp_reply_t){0};
        whole[0] = '\0';
    }
    return 0;
}
