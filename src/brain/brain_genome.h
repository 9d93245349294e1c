/* FEAGI genomes: the flat 2.x JSON format parsed into structs, validated, edited and written
 * back. The parsed document is kept beside the structs, so genes and keys this module does not
 * know survive a round trip unchanged. Pure: no loop, no store, no threads. */
#ifndef GANGLION_BRAIN_GENOME_H
#define GANGLION_BRAIN_GENOME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/problem.h"

/* Cortical ids. The 2.x genome files name areas with 6 characters (`_power`, `c__for`,
 * `iic400`); feagi-core's wire formats (FeagiByteContainer XYZP) carry 8 bytes. ganglion keeps
 * the genome's own id everywhere inside (a NUL-terminated string of 1..8 characters, [A-Za-z0-9_])
 * and converts only at the wire: brain_area_id_to_wire() pads the id on the right with '_' to
 * 8 bytes ("iic400" -> "iic400__"), brain_genome_area_find_wire() finds an area by those 8
 * bytes, trying the exact 8-character id first and then the padded form. Every 2.x id has 6
 * characters, so the padding is one-to-one. */
#define BRAIN_AREA_ID_MAX   8
#define BRAIN_AREA_WIRE_LEN 8
#define BRAIN_MORPH_ID_MAX  64

/* Bounds on what a genome may ask for; each exceeded bound is a 422 naming the gene and area. */
#define BRAIN_GENOME_MAX_BYTES        (16u << 20)  /* JSON text */
#define BRAIN_GENOME_MAX_AREAS        1024u        /* cortical areas */
#define BRAIN_GENOME_MAX_MORPHS       4096u        /* morphologies */
#define BRAIN_GENOME_MAX_RULES        128u         /* rules per mapping (per destination) */
#define BRAIN_GENOME_MAX_VECTORS      4096u        /* vectors or pattern pairs per morphology */
#define BRAIN_GENOME_MAX_DIM          65535u       /* voxels along one axis */
#define BRAIN_GENOME_MAX_AREA_VOXELS  (1u << 24)   /* voxels per area */
#define BRAIN_GENOME_MAX_NPV          64u          /* neurons per voxel */
#define BRAIN_GENOME_MAX_AREA_NEURONS (1u << 24)   /* neurons per area */
#define BRAIN_NET_MAX_NEURONS         (1u << 26)   /* neurons in a network (64 M) */
#define BRAIN_NET_MAX_SYNAPSES        (1ull << 31) /* synapses in a network (2 G) */

typedef enum {
    BRAIN_MORPH_VECTORS,   /* parameters.vectors: [[dx,dy,dz] ...] × the rule's scalar */
    BRAIN_MORPH_PATTERNS,  /* parameters.patterns: [[[src x,y,z],[dst x,y,z]] ...] */
    BRAIN_MORPH_FUNCTIONS, /* named by its id: projector, block_to_block, expander_x ... */
    BRAIN_MORPH_COMPOSITE, /* tile: kept and returned, builds no synapses (docs/brain.md) */
} brain_morph_type_t;

/* The function morphologies known by id (type "functions"; all_to_all and block_to_block may
 * also come as patterns/vectors, which then build the same voxels). */
typedef enum {
    BRAIN_FN_NONE,
    BRAIN_FN_PROJECTOR,
    BRAIN_FN_BLOCK_TO_BLOCK,
    BRAIN_FN_EXPANDER_X,
    BRAIN_FN_REDUCER_X,
    BRAIN_FN_RANDOMIZER,
    BRAIN_FN_ALL_TO_ALL,
    BRAIN_FN_LATERAL_PAIRS_X,
    BRAIN_FN_UNSUPPORTED, /* e.g. episodic_memory: accepted, builds no synapses */
} brain_fn_t;

/* One element of a pattern: an exact coordinate, `*` any, `?` the source's coordinate, `!` any
 * but the source's coordinate. */
typedef enum { BRAIN_PAT_EXACT, BRAIN_PAT_ANY, BRAIN_PAT_SAME, BRAIN_PAT_OTHER } brain_pat_kind_t;
typedef struct {
    brain_pat_kind_t kind;
    int32_t value; /* BRAIN_PAT_EXACT only */
} brain_pat_elem_t;
typedef struct {
    brain_pat_elem_t src[3], dst[3];
} brain_pattern_t;

typedef struct {
    char id[BRAIN_MORPH_ID_MAX + 1];
    brain_morph_type_t type;
    brain_fn_t fn;             /* for FUNCTIONS (and for well-known ids of the other types) */
    char cls[16];              /* "core" or "custom" */
    int32_t (*vectors)[3];     /* VECTORS: n_items offsets; owned */
    brain_pattern_t *patterns; /* PATTERNS: n_items pairs; owned */
    size_t n_items;
} brain_morph_t;

