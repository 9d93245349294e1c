/* libcurl, loaded on demand: only the client library (and so the CLI) talks HTTP through it, so the
 * daemon never maps libcurl and the TLS, SSH, HTTP/2 and compression libraries behind it.
 * <curl/curl.h> still supplies types and constants; every call goes through the table `lcurl`,
 * filled once by curl_dl_load() and read-only afterwards. */
#ifndef GANGLION_CLIENT_CURL_DL_H
#define GANGLION_CLIENT_CURL_DL_H

#include <curl/curl.h>
#include <stddef.h>

/* Every libcurl function the client calls, without its "curl_" prefix; X(name) per function.
 * The prefix goes because <curl/typecheck-gcc.h> makes curl_easy_setopt/getinfo function-like
 * macros, which would expand inside lcurl->curl_easy_setopt(...). */
#define CURL_DL_FUNCS(X)                                                                           \
    X(global_init)                                                                                 \
    X(easy_init)                                                                                   \
    X(easy_cleanup)                                                                                \
    X(easy_reset)                                                                                  \
    X(easy_setopt)                                                                                 \
    X(easy_getinfo)                                                                                \
    X(easy_perform)                                                                                \
    X(easy_send)                                                                                   \
    X(easy_recv)                                                                                   \
    X(easy_strerror)                                                                               \
    X(slist_append)                                                                                \
    X(slist_free_all)                                                                              \
    X(url)                                                                                         \
    X(url_set)                                                                                     \
    X(url_get)                                                                                     \
    X(url_cleanup)                                                                                 \
    X(multi_init)                                                                                  \
    X(multi_cleanup)                                                                               \
    X(multi_add_handle)                                                                            \
    X(multi_remove_handle)                                                                         \
    X(multi_perform)                                                                               \
    X(multi_poll)                                                                                  \
    X(multi_info_read)                                                                             \
    X(free)

/* Typed from the declarations in <curl/curl.h>; easy_setopt and easy_getinfo stay variadic, as
 * the real functions are, so calls pass (handle, option, one value) exactly as before. */
#define CURL_DL_MEMBER(name) __typeof__(curl_##name) *name;
typedef struct curl_dl {
    CURL_DL_FUNCS(CURL_DL_MEMBER)
} curl_dl_t;
#undef CURL_DL_MEMBER

/* Valid only after curl_dl_load() returned 0. */
extern const curl_dl_t *const lcurl;

/* Loads libcurl.so.4, resolves every function and runs curl_global_init, once per process
 * (thread-safe; later calls return the first outcome). Returns 0, or -1 with a message naming
 * the package in err. The library is never unloaded. */
int curl_dl_load(char *err, size_t errlen);

#endif
