/* Fuzzes the task documents other hubs send over RabbitMQ (src/tasks/tasks_relay.c): the
 * message body read as JSON the way the relay reads it, then tasks_from_json (a transition
 * event) and the task's API view that the hub then publishes. Checks: a task read has an id of
 * at most TASKS_ID_LEN characters, a state, a type and a priority in range, and its view is an
 * object naming that id. Input: one message body. */
#include <assert.h>

#include "fuzz_util.h"
#include "tasks/tasks_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return 0;
    }
    task_t *t = tasks_from_json(doc);
    if (t) {
        assert(strlen(t->id) <= TASKS_ID_LEN && t->type);
        assert(t->priority >= 0 && t->priority < TASKS_PRIORITIES);
        json_t *view = tasks_task_json(t);
        assert(json_is_object(view));
        assert(!strcmp(json_string_value(json_object_get(view, "id")), t->id));
        json_decref(view);
        tasks_free(t);
    }
    json_decref(doc);
    return 0;
}
