/* Symbolic encoding of numeric series (metrics, NAB) before compression: each value becomes one
 * symbol, its quantile bin against the baseline's own distribution, with two extra symbols for
 * values beyond the baseline's range. A window that visits rare bins or leaves the range costs
 * the compressor new symbols; one that stays in the usual ones does not. */
#include "watch/cbad_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Symbol alphabet: '0' below the baseline's minimum, bins from 'A', '~' above the maximum. */
static const char cbad_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz123456789!#$%&";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cbad_symbolic_encode(const double *vals, uint32_t n, uint32_t nb, uint32_t symbols,
                         cbad_scratch_t *sc, const char **data, const size_t **off)
{
    if (symbols < 2)
        symbols = 2;
    if (symbols > sizeof cbad_alphabet - 1)
        symbols = sizeof cbad_alphabet - 1;
    double *sorted = malloc(sizeof *sorted * nb);
    if (!sorted)
        return -ENOMEM;
    memcpy(sorted, vals, sizeof *sorted * nb);
    qsort(sorted, nb, sizeof *sorted, cmp_double);
    /* Cut points at the baseline's quantiles i/symbols; equal cut points merge bins, so a flat
     * baseline uses few symbols and any departure from it shows. */
    double cuts[64];
    for (uint32_t i = 1; i < symbols; i++) {
        size_t at = (size_t)((double)i * (double)nb / (double)symbols);
        if (at >= nb)
            at = nb - 1;
        cuts[i - 1] = sorted[at];
    }
    double lo = sorted[0], hi = sorted[nb - 1];
    free(sorted);

    void *enc = sc->enc;
    void *eoff = sc->enc_off;
    if (cbad_grow(&enc, &sc->enc_cap, (size_t)n + 1, 1) < 0)
        return -ENOMEM;
    sc->enc = enc;
    if (cbad_grow(&eoff, &sc->enc_off_cap, (size_t)n + 1, sizeof(size_t)) < 0)
        return -ENOMEM;
    sc->enc_off = eoff;
    for (uint32_t i = 0; i < n; i++) {
        double v = vals[i];
        char c;
        if (v < lo) {
            c = '0';
        } else if (v > hi) {
            c = '~';
        } else {
            uint32_t b = 0; /* number of cut points strictly below v */
            uint32_t l = 0, h = symbols - 1;
            while (l < h) {
                uint32_t m = (l + h) / 2;
                if (cuts[m] < v)
                    l = m + 1;
                else
                    h = m;
            }
            b = l;
            c = cbad_alphabet[b];
        }
        sc->enc[i] = c;
        sc->enc_off[i] = i;
    }
    sc->enc_off[n] = n;
    *data = sc->enc;
    *off = sc->enc_off;
    return 0;
}
