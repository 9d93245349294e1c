/* Symbolic encoding of numeric series (metrics, NAB) before compression. Each value becomes a
 * two-character token: its level (the quantile bin against the baseline's own values) and its
 * step (the quantile bin of the change from the previous value against the baseline's own
 * changes). Values or steps beyond the baseline's range get out-of-range characters graded by
 * how far out they are (log2 of the distance in units of the baseline's spread), so a spike or a
 * level shift brings characters the baseline never used — which the compressor must pay for.
 * Values less than one spread beyond the range stay in the extreme bins. */
#include "watch/cbad_priv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double cuts[64];
    uint32_t ncuts;
    double lo, hi, spread;
} cbad_bins_t;

/* Quantile cut points of v[0..n) into `symbols` bins; equal cut points merge bins, so a flat
 * series uses few symbols and any departure from it shows. */
static void cbad_bins_fit(double *v, uint32_t n, uint32_t symbols, cbad_bins_t *b)
{
    qsort(v, n, sizeof *v, cmp_double);
    b->ncuts = symbols - 1;
    for (uint32_t i = 1; i < symbols; i++) {
        size_t at = (size_t)((double)i * (double)n / (double)symbols);
        b->cuts[i - 1] = v[at < n ? at : n - 1];
    }
    b->lo = v[0];
    b->hi = v[n - 1];
    double iqr = v[(3 * (size_t)n) / 4] - v[n / 4];
    double range = b->hi - b->lo;
    b->spread = iqr > 0 ? iqr : range > 0 ? range : fabs(b->hi) > 0 ? fabs(b->hi) * 1e-3 : 1.0;
}

/* In-range bins, up to 64: printable characters that are none of the out-of-range ones. */
static const char cbad_bin_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZklmnopqrstuvwxyz!#$%&()*+,-./:;<=>?@[]^_{|}~";

/* In range: the bin's character. Out of range: '0'..'9' below, 'a'..'j' above, graded by
 * log2(1 + distance / spread). */
static char cbad_bins_code(const cbad_bins_t *b, double v)
{
    double dist = v < b->lo ? (b->lo - v) / b->spread : v > b->hi ? (v - b->hi) / b->spread : 0;
    /* Just past the baseline's extremes is still the extreme bin: a fresh sample of the same
     * distribution lands there now and then, and only the window can (the bins come from the
     * baseline), so calling it new would bias the test. A whole spread beyond is new. */
    if (dist >= 1.0) {
        int g = (int)log2(1.0 + dist);
        g = g < 0 ? 0 : g > 9 ? 9 : g;
        return (char)((v < b->lo ? '0' : 'a') + g);
    }
    uint32_t l = 0, h = b->ncuts;
    while (l < h) {
        uint32_t m = (l + h) / 2;
        if (b->cuts[m] < v)
            l = m + 1;
        else
            h = m;
    }
    return cbad_bin_chars[l > 63 ? 63 : l];
}

int cbad_symbolic_encode(const double *vals, uint32_t n, uint32_t nb, uint32_t symbols,
                         cbad_scratch_t *sc, const char **data, const size_t **off)
{
    /* nb is how many leading values the bins are fitted on (see cbad_priv.h). */
    if (symbols < 2)
        symbols = 2;
    if (symbols > 64)
        symbols = 64;
    double *tmp = malloc(sizeof *tmp * nb);
    if (!tmp)
        return -ENOMEM;
    cbad_bins_t level, step;
    memcpy(tmp, vals, sizeof *tmp * nb);
    cbad_bins_fit(tmp, nb, symbols, &level);
    for (uint32_t i = 1; i < nb; i++)
        tmp[i - 1] = vals[i] - vals[i - 1];
    cbad_bins_fit(tmp, nb > 1 ? nb - 1 : 1, symbols, &step);
    free(tmp);

    void *enc = sc->enc;
    int rc = cbad_grow(&enc, &sc->enc_cap, 2 * (size_t)n + 1, 1);
    sc->enc = enc;
    void *eoff = sc->enc_off;
    if (rc == 0)
        rc = cbad_grow(&eoff, &sc->enc_off_cap, (size_t)n + 1, sizeof(size_t));
    sc->enc_off = eoff;
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        sc->enc[2 * i] = cbad_bins_code(&level, vals[i]);
        sc->enc[2 * i + 1] = cbad_bins_code(&step, i ? vals[i] - vals[i - 1] : 0.0);
        sc->enc_off[i] = 2 * (size_t)i;
    }
    sc->enc_off[n] = 2 * (size_t)n;
    *data = sc->enc;
    *off = sc->enc_off;
    return 0;
}
