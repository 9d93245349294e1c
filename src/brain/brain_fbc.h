/* FEAGI's wire format for robot I/O (feagi-core): the FeagiByteContainer v4 that wraps every ZMQ
 * message, and the XYZP structure (neuron voxels per cortical area) inside it. Pure and bounded:
 * decoding reads views into the caller's buffer, checks every count, offset and length against
 * the buffer and the caller's limits, and never allocates. Encoding appends to a strbuf. */
#ifndef GANGLION_BRAIN_FBC_H
#define GANGLION_BRAIN_FBC_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

#define BRAIN_FBC_VERSION     4
#define BRAIN_FBC_ID_LEN      8  /* agent ids and cortical ids are 8 bytes */
#define BRAIN_FBC_HEAD_LEN    12 /* version, counter, struct count, agent id */
#define BRAIN_FBC_STRUCTS_MAX 255
#define BRAIN_FBC_STRUCT_HEAD 2 /* each struct: type, version */
#define BRAIN_FBC_STRUCT_VER  1
#define BRAIN_XYZP_AREA_HEAD  16 /* cortical id, u32 offset, u32 length */
#define BRAIN_XYZP_POINT_LEN  16 /* x, y, z as u32 and p as f32 */

enum {
    BRAIN_FBC_T_JSON = 1,
    BRAIN_FBC_T_XYZP = 11,
};

/* Decoding errors: negative, with brain_fbc_strerror(). */
enum {
    BRAIN_FBC_E_SHORT = -1,          /* shorter than the 12-byte header */
    BRAIN_FBC_E_VERSION = -2,        /* container version is not 4 */
    BRAIN_FBC_E_LOOKUP = -3,         /* the struct length table runs past the end */
    BRAIN_FBC_E_STRUCT_BOUNDS = -4,  /* a struct runs past the end */
    BRAIN_FBC_E_STRUCT_SHORT = -5,   /* a struct without its 2-byte header */
    BRAIN_FBC_E_TYPE = -6,           /* a struct of another type than expected */
    BRAIN_FBC_E_STRUCT_VERSION = -7, /* a struct version other than 1 */
    BRAIN_FBC_E_AREAS = -8,          /* more areas than the limit allows */
    BRAIN_FBC_E_AREA_TABLE = -9,     /* the area table runs past the struct */
    BRAIN_FBC_E_AREA_BOUNDS = -10,   /* an area's data lies outside the struct or in its table */
    BRAIN_FBC_E_AREA_LENGTH = -11,   /* an area's byte length is not a multiple of 16 */
    BRAIN_FBC_E_POINTS_AREA = -12,   /* more points in one area than the limit allows */
    BRAIN_FBC_E_POINTS_TOTAL = -13,  /* more points in the frame than the limit allows */
    BRAIN_FBC_E_TOO_BIG = -14,       /* encoding: a count or size does not fit the format */
    BRAIN_FBC_E_NOMEM = -15,
};

const char *brain_fbc_strerror(int err);

/* One struct of a decoded container: a view of its bytes, the 2-byte header included (XYZP
 * offsets count from there). */
typedef struct brain_fbc_struct {
    uint8_t type, version;
    const uint8_t *data;
    size_t len;
} brain_fbc_struct_t;

/* A decoded container; the struct views point into the decoded buffer (borrowed). */
typedef struct brain_fbc {
    uint16_t counter;
    uint8_t agent_id[BRAIN_FBC_ID_LEN];
    size_t n;
    brain_fbc_struct_t structs[BRAIN_FBC_STRUCTS_MAX];
} brain_fbc_t;

/* Decodes buf (len bytes) into *out. Bytes after the last struct are ignored, as feagi-core
 * does. Returns 0 or a BRAIN_FBC_E_* code. */
int brain_fbc_decode(const void *buf, size_t len, brain_fbc_t *out);

/* Appends a container holding n whole structs (each given with its 2-byte header) to out.
 * Returns 0, BRAIN_FBC_E_TOO_BIG (n > 255, a struct over 4 GiB) or BRAIN_FBC_E_NOMEM. */
