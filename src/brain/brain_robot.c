/* feagi-core's robot protocol on the loop: registration, heartbeats and deregistration on a
 * ROUTER, sensory XYZP frames on a PULL, motor XYZP frames on a PUB. The sockets are polled like
 * the ZMQ transport's (ZMQ_FD is edge-triggered: read until EAGAIN, in bounded batches, and look
 * at ZMQ_EVENTS again after sending). Agents live in a fixed table of max_agents slots; nothing
 * a peer sends sizes an allocation before it has been checked against the configured bounds. */
#include "brain/brain_robot.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "net/zmq_dl.h"

#define ROBOT_BATCH     256         /* messages read per socket per loop turn */
#define ROBOT_EP_MAX    300         /* "tcp://HOST:PORT" */
#define ROBOT_CMD_MAX   (64 * 1024) /* a command from a registered agent */
#define ROBOT_RID_MAX   256         /* ZMQ routing ids are at most 255 bytes */
#define ROBOT_TEXT_MAX  64          /* descriptor strings */
#define ROBOT_LOG_EVERY 10000       /* ms between two malformed-frame log lines */
#define ROBOT_SWEEP_MAX 1000        /* ms between two liveness sweeps at most */

enum {
    ROBOT_CAP_SENSORY = 1 << 0,
    ROBOT_CAP_MOTOR = 1 << 1,
    ROBOT_CAP_VIS = 1 << 2,
    ROBOT_CAP_SYSTEM = 1 << 3,
};

static const char *const robot_cap_names[] = {"send_sensor_data", "receive_motor_data",
                                              "receive_neuron_visualizations",
                                              "receive_system_messages"};
#define ROBOT_NCAPS (sizeof robot_cap_names / sizeof robot_cap_names[0])

enum { REG_OK, REG_INVALID, REG_AUTH, REG_ALREADY, REG_N };
static const char *const robot_reg_names[REG_N] = {"success", "failed_invalid_request",
                                                   "failed_invalid_auth", "already_registered"};

/* One registered agent, a slot of the table (used == false: free). */
typedef struct robot_agent {
    bool used;
    uint8_t id[BRAIN_FBC_ID_LEN];
    unsigned char rid[ROBOT_RID_MAX];
    size_t ridlen;
    char name[ROBOT_TEXT_MAX + 1], manufacturer[ROBOT_TEXT_MAX + 1], version[ROBOT_TEXT_MAX + 1];
    unsigned caps;
    int64_t registered_ms; /* wall clock */
    uint64_t seen_ns;      /* monotonic: the last message from it */
    uint64_t frames, malformed;
} robot_agent_t;

struct brain_robot {
    uv_loop_t *loop;
    brain_robot_hooks_t hooks;
    /* configuration, copied */
    char advertise[256];
    bool has_token;
    uint8_t token[BRAIN_ROBOT_TOKEN_LEN];
    uint64_t timeout_ms;
    size_t max_message;
    brain_fbc_limits_t xyzp;
    /* sockets and their handles */
    void *ctx, *router, *pull, *pub;
    uv_poll_t router_poll, pull_poll;
    uv_timer_t sweep;
    uv_idle_t idle;
    bool router_poll_on, pull_poll_on, handles_init, quiescing;
    int closing; /* holds: the destroy call's and each closing handle's */
    char ep_router[ROBOT_EP_MAX], ep_sensory[ROBOT_EP_MAX], ep_motor[ROBOT_EP_MAX];
    char url_sensory[ROBOT_EP_MAX], url_motor[ROBOT_EP_MAX];
    /* agents */
    robot_agent_t *agents;
    size_t max_agents, nagents;
    /* scratch: decoded views (areas_max of them), the decoded container, the output */
    brain_fbc_view_t *views;
    brain_fbc_t fbc;
    strbuf_t out;
    /* counters */
    uint64_t reg[REG_N], dereg_request, dereg_timeout, heartbeats, frames, motor_frames;
    uint64_t malformed_router, malformed_sensory, superseded;
    uint64_t drop_oversize, drop_unknown_peer, drop_unregistered, drop_motor, drop_unroutable;
    uint64_t log_next_ms, log_suppressed;
};

/* ---- small helpers -------------------------------------------------------------------------- */

static uint64_t robot_now_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

static void robot_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* One line per ROBOT_LOG_EVERY at most, saying how many were not logged in between: a peer
 * sending garbage at line rate cannot flood the log. */
static void robot_log_malformed(brain_robot_t *r, const char *socket, int err)
{
    uint64_t now = robot_now_ms();
    if (now < r->log_next_ms) {
        r->log_suppressed++;
        return;
    }
    log_warn(NULL, "brain robot: malformed container dropped", "{s:s,s:s,s:I}", "socket", socket,
             "reason", brain_fbc_strerror(err), "suppressed", (json_int_t)r->log_suppressed);
    r->log_suppressed = 0;
    r->log_next_ms = now + ROBOT_LOG_EVERY;
}

