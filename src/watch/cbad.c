/* The detector: settings, the ring of recent events, window jobs, and scoring a window by
 * normalised compression distance with a permutation test over whole events. The fast mode
 * spends permutations only where they can change the decision; its decisions equal the full
 * test's by construction (see docs/watch.md, "Speed"). */
#include "watch/cbad_priv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- settings ------------------------------------------------------------------------------ */

void cbad_settings_default(cbad_settings_t *s)
{
    memset(s, 0, sizeof *s);
    s->type = CBAD_STREAM_LOGS;
    s->baseline = 400;
    s->window = 50;
    s->hop = 10;
    s->compressor = CBAD_COMPRESSOR_ZSTD;
    s->level = 3;
    s->ncd_threshold = 0.15;
    s->flood_threshold = 0.3;
    s->p_threshold = 0.05;
    s->permutations = 1000;
    s->seed = 42;
    s->canonicalise = true;
    s->redact = true;
    s->symbols = 16;
    s->rare_template = 3;
    s->rare_history = false;
}

int cbad_settings_check(const cbad_settings_t *s, const char **field, const char **reason)
{
    const char *f = NULL, *r = NULL;
    if ((unsigned)s->type > CBAD_STREAM_AGENT)
        f = "type", r = "must be one of logs, metrics, traces, llm, events, agent";
    else if (s->baseline < 2 || s->baseline > CBAD_BASELINE_MAX)
        f = "baseline", r = "must be between 2 and 10000 events";
    else if (s->window < 1 || s->window > CBAD_WINDOW_MAX)
        f = "window", r = "must be between 1 and 5000 events";
    else if (s->hop < 1 || s->hop > s->window)
        f = "hop", r = "must be between 1 and the window size";
    else if (s->compressor != CBAD_COMPRESSOR_ZSTD)
        f = "compressor", r = "must be zstd";
    else if (s->level < 1 || s->level > 19)
        f = "level", r = "must be between 1 and 19";
    else if (!(s->ncd_threshold > 0.0 && s->ncd_threshold < 1.0))
        f = "ncd_threshold", r = "must be strictly between 0 and 1";
    else if (!(s->flood_threshold > 0.0 && s->flood_threshold < 1.0))
        f = "flood_threshold", r = "must be strictly between 0 and 1";
    else if (!(s->p_threshold > 0.0 && s->p_threshold < 1.0))
        f = "p_threshold", r = "must be strictly between 0 and 1";
    else if (s->permutations > CBAD_PERMUTATIONS_MAX)
        f = "permutations", r = "must be at most 100000";
    else if (s->symbols < 2 || s->symbols > 64)
        f = "symbols", r = "must be between 2 and 64";
    else if (s->rare_template > 1000000)
        f = "rare_template", r = "must be at most 1000000";
    if (field)
        *field = f;
    if (reason)
        *reason = r;
    return f ? -EINVAL : 0;
}

static const char *const cbad_type_names[] = {"logs", "metrics", "traces",
                                              "llm",  "events",  "agent"};

const char *cbad_stream_type_name(cbad_stream_type_t t)
{
    return (unsigned)t <= CBAD_STREAM_AGENT ? cbad_type_names[t] : "unknown";
}

int cbad_stream_type_parse(const char *name, cbad_stream_type_t *out)
{
    for (unsigned i = 0; i <= CBAD_STREAM_AGENT; i++)
        if (name && strcmp(name, cbad_type_names[i]) == 0) {
            *out = (cbad_stream_type_t)i;
            return 0;
        }
    return -EINVAL;
}

const char *cbad_severity_name(cbad_severity_t s)
{
    switch (s) {
    case CBAD_SEVERITY_MEDIUM:
        return "medium";
    case CBAD_SEVERITY_HIGH:
        return "high";
    case CBAD_SEVERITY_CRITICAL:
        return "critical";
    default:
        return "none";
    }
}

/* ---- measures ------------------------------------------------------------------------------ */

double cbad_ncd_directed(size_t c_b, size_t c_w, size_t c_bw)
{
    if (c_w == 0)
        return 0.0;
    double d = ((double)c_bw - (double)c_b) / (double)c_w;
    return d < 0.0 ? 0.0 : d > 1.0 ? 1.0 : d;
}

double cbad_ncd(size_t c_b, size_t c_w, size_t c_bw)
{
    size_t mn = c_b < c_w ? c_b : c_w, mx = c_b < c_w ? c_w : c_b;
    if (mx == 0)
        return 0.0;
    double d = ((double)c_bw - (double)mn) / (double)mx;
    return d < 0.0 ? 0.0 : d > 1.0 ? 1.0 : d;
}

double cbad_entropy_counts(const uint64_t counts[256])
{
    uint64_t len = 0;
    for (int v = 0; v < 256; v++)
        len += counts[v];
    if (len == 0)
        return 0.0;
    double h = 0.0;
    for (int v = 0; v < 256; v++)
        if (counts[v]) {
            double q = (double)counts[v] / (double)len;
            h -= q * log2(q);
        }
    return h;
}

