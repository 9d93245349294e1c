/* FeagiByteContainer v4 and XYZP, decoded as views into the received bytes and encoded into a
 * strbuf. Every count read from the wire is checked against the bytes actually present before it
 * is used to index or size anything, and lengths are compared by subtraction so that no sum of
 * untrusted values can wrap. */
#include "brain/brain_fbc.h"

#include <string.h>

/* ---- little-endian access ------------------------------------------------------------------- */

static uint16_t fbc_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t fbc_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void fbc_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void fbc_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

const char *brain_fbc_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
    case BRAIN_FBC_E_SHORT:
        return "container shorter than its 12-byte header";
    case BRAIN_FBC_E_VERSION:
        return "container version is not 4";
    case BRAIN_FBC_E_LOOKUP:
        return "struct length table runs past the end";
    case BRAIN_FBC_E_STRUCT_BOUNDS:
        return "a struct runs past the end of the container";
    case BRAIN_FBC_E_STRUCT_SHORT:
        return "a struct is shorter than its 2-byte header";
    case BRAIN_FBC_E_TYPE:
        return "unexpected struct type";
    case BRAIN_FBC_E_STRUCT_VERSION:
        return "struct version is not 1";
    case BRAIN_FBC_E_AREAS:
        return "more cortical areas than allowed";
    case BRAIN_FBC_E_AREA_TABLE:
        return "area table runs past the struct";
    case BRAIN_FBC_E_AREA_BOUNDS:
        return "an area's data lies outside the struct";
    case BRAIN_FBC_E_AREA_LENGTH:
        return "an area's length is not a multiple of 16";
    case BRAIN_FBC_E_POINTS_AREA:
        return "more points in one area than allowed";
    case BRAIN_FBC_E_POINTS_TOTAL:
        return "more points in the frame than allowed";
    case BRAIN_FBC_E_TOO_BIG:
        return "too large for the format";
    case BRAIN_FBC_E_NOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

/* Drops what a failed encode appended, keeping the buffer NUL-terminated. */
static void fbc_rewind(strbuf_t *out, size_t mark)
{
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
}

/* ---- container ------------------------------------------------------------------------------ */

int brain_fbc_decode(const void *buf, size_t len, brain_fbc_t *out)
{
    const uint8_t *b = buf;
    out->n = 0;
    if (len < BRAIN_FBC_HEAD_LEN)
        return BRAIN_FBC_E_SHORT;
    if (b[0] != BRAIN_FBC_VERSION)
        return BRAIN_FBC_E_VERSION;
    out->counter = fbc_u16(b + 1);
    size_t n = b[3];
    memcpy(out->agent_id, b + 4, BRAIN_FBC_ID_LEN);
    /* n <= 255, so the table's size cannot wrap */
    if (len - BRAIN_FBC_HEAD_LEN < 4 * n)
        return BRAIN_FBC_E_LOOKUP;
    size_t at = BRAIN_FBC_HEAD_LEN + 4 * n; /* <= len */
    for (size_t i = 0; i < n; i++) {
        size_t slen = fbc_u32(b + BRAIN_FBC_HEAD_LEN + 4 * i);
        if (slen > len - at)
            return BRAIN_FBC_E_STRUCT_BOUNDS;
        if (slen < BRAIN_FBC_STRUCT_HEAD)
            return BRAIN_FBC_E_STRUCT_SHORT;
        out->structs[i] =
            (brain_fbc_struct_t){.type = b[at], .version = b[at + 1], .data = b + at, .len = slen};
        at += slen;
    }
    out->n = n;
    return 0;
}

/* The 12-byte header and the length table of n structs whose lengths lens() gives. */
static int fbc_head_put(strbuf_t *out, uint16_t counter, const uint8_t agent_id[BRAIN_FBC_ID_LEN],
                        const size_t *lens, size_t n)
{
    if (n > BRAIN_FBC_STRUCTS_MAX)
        return BRAIN_FBC_E_TOO_BIG;
    uint8_t h[BRAIN_FBC_HEAD_LEN + 4 * BRAIN_FBC_STRUCTS_MAX];
    h[0] = BRAIN_FBC_VERSION;
    fbc_put_u16(h + 1, counter);
    h[3] = (uint8_t)n;
    memcpy(h + 4, agent_id, BRAIN_FBC_ID_LEN);
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > UINT32_MAX || lens[i] < BRAIN_FBC_STRUCT_HEAD)
            return BRAIN_FBC_E_TOO_BIG;
        fbc_put_u32(h + BRAIN_FBC_HEAD_LEN + 4 * i, (uint32_t)lens[i]);
    }
    return strbuf_append(out, h, BRAIN_FBC_HEAD_LEN + 4 * n) < 0 ? BRAIN_FBC_E_NOMEM : 0;
}