/* A mapping rule: [morphology, [sx,sy,sz], psc_multiplier, plasticity_flag, plasticity_constant,
 * ltp_multiplier, ltd_multiplier(, plasticity_window)] or the same as an object. A negative
 * psc_multiplier makes the synapses inhibitory; their weight is |psc_multiplier| clamped to
 * 0..255. `arity` remembers the shape it came in (7, 8, or 0 for an object) so it is written back
 * the same way. */
typedef struct {
    char morphology[BRAIN_MORPH_ID_MAX + 1];
    int32_t scalar[3];
    double psc_multiplier;
    bool plasticity;
    double plasticity_constant, ltp_multiplier, ltd_multiplier;
    int32_t plasticity_window;
    int arity;
} brain_rule_t;

typedef struct {
    char dst[BRAIN_AREA_ID_MAX + 1];
    brain_rule_t *rules; /* owned */
    size_t n_rules;
} brain_mapping_t;

/* A cortical area with every blueprint gene of brain.md; absent genes take FEAGI's defaults
 * (brain_area_defaults). Excitability is a probability 0..1 here: genomes that write it in
 * percent (a value above 1, e.g. 100) are converted on parse and written back as they came. */
typedef struct {
    char id[BRAIN_AREA_ID_MAX + 1];
    char name[128];
    char group[16]; /* CUSTOM, IPU, OPU, CORE, MEMORY (derived from the id when absent) */
    char subgroup[32];
    uint32_t dim[3]; /* ___bbx/y/z */
    int32_t pos3[3]; /* rcordx/y/z */
    int32_t pos2[2]; /* 2dcorx/y */
    uint32_t npv;    /* _n_cnt: neurons per voxel */
    bool visible;    /* gd_vis */
    double fire_t;   /* firing threshold */
    double fthlim;   /* threshold limit, 0 = none */
    double ftinc[3]; /* threshold increment per x, y, z */
    uint32_t refrac; /* refractory period in bursts */
    double leak_c;   /* leak: a fraction 0..1, or percent when above 1 (as genomes write it) */
    double leak_v;   /* leak variability, same scale: leak drawn in leak_c ± leak_v at build */
    uint32_t c_fr_c; /* consecutive-fire limit, 0 = none */
    uint32_t snooze; /* extra refractory bursts once the limit is reached */
    bool mp_acc;     /* potential accumulates across bursts */
    bool mp_psp;     /* PSP driven by the source's potential (kept, not used by the engine) */
    double pstcr;    /* postsynaptic current: synapse PSP = clamp(pstcr, 0, 255) */
    double pstcrm;   /* its maximum */
    bool pspuni;     /* PSP uniform; else divided by the source's out-degree */
    double excite;   /* excitability, probability 0..1 */
    bool excite_pct; /* the genome wrote excite in percent */
    double synatt, de_gen;
    bool memory;
    int32_t mem_t, mem_gr, mem_ls, tmpdpt;
    brain_mapping_t *maps; /* dstmap; owned */
    size_t n_maps;
} brain_area_t;

typedef struct {
    double simulation_timestep; /* seconds per burst (default 0.1) */
    int64_t max_age, evolution_burst_count, ipu_idle_threshold, plasticity_queue_depth,
        lifespan_mgmt_interval;
} brain_physiology_t;

/* A parsed genome. Areas and morphologies are arrays in the genome's order; `doc` is the whole
 * parsed document (owned) from which unknown keys are written back. */
typedef struct {
    json_t *doc;
    char genome_id[128];
    char title[256];
    char version[16];
    brain_physiology_t physiology;
    brain_area_t *areas;
    size_t n_areas;
    brain_morph_t *morphs;
    size_t n_morphs;
    json_t *regions; /* brain_regions as given (borrowed from doc); NULL when absent */
} brain_genome_t;

/* Parses genome JSON text (at most BRAIN_GENOME_MAX_BYTES) into *out and validates it (as
 * brain_genome_validate). Accepts the flat 2.x format (`blueprint` of `_____10c-…` genes) and the
 * nested form some FEAGI examples use (`blueprint.cortical_areas`, `morphologies`), converted to
 * the flat one. The JSON is bounded like a request body (core/jsonx.h: depth 64, values in
 * proportion to the length). Returns 0; -E2BIG with a 413 when the text is too long; -EINVAL with
 * a 400 (not JSON, too deep), a 413 (too many values) or a 422 whose errors[] name the offending
 * gene keys as JSON pointers ("/blueprint/_____10c-c__for-cx-dstmap-d/o__mot"); -ENOMEM. */