double cbad_entropy(const void *p, size_t len)
{
    if (len == 0)
        return 0.0;
    /* Four histograms side by side: runs of one byte value do not wait on one counter. */
    uint32_t c[4][256];
    memset(c, 0, sizeof c);
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        c[0][b[i]]++;
        c[1][b[i + 1]]++;
        c[2][b[i + 2]]++;
        c[3][b[i + 3]]++;
    }
    for (; i < len; i++)
        c[0][b[i]]++;
    uint64_t counts[256];
    for (int v = 0; v < 256; v++)
        counts[v] = (uint64_t)c[0][v] + c[1][v] + c[2][v] + c[3][v];
    return cbad_entropy_counts(counts);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void cbad_rng_seed(cbad_rng_t *r, uint64_t seed, uint64_t window_index)
{
    uint64_t x = seed ^ (window_index * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* Inline bodies: the shuffles draw one number per event per permutation. */
static inline uint64_t cbad_rng_step(cbad_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static inline uint32_t cbad_rng_bounded(cbad_rng_t *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection: exactly uniform. */
    uint64_t m = (uint64_t)(uint32_t)(cbad_rng_step(r) >> 32) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)(uint32_t)(cbad_rng_step(r) >> 32) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

uint64_t cbad_rng_next(cbad_rng_t *r)
{
    return cbad_rng_step(r);
}

uint32_t cbad_rng_below(cbad_rng_t *r, uint32_t n)
{
    return cbad_rng_bounded(r, n);
}

/* ---- detector ------------------------------------------------------------------------------ */

#define CBAD_CW_RING 16u /* noted window sizes kept: B2 is found window / hop windows later */

struct cbad {
    cbad_settings_t s;
    uint32_t cap; /* baseline + window */
    char **ev;    /* text events, ring of cap */
    uint32_t *len;
    double *val; /* metrics values, ring of cap */
    uint64_t n;  /* events pushed */
    uint64_t windows;
    bool due;
    uint64_t quiet_until; /* text: windows starting before this stream index are folded into
                           * the last anomaly (cbad_result_note); 0 = none */
    uint64_t folded;      /* windows not handed out because of that */
    double *rep;          /* text: repetition of the last n_rep noted windows, ring */
    uint32_t n_rep, rep_cap, rep_next;
    char *clean;
    /* text: how often each canonical line (a template) was seen, by 64-bit hash: open
     * addressing, tcap a power of two, at most half full; tseen[slot]: the count the event in
     * that ring slot found before it */
    uint64_t *tkey;
    uint32_t *tcnt, *tseen;
    uint64_t *thash; /* [slot]: the hash of the event in that ring slot (0: none) */
    size_t tcap, tused;
    /* text, the per-template view's gate (cbad_template_gate): lines of a rare template (count
     * < rare_template) and of a template new to the ring (count 0) in the baseline [0] and the
     * window [1], kept as events enter, move and leave */
    uint32_t rare_n[2], new_n[2];
    uint32_t fresh_n[2]; /* lines of a template new to the stream (tfresh), baseline and window */
    uint8_t *tfresh;     /* [slot]: 1 if that event's template was new to the stream */
    uint64_t *ckey;      /* coarse keys seen (cbad_template_first): open addressing, ccap a power
                          * of two, at most half full */
    size_t ccap, cused;
    uint64_t *chash;      /* [slot]: the coarse key of the event in that ring slot */
    uint64_t fresh_end;   /* one past the newest line whose template the table had never held */
    uint64_t anomaly_end; /* one past the last noted anomaly's last event; 0: none yet */
    uint64_t hist_b[256], hist_w[256]; /* text: byte counts (events + '\n') of baseline, window */
    /* text: the windows' compressed sizes noted last, by the stream index of their first event:
     * the baseline's last block (B2) of a later window is the same events (window / hop
     * windows later when the block is window-sized), so its size is known without compressing */
    struct {
        uint64_t first;
        size_t raw, comp;
    } cw[CBAD_CW_RING];
    uint32_t cw_next;
};

/* One occurrence of the canonical line with hash h less (it left the baseline). */
static void cbad_template_forget(cbad_t *d, uint64_t h)
{
    size_t j = h & (d->tcap - 1);
    while (d->tkey[j] && d->tkey[j] != h)
        j = (j + 1) & (d->tcap - 1);
    if (d->tkey[j] && d->tcnt[j] > 0 && d->tcnt[j] < UINT32_MAX)
        d->tcnt[j]--;
}

/* Whether a token (or a key=value token's value) is a name that is data: literal letters
 * (outside <...> placeholders) joined by '.', '_' or '~' (host, file, package and rdd names), or
 * with two digits or more (bn932, cn910: numbered hosts; one digit stays, eth0 and ssh2 name a
 * kind), or around a placeholder (IO<NUM>Family, bn<NUM>, jA9JBVPb<NUM>): words that
 * canonicalisation keeps whole because they are not numbers. */
static bool cbad_template_is_name(const char *t, size_t len)
{
    bool letter = false, joint = false, placeholder = false;
    unsigned digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '<') {
            placeholder = true;
            while (i < len && t[i] != '>')
                i++;
            continue;
        }
        letter |= isalpha((unsigned char)t[i]) != 0;
        digits += isdigit((unsigned char)t[i]) != 0;
        joint |= t[i] == '.' || t[i] == '_' || t[i] == '~';
    }
    return letter && (joint || digits >= 2 || placeholder);
}

#define CBAD_FNV_BASIS  1469598103934665603ULL
#define CBAD_FNV(h, ch) (((h) ^ (unsigned char)(ch)) * 1099511628211ULL)

static uint64_t cbad_template_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h | 1;
}

/* The two keys of a canonical line, in one pass over it (every event pays for them).
 *
 * *key, the template key: its hash (FNV-1a with a finaliser; never 0, the empty mark) with every
 * name that is data (above) read as one '*' — the key of key=value stays — so a known message
 * about a new host or package counts as the known template it is. A number standing alone is
 * read without its width (<NUM3> bytes and <NUM4> bytes are one template); a key=value value
 * keeps it (duration_ms=<NUM4> among duration_ms=<NUM2> is a new template).
 *
 * *coarse, which says whether its template is new to the stream: the template key with every
 * number or hex placeholder read as one '#', whatever its kind or width, in a key=value value
 * too (user_id=<NUM2> and user_id=<NUM3>, request_id=<HEX> and an id that happened to be all
 * digits, request_id=<NUM9>, are one template there). */
static void cbad_template_keys(const char *line, size_t len, uint64_t *key, uint64_t *coarse)
{
    uint64_t h = CBAD_FNV_BASIS, c = CBAD_FNV_BASIS;
    size_t i = 0;
    while (i < len) {
        size_t b = i;
        while (i < len && line[i] != ' ')
            i++;
        size_t v = b;
        while (v < i && line[v] != '=')
            v++;
        v = v < i ? v + 1 : b; /* the value of key=value, else the whole token */
        for (size_t k = b; k < v; k++) {
            h = CBAD_FNV(h, line[k]);
            c = CBAD_FNV(c, line[k]);
        }
        if (cbad_template_is_name(line + v, i - v)) {
            h = CBAD_FNV(h, '*');
            c = CBAD_FNV(c, '*');
        } else {
            size_t skip = v; /* coarse: a placeholder read as '#' ends before this */
            for (size_t k = v; k < i; k++) {
                bool width = v == b && k >= b + 4 && isdigit((unsigned char)line[k]) &&
                             memcmp(line + k - 4, "<NUM", 4) == 0;
                if (!width)
                    h = CBAD_FNV(h, line[k]);
                if (k < skip)
                    continue;
                if (line[k] == '<' && i - k >= 5 &&
                    (memcmp(line + k, "<NUM", 4) == 0 || memcmp(line + k, "<HEX", 4) == 0)) {
                    size_t e = k;
                    while (e < i && line[e] != '>')
                        e++;
                    skip = e + 1;
                    c = CBAD_FNV(c, '#');
                    continue;
                }
                c = CBAD_FNV(c, line[k]);
            }
        }
        for (; i < len && line[i] == ' '; i++) {
            h = CBAD_FNV(h, ' ');
            c = CBAD_FNV(c, ' ');
        }
    }
    *key = cbad_template_final(h);
    *coarse = cbad_template_final(c);
}

#define CBAD_TEMPLATES_MAX                                                                         \
    (1u << 18) /* table slots at most (3 MiB): then rebuilt from the ring                          \
                */

static void cbad_template_insert(cbad_t *d, uint64_t h)
{
    size_t j = h & (d->tcap - 1);
    while (d->tkey[j] && d->tkey[j] != h)
        j = (j + 1) & (d->tcap - 1);
    if (!d->tkey[j]) {
        d->tkey[j] = h;
        d->tused++;
    }
    if (d->tcnt[j] < UINT32_MAX)
        d->tcnt[j]++;
}