int brain_fbc_encode(strbuf_t *out, uint16_t counter, const uint8_t agent_id[BRAIN_FBC_ID_LEN],
                     const brain_fbc_struct_t *structs, size_t n)
{
    if (n > BRAIN_FBC_STRUCTS_MAX)
        return BRAIN_FBC_E_TOO_BIG;
    size_t lens[BRAIN_FBC_STRUCTS_MAX] = {0};
    for (size_t i = 0; i < n; i++)
        lens[i] = structs[i].len;
    size_t mark = out->len;
    int rc = fbc_head_put(out, counter, agent_id, lens, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (strbuf_append(out, structs[i].data, structs[i].len) < 0)
            rc = BRAIN_FBC_E_NOMEM;
    if (rc < 0)
        fbc_rewind(out, mark);
    return rc;
}

int brain_fbc_encode_json(strbuf_t *out, uint16_t counter, const uint8_t agent_id[BRAIN_FBC_ID_LEN],
                          const char *json, size_t len)
{
    if (len > UINT32_MAX - BRAIN_FBC_STRUCT_HEAD)
        return BRAIN_FBC_E_TOO_BIG;
    size_t slen = len + BRAIN_FBC_STRUCT_HEAD, mark = out->len;
    const uint8_t sh[BRAIN_FBC_STRUCT_HEAD] = {BRAIN_FBC_T_JSON, BRAIN_FBC_STRUCT_VER};
    int rc = fbc_head_put(out, counter, agent_id, &slen, 1);
    if (rc == 0 && (strbuf_append(out, sh, sizeof sh) < 0 || strbuf_append(out, json, len) < 0))
        rc = BRAIN_FBC_E_NOMEM;
    if (rc < 0)
        fbc_rewind(out, mark);
    return rc;
}

int brain_fbc_json(const brain_fbc_struct_t *st, const char **json, size_t *len)
{
    if (st->type != BRAIN_FBC_T_JSON)
        return BRAIN_FBC_E_TYPE;
    if (st->version != BRAIN_FBC_STRUCT_VER)
        return BRAIN_FBC_E_STRUCT_VERSION;
    *json = (const char *)st->data + BRAIN_FBC_STRUCT_HEAD;
    *len = st->len - BRAIN_FBC_STRUCT_HEAD;
    return 0;
}

/* ---- XYZP ----------------------------------------------------------------------------------- */

#define XYZP_FIXED (BRAIN_FBC_STRUCT_HEAD + 2) /* struct header and area count */

int brain_fbc_xyzp_decode(const brain_fbc_struct_t *st, const brain_fbc_limits_t *lim,
                          brain_fbc_view_t *views, size_t cap, brain_fbc_frame_t *out)
{
    *out = (brain_fbc_frame_t){.areas = views};
    if (st->type != BRAIN_FBC_T_XYZP)
        return BRAIN_FBC_E_TYPE;
    if (st->version != BRAIN_FBC_STRUCT_VER)
        return BRAIN_FBC_E_STRUCT_VERSION;
    if (st->len < XYZP_FIXED)
        return BRAIN_FBC_E_AREA_TABLE;
    const uint8_t *b = st->data;
    size_t len = st->len, count = fbc_u16(b + BRAIN_FBC_STRUCT_HEAD);
    size_t areas_max = lim && lim->areas_max ? lim->areas_max : SIZE_MAX;
    size_t per_area = lim && lim->points_per_area_max ? lim->points_per_area_max : SIZE_MAX;
    size_t total_max = lim && lim->points_max ? lim->points_max : SIZE_MAX;
    if (count > areas_max || count > cap)
        return BRAIN_FBC_E_AREAS;
    /* count <= 65 535: the table's size cannot wrap */
    if (len - XYZP_FIXED < BRAIN_XYZP_AREA_HEAD * count)
        return BRAIN_FBC_E_AREA_TABLE;
    size_t table_end = XYZP_FIXED + BRAIN_XYZP_AREA_HEAD * count, total = 0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *h = b + XYZP_FIXED + BRAIN_XYZP_AREA_HEAD * i;
        size_t off = fbc_u32(h + BRAIN_FBC_ID_LEN), alen = fbc_u32(h + BRAIN_FBC_ID_LEN + 4);
        if (off < table_end || off > len || alen > len - off)
            return BRAIN_FBC_E_AREA_BOUNDS;
        if (alen % BRAIN_XYZP_POINT_LEN)
            return BRAIN_FBC_E_AREA_LENGTH;
        size_t n = alen / BRAIN_XYZP_POINT_LEN;
        if (n > per_area)
            return BRAIN_FBC_E_POINTS_AREA;
        if (n > total_max - total)
            return BRAIN_FBC_E_POINTS_TOTAL;
        total += n;
        memcpy(views[i].id, h, BRAIN_FBC_ID_LEN);
        views[i].n = n;
        views[i].data = b + off;
    }
    out->n_areas = count;
    out->points = total;
    return 0;
}

void brain_fbc_xyzp_point(const brain_fbc_view_t *v, size_t i, uint32_t *x, uint32_t *y,
                          uint32_t *z, float *p)
{
    const uint8_t *d = v->data + 4 * i;
    size_t plane = 4 * v->n;
    *x = fbc_u32(d);
    *y = fbc_u32(d + plane);
    *z = fbc_u32(d + 2 * plane);
    uint32_t bits = fbc_u32(d + 3 * plane);
    memcpy(p, &bits, sizeof *p);
}