int brain_genome_parse(const char *text, size_t len, brain_genome_t **out, problem_t **err);

/* Same from a parsed document; `doc` is stolen (also on failure). */
int brain_genome_from_json(json_t *doc, brain_genome_t **out, problem_t **err);

/* Checks what a build needs: every destination and morphology exists, dimensions and neurons
 * per voxel are within 1..bounds, rules have a valid arity and scalars, totals within
 * BRAIN_NET_MAX_NEURONS. Collects every error into *err (422) and returns -EINVAL, or 0. */
int brain_genome_validate(const brain_genome_t *g, problem_t **err);

/* The genome as JSON in the flat 2.x format: the original document with every known gene and
 * morphology written from the structs, unknown keys untouched. New reference, NULL on OOM. */
json_t *brain_genome_to_json(const brain_genome_t *g);

/* A deep copy (for editing a running brain's genome on another thread). NULL on OOM. */
brain_genome_t *brain_genome_clone(const brain_genome_t *g);

void brain_genome_destroy(brain_genome_t **g);

/* Look-ups: index or -1. */
ssize_t brain_genome_area_find(const brain_genome_t *g, const char *id);
ssize_t brain_genome_area_find_wire(const brain_genome_t *g,
                                    const uint8_t wire[BRAIN_AREA_WIRE_LEN]);
ssize_t brain_genome_morph_find(const brain_genome_t *g, const char *id);
/* The 8 wire bytes of an area id (padded with '_'). */
void brain_area_id_to_wire(const char *id, uint8_t wire[BRAIN_AREA_WIRE_LEN]);
/* FEAGI's defaults for an area with this id (group from its first character). */
void brain_area_defaults(brain_area_t *a, const char *id);
/* Total neurons of an area: dim x*y*z × npv. */
uint64_t brain_area_neurons(const brain_area_t *a);

/* Edits. Each validates the result as a whole and leaves *g unchanged on failure (-EINVAL with a
 * 422 in *err, -ENOENT with a 404). On success *changed (when not NULL) says what a network
 * rebuild must redo: see brain_net_rebuild. */
typedef struct {
    bool neurons;   /* layout changed (dimensions, neurons per voxel, an area added/removed) */
    bool params;    /* neuron parameters of some areas changed */
    bool synapses;  /* mappings of some areas changed */
    uint8_t *areas; /* per area index of the new genome: 1 when that area needs rebuilding
                       (its neurons/parameters or its outgoing synapses); owned by the caller,
                       free() it; NULL when nothing changed */
} brain_change_t;

/* Sets area properties from a JSON object of FEAGI property names or gene names
 * ({"cortical_name":…, "cortical_dimensions":[x,y,z], "firing_threshold":…} or {"fire_t":…}).
 * Unknown property names are a 422. */
int brain_genome_area_update(brain_genome_t *g, const char *id, const json_t *props,
                             brain_change_t *changed, problem_t **err);
/* Adds an area (props as above, "cortical_id" required) or removes one (and every mapping to it).
 */
int brain_genome_area_add(brain_genome_t *g, const json_t *props, brain_change_t *changed,
                          problem_t **err);
int brain_genome_area_remove(brain_genome_t *g, const char *id, brain_change_t *changed,
                             problem_t **err);
/* Replaces the rules from src to dst (an array of rules in either shape; empty removes it). */
int brain_genome_mapping_set(brain_genome_t *g, const char *src, const char *dst,
                             const json_t *rules, brain_change_t *changed, problem_t **err);
/* Adds or replaces a morphology ({"type":…, "parameters":{…}, "class":…}); removing one that a
 * mapping uses is a 409. */
int brain_genome_morph_set(brain_genome_t *g, const char *id, const json_t *morph,
                           brain_change_t *changed, problem_t **err);
int brain_genome_morph_remove(brain_genome_t *g, const char *id, problem_t **err);

/* Replaces brain_regions (an object of region id → region; `regions` is stolen, also on
 * failure). The regions are kept as given and written back; an area listed in a region that does
 * not exist is a 422 naming /brain_regions/<id>/areas. g->regions points at the new object. */
int brain_genome_regions_set(brain_genome_t *g, json_t *regions, problem_t **err);

/* JSON views for the API (new references): one area with FEAGI's property names; one morphology
 * as in the genome; the rules of one mapping as the genome writes them. */
json_t *brain_area_to_json(const brain_area_t *a);
json_t *brain_morph_to_json(const brain_morph_t *m);
json_t *brain_rules_to_json(const brain_mapping_t *m);

#endif