/* The count of the canonical line with hash h before this one, then counted (the event in ring
 * slot `slot`). A full table (CBAD_TEMPLATES_MAX) is rebuilt from the lines in
 * the ring: exact for the default count over the baseline and window, the older history (and
 * with rare_history the older counts) forgotten. UINT32_MAX when the table cannot grow (the line
 * then counts as common). */
static uint32_t cbad_template_bump(cbad_t *d, uint64_t h, uint32_t slot)
{
    if ((d->tused + 1) * 2 > d->tcap && d->tcap >= CBAD_TEMPLATES_MAX) {
        memset(d->tkey, 0, d->tcap * sizeof *d->tkey);
        memset(d->tcnt, 0, d->tcap * sizeof *d->tcnt);
        d->tused = 0;
        for (uint32_t i = 0; i < d->cap; i++)
            if (i != slot && d->thash[i])
                cbad_template_insert(d, d->thash[i]);
    }
    if ((d->tused + 1) * 2 > d->tcap) {
        size_t nc = d->tcap * 2;
        uint64_t *nk = calloc(nc, sizeof *nk);
        uint32_t *nv = calloc(nc, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return UINT32_MAX;
        }
        for (size_t i = 0; i < d->tcap; i++) {
            if (!d->tkey[i])
                continue;
            size_t j = d->tkey[i] & (nc - 1);
            while (nk[j])
                j = (j + 1) & (nc - 1);
            nk[j] = d->tkey[i];
            nv[j] = d->tcnt[i];
        }
        free(d->tkey);
        free(d->tcnt);
        d->tkey = nk;
        d->tcnt = nv;
        d->tcap = nc;
    }
    size_t j = h & (d->tcap - 1);
    while (d->tkey[j] && d->tkey[j] != h)
        j = (j + 1) & (d->tcap - 1);
    uint32_t c = d->tkey[j] ? d->tcnt[j] : 0;
    cbad_template_insert(d, h);
    return c;
}

/* Whether the coarse key ch (cbad_template_keys; the event in ring slot `slot`) is new to
 * the stream, as far back as the set remembers, then remembered. The set of coarse keys grows
 * to CBAD_TEMPLATES_MAX slots, then is rebuilt from the lines in the ring (the older history
 * forgotten). false when it cannot grow (the line then counts as known). */
static bool cbad_template_first(cbad_t *d, uint64_t ch, uint32_t slot)
{
    if ((d->cused + 1) * 2 > d->ccap && d->ccap >= CBAD_TEMPLATES_MAX) {
        memset(d->ckey, 0, d->ccap * sizeof *d->ckey);
        d->cused = 0;
        for (uint32_t i = 0; i < d->cap; i++) {
            if (i == slot || !d->chash[i])
                continue;
            size_t j = d->chash[i] & (d->ccap - 1);
            while (d->ckey[j] && d->ckey[j] != d->chash[i])
                j = (j + 1) & (d->ccap - 1);
            if (!d->ckey[j])
                d->ckey[j] = d->chash[i], d->cused++;
        }
    }
    if ((d->cused + 1) * 2 > d->ccap) {
        size_t nc = d->ccap * 2;
        uint64_t *nk = calloc(nc, sizeof *nk);
        if (!nk)
            return false;
        for (size_t i = 0; i < d->ccap; i++) {
            if (!d->ckey[i])
                continue;
            size_t j = d->ckey[i] & (nc - 1);
            while (nk[j])
                j = (j + 1) & (nc - 1);
            nk[j] = d->ckey[i];
        }
        free(d->ckey);
        d->ckey = nk;
        d->ccap = nc;
    }
    size_t j = ch & (d->ccap - 1);
    while (d->ckey[j] && d->ckey[j] != ch)
        j = (j + 1) & (d->ccap - 1);
    if (d->ckey[j])
        return false;
    d->ckey[j] = ch;
    d->cused++;
    return true;
}

int cbad_new(const cbad_settings_t *s, cbad_t **out)
{
    *out = NULL;
    if (cbad_settings_check(s, NULL, NULL) < 0)
        return -EINVAL;
    cbad_t *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->s = *s;
    d->cap = s->baseline + s->window;
    if (s->type == CBAD_STREAM_METRICS) {
        d->val = calloc(d->cap, sizeof *d->val);
    } else {
        d->ev = calloc(d->cap, sizeof *d->ev);
        d->len = calloc(d->cap, sizeof *d->len);
        d->clean = malloc(CBAD_EVENT_MAX + 1);
        d->rep_cap = s->baseline / s->hop + 1;
        d->rep = calloc(d->rep_cap, sizeof *d->rep);
        d->tcap = 1024;
        d->tkey = calloc(d->tcap, sizeof *d->tkey);
        d->tcnt = calloc(d->tcap, sizeof *d->tcnt);
        d->tseen = calloc(d->cap, sizeof *d->tseen);
        d->thash = calloc(d->cap, sizeof *d->thash);
        d->tfresh = calloc(d->cap, sizeof *d->tfresh);
        d->ccap = 1024;
        d->ckey = calloc(d->ccap, sizeof *d->ckey);
        d->chash = calloc(d->cap, sizeof *d->chash);
    }
    if ((s->type == CBAD_STREAM_METRICS && !d->val) ||
        (s->type != CBAD_STREAM_METRICS &&
         (!d->ev || !d->len || !d->clean || !d->rep || !d->tkey || !d->tcnt || !d->tseen ||
          !d->thash || !d->tfresh || !d->ckey || !d->chash))) {
        cbad_destroy(&d);
        return -ENOMEM;
    }
    *out = d;
    return 0;
}

void cbad_destroy(cbad_t **pd)
{
    cbad_t *d = *pd;
    if (!d)
        return;
    if (d->ev)
        for (uint32_t i = 0; i < d->cap; i++)
            free(d->ev[i]);
    free(d->ev);
    free(d->len);
    free(d->val);
    free(d->clean);
    free(d->rep);
    free(d->tkey);
    free(d->tcnt);
    free(d->tseen);
    free(d->thash);
    free(d->tfresh);
    free(d->ckey);
    free(d->chash);
    free(d);
    *pd = NULL;
}

const cbad_settings_t *cbad_settings(const cbad_t *d)
{
    return &d->s;
}

uint64_t cbad_events(const cbad_t *d)
{
    return d->n;
}

uint64_t cbad_windows(const cbad_t *d)
{
    return d->windows;
}

/* A window is due when the ring is full and the window end sits on a hop boundary. */
static int cbad_after_push(cbad_t *d)
{
    d->n++;
    d->due = d->n >= d->cap && (d->n - d->cap) % d->s.hop == 0;
    if (d->due)
        d->windows = (d->n - d->cap) / d->s.hop + 1;
    if (d->due && d->n - d->s.window < d->quiet_until) {
        d->due = false;
        d->folded++;
    }
    return d->due ? 1 : 0;
}