static robot_agent_t *robot_agent_by_rid(brain_robot_t *r, const void *rid, size_t len)
{
    for (size_t i = 0; i < r->max_agents; i++) {
        robot_agent_t *a = &r->agents[i];
        if (a->used && a->ridlen == len && memcmp(a->rid, rid, len) == 0)
            return a;
    }
    return NULL;
}

static robot_agent_t *robot_agent_by_id(brain_robot_t *r, const uint8_t id[BRAIN_FBC_ID_LEN])
{
    for (size_t i = 0; i < r->max_agents; i++) {
        robot_agent_t *a = &r->agents[i];
        if (a->used && memcmp(a->id, id, BRAIN_FBC_ID_LEN) == 0)
            return a;
    }
    return NULL;
}

static void robot_agent_drop(brain_robot_t *r, robot_agent_t *a, const char *why)
{
    char hex[2 * BRAIN_FBC_ID_LEN + 1];
    robot_hex(a->id, BRAIN_FBC_ID_LEN, hex);
    log_info(NULL, "brain robot: agent left", "{s:s,s:s,s:s}", "agent_id", hex, "name", a->name,
             "reason", why);
    uint8_t id[BRAIN_FBC_ID_LEN];
    memcpy(id, a->id, sizeof id);
    memset(a, 0, sizeof *a);
    r->nagents--;
    if (r->hooks.agent)
        r->hooks.agent(r->hooks.ctx, id, false);
}

/* ---- replies on the ROUTER ------------------------------------------------------------------ */

/* The zmq_dl_ calls repeat a call that a signal interrupted (EINTR): see net/zmq_dl.h. */
static bool robot_readable(void *sock)
{
    int ev = zmq_dl_events(sock);
    return ev > 0 && (ev & ZMQ_POLLIN);
}

/* Sends [rid][""?][container with one JSON struct]; ROUTER_MANDATORY makes a vanished peer an
 * error we count, DONTWAIT a full pipe one. */
static void robot_reply(brain_robot_t *r, const void *rid, size_t ridlen, bool delim,
                        uint16_t counter, const uint8_t agent_id[BRAIN_FBC_ID_LEN],
                        const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    strbuf_reset(&r->out);
    if (!text || brain_fbc_encode_json(&r->out, counter, agent_id, text, strlen(text)) < 0) {
        free(text);
        r->drop_unroutable++;
        return;
    }
    free(text);
    if (zmq_dl_send(r->router, rid, ridlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        (delim && zmq_dl_send(r->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) ||
        zmq_dl_send(r->router, r->out.data, r->out.len, ZMQ_DONTWAIT) < 0)
        r->drop_unroutable++;
}

static void robot_reply_registration(brain_robot_t *r, const void *rid, size_t ridlen, bool delim,
                                     uint16_t counter, int outcome)
{
    static const uint8_t zero[BRAIN_FBC_ID_LEN];
    r->reg[outcome]++;
    json_t *msg = json_pack("{s:{s:s}}", "agent_registration", "server_responds_registration",
                            robot_reg_names[outcome]);
    if (msg)
        robot_reply(r, rid, ridlen, delim, counter, zero, msg);
    json_decref(msg);
}

/* ---- registration --------------------------------------------------------------------------- */

static int robot_text_copy(const json_t *obj, const char *key, char *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) > ROBOT_TEXT_MAX)
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return strlen(out) == json_string_length(v) ? 0 : -1; /* no NUL inside */
}

/* Checks a client_request_registration object; fills the agent's descriptor, capabilities and
 * the token it carried. REG_OK or REG_INVALID. */
static int robot_request_parse(const json_t *req, robot_agent_t *a,
                               uint8_t token[BRAIN_ROBOT_TOKEN_LEN])
{
    const json_t *desc = json_object_get(req, "agent_descriptor");
    if (!json_is_object(desc) || robot_text_copy(desc, "manufacturer", a->manufacturer) < 0 ||
        robot_text_copy(desc, "agent_name", a->name) < 0 ||
        robot_text_copy(desc, "agent_version", a->version) < 0)
        return REG_INVALID;
    const json_t *tok = json_object_get(json_object_get(req, "auth_token"), "value");
    if (!json_is_array(tok) || json_array_size(tok) != BRAIN_ROBOT_TOKEN_LEN)
        return REG_INVALID;
    for (size_t i = 0; i < BRAIN_ROBOT_TOKEN_LEN; i++) {
        const json_t *b = json_array_get(tok, i);
        if (!json_is_integer(b) || json_integer_value(b) < 0 || json_integer_value(b) > 255)
            return REG_INVALID;
        token[i] = (uint8_t)json_integer_value(b);
    }
    const json_t *caps = json_object_get(req, "requested_capabilities");
    if (!json_is_array(caps) || json_array_size(caps) > 16)
        return REG_INVALID;
    for (size_t i = 0; i < json_array_size(caps); i++) {
        const char *c = json_string_value(json_array_get(caps, i));
        size_t k = 0;
        while (c && k < ROBOT_NCAPS && strcmp(c, robot_cap_names[k]) != 0)
            k++;
        if (!c || k == ROBOT_NCAPS)
            return REG_INVALID;
        a->caps |= 1u << k;
    }
    const char *proto = json_string_value(json_object_get(req, "connection_protocol"));
    const json_t *api = json_object_get(json_object_get(req, "api_version"), "version");
    if (!proto || strcasecmp(proto, "zmq") != 0 || !json_is_integer(api) ||
        json_integer_value(api) != 1)
        return REG_INVALID;
    return REG_OK;
}