/* The struct's size for these areas, or 0 when it does not fit a u32. */
static size_t xyzp_size(const brain_fbc_area_t *areas, size_t n)
{
    if (n > UINT16_MAX)
        return 0;
    size_t total = XYZP_FIXED + BRAIN_XYZP_AREA_HEAD * n;
    for (size_t i = 0; i < n; i++) {
        if (areas[i].n > (UINT32_MAX - total) / BRAIN_XYZP_POINT_LEN)
            return 0;
        total += BRAIN_XYZP_POINT_LEN * areas[i].n;
    }
    return total;
}

static int xyzp_plane_put(strbuf_t *out, const uint32_t *v, size_t n)
{
    uint8_t chunk[256];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        fbc_put_u32(chunk + k, v[i]);
        k += 4;
        if (k == sizeof chunk || i + 1 == n) {
            if (strbuf_append(out, chunk, k) < 0)
                return BRAIN_FBC_E_NOMEM;
            k = 0;
        }
    }
    return 0;
}

static int xyzp_put(strbuf_t *out, const brain_fbc_area_t *areas, size_t n)
{
    uint8_t h[XYZP_FIXED] = {BRAIN_FBC_T_XYZP, BRAIN_FBC_STRUCT_VER};
    fbc_put_u16(h + 2, (uint16_t)n);
    if (strbuf_append(out, h, sizeof h) < 0)
        return BRAIN_FBC_E_NOMEM;
    size_t off = XYZP_FIXED + BRAIN_XYZP_AREA_HEAD * n;
    for (size_t i = 0; i < n; i++) {
        uint8_t ah[BRAIN_XYZP_AREA_HEAD];
        memcpy(ah, areas[i].id, BRAIN_FBC_ID_LEN);
        fbc_put_u32(ah + 8, (uint32_t)off);
        fbc_put_u32(ah + 12, (uint32_t)(BRAIN_XYZP_POINT_LEN * areas[i].n));
        if (strbuf_append(out, ah, sizeof ah) < 0)
            return BRAIN_FBC_E_NOMEM;
        off += BRAIN_XYZP_POINT_LEN * areas[i].n;
    }
    for (size_t i = 0; i < n; i++) {
        const brain_fbc_area_t *a = &areas[i];
        int rc;
        if ((rc = xyzp_plane_put(out, a->x, a->n)) < 0 ||
            (rc = xyzp_plane_put(out, a->y, a->n)) < 0 ||
            (rc = xyzp_plane_put(out, a->z, a->n)) < 0)
            return rc;
        /* float bits as a u32 plane: same layout, IEEE 754 little-endian on the wire */
        for (size_t j = 0; j < a->n; j++) {
            uint32_t bits;
            memcpy(&bits, &a->p[j], sizeof bits);
            uint8_t pb[4];
            fbc_put_u32(pb, bits);
            if (strbuf_append(out, pb, 4) < 0)
                return BRAIN_FBC_E_NOMEM;
        }
    }
    return 0;
}

int brain_fbc_xyzp_encode(strbuf_t *out, const brain_fbc_area_t *areas, size_t n)
{
    if (xyzp_size(areas, n) == 0)
        return BRAIN_FBC_E_TOO_BIG;
    size_t mark = out->len;
    int rc = xyzp_put(out, areas, n);
    if (rc < 0)
        fbc_rewind(out, mark);
    return rc;
}

int brain_fbc_encode_xyzp(strbuf_t *out, uint16_t counter, const uint8_t agent_id[BRAIN_FBC_ID_LEN],
                          const brain_fbc_area_t *areas, size_t n)
{
    size_t slen = xyzp_size(areas, n);
    if (slen == 0)
        return BRAIN_FBC_E_TOO_BIG;
    size_t mark = out->len;
    int rc = fbc_head_put(out, counter, agent_id, &slen, 1);
    if (rc == 0)
        rc = xyzp_put(out, areas, n);
    if (rc < 0)
        fbc_rewind(out, mark);
    return rc;
}

/* ---- cortical ids --------------------------------------------------------------------------- */

int brain_fbc_id_from_name(const char *name, uint8_t id[BRAIN_FBC_ID_LEN])
{
    size_t n = strlen(name);
    if (n == 0 || n > BRAIN_FBC_ID_LEN)
        return -1;
    memset(id, '_', BRAIN_FBC_ID_LEN);
    memcpy(id, name, n);
    return 0;
}

void brain_fbc_id_to_name(const uint8_t id[BRAIN_FBC_ID_LEN], char out[BRAIN_FBC_ID_LEN + 1])
{
    size_t n = BRAIN_FBC_ID_LEN;
    while (n > 0 && id[n - 1] == 0)
        n--;
    for (size_t i = 0; i < n; i++)
        out[i] = id[i] >= 0x20 && id[i] < 0x7f ? (char)id[i] : '?';
    out[n] = '\0';
}
