/*
 * Strict parsers for numbers and addresses given on command lines and in environment variables.
 * Each returns MM_OK or MM_ERR_INVALID and, on error, writes a one-line reason into why
 * (why may be NULL).
 */
#ifndef MM_PARSE_H
#define MM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

/** Decimal u64 with no sign, no spaces, no trailing text; within [min, max]. */
mm_err mm_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *why, size_t why_len);

/** Decimal signed integer within [min, max]. */
mm_err mm_parse_i64(const char *text, int64_t min, int64_t max, int64_t *out, char *why, size_t why_len);

/**
 * "HOST:PORT" or "[V6]:PORT". Copies the host (without brackets) into host (host_len bytes) and
 * the port into *port (1..65535).
 */
mm_err mm_parse_host_port(const char *text, char *host, size_t host_len, uint16_t *port, char *why, size_t why_len);

/* ---- command-line flags: "--name value" and "--name=value" ---- */

/** A command line being read, flag by flag (argv[0] is skipped). */
typedef struct mm_args {
    int argc;
    char **argv;
    int next; /* index of the next argument to read */
} mm_args;

/** One flag as read: its name ("--name"; "-h" reads as "--help") and the text after '=', if any. */
typedef struct mm_flag {
    char name[64];
    const char *inline_value; /* NULL when the argument had no '=' */
} mm_flag;

void mm_args_init(mm_args *a, int argc, char **argv);

/**
 * Reads the next flag into *f. Returns 1 (a flag), 0 (no arguments left) or -1 with a reason in
 * why: an argument that does not start with "--" (and is not "-h"), or a name of 64 bytes or more.
 * The caller decides whether the flag takes a value and then calls mm_args_value (or, for a flag
 * without one, checks that inline_value is NULL).
 */
int mm_args_flag(mm_args *a, mm_flag *f, char *why, size_t why_len);

/** f's value: its inline one, else the next argument (which is consumed); NULL when there is none. */
const char *mm_args_value(mm_args *a, const mm_flag *f);

/*
 * ---- flag tables: one parser and one --help writer for every program ----
 *
 * A program describes its flags once, as a table of mm_opt over its options struct; the same
 * table drives the parser (mm_opts_parse), the one-flag setter (mm_opt_apply) and the --help text
 * (mm_opts_usage), whose "(default X)" is read from a struct its init function filled, so every
 * default is written once, there. A program whose struct embeds another's (the web front's
 * mm_front_config in the matchmaker's flags) lists that table too, with the embedded struct's
 * offset as `base`. Errors are one line "--flag: reason".
 */

typedef enum mm_opt_kind {
    MM_OPT_U64,    /* uint64_t, decimal within [min, max] */
    MM_OPT_U32,    /* uint32_t, decimal within [min, max] (max at most UINT32_MAX) */
    MM_OPT_INT,    /* int, decimal within [min, max] (max at most INT_MAX) */
    MM_OPT_I64,    /* int64_t, decimal within [(int64_t)min, (int64_t)max] */
    MM_OPT_STR,    /* const char *: the argument itself (argv outlives the struct) */
    MM_OPT_SWITCH, /* bool set true; takes no value (metavar NULL) */
    MM_OPT_ENUM,   /* an int-sized enum: one of `choices` */
    MM_OPT_CUSTOM, /* set(); a switch (metavar NULL) gets value NULL */
} mm_opt_kind;

typedef struct mm_opt_choice {
    const char *name;
    int value;
} mm_opt_choice;

/** The choices of the log flags every program has (include/mm/log.h): debug|info|warn|error, text|json. */
extern const mm_opt_choice mm_opt_log_levels[], mm_opt_log_formats[];

typedef struct mm_opt {
    const char *name; /* "--name" */
    mm_opt_kind kind;
    size_t offset;        /* of the field in the table's struct (not for CUSTOM) */
    uint64_t min, max;    /* the numeric kinds' bounds */
    const char *metavar;  /* the value's name in --help; NULL: the flag takes no value */
    const char *help;     /* one line */
    const char *def;      /* the default as --help shows it; NULL: read from the defaults' field (numbers,
                             non-NULL strings, enums); "": none shown */
    const mm_opt_choice *choices; /* ENUM: ended by {NULL, 0} */
    /* CUSTOM: sets the flag on the table's struct; on error writes the reason (without the flag's
     * name: mm_opt_apply puts it in front) and returns MM_ERR_INVALID */
    mm_err (*set)(void *opts, const char *value, char *why, size_t why_len);
} mm_opt;

typedef struct mm_opt_table {
    const mm_opt *opts;
    size_t n;
    size_t base; /* offset of the table's struct in the struct given to mm_opts_parse / _usage */
} mm_opt_table;

/** The flag named name ("--x", or "x"), searching tables[0..n_tables); *table says whose. NULL: none. */
const mm_opt *mm_opt_find(const mm_opt_table *tables, size_t n_tables, const char *name, const mm_opt_table **table);

/**
 * Sets one flag on opts (the table's own struct) from value (NULL only for a flag without a
 * metavar). MM_ERR_INVALID with "--name: reason" in why: a bad value, or a value missing, or one
 * given to a flag that takes none.
 */
mm_err mm_opt_apply(const mm_opt *o, void *opts, const char *value, char *why, size_t why_len);

/**
 * Reads argv[1..argc) into opts (already holding the defaults): "--name VALUE", "--name=VALUE",
 * switches "--name". Returns 0 when all were good, 1 for --help / -h (nothing more is read), -1
 * with "--flag: reason" in why ("--x: unknown flag", "--x: needs a value", "--x: takes no value",
 * a bad value; "command line: ..." for an argument that is no flag).
 */
int mm_opts_parse(const mm_opt_table *tables, size_t n_tables, void *opts, int argc, char **argv, char *why, size_t why_len);

/**
 * Writes one line per flag, "  --name METAVAR<pad> help (default X)", the name column `width`
 * wide, into buf (NUL-terminated, cut at a line when short). defaults: a struct as the init
 * function leaves it (the defaults shown); NULL shows only the tables' `def` texts. A flag an
 * earlier table also names is parsed by that one and listed once, there. Returns the bytes written.
 */
size_t mm_opts_usage(const mm_opt_table *tables, size_t n_tables, const void *defaults, int width, char *buf, size_t len);

/** A program's whole command line, for mm_opts_cli. */
typedef struct mm_opts_cli {
    const char *prog;              /* names the program in errors */
    const char *head;              /* --help: printed before the flags */
    const mm_opt_table *tables;
    size_t n_tables, n_own;        /* the first n_own tables are the program's own, listed first */
    int width;                     /* their name column */
    const char *more;              /* --help: the heading of the other tables ("Web front:\n") */
    int more_width;                /* their name column */
    void (*init)(void *opts);      /* sets the defaults (the one place they are written) */
    size_t size;                   /* sizeof the options struct (--help fills one with the defaults) */
} mm_opts_cli;

/**
 * init(opts), then mm_opts_parse. A bad flag: "<prog>: --flag: reason (see --help)" on stderr,
 * returns 2. --help: the head, the own tables' lines, "--help", `more` and the other tables' lines
 * on stdout, returns 1. Else 0.
 */
int mm_opts_cli_parse(const mm_opts_cli *cli, void *opts, int argc, char **argv);

#endif