/* The capabilities map of a success reply: a URL for each requested socket that is on. */
static json_t *robot_caps_reply(const brain_robot_t *r, unsigned caps)
{
    json_t *m = json_object();
    if ((caps & ROBOT_CAP_SENSORY) && r->pull)
        json_object_set_new(m, "send_sensor_data",
                            json_pack("{s:{s:s}}", "Zmq", "url", r->url_sensory));
    if ((caps & ROBOT_CAP_MOTOR) && r->pub)
        json_object_set_new(m, "receive_motor_data",
                            json_pack("{s:{s:s}}", "Zmq", "url", r->url_motor));
    return m;
}

static void robot_register(brain_robot_t *r, const void *rid, size_t ridlen, bool delim,
                           uint16_t counter, const json_t *req)
{
    if (robot_agent_by_rid(r, rid, ridlen)) {
        robot_reply_registration(r, rid, ridlen, delim, counter, REG_ALREADY);
        return;
    }
    robot_agent_t cand;
    memset(&cand, 0, sizeof cand);
    uint8_t token[BRAIN_ROBOT_TOKEN_LEN];
    if (robot_request_parse(req, &cand, token) != REG_OK) {
        robot_reply_registration(r, rid, ridlen, delim, counter, REG_INVALID);
        return;
    }
    if (r->has_token && sodium_memcmp(token, r->token, sizeof token) != 0) {
        log_warn(NULL, "brain robot: registration refused (auth token)", "{s:s}", "name",
                 cand.name);
        robot_reply_registration(r, rid, ridlen, delim, counter, REG_AUTH);
        return;
    }
    robot_agent_t *slot = NULL;
    for (size_t i = 0; i < r->max_agents && !slot; i++)
        if (!r->agents[i].used)
            slot = &r->agents[i];
    if (!slot) {
        log_warn(NULL, "brain robot: registration refused (agent table full)", "{s:s,s:I}", "name",
                 cand.name, "max_agents", (json_int_t)r->max_agents);
        robot_reply_registration(r, rid, ridlen, delim, counter, REG_INVALID);
        return;
    }
    /* A random id, never all zeros (the motor frames' sender) and never one in use. */
    static const uint8_t zero[BRAIN_FBC_ID_LEN];
    do
        randombytes_buf(cand.id, sizeof cand.id);
    while (memcmp(cand.id, zero, sizeof zero) == 0 || robot_agent_by_id(r, cand.id));
    cand.used = true;
    memcpy(cand.rid, rid, ridlen);
    cand.ridlen = ridlen;
    cand.registered_ms = clock_wall_ms();
    cand.seen_ns = clock_mono_ns();
    *slot = cand;
    r->nagents++;

    json_t *idb = json_array();
    for (size_t i = 0; i < BRAIN_FBC_ID_LEN; i++)
        json_array_append_new(idb, json_integer(slot->id[i]));
    json_t *msg =
        json_pack("{s:{s:{s:[{s:o},o]}}}", "agent_registration", "server_responds_registration",
                  "success", "bytes", idb, robot_caps_reply(r, slot->caps));
    r->reg[REG_OK]++;
    if (msg)
        robot_reply(r, rid, ridlen, delim, counter, slot->id, msg);
    json_decref(msg);
    char hex[2 * BRAIN_FBC_ID_LEN + 1];
    robot_hex(slot->id, BRAIN_FBC_ID_LEN, hex);
    log_info(NULL, "brain robot: agent registered", "{s:s,s:s,s:s,s:s}", "agent_id", hex, "name",
             slot->name, "manufacturer", slot->manufacturer, "version", slot->version);
    if (r->hooks.agent)
        r->hooks.agent(r->hooks.ctx, slot->id, true);
}

static void robot_deregister(brain_robot_t *r, robot_agent_t *a, const void *rid, size_t ridlen,
                             bool delim, uint16_t counter)
{
    static const uint8_t zero[BRAIN_FBC_ID_LEN];
    json_t *msg = json_pack("{s:{s:s}}", "agent_registration", "server_responds_deregistration",
                            a ? "success" : "not_registered");
    if (a) {
        r->dereg_request++;
        robot_agent_drop(r, a, "deregistered");
    }
    if (msg)
        robot_reply(r, rid, ridlen, delim, counter, zero, msg);
    json_decref(msg);
}