void cbad_result_note(cbad_t *d, const cbad_result_t *r)
{
    if (d->s.type == CBAD_STREAM_METRICS)
        return;
    if (r->window_raw && r->window_compressed) {
        d->cw[d->cw_next].first = r->first_event;
        d->cw[d->cw_next].raw = r->window_raw;
        d->cw[d->cw_next].comp = r->window_compressed;
        d->cw_next = (d->cw_next + 1) % CBAD_CW_RING;
    }
    if (r->anomaly) {
        /* the gate's burst rule looks for a template new to the stream after this point */
        if (r->last_event + 1 > d->anomaly_end)
            d->anomaly_end = r->last_event + 1;
        if (d->s.fold && r->last_event + 1 > d->quiet_until)
            d->quiet_until = r->last_event + 1;
        return;
    }
    d->rep[d->rep_next] = r->repetition;
    d->rep_next = (d->rep_next + 1) % d->rep_cap;
    if (d->n_rep < d->rep_cap)
        d->n_rep++;
}

/* The largest repetition among the noted windows (a few dozen: a scan is cheapest); 0 before
 * any, so a caller that notes nothing gets the threshold alone. */
static double cbad_rep_usual(const cbad_t *d)
{
    double m = 0.0;
    for (uint32_t i = 0; i < d->n_rep; i++)
        m = d->rep[i] > m ? d->rep[i] : m;
    return m;
}

uint64_t cbad_folded(const cbad_t *d)
{
    return d->folded;
}

int cbad_push_value(cbad_t *d, double value)
{
    if (d->s.type != CBAD_STREAM_METRICS || !isfinite(value))
        return -EINVAL;
    d->val[d->n % d->cap] = value;
    return cbad_after_push(d);
}

/* The gate's counts follow the events as the byte counts do: the line in `slot` (if the ring is
 * full) leaves the baseline, the window's oldest moves into the baseline. Before the new line. */
static void cbad_template_move(cbad_t *d, uint32_t slot)
{
    if (d->n >= d->cap) {
        d->rare_n[0] -= d->tseen[slot] < d->s.rare_template;
        d->new_n[0] -= d->tseen[slot] == 0;
        d->fresh_n[0] -= d->tfresh[slot];
    }
    if (d->n >= d->s.window) {
        uint32_t mv = (uint32_t)((d->n - d->s.window) % d->cap);
        uint32_t rare = d->tseen[mv] < d->s.rare_template, fresh = d->tseen[mv] == 0;
        d->rare_n[1] -= rare;
        d->new_n[1] -= fresh;
        d->rare_n[0] += rare;
        d->new_n[0] += fresh;
        d->fresh_n[1] -= d->tfresh[mv];
        d->fresh_n[0] += d->tfresh[mv];
    }
}

/* Whether the window due now may be an anomaly: the per-template view's gate (docs/watch.md, "The
 * gate against the stream's own novelty"). It must hold a line of a template new to the ring, or
 * more lines of rare templates than the baseline's usual share of them — lambda = the baseline's
 * count scaled to the window, passed when the window's count exceeds lambda + sqrt(lambda), one
 * Poisson standard deviation; a stream full of rare lines does not alarm for each. A window
 * overlapping the last noted anomaly's window must moreover hold, after it, a line of a template
 * new to the stream (one the table had never held, as far back as it remembers): a burst's
 * later windows repeat what the anomaly reported. O(1): the counts are kept as events come and
 * go. */
static bool cbad_template_gate(const cbad_t *d)
{
    double lambda = (double)d->rare_n[0] * d->s.window / d->s.baseline;
    bool rare = d->rare_n[1] > 0 && (double)d->rare_n[1] > lambda + sqrt(lambda);
    if (!rare && d->new_n[1] == 0)
        return false;
    if (d->anomaly_end > d->n - d->s.window) /* overlaps the last anomaly's window */
        return d->fresh_end > d->anomaly_end;
    return true;
}

/* Whether the window is an anomaly of its own kind, a new template: it holds a line of a
 * template new to the stream (one the table had never held) while the baseline holds none — a
 * settled stream that learnt nothing new in its last `baseline` lines. On a stream that keeps
 * bringing new templates a new one is no surprise by itself and the compression view judges it
 * (docs/watch.md, "New templates on a settled stream"). O(1): the counts are kept. */
static bool cbad_template_new(const cbad_t *d)
{
    return d->fresh_n[0] == 0 && d->fresh_end > d->n - d->s.hop;
}

/* Adds (sign 1) or removes (-1) one event and its '\n' from byte counts. */
static void cbad_hist_add(uint64_t h[256], const char *p, uint32_t len, int sign)
{
    const unsigned char *b = (const unsigned char *)p;
    if (sign > 0) {
        for (uint32_t i = 0; i < len; i++)
            h[b[i]]++;
        h['\n']++;
    } else {
        for (uint32_t i = 0; i < len; i++)
            h[b[i]]--;
        h['\n']--;
    }
}

int cbad_push(cbad_t *d, const void *event, size_t len)
{
    if (d->s.type == CBAD_STREAM_METRICS) {
        char num[64];
        const char *p = event;
        while (len && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\n' ||
                       p[len - 1] == '\r'))
            len--;
        if (len == 0 || len >= sizeof num)
            return -EINVAL;
        memcpy(num, p, len);
        num[len] = '\0';
        char *end = NULL;
        errno = 0;
        double v = strtod(num, &end);
        if (errno || *end != '\0')
            return -EINVAL;
        return cbad_push_value(d, v);
    }
    if (len > CBAD_EVENT_MAX)
        len = CBAD_EVENT_MAX;
    size_t n =
        cbad_text_clean(event, len, d->s.canonicalise, d->s.redact, d->clean, CBAD_EVENT_MAX + 1);
    uint32_t slot = (uint32_t)(d->n % d->cap);
    /* The byte counts follow the events: the oldest (in this slot) leaves the baseline, the
     * window's oldest moves into the baseline, the new one enters the window. */
    bool full = d->n >= d->cap;
    if (full)
        cbad_hist_add(d->hist_b, d->ev[slot], d->len[slot], -1);
    char *copy = realloc(d->ev[slot], n + 1);
    if (!copy) {
        if (full)
            cbad_hist_add(d->hist_b, d->ev[slot], d->len[slot], 1);
        return -ENOMEM;
    }
    if (d->n >= d->s.window) {
        uint32_t mv = (uint32_t)((d->n - d->s.window) % d->cap);
        cbad_hist_add(d->hist_w, d->ev[mv], d->len[mv], -1);
        cbad_hist_add(d->hist_b, d->ev[mv], d->len[mv], 1);
    }
    memcpy(copy, d->clean, n + 1);
    if (!d->s.rare_history && d->thash[slot]) /* the line leaving the ring stops counting */
        cbad_template_forget(d, d->thash[slot]);
    cbad_template_move(d, slot);
    cbad_template_keys(d->clean, n, &d->thash[slot], &d->chash[slot]);
    d->tseen[slot] = cbad_template_bump(d, d->thash[slot], slot);
    bool fresh = cbad_template_first(d, d->chash[slot], slot);
    d->rare_n[1] += d->tseen[slot] < d->s.rare_template;
    d->new_n[1] += d->tseen[slot] == 0;
    d->tfresh[slot] = fresh;
    d->fresh_n[1] += fresh;
    if (fresh)
        d->fresh_end = d->n + 1;
    d->ev[slot] = copy;
    d->len[slot] = (uint32_t)n;
    cbad_hist_add(d->hist_w, copy, d->len[slot], 1);
    return cbad_after_push(d);
}

