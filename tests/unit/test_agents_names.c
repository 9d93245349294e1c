/* Unit tests for names as handles (agents_names.c): what a handle resolves to (an id, the one
 * agent of that name that has not ended, else the one that ended last), the ambiguous and taken
 * names with the agents they name, records being forgotten, and the index emptying as records
 * leave. The records are bare agent_t structs: no processes, no loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "core/htab.h"

static const void *id_key(const void *item, size_t *len)
{
    const agent_t *a = item;
    *len = strlen(a->id);
    return a->id;
}

static agents_t *ag_new(void)
{
    agents_t *ag = calloc(1, sizeof *ag);
    assert_non_null(ag);
    assert_int_equal(htab_new(&ag->by_id, id_key), 0);
    assert_int_equal(agents_names_init(ag), 0);
    return ag;
}

static agent_t *rec(agents_t *ag, const char *id, const char *name, agents_status_t st)
{
    agent_t *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->owner = ag;
    snprintf(a->id, sizeof a->id, "%s", id);
    a->name = strdup(name);
    a->status = st;
    assert_int_equal(htab_put(ag->by_id, a), 0);
    assert_int_equal(agents_name_add(a), 0);
    return a;
}

static void rec_free(agent_t *a)
{
    htab_del(a->owner->by_id, a->id, strlen(a->id));
    agents_name_del(a);
    free(a->name);
    free(a);
}

/* the status changes as agents_status_set makes it */
static void set_status(agent_t *a, agents_status_t st)
{
    a->status = st;
    agents_name_sync(a);
}

static agent_t *resolve(agents_t *ag, const char *h, int *status)
{
    agent_t *a = NULL;
    problem_t *p = agents_resolve(ag, h, &a);
    *status = p ? problem_status(p) : 200;
    problem_destroy(&p);
    return a;
}

static void test_resolution_order(void **state)
{
    (void)state;
    agents_t *ag = ag_new();
    int st;
    agent_t *old = rec(ag, "aaaaaaaaaaaa", "ticker", AGENTS_RUNNING);
    assert_ptr_equal(resolve(ag, "ticker", &st), old);
    assert_ptr_equal(resolve(ag, "aaaaaaaaaaaa", &st), old);
    assert_null(resolve(ag, "nobody", &st));
    assert_int_equal(st, 404);
    /* ended: still the name's, until another takes it */
    set_status(old, AGENTS_FAILED);
    assert_ptr_equal(resolve(ag, "ticker", &st), old);
    agent_t *next = rec(ag, "bbbbbbbbbbbb", "ticker", AGENTS_RUNNING);
    assert_ptr_equal(resolve(ag, "ticker", &st), next);
    /* of the ended ones, the one that ended last — not the one created last */
    agent_t *third = rec(ag, "cccccccccccc", "ticker", AGENTS_RUNNING);
    set_status(third, AGENTS_COMPLETED);
    assert_ptr_equal(resolve(ag, "ticker", &st), next);
    set_status(next, AGENTS_TERMINATED);
    assert_ptr_equal(resolve(ag, "ticker", &st), next);
    /* an id wins over a name that spells it */
    agent_t *impostor = rec(ag, "dddddddddddd", "aaaaaaaaaaaa", AGENTS_RUNNING);
    assert_ptr_equal(resolve(ag, "aaaaaaaaaaaa", &st), old);
    assert_ptr_equal(resolve(ag, "dddddddddddd", &st), impostor);
    /* an ended agent that starts again (restart of a terminated one) is live again */
    set_status(old, AGENTS_INITIALIZING);
    assert_ptr_equal(resolve(ag, "ticker", &st), old);
    rec_free(old);
    rec_free(next);
    rec_free(third);
    rec_free(impostor);
    assert_int_equal(htab_count(ag->by_name), 0);
    agents_names_fini(ag);
    htab_destroy(&ag->by_id);
    free(ag);
}

static void test_taken_and_ambiguous(void **state)
{
    (void)state;
    agents_t *ag = ag_new();
    assert_null(agents_name_check(ag, "w"));
    agent_t *a = rec(ag, "aaaaaaaaaaaa", "w", AGENTS_IDLE); /* waiting to restart: not ended */
    problem_t *p = agents_name_check(ag, "w");
    assert_non_null(p);
    assert_int_equal(problem_status(p), 409);
    json_t *j = problem_to_json(p, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "agent_id")), a->id);
    json_decref(j);
    problem_destroy(&p);
    agent_t *b = rec(ag, "bbbbbbbbbbbb", "w", AGENTS_PAUSED);
    agent_t *ended = rec(ag, "cccccccccccc", "w", AGENTS_COMPLETED);
    agent_t *out = NULL;
    p = agents_resolve(ag, "w", &out);
    assert_non_null(p);
    assert_int_equal(problem_status(p), 409);
    j = problem_to_json(p, NULL);
    json_t *cand = json_object_get(j, "candidates");
    assert_int_equal(json_array_size(cand), 2);
    assert_string_equal(json_string_value(json_array_get(cand, 0)), a->id);
    assert_string_equal(json_string_value(json_array_get(cand, 1)), b->id);
    assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), b->id));
    json_decref(j);
    problem_destroy(&p);
    /* a record being forgotten (deleted, its process not yet reaped) is no candidate */
    a->forget = true;
    assert_ptr_equal(resolve(ag, "w", &(int){0}), b);
    b->forget = true;
    assert_null(agents_name_check(ag, "w"));
    assert_ptr_equal(resolve(ag, "w", &(int){0}), ended);
    ended->forget = true;
    int st;
    assert_null(resolve(ag, "w", &st));
    assert_int_equal(st, 404);
    rec_free(a);
    rec_free(b);
    rec_free(ended);
    assert_int_equal(htab_count(ag->by_name), 0);
    agents_names_fini(ag);
    htab_destroy(&ag->by_id);
    free(ag);
}

/* Many ended namesakes cost nothing to step over: the one that has not ended is found first. */
static void test_many_namesakes(void **state)
{
    (void)state;
    agents_t *ag = ag_new();
    enum { N = 3000 };
    agent_t **v = calloc(N + 1, sizeof *v);
    char id[16];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "%012d", i);
        v[i] = rec(ag, id, "job", AGENTS_RUNNING);
        set_status(v[i], AGENTS_COMPLETED);
    }
    v[N] = rec(ag, "livelivelive", "job", AGENTS_RUNNING);
    int st;
    assert_ptr_equal(resolve(ag, "job", &st), v[N]);
    set_status(v[N], AGENTS_FAILED);
    assert_ptr_equal(resolve(ag, "job", &st), v[N]);
    assert_int_equal(htab_count(ag->by_name), 1);
    for (int i = 0; i <= N; i++)
        rec_free(v[i]);
    free(v);
    assert_int_equal(htab_count(ag->by_name), 0);
    agents_names_fini(ag);
    htab_destroy(&ag->by_id);
    free(ag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolution_order),
        cmocka_unit_test(test_taken_and_ambiguous),
        cmocka_unit_test(test_many_namesakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