/* ---- the ROUTER ----------------------------------------------------------------------------- */

static void robot_command(brain_robot_t *r, const unsigned char *rid, size_t ridlen, bool delim,
                          const uint8_t *buf, size_t len)
{
    robot_agent_t *a = robot_agent_by_rid(r, rid, ridlen);
    if (len > (a ? ROBOT_CMD_MAX : BRAIN_ROBOT_UNKNOWN_MAX)) {
        r->drop_oversize++;
        return;
    }
    int rc = brain_fbc_decode(buf, len, &r->fbc);
    const char *text = NULL;
    size_t tlen = 0;
    for (size_t i = 0; rc == 0 && !text && i < r->fbc.n; i++)
        if (r->fbc.structs[i].type == BRAIN_FBC_T_JSON)
            rc = brain_fbc_json(&r->fbc.structs[i], &text, &tlen);
    if (rc == 0 && !text)
        rc = BRAIN_FBC_E_TYPE;
    if (rc < 0) {
        r->malformed_router++;
        robot_log_malformed(r, "router", rc);
        return;
    }
    uint16_t counter = r->fbc.counter;
    if (a)
        a->seen_ns = clock_mono_ns();
    json_error_t jerr;
    json_t *msg = json_loadb(text, tlen, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    const char *s = json_string_value(msg);
    const json_t *reg = json_object_get(msg, "agent_registration");
    if (s && strcmp(s, "heart_beat") == 0) {
        if (a) {
            r->heartbeats++;
            robot_reply(r, rid, ridlen, delim, counter, a->id, msg);
        } else
            r->drop_unknown_peer++;
    } else if (json_is_object(json_object_get(reg, "client_request_registration")))
        robot_register(r, rid, ridlen, delim, counter,
                       json_object_get(reg, "client_request_registration"));
    else if (json_object_get(reg, "client_request_deregistration"))
        robot_deregister(r, a, rid, ridlen, delim, counter);
    else
        robot_reply_registration(r, rid, ridlen, delim, counter, REG_INVALID);
    json_decref(msg);
}

/* One multipart message from the ROUTER. 1 when one was taken, 0 when none waited. */
static int robot_router_recv(brain_robot_t *r)
{
    zmq_msg_t parts[3];
    size_t n = 0, extra = 0;
    int more;
    do {
        zmq_msg_t m;
        lzmq->zmq_msg_init(&m);
        if (zmq_dl_msg_recv(&m, r->router, ZMQ_DONTWAIT) < 0) {
            lzmq->zmq_msg_close(&m);
            if (n == 0)
                return 0;
            break;
        }
        more = lzmq->zmq_msg_more(&m);
        if (n < 3)
            parts[n++] = m;
        else {
            extra++;
            lzmq->zmq_msg_close(&m);
        }
    } while (more);
    /* [rid][payload] from a DEALER, [rid][""][payload] from a REQ or a delimiting DEALER */
    bool ok = extra == 0 && (n == 2 || (n == 3 && lzmq->zmq_msg_size(&parts[1]) == 0));
    if (!ok) {
        r->malformed_router++;
        robot_log_malformed(r, "router", BRAIN_FBC_E_SHORT);
    } else
        robot_command(r, lzmq->zmq_msg_data(&parts[0]), lzmq->zmq_msg_size(&parts[0]), n == 3,
                      lzmq->zmq_msg_data(&parts[n - 1]), lzmq->zmq_msg_size(&parts[n - 1]));
    for (size_t i = 0; i < n; i++)
        lzmq->zmq_msg_close(&parts[i]);
    return 1;
}

/* ---- the PULL ------------------------------------------------------------------------------- */

/* The first XYZP struct of the decoded container, decoded into r->views. */
static int robot_frame_decode(brain_robot_t *r, brain_fbc_frame_t *frame)
{
    for (size_t i = 0; i < r->fbc.n; i++)
        if (r->fbc.structs[i].type == BRAIN_FBC_T_XYZP)
            return brain_fbc_xyzp_decode(&r->fbc.structs[i], &r->xyzp, r->views, r->xyzp.areas_max,
                                         frame);
    return BRAIN_FBC_E_TYPE;
}

static void robot_sensory(brain_robot_t *r, const uint8_t *buf, size_t len, bool multipart)
{
    int rc = multipart ? BRAIN_FBC_E_SHORT : brain_fbc_decode(buf, len, &r->fbc);
    if (rc < 0) {
        r->malformed_sensory++;
        robot_log_malformed(r, "sensory", rc);
        return;
    }
    robot_agent_t *a = robot_agent_by_id(r, r->fbc.agent_id);
    if (!a) {
        r->drop_unregistered++;
        return;
    }
    brain_fbc_frame_t frame;
    if ((rc = robot_frame_decode(r, &frame)) < 0) {
        r->malformed_sensory++;
        a->malformed++;
        robot_log_malformed(r, "sensory", rc);
        return;
    }
    a->seen_ns = clock_mono_ns();
    a->frames++;
    r->frames++;
    if (r->hooks.sensory && r->hooks.sensory(r->hooks.ctx, a->id, r->fbc.counter, &frame) > 0)
        r->superseded++;
}

static int robot_pull_recv(brain_robot_t *r)
{
    zmq_msg_t m;
    lzmq->zmq_msg_init(&m);
    if (zmq_dl_msg_recv(&m, r->pull, ZMQ_DONTWAIT) < 0) {
        lzmq->zmq_msg_close(&m);
        return 0;
    }
    bool multipart = lzmq->zmq_msg_more(&m);
    robot_sensory(r, lzmq->zmq_msg_data(&m), lzmq->zmq_msg_size(&m), multipart);
    lzmq->zmq_msg_close(&m);
    while (multipart) { /* the rest of a multipart message: discarded */
        lzmq->zmq_msg_init(&m);
        if (zmq_dl_msg_recv(&m, r->pull, ZMQ_DONTWAIT) < 0) {
            lzmq->zmq_msg_close(&m);
            break;
        }
        multipart = lzmq->zmq_msg_more(&m);
        lzmq->zmq_msg_close(&m);
    }
    return 1;
}

/* ---- the loop ------------------------------------------------------------------------------- */

static void robot_on_idle(uv_idle_t *h);

/* Reads both sockets in bounded batches; continues from the idle handle while more wait. */
static void robot_pump(brain_robot_t *r)
{
    if (r->quiescing)
        return;
    bool more = false;
    if (r->router) {
        int i = 0;
        while (i < ROBOT_BATCH && robot_router_recv(r))
            i++;
        more |= i == ROBOT_BATCH || robot_readable(r->router);
    }
    if (r->pull) {
        int i = 0;
        while (i < ROBOT_BATCH && robot_pull_recv(r))
            i++;
        more |= i == ROBOT_BATCH || robot_readable(r->pull);
    }
    if (more)
        uv_idle_start(&r->idle, robot_on_idle);
    else
        uv_idle_stop(&r->idle);
}

static void robot_on_idle(uv_idle_t *h)
{
    robot_pump(h->data);
}

static void robot_on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    robot_pump(h->data);
}