/* Grows *p to hold need bytes (contents not kept: the job is refilled from scratch). */
static int cbad_job_reserve(void **p, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t n = need + need / 4;
    void *q = malloc(n);
    if (!q)
        return -ENOMEM;
    free(*p);
    *p = q;
    *cap = n;
    return 0;
}

int cbad_job_refill(cbad_t *d, cbad_job_t *j)
{
    if (!d->due)
        return -EAGAIN;
    j->s = d->s;
    j->n = d->cap;
    j->index = d->windows - 1;
    j->first_event = d->n - d->cap;
    j->rep_usual = d->rep ? cbad_rep_usual(d) : 0.0;
    j->has_hist = false;
    j->template_pass = d->tseen && d->s.rare_template ? cbad_template_gate(d) : true;
    j->template_new = d->tseen && d->s.rare_template && j->template_pass && cbad_template_new(d);
    uint64_t start = d->n - d->cap;
    if (d->val) {
        free(j->data); /* a job keeps the buffers of one kind: j->val tells metrics from text */
        free(j->off);
        j->data = NULL;
        j->off = NULL;
        j->data_cap = j->off_cap = 0;
        void *v = j->val;
        int rc = cbad_job_reserve(&v, &j->val_cap, sizeof *j->val * j->n);
        j->val = v;
        if (rc < 0)
            return rc;
        for (uint32_t i = 0; i < j->n; i++)
            j->val[i] = d->val[(start + i) % d->cap];
    } else {
        free(j->val);
        j->val = NULL;
        j->val_cap = 0;
        size_t total = 0;
        for (uint32_t i = 0; i < j->n; i++)
            total += d->len[(start + i) % d->cap] + 1;
        void *data = j->data, *off = j->off;
        int rc = cbad_job_reserve(&data, &j->data_cap, total ? total : 1);
        j->data = data;
        if (rc == 0)
            rc = cbad_job_reserve(&off, &j->off_cap, sizeof *j->off * (j->n + 1));
        j->off = off;
        if (rc < 0)
            return rc;
        size_t pos = 0;
        for (uint32_t i = 0; i < j->n; i++) {
            uint32_t slot = (uint32_t)((start + i) % d->cap);
            j->off[i] = pos;
            memcpy(j->data + pos, d->ev[slot], d->len[slot]);
            pos += d->len[slot];
            j->data[pos++] = '\n';
        }
        j->off[j->n] = pos;
        /* B2 (the baseline's last m events) as an earlier window: same first event and the same
         * bytes (every event has at least its '\n', so the same count) — the same size. */
        uint32_t m = d->s.window < d->s.baseline / 2 ? d->s.window : d->s.baseline / 2;
        uint32_t nb1 = d->s.baseline - m;
        size_t raw_b2 = j->off[d->s.baseline] - j->off[nb1];
        j->b2_raw = j->b2_comp = 0;
        for (uint32_t i = 0; i < CBAD_CW_RING; i++)
            if (d->cw[i].comp && d->cw[i].first == start + nb1 && d->cw[i].raw == raw_b2) {
                j->b2_raw = raw_b2;
                j->b2_comp = d->cw[i].comp;
                break;
            }
        if (j->template_new) { /* which window lines are new, for the explanation */
            void *f = j->fresh;
            rc = cbad_job_reserve(&f, &j->fresh_cap, d->s.window);
            j->fresh = f;
            if (rc < 0)
                return rc;
            for (uint32_t i = 0; i < d->s.window; i++)
                j->fresh[i] = d->tfresh[(start + d->s.baseline + i) % d->cap];
        }
        j->has_hist = true;
        memcpy(j->hist[0], d->hist_b, sizeof d->hist_b);
        memcpy(j->hist[1], d->hist_w, sizeof d->hist_w);
    }
    d->due = false;
    return 0;
}

int cbad_job_take(cbad_t *d, cbad_job_t **out)
{
    *out = NULL;
    if (!d->due)
        return -EAGAIN;
    cbad_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    int rc = cbad_job_refill(d, j);
    if (rc < 0) {
        cbad_job_destroy(&j);
        return rc;
    }
    *out = j;
    return 0;
}

void cbad_job_destroy(cbad_job_t **pj)
{
    cbad_job_t *j = *pj;
    if (!j)
        return;
    free(j->data);
    free(j->off);
    free(j->val);
    free(j->fresh);
    free(j);
    *pj = NULL;
}

uint64_t cbad_job_window_index(const cbad_job_t *j)
{
    return j->index;
}

/* ---- scratch ------------------------------------------------------------------------------- */

