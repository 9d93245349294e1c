/* libpq, loaded on demand: the daemon in SQLite mode never maps libpq and the Kerberos, LDAP and
 * TLS libraries it drags in. <libpq-fe.h> still supplies the types; every call goes through the
 * table `pq`, filled once by pq_dl_load() and read-only afterwards. */
#ifndef GANGLION_STORE_PQ_DL_H
#define GANGLION_STORE_PQ_DL_H

#include <libpq-fe.h>
#include <stddef.h>

/* Every libpq function the backend calls; X(name) per function. */
#define PQ_DL_FUNCS(X)                                                                             \
    X(PQclear)                                                                                     \
    X(PQcmdStatus)                                                                                 \
    X(PQcmdTuples)                                                                                 \
    X(PQconnectdbParams)                                                                           \
    X(PQconsumeInput)                                                                              \
    X(PQerrorMessage)                                                                              \
    X(PQexec)                                                                                      \
    X(PQexecParams)                                                                                \
    X(PQexecPrepared)                                                                              \
    X(PQfinish)                                                                                    \
    X(PQfname)                                                                                     \
    X(PQfreemem)                                                                                   \
    X(PQftype)                                                                                     \
    X(PQgetisnull)                                                                                 \
    X(PQgetCopyData)                                                                               \
    X(PQgetResult)                                                                                 \
    X(PQgetlength)                                                                                 \
    X(PQgetvalue)                                                                                  \
    X(PQisBusy)                                                                                    \
    X(PQnfields)                                                                                   \
    X(PQntuples)                                                                                   \
    X(PQprepare)                                                                                   \
    X(PQputCopyData)                                                                               \
    X(PQputCopyEnd)                                                                                \
    X(PQreset)                                                                                     \
    X(PQresultErrorField)                                                                          \
    X(PQresultErrorMessage)                                                                        \
    X(PQresultStatus)                                                                              \
    X(PQsendPrepare)                                                                               \
    X(PQsendQueryPrepared)                                                                         \
    X(PQsetNoticeProcessor)                                                                        \
    X(PQsocket)                                                                                    \
    X(PQstatus)                                                                                    \
    X(PQtransactionStatus)

/* Members are named after the functions and typed from their declarations in <libpq-fe.h>, so
 * a signature can never drift from the header. */
#define PQ_DL_MEMBER(name) __typeof__(name) *name;
typedef struct pq_dl {
    PQ_DL_FUNCS(PQ_DL_MEMBER)
} pq_dl_t;
#undef PQ_DL_MEMBER

/* Valid only after pq_dl_load() returned 0. */
extern const pq_dl_t *const pq;

/* Loads libpq.so.5 and resolves every function, once per process (thread-safe; later calls
 * return the first outcome). Returns 0, or -1 with a message naming the package in err. The
 * library is never unloaded. */
int pq_dl_load(char *err, size_t errlen);

#endif