static void robot_on_sweep(uv_timer_t *h)
{
    brain_robot_t *r = h->data;
    uint64_t now = clock_mono_ns(), limit = r->timeout_ms * 1000000u;
    for (size_t i = 0; i < r->max_agents; i++) {
        robot_agent_t *a = &r->agents[i];
        if (a->used && now - a->seen_ns > limit) {
            r->dereg_timeout++;
            robot_agent_drop(r, a, "silent");
        }
    }
}

/* ---- the motor side and the brain's reads --------------------------------------------------- */

int brain_robot_motor_publish(brain_robot_t *r, uint16_t counter, const brain_fbc_area_t *areas,
                              size_t n)
{
    static const uint8_t zero[BRAIN_FBC_ID_LEN];
    if (!r || !r->pub)
        return -ENOTCONN;
    strbuf_reset(&r->out);
    int rc = brain_fbc_encode_xyzp(&r->out, counter, zero, areas, n);
    if (rc < 0)
        return rc;
    if (zmq_dl_send(r->pub, r->out.data, r->out.len, ZMQ_DONTWAIT) < 0)
        r->drop_motor++;
    else
        r->motor_frames++;
    if (r->out.cap > 4 * 1024 * 1024)
        strbuf_free(&r->out); /* do not keep a large frame's worth of memory around */
    return 0;
}

void brain_robot_hooks_set(brain_robot_t *r, const brain_robot_hooks_t *hooks)
{
    if (r)
        r->hooks = hooks ? *hooks : (brain_robot_hooks_t){0};
}

