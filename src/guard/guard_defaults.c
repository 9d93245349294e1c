/* The rules a new installation starts with: destructive commands, secret exfiltration, and the
 * two principles of Jamey's conscience (no-harm, truth). Created once, on the first start;
 * operators edit or delete them like any other rule. */
#include "guard/guard_internal.h"

typedef struct guard_default {
    const char *name, *description;
    int weight;
    const char *match; /* JSON */
} guard_default_t;

static const guard_default_t guard_defaults[] = {
    {"destructive-rm-root", "recursive removal of the root, the home directory or everything", 100,
     "{\"regex\":[\"(?i)\\\\brm\\\\s+(-{1,2}[\\\\w-]+\\\\s+)*-\\\\w*r\\\\w*\\\\s+(-{1,2}[\\\\w-]+"
     "\\\\s+)*(/\\\\*?|~/?|\\\\$HOME/?|\\\\*)(?=$|[\\\\s;&|)'\\\"])\"]}"},
    {"destructive-mkfs", "formatting a file system", 80,
     "{\"words\":[\"mkfs\",\"mkfs.ext4\",\"mkfs.xfs\",\"mkfs.vfat\",\"mkfs.btrfs\",\"mke2fs\","
     "\"wipefs\"]}"},
    {"destructive-dd-device", "dd writing onto a block device", 80,
     "{\"regex\":[\"\\\\bdd\\\\b[^\\\\n;|&]*\\\\bof=/dev/(sd|hd|vd|xvd|nvme|mmcblk|disk|md|dm-|"
     "mapper/)\"]}"},
    {"destructive-fork-bomb", "a shell fork bomb", 100,
     "{\"regex\":[\"(\\\\w+|:)\\\\s*\\\\(\\\\)\\\\s*\\\\{\\\\s*\\\\1\\\\s*\\\\|\\\\s*\\\\1\\\\s*&"
     "\\\\s*\\\\}\\\\s*;\\\\s*\\\\1\"]}"},
    {"remote-script-pipe", "a script downloaded and piped into a shell (curl | sh)", 60,
     "{\"regex\":[\"(?i)\\\\b(curl|wget|fetch)\\\\b[^\\\\n;]*\\\\|\\\\s*(sudo\\\\s+)?(ba|z|da|k)"
     "?sh\\\\b\"]}"},
    {"secret-exfiltration", "secrets (keys, shadow, cloud credentials) read or sent away", 60,
     "{\"regex\":[\"(?i)(/etc/shadow|\\\\.ssh/id_(rsa|dsa|ecdsa|ed25519)\\\\b|\\\\.aws/"
     "credentials|\\\\.netrc\\\\b|\\\\.docker/config\\\\.json|\\\\.kube/config)\","
     "\"(?i)\\\\b(curl|wget|nc|ncat|scp)\\\\b[^\\\\n]*\\\\$\\\\{?\\\\w*(SECRET|TOKEN|PASSWORD|"
     "PASSWD|API_?KEY)\\\\w*\",\"(?i)\\\\b(printenv|env)\\\\b[^\\\\n]*\\\\|\\\\s*(curl|nc|ncat|"
     "wget)\\\\b\"]}"},
    {"no-harm", "Jamey's first principle: the action speaks of harming someone or something", 10,
     "{\"words\":[\"harm\",\"hurt\",\"injure\",\"kill\",\"destroy\",\"damage\",\"attack\","
     "\"sabotage\"]}"},
    {"truth", "Jamey's second principle: the action speaks of deceiving", 8,
     "{\"words\":[\"lie\",\"deceive\",\"mislead\",\"fabricate\",\"falsify\",\"impersonate\","
     "\"forge\"]}"},
};

json_t *guard_defaults_json(void)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < sizeof guard_defaults / sizeof guard_defaults[0]; i++) {
        const guard_default_t *d = &guard_defaults[i];
        json_t *match = json_loads(d->match, 0, NULL);
        if (!match) { /* a programming error: the table above is fixed */
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, json_pack("{s:s,s:s,s:i,s:b,s:o}", "name", d->name,
                                             "description", d->description, "weight", d->weight,
                                             "enabled", 1, "match", match));
    }
    return arr;
}