int cbad_scratch_new(cbad_scratch_t **out)
{
    cbad_scratch_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->cctx = ZSTD_createCCtx();
    s->cctx_w = ZSTD_createCCtx();
    if (!s->cctx || !s->cctx_w) {
        ZSTD_freeCCtx(s->cctx);
        ZSTD_freeCCtx(s->cctx_w);
        free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void cbad_scratch_destroy(cbad_scratch_t **ps)
{
    cbad_scratch_t *s = *ps;
    if (!s)
        return;
    ZSTD_freeCCtx(s->cctx);
    ZSTD_freeCCtx(s->cctx_w);
    for (unsigned i = 0; i < CBAD_SEQ_CACHE; i++)
        cbad_seq_free(&s->seq[i]);
    free(s->buf);
    free(s->out);
    free(s->order);
    free(s->enc);
    free(s->enc_off);
    free(s);
    *ps = NULL;
}

int cbad_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (*cap >= need)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* ---- compressed sizes ---------------------------------------------------------------------- */

/* Compressed size of src as one zstd frame. Fast mode reuses the scratch's two contexts, set
 * once — one for baseline-sized inputs, one for window-sized ones, so that neither switches
 * table sizes (and clears its tables) from one call to the next; full mode uses a fresh
 * compressor per call, as a straightforward implementation does. Both give the same size bit for
 * bit: zstd's output depends on the level and the input only. */
static int cbad_csize(cbad_scratch_t *sc, cbad_mode_t mode, int level, bool small, const char *src,
                      size_t len, size_t *out)
{
    size_t r;
    if (mode == CBAD_MODE_FULL) {
        r = ZSTD_compress(sc->out, sc->out_cap, src, len, level);
    } else {
        ZSTD_CCtx *cx = small ? sc->cctx_w : sc->cctx;
        int *set = small ? &sc->level_w : &sc->level;
        if (*set != level) {
            size_t e = ZSTD_CCtx_setParameter(cx, ZSTD_c_compressionLevel, level);
            if (ZSTD_isError(e))
                return -EIO;
            *set = level;
        }
        r = ZSTD_compress2(cx, sc->out, sc->out_cap, src, len);
    }
    if (ZSTD_isError(r))
        return -EIO;
    *out = r;
    return 0;
}

/* Lays out the events of sc->order in sc->buf — all of them (B1, B2, W), or with window_only the
 * window's alone — and records the raw sizes. */
static void cbad_layout(cbad_scratch_t *sc, const char *data, const size_t *off, uint32_t n,
                        uint32_t nb, uint32_t nb1, bool window_only, cbad_sizes_t *z)
{
    memset(z, 0, sizeof *z);
    size_t pos = 0;
    for (uint32_t i = window_only ? nb : 0; i < n; i++) {
        uint32_t e = sc->order[i];
        size_t len = off[e + 1] - off[e];
        memcpy(sc->buf + pos, data + off[e], len);
        pos += len;
        if (i + 1 == nb1)
            z->raw_b1 = pos;
        if (i + 1 == nb)
            z->raw_b = pos;
    }
    z->raw_w = pos - z->raw_b;
}

typedef enum {
    CBAD_MEASURE_OBSERVED, /* C(B), C(W), C(B||W), and C(B1), C(B2) for the usual level */
    CBAD_MEASURE_SPLIT,    /* C(B), C(W), C(B||W): a shuffle tested for novelty */
    CBAD_MEASURE_WINDOW,   /* C(W) alone (buf holds the window only): a shuffle tested as a flood */
} cbad_measure_t;

/* The raw sizes of the split in stream order (the observed one), read from the offsets. */
static void cbad_sizes_in_order(const size_t *off, uint32_t n, uint32_t nb, uint32_t nb1,
                                cbad_sizes_t *z)
{
    memset(z, 0, sizeof *z);
    z->raw_b1 = off[nb1] - off[0];
    z->raw_b = off[nb] - off[0];
    z->raw_w = off[n] - off[nb];
}

/* Measures the compressed sizes of the split laid out at b (sc->buf, or the job's own events
 * for the split in stream order). */
static int cbad_measure(cbad_scratch_t *sc, cbad_mode_t mode, int level, cbad_measure_t what,
                        const cbad_job_t *j, const char *b, cbad_sizes_t *z)
{
    size_t b1 = z->raw_b1, rb = z->raw_b, all = z->raw_b + z->raw_w;
    int rc;
    if (what == CBAD_MEASURE_WINDOW)
        return cbad_csize(sc, mode, level, true, b, z->raw_w, &z->c_w);
    if ((rc = cbad_csize(sc, mode, level, false, b, rb, &z->c_b)) < 0 ||
        (rc = cbad_csize(sc, mode, level, true, b + rb, all - rb, &z->c_w)) < 0 ||
        (rc = cbad_csize(sc, mode, level, false, b, all, &z->c_bw)) < 0)
        return rc;
    if (what != CBAD_MEASURE_OBSERVED)
        return 0;
    if ((rc = cbad_csize(sc, mode, level, false, b, b1, &z->c_b1)) < 0)
        return rc;
    /* The fast mode takes C(B2) from the earlier window that held the same events, if noted. */
    if (mode == CBAD_MODE_FAST && j->b2_comp && j->b2_raw == rb - b1) {
        z->c_b2 = j->b2_comp;
        return 0;
    }
    return cbad_csize(sc, mode, level, true, b + b1, rb - b1, &z->c_b2);
}

/* ---- scoring ------------------------------------------------------------------------------- */

/* Text streams: the largest repetition of the baseline's own blocks of m events before its last
 * block (the usual level), against that block's ratio — how bursty the stream already was. Only
 * a flood candidate pays for it (a few window-sized compressions), and both modes measure it
 * alike, so a flood needs more repetition than the baseline has shown. Raises *usual. */
static int cbad_rep_baseline(cbad_scratch_t *sc, cbad_mode_t mode, int level, const char *data,
                             const size_t *off, uint32_t nb1, uint32_t m, double ratio_ref,
                             double *usual)
{
    for (uint32_t b = 0; m > 0 && b + m <= nb1; b += m) {
        size_t raw = off[b + m] - off[b], c = 0;
        int rc = cbad_csize(sc, mode, level, true, data + off[b], raw, &c);
        if (rc < 0)
            return rc;
        double ratio_b = c ? (double)raw / (double)c : 0.0;
        double rep = ratio_b > 0 ? 1.0 - ratio_ref / ratio_b : 0.0;
        if (rep > *usual)
            *usual = rep;
    }
    return 0;
}

static double ratio(size_t raw, size_t comp)
{
    return comp ? (double)raw / (double)comp : 0.0;
}

/* The smallest k with (k + 1) / (N + 1) >= alpha: once k permutations reach the observed
 * NCD, the full test's p cannot drop below alpha whatever the others do. */
static uint32_t cbad_k_stop(uint32_t n_perm, double alpha)
{
    double k = ceil(alpha * (double)(n_perm + 1)) - 1.0;
    if (k < 0)
        k = 0;
    /* Guard against the product landing a hair under an integer. */
    while (k > 0 && (k) / (double)(n_perm + 1) >= alpha)
        k -= 1.0;
    while ((k + 1.0) / (double)(n_perm + 1) < alpha)
        k += 1.0;
    return (uint32_t)k;
}

/* The scratch's sequential boundaries for these settings, built on first use. */
static int cbad_seq_for(cbad_scratch_t *sc, const cbad_settings_t *s, uint32_t k_stop,
                        uint32_t n_grade, const cbad_seq_t **out)
{
    for (unsigned i = 0; i < CBAD_SEQ_CACHE; i++)
        if (sc->seq[i].n_perm == s->permutations && sc->seq[i].alpha == s->p_threshold) {
            *out = &sc->seq[i];
            return 0;
        }
    cbad_seq_t *t = &sc->seq[sc->seq_next];
    sc->seq_next = (sc->seq_next + 1) % CBAD_SEQ_CACHE;
    int rc = cbad_seq_build(t, s->permutations, s->p_threshold, k_stop, n_grade);
    if (rc < 0)
        return rc;
    *out = t;
    return 0;
}

/* The entropies of the baseline and the window, from the detector's byte counts when it kept
 * them (bit-equal to a pass over the bytes). */
static void cbad_entropies(const cbad_job_t *j, const char *data, const size_t *off, uint32_t nb,
                           cbad_result_t *r)
{
    r->baseline_entropy = j->has_hist ? cbad_entropy_counts(j->hist[0])
                                      : cbad_entropy(data + off[0], off[nb] - off[0]);
    r->window_entropy = j->has_hist ? cbad_entropy_counts(j->hist[1])
                                    : cbad_entropy(data + off[nb], off[j->n] - off[nb]);
    r->entropy_change = r->window_entropy - r->baseline_entropy;
}

/* Fast mode, a text window the per-template view's gate stops (cbad_template_gate; mostly
 * windows whose every line was seen at least rare_template times): the view makes it normal
 * whatever it measures, in the full test too, so only what the stream keeps from a scored
 * window is measured — C(W), noted for a later window's C(B2), and the repetition, noted for the
 * stream's usual level — both bit-equal to the full path's. Two window-sized compressions (one
 * when C(B2) is known) instead of five. */
static int cbad_common_score(const cbad_job_t *j, cbad_scratch_t *sc, const char *data,
                             const size_t *off, uint32_t nb, uint32_t nb1, cbad_result_t *r)
{
    const cbad_settings_t *s = &j->s;
    size_t raw_w = off[j->n] - off[nb], raw_b2 = off[nb] - off[nb1], c_w = 0, c_b2 = 0;
    int rc = cbad_csize(sc, CBAD_MODE_FAST, s->level, true, data + off[nb], raw_w, &c_w);
    if (rc < 0)
        return rc;
    if (j->b2_comp && j->b2_raw == raw_b2)
        c_b2 = j->b2_comp;
    else if ((rc = cbad_csize(sc, CBAD_MODE_FAST, s->level, true, data + off[nb1], raw_b2, &c_b2)) <
             0)
        return rc;
    r->common = true;
    r->window_index = j->index;
    r->first_event = j->first_event + nb;
    r->last_event = j->first_event + j->n - 1;
    r->compression_window = ratio(raw_w, c_w);
    r->compression_reference = ratio(raw_b2, c_b2);
    double rep =
        r->compression_window > 0 ? 1.0 - r->compression_reference / r->compression_window : 0.0;
    r->repetition = rep < 0.0 ? 0.0 : rep > 1.0 ? 1.0 : rep;
    r->repetition_usual = j->rep_usual;
    r->window_raw = raw_w;
    r->window_compressed = c_w;
    cbad_entropies(j, data, off, nb, r);
    r->p_value = 1.0;
    r->p_graded = 1.0;
    r->score = r->repetition; /* untested: the effect alone, as for a screened window */
    return 0;
}

typedef enum {
    CBAD_RAN_ALL = 0,
    CBAD_STOP_EXACT,   /* k reached the exact curtailment: the full test cannot be significant */
    CBAD_STOP_NOT_SIG, /* sequential boundary: not significant beyond doubt */
    CBAD_STOP_SIG,     /* sequential boundary: significant beyond doubt */
} cbad_stop_t;

int cbad_job_run_mode(const cbad_job_t *j, cbad_scratch_t *scratch, cbad_mode_t mode,
                      cbad_result_t *r)
{
    memset(r, 0, sizeof *r);
    cbad_scratch_t *own = NULL;
    int rc = 0;
    if (!scratch) {
        if ((rc = cbad_scratch_new(&own)) < 0)
            return rc;
        scratch = own;
    }
    cbad_scratch_t *sc = scratch;
    const cbad_settings_t *s = &j->s;
    const char *data = j->data;
    const size_t *off = j->off;
    if (j->val) {
        if ((rc = cbad_symbolic_encode(j->val, j->n, s->baseline, s->symbols, sc, &data, &off)) < 0)
            goto out;
    }
    uint32_t n = j->n, nb = s->baseline;
    /* The stream's usual level is measured on the baseline's own last m events (the window
     * size, at most half the baseline) given the nb1 before them. */
    uint32_t m = s->window < nb / 2 ? s->window : nb / 2, nb1 = nb - m;
    size_t total = off[n];
    void *pb = sc->buf, *po = sc->order;
    rc = cbad_grow(&pb, &sc->buf_cap, total + 1, 1);
    sc->buf = pb;
    if (rc == 0)
        rc = cbad_grow(&sc->out, &sc->out_cap, ZSTD_compressBound(total), 1);
    if (rc == 0)
        rc = cbad_grow(&po, &sc->order_cap, n, sizeof *sc->order);
    sc->order = po;
    if (rc != 0) /* 0 or negative; "!= 0" lets the analyzer see order is set below */
        goto out;
    for (uint32_t i = 0; i < n; i++)
        sc->order[i] = i;

    /* The per-template view (below) decides a window its gate stops before any measure. */
    if (mode == CBAD_MODE_FAST && s->rare_template && !j->val && !j->template_pass) {
        if ((rc = cbad_common_score(j, sc, data, off, nb, nb1, r)) < 0)
            goto out;
        rc = cbad_explain(j, data, off, sc, r);
        goto out;
    }

    /* The observed split is the events in stream order, already back to back in the job: the
     * fast mode compresses them where they are; the full mode copies them as it does a shuffle. */
    cbad_sizes_t z;
    const char *laid = sc->buf;
    if (mode == CBAD_MODE_FAST) {
        cbad_sizes_in_order(off, n, nb, nb1, &z);
        laid = data + off[0];
    } else {
        cbad_layout(sc, data, off, n, nb, nb1, false, &z);
    }
    if ((rc = cbad_measure(sc, mode, s->level, CBAD_MEASURE_OBSERVED, j, laid, &z)) < 0)
        goto out;
    double ncd = cbad_ncd_directed(z.c_b, z.c_w, z.c_bw);
    double ref = cbad_ncd_directed(z.c_b1, z.c_b2, z.c_b);
    double novelty = ref < 1.0 ? (ncd - ref) / (1.0 - ref) : 0.0;
    novelty = novelty < 0.0 ? 0.0 : novelty > 1.0 ? 1.0 : novelty;
    r->ncd_reference = ref;
    r->novelty = novelty;

    r->window_index = j->index;
    r->first_event = j->first_event + nb;
    r->last_event = j->first_event + n - 1;
    r->ncd = ncd;
    r->ncd_symmetric = cbad_ncd(z.c_b, z.c_w, z.c_bw);
    r->compression_baseline = ratio(z.raw_b, z.c_b);
    r->compression_window = ratio(z.raw_w, z.c_w);
    r->compression_combined = ratio(z.raw_b + z.raw_w, z.c_bw);
    r->compression_ratio_change =
        r->compression_baseline > 0
            ? (r->compression_window - r->compression_baseline) / r->compression_baseline
            : 0.0;
    cbad_entropies(j, data, off, nb, r);
    if (!j->val) {
        r->window_raw = z.raw_w;
        r->window_compressed = z.c_w;
    }

    /* Repetition: how much better the window compresses than the baseline's own last block of
     * the same size (a flood of one kind of event says little new but is not normal either). */
    double ratio_ref = ratio(z.raw_b - z.raw_b1, z.c_b2);
    r->compression_reference = ratio_ref;
    double rep = r->compression_window > 0 ? 1.0 - ratio_ref / r->compression_window : 0.0;
    rep = rep < 0.0 ? 0.0 : rep > 1.0 ? 1.0 : rep;
    r->repetition = rep;
    r->repetition_usual = j->rep_usual;
    if (!j->val && novelty <= s->ncd_threshold && rep > s->flood_threshold && rep > j->rep_usual &&
        (rc = cbad_rep_baseline(sc, mode, s->level, data, off, nb1, m, ratio_ref,
                                &r->repetition_usual)) < 0)
        goto out;

    /* The permutation test. Two effects can make an anomaly, each with its own statistic over
     * the same shuffles: new content (novelty > ncd_threshold; statistic NCD(W|B)) or a flood
     * (otherwise repetition > flood_threshold; statistic: the window's compression ratio). A window
     * with neither effect over the threshold cannot be an anomaly whatever p is, so the fast
     * mode leaves it untested (p = 1). */
    bool flood =
        novelty <= s->ncd_threshold && rep > s->flood_threshold && rep > r->repetition_usual;
    r->flood = flood;
    uint32_t n_perm = s->permutations, k = 0, done = 0;
    uint32_t n_grade = n_perm < CBAD_GRADE_PERMUTATIONS ? n_perm : CBAD_GRADE_PERMUTATIONS;
    uint32_t k_grade = 0;
    bool tested = n_perm > 0 && (mode == CBAD_MODE_FULL || novelty > s->ncd_threshold || flood);
    cbad_stop_t stop = CBAD_RAN_ALL;
    int32_t u_bound = 0;
    if (tested) {
        uint32_t k_stop = cbad_k_stop(n_perm, s->p_threshold);
        const cbad_seq_t *seq = NULL;
        if (mode == CBAD_MODE_FAST && (rc = cbad_seq_for(sc, s, k_stop, n_grade, &seq)) < 0)
            goto out;
        cbad_rng_t rng;
        cbad_rng_seed(&rng, s->seed, j->index);
        double ratio_w = r->compression_window;
        /* A flood is decided on the window's own size: the fast mode measures nothing else. */
        bool window_only = flood && mode == CBAD_MODE_FAST;
        for (done = 0; done < n_perm;) {
            /* Fisher-Yates over the current order: each shuffle is uniform on its own. */
            for (uint32_t i = n - 1; i > 0; i--) {
                uint32_t x = cbad_rng_bounded(&rng, i + 1);
                uint32_t t = sc->order[i];
                sc->order[i] = sc->order[x];
                sc->order[x] = t;
            }
            cbad_sizes_t pz;
            cbad_layout(sc, data, off, n, nb, nb1, window_only, &pz);
            if ((rc = cbad_measure(sc, mode, s->level,
                                   window_only ? CBAD_MEASURE_WINDOW : CBAD_MEASURE_SPLIT, j,
                                   sc->buf, &pz)) < 0)
                goto out;
            done++;
            if (flood ? ratio(pz.raw_w, pz.c_w) >= ratio_w
                      : cbad_ncd_directed(pz.c_b, pz.c_w, pz.c_bw) >= ncd)
                k++;
            if (done == n_grade)
                k_grade = k;
            if (mode != CBAD_MODE_FAST || done == n_perm)
                continue;
            /* Exact curtailment: with k shuffles at or beyond the observed value, the full
             * test's p = (k_N + 1)/(N + 1) >= (k + 1)/(N + 1) >= alpha whatever is left. */
            if (k >= k_stop && k > 0) {
                stop = CBAD_STOP_EXACT;
                break;
            }
            /* Sequential boundaries (cbad_seq.c): the rest cannot change the outcome except
             * with probability CBAD_SEQ_RISK over all looks. */
            if (seq->step && done % seq->step == 0) {
                uint32_t look = done / seq->step;
                if ((int64_t)k <= seq->sig_max[look]) {
                    stop = CBAD_STOP_SIG;
                    u_bound = seq->bound[(size_t)look * (seq->kstar + 1) + k];
                    break;
                }
                if ((int64_t)k >= seq->ns_min[look]) {
                    stop = CBAD_STOP_NOT_SIG;
                    break;
                }
            }
        }
    }
    r->permutations_run = done;
    if (!tested) {
        r->p_value = 1.0;
    } else if (stop == CBAD_STOP_SIG) {
        /* An upper bound on the full test's p: its count is at most k + u (error <= the risk). */
        r->p_value = (double)(k + (uint32_t)u_bound + 1) / (double)(n_perm + 1);
        r->p_value_is_bound = true;
    } else if (stop != CBAD_RAN_ALL) {
        /* Besag & Clifford's sequential p (k/done), never below what the full test could give
         * nor below the threshold (the full test's p is at or over it, beyond doubt). */
        double bc = (double)k / (double)done, lo = (double)(k + 1) / (double)(n_perm + 1);
        r->p_value = bc > lo ? bc : lo;
        if (r->p_value < s->p_threshold)
            r->p_value = s->p_threshold;
        if (r->p_value > 1.0)
            r->p_value = 1.0;
    } else {
        r->p_value = (double)(k + 1) / (double)(n_perm + 1);
    }
    r->confidence = 1.0 - r->p_value;
    r->significant =
        tested && (stop == CBAD_STOP_SIG || (stop == CBAD_RAN_ALL && r->p_value < s->p_threshold));
    double effect = flood ? rep : novelty;
    r->anomaly = r->significant && effect > (flood ? s->flood_threshold : s->ncd_threshold);
    /* The per-template view: a window of templates the stream has seen often is no anomaly,
     * however it compresses (floods of a common line included), nor is one whose rare lines are
     * as many as usual or a burst's later window with nothing new to the stream. */
    if (s->rare_template && !j->val && !j->template_pass)
        r->anomaly = false;
    bool new_template = !r->anomaly && s->rare_template && !j->val && j->template_new;
    r->new_template = new_template;
    r->anomaly |= new_template;
    /* Severity is graded on the first n_grade shuffles, the same ones in both modes (a
     * significant window always runs them): p over them < 0.01 is strong evidence. */
    uint32_t graded = done < n_grade ? done : n_grade;
    if (done >= n_grade)
        r->p_graded = (double)(k_grade + 1) / (double)(n_grade + 1);
    else
        r->p_graded = tested ? (double)(k + 1) / (double)(graded + 1) : 1.0;
    if (new_template)
        r->severity = CBAD_SEVERITY_MEDIUM;
    else if (r->anomaly) {
        if (r->p_graded < 0.01 && effect > 0.5)
            r->severity = CBAD_SEVERITY_CRITICAL;
        else if (r->p_graded < 0.01)
            r->severity = CBAD_SEVERITY_HIGH;
        else
            r->severity = CBAD_SEVERITY_MEDIUM;
    }
    /* The score: the effect (novelty, or repetition for a flood) weighted by the test's
     * confidence. An untested window counts with confidence 1: its effect is already at or
     * under the threshold, so it scores low anyway, and the score keeps ordering quiet windows. */
    double eff = novelty > rep ? novelty : rep;
    r->score = tested ? effect * r->confidence : eff;
    if (r->score < 0)
        r->score = 0;
    if (r->score > 1)
        r->score = 1;

    for (uint32_t i = 0; i < n; i++)
        sc->order[i] = i;
    rc = cbad_explain(j, data, off, sc, r);
out:
    if (rc < 0)
        cbad_result_clear(r);
    cbad_scratch_destroy(&own);
    return rc;
}

int cbad_job_run(const cbad_job_t *j, cbad_scratch_t *scratch, cbad_result_t *out)
{
    return cbad_job_run_mode(j, scratch, CBAD_MODE_FAST, out);
}
