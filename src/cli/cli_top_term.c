/* The terminal under `ganglion top`: raw mode, the alternate screen and a hidden cursor while it
 * runs, and the terminal given back as it was on every way out — a normal return, exit(),
 * SIGINT/SIGTERM/SIGHUP/SIGQUIT (noted through a self-pipe so the loop leaves cleanly) and the
 * fatal signals (restored in the handler, then re-raised). Also the key decoder. */
#include "cli/cli_top.h"
#include "core/num.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* Process-wide by nature: one terminal, one set of signal handlers. Written before the
 * handlers are installed, read by them. */
static struct termios cli_top_saved;
static volatile sig_atomic_t cli_top_active;
static int cli_top_pipe[2] = {-1, -1};
static volatile sig_atomic_t cli_top_pending;

static const char cli_top_enter_seq[] = "\033[?1049h\033[?25l\033[H\033[2J";
static const char cli_top_leave_seq[] = "\033[0m\033[?25h\033[?1049l";

static const int cli_top_quit_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static const int cli_top_fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/* Async-signal-safe: write() and tcsetattr() only. */
static void cli_top_restore_raw(void)
{
    if (!cli_top_active)
        return;
    cli_top_active = 0;
    ssize_t w = write(STDOUT_FILENO, cli_top_leave_seq, sizeof cli_top_leave_seq - 1);
    (void)w;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &cli_top_saved);
}

static void cli_top_on_signal(int sig)
{
    int saved = errno;
    cli_top_pending |= sig == SIGWINCH ? CLI_TOP_SIG_RESIZE : CLI_TOP_SIG_QUIT;
    char b = 1;
    ssize_t w = write(cli_top_pipe[1], &b, 1);
    (void)w; /* a full pipe already wakes the loop */
    errno = saved;
}

static void cli_top_on_fatal(int sig)
{
    cli_top_restore_raw();
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_top_term_leave(void)
{
    cli_top_restore_raw();
}

int cli_top_term_enter(void)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return -ENOTTY;
    if (tcgetattr(STDIN_FILENO, &cli_top_saved) < 0)
        return -errno;
    if (cli_top_pipe[0] < 0 && pipe2(cli_top_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    struct sigaction sa = {.sa_handler = cli_top_on_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof cli_top_quit_signals / sizeof cli_top_quit_signals[0]; i++)
        sigaction(cli_top_quit_signals[i], &sa, NULL);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &sa, NULL);
    struct sigaction fa = {.sa_handler = cli_top_on_fatal, .sa_flags = SA_RESETHAND};
    sigemptyset(&fa.sa_mask);
    for (size_t i = 0; i < sizeof cli_top_fatal_signals / sizeof cli_top_fatal_signals[0]; i++)
        sigaction(cli_top_fatal_signals[i], &fa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct termios raw = cli_top_saved;
    /* no echo, no line editing, no signals from keys (Ctrl-C arrives as a byte and quits), no
     * CR/NL translation of input; output processing stays so "\n" still works if used */
    raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | ISIG | IEXTEN);
    raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL | BRKINT | INPCK | ISTRIP);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
        return -errno;
    cli_top_active = 1;
    static int registered;
    if (!registered++)
        atexit(cli_top_term_leave);
    cli_top_term_write(cli_top_enter_seq, sizeof cli_top_enter_seq - 1);
    return cli_top_pipe[0];
}

int cli_top_term_signals(void)
{
    char buf[64];
    while (cli_top_pipe[0] >= 0 && read(cli_top_pipe[0], buf, sizeof buf) > 0)
        ;
    int s = cli_top_pending;
    cli_top_pending = 0;
    return s;
}

void cli_top_term_size(int *w, int *h)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        *w = ws.ws_col;
        *h = ws.ws_row;
        return;
    }
    /* else COLUMNS and LINES when they hold a size a terminal could have, else 80 x 24 */
    int64_t c = 80, l = 24;
    if (num_i64_parse(getenv("COLUMNS"), 1, 65535, &c) < 0)
        c = 80;
    if (num_i64_parse(getenv("LINES"), 1, 65535, &l) < 0)
        l = 24;
    *w = (int)c;
    *h = (int)l;
}

void cli_top_term_write(const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the terminal went away; the loop ends on its own */
        s += w;
        n -= (size_t)w;
    }
}

/* An escape sequence at buf (after ESC): the key and the bytes it took, 0 when unknown. */
static size_t cli_top_key_esc(const unsigned char *b, size_t n, int *key)
{
    if (n >= 2 && (b[0] == '[' || b[0] == 'O')) {
        switch (b[1]) {
        case 'A':
            *key = CLI_TOP_KEY_UP;
            return 2;
        case 'B':
            *key = CLI_TOP_KEY_DOWN;
            return 2;
        case 'H':
            *key = CLI_TOP_KEY_HOME;
            return 2;
        case 'F':
            *key = CLI_TOP_KEY_END;
            return 2;
        default:
            break;
        }
        if (b[0] == '[' && n >= 3 && b[2] == '~') {
            static const int tilde[] = {0,
                                        CLI_TOP_KEY_HOME,
                                        0,
                                        0,
                                        CLI_TOP_KEY_END,
                                        CLI_TOP_KEY_PGUP,
                                        CLI_TOP_KEY_PGDOWN,
                                        CLI_TOP_KEY_HOME,
                                        CLI_TOP_KEY_END};
            unsigned d = b[1] - '0';
            if (d < sizeof tilde / sizeof tilde[0] && tilde[d]) {
                *key = tilde[d];
                return 3;
            }
        }
        /* an unknown CSI: skip to its final byte */
        size_t i = 1;
        while (i < n && (b[i] < 0x40 || b[i] > 0x7E))
            i++;
        *key = 0;
        return i < n ? i + 1 : n;
    }
    return 0;
}

size_t cli_top_keys(const unsigned char *buf, size_t n, int *keys, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < max;) {
        if (buf[i] == 0x1B) {
            int key = 0;
            size_t used = cli_top_key_esc(buf + i + 1, n - i - 1, &key);
            if (used == 0) {
                keys[k++] = CLI_TOP_KEY_ESC; /* a lone Escape */
                i++;
                continue;
            }
            if (key)
                keys[k++] = key;
            i += 1 + used;
            continue;
        }
        keys[k++] = buf[i++];
    }
    return k;
}