json_t *brain_robot_embodiments(const brain_robot_t *r)
{
    json_t *arr = json_array();
    if (!arr || !r)
        return arr;
    uint64_t now_ns = clock_mono_ns();
    int64_t now_wall = clock_wall_ms();
    for (size_t i = 0; i < r->max_agents; i++) {
        const robot_agent_t *a = &r->agents[i];
        if (!a->used)
            continue;
        char hex[2 * BRAIN_FBC_ID_LEN + 1];
        robot_hex(a->id, BRAIN_FBC_ID_LEN, hex);
        json_t *caps = json_array();
        for (size_t k = 0; k < ROBOT_NCAPS; k++)
            if (a->caps & (1u << k))
                json_array_append_new(caps, json_string(robot_cap_names[k]));
        int64_t seen_wall = now_wall - (int64_t)((now_ns - a->seen_ns) / 1000000u);
        json_t *e = json_pack(
            "{s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:I,s:I}", "agent_id", hex, "name", a->name,
            "manufacturer", a->manufacturer, "version", a->version, "capabilities", caps,
            "registered_at_ms", (json_int_t)a->registered_ms, "last_seen_ms", (json_int_t)seen_wall,
            "sensory_frames", (json_int_t)a->frames, "malformed_frames", (json_int_t)a->malformed);
        if (!e || json_array_append_new(arr, e) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

const char *brain_robot_endpoint(const brain_robot_t *r, const char *which)
{
    if (!r)
        return "";
    if (strcmp(which, "router") == 0)
        return r->ep_router;
    if (strcmp(which, "sensory") == 0)
        return r->ep_sensory;
    if (strcmp(which, "motor") == 0)
        return r->ep_motor;
    return "";
}

void brain_robot_metrics_collect(strbuf_t *out, void *ud)
{
    const brain_robot_t *r = ud;
    if (!r)
        return;
    strbuf_printf(out,
                  "# HELP ganglion_brain_robot_agents Embodiments registered on the robot "
                  "sockets.\n# TYPE ganglion_brain_robot_agents gauge\n"
                  "ganglion_brain_robot_agents %zu\n"
                  "# HELP ganglion_brain_robot_registrations_total Registration requests by "
                  "answer.\n# TYPE ganglion_brain_robot_registrations_total counter\n",
                  r->nagents);
    for (int i = 0; i < REG_N; i++)
        strbuf_printf(out, "ganglion_brain_robot_registrations_total{result=\"%s\"} %" PRIu64 "\n",
                      robot_reg_names[i], r->reg[i]);
    strbuf_printf(
        out,
        "# HELP ganglion_brain_robot_departures_total Agents gone, by reason.\n"
        "# TYPE ganglion_brain_robot_departures_total counter\n"
        "ganglion_brain_robot_departures_total{reason=\"deregistered\"} %" PRIu64 "\n"
        "ganglion_brain_robot_departures_total{reason=\"silent\"} %" PRIu64 "\n"
        "# HELP ganglion_brain_robot_heartbeats_total Heartbeats echoed.\n"
        "# TYPE ganglion_brain_robot_heartbeats_total counter\n"
        "ganglion_brain_robot_heartbeats_total %" PRIu64 "\n"
        "# HELP ganglion_brain_robot_sensory_frames_total Valid sensory frames received.\n"
        "# TYPE ganglion_brain_robot_sensory_frames_total counter\n"
        "ganglion_brain_robot_sensory_frames_total %" PRIu64 "\n"
        "# HELP ganglion_brain_robot_sensory_superseded_total Sensory frames replaced by a newer "
        "one before a burst took them.\n"
        "# TYPE ganglion_brain_robot_sensory_superseded_total counter\n"
        "ganglion_brain_robot_sensory_superseded_total %" PRIu64 "\n"
        "# HELP ganglion_brain_robot_motor_frames_total Motor frames published.\n"
        "# TYPE ganglion_brain_robot_motor_frames_total counter\n"
        "ganglion_brain_robot_motor_frames_total %" PRIu64 "\n"
        "# HELP ganglion_brain_robot_malformed_total Malformed containers dropped, by socket.\n"
        "# TYPE ganglion_brain_robot_malformed_total counter\n"
        "ganglion_brain_robot_malformed_total{socket=\"router\"} %" PRIu64 "\n"
        "ganglion_brain_robot_malformed_total{socket=\"sensory\"} %" PRIu64 "\n"
        "# HELP ganglion_brain_robot_dropped_total Robot messages dropped, by reason.\n"
        "# TYPE ganglion_brain_robot_dropped_total counter\n"
        "ganglion_brain_robot_dropped_total{reason=\"oversize\"} %" PRIu64 "\n"
        "ganglion_brain_robot_dropped_total{reason=\"unknown_peer\"} %" PRIu64 "\n"
        "ganglion_brain_robot_dropped_total{reason=\"unregistered\"} %" PRIu64 "\n"
        "ganglion_brain_robot_dropped_total{reason=\"motor_hwm\"} %" PRIu64 "\n"
        "ganglion_brain_robot_dropped_total{reason=\"unroutable\"} %" PRIu64 "\n",
        r->dereg_request, r->dereg_timeout, r->heartbeats, r->frames, r->superseded,
        r->motor_frames, r->malformed_router, r->malformed_sensory, r->drop_oversize,
        r->drop_unknown_peer, r->drop_unregistered, r->drop_motor, r->drop_unroutable);
}

/* ---- start and stop ------------------------------------------------------------------------- */

/* "" or "off" → "" ; "tcp://…" as is ; "HOST:PORT" → "tcp://HOST:PORT" (port 0: any free). */
static int robot_endpoint_parse(const char *v, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!v || !v[0] || strcasecmp(v, "off") == 0)
        return 0;
    if (strncmp(v, "tcp://", 6) == 0 || strncmp(v, "ipc://", 6) == 0) {
        snprintf(out, outlen, "%s", v);
        return 0;
    }
    char host[256];
    int port;
    if (config_split_hostport(v, host, sizeof host, &port) < 0 || port < 0 || port > 65535)
        return -1;
    bool v6 = strchr(host, ':') != NULL;
    if (port == 0)
        snprintf(out, outlen, v6 ? "tcp://[%s]:*" : "tcp://%s:*", host);
    else
        snprintf(out, outlen, v6 ? "tcp://[%s]:%d" : "tcp://%s:%d", host, port);
    return 0;
}

static int robot_open(brain_robot_t *r, int type, const char *what, const char *cfgval, int hwm,
                      int64_t maxmsg, void **sock, char *ep, char *err, size_t errlen)
{
    char want[ROBOT_EP_MAX];
    if (robot_endpoint_parse(cfgval, want, sizeof want) < 0) {
        snprintf(err, errlen,
                 "brain.robot_%s: expected HOST:PORT, tcp://HOST:PORT or empty, got "
                 "\"%s\"",
                 what, cfgval);
        return -1;
    }
    if (!want[0])
        return 0;
    void *z = lzmq->zmq_socket(r->ctx, type);
    if (!z) {
        snprintf(err, errlen, "zmq_socket: %s", lzmq->zmq_strerror(lzmq->zmq_errno()));
        return -1;
    }
    int zero = 0, one = 1, v6 = strchr(want + 6, '[') != NULL;
    lzmq->zmq_setsockopt(z, ZMQ_LINGER, &zero, sizeof zero);
    lzmq->zmq_setsockopt(z, ZMQ_SNDHWM, &hwm, sizeof hwm);
    lzmq->zmq_setsockopt(z, ZMQ_RCVHWM, &hwm, sizeof hwm);
    lzmq->zmq_setsockopt(z, ZMQ_IPV6, &v6, sizeof v6);
    lzmq->zmq_setsockopt(z, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (type == ZMQ_ROUTER)
        lzmq->zmq_setsockopt(z, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (zmq_dl_bind(z, want) < 0) {
        snprintf(err, errlen, "cannot bind the brain robot %s socket to %s: %s", what, want,
                 lzmq->zmq_strerror(lzmq->zmq_errno()));
        lzmq->zmq_close(z);
        return -1;
    }
    size_t len = ROBOT_EP_MAX;
    if (lzmq->zmq_getsockopt(z, ZMQ_LAST_ENDPOINT, ep, &len) < 0)
        snprintf(ep, ROBOT_EP_MAX, "%s", want);
    *sock = z;
    return 0;
}

/* The URL an agent is told: the bound endpoint, its host replaced by the advertised one. */
static void robot_url(const brain_robot_t *r, const char *ep, char *out, size_t outlen)
{
    const char *colon = strrchr(ep, ':');
    if (r->advertise[0] && colon && strncmp(ep, "tcp://", 6) == 0) {
        bool v6 = strchr(r->advertise, ':') != NULL;
        snprintf(out, outlen, v6 ? "tcp://[%s]%s" : "tcp://%s%s", r->advertise, colon);
    } else
        snprintf(out, outlen, "%s", ep);
}

static int robot_poll_start(brain_robot_t *r, void *sock, uv_poll_t *h, bool *on)
{
    int fd;
    size_t sz = sizeof fd;
    if (lzmq->zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) < 0 || uv_poll_init(r->loop, h, fd) < 0)
        return -1;
    h->data = r;
    *on = true;
    return uv_poll_start(h, UV_READABLE, robot_on_poll) < 0 ? -1 : 0;
}

static void robot_release(brain_robot_t *r)
{
    if (--r->closing > 0)
        return;
    free(r->agents);
    free(r->views);
    strbuf_free(&r->out);
    free(r);
}

static void robot_close_cb(uv_handle_t *h)
{
    robot_release(h->data);
}

void brain_robot_destroy(brain_robot_t **rp)
{
    brain_robot_t *r = rp ? *rp : NULL;
    if (!r)
        return;
    *rp = NULL;
    r->closing = 1;
    if (r->handles_init) {
        uv_handle_t *hs[] = {(uv_handle_t *)&r->sweep, (uv_handle_t *)&r->idle};
        for (size_t i = 0; i < 2; i++) {
            r->closing++;
            uv_close(hs[i], robot_close_cb);
        }
    }
    uv_poll_t *polls[] = {&r->router_poll, &r->pull_poll};
    bool on[] = {r->router_poll_on, r->pull_poll_on};
    for (size_t i = 0; i < 2; i++)
        if (on[i]) {
            r->closing++;
            uv_close((uv_handle_t *)polls[i], robot_close_cb);
        }
    /* the polls are closed before the descriptors they watch go away */
    void *socks[] = {r->router, r->pull, r->pub};
    for (size_t i = 0; i < 3; i++)
        if (socks[i])
            lzmq->zmq_close(socks[i]);
    if (r->ctx)
        zmq_dl_ctx_term(r->ctx);
    uv_loop_t *loop = r->loop;
    bool handles = r->closing > 1;
    robot_release(r);
    if (handles)
        uv_run(loop, UV_RUN_NOWAIT); /* runs the close callbacks, which free the state */
}

int brain_robot_start(uv_loop_t *loop, const brain_robot_config_t *cfg,
                      const brain_robot_hooks_t *hooks, brain_robot_t **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    char tmp[ROBOT_EP_MAX];
    if (robot_endpoint_parse(cfg->router, tmp, sizeof tmp) < 0) {
        snprintf(err, errlen, "brain.robot_router: expected HOST:PORT, tcp://HOST:PORT or empty");
        return -1;
    }
    if (!tmp[0])
        return 0; /* off: libzmq stays unmapped for the robot side */
    if (zmq_dl_load(err, errlen) < 0)
        return -1;
    brain_robot_t *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->loop = loop;
    r->hooks = hooks ? *hooks : (brain_robot_hooks_t){0};
    snprintf(r->advertise, sizeof r->advertise, "%s", cfg->advertise ? cfg->advertise : "");
    r->has_token = cfg->has_token;
    memcpy(r->token, cfg->token, sizeof r->token);
    r->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 30000;
    r->max_message = cfg->max_message ? cfg->max_message : 16u * 1024 * 1024;
    r->xyzp = cfg->xyzp;
    if (!r->xyzp.areas_max || r->xyzp.areas_max > UINT16_MAX)
        r->xyzp.areas_max = UINT16_MAX;
    r->max_agents = cfg->max_agents ? cfg->max_agents : 64;
    strbuf_init(&r->out, 0);
    r->agents = calloc(r->max_agents, sizeof *r->agents);
    r->views = calloc(r->xyzp.areas_max, sizeof *r->views);
    r->closing = 1;
    if (!r->agents || !r->views) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    uv_timer_init(loop, &r->sweep);
    uv_idle_init(loop, &r->idle);
    r->sweep.data = r->idle.data = r;
    r->handles_init = true;
    r->ctx = lzmq->zmq_ctx_new();
    if (!r->ctx) {
        snprintf(err, errlen, "zmq_ctx_new: %s", lzmq->zmq_strerror(lzmq->zmq_errno()));
        goto fail;
    }
    int hwm = cfg->hwm > 0 ? cfg->hwm : 1000;
    if (robot_open(r, ZMQ_ROUTER, "router", cfg->router, hwm, ROBOT_CMD_MAX, &r->router,
                   r->ep_router, err, errlen) < 0 ||
        robot_open(r, ZMQ_PULL, "sensory", cfg->sensory, hwm, (int64_t)r->max_message, &r->pull,
                   r->ep_sensory, err, errlen) < 0 ||
        robot_open(r, ZMQ_PUB, "motor", cfg->motor, hwm, 64, &r->pub, r->ep_motor, err, errlen) < 0)
        goto fail;
    robot_url(r, r->ep_sensory, r->url_sensory, sizeof r->url_sensory);
    robot_url(r, r->ep_motor, r->url_motor, sizeof r->url_motor);
    if (robot_poll_start(r, r->router, &r->router_poll, &r->router_poll_on) < 0 ||
        (r->pull && robot_poll_start(r, r->pull, &r->pull_poll, &r->pull_poll_on) < 0)) {
        snprintf(err, errlen, "cannot watch the brain robot sockets");
        goto fail;
    }
    uint64_t every = r->timeout_ms / 4;
    if (every > ROBOT_SWEEP_MAX)
        every = ROBOT_SWEEP_MAX;
    if (every < 10)
        every = 10;
    uv_timer_start(&r->sweep, robot_on_sweep, every, every);
    uv_unref((uv_handle_t *)&r->sweep);
    log_info(NULL, "brain robot: serving", "{s:s,s:s,s:s,s:b,s:I}", "router", r->ep_router,
             "sensory", r->ep_sensory[0] ? r->ep_sensory : "off", "motor",
             r->ep_motor[0] ? r->ep_motor : "off", "token", r->has_token, "timeout_ms",
             (json_int_t)r->timeout_ms);
    uv_idle_start(&r->idle, robot_on_idle); /* messages may have queued before the first poll */
    *out = r;
    return 0;
fail:
    brain_robot_destroy(&r);
    return -1;
}

void brain_robot_quiesce(brain_robot_t *r)
{
    if (!r)
        return;
    r->quiescing = true;
    if (r->router_poll_on)
        uv_poll_stop(&r->router_poll);
    if (r->pull_poll_on)
        uv_poll_stop(&r->pull_poll);
    uv_idle_stop(&r->idle);
    uv_timer_stop(&r->sweep);
}