int brain_fbc_encode(strbuf_t *out, uint16_t counter, const uint8_t agent_id[BRAIN_FBC_ID_LEN],
                     const brain_fbc_struct_t *structs, size_t n);

/* Appends a container with one JSON struct (payload: len bytes of UTF-8, not checked). */
int brain_fbc_encode_json(strbuf_t *out, uint16_t counter, const uint8_t agent_id[BRAIN_FBC_ID_LEN],
                          const char *json, size_t len);

/* The JSON text of a type-1 struct (its bytes after the header). Returns 0 or
 * BRAIN_FBC_E_TYPE / BRAIN_FBC_E_STRUCT_VERSION. */
int brain_fbc_json(const brain_fbc_struct_t *st, const char **json, size_t *len);

/* ---- XYZP ----------------------------------------------------------------------------------- */

/* Limits a decoder enforces; any zero member means "the format's own maximum". */
typedef struct brain_fbc_limits {
    size_t areas_max;           /* areas per struct (the format allows 65 535) */
    size_t points_per_area_max; /* points in one area */
    size_t points_max;          /* points in all areas together */
} brain_fbc_limits_t;

/* One decoded area: its id and a view of its planar little-endian arrays (x[n], y[n], z[n],
 * p[n], 4 bytes each) in the decoded buffer. Read points with brain_fbc_xyzp_point(). */
typedef struct brain_fbc_view {
    uint8_t id[BRAIN_FBC_ID_LEN];
    size_t n;
    const uint8_t *data; /* 16 * n bytes */
} brain_fbc_view_t;

/* A decoded XYZP struct: areas in wire order (ids may repeat; the consumer merges). */
typedef struct brain_fbc_frame {
    const brain_fbc_view_t *areas;
    size_t n_areas;
    size_t points; /* in all areas */
} brain_fbc_frame_t;

/* Decodes one XYZP struct (type 11, version 1; the whole struct, header included) into the
 * caller's array of cap views. Every area's data must lie after the area table and inside the
 * struct, be a multiple of 16 bytes, and stay within lim; more areas than cap is
 * BRAIN_FBC_E_AREAS too. out->areas = views. Returns 0 or a BRAIN_FBC_E_* code. */
int brain_fbc_xyzp_decode(const brain_fbc_struct_t *st, const brain_fbc_limits_t *lim,
                          brain_fbc_view_t *views, size_t cap, brain_fbc_frame_t *out);

/* Point i (< v->n) of an area. */
void brain_fbc_xyzp_point(const brain_fbc_view_t *v, size_t i, uint32_t *x, uint32_t *y,
                          uint32_t *z, float *p);

/* An area to encode, from host arrays (borrowed). */
typedef struct brain_fbc_area {
    uint8_t id[BRAIN_FBC_ID_LEN];
    size_t n;
    const uint32_t *x, *y, *z;
    const float *p;
} brain_fbc_area_t;

/* Appends one XYZP struct (header included) holding n areas to out. Returns 0,
 * BRAIN_FBC_E_TOO_BIG or BRAIN_FBC_E_NOMEM. */
int brain_fbc_xyzp_encode(strbuf_t *out, const brain_fbc_area_t *areas, size_t n);

/* Appends a container with one XYZP struct holding n areas. */
int brain_fbc_encode_xyzp(strbuf_t *out, uint16_t counter, const uint8_t agent_id[BRAIN_FBC_ID_LEN],
                          const brain_fbc_area_t *areas, size_t n);

/* ---- cortical ids --------------------------------------------------------------------------- */

/* Genome files (2.x) name areas with 6 characters, feagi-core with 8 bytes. An id of up to 8
 * characters is padded on the right with '_' to 8 (as the brain core does: "i__inf" ->
 * "i__inf__"). Returns 0, or -1 when name is empty or longer than 8. */
int brain_fbc_id_from_name(const char *name, uint8_t id[BRAIN_FBC_ID_LEN]);

/* Writes the 8 wire bytes as text into out (9 bytes): trailing NUL bytes (some peers pad with
 * them) dropped, bytes outside printable ASCII as '?'. */
void brain_fbc_id_to_name(const uint8_t id[BRAIN_FBC_ID_LEN], char out[BRAIN_FBC_ID_LEN + 1]);

#endif
